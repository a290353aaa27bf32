package tracer

import (
	"github.com/cilium/ebpf/btf"

	"github.com/oomtrace/oomtrace/internal/event"
)

// hook is one BPF program and where it attaches.
type hook struct {
	program string // name in the ELF
	target  string // kernel function or tracepoint name
	// optional hooks are dropped with a warning when the kernel lacks the
	// tracepoint; a missing required hook is an error.
	optional bool
	// group is the --events group that turns the hook on.
	group EventGroup
	// known, if set, says whether the BPF program can read the
	// tracepoint's arguments as the kernel's BTF declares them. An optional
	// hook whose prototype it does not know is dropped with a warning.
	known func(params []btf.FuncParam) bool
	// variants says the program comes in the two variants of
	// reclaimVariant: the task-local one under this name, the other with
	// the suffix _compat.
	variants bool
	// fallback is the tp_btf form of a perf tracepoint's program, attached
	// where the perf tracepoint cannot be: without tracefs, which it is
	// opened through.
	fallback string
}

// The oom:mark_victim program is chosen by the tracepoint's signature; the
// other tracepoints are the same in every mode.
var (
	markVictimHook = hook{program: "mark_victim", target: "mark_victim", group: EventsOOM}
	// The old mark_victim(int pid) form names no task: the victim comes from
	// the SIGKILL sent just before in the same thread.
	markVictimPidHooks = []hook{
		{program: "mark_victim_pid", target: "mark_victim", group: EventsOOM},
		{program: "sigkill_target", target: "signal_generate", group: EventsOOM},
	}
	tracepointHooks = []hook{
		{program: "direct_reclaim_begin", target: "mm_vmscan_direct_reclaim_begin", optional: true, group: EventsReclaim, known: reclaimBeginKnown, variants: true},
		{program: "direct_reclaim_end", target: "mm_vmscan_direct_reclaim_end", optional: true, group: EventsReclaim, variants: true},
		{program: "memcg_reclaim_begin", target: "mm_vmscan_memcg_reclaim_begin", optional: true, group: EventsReclaim, known: reclaimBeginKnown, variants: true},
		{program: "memcg_reclaim_end", target: "mm_vmscan_memcg_reclaim_end", optional: true, group: EventsReclaim, variants: true},
		{program: "softlimit_reclaim_begin", target: "mm_vmscan_memcg_softlimit_reclaim_begin", optional: true, group: EventsReclaim, known: reclaimBeginKnown, variants: true},
		{program: "softlimit_reclaim_end", target: "mm_vmscan_memcg_softlimit_reclaim_end", optional: true, group: EventsReclaim, variants: true},
		{program: "kswapd_wake", target: "mm_vmscan_kswapd_wake", optional: true, group: EventsReclaim},
		{program: "wake_reaper", target: "wake_reaper", optional: true, group: EventsReaper},
		{program: "start_task_reaping", target: "start_task_reaping", optional: true, group: EventsReaper},
		{program: "finish_task_reaping", target: "finish_task_reaping", optional: true, group: EventsReaper},
		{program: "skip_task_reaping", target: "skip_task_reaping", optional: true, group: EventsReaper},
		{program: "signal_generate", target: "signal_generate", optional: true, group: EventsSignal},
		{program: "process_exit", target: "sched_process_exit", optional: true, group: EventsExit, fallback: "process_exit_btf"},
	}
)

// functionHooks are the extra programs of the fentry and kprobe modes: they
// read struct oom_control, which no tracepoint exposes.
var functionHooks = map[event.Mode][]hook{
	event.ModeFentry: {
		{program: "fentry_oom_kill_process", target: "oom_kill_process"},
		{program: "fexit_oom_kill_process", target: "oom_kill_process"},
		{program: "fentry_mem_cgroup_out_of_memory", target: "mem_cgroup_out_of_memory"},
	},
	event.ModeKprobe: {
		{program: "kprobe_oom_kill_process", target: "oom_kill_process"},
		{program: "kretprobe_oom_kill_process", target: "oom_kill_process"},
		{program: "kprobe_mem_cgroup_out_of_memory", target: "mem_cgroup_out_of_memory"},
	},
}

// autoOrder is the order in which auto mode tries the modes: the one that
// reads the most first.
var autoOrder = []event.Mode{event.ModeFentry, event.ModeKprobe, event.ModeTracepoint}

// reclaimBeginKnown says whether a vmscan reclaim-begin tracepoint has one
// of the two prototypes its BPF program tells apart (bpf/kernel.h): (int
// order, gfp_t gfp_flags) up to Linux 7.0, (gfp_t gfp_flags, int order,
// struct mem_cgroup *memcg) from 7.1. params include the tracepoint's
// leading private-data pointer, as in its btf_trace_* typedef. The BPF side
// tells the two apart by their number of parameters only, so the types are
// checked here: a kernel with (int order, gfp_t gfp_flags, struct
// mem_cgroup *), as once proposed upstream, is refused rather than read
// with its order and gfp flags swapped.
func reclaimBeginKnown(params []btf.FuncParam) bool {
	isInt := func(p btf.FuncParam) bool {
		i, ok := btf.QualifiedType(p.Type).(*btf.Int)
		return ok && i.Encoding == btf.Signed && i.Size == 4
	}
	isGFP := func(p btf.FuncParam) bool {
		td, ok := btf.QualifiedType(p.Type).(*btf.Typedef)
		return ok && td.Name == "gfp_t"
	}
	switch len(params) {
	case 3:
		return isInt(params[1]) && isGFP(params[2])
	case 4:
		ptr, ok := btf.QualifiedType(params[3].Type).(*btf.Pointer)
		if !ok {
			return false
		}
		memcg, ok := btf.QualifiedType(ptr.Target).(*btf.Struct)
		return ok && memcg.Name == "mem_cgroup" && isGFP(params[1]) && isInt(params[2])
	}
	return false
}
