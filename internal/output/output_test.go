package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/output")

const goldenDir = "../../testdata/output"

// testGFPNames stands in for the package that decodes gfp masks, and
// appends like the real one.
func testGFPNames(dst []byte, mask uint32) []byte {
	switch mask {
	case 0x140cca:
		return append(dst, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"...)
	case 0xcc0:
		return append(dst, "GFP_KERNEL"...)
	}
	return append(dst, "odd flags"...) // not a bare word: written quoted
}

// gfpNamesOf is a GFPNames that names every mask s.
func gfpNamesOf(s string) func([]byte, uint32) []byte {
	return func(dst []byte, _ uint32) []byte { return append(dst, s...) }
}

// memcgKill is a memcg OOM kill as the fentry mode sees it, modelled on a
// real kill on 6.18 (see the kernel's report in KERNEL-NOTES.md).
func memcgKill() event.Event {
	return event.Event{
		Kind:    event.KindOOMKill,
		Time:    time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC),
		KtimeNS: 5123_456789012,
		CPU:     3,
		Task:    event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
		OOMKill: event.OOMKill{
			Class: event.ClassMemcg,
			Mode:  event.ModeFentry,
			Victim: event.Victim{
				Task:        event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
				UID:         0,
				HasUID:      true,
				OOMScoreAdj: 0,
				HasMM:       true,
				RSSAnonKB:   50944,
				RSSFileKB:   948,
				RSSShmemKB:  0,
				TotalVMKB:   53876,
				PgtablesKB:  140,
				Cgroup:      event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 52428800, LimitBytes: 52428800},
			},
			Trigger:       event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
			TriggerCgroup: event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 52428800, LimitBytes: 52428800},
			OOMCgroup:     event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 52428800, LimitBytes: 52428800},
			HasGFP:        true,
			HasControl:    true,
			GFPMask:       0x140cca,
			Order:         0,
			Points:        12922,
			TotalPages:    12800,
			Stack:         []string{"mark_oom_victim", "__oom_kill_process", "oom_kill_process", "out_of_memory", "mem_cgroup_out_of_memory"},
		},
	}
}

type goldenCase struct {
	name string
	ev   event.Event
	opts Options
}

