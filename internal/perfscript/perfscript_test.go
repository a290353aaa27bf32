package perfscript

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
)

// parseAll parses every line of text and returns the events, classified as
// the pipeline's classify stage does next.
func parseAll(t *testing.T, text string) []event.Event {
	t.Helper()
	p := NewParser()
	stage := classify.New(classify.Options{})
	var events []event.Event
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var ev event.Event
		ok, err := p.Parse(sc.Bytes(), &ev)
		if err != nil {
			t.Fatalf("line %d %q: %v", n, sc.Text(), err)
		}
		if ok {
			if _, err := stage.Process(&ev); err != nil {
				t.Fatal(err)
			}
			events = append(events, ev)
		}
	}
	return events
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "perfscript", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func kinds(events []event.Event) map[event.Kind]int {
	n := make(map[event.Kind]int)
	for _, ev := range events {
		n[ev.Kind]++
	}
	return n
}

// memcg-oom.txt is real perf script output (trimmed) of a process killed in
// a 32 MiB memory cgroup on the 6.18 development machine; the kernel's
// report said: Killed process 7584 (python3) total-vm:82104kB,
// anon-rss:32384kB, file-rss:6608kB, shmem-rss:0kB, UID:0 pgtables:136kB
// oom_score_adj:0.
func TestRealMemcgOOM(t *testing.T) {
	events := parseAll(t, readTestdata(t, "memcg-oom.txt"))
	if n := kinds(events); n[event.KindOOMKill] != 1 || n[event.KindReclaim] != 45 || len(n) != 2 {
		t.Fatalf("events by kind: %v, want 1 oom_kill and 45 reclaim", n)
	}
	var kill event.Event
	var total time.Duration
	for _, ev := range events {
		switch ev.Kind {
		case event.KindOOMKill:
			kill = ev
		case event.KindReclaim:
			r := ev.Reclaim
			if r.Kind != event.ReclaimMemcg || r.Duration <= 0 || r.Duration > time.Millisecond || ev.Task.PID != 7584 {
				t.Errorf("reclaim %+v by %+v", r, ev.Task)
			}
			total += r.Duration
		}
	}
	// The first episode: begin 2111.480184, end 2111.480323, 5 pages.
	if first := events[0].Reclaim; first.Duration != 139*time.Microsecond || first.NrReclaimed != 5 || events[0].KtimeNS != 2111480323000 {
		t.Errorf("first reclaim %+v at %d", first, events[0].KtimeNS)
	}
	k := kill.OOMKill
	want := event.Victim{
		Task: event.Task{PID: 7584, TGID: 7584, Comm: "python3"}, UID: 0, HasUID: true, HasMM: true,
		TotalVMKB: 82104, RSSAnonKB: 32384, RSSFileKB: 6608, PgtablesKB: 136,
	}
	if k.Victim != want {
		t.Errorf("victim %+v, want %+v", k.Victim, want)
	}
	if k.Class != event.ClassMemcg || k.Mode != event.ModeTracepoint || k.Trigger != (event.Task{PID: 7584, TGID: 7584, Comm: "python3"}) {
		t.Errorf("kill class %s mode %s trigger %+v", k.Class, k.Mode, k.Trigger)
	}
	if kill.KtimeNS != 2111483005000 || kill.CPU != 1 {
		t.Errorf("kill at %d on cpu %d", kill.KtimeNS, kill.CPU)
	}
}

// lost.txt is real perf script --header --show-lost-events output (trimmed)
// of a capture with a one-page buffer that lost records.
func TestRealLostRecords(t *testing.T) {
	events := parseAll(t, readTestdata(t, "lost.txt"))
	var lost []event.Lost
	var reclaims []time.Duration
	var kill *event.OOMKill
	for i, ev := range events {
		switch ev.Kind {
		case event.KindLost:
			lost = append(lost, ev.Lost)
		case event.KindReclaim:
			reclaims = append(reclaims, ev.Reclaim.Duration)
		case event.KindOOMKill:
			kill = &events[i].OOMKill
		}
	}
	if len(lost) != 1 || lost[0] != (event.Lost{Count: 6, Total: 6}) {
		t.Errorf("lost %+v, want one record of 6", lost)
	}
	// The end just after the lost records is not paired with the begin
	// before them: that would be a 6 ms episode that never was.
	for _, d := range reclaims {
		if d > time.Millisecond {
			t.Errorf("reclaim of %s paired across lost records", d)
		}
	}
	// The first end's begin is not in the sample; the pair just before the
	// kill is.
	if len(reclaims) != 1 || reclaims[0] != 139*time.Microsecond {
		t.Errorf("reclaims %v, want one of 139us", reclaims)
	}
	if kill == nil || kill.Victim.PID != 7693 || kill.Class != event.ClassMemcg {
		t.Errorf("kill %+v", kill)
	}
}

