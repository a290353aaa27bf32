package tracer

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// reclaimVariant is which of the two variants of the reclaim programs
// (bpf/oomtrace.bpf.c) a kernel runs. Both count and report the same
// episodes; the task-local one costs less per episode.
type reclaimVariant int

const (
	// reclaimTaskLocal keeps an episode's start in task-local storage and
	// reads the task's memory cgroup with direct loads through its BTF
	// pointer: tp_btf programs on Linux 5.12 and later.
	reclaimTaskLocal reclaimVariant = iota
	// reclaimCompat keeps the start in a hash map keyed by thread and reads
	// through bpf_probe_read_kernel: every kernel, raw tracepoints too.
	reclaimCompat
)

func (v reclaimVariant) String() string {
	if v == reclaimCompat {
		return "hash map"
	}
	return "task-local storage"
}

// The map each variant keeps episode starts in; the other variant's is
// left out of the collection (a kernel without task-local storage could
// not even create it).
var startsMap = map[reclaimVariant]string{
	reclaimTaskLocal: "reclaim_tasks",
	reclaimCompat:    "reclaim_starts",
}

// hooks returns hooks with the program names of variant v.
func (v reclaimVariant) hooks(hooks []hook) []hook {
	out := make([]hook, len(hooks))
	for i, h := range hooks {
		if h.variants && v == reclaimCompat {
			h.program += "_compat"
		}
		out[i] = h
	}
	return out
}

// spec returns a copy of spec without the starts map of the other variant.
func (v reclaimVariant) spec(spec *ebpf.CollectionSpec) *ebpf.CollectionSpec {
	s := spec.Copy()
	for other, name := range startsMap {
		if other != v {
			delete(s.Maps, name)
		}
	}
	return s
}

// probeTaskLocal says whether tp_btf programs may keep data in task-local
// storage on this kernel, by loading the smallest program that does what
// the task-local reclaim programs need: create a task's storage from
// bpf_get_current_task_btf(). The map type came in Linux 5.11, its use
// from tracing programs in 5.12; distribution kernels may have either
// backported, so it is tried rather than inferred from a version. target
// is a tracepoint this kernel has, looked up in types.
func probeTaskLocal(target string, types *btf.Cache) error {
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{"probe_task": {
			Name:      "probe_task",
			Type:      ebpf.TaskStorage,
			KeySize:   4,
			ValueSize: 8,
			Flags:     unix.BPF_F_NO_PREALLOC,
			Key:       &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
			Value:     &btf.Int{Name: "long long unsigned int", Size: 8},
		}},
		Programs: map[string]*ebpf.ProgramSpec{"probe_task": {
			Name:       "probe_task",
			Type:       ebpf.Tracing,
			AttachType: ebpf.AttachTraceRawTp,
			AttachTo:   target,
			License:    "GPL",
			Instructions: asm.Instructions{
				asm.FnGetCurrentTaskBtf.Call(),
				asm.Mov.Reg(asm.R2, asm.R0),
				asm.LoadMapPtr(asm.R1, 0).WithReference("probe_task"),
				asm.Mov.Imm(asm.R3, 0),
				asm.Mov.Imm(asm.R4, 1), // BPF_LOCAL_STORAGE_GET_F_CREATE
				asm.FnTaskStorageGet.Call(),
				asm.Mov.Imm(asm.R0, 0),
				asm.Return(),
			},
		}},
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Cache: types})
	if err != nil {
		return fmt.Errorf("load a tp_btf program using task storage: %w", err)
	}
	coll.Close()
	return nil
}
