package tracer

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
)

// rawBytes returns the bytes of a record as the kernel writes them.
func rawBytes[T any](rec *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(rec)), unsafe.Sizeof(*rec))
}

func setString[T ~int8](dst []T, s string) {
	for i := range dst {
		dst[i] = 0
	}
	for i := 0; i < len(s) && i < len(dst); i++ {
		dst[i] = T(s[i])
	}
}

// fakeSymbols names address 0x1000*(i+1) (and the bytes after it)
// names[i].
type fakeSymbols []string

func (f fakeSymbols) LookupStack(stack []uint64, names []string) (named int) {
	for i, addr := range stack {
		names[i] = ""
		if j := int(addr/0x1000) - 1; j >= 0 && j < len(f) {
			names[i] = f[j]
			named++
		}
	}
	return named
}

// The real 6.18 memcg kill stack, innermost first.
var memcgStack = fakeSymbols{
	"mark_oom_victim", "__oom_kill_process", "oom_kill_process", "out_of_memory",
	"mem_cgroup_out_of_memory", "try_charge_memcg", "charge_memcg", "__mem_cgroup_charge",
	"do_anonymous_page", "handle_mm_fault", "do_user_addr_fault", "exc_page_fault", "asm_exc_page_fault",
}

func setStack(r *oomtraceOomKillEvent, n int) {
	for i := 0; i < n; i++ {
		r.Stack[i] = uint64(0x1000*(i+1)) + 0x10
	}
	r.StackDepth = uint32(n)
}

func cgroupInfo(path string, id, usagePages, limitPages uint64) oomtraceCgroupInfo {
	c := oomtraceCgroupInfo{Id: id, UsagePages: usagePages, LimitPages: limitPages, Flags: uint32(oomtraceCgroupFlagsCGROUP_VALID)}
	setString(c.Path[:], path)
	return c
}

// fakeHistograms are a tracer's reclaim histograms, as the decoder reads
// them for their cgroups: by slot, every slot there, empty unless held.
type fakeHistograms struct {
	cgroups map[uint32]oomtraceCgroupInfo
	reads   int
}

func (f *fakeHistograms) readHistogram(slot uint32, dst *oomtraceReclaimStats) error {
	f.reads++
	*dst = oomtraceReclaimStats{Cgroup: f.cgroups[slot]}
	dst.Buckets[0] = 1 // counts are not what the decoder reads
	return nil
}

// hold puts c in the histogram of slot, and returns what a reclaim record
// of c says of it.
func (f *fakeHistograms) hold(slot uint32, c oomtraceCgroupInfo) oomtraceCgroupRef {
	if f.cgroups == nil {
		f.cgroups = map[uint32]oomtraceCgroupInfo{}
	}
	f.cgroups[slot] = c
	return oomtraceCgroupRef{Id: c.Id, UsagePages: c.UsagePages, LimitPages: c.LimitPages,
		Flags: uint32(oomtraceCgroupFlagsCGROUP_VALID), SlotPlus1: slot + 1}
}