func TestClassFromEvidence(t *testing.T) {
	const (
		direct = "  app 100 [000] 10.000000: vmscan:mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE\n" +
			"  app 100 [000] 10.000500: vmscan:mm_vmscan_direct_reclaim_end: nr_reclaimed=0\n"
		memcg = "  app 100 [000] 10.000000: vmscan:mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE\n" +
			"  app 100 [000] 10.000500: vmscan:mm_vmscan_memcg_reclaim_end: nr_reclaimed=0\n"
		victimMemcg = "  victim 200 [000] 10.000000: vmscan:mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE\n" +
			"  victim 200 [000] 10.000500: vmscan:mm_vmscan_memcg_reclaim_end: nr_reclaimed=0\n"
		softlimitInDirect = "  app 100 [000] 10.000000: vmscan:mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_KERNEL\n" +
			"  app 100 [000] 10.000100: vmscan:mm_vmscan_memcg_softlimit_reclaim_begin: order=0 gfp_flags=GFP_KERNEL\n" +
			"  app 100 [000] 10.000200: vmscan:mm_vmscan_memcg_softlimit_reclaim_end: nr_reclaimed=3\n" +
			"  app 100 [000] 10.000500: vmscan:mm_vmscan_direct_reclaim_end: nr_reclaimed=3\n"
		kill  = "  app 100 [000] 11.000000: oom:mark_victim: pid=200 comm=victim total-vm=1kB anon-rss=1kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB oom_score_adj=0\n"
		late  = "  app 100 [000] 99.000000: oom:mark_victim: pid=200 comm=victim total-vm=1kB anon-rss=1kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB oom_score_adj=0\n"
		sysrq = "  kworker/0:1 31 [000] 11.000000: oom:mark_victim: pid=200 comm=victim total-vm=1kB anon-rss=1kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB oom_score_adj=0\n"
	)
	for _, tc := range []struct {
		name, text string
		want       event.Class
	}{
		{"memcg reclaim of the trigger", memcg + kill, event.ClassMemcg},
		{"direct reclaim of the trigger", direct + kill, event.ClassGlobal},
		{"trigger's evidence before the victim's", direct + victimMemcg + kill, event.ClassGlobal},
		{"victim's when the trigger has none", victimMemcg + sysrq, event.ClassMemcg},
		{"softlimit inside direct reclaim", softlimitInDirect + kill, event.ClassGlobal},
		{"no reclaim at all: sysrq", sysrq, event.ClassUnknown},
		{"evidence too old", memcg + late, event.ClassUnknown},
		{"another thread's evidence", strings.ReplaceAll(memcg, " 100 ", " 4196 ") + kill, event.ClassUnknown},
	} {
		events := parseAll(t, tc.text)
		last := events[len(events)-1]
		if last.Kind != event.KindOOMKill || last.OOMKill.Class != tc.want {
			t.Errorf("%s: %v %s, want class %s", tc.name, last.Kind, last.OOMKill.Class, tc.want)
		}
	}
}

