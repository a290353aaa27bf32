package tracer

import (
	"bytes"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
)

// unlimitedPages mirrors UNLIMITED_PAGES in bpf/oomtrace.bpf.c: a page
// counter limit this large is "max".
const unlimitedPages = 1 << 50

const pageSize = 4096 // the BPF side reports kB assuming 4 KiB pages too

// Symbolizer resolves kernel addresses to function names.
type Symbolizer interface {
	Lookup(addr uint64) (name string, ok bool)
}

// Decoder turns the kernel's records into events. It keeps one scratch
// record per kind, so decoding does not allocate per record.
type Decoder struct {
	symbols    Symbolizer
	bootToWall time.Time // wall-clock time of CLOCK_BOOTTIME zero
	// memoryNodes are the NUMA nodes with memory (0 without NUMA), which
	// tell a cpuset or mempolicy OOM from a global one in tracepoint mode;
	// nodesUnknown says they could not be read on a NUMA machine.
	memoryNodes  uint64
	nodesUnknown bool

	kill    oomtraceOomKillEvent
	memcg   oomtraceMemcgOomEvent
	reclaim oomtraceReclaimEvent
	kswapd  oomtraceKswapdWakeEvent
	reaper  oomtraceReaperEvent
	signal  oomtraceSignalEvent
	exit    oomtraceExitEvent

	strings interner
}

// interner hands out one string per distinct name, so that the same comm or
// cgroup path seen again costs no allocation. It forgets everything when it
// is full: names of dead tasks and removed cgroups must not pile up.
type interner map[string]string

const internMax = 4096

func (in *interner) get(b []byte) string {
	if s, ok := (*in)[string(b)]; ok { // no allocation: the compiler keys by b
		return s
	}
	if *in == nil || len(*in) >= internMax {
		*in = make(interner, internMax)
	}
	s := string(b)
	(*in)[s] = s
	return s
}

// NewDecoder returns a Decoder resolving stacks with symbols (nil: stacks
// stay unresolved and tracepoint-mode kills are classed unknown).
func NewDecoder(symbols Symbolizer) (*Decoder, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return nil, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
	}
	now := time.Now()
	nodes, err := classify.ReadMemoryNodes()
	return &Decoder{
		symbols:      symbols,
		bootToWall:   now.Add(-time.Duration(ts.Nano())),
		memoryNodes:  nodes,
		nodesUnknown: err != nil,
	}, nil
}

// fill copies raw into the fixed-layout record dst.
func fill[T any](dst *T, raw []byte) error {
	size := int(unsafe.Sizeof(*dst))
	if len(raw) < size {
		return fmt.Errorf("record too short: %d bytes, want %d", len(raw), size)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), size), raw)
	return nil
}

// Decode decodes one ring-buffer record into ev, overwriting it.
func (d *Decoder) Decode(raw []byte, ev *event.Event) error {
	var hdr oomtraceEventHeader
	if err := fill(&hdr, raw); err != nil {
		return fmt.Errorf("decode event header: %w", err)
	}
	stack := ev.OOMKill.Stack[:0]
	*ev = event.Event{
		KtimeNS: hdr.KtimeNs,
		Time:    d.bootToWall.Add(time.Duration(hdr.KtimeNs)),
		CPU:     hdr.Cpu,
		Task:    event.Task{PID: hdr.Pid, TGID: hdr.Tgid, Comm: d.cString(hdr.Comm[:])},
	}
	ev.OOMKill.Stack = stack

	var err error
	switch oomtraceEventKind(hdr.Kind) {
	case oomtraceEventKindEVENT_OOM_KILL:
		ev.Kind = event.KindOOMKill
		if err = fill(&d.kill, raw); err == nil {
			d.decodeOOMKill(&ev.OOMKill)
		}
	case oomtraceEventKindEVENT_MEMCG_OOM:
		ev.Kind = event.KindMemcgOOM
		if err = fill(&d.memcg, raw); err == nil {
			r := &d.memcg
			ev.MemcgOOM = event.MemcgOOM{Cgroup: d.cgroup(&r.Cgroup), GFPMask: r.GfpMask, Order: r.Order}
		}
	case oomtraceEventKindEVENT_RECLAIM:
		ev.Kind = event.KindReclaim
		if err = fill(&d.reclaim, raw); err == nil {
			r := &d.reclaim
			ev.Reclaim = event.Reclaim{
				Kind:        event.ReclaimKind(r.ReclaimKind),
				Duration:    time.Duration(r.DurationNs),
				NrReclaimed: r.NrReclaimed,
				GFPMask:     r.GfpMask,
				Order:       r.Order,
				Cgroup:      d.cgroup(&r.Cgroup),
			}
		}
	case oomtraceEventKindEVENT_KSWAPD_WAKE:
		ev.Kind = event.KindKswapdWake
		if err = fill(&d.kswapd, raw); err == nil {
			ev.KswapdWake = event.KswapdWake{Node: d.kswapd.Nid, Zone: d.kswapd.Zid, Order: d.kswapd.Order}
		}
	case oomtraceEventKindEVENT_REAPER:
		ev.Kind = event.KindReaper
		if err = fill(&d.reaper, raw); err == nil {
			ev.Reaper = event.Reaper{Step: event.ReaperStep(d.reaper.Step), VictimPID: d.reaper.VictimPid}
		}
	case oomtraceEventKindEVENT_SIGNAL:
		ev.Kind = event.KindSignal
		if err = fill(&d.signal, raw); err == nil {
			r := &d.signal
			ev.Signal = event.Signal{
				Sender:       ev.Task,
				SenderCgroup: d.cgroup(&r.SenderCgroup),
				Target:       event.Task{PID: r.TargetPid, TGID: r.TargetTgid, Comm: d.cString(r.TargetComm[:])},
				TargetCgroup: d.cgroup(&r.TargetCgroup),
				Signal:       r.Sig,
				Code:         r.Code,
				Group:        r.Group != 0,
			}
		}
	case oomtraceEventKindEVENT_EXIT:
		ev.Kind = event.KindExit
		if err = fill(&d.exit, raw); err == nil {
			ev.Exit = event.Exit{Cgroup: d.cgroup(&d.exit.Cgroup), ExitCode: d.exit.ExitCode}
		}
	default:
		return fmt.Errorf("unknown record kind %d (%d bytes): BPF object and decoder disagree", hdr.Kind, len(raw))
	}
	if err != nil {
		return fmt.Errorf("decode %s record: %w", ev.Kind, err)
	}
	return nil
}