func goldenCases() []goldenCase {
	withStack := memcgKill()
	withStack.OOMKill.Victim.Cgroup = event.Cgroup{Path: "/kubepods/burstable/pod1/" + strings.Repeat("c", 40), ID: 77, UsageBytes: 4096, LimitBytes: event.NoLimit, Truncated: true}
	withStack.OOMKill.OOMCgroup = event.Cgroup{Path: "/kubepods/burstable/pod1", ID: 70, UsageBytes: 1 << 30, LimitBytes: 1 << 30}
	withStack.OOMKill.Stack = append(withStack.OOMKill.Stack, "try_charge_memcg", "__alloc_pages_slowpath.constprop.0")

	global := memcgKill()
	global.Task = event.Task{PID: 901, TGID: 900, Comm: "java"}
	global.OOMKill.Class = event.ClassGlobal
	global.OOMKill.Mode = event.ModeTracepoint
	global.OOMKill.HasControl, global.OOMKill.HasGFP = false, false
	global.OOMKill.GFPMask, global.OOMKill.Points, global.OOMKill.TotalPages = 0, 0, 0
	global.OOMKill.Victim.HasUID = false // the old mark_victim(int pid) form
	global.OOMKill.Victim.OOMScoreAdj = -998
	global.OOMKill.Victim.Task = event.Task{PID: 1200, TGID: 1200, Comm: "postgres"}
	global.OOMKill.Victim.Cgroup = event.Cgroup{Path: "/system.slice/postgresql.service", ID: 1811, UsageBytes: 3 << 30, LimitBytes: event.NoLimit}
	global.OOMKill.Trigger = event.Task{PID: 901, TGID: 900, Comm: "java"}
	global.OOMKill.TriggerCgroup = event.Cgroup{Path: "/user.slice", ID: 12, UsageBytes: 8 << 30, LimitBytes: event.NoLimit}
	global.OOMKill.OOMCgroup = event.Cgroup{}
	global.OOMKill.Stack = nil

	exiting := memcgKill()
	exiting.OOMKill.Mode = event.ModeTracepoint
	exiting.OOMKill.HasControl, exiting.OOMKill.HasGFP = false, false
	exiting.OOMKill.GFPMask, exiting.OOMKill.Points, exiting.OOMKill.TotalPages = 0, 0, 0
	exiting.OOMKill.Victim.HasMM = false
	exiting.OOMKill.VictimExiting = true

	hostile := memcgKill()
	hostile.Task.Comm = "x\n victim.pid=1"
	hostile.OOMKill.Victim.Comm = "\x1b[31mred\x1b[0m"
	hostile.OOMKill.Trigger.Comm = `q"uo\te`
	hostile.OOMKill.Victim.Cgroup.Path = "/a b/\"c\"/\xff\xfe/\u00e9"
	hostile.OOMKill.Stack = []string{"a,b", "\x00"}

	sysrq := memcgKill()
	sysrq.Task = event.Task{PID: 5, TGID: 5, Comm: ""}
	sysrq.OOMKill.Class = event.ClassSysrq
	sysrq.OOMKill.Mode = event.ModeKprobe
	sysrq.OOMKill.GFPMask = 0xcc0
	sysrq.OOMKill.Order = -1
	sysrq.OOMKill.OOMCgroup = event.Cgroup{}
	sysrq.OOMKill.TriggerCgroup = event.Cgroup{}

	// A global OOM read from a 4.19 kernel's log: the header was seen, but
	// no process ids beyond the threads', no cgroup ids, no shmem or
	// pgtables of the victim.
	kmsg := event.Event{
		Kind: event.KindOOMKill, Time: time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC), KtimeNS: 86_400_123456000, CPU: 1,
		Task:    event.Task{PID: 2001, Comm: "java"},
		Missing: event.MissingTGID | event.MissingVictimAdj | event.MissingVictimShmem | event.MissingVictimPgtables | event.MissingTriggerTGID | event.MissingCgroupIDs,
		OOMKill: event.OOMKill{
			Class: event.ClassGlobal, Mode: event.ModeKmsg,
			Victim: event.Victim{Task: event.Task{PID: 1200, TGID: 1200, Comm: "postgres"}, UID: 26, HasUID: true, HasMM: true,
				RSSAnonKB: 3 << 20, RSSFileKB: 2048, TotalVMKB: 4 << 20,
				Cgroup: event.Cgroup{Path: "/system.slice/postgresql.service"}},
			Trigger: event.Task{PID: 2001, Comm: "java"},
			HasGFP:  true, GFPMask: 0x6200ca, Order: 3,
			Group:        event.Cgroup{Path: "/system.slice"},
			ChosenParent: event.Task{TGID: 1100, Comm: "post master"}, ChosenScore: 912,
			Report: event.KernelReport{
				HasNode: true, AnonBytes: 7 << 30, FileBytes: 40 << 20, ShmemBytes: 1 << 20,
				SlabReclaimableBytes: 30 << 20, SlabUnreclaimBytes: 200 << 20, FreeBytes: 120 << 20, MinFreeBytes: 60 << 20,
				HasSwap: true, HasFreeLists: true, FreeByOrder: [event.MaxOrder]uint64{0: 80 << 20, 1: 30 << 20, 2: 10 << 20},
				Tasks: [event.ReportedTasks]event.ReportedTask{
					{PID: 1200, TGID: 1200, UID: 26, Comm: "postgres", RSSBytes: 3 << 30, OOMScoreAdj: -500},
					{PID: 2001, TGID: 2001, Comm: "ja,va:x", RSSBytes: 2 << 30, SwapBytes: 4096},
				},
				NumTasks: 2, TaskCount: 212,
			},
		},
	}
	replayed := memcgKill()
	replayed.OOMKill.Replayed = true

	memcgOOM := event.Event{
		Kind: event.KindMemcgOOM, KtimeNS: 5123_456700000, CPU: 3,
		Task: event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
		MemcgOOM: event.MemcgOOM{
			Cgroup:  event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 52428800, LimitBytes: 52428800},
			GFPMask: 0x140cca,
		},
	}
	reclaim := event.Event{
		Kind: event.KindReclaim, KtimeNS: 5123_400000999, CPU: 0,
		Task: event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
		Reclaim: event.Reclaim{
			Kind: event.ReclaimMemcg, Duration: 12345678, NrReclaimed: 32, GFPMask: 0xcc0, Order: 0,
			Cgroup: event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 52428800, LimitBytes: 52428800},
		},
	}
	directReclaim := event.Event{
		Kind: event.KindReclaim, KtimeNS: 77_000001000, CPU: 12,
		Task:    event.Task{PID: 31, TGID: 30, Comm: "cc1plus"},
		Reclaim: event.Reclaim{Kind: event.ReclaimDirect, Duration: 2 * time.Millisecond, NrReclaimed: 0, GFPMask: 0x1, Order: 3},
	}
	kswapd := event.Event{
		Kind: event.KindKswapdWake, KtimeNS: 5123_000000000, CPU: 1,
		Task:       event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
		KswapdWake: event.KswapdWake{Node: 0, Zone: 2, Order: 3},
	}
	reaper := event.Event{
		Kind: event.KindReaper, KtimeNS: 5123_456800000, CPU: 2,
		Task:   event.Task{PID: 45, TGID: 45, Comm: "oom_reaper"},
		Reaper: event.Reaper{Step: event.ReaperFinish, VictimPID: 4487},
	}
	stats := event.Event{
		Kind: event.KindReclaimStats, KtimeNS: 5130_000000000, CPU: 0,
		Task: event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
		ReclaimStats: event.ReclaimStats{
			Kind: event.ReclaimMemcg, Cgroup: event.Cgroup{Path: "/t", ID: 4242},
			Interval: 10 * time.Second, Count: 15, Total: 31 * time.Millisecond, Max: 12345678,
			Buckets: [event.ReclaimBuckets]uint64{0: 3, 1: 10, 7: 1, 13: 1},
		},
	}
	quietStats := event.Event{
		Kind: event.KindReclaimStats, KtimeNS: 5140_000000000,
		Task:         event.Task{PID: 4487, TGID: 4487, Comm: "hog"},
		ReclaimStats: event.ReclaimStats{Kind: event.ReclaimDirect, Interval: 10 * time.Second, Max: 12345678},
	}
	lost := event.Event{
		Kind: event.KindLost, KtimeNS: 5123_999999999, CPU: 7,
		Lost: event.Lost{Count: 5, Total: 17},
	}
	// Nothing lost in the ring buffer, but runs the kernel skipped.
	skipped := lost
	skipped.Lost = event.Lost{Total: 17, SkippedRuns: 2, SkippedRunsTotal: 3, SkippedByProgram: "direct_reclaim_end:2,mark_victim:1"}

	// A container killed by its pod's limit, with names resolved, and the
	// verdict sentence.
	pod := memcgKill()
	pod.OOMKill.Victim.Cgroup = event.Cgroup{
		Path: "/kubepods/burstable/pod0f5eb28f-1c2d-4e5f-8a9b-0c1d2e3f4a5b/" + strings.Repeat("ab", 32), ID: 81, UsageBytes: 498 << 20, LimitBytes: event.NoLimit,
		Owner: event.Owner{Runtime: event.RuntimeContainerd, ID: strings.Repeat("ab", 32), Name: "api", PodUID: "0f5eb28f-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
			PodName: "api-7d9", Namespace: "shop", QoS: event.QoSBurstable, Level: event.LevelContainer},
	}
	pod.OOMKill.TriggerCgroup = pod.OOMKill.Victim.Cgroup
	pod.OOMKill.OOMCgroup = event.Cgroup{
		Path: "/kubepods/burstable/pod0f5eb28f-1c2d-4e5f-8a9b-0c1d2e3f4a5b", ID: 80, UsageBytes: 512 << 20, LimitBytes: 512 << 20,
		Owner: event.Owner{PodUID: "0f5eb28f-1c2d-4e5f-8a9b-0c1d2e3f4a5b", PodName: "api-7d9", Namespace: "shop", QoS: event.QoSBurstable, Level: event.LevelPod},
	}
	pod.OOMKill.Why = "container api of pod shop/api-7d9 was killed because pod-level limit 512 MiB was reached; memcg OOM"
	// The OOM cgroup's memory state, read after the kill's line.
	podSnapshot := event.Snapshot{
		Version: 2,
		Fields: event.SnapAnon | event.SnapFile | event.SnapShmem | event.SnapSlab | event.SnapHigh |
			event.SnapSwapLimit | event.SnapEventsOOM | event.SnapEventsOOMKill | event.SnapPressure | event.SnapNodePressure,
		Anon: 470 << 20, File: 30 << 20, Shmem: 1 << 20, Slab: 5 << 20, HighBytes: event.NoLimit, SwapLimitBytes: 0,
		EventsOOM: 3, EventsOOMKill: 2,
		Pressure:     event.Pressure{Some: event.PressureLine{Avg10: 12.5}, Full: event.PressureLine{Avg10: 3.07}},
		NodePressure: event.Pressure{Some: event.PressureLine{Avg10: 0.35}},
	}
	oomtrace := event.Task{PID: 3000, TGID: 3000, Comm: "oomtrace"}
	snapshot := event.Event{Kind: event.KindOOMSnapshot, KtimeNS: pod.KtimeNS + 350_000, CPU: 1, Task: oomtrace,
		OOMSnapshot: event.SnapshotAfter(&pod, podSnapshot)}
	snapshot.OOMSnapshot.Why = "right after the kill of \"hog\" (pid 4487): pod shop/api-7d9 held anon 470 MiB, file 30 MiB, of which shmem 1 MiB; 2 OOM kills in it so far; its memory pressure some 12.5% full 3.1% over 10s"
	removed := event.Event{Kind: event.KindOOMSnapshot, KtimeNS: pod.KtimeNS + 200_000_000, CPU: 0, Task: oomtrace,
		OOMSnapshot: event.SnapshotAfter(&pod, event.Snapshot{Status: event.SnapshotRemoved, Version: 1, Fields: event.SnapNodePressure})}
	// The kernel's report of the same kill, read from its log after the
	// kill's line; and of a global OOM's kill, with the node's memory.
	podReport := event.OOMKill{HasGFP: true, GFPMask: 0xcc0, Report: event.KernelReport{
		HasMemcg: true, MemcgAnonBytes: 470 << 20, MemcgFileBytes: 30 << 20, MemcgKernelBytes: 12 << 20, MemcgShmemBytes: 1 << 20,
		HasMemcgSwap: true, MemcgSwapUsageBytes: 512 << 20, MemcgSwapLimitBytes: event.NoLimit,
		Tasks: [event.ReportedTasks]event.ReportedTask{{PID: 4487, TGID: 4487, Comm: "hog", RSSBytes: 480 << 20}}, NumTasks: 1, TaskCount: 3,
	}}
	report := event.Event{Kind: event.KindOOMReport, KtimeNS: pod.KtimeNS + 900_000, CPU: 0, Task: oomtrace,
		OOMReport: event.ReportAfter(&pod, &podReport)}
	report.OOMReport.Why = "the kernel's report of the kill of \"hog\" (pid 4487): in the cgroup at the kill: anon 470 MiB, page cache 30 MiB, kernel 12 MiB, shmem 1 MiB; largest tasks \"hog\" (pid 4487) 480 MiB (of 3)"
	globalReport := event.Event{Kind: event.KindOOMReport, KtimeNS: global.KtimeNS + 2_000_000, CPU: 1, Task: oomtrace,
		OOMReport: event.ReportAfter(&global, &kmsg.OOMKill)}
	// A log of an oomtrace that wrote the snapshot into the kill's line.
	withSnapshot := pod
	withSnapshot.OOMKill.HasSnapshot, withSnapshot.OOMKill.Snapshot = true, podSnapshot
	podReclaim := reclaim
	podReclaim.Reclaim.Cgroup.Owner = event.Owner{Unit: "nginx.service"}

	names := Options{GFPNames: testGFPNames}
	return append([]goldenCase{
		{"oom_kill_pod", pod, names},
		{"oom_snapshot", snapshot, names},
		{"oom_snapshot_removed", removed, names},
		{"oom_report", report, names},
		{"oom_report_global", globalReport, names},
		{"oom_kill_with_snapshot", withSnapshot, names},
		{"reclaim_unit", podReclaim, names},
		{"oom_kill_memcg", memcgKill(), names},
		{"oom_kill_memcg_no_names", memcgKill(), Options{}},
		{"oom_kill_stack", withStack, Options{GFPNames: testGFPNames, Stacks: true}},
		{"oom_kill_global_old_tracepoint", global, names},
		{"oom_kill_exiting", exiting, names},
		{"oom_kill_hostile_strings", hostile, Options{GFPNames: testGFPNames, Stacks: true}},
		{"oom_kill_sysrq", sysrq, names},
		{"oom_kill_kmsg", kmsg, names},
		{"oom_kill_replayed", replayed, names},
		{"memcg_oom", memcgOOM, names},
		{"reclaim_memcg", reclaim, names},
		{"reclaim_direct", directReclaim, names},
		{"kswapd_wake", kswapd, names},
		{"reaper", reaper, names},
		{"reclaim_stats", stats, names},
		{"reclaim_stats_empty", quietStats, names},
		{"lost", lost, names},
		{"lost_skipped_runs", skipped, names},
	}, append(signalGoldenCases(), sampleGoldenCases()...)...)
}