func TestLineShapes(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		task       event.Task
		cpu        uint32
		ktime      uint64
	}{
		{"default", "         python3  7584 [001]  2111.483005:      oom:wake_reaper: pid=7584", event.Task{PID: 7584, TGID: 7584, Comm: "python3"}, 1, 2111483005000},
		{"pid/tid", "         python3  7584/7590  [001]  2111.483005:      oom:wake_reaper: pid=7584", event.Task{PID: 7590, TGID: 7584, Comm: "python3"}, 1, 2111483005000},
		{"nanoseconds", "  python3  7584 [001]  2111.483005877: oom:wake_reaper: pid=7584", event.Task{PID: 7584, TGID: 7584, Comm: "python3"}, 1, 2111483005877},
		{"no cpu", "  python3  7584  2111.483005: oom:wake_reaper: pid=7584", event.Task{PID: 7584, TGID: 7584, Comm: "python3"}, 0, 2111483005000},
		{"comm with spaces", "  Web Content  7584 [003]  2111.483005: oom:wake_reaper: pid=7584", event.Task{PID: 7584, TGID: 7584, Comm: "Web Content"}, 3, 2111483005000},
		// A comm that looks like the rest of a line cannot fool it: no
		// comm is long enough to hold a tracepoint name this reads.
		{"comm mimicking a line", "  1 [0] 1.5: x:y: 7584 [003]  2111.483005: oom:wake_reaper: pid=7584", event.Task{PID: 7584, TGID: 7584, Comm: "1 [0] 1.5: x:y:"}, 3, 2111483005000},
	} {
		events := parseAll(t, tc.line)
		if len(events) != 1 {
			t.Errorf("%s: %d events", tc.name, len(events))
			continue
		}
		ev := events[0]
		if ev.Task != tc.task || ev.CPU != tc.cpu || ev.KtimeNS != tc.ktime || ev.Reaper != (event.Reaper{Step: event.ReaperWake, VictimPID: 7584}) {
			t.Errorf("%s: task %+v cpu %d ktime %d reaper %+v", tc.name, ev.Task, ev.CPU, ev.KtimeNS, ev.Reaper)
		}
	}
}