func (d *Decoder) decodeOOMKill(k *event.OOMKill) {
	r := &d.kill
	flags := oomtraceOomKillFlags(r.Flags)

	k.Victim = event.Victim{
		Task:        event.Task{PID: r.VictimPid, TGID: r.VictimTgid, Comm: d.cString(r.VictimComm[:])},
		UID:         r.VictimUid,
		HasUID:      r.VictimUid != ^uint32(0),
		OOMScoreAdj: r.VictimOomScoreAdj,
		HasMM:       flags&oomtraceOomKillFlagsOOM_HAVE_MM != 0,
		RSSAnonKB:   r.RssAnonKb,
		RSSFileKB:   r.RssFileKb,
		RSSShmemKB:  r.RssShmemKb,
		TotalVMKB:   r.TotalVmKb,
		PgtablesKB:  r.PgtablesKb,
		Cgroup:      d.cgroup(&r.VictimCgroup),
	}
	k.Trigger = event.Task{PID: r.Hdr.Pid, TGID: r.Hdr.Tgid, Comm: d.cString(r.Hdr.Comm[:])}
	k.TriggerCgroup = d.cgroup(&r.TriggerCgroup)
	k.OOMCgroup = d.cgroup(&r.OomCgroup)

	k.Stack = k.Stack[:0]
	depth := min(int(r.StackDepth), len(r.Stack))
	for i, addr := range r.Stack[:depth] {
		// Outer frames are return addresses: the call is the byte before,
		// which stays in the caller even when the call never returns.
		lookup := addr
		if i > 0 {
			lookup--
		}
		name, ok := "", false
		if d.symbols != nil {
			name, ok = d.symbols.Lookup(lookup)
		}
		if !ok {
			name = fmt.Sprintf("0x%x", addr)
		}
		k.Stack = append(k.Stack, name)
	}
	stackClass, exiting := classify.FromStack(k.Stack)
	k.VictimExiting = exiting

	switch oomtraceOomSource(r.Source) {
	case oomtraceOomSourceSOURCE_FENTRY:
		k.Mode = event.ModeFentry
	case oomtraceOomSourceSOURCE_KPROBE:
		k.Mode = event.ModeKprobe
	default:
		k.Mode = event.ModeTracepoint
	}
	k.HasControl = flags&oomtraceOomKillFlagsOOM_HAVE_CONTROL != 0
	if k.HasControl {
		k.Class = classify.FromControl(r.Constraint, r.Order)
		k.GFPMask = r.GfpMask
		k.Order = r.Order
		k.Points = r.Points
		k.TotalPages = r.Totalpages
	} else {
		k.Class = d.refineStackClass(stackClass, r, flags)
	}
	// The walk up from the victim finds a cgroup near its limit even in a
	// global OOM; only a memcg OOM has an OOM cgroup.
	if k.Class != event.ClassMemcg {
		k.OOMCgroup = event.Cgroup{}
	}
}

// refineStackClass tells a cpuset or mempolicy OOM apart from the global one
// the stack shows, from the trigger's limits on NUMA nodes.
func (d *Decoder) refineStackClass(class event.Class, r *oomtraceOomKillEvent, flags oomtraceOomKillFlags) event.Class {
	if class != event.ClassGlobal {
		return class
	}
	if d.nodesUnknown {
		return event.ClassUnknown
	}
	return classify.NodeLimits{
		MemoryNodes:     d.memoryNodes,
		MemsAllowed:     r.TriggerMemsAllowed,
		HaveMemsAllowed: flags&oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED != 0,
		PolicyMode:      r.TriggerPolicyMode,
		PolicyNodes:     r.TriggerPolicyNodes,
		HavePolicy:      flags&oomtraceOomKillFlagsOOM_HAVE_MEMPOLICY != 0,
	}.Refine()
}

func (d *Decoder) cgroup(c *oomtraceCgroupInfo) event.Cgroup {
	return convertCgroup(c, d.cString)
}

// convertCgroup converts a cgroup_info, making strings with str.
func convertCgroup(c *oomtraceCgroupInfo, str func([]int8) string) event.Cgroup {
	flags := oomtraceCgroupFlags(c.Flags)
	if flags&oomtraceCgroupFlagsCGROUP_VALID == 0 {
		return event.Cgroup{}
	}
	limit := c.LimitPages * pageSize
	if c.LimitPages >= unlimitedPages {
		limit = event.NoLimit
	}
	return event.Cgroup{
		Path:       str(c.Path[:]),
		ID:         c.Id,
		UsageBytes: c.UsagePages * pageSize,
		LimitBytes: limit,
		Truncated:  flags&oomtraceCgroupFlagsCGROUP_TRUNCATED != 0,
	}
}

// kernelString returns the bytes of a NUL-terminated kernel string,
// unchanged: escaping is the output's job.
func kernelString(b []int8) []byte {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	return raw
}

func (d *Decoder) cString(b []int8) string { return d.strings.get(kernelString(b)) }