// writtenFields is ev reduced to what the writer writes, by the rules in
// docs/output-format.md: what parsing the output gives back.
// writtenValues zeroes what ev lacks, and forgets lacking what it has no
// key for anyway, as a parser of its line does.
func writtenValues(ev *event.Event) {
	m := &ev.Missing
	k := &ev.OOMKill
	if m.Lacks(event.MissingTask) {
		ev.Task = event.Task{}
		*m &^= event.MissingTGID
	}
	if m.Lacks(event.MissingTGID) {
		ev.Task.TGID = 0
	}
	if m.Lacks(event.MissingCPU) {
		ev.CPU = 0
	}
	if m.Lacks(event.MissingKtime) {
		ev.KtimeNS = 0
	}
	if m.Lacks(event.MissingVictimTGID) {
		k.Victim.TGID = 0
	}
	if m.Lacks(event.MissingVictimAdj) {
		k.Victim.OOMScoreAdj = 0
	}
	if !k.Victim.HasMM {
		*m &^= event.MissingVictimShmem | event.MissingVictimPgtables
	}
	if m.Lacks(event.MissingVictimShmem) {
		k.Victim.RSSShmemKB = 0
	}
	if m.Lacks(event.MissingVictimPgtables) {
		k.Victim.PgtablesKB = 0
	}
	if m.Lacks(event.MissingTrigger) {
		k.Trigger = event.Task{}
		*m &^= event.MissingTriggerTGID
	}
	if m.Lacks(event.MissingTriggerTGID) {
		k.Trigger.TGID = 0
	}
	if m.Lacks(event.MissingCgroupIDs) {
		any := false
		for _, c := range []*event.Cgroup{&k.Victim.Cgroup, &k.TriggerCgroup, &k.OOMCgroup} {
			if c.Valid() {
				c.ID, any = 0, true
			}
		}
		if !any {
			*m &^= event.MissingCgroupIDs
		}
	}
}