func TestOtherEvents(t *testing.T) {
	text := "# ========\n" +
		"#\n" +
		"\n" +
		"  oom_reaper 45 [002] 5.000000: oom:start_task_reaping: pid=4487\n" +
		"  oom_reaper 45 [002] 5.000100: oom:finish_task_reaping: pid=4487 anon_rss=0kB file_rss=0kB shmem_rss=0kB\n" +
		"  oom_reaper 45 [002] 5.000200: oom:skip_task_reaping: pid=4488\n" +
		"  kswapd0 80 [000] 5.1: vmscan:mm_vmscan_kswapd_wake: nid=0 order=3\n" +
		"  kswapd0 80 [000] 5.2: vmscan:mm_vmscan_kswapd_wake: nid=1 zid=2 order=0\n" +
		"  app 7 [000] 5.3: oom:mark_victim: pid=9\n" +
		"  app 7 [000] 5.4: oom:oom_score_adj_update: pid=7 comm=app oom_score_adj=100\n" +
		"  app 7 [000] 5.5: sched:sched_switch: whatever\n" +
		"  app 7 [000] 5.6: vmscan:mm_vmscan_memcg_reclaim_end: nr_reclaimed=1\n" +
		"\tffffffff8110a2b0 mark_oom_victim+0x0 ([kernel.kallsyms])\n" +
		"  :-1 -1 [001] 5.7: PERF_RECORD_LOST_SAMPLES lost 2\n"
	events := parseAll(t, text)
	want := []event.Event{
		{Kind: event.KindReaper, KtimeNS: 5000000000, CPU: 2, Task: event.Task{PID: 45, TGID: 45, Comm: "oom_reaper"}, Reaper: event.Reaper{Step: event.ReaperStart, VictimPID: 4487}},
		{Kind: event.KindReaper, KtimeNS: 5000100000, CPU: 2, Task: event.Task{PID: 45, TGID: 45, Comm: "oom_reaper"}, Reaper: event.Reaper{Step: event.ReaperFinish, VictimPID: 4487}},
		{Kind: event.KindReaper, KtimeNS: 5000200000, CPU: 2, Task: event.Task{PID: 45, TGID: 45, Comm: "oom_reaper"}, Reaper: event.Reaper{Step: event.ReaperSkip, VictimPID: 4488}},
		{Kind: event.KindKswapdWake, KtimeNS: 5100000000, Task: event.Task{PID: 80, TGID: 80, Comm: "kswapd0"}, KswapdWake: event.KswapdWake{Node: 0, Order: 3}},
		{Kind: event.KindKswapdWake, KtimeNS: 5200000000, Task: event.Task{PID: 80, TGID: 80, Comm: "kswapd0"}, KswapdWake: event.KswapdWake{Node: 1, Zone: 2}},
		{Kind: event.KindOOMKill, KtimeNS: 5300000000, Task: event.Task{PID: 7, TGID: 7, Comm: "app"}, OOMKill: event.OOMKill{
			Mode: event.ModeTracepoint, Victim: event.Victim{Task: event.Task{PID: 9, TGID: 9}}, Trigger: event.Task{PID: 7, TGID: 7, Comm: "app"}}},
		{Kind: event.KindLost, KtimeNS: 5700000000, CPU: 1, Task: event.Task{Comm: ":-1"}, Lost: event.Lost{Count: 2, Total: 2}},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(events), len(want), events)
	}
	for i := range want {
		got := events[i]
		if got.Kind != want[i].Kind || got.KtimeNS != want[i].KtimeNS || got.CPU != want[i].CPU || got.Task != want[i].Task ||
			got.Reaper != want[i].Reaper || got.KswapdWake != want[i].KswapdWake || got.Lost != want[i].Lost ||
			got.OOMKill.Victim != want[i].OOMKill.Victim || got.OOMKill.Trigger != want[i].OOMKill.Trigger || got.OOMKill.Class != want[i].OOMKill.Class {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
}

func TestVictimCommWithSpacesAndEquals(t *testing.T) {
	line := "  app 7 [000] 5.3: oom:mark_victim: pid=9 comm=a b=c total-vm=5 total-vm=1kB anon-rss=2kB file-rss:3kB shmem-rss:4kB uid=1000 pgtables=8kB oom_score_adj=-17"
	events := parseAll(t, line)
	v := events[0].OOMKill.Victim
	want := event.Victim{Task: event.Task{PID: 9, TGID: 9, Comm: "a b=c total-vm=5"}, UID: 1000, HasUID: true, OOMScoreAdj: -17, HasMM: true,
		TotalVMKB: 1, RSSAnonKB: 2, RSSFileKB: 3, RSSShmemKB: 4, PgtablesKB: 8}
	if v != want {
		t.Errorf("victim %+v, want %+v", v, want)
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"just some text", "not a perf script line"},
		{"  app 7 [000] 5.3: oom:mark_victim: comm=x total-vm=1kB", "field pid missing"},
		{"  app 7 [000] 5.3: oom:mark_victim: pid=x", "field pid: invalid number"},
		{"  app 7 [000] 5.3: oom:mark_victim: pid=1 comm=x anon-rss=1kB", "comm= without total-vm="},
		{"  app 7 [000] 5.3: oom:mark_victim: pid=1 comm=x total-vm=1kB oom_score_adj=99999", "oom_score_adj: invalid number"},
		{"  app 7 [000] 5.3: vmscan:mm_vmscan_kswapd_wake: nid=0", "field order missing"},
		{"  app 7 [000] 5.3: vmscan:mm_vmscan_memcg_reclaim_end: nr_reclaimed=-1", "nr_reclaimed: invalid number"},
		{"  app x [000] 5.3: oom:wake_reaper: pid=1", "want COMM TID"},
		{"  app 7 [000] 5.3: PERF_RECORD_LOST found 1", "want lost N"},
	} {
		var ev event.Event
		_, err := NewParser().Parse([]byte(tc.line), &ev)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): %v, want an error containing %q", tc.line, err, tc.want)
		}
	}
}

func TestLooksLikePerf(t *testing.T) {
	for line, want := range map[string]bool{
		"         python3  7584 [001]  2111.483005:      oom:mark_victim: pid=1":        true,
		"  python3  7584 [001]  2111.483005: PERF_RECORD_LOST lost 6":                   true,
		"    oomtrace-hog 21680/21680 [000] 1295.880591: oomtrace:oom_kill class=memcg": false,
		`{"event":"lost"}`: false,
		"# ========":       false,
	} {
		if got := LooksLikePerf([]byte(line)); got != want {
			t.Errorf("LooksLikePerf(%q) = %v, want %v", line, got, want)
		}
	}
}

