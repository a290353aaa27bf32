package tracer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/oomtrace/oomtrace/internal/event"
)

// unlimitedPages mirrors UNLIMITED_PAGES in bpf/oomtrace.bpf.c: a page
// counter limit this large is "max".
const unlimitedPages = 1 << 50

const pageSize = 4096 // the BPF side reports kB assuming 4 KiB pages too

// Symbolizer names the frames of kernel stacks (ksym's tables).
type Symbolizer interface {
	// LookupStack sets names[i] to the function of stack[i], innermost
	// first, or to "" where it knows none, and returns how many it named.
	LookupStack(stack []uint64, names []string) (named int)
}

// Decoder turns the kernel's records into events without allocating per
// record: it reads records in place, keeps the strings of the names it saw
// and the last kill's resolved stack. It writes the kernel's facts only:
// deciding what they mean is the classify stage's job.
type Decoder struct {
	symbols    Symbolizer
	histograms histogramCgroups
	clock      bootClock

	// Scratch records, for the records that are not aligned in memory.
	hdr     oomtraceEventHeader
	kill    oomtraceOomKillEvent
	memcg   oomtraceMemcgOomEvent
	reclaim oomtraceReclaimEvent
	// reclaimPath is the scratch record of a reclaim record with its path,
	// histogram the scratch of a histogram read for its cgroup's path.
	reclaimPath oomtraceReclaimPathEvent
	histogram   oomtraceReclaimStats
	kswapd      oomtraceKswapdWakeEvent
	reaper      oomtraceReaperEvent
	signal      oomtraceSignalEvent
	exit        oomtraceExitEvent

	strings   interner
	lastStack resolvedStack
	comms     [nameSlots]commSlot
	paths     [nameSlots]pathSlot
	// histogramPaths holds, per reclaim histogram, the cgroup its slot
	// held when a record named it last.
	histogramPaths [reclaimHistograms]histogramPath
}

// reclaimHistograms mirrors RECLAIM_HISTOGRAMS in bpf/oomtrace.h: the
// number of slots of reclaim_histograms.
const reclaimHistograms = 4096

// histogramCgroups reads the reclaim histogram in a slot, for the cgroup it
// holds: a reclaim record names its cgroup by that slot, not by its path
// (struct cgroup_ref). The Tracer whose records are decoded is one.
type histogramCgroups interface {
	readHistogram(slot uint32, dst *oomtraceReclaimStats) error
}

// histogramPath is the cgroup of a reclaim histogram, as decoded once:
// the cgroup's id, the path's flags and the path.
type histogramPath struct {
	id    uint64
	flags uint32
	path  string
}

// nameSlots is the size of the decoder's caches of comms and cgroup paths:
// enough for the tasks and cgroups of a busy host's reclaim storm.
const (
	nameSlotBits = 8
	nameSlots    = 1 << nameSlotBits
)

// nameSlot spreads a key over the slots (Fibonacci hashing).
func nameSlot(key uint64) uint64 { return key * 0x9e3779b97f4a7c15 >> (64 - nameSlotBits) }

// commSlot remembers the string of the last comm whose 16 bytes, as the
// record holds them, hashed to the slot. The zero slot is right as it is:
// 16 zero bytes are the empty comm.
type commSlot struct {
	raw [16]int8
	s   string
}