func writtenFields(ev event.Event, opts Options) event.Event {
	dropInvalid := func(c *event.Cgroup) {
		if !c.Valid() {
			*c = event.Cgroup{}
		}
	}
	dropInvalid(&ev.OOMKill.Victim.Cgroup)
	dropInvalid(&ev.OOMKill.TriggerCgroup)
	dropInvalid(&ev.OOMKill.OOMCgroup)
	dropInvalid(&ev.MemcgOOM.Cgroup)
	dropInvalid(&ev.Reclaim.Cgroup)
	dropInvalid(&ev.ReclaimStats.Cgroup)
	dropInvalid(&ev.Signal.SenderCgroup)
	dropInvalid(&ev.Signal.TargetCgroup)
	dropInvalid(&ev.Exit.Cgroup)
	dropInvalid(&ev.Exit.SenderCgroup)
	dropInvalid(&ev.Sample.Cgroup)
	if !ev.Sample.IsNode() {
		ev.Sample.MemTotalBytes, ev.Sample.MemAvailableBytes = 0, 0
	}
	if !ev.Sample.HasHigh {
		ev.Sample.HighBytes = 0
	}
	if !ev.Sample.HasPressure {
		ev.Sample.SomeAvg10, ev.Sample.FullAvg10, ev.Sample.SomeTotal, ev.Sample.FullTotal = 0, 0, 0, 0
	}
	k := &ev.OOMKill
	if !k.Group.Valid() {
		k.Group = event.Cgroup{}
	}
	writtenValues(&ev)
	if !k.Victim.HasUID {
		k.Victim.UID = 0
	}
	if !k.Victim.HasMM {
		k.Victim.RSSAnonKB, k.Victim.RSSFileKB, k.Victim.RSSShmemKB, k.Victim.TotalVMKB, k.Victim.PgtablesKB = 0, 0, 0, 0, 0
	}
	if !k.HasGFP {
		k.GFPMask, k.Order = 0, 0
	}
	if !k.HasControl {
		k.Points, k.TotalPages = 0, 0
	}
	if !opts.Stacks || len(k.Stack) == 0 {
		k.Stack = nil
	}
	return ev
}

// textFields is what ParseText gives back for ev: the written fields,
// without wall-clock time and with the boot time to the microsecond.
func textFields(ev event.Event, opts Options) event.Event {
	ev = writtenFields(ev, opts)
	ev.Time = time.Time{}
	ev.KtimeNS -= ev.KtimeNS % 1000
	return ev
}

// jsonFields is what ParseJSON gives back for ev.
func jsonFields(ev event.Event, opts Options) event.Event {
	ev = writtenFields(ev, opts)
	if !ev.Time.IsZero() {
		ev.Time = ev.Time.UTC()
	}
	return ev
}

func sameEvent(a, b event.Event) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// checkLine fails unless out is one line of printable ASCII.
func checkLine(t testing.TB, out []byte) {
	t.Helper()
	body, ok := bytes.CutSuffix(out, []byte{'\n'})
	if !ok {
		t.Fatalf("line does not end in a newline: %q", out)
	}
	for i, c := range body {
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("byte %d of the line is 0x%02x: %q", i, c, out)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			for _, format := range []struct {
				ext    string
				append func([]byte, *event.Event, Options) []byte
				parse  func([]byte) (event.Event, error)
				want   func(event.Event, Options) event.Event
			}{
				{".txt", AppendText, ParseText, textFields},
				{".jsonl", AppendJSON, ParseJSON, jsonFields},
			} {
				got := format.append(nil, &tc.ev, tc.opts)
				checkLine(t, got)
				checkGates(t, &tc.ev)
				path := filepath.Join(goldenDir, tc.name+format.ext)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				golden, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(got, golden) {
					t.Errorf("%s:\n got %s\nwant %s", path, got, golden)
				}
				// Parsing the golden file, not just today's output, keeps
				// old logs readable.
				for name, parse := range map[string]func([]byte) (event.Event, error){"format": format.parse, "Parse": Parse} {
					ev, err := parse(golden)
					if err != nil {
						t.Fatalf("%s %s: %v", name, path, err)
					}
					if want := format.want(tc.ev, tc.opts); !sameEvent(ev, want) {
						t.Errorf("%s %s:\n got %+v\nwant %+v", name, path, ev, want)
					}
				}
			}
		})
	}
}

// checkGates fails if a closed gate hides a key ev has: the writers skip
// a gated block without asking its keys.
func checkGates(t *testing.T, ev *event.Event) {
	t.Helper()
	fields := fieldsOf(ev.Kind)
	for i := range fields {
		if f := &fields[i]; f.gate != nil && !f.gate(ev) {
			for j := i; j < i+f.gateLen; j++ {
				if fields[j].present(ev) {
					t.Errorf("%v: key %s present, but the gate of its block is closed", ev.Kind, fields[j].text)
				}
			}
		}
	}
}

func TestGoldenJSONIsPlainJSON(t *testing.T) {
	// Consumers decode the lines with ordinary JSON tools.
	ev := memcgKill()
	line := AppendJSON(nil, &ev, Options{GFPNames: testGFPNames})
	var obj map[string]any
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatal(err)
	}
	victim, _ := obj["victim"].(map[string]any)
	if obj["event"] != "oom_kill" || obj["memcg_limit_bytes"] != 52428800.0 || obj["gfp_mask"] != "0x140cca" ||
		obj["gfp_flags"] != "GFP_HIGHUSER_MOVABLE|__GFP_COMP" || victim["cgroup"] != "/t" || victim["pid"] != 4487.0 {
		t.Errorf("unexpected object %v", obj)
	}
	for _, absent := range []string{"victim_exiting", "stack"} {
		if _, ok := obj[absent]; ok {
			t.Errorf("key %s present", absent)
		}
	}
}

func TestOmittedKeys(t *testing.T) {
	kill := memcgKill()
	kill.OOMKill.HasControl, kill.OOMKill.HasGFP = false, false
	kill.OOMKill.Victim.HasMM = false
	kill.OOMKill.Victim.HasUID = false
	kill.OOMKill.OOMCgroup = event.Cgroup{}
	kill.OOMKill.VictimExiting = false
	opts := Options{GFPNames: testGFPNames, Stacks: true}
	kill.OOMKill.Stack = nil
	text := string(AppendText(nil, &kill, opts))
	jsonLine := string(AppendJSON(nil, &kill, opts))
	for _, key := range []string{"gfp_mask", "gfp_flags", "order", "points", "totalpages", "rss_anon_kb", "rss_file_kb",
		"rss_shmem_kb", "total_vm_kb", "pgtables_kb", "uid", "oom_cgroup", "memcg_usage_bytes", "memcg_limit_bytes",
		"victim_exiting", "stack"} {
		if strings.Contains(text, key+"=") {
			t.Errorf("text has %s: %s", key, text)
		}
		if strings.Contains(jsonLine, `"`+key+`"`) {
			t.Errorf("JSON has %s: %s", key, jsonLine)
		}
	}
}