// The tables that pair reclaims stay bounded however many threads never
// end theirs.
func TestBoundedOpenReclaims(t *testing.T) {
	p := NewParser()
	var ev event.Event
	for tid := range maxOpen + 10 {
		line := "  app " + strconv.Itoa(tid+1) + " [000] 1.0: vmscan:mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_KERNEL"
		if _, err := p.Parse([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.open) > maxOpen || p.Dropped == 0 {
		t.Errorf("%d open reclaims, %d dropped", len(p.open), p.Dropped)
	}
}

// FuzzParse: the parser never panics, and the events it makes are sane.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"memcg-oom.txt", "lost.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "perfscript", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParser()
		var ev event.Event
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			ok, err := p.Parse(line, &ev)
			if err != nil && err.Error() == "" {
				t.Fatal("empty error")
			}
			if ok && (ev.Kind < event.KindOOMKill || ev.Kind > event.KindLost) {
				t.Fatalf("event of kind %d from %q", ev.Kind, line)
			}
			if ok && ev.Kind == event.KindReclaim && ev.Reclaim.Duration < 0 {
				t.Fatalf("negative reclaim %v from %q", ev.Reclaim.Duration, line)
			}
		}
	})
}

// A capture with cgroup:cgroup_attach_task gives each task moved during
// the recording its cgroup, however its path is named.
func TestCgroupOfAttachedTasks(t *testing.T) {
	const path = "/kubepods/burstable/pod0f5eb28f-3c1a-4e2b-9d7c-6a5b4c3d2e1f/0dc1822c4f1e5f3c7b4a2e9d8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b"
	const hostile = "/a b/x pid=7 comm=y"
	text := "  runc:[2:INIT] 300 [001] 9.000000: cgroup:cgroup_attach_task: dst_root=4 dst_id=4242 dst_level=4 dst_path=" + path + " pid=300 comm=runc:[2:INIT]\n" +
		"  sh 301 [001] 9.100000: cgroup:cgroup_attach_task: dst_root=4 dst_id=77 dst_level=2 dst_path=" + hostile + " pid=301 comm=a pid=1\n" +
		"  app 300 [000] 10.000000: vmscan:mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_HIGHUSER_MOVABLE\n" +
		"  app 300 [000] 10.000500: vmscan:mm_vmscan_memcg_reclaim_end: nr_reclaimed=0\n" +
		"  app 300 [000] 11.000000: oom:mark_victim: pid=300 comm=app total-vm=1kB anon-rss=1kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB oom_score_adj=0\n" +
		"  sh 301 [000] 12.000000: oom:mark_victim: pid=301 comm=sh total-vm=1kB anon-rss=1kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB oom_score_adj=0\n" +
		"  other 302 [000] 13.000000: oom:mark_victim: pid=302 comm=other total-vm=1kB anon-rss=1kB file-rss:0kB shmem-rss:0kB uid=0 pgtables=4kB oom_score_adj=0\n"
	events := parseAll(t, text)
	if len(events) != 4 {
		t.Fatalf("%d events, want a reclaim and three kills", len(events))
	}
	if c := events[0].Reclaim.Cgroup; c.Path != path || c.ID != 4242 {
		t.Errorf("reclaim in %+v", c)
	}
	if k := events[1].OOMKill; k.Victim.Cgroup.Path != path || k.Victim.Cgroup.ID != 4242 || k.TriggerCgroup.Path != path || k.Class != event.ClassMemcg {
		t.Errorf("kill of an attached task: victim in %+v, trigger in %+v, class %s", k.Victim.Cgroup, k.TriggerCgroup, k.Class)
	}
	if c := events[2].OOMKill.Victim.Cgroup; c.Path != hostile || c.ID != 77 {
		t.Errorf("hostile path read as %+v", c)
	}
	if c := events[3].OOMKill.Victim.Cgroup; c.Valid() {
		t.Errorf("a task never attached has a cgroup: %+v", c)
	}
}