// pathSlot remembers the path of the last cgroup whose id hashed to the
// slot. Ids are inode numbers, which a new cgroup can reuse, so a hit is
// checked against the record's path bytes.
type pathSlot struct {
	id   uint64
	path string
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

// resolvedStack is a kill's stack with its frames' names. The decoder keeps
// the last one: the kills of one OOM (oom.group's victims) and of a
// container killed over and over share their stack, and resolving it again
// costs a search of the kernel's symbols per frame.
type resolvedStack struct {
	addrs []uint64
	names []string
}

// resolve makes s the stack of addrs, named by symbols (nil: addresses).
func (s *resolvedStack) resolve(addrs []uint64, symbols Symbolizer) {
	s.addrs = append(s.addrs[:0], addrs...)
	s.names = slices.Grow(s.names[:0], len(addrs))[:len(addrs)]
	named := 0
	if symbols != nil {
		named = symbols.LookupStack(addrs, s.names)
	}
	if named == len(addrs) {
		return
	}
	for i, name := range s.names {
		if symbols == nil || name == "" {
			s.names[i] = fmt.Sprintf("0x%x", addrs[i])
		}
	}
}

// NewDecoder returns a Decoder of the records of t, resolving stacks with
// symbols (nil: stacks stay unresolved, and tracepoint-mode kills cannot be
// classified). Reclaim records name their cgroup by t's histograms: without
// t (nil), those that do are decode errors.
func NewDecoder(symbols Symbolizer, t *Tracer) (*Decoder, error) {
	d := &Decoder{symbols: symbols, clock: bootClock{read: readClocks}}
	if t != nil {
		d.histograms = t
	}
	if err := d.clock.measure(); err != nil {
		return nil, err
	}
	return d, nil
}

// view returns raw as the fixed-layout record T: in place when raw is
// aligned for T, as the ring buffer's records are, else copied into
// scratch. Either is valid until raw or scratch changes.
func view[T any](raw []byte, scratch *T) (*T, error) {
	size := int(unsafe.Sizeof(*scratch))
	if len(raw) < size {
		return nil, fmt.Errorf("record too short: %d bytes, want %d", len(raw), size)
	}
	p := unsafe.Pointer(unsafe.SliceData(raw))
	if uintptr(p)%unsafe.Alignof(*scratch) == 0 {
		return (*T)(p), nil
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(scratch)), size), raw)
	return scratch, nil
}

// Decode decodes one ring-buffer record into ev, overwriting it. The
// payloads are filled field by field into ev once Reset has zeroed it:
// whatever a record does not set stays zero.
func (d *Decoder) Decode(raw []byte, ev *event.Event) error {
	hdr, err := view(raw, &d.hdr)
	if err != nil {
		return fmt.Errorf("decode event header: %w", err)
	}
	stack := ev.OOMKill.Stack[:0]
	ev.Reset()
	ev.KtimeNS = hdr.KtimeNs
	ev.Time = d.clock.zeroFor(hdr.KtimeNs).Add(time.Duration(hdr.KtimeNs))
	ev.CPU = hdr.Cpu
	ev.Task = event.Task{PID: hdr.Pid, TGID: hdr.Tgid, Comm: d.comm(&hdr.Comm)}
	ev.OOMKill.Stack = stack

	switch oomtraceEventKind(hdr.Kind) {
	case oomtraceEventKindEVENT_OOM_KILL:
		ev.Kind = event.KindOOMKill
		var r *oomtraceOomKillEvent
		if r, err = view(raw, &d.kill); err == nil {
			d.decodeOOMKill(&ev.OOMKill, r, ev.Task)
		}
	case oomtraceEventKindEVENT_MEMCG_OOM:
		ev.Kind = event.KindMemcgOOM
		var r *oomtraceMemcgOomEvent
		if r, err = view(raw, &d.memcg); err == nil {
			m := &ev.MemcgOOM
			d.cgroup(&m.Cgroup, &r.Cgroup)
			m.GFPMask, m.Order = r.GfpMask, r.Order
		}
	case oomtraceEventKindEVENT_RECLAIM:
		ev.Kind = event.KindReclaim
		var r *oomtraceReclaimEvent
		if r, err = view(raw, &d.reclaim); err == nil {
			rc := &ev.Reclaim
			rc.Kind = event.ReclaimKind(r.ReclaimKind)
			rc.Duration = time.Duration(r.DurationNs)
			rc.NrReclaimed = r.NrReclaimed
			rc.GFPMask, rc.Order = r.GfpMask, r.Order
			err = d.reclaimCgroup(&rc.Cgroup, raw, &r.Cgroup)
		}
	case oomtraceEventKindEVENT_KSWAPD_WAKE:
		ev.Kind = event.KindKswapdWake
		var r *oomtraceKswapdWakeEvent
		if r, err = view(raw, &d.kswapd); err == nil {
			ev.KswapdWake = event.KswapdWake{Node: r.Nid, Zone: r.Zid, Order: r.Order}
		}
	case oomtraceEventKindEVENT_REAPER:
		ev.Kind = event.KindReaper
		var r *oomtraceReaperEvent
		if r, err = view(raw, &d.reaper); err == nil {
			ev.Reaper = event.Reaper{Step: event.ReaperStep(r.Step), VictimPID: r.VictimPid}
		}
	case oomtraceEventKindEVENT_SIGNAL:
		ev.Kind = event.KindSignal
		var r *oomtraceSignalEvent
		if r, err = view(raw, &d.signal); err == nil {
			sig := &ev.Signal
			sig.Sender = ev.Task
			d.cgroup(&sig.SenderCgroup, &r.SenderCgroup)
			sig.Target = event.Task{PID: r.TargetPid, TGID: r.TargetTgid, Comm: d.comm(&r.TargetComm)}
			d.cgroup(&sig.TargetCgroup, &r.TargetCgroup)
			sig.Signal, sig.Code, sig.Group = r.Sig, r.Code, r.Group != 0
		}
	case oomtraceEventKindEVENT_EXIT:
		ev.Kind = event.KindExit
		var r *oomtraceExitEvent
		if r, err = view(raw, &d.exit); err == nil {
			d.cgroup(&ev.Exit.Cgroup, &r.Cgroup)
			ev.Exit.ExitCode = r.ExitCode
		}
	default:
		return fmt.Errorf("unknown record kind %d (%d bytes): BPF object and decoder disagree", hdr.Kind, len(raw))
	}
	if err != nil {
		return fmt.Errorf("decode %s record: %w", ev.Kind, err)
	}
	return nil
}