func TestTextPrefix(t *testing.T) {
	ev := event.Event{Kind: event.KindLost, KtimeNS: 42_000123999, CPU: 1234, Task: event.Task{PID: 7, TGID: 6, Comm: "sh"}}
	want := "              sh 6/7 [1234] 42.000123: oomtrace:lost count=0 total=0\n"
	if got := string(AppendText(nil, &ev, Options{})); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	ev.CPU = 1
	ev.KtimeNS = 5
	want = "              sh 6/7 [001] 0.000000: oomtrace:lost count=0 total=0\n"
	if got := string(AppendText(nil, &ev, Options{})); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestEscaping(t *testing.T) {
	var high strings.Builder
	for c := 0x80; c <= 0xff; c++ {
		high.WriteByte(byte(c))
	}
	for _, tc := range []struct {
		name, comm string
		prefix     string // the comm at the start of a text line, padding trimmed
		quoted     string // as a quoted text value
		json       string // as a JSON string
	}{
		{"newline", "a\nb", `a\x0ab`, `"a\x0ab"`, `"a\nb"`},
		{"terminal escape", "\x1b[31m", `\x1b[31m`, `"\x1b[31m"`, `"\u001b[31m"`},
		{"quote", `a"b`, `a\"b`, `"a\"b"`, `"a\"b"`},
		{"backslash", `a\b`, `a\\b`, `"a\\b"`, `"a\\b"`},
		{"forged key", "x victim.pid=1", `x\x20victim.pid=1`, `"x victim.pid=1"`, `"x victim.pid=1"`},
		{"delete", "\x7f", `\x7f`, `"\x7f"`, `"\u007f"`},
		{"nul", "\x00", `\x00`, `"\x00"`, `"\u0000"`},
		{"tab", "a\tb", `a\x09b`, `"a\x09b"`, `"a\tb"`},
		{"not UTF-8", "a\xffb", `a\xffb`, `"a\xffb"`, `"a\udcffb"`},
		{"cut UTF-8", "\xc3", `\xc3`, `"\xc3"`, `"\udcc3"`},
		{"encoded surrogate", "\xed\xa0\x80", `\xed\xa0\x80`, `"\xed\xa0\x80"`, `"\udced\udca0\udc80"`},
		{"emoji", "\U0001F600", `\xf0\x9f\x98\x80`, `"\xf0\x9f\x98\x80"`, `"\ud83d\ude00"`},
		{"empty", "", `""`, `""`, `""`},
		{"two quotes", `""`, `\"\"`, `"\"\""`, `"\"\""`},
		{"looks like JSON", `{"event":"lost"}`, `{\"event\":\"lost\"}`, `"{\"event\":\"lost\"}"`, `"{\"event\":\"lost\"}"`},
		{"utf-8", "é", `\xc3\xa9`, `"\xc3\xa9"`, `"\u00e9"`},
		{"literal escape text", `\x41`, `\\x41`, `"\\x41"`, `"\\x41"`},
		{"literal surrogate escape", `\udcff`, `\\udcff`, `"\\udcff"`, `"\\udcff"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := memcgKill()
			ev.Task.Comm = tc.comm
			ev.OOMKill.Victim.Comm = tc.comm
			text := AppendText(nil, &ev, Options{})
			checkLine(t, text)
			if got, _, _ := bytes.Cut(bytes.TrimLeft(text, " "), []byte{' '}); string(got) != tc.prefix {
				t.Errorf("prefix comm %s, want %s", got, tc.prefix)
			}
			if !bytes.Contains(text, []byte(" victim.comm="+tc.quoted+" ")) {
				t.Errorf("victim.comm not written as %s: %s", tc.quoted, text)
			}
			jsonLine := AppendJSON(nil, &ev, Options{})
			checkLine(t, jsonLine)
			if !bytes.Contains(jsonLine, []byte(`,"comm":`+tc.json+`,`)) {
				t.Errorf("comm not written as %s: %s", tc.json, jsonLine)
			}
			for _, line := range [][]byte{text, jsonLine} {
				got, err := Parse(line)
				if err != nil {
					t.Fatalf("parse %s: %v", line, err)
				}
				if got.Task.Comm != tc.comm || got.OOMKill.Victim.Comm != tc.comm || got.OOMKill.Victim.PID != ev.OOMKill.Victim.PID {
					t.Errorf("parse %s: comms %q and %q, victim %d; want %q", line, got.Task.Comm, got.OOMKill.Victim.Comm, got.OOMKill.Victim.PID, tc.comm)
				}
			}
		})
	}

	t.Run("every byte", func(t *testing.T) {
		var all []byte
		for c := 0; c < 256; c++ {
			all = append(all, byte(c))
		}
		ev := memcgKill()
		ev.Task.Comm = string(all)
		ev.OOMKill.Victim.Cgroup.Path = "/" + string(all)
		ev.OOMKill.Stack = []string{string(all), high.String(), ","}
		opts := Options{Stacks: true, GFPNames: gfpNamesOf(string(all))}
		for _, format := range []struct {
			append func([]byte, *event.Event, Options) []byte
			want   func(event.Event, Options) event.Event
		}{{AppendText, textFields}, {AppendJSON, jsonFields}} {
			line := format.append(nil, &ev, opts)
			checkLine(t, line)
			got, err := Parse(line)
			if err != nil {
				t.Fatalf("parse %s: %v", line, err)
			}
			if want := format.want(ev, opts); !sameEvent(got, want) {
				t.Errorf("parse %s:\n got %+v\nwant %+v", line, got, want)
			}
		}
	})
}

func TestGFPNamesQuotedUnlessBare(t *testing.T) {
	ev := event.Event{Kind: event.KindMemcgOOM, MemcgOOM: event.MemcgOOM{GFPMask: 0x1234}}
	for names, want := range map[string]string{
		"GFP_KERNEL|__GFP_COMP": " gfp_flags=GFP_KERNEL|__GFP_COMP ",
		"0x1234":                " gfp_flags=0x1234 ",
		"":                      ` gfp_flags="" `,
		"a b":                   ` gfp_flags="a b" `,
		"x order=9":             ` gfp_flags="x order=9" `,
	} {
		line := AppendText(nil, &ev, Options{GFPNames: gfpNamesOf(names)})
		if !bytes.Contains(line, []byte(want)) {
			t.Errorf("names %q: want %s in %s", names, want, line)
		}
		got, err := ParseText(line)
		if err != nil || got.MemcgOOM.Order != 0 || got.MemcgOOM.GFPMask != 0x1234 {
			t.Errorf("names %q: parsed %+v, %v", names, got.MemcgOOM, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const prefix = "             hog 1/2 [000] 1.000000: oomtrace:"
	for _, tc := range []struct {
		line, want string
	}{
		{"", "column 1: missing comm"},
		{"   ", "column 4: missing comm"},
		{"hog", "column 4: want a space"},
		{"hog 1-2 [000] 1.000000: oomtrace:lost count=1 total=2", `column 5: want pid/tid, not "1-2"`},
		{"hog x/2 [000] 1.000000: oomtrace:lost count=1 total=2", `column 5: pid: invalid number "x"`},
		{"hog 1/99999999999 [000] 1.000000: oomtrace:lost count=1 total=2", `column 7: tid: number "99999999999" out of range`},
		{"hog 1/2 000 1.000000: oomtrace:lost count=1 total=2", `column 9: want [cpu], not "000"`},
		{"hog 1/2 [000] 1.5: oomtrace:lost count=1 total=2", "column 15: want SECONDS.MICROSECONDS: with six digits after the point"},
		{"hog 1/2 [000] 99999999999.000000: oomtrace:lost count=1 total=2", `column 15: time "99999999999.000000" out of range`},
		{"hog 1/2 [000] 1.000000: perf:lost count=1 total=2", `column 25: want oomtrace:EVENT, not "perf:lost"`},
		{"hog 1/2 [000] 1.000000: oomtrace:boom", `column 34: unknown event kind "boom" (want one of oom_kill, memcg_oom, reclaim, kswapd_wake, reaper, reclaim_stats, lost, signal, exit, sample, eviction, oom_snapshot, oom_report)`},
		{"a\x1bb 1/2 [000] 1.000000: oomtrace:lost count=1 total=2", "column 1: comm: unescaped byte 0x1b at byte 2"},
		{`a"b 1/2 [000] 1.000000: oomtrace:lost count=1 total=2`, `column 1: comm: unescaped '"' at byte 2`},
		{`a\qb 1/2 [000] 1.000000: oomtrace:lost count=1 total=2`, `column 1: comm: invalid escape "\\q" at byte 2`},
		{prefix + "lost count=x total=2", `column 58: key count: invalid number "x"`},
		{prefix + "lost count=-1 total=2", `column 58: key count: invalid number "-1"`},
		{prefix + "lost count=\"1\" total=2", "column 58: key count: want an unquoted value, not a quoted string"},
		{prefix + "lost count=1 total=2 count=3", "column 68: key count: given twice"},
		{prefix + "lost count=1", "key total: missing"},
		{prefix + "lost count=1 total=2 bogus=3", "column 68: key bogus: unknown key"},
		{prefix + "lost count=1 total=2 ", "column 68: missing key"},
		{prefix + "lost count=1  total=2", "column 60: missing key"},
		{prefix + "lost count=1 Total=2", "column 60: byte 'T' not allowed in a key"},
		{prefix + "lost count=1 total", "column 60: key total: missing '=' and value"},
		{prefix + "lost count= total=2", "column 58: key count: missing value"},
		{prefix + "lost count=1\x1b[31m total=2", `column 58: key count: byte '\x1b' not allowed in an unquoted value`},
		{prefix + `reaper step=wake victim.pid="12`, "column 75: key victim.pid: unterminated quoted value"},
		{prefix + `reaper step=wake victim.pid="12"x`, "column 75: key victim.pid: want a space after the closing quote"},
		{prefix + `reaper step=nap victim.pid=12`, `column 59: key step: unknown reaper step "nap" (want one of wake, start, finish, skip)`},
		{prefix + `kswapd_wake node=0 zone=0 order=99999999999`, `column 79: key order: number "99999999999" out of range`},
		{prefix + `memcg_oom gfp_mask=140cca order=0`, `column 66: key gfp_mask: want 0x followed by hex digits, not "140cca"`},
		{prefix + `memcg_oom gfp_mask=0x1 order=0 oom_cgroup.id=5`, `key oom_cgroup.id: not allowed with the values of the other keys`},
		{prefix + `memcg_oom gfp_mask=0x1 order=0 oom_cgroup="/t" oom_cgroup.id=5 oom_cgroup.usage_bytes=3`, `key oom_cgroup.limit_bytes: missing`},
		{prefix + `memcg_oom gfp_mask=0x1 order=0 oom_cgroup=/t oom_cgroup.id=5`, `column 89: key oom_cgroup: want a quoted string`},
		{prefix + `memcg_oom gfp_mask=0x1 order=0 oom_cgroup="/t\x" oom_cgroup.id=5`, `column 89: key oom_cgroup: truncated escape at end of value`},
		{prefix + `memcg_oom gfp_mask=0x1 order=0 oom_cgroup="/t\xzz" oom_cgroup.id=5`, `column 89: key oom_cgroup: invalid escape "\\xzz" at byte 3`},
		{prefix + "memcg_oom gfp_mask=0x1 order=0 oom_cgroup=\"/t\tx\" oom_cgroup.id=5", `column 89: key oom_cgroup: unescaped byte 0x09 at byte 3`},
		{prefix + `reclaim_stats reclaim=direct interval_ns=1 count=1 total_ns=1 max_ns=1 hist_us=0:0`, `key hist_us: not allowed with the values of the other keys`},
		{prefix + `reclaim_stats reclaim=direct interval_ns=1 count=1 total_ns=1 max_ns=1 hist_us=32:1`, `column 126: key hist_us: invalid bucket index "32" (want 0 to 31)`},
		{prefix + `reclaim_stats reclaim=direct interval_ns=1 count=1 total_ns=1 max_ns=1 hist_us=1:1,1:2`, `column 126: key hist_us: bucket 1 given twice`},
		{prefix + `reclaim_stats reclaim=direct interval_ns=1 count=1 total_ns=1 max_ns=1 hist_us=1`, `column 126: key hist_us: want index:count, not "1"`},
		{prefix + `oom_kill class=memcg mode=fentry victim.pid=1 victim.tgid=1 victim.comm="a" victim.oom_score_adj=0 trigger.pid=1 trigger.tgid=1 trigger.comm="a" victim_exiting=false`,
			`key victim_exiting: not allowed with the values of the other keys`},
		{prefix + `oom_kill class=memcg mode=fentry victim.pid=1 victim.tgid=1 victim.comm="a" victim.oom_score_adj=0 trigger.pid=1 trigger.tgid=1 trigger.comm="a" points=5`,
			`key totalpages: missing`},
		{prefix + `oom_kill class=memcg mode=fentry victim.pid=1 victim.tgid=1 victim.comm="a" victim.oom_score_adj=0 trigger.pid=1 trigger.tgid=1 trigger.comm="a" order=0`,
			`key gfp_mask: missing`},
		{prefix + `oom_kill class=memcg mode=fentry victim.pid=1 victim.tgid=1 victim.comm="a" victim.oom_score_adj=0 trigger.pid=1 trigger.tgid=1 trigger.comm="a" stack="a,\q"`,
			`column 198: key stack: frame 1: invalid escape "\\q" at byte 1`},

		{`{"event":"lost"`, "truncated JSON object"},
		{`{"event":"lost"}x`, "data after the JSON object"},
		{`{"event":"lost"} {}`, "data after the JSON object"},
		{`{"ktime_ns":1}`, "key event: missing"},
		{`{"event":"boom","ktime_ns":1}`, `key event: unknown event kind "boom" (want one of oom_kill, memcg_oom, reclaim, kswapd_wake, reaper, reclaim_stats, lost, signal, exit, sample, eviction, oom_snapshot, oom_report)`},
		{`{"event":7}`, `key event: want a string, not "7"`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1}`, "key total: missing"},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"count":1,"total":1}`, "key comm: missing"},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1,"total":1,"count":2}`, "key count: given twice"},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1.5,"total":1}`, `key count: invalid number "1.5"`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":null,"total":1}`, `key count: invalid number "null"`},
		{`{"event":"lost","ktime_ns":1,"cpu":4294967296,"pid":1,"tid":1,"comm":"a","count":1,"total":1}`, `key cpu: number "4294967296" out of range`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1,"total":1,"extra":1}`, "key extra: unknown key"},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1,"total":1,"\u001b[31m":1}`, `key "\x1b[31m": unknown key`},
		{`{"event":"lost","time":"yesterday","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1,"total":1}`, `key time: want an RFC 3339 time, not "yesterday"`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a\ud800","count":1,"total":1}`, `key comm: invalid string "\"a\\ud800\"": high surrogate \ud800 without its low one`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a\udc41","count":1,"total":1}`, `key comm: invalid string "\"a\\udc41\"": lone surrogate \udc41`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"` + "\xff" + `","count":1,"total":1}`, `key comm: invalid string "\"\xff\"": byte 0xff is not UTF-8 (write it \udcff)`},
		{`{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":1,"count":1,"total":1}`, `key comm: want a string, not "1"`},
		{`{"event":"reaper","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","step":"wake","victim.pid":3}`, "key victim.pid: unknown key"},
		{`{"event":"reaper","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","step":"wake","victim":3}`, "key victim: want a JSON object"},
		{`{"event":"reaper","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","step":"wake","victim":{}}`, "key victim.pid: missing"},
		{`{"event":"reaper","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","step":"wake","victim":{"pid":1,"pid":2}}`, "key victim: key pid: given twice"},
		{`{"event":"reaper","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","step":"wake","victim":{"pid":1,"tid":2}}`, "key victim.tid: unknown key"},
		{`{"event":"memcg_oom","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","gfp_mask":1,"order":0}`, `key gfp_mask: want a string, not "1"`},
		{`{"event":"memcg_oom","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","gfp_mask":"0x1","order":0,"oom_cgroup":"/t","oom_cgroup_id":1,"memcg_usage_bytes":1,"memcg_limit_bytes":"max"}`,
			`key memcg_limit_bytes: invalid number "\"max\""`},
		{`{"event":"reclaim_stats","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","reclaim":"direct","interval_ns":1,"count":1,"total_ns":1,"max_ns":1,"hist_us":{"x":1}}`,
			`key hist_us: invalid bucket index "x" (want 0 to 31)`},
		{`{"event":"oom_kill","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","class":"memcg","mode":"fentry","victim":{"pid":1,"tgid":1,"comm":"a","oom_score_adj":0},"trigger":{"pid":1,"tgid":1,"comm":"a"},"stack":"a,b"}`,
			`key stack: want an array of strings, not "\"a,b\""`},
		{`{"event":"oom_kill","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","class":"memcg","mode":"fentry","victim":{"pid":1,"tgid":1,"comm":"a","oom_score_adj":40000},"trigger":{"pid":1,"tgid":1,"comm":"a"}}`,
			`key victim.oom_score_adj: number "40000" out of range`},
	} {
		_, err := Parse([]byte(tc.line))
		var perr *ParseError
		if !errors.As(err, &perr) {
			t.Errorf("Parse(%q): error %v is not a *ParseError", tc.line, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.line, err, tc.want)
		}
	}
}