// decoderWith returns a decoder whose reclaim histograms are h.
func decoderWith(t testing.TB, symbols Symbolizer, h *fakeHistograms) *Decoder {
	d, err := NewDecoder(symbols, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.histograms = h
	return d
}

func tracepointKill() *oomtraceOomKillEvent {
	r := &oomtraceOomKillEvent{}
	r.Hdr = oomtraceEventHeader{KtimeNs: 5_000_000_123, Kind: uint32(oomtraceEventKindEVENT_OOM_KILL), Cpu: 1, Pid: 101, Tgid: 100}
	setString(r.Hdr.Comm[:], "allocator")
	r.VictimPid, r.VictimTgid, r.VictimUid, r.VictimOomScoreAdj = 200, 200, 1000, -17
	setString(r.VictimComm[:], "victim")
	r.Flags = uint32(oomtraceOomKillFlagsOOM_HAVE_MM | oomtraceOomKillFlagsOOM_CGROUP_WALKED)
	r.RssAnonKb, r.RssFileKb, r.RssShmemKb, r.TotalVmKb, r.PgtablesKb = 1, 2, 3, 4, 5
	r.VictimCgroup = cgroupInfo("/pod/ctr", 7, 1000, 1<<51-1)
	r.TriggerCgroup = cgroupInfo("/pod/other", 8, 10, 1<<51-1)
	r.OomCgroup = cgroupInfo("/pod", 6, 8192, 8192)
	setStack(r, len(memcgStack))
	return r
}

func TestDecodeTracepointKill(t *testing.T) {
	d, err := NewDecoder(memcgStack, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	if err := d.Decode(rawBytes(tracepointKill()), &ev); err != nil {
		t.Fatal(err)
	}
	k := ev.OOMKill
	if ev.Kind != event.KindOOMKill || ev.KtimeNS != 5_000_000_123 || ev.CPU != 1 || ev.Task != (event.Task{PID: 101, TGID: 100, Comm: "allocator"}) {
		t.Errorf("header: %+v", ev)
	}
	if ev.Time.IsZero() {
		t.Error("no wall-clock time")
	}
	if k.Class != event.ClassUnknown || k.Mode != event.ModeTracepoint || k.HasControl || k.Constraint != event.ConstraintUnseen {
		t.Errorf("class %s mode %s control %v constraint %d; want no class (the classify stage decides), tracepoint, false, unseen", k.Class, k.Mode, k.HasControl, k.Constraint)
	}
	wantVictim := event.Victim{
		Task: event.Task{PID: 200, TGID: 200, Comm: "victim"}, UID: 1000, HasUID: true, OOMScoreAdj: -17, HasMM: true,
		RSSAnonKB: 1, RSSFileKB: 2, RSSShmemKB: 3, TotalVMKB: 4, PgtablesKB: 5,
		Cgroup: event.Cgroup{Path: "/pod/ctr", ID: 7, UsageBytes: 1000 * 4096, LimitBytes: event.NoLimit},
	}
	if k.Victim != wantVictim {
		t.Errorf("victim:\n got %+v\nwant %+v", k.Victim, wantVictim)
	}
	if k.Trigger != ev.Task || k.TriggerCgroup.Path != "/pod/other" {
		t.Errorf("trigger %+v in %q", k.Trigger, k.TriggerCgroup.Path)
	}
	if k.OOMCgroup != (event.Cgroup{Path: "/pod", ID: 6, UsageBytes: 8192 * 4096, LimitBytes: 8192 * 4096}) {
		t.Errorf("oom cgroup %+v", k.OOMCgroup)
	}
	if got := strings.Join(k.Stack, ","); got != strings.Join(memcgStack, ",") {
		t.Errorf("stack %s", got)
	}
}

// decodeAndClassify decodes raw as the ring buffer's reader does and hands
// the event to the classify stage, as the pipeline does next.
func decodeAndClassify(t *testing.T, d *Decoder, raw []byte, opts classify.Options) event.Event {
	t.Helper()
	var ev event.Event
	if err := d.Decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if _, err := classify.New(opts).Process(&ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// The decoder hands over oom_control's constraint and order, and the
// classify stage decides by them, not by the (memcg) stack.
func TestDecodeControlClasses(t *testing.T) {
	d, err := NewDecoder(memcgStack, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		constraint uint32
		order      int32
		want       event.Class
	}{
		{0, 0, event.ClassGlobal},
		{0, -1, event.ClassSysrq},
		{1, 0, event.ClassCpuset},
		{2, 3, event.ClassMempolicy},
		{3, 0, event.ClassMemcg},
	} {
		r := tracepointKill()
		r.Flags = uint32(oomtraceOomKillFlagsOOM_HAVE_CONTROL)
		r.Source = uint32(oomtraceOomSourceSOURCE_KPROBE)
		r.Constraint, r.Order, r.GfpMask, r.Points, r.Totalpages = tc.constraint, tc.order, 0xcc0, 1234, 8192
		ev := decodeAndClassify(t, d, rawBytes(r), classify.Options{})
		k := ev.OOMKill
		if k.Constraint != event.ConstraintNone+event.Constraint(tc.constraint) {
			t.Errorf("constraint %d decoded as %d", tc.constraint, k.Constraint)
		}
		if k.Class != tc.want || k.Mode != event.ModeKprobe || !k.HasControl {
			t.Errorf("constraint %d order %d: class %s mode %s control %v, want %s kprobe true", tc.constraint, tc.order, k.Class, k.Mode, k.HasControl, tc.want)
		}
		if k.GFPMask != 0xcc0 || k.Order != tc.order || k.Points != 1234 || k.TotalPages != 8192 {
			t.Errorf("oom_control fields: %+v", k)
		}
		if k.Victim.HasMM {
			t.Error("victim memory reported without OOM_HAVE_MM")
		}
		if (k.Class == event.ClassMemcg) != k.OOMCgroup.Valid() {
			t.Errorf("class %s with oom cgroup %q: only memcg OOMs have one", k.Class, k.OOMCgroup.Path)
		}
	}
}

// A global-looking stack in tracepoint mode is refined by the trigger's
// limits on NUMA nodes; a memcg stack is not.
func TestDecodeNodeLimits(t *testing.T) {
	globalStack := fakeSymbols{"mark_oom_victim", "__oom_kill_process", "oom_kill_process", "out_of_memory",
		"__alloc_pages_slowpath", "__alloc_pages_noprof", "alloc_pages_mpol", "do_anonymous_page"}
	const mpolBind = 2
	for _, tc := range []struct {
		name         string
		stack        fakeSymbols
		flags        oomtraceOomKillFlags
		mems, policy uint64
		nodesUnknown bool
		want         event.Class
	}{
		{"no limits", globalStack, oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED, 0b11, 0, false, event.ClassGlobal},
		{"cpuset", globalStack, oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED, 0b10, 0, false, event.ClassCpuset},
		{"mempolicy", globalStack, oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED | oomtraceOomKillFlagsOOM_HAVE_MEMPOLICY, 0b11, 0b01, false, event.ClassMempolicy},
		{"policy not read", globalStack, oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED, 0b11, 0b01, false, event.ClassGlobal},
		{"nodes unreadable", globalStack, oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED, 0b10, 0, true, event.ClassUnknown},
		{"memcg stays memcg", memcgStack, oomtraceOomKillFlagsOOM_HAVE_MEMS_ALLOWED, 0b10, 0, false, event.ClassMemcg},
	} {
		d, err := NewDecoder(tc.stack, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := tracepointKill()
		setStack(r, len(tc.stack))
		r.Flags |= uint32(tc.flags)
		r.TriggerMemsAllowed, r.TriggerPolicyNodes, r.TriggerPolicyMode = tc.mems, tc.policy, mpolBind
		ev := decodeAndClassify(t, d, rawBytes(r), classify.Options{MemoryNodes: 0b11, NodesUnknown: tc.nodesUnknown})
		if n := ev.OOMKill.Nodes; n.MemsAllowed != tc.mems || !n.HaveMemsAllowed || n.HavePolicy != (tc.flags&oomtraceOomKillFlagsOOM_HAVE_MEMPOLICY != 0) {
			t.Errorf("%s: node limits decoded as %+v", tc.name, n)
		}
		if ev.OOMKill.Class != tc.want {
			t.Errorf("%s: class %s, want %s", tc.name, ev.OOMKill.Class, tc.want)
		}
	}
}

// A victim that was already exiting is marked without __oom_kill_process.
func TestDecodeVictimExiting(t *testing.T) {
	stack := fakeSymbols{"mark_oom_victim", "oom_kill_process", "out_of_memory", "mem_cgroup_out_of_memory", "try_charge_memcg"}
	d, err := NewDecoder(stack, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := tracepointKill()
	setStack(r, len(stack))
	ev := decodeAndClassify(t, d, rawBytes(r), classify.Options{})
	if !ev.OOMKill.VictimExiting || ev.OOMKill.Class != event.ClassMemcg {
		t.Errorf("exiting %v class %s, want true memcg", ev.OOMKill.VictimExiting, ev.OOMKill.Class)
	}
}

func TestDecodeOtherKinds(t *testing.T) {
	var h fakeHistograms
	d := decoderWith(t, nil, &h)
	var ev event.Event

	rec := &oomtraceReclaimEvent{DurationNs: 3_000_000, NrReclaimed: 12, GfpMask: 0x100cca, Order: 2, ReclaimKind: uint32(oomtraceReclaimKindRECLAIM_SOFTLIMIT)}
	rec.Hdr.Kind = uint32(oomtraceEventKindEVENT_RECLAIM)
	rec.Cgroup = h.hold(5, cgroupInfo("/a", 3, 1, 2))
	if err := d.Decode(rawBytes(rec), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.KindReclaim || ev.Reclaim.Kind != event.ReclaimSoftlimit || ev.Reclaim.Duration.Milliseconds() != 3 ||
		ev.Reclaim.NrReclaimed != 12 || ev.Reclaim.Order != 2 || ev.Reclaim.Cgroup.Path != "/a" {
		t.Errorf("reclaim: %+v", ev.Reclaim)
	}

	reaper := &oomtraceReaperEvent{Step: uint32(oomtraceReaperStepREAPER_FINISH), VictimPid: 42}
	reaper.Hdr.Kind = uint32(oomtraceEventKindEVENT_REAPER)
	if err := d.Decode(rawBytes(reaper), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.KindReaper || ev.Reaper != (event.Reaper{Step: event.ReaperFinish, VictimPID: 42}) || ev.Reclaim != (event.Reclaim{}) {
		t.Errorf("reaper: %+v (reclaim left over: %+v)", ev.Reaper, ev.Reclaim)
	}

	wake := &oomtraceKswapdWakeEvent{Nid: 1, Zid: 2, Order: 3}
	wake.Hdr.Kind = uint32(oomtraceEventKindEVENT_KSWAPD_WAKE)
	if err := d.Decode(rawBytes(wake), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.KindKswapdWake || ev.KswapdWake != (event.KswapdWake{Node: 1, Zone: 2, Order: 3}) {
		t.Errorf("kswapd_wake: %+v", ev.KswapdWake)
	}

	memcg := &oomtraceMemcgOomEvent{GfpMask: 0xcc0, Order: 1}
	memcg.Hdr.Kind = uint32(oomtraceEventKindEVENT_MEMCG_OOM)
	memcg.Cgroup = cgroupInfo("/m", 9, 5, 5)
	if err := d.Decode(rawBytes(memcg), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != event.KindMemcgOOM || ev.MemcgOOM.Cgroup.Path != "/m" || ev.MemcgOOM.GFPMask != 0xcc0 || ev.MemcgOOM.Order != 1 {
		t.Errorf("memcg_oom: %+v", ev.MemcgOOM)
	}
}

func TestDecodeBadRecords(t *testing.T) {
	d, err := NewDecoder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	full := rawBytes(tracepointKill())
	for name, raw := range map[string][]byte{
		"empty":          nil,
		"header only":    full[:unsafe.Sizeof(oomtraceEventHeader{})],
		"truncated kill": full[:len(full)-1],
	} {
		if err := d.Decode(raw, &ev); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	unknown := &oomtraceEventHeader{Kind: 99}
	if err := d.Decode(rawBytes(unknown), &ev); err == nil || !strings.Contains(err.Error(), "unknown record kind 99") {
		t.Errorf("unknown kind: %v", err)
	}
}

// A reclaim record names its cgroup's histogram, and the decoder reads
// the path from it once: again only when the histogram holds another
// cgroup. What it cannot name is an error, never another cgroup's path.
func TestDecodeReclaimCgroup(t *testing.T) {
	var h fakeHistograms
	d := decoderWith(t, nil, &h)
	decode := func(c oomtraceCgroupRef) (event.Cgroup, error) {
		t.Helper()
		rec := &oomtraceReclaimEvent{DurationNs: 1}
		rec.Hdr.Kind = uint32(oomtraceEventKindEVENT_RECLAIM)
		rec.Cgroup = c
		var ev event.Event
		err := d.Decode(rawBytes(rec), &ev)
		return ev.Reclaim.Cgroup, err
	}
	ctr := h.hold(3, cgroupInfo("/pod/ctr", 30, 1, 2))
	for usage := range uint64(3) {
		ctr.UsagePages = usage + 10
		got, err := decode(ctr)
		if err != nil {
			t.Fatal(err)
		}
		// Usage and limit are the record's, read at the episode's end.
		if got.Path != "/pod/ctr" || got.ID != 30 || got.UsageBytes != (usage+10)*pageSize || got.LimitBytes != 2*pageSize {
			t.Errorf("record %d: %+v", usage, got)
		}
	}
	if h.reads != 1 {
		t.Errorf("the histogram was read %d times for 3 records of its cgroup, want once", h.reads)
	}

	// The path's flags are the histogram's.
	deep := cgroupInfo("/a/b/c", 40, 1, 2)
	deep.Flags |= uint32(oomtraceCgroupFlagsCGROUP_TOP_MISSING)
	if got, err := decode(h.hold(4, deep)); err != nil || got.Path != "a/b/c" || !got.Truncated {
		t.Errorf("cgroup without its top: %+v, %v", got, err)
	}

	// The slot given to another cgroup, whose records then name it.
	other := h.hold(3, cgroupInfo("/pod/other", 31, 1, 2))
	if got, err := decode(other); err != nil || got.Path != "/pod/other" || got.ID != 31 {
		t.Errorf("the slot's next cgroup: %+v, %v", got, err)
	}
	// A record of the first cgroup read only now, and never before: its
	// histogram has no word of it left.
	gone := oomtraceCgroupRef{Id: 32, Flags: uint32(oomtraceCgroupFlagsCGROUP_VALID), SlotPlus1: 3 + 1}
	if got, err := decode(gone); err == nil || !strings.Contains(err.Error(), "cgroup 32 names histogram 3, which holds cgroup 31") {
		t.Errorf("record of a cgroup whose histogram was taken: %+v, %v", got, err)
	}
	// A histogram that was never claimed holds no cgroup.
	empty := oomtraceCgroupRef{Id: 50, Flags: uint32(oomtraceCgroupFlagsCGROUP_VALID), SlotPlus1: 100 + 1}
	if _, err := decode(empty); err == nil || !strings.Contains(err.Error(), "holds cgroup 0") {
		t.Errorf("record naming an empty histogram: %v", err)
	}
	outside := oomtraceCgroupRef{Id: 50, Flags: uint32(oomtraceCgroupFlagsCGROUP_VALID), SlotPlus1: reclaimHistograms + 1}
	if _, err := decode(outside); err == nil || !strings.Contains(err.Error(), "BPF object and decoder disagree") {
		t.Errorf("record naming a histogram past the last: %v", err)
	}
	// No memory cgroup: nothing to read, and no cgroup.
	if got, err := decode(oomtraceCgroupRef{SlotPlus1: 3 + 1}); err != nil || got != (event.Cgroup{}) {
		t.Errorf("record without a cgroup: %+v, %v", got, err)
	}
	// A record without its path after it is cut.
	short := &oomtraceReclaimEvent{}
	short.Hdr.Kind = uint32(oomtraceEventKindEVENT_RECLAIM)
	short.Cgroup.Flags = uint32(oomtraceCgroupFlagsCGROUP_VALID)
	var ev event.Event
	if err := d.Decode(rawBytes(short), &ev); err == nil || !strings.Contains(err.Error(), "record too short") {
		t.Errorf("reclaim record without a histogram or a path: %v", err)
	}

	// Records decoded with no tracer's histograms to read.
	alone, err := NewDecoder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &oomtraceReclaimEvent{}
	rec.Hdr.Kind = uint32(oomtraceEventKindEVENT_RECLAIM)
	rec.Cgroup = ctr
	if err := alone.Decode(rawBytes(rec), &ev); err == nil || !strings.Contains(err.Error(), "no tracer's histograms") {
		t.Errorf("decoded without histograms: %v", err)
	}
}

// RECLAIM_HISTOGRAMS, as the decoder knows it, is the size of the
// histograms' map.
func TestReclaimHistogramsMirrored(t *testing.T) {
	spec, err := loadOomtrace()
	if err != nil {
		t.Fatal(err)
	}
	if n := spec.Maps["reclaim_histograms"].MaxEntries; n != reclaimHistograms {
		t.Errorf("reclaim_histograms has %d slots, the decoder knows %d", n, reclaimHistograms)
	}
}

// A comm of the full 16 bytes has no NUL; a path with one ends there.
func TestKernelString(t *testing.T) {
	var comm [16]int8
	setString(comm[:], "0123456789abcdef")
	if got := string(kernelString(comm[:])); got != "0123456789abcdef" {
		t.Errorf("full comm: %q", got)
	}
	setString(comm[:], "a\nb")
	if got := string(kernelString(comm[:])); got != "a\nb" {
		t.Errorf("comm with newline: %q", got)
	}
}

func TestInterner(t *testing.T) {
	var in interner
	a := in.get([]byte("kubelet"))
	if b := in.get([]byte("kubelet")); a != b || a != "kubelet" {
		t.Errorf("got %q and %q", a, b)
	}
	for i := range internMax + 1 {
		in.get([]byte{byte(i), byte(i >> 8)})
	}
	if len(in) > internMax {
		t.Errorf("interner grew to %d entries, want at most %d", len(in), internMax)
	}
}

// Decoding a record seen before allocates nothing: the event path of a
// reclaim storm must not feed the garbage collector.
func TestDecodeDoesNotAllocate(t *testing.T) {
	var h fakeHistograms
	d := decoderWith(t, memcgStack, &h)
	kill := rawBytes(tracepointKill())
	rec := &oomtraceReclaimEvent{DurationNs: 3_000_000, ReclaimKind: uint32(oomtraceReclaimKindRECLAIM_MEMCG)}
	rec.Hdr.Kind = uint32(oomtraceEventKindEVENT_RECLAIM)
	setString(rec.Hdr.Comm[:], "worker")
	rec.Cgroup = h.hold(9, cgroupInfo("/kubepods/burstable/pod1/ctr", 3, 1, 2))
	reclaim := rawBytes(rec)

	var ev event.Event
	for name, raw := range map[string][]byte{"oom_kill": kill, "reclaim": reclaim} {
		if err := d.Decode(raw, &ev); err != nil { // warm the interner
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := d.Decode(raw, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("decoding a %s record allocates %.0f times", name, allocs)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	var h fakeHistograms
	d := decoderWith(b, memcgStack, &h)
	rec := &oomtraceReclaimEvent{DurationNs: 3_000_000}
	rec.Hdr.Kind = uint32(oomtraceEventKindEVENT_RECLAIM)
	rec.Cgroup = h.hold(9, cgroupInfo("/kubepods/burstable/pod1/ctr", 3, 1, 2))
	for name, raw := range map[string][]byte{"oom_kill": rawBytes(tracepointKill()), "reclaim": rawBytes(rec)} {
		b.Run(name, func(b *testing.B) {
			var ev event.Event
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(raw, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// Kills whose stacks differ from the one before: nothing remembered
	// from the previous kill applies.
	b.Run("oom_kill_new_stack", func(b *testing.B) {
		other := tracepointKill()
		setStack(other, len(memcgStack)-1)
		raws := [2][]byte{rawBytes(tracepointKill()), rawBytes(other)}
		var ev event.Event
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := d.Decode(raws[i%2], &ev); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// records returns one record of every kind, each field set, with the
// reclaim histograms they name in h.
func records(h *fakeHistograms) map[string][]byte {
	kprobeKill := tracepointKill()
	kprobeKill.Flags |= uint32(oomtraceOomKillFlagsOOM_HAVE_CONTROL)
	kprobeKill.Source = uint32(oomtraceOomSourceSOURCE_KPROBE)
	kprobeKill.Constraint, kprobeKill.GfpMask, kprobeKill.Order, kprobeKill.Points, kprobeKill.Totalpages = 3, 0xcc0, 2, 99, 4096

	memcg := &oomtraceMemcgOomEvent{GfpMask: 0xcc0, Order: 1}
	memcg.Hdr = oomtraceEventHeader{KtimeNs: 11, Kind: uint32(oomtraceEventKindEVENT_MEMCG_OOM), Cpu: 1, Pid: 12, Tgid: 13}
	setString(memcg.Hdr.Comm[:], "charger")
	memcg.Cgroup = cgroupInfo("/m", 9, 5, 5)

	reclaim := &oomtraceReclaimEvent{DurationNs: 3_000_000, NrReclaimed: 12, GfpMask: 0x100cca, Order: 2, ReclaimKind: uint32(oomtraceReclaimKindRECLAIM_SOFTLIMIT)}
	reclaim.Hdr = oomtraceEventHeader{KtimeNs: 21, Kind: uint32(oomtraceEventKindEVENT_RECLAIM), Cpu: 2, Pid: 22, Tgid: 23}
	setString(reclaim.Hdr.Comm[:], "reclaimer")
	truncated := cgroupInfo("/a", 3, 1, 2)
	truncated.Flags |= uint32(oomtraceCgroupFlagsCGROUP_TRUNCATED)
	reclaim.Cgroup = h.hold(7, truncated)

	// The record of a cgroup that found no free histogram carries its path.
	reclaimPath := &oomtraceReclaimPathEvent{Ev: *reclaim, Cgroup: cgroupInfo("/b", 4, 5, 6)}
	reclaimPath.Ev.Cgroup = oomtraceCgroupRef{Id: 4, UsagePages: 5, LimitPages: 6, Flags: uint32(oomtraceCgroupFlagsCGROUP_VALID)}

	wake := &oomtraceKswapdWakeEvent{Nid: 1, Zid: 2, Order: 3}
	wake.Hdr = oomtraceEventHeader{KtimeNs: 31, Kind: uint32(oomtraceEventKindEVENT_KSWAPD_WAKE), Cpu: 3, Pid: 32, Tgid: 33}

	reaper := &oomtraceReaperEvent{Step: uint32(oomtraceReaperStepREAPER_FINISH), VictimPid: 42}
	reaper.Hdr = oomtraceEventHeader{KtimeNs: 41, Kind: uint32(oomtraceEventKindEVENT_REAPER), Pid: 43, Tgid: 43}
	setString(reaper.Hdr.Comm[:], "oom_reaper")

	signal := &oomtraceSignalEvent{Sig: 9, Code: 0x80, TargetPid: 51, TargetTgid: 50, Group: 1}
	signal.Hdr = oomtraceEventHeader{KtimeNs: 52, Kind: uint32(oomtraceEventKindEVENT_SIGNAL), Cpu: 1, Pid: 53, Tgid: 53}
	setString(signal.Hdr.Comm[:], "kubelet")
	setString(signal.TargetComm[:], "target")
	signal.SenderCgroup = cgroupInfo("/system.slice/kubelet.service", 4, 10, 1<<51)
	signal.TargetCgroup = cgroupInfo("/pod/ctr", 7, 20, 30)

	exit := &oomtraceExitEvent{ExitCode: 9}
	exit.Hdr = oomtraceEventHeader{KtimeNs: 61, Kind: uint32(oomtraceEventKindEVENT_EXIT), Cpu: 1, Pid: 62, Tgid: 62}
	setString(exit.Hdr.Comm[:], "dying")
	exit.Cgroup = cgroupInfo("/t", 5, 1, 2)

	return map[string][]byte{
		"oom_kill": rawBytes(tracepointKill()), "oom_kill with oom_control": rawBytes(kprobeKill),
		"memcg_oom": rawBytes(memcg), "reclaim": rawBytes(reclaim), "reclaim with its path": rawBytes(reclaimPath), "kswapd_wake": rawBytes(wake),
		"reaper": rawBytes(reaper), "signal": rawBytes(signal), "exit": rawBytes(exit),
	}
}

// completeInUserSpace sets what oomtrace adds to a decoded event after
// Decode (names, explanations, snapshots, causes), which the next Decode
// into the same event must clear too.
func completeInUserSpace(ev *event.Event) {
	for _, c := range ev.Cgroups() {
		c.Owner.Name, c.Owner.PodName = "ctr", "pod"
	}
	switch ev.Kind {
	case event.KindOOMKill:
		ev.OOMKill.Why = "because"
		ev.OOMKill.HasSnapshot = true
		ev.OOMKill.Snapshot.Version = 2
	case event.KindSignal:
		ev.Signal.SenderClass = event.SenderKubelet
	case event.KindExit:
		x := &ev.Exit
		x.Cause, x.EvidenceKtimeNS, x.OOMClass, x.Why = event.CauseSignal, 52, event.ClassMemcg, "killed"
		x.Sender, x.SenderClass, x.Code = event.Task{PID: 53, TGID: 53, Comm: "kubelet"}, event.SenderKubelet, 0x80
		x.SenderCgroup = event.Cgroup{Path: "/system.slice/kubelet.service", ID: 4}
		x.TermSender, x.TermBefore = x.Sender, time.Second
	}
}

// Decoding a record into an event that held another leaves nothing of the
// other: the event is the one decoding the record into a zero event gives.
func TestDecodeLeavesNothingStale(t *testing.T) {
	var h fakeHistograms
	d := decoderWith(t, memcgStack, &h)
	recs := records(&h)
	want := make(map[string]event.Event)
	for name, raw := range recs {
		var ev event.Event
		if err := d.Decode(raw, &ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want[name] = ev
	}
	for before, first := range recs {
		for name, raw := range recs {
			var ev event.Event
			if err := d.Decode(first, &ev); err != nil {
				t.Fatal(err)
			}
			completeInUserSpace(&ev)
			if err := d.Decode(raw, &ev); err != nil {
				t.Fatal(err)
			}
			// The kill's stack buffer is kept for the next kill: empty
			// is as good as none.
			if len(ev.OOMKill.Stack) == 0 {
				ev.OOMKill.Stack = nil
			}
			if w := want[name]; !reflect.DeepEqual(ev, w) {
				t.Errorf("%s after %s:\n got %+v\nwant %+v", name, before, ev, w)
			}
		}
	}
}

// What the decoder remembers of earlier records (comms, cgroup paths by
// id, the last kill's stack) never stands in for what a record holds.
func TestDecodeRemembersOnlyWhatMatches(t *testing.T) {
	d, err := NewDecoder(memcgStack, nil)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("/very-long-cgroup-name", 24)[:512] // fills the path: no NUL
	var ev event.Event
	for _, tc := range []struct{ comm, path string }{
		{"worker", "/pod/ctr"},
		{"worker", "/pod/ctr"},
		{"worker2", "/pod/ctr2"}, // the cgroup's id reused for another cgroup
		{"worker", "/pod/ct"},
		{"", "/pod/ctr"},
		{"0123456789abcdef", long},
		{"0123456789abcdef", long[:511]},
		{"0123456789abcdef", long},
	} {
		rec := &oomtraceMemcgOomEvent{}
		rec.Hdr.Kind = uint32(oomtraceEventKindEVENT_MEMCG_OOM)
		setString(rec.Hdr.Comm[:], tc.comm)
		rec.Cgroup = cgroupInfo(tc.path, 7, 1, 2)
		if err := d.Decode(rawBytes(rec), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Task.Comm != tc.comm || ev.MemcgOOM.Cgroup.Path != tc.path {
			t.Errorf("comm %q path %q, want %q %q", ev.Task.Comm, ev.MemcgOOM.Cgroup.Path, tc.comm, tc.path)
		}
	}

	// A kill with another stack after a memcg kill is resolved anew.
	for _, depth := range []int{len(memcgStack), 4, len(memcgStack)} {
		r := tracepointKill()
		setStack(r, depth)
		ev := decodeAndClassify(t, d, rawBytes(r), classify.Options{})
		wantClass := event.ClassMemcg
		if depth == 4 { // ends in out_of_memory: no caller named to tell the class by
			wantClass = event.ClassUnknown
		}
		if got := strings.Join(ev.OOMKill.Stack, ","); got != strings.Join(memcgStack[:depth], ",") || ev.OOMKill.Class != wantClass {
			t.Errorf("depth %d: class %s stack %s, want %s", depth, ev.OOMKill.Class, got, wantClass)
		}
	}
}

// A frame that no symbol names is written as its address, with or
// without symbols to look it up in.
func TestDecodeUnnamedFrames(t *testing.T) {
	short, moved := tracepointKill(), tracepointKill()
	setStack(short, 3)
	setStack(moved, 3)
	moved.Stack[1] += 0x100
	for _, tc := range []struct {
		symbols Symbolizer
		want    [2]string // of short, then moved
	}{
		{memcgStack[:2], [2]string{"mark_oom_victim,__oom_kill_process,0x3010", "mark_oom_victim,__oom_kill_process,0x3010"}},
		{nil, [2]string{"0x1010,0x2010,0x3010", "0x1010,0x2110,0x3010"}},
	} {
		d, err := NewDecoder(tc.symbols, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ev event.Event
		for i, r := range []*oomtraceOomKillEvent{short, moved} {
			if err := d.Decode(rawBytes(r), &ev); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ev.OOMKill.Stack, ","); got != tc.want[i] {
				t.Errorf("symbols %v, kill %d: stack %s, want %s", tc.symbols, i, got, tc.want[i])
			}
		}
	}
}

// A record that is not aligned in memory, as a caller's buffer may hold
// it, decodes the same as one that is.
func TestDecodeUnaligned(t *testing.T) {
	var h fakeHistograms
	d := decoderWith(t, memcgStack, &h)
	for name, raw := range records(&h) {
		var aligned, unaligned event.Event
		if err := d.Decode(raw, &aligned); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(raw)+1)
		copy(buf[1:], raw)
		if err := d.Decode(buf[1:], &unaligned); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(aligned, unaligned) {
			t.Errorf("%s:\n unaligned %+v\n   aligned %+v", name, unaligned, aligned)
		}
	}
}

// A cgroup deeper than the kernel side walks comes without its top: the
// path keeps the deepest components and loses its leading slash, so that
// nothing downstream reads it as starting at the root, and it is marked
// truncated. A path cut at its leaf end stays rooted.
func TestDecodeCgroupWithoutItsTop(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flags     oomtraceCgroupFlags
		want      string
		truncated bool
		top       bool
	}{
		{"whole", 0, "/kubepods/burstable/podx/ctr", false, false},
		{"leaf cut", oomtraceCgroupFlagsCGROUP_TRUNCATED, "/kubepods/burstable/podx/ctr", true, false},
		{"top missing", oomtraceCgroupFlagsCGROUP_TOP_MISSING, "kubepods/burstable/podx/ctr", true, true},
		{"both", oomtraceCgroupFlagsCGROUP_TOP_MISSING | oomtraceCgroupFlagsCGROUP_TRUNCATED, "kubepods/burstable/podx/ctr", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := cgroupInfo("/kubepods/burstable/podx/ctr", 7, 1, 2)
			raw.Flags |= uint32(tc.flags)
			var got event.Cgroup
			fillCgroup(&got, raw.Id, raw.UsagePages, raw.LimitPages, raw.Flags, string(kernelString(raw.Path[:])))
			if got.Path != tc.want || got.Truncated != tc.truncated || got.TopMissing() != tc.top {
				t.Errorf("got path %q truncated %v top missing %v, want %q %v %v",
					got.Path, got.Truncated, got.TopMissing(), tc.want, tc.truncated, tc.top)
			}
		})
	}
}