// decodeOOMKill fills the zero k, but for its Stack's buffer, from r,
// whose header's task, decoded already as trigger, ran into the OOM.
func (d *Decoder) decodeOOMKill(k *event.OOMKill, r *oomtraceOomKillEvent, trigger event.Task) {
	flags := oomtraceOomKillFlags(r.Flags)

	v := &k.Victim
	v.Task = event.Task{PID: r.VictimPid, TGID: r.VictimTgid, Comm: d.comm(&r.VictimComm)}
	v.UID, v.HasUID = r.VictimUid, r.VictimUid != ^uint32(0)
	v.OOMScoreAdj = r.VictimOomScoreAdj
	v.HasMM = flags&oomtraceOomKillFlagsOOM_HAVE_MM != 0
	v.RSSAnonKB, v.RSSFileKB, v.RSSShmemKB = r.RssAnonKb, r.RssFileKb, r.RssShmemKb
	v.TotalVMKB, v.PgtablesKB = r.TotalVmKb, r.PgtablesKb
	d.cgroup(&v.Cgroup, &r.VictimCgroup)
	k.Trigger = trigger
	d.cgroup(&k.TriggerCgroup, &r.TriggerCgroup)

	stack := r.Stack[:min(int(r.StackDepth), len(r.Stack))]
	if !slices.Equal(stack, d.lastStack.addrs) {
		d.lastStack.resolve(stack, d.symbols)
	}
	k.Stack = append(k.Stack, d.lastStack.names...)

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
		k.HasGFP = true
		k.Constraint = constraintOf(r.Constraint)
		k.GFPMask = r.GfpMask
		k.Order = r.Order
		k.Points = r.Points
		k.TotalPages = r.Totalpages
	}
	k.Nodes = event.NodeLimits{
		MemsAllowed:     r.TriggerMemsAllowed,
		HaveMemsAllowed: flags&oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED != 0,
		PolicyMode:      r.TriggerPolicyMode,
		PolicyNodes:     r.TriggerPolicyNodes,
		HavePolicy:      flags&oomtraceOomKillFlagsOOM_HAVE_MEMPOLICY != 0,
	}
	d.cgroup(&k.OOMCgroup, &r.OomCgroup)
}

// constraintOf maps the kernel's enum oom_constraint (CONSTRAINT_NONE = 0
// to CONSTRAINT_MEMCG = 3, the same since 5.0) to event.Constraint.
func constraintOf(c uint32) event.Constraint {
	if c > 3 {
		return event.ConstraintUnseen
	}
	return event.ConstraintNone + event.Constraint(c)
}

// cgroup fills the zero *dst from c; an invalid c leaves it zero.
func (d *Decoder) cgroup(dst *event.Cgroup, c *oomtraceCgroupInfo) {
	if valid(c.Flags) {
		fillCgroup(dst, c.Id, c.UsagePages, c.LimitPages, c.Flags, d.cgroupPath(c))
	}
}