func TestParseDetectsFormat(t *testing.T) {
	// A comm may start with '{' but never holds a bare '"'.
	ev := event.Event{Kind: event.KindLost, Task: event.Task{Comm: "{x"}}
	for _, line := range [][]byte{AppendText(nil, &ev, Options{}), AppendJSON(nil, &ev, Options{})} {
		if got, err := Parse(line); err != nil || got.Task.Comm != "{x" {
			t.Errorf("Parse(%s) = %+v, %v", line, got, err)
		}
	}
	if _, err := ParseText(AppendJSON(nil, &ev, Options{})); err == nil {
		t.Error("ParseText accepted a JSON line")
	}
	if _, err := ParseJSON(AppendText(nil, &ev, Options{})); err == nil {
		t.Error("ParseJSON accepted a text line")
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{Text, JSON} {
		if got, err := ParseFormat(f.String()); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `unknown output format "xml" (want text or json)` {
		t.Errorf("ParseFormat(xml): %v", err)
	}
}

// callWriter records each Write call.
type callWriter struct {
	calls [][]byte
	short bool
	err   error
}

func (w *callWriter) Write(p []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(p))
	if w.short {
		return len(p) - 1, nil
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// The lines a Writer holds go out together, in one call to the underlying
// Write, on Flush: each event's line, whole, in order.
func TestWriter(t *testing.T) {
	cases := goldenCases()
	for _, format := range []Format{Text, JSON} {
		var w callWriter
		out := NewWriter(&w, Options{Format: format, GFPNames: testGFPNames})
		for i := range cases {
			if err := out.Write(&cases[i].ev); err != nil {
				t.Fatal(err)
			}
		}
		if len(w.calls) != 0 {
			t.Fatalf("%v: %d Write calls before Flush", format, len(w.calls))
		}
		if err := out.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := out.Flush(); err != nil || len(w.calls) != 1 {
			t.Fatalf("%v: %d Write calls for %d events and two Flushes (%v), want one", format, len(w.calls), len(cases), err)
		}
		lines := bytes.SplitAfter(w.calls[0], []byte{'\n'})
		if len(lines) != len(cases)+1 || len(lines[len(cases)]) != 0 {
			t.Fatalf("%v: %d lines for %d events", format, len(lines)-1, len(cases))
		}
		for i, line := range lines[:len(cases)] {
			checkLine(t, line)
			if _, err := Parse(line); err != nil {
				t.Errorf("%v: parse %s: %v", format, line, err)
			}
			opts := Options{GFPNames: testGFPNames}
			want := AppendText(nil, &cases[i].ev, opts)
			if format == JSON {
				want = AppendJSON(nil, &cases[i].ev, opts)
			}
			if !bytes.Equal(line, want) {
				t.Errorf("%v: wrote %s, want %s", format, line, want)
			}
		}
	}
}

// A Writer does not wait for Flush to write out BufferSize bytes of lines,
// and never splits a line across writes.
func TestWriterBoundsItsBuffer(t *testing.T) {
	var w callWriter
	out := NewWriter(&w, Options{GFPNames: testGFPNames})
	ev := memcgKill()
	line := AppendText(nil, &ev, out.opts)
	perWrite := (BufferSize + len(line) - 1) / len(line)
	n := 3*perWrite + 1
	for range n {
		if err := out.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.calls) != 3 {
		t.Errorf("%d Write calls for %d lines of %d bytes, want 3", len(w.calls), n, len(line))
	}
	for i, call := range w.calls {
		if len(call) != perWrite*len(line) {
			t.Errorf("call %d wrote %d bytes, want %d lines of %d, the first to reach BufferSize", i, len(call), perWrite, len(line))
		}
	}
	if err := out.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(bytes.Join(w.calls, nil), []byte{'\n'}); got != n {
		t.Errorf("%d lines written, want %d", got, n)
	}
}

func TestWriterErrors(t *testing.T) {
	ev := memcgKill()
	short := NewWriter(&callWriter{short: true}, Options{})
	if err := short.Write(&ev); err != nil {
		t.Fatal(err)
	}
	if err := short.Flush(); !errors.Is(err, io.ErrShortWrite) || !strings.Contains(err.Error(), "1 lines not written") {
		t.Errorf("short write: %v", err)
	}
	broken := errors.New("disk full")
	w := NewWriter(&callWriter{err: broken}, Options{})
	for range 2 {
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); !errors.Is(err, broken) || err.Error() != "write events (2 lines not written): disk full" {
		t.Errorf("failed write: %v", err)
	}
	var calls callWriter
	if err := NewWriter(&calls, Options{}).Write(&event.Event{Kind: 99}); err == nil {
		t.Errorf("unknown kind: %v", err)
	}
	if err := NewWriter(&calls, Options{Format: 7}).Write(&ev); err == nil {
		t.Errorf("unknown format: %v", err)
	}
	unknown := NewWriter(&calls, Options{})
	unknown.Write(&event.Event{Kind: 99})
	if err := unknown.Flush(); err != nil || len(calls.calls) != 0 {
		t.Errorf("a line of an unknown kind was written: %d writes, %v", len(calls.calls), err)
	}
}

func TestWriterDoesNotAllocate(t *testing.T) {
	ev := memcgKill()
	for _, format := range []Format{Text, JSON} {
		w := NewWriter(io.Discard, Options{Format: format, GFPNames: testGFPNames, Stacks: true})
		// Enough events for the buffer to be written out several times.
		allocs := testing.AllocsPerRun(1000, func() {
			if err := w.Write(&ev); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per event", format, allocs)
		}
	}
}

// TestSchemas checks the invariants the writers and parsers rely on.
func TestSchemas(t *testing.T) {
	header := map[string]bool{"event": true, "time": true, "ktime_ns": true, "cpu": true, "pid": true, "tid": true, "comm": true}
	for k := event.KindOOMKill; int(k) < len(schemas); k++ {
		fields := fieldsOf(k)
		if len(fields) == 0 {
			t.Errorf("%v: no keys", k)
		}
		// A gated block is keys of one set, within the kind's keys.
		for i := range fields {
			f := &fields[i]
			if f.gate == nil {
				continue
			}
			if f.gateLen < 1 || i+f.gateLen > len(fields) {
				t.Fatalf("%v: block of %s has %d keys, past the end", k, f.text, f.gateLen)
			}
			for _, g := range fields[i : i+f.gateLen] {
				if g.group == nil || f.group == nil || g.group.set != f.group.set {
					t.Errorf("%v: key %s in the gated block of %s, of another set", k, g.text, f.text)
				}
			}
		}
		texts := map[string]bool{}
		jsons := map[string]bool{}
		closed := map[string]bool{}
		open := ""
		for _, f := range fields {
			if !isKey(f.text) || texts[f.text] {
				t.Errorf("%v: bad or repeated text key %q", k, f.text)
			}
			texts[f.text] = true
			object, name := f.jsonName()
			if !isKey(name) || strings.Contains(name, ".") || jsons[f.json] || header[f.json] || header[object] {
				t.Errorf("%v: bad or repeated JSON key %q", k, f.json)
			}
			jsons[f.json] = true
			if object != open {
				if object != "" && closed[object] {
					t.Errorf("%v: keys of JSON object %q are not listed together", k, object)
				}
				closed[open] = true
				open = object
			}
		}
		for key := range jsons {
			if object, _, ok := strings.Cut(key, "."); ok && jsons[object] {
				t.Errorf("%v: %q is both a key and an object", k, object)
			}
		}
	}
}

// BenchmarkWriter writes one event as a line, into a Writer that discards
// what it writes: a container's kill with
// its names, snapshot and verdict, and a memcg reclaim episode, the event
// storms bring by the thousand.
func BenchmarkWriter(b *testing.B) {
	events := map[string]event.Event{}
	for _, c := range goldenCases() {
		switch c.name {
		case "oom_kill_pod":
			events["oom_kill"] = c.ev
		case "reclaim_memcg":
			c.ev.Time = time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)
			events["reclaim"] = c.ev
		}
	}
	for _, format := range []Format{Text, JSON} {
		for _, kind := range []string{"oom_kill", "reclaim"} {
			ev := events[kind]
			b.Run(format.String()+"/"+kind, func(b *testing.B) {
				w := NewWriter(io.Discard, Options{Format: format, GFPNames: testGFPNames})
				b.ReportAllocs()
				for b.Loop() {
					if err := w.Write(&ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkParse(b *testing.B) {
	ev := memcgKill()
	for _, format := range []Format{Text, JSON} {
		b.Run(format.String(), func(b *testing.B) {
			line := AppendText(nil, &ev, Options{})
			if format == JSON {
				line = AppendJSON(nil, &ev, Options{})
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Every JSON line has a time: it is written by hand, and must read exactly
// as time.RFC3339Nano writes it in UTC.
func TestAppendUTCTime(t *testing.T) {
	local := time.FixedZone("east", 5*3600+1800)
	times := []time.Time{
		{},
		time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC),
		time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 100_000_000, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 1, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 120, local),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1<<40, 0),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().Format(time.RFC3339Nano)
		if got := string(appendUTCTime([]byte("x"), tm)); got != "x"+want {
			t.Errorf("%v: %s, want x%s", tm, got, want)
		}
	}
}