// reclaimCgroup fills the zero *dst from c, the cgroup of the reclaim
// record raw: with the path of the histogram c names, or, where c names
// none, the path that follows the record. An invalid c leaves *dst zero.
func (d *Decoder) reclaimCgroup(dst *event.Cgroup, raw []byte, c *oomtraceCgroupRef) error {
	if !valid(c.Flags) {
		return nil
	}
	if c.SlotPlus1 == 0 {
		r, err := view(raw, &d.reclaimPath)
		if err != nil {
			return fmt.Errorf("reclaim record without a histogram: %w", err)
		}
		d.cgroup(dst, &r.Cgroup)
		return nil
	}
	h, err := d.histogramPath(c.SlotPlus1-1, c.Id)
	if err != nil {
		return err
	}
	fillCgroup(dst, c.Id, c.UsagePages, c.LimitPages, h.flags, h.path)
	return nil
}

// histogramPath returns the cgroup of the reclaim histogram in slot, which
// a record of the cgroup id names: as decoded before, or read from the
// tracer's histograms the first time a record names it.
func (d *Decoder) histogramPath(slot uint32, id uint64) (*histogramPath, error) {
	if slot >= reclaimHistograms {
		return nil, fmt.Errorf("reclaim record names histogram %d of %d: BPF object and decoder disagree", slot, reclaimHistograms)
	}
	h := &d.histogramPaths[slot]
	if h.id == id && h.path != "" {
		return h, nil
	}
	if d.histograms == nil {
		return nil, fmt.Errorf("reclaim record names histogram %d, and no tracer's histograms are open to read its cgroup's path from", slot)
	}
	if err := d.histograms.readHistogram(slot, &d.histogram); err != nil {
		return nil, fmt.Errorf("read the cgroup of reclaim histogram %d: %w", slot, err)
	}
	c := &d.histogram.Cgroup
	if !valid(c.Flags) || c.Id != id {
		// Histograms are given back only once their cgroup is gone, and
		// keep it until a new cgroup takes them: this record was read
		// after both.
		return nil, fmt.Errorf("reclaim record of cgroup %d names histogram %d, which holds cgroup %d by now: "+
			"the cgroup was removed, and its histogram taken by another, before the record was read", id, slot, c.Id)
	}
	*h = histogramPath{id: id, flags: c.Flags, path: d.strings.get(kernelString(c.Path[:]))}
	return h, nil
}

// valid reports whether the kernel side filled in the cgroup of flags.
func valid(flags uint32) bool {
	return oomtraceCgroupFlags(flags)&oomtraceCgroupFlagsCGROUP_VALID != 0
}

// fillCgroup fills the zero *dst from a valid cgroup's id, usage, limit and
// flags (struct cgroup_info's), and the string of its path.
func fillCgroup(dst *event.Cgroup, id, usagePages, limitPages uint64, cgroupFlags uint32, path string) {
	flags := oomtraceCgroupFlags(cgroupFlags)
	dst.Path = path
	dst.ID = id
	dst.UsageBytes = usagePages * pageSize
	dst.LimitBytes = limitPages * pageSize
	if limitPages >= unlimitedPages {
		dst.LimitBytes = event.NoLimit
	}
	dst.Truncated = flags&oomtraceCgroupFlagsCGROUP_TRUNCATED != 0
	if flags&oomtraceCgroupFlagsCGROUP_TOP_MISSING != 0 {
		// The deepest components only: written without the leading slash,
		// so that nothing reads the path as starting at the root.
		dst.Path = strings.TrimLeft(dst.Path, "/")
		dst.Truncated = true
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

// comm returns the string of a comm, without hashing it when the same
// bytes were seen recently.
func (d *Decoder) comm(c *[16]int8) string {
	raw := (*[16]byte)(unsafe.Pointer(c))
	slot := &d.comms[nameSlot(binary.NativeEndian.Uint64(raw[:8])^binary.NativeEndian.Uint64(raw[8:])*31)]
	if slot.raw != *c {
		*slot = commSlot{raw: *c, s: d.strings.get(kernelString(c[:]))}
	}
	return slot.s
}

// cgroupPath returns the string of c's path, without hashing it when the
// same cgroup was seen recently with the same path.
func (d *Decoder) cgroupPath(c *oomtraceCgroupInfo) string {
	slot := &d.paths[nameSlot(c.Id)]
	if slot.id != c.Id || !holdsString(c.Path[:], slot.path) {
		*slot = pathSlot{id: c.Id, path: d.strings.get(kernelString(c.Path[:]))}
	}
	return slot.path
}

// holdsString reports whether the kernel string in b is s.
func holdsString(b []int8, s string) bool {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	return len(s) <= len(raw) && string(raw[:len(s)]) == s && (len(s) == len(raw) || raw[len(s)] == 0)
}
