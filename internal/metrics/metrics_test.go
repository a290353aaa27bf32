package metrics

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/stream"
)

func podKill(pod string) *event.Event {
	ev := &event.Event{Kind: event.KindOOMKill}
	ev.OOMKill.Class = event.ClassMemcg
	ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: "/kubepods/" + pod, Owner: event.Owner{
		PodUID: "uid-" + pod, PodName: pod, Namespace: "shop", Name: "api", QoS: event.QoSBurstable}}
	return ev
}

func TestKillsByPod(t *testing.T) {
	m := New(Options{Version: "test"})
	for _, pod := range []string{"a", "a", "b"} {
		if err := m.Write(podKill(pod)); err != nil {
			t.Fatal(err)
		}
	}
	plain := &event.Event{Kind: event.KindOOMKill}
	plain.OOMKill.Class = event.ClassGlobal
	plain.OOMKill.Victim.Cgroup = event.Cgroup{Path: "/user.slice"}
	m.Write(plain)
	// The OOM killer only marked a victim that was already exiting.
	exiting := podKill("a")
	exiting.OOMKill.VictimExiting = true
	m.Write(exiting)
	// A kill from before the agent started, replayed from the kernel log.
	replayed := podKill("b")
	replayed.OOMKill.Replayed = true
	m.Write(replayed)
	m.Write(&event.Event{Kind: event.KindLost, Lost: event.Lost{Count: 3, Total: 3}})
	// Then runs skipped, twice: each program's counter adds the runs
	// since the event before, not the totals.
	m.Write(&event.Event{Kind: event.KindLost, Lost: event.Lost{Total: 3, SkippedRuns: 2, SkippedRunsTotal: 2, SkippedByProgram: "mark_victim:2"}})
	m.Write(&event.Event{Kind: event.KindLost, Lost: event.Lost{Total: 3, SkippedRuns: 4, SkippedRunsTotal: 6, SkippedByProgram: "mark_victim:3,process_exit:3"}})
	// A list that cannot be read does not lose the runs.
	m.Write(&event.Event{Kind: event.KindLost, Lost: event.Lost{Total: 3, SkippedRuns: 2, SkippedRunsTotal: 8, SkippedByProgram: "mark_victim=5"}})
	m.Attached(event.ModeTracepoint)

	want := `
# HELP oomtrace_oom_kills_total Tasks killed by the kernel's OOM killer, by class and the victim's pod and container (empty where unknown); a victim already exiting is not counted.
# TYPE oomtrace_oom_kills_total counter
oomtrace_oom_kills_total{class="global",container="",namespace="",pod="",qos=""} 1
oomtrace_oom_kills_total{class="memcg",container="api",namespace="shop",pod="a",qos="burstable"} 2
oomtrace_oom_kills_total{class="memcg",container="api",namespace="shop",pod="b",qos="burstable"} 1
# HELP oomtrace_events_lost_total Events the kernel could not put in the ring buffer.
# TYPE oomtrace_events_lost_total counter
oomtrace_events_lost_total 3
# HELP oomtrace_build_info oomtrace's version and the attach mode in use; 1 once attached.
# TYPE oomtrace_build_info gauge
oomtrace_build_info{mode="tracepoint",version="test"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"oomtrace_oom_kills_total", "oomtrace_events_lost_total", "oomtrace_build_info"); err != nil {
		t.Error(err)
	}
	// Every program has its series of skipped runs from the start, most
	// at 0.
	if n := testutil.CollectAndCount(m.skipped); n != len(event.Programs())+1 {
		t.Errorf("%d series of skipped runs, want one per program and unknown", n)
	}
	for program, want := range map[string]float64{"mark_victim": 3, "process_exit": 3, "unknown": 2, "fentry_oom_kill_process": 0} {
		if got := testutil.ToFloat64(m.skipped.WithLabelValues(program)); got != want {
			t.Errorf("runs skipped by %s: %v, want %v", program, got, want)
		}
	}
}

// Pod churn cannot grow the series without bound: past the cap pods share
// the overflow series, and pods not seen for the expiry time lose theirs.
func TestCardinalityBounded(t *testing.T) {
	m := New(Options{MaxOwners: 10, Expiry: time.Hour})
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	for i := range 1000 {
		m.Write(podKill(string(rune('a'+i%26)) + string(rune('a'+i/26))))
	}
	if n := testutil.CollectAndCount(m.kills); n != 11 {
		t.Errorf("%d kill series after 1000 pods with a cap of 10, want 10 and the overflow", n)
	}
	if v := testutil.ToFloat64(m.kills.WithLabelValues("memcg", Overflow, Overflow, Overflow, Overflow)); v != 990 {
		t.Errorf("overflow series counts %v kills, want 990", v)
	}
	// Two hours later the old pods are gone and new ones get series.
	now = now.Add(2 * time.Hour)
	m.Write(podKill("new"))
	if n := testutil.CollectAndCount(m.kills); n != 2 {
		t.Errorf("%d kill series after expiry, want the new pod's and the overflow", n)
	}
}

// A label set several owners use keeps its series while one of them is
// seen: a pod created again under its name, with a new UID, and the kills
// of no pod's, which share one series by class.
func TestSharedSeriesOutliveAnOwner(t *testing.T) {
	m := New(Options{MaxOwners: 1000, Expiry: time.Hour})
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	again := func(uid string) *event.Event {
		ev := podKill("web-0")
		ev.OOMKill.Victim.Cgroup.Owner.PodUID = uid
		return ev
	}
	plain := func(path string) *event.Event {
		ev := &event.Event{Kind: event.KindOOMKill}
		ev.OOMKill.Class = event.ClassMemcg
		ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: path}
		return ev
	}
	m.Write(again("uid-1"))
	m.Write(plain("/system.slice/a.service"))
	now = now.Add(59 * time.Minute)
	m.Write(again("uid-2"))
	m.Write(plain("/system.slice/b.service"))
	now = now.Add(2 * time.Minute) // uid-1 and a.service not seen for an hour
	m.Write(again("uid-2"))
	m.Write(plain("/system.slice/b.service"))
	if v := testutil.ToFloat64(m.kills.WithLabelValues("memcg", "shop", "web-0", "api", "burstable")); v != 3 {
		t.Errorf("web-0's kills: %v, want 3 (its first UID's expiry kept the series)", v)
	}
	if v := testutil.ToFloat64(m.kills.WithLabelValues("memcg", "", "", "", "")); v != 3 {
		t.Errorf("kills of no pod's: %v, want 3", v)
	}
	// Once no owner is seen for the expiry time, the series go.
	now = now.Add(2 * time.Hour)
	m.Write(&event.Event{Kind: event.KindExit})
	if n := testutil.CollectAndCount(m.kills); n != 0 {
		t.Errorf("%d kill series two hours after the last kill, want 0", n)
	}
}

// Kills of no pod's take one slot of the cap between them, whatever
// cgroups they were in: creating cgroups does not push pods' kills into
// the overflow.
func TestPlainCgroupsShareASlot(t *testing.T) {
	m := New(Options{MaxOwners: 2, Expiry: time.Hour})
	for i := range 10 {
		ev := &event.Event{Kind: event.KindOOMKill}
		ev.OOMKill.Class = event.ClassMemcg
		ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: fmt.Sprintf("/user.slice/run-r%d.scope", i)}
		m.Write(ev)
	}
	m.Write(podKill("api"))
	if v := testutil.ToFloat64(m.kills.WithLabelValues("memcg", "shop", "api", "api", "burstable")); v != 1 {
		t.Errorf("pod api's own series: %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.kills.WithLabelValues("memcg", Overflow, Overflow, Overflow, Overflow)); v != 0 {
		t.Errorf("overflow: %v, want 0", v)
	}
}

// The kernel's log2 buckets become a Prometheus histogram: bucket i (of
// [2^i, 2^(i+1)) µs) counts below le=2^(i+1) µs, cumulatively.
func TestReclaimHistogram(t *testing.T) {
	m := New(Options{})
	stats := event.ReclaimStats{Kind: event.ReclaimMemcg, Count: 4, Total: 20 * time.Microsecond,
		Cgroup: event.Cgroup{Path: "/p", Owner: event.Owner{PodUID: "u1", PodName: "p", Namespace: "ns"}}}
	stats.Buckets[0], stats.Buckets[3] = 1, 3
	ev := &event.Event{Kind: event.KindReclaimStats, ReclaimStats: stats}
	m.Write(ev)
	m.Write(ev)

	got, err := testutil.GatherAndLint(m.Registry)
	if err != nil || len(got) > 0 {
		t.Errorf("metrics lint: %v %v", got, err)
	}
	var b strings.Builder
	for _, want := range []string{
		`oomtrace_reclaim_seconds_bucket{kind="memcg",le="2e-06"} 2`,
		`oomtrace_reclaim_seconds_bucket{kind="memcg",le="8e-06"} 2`,
		`oomtrace_reclaim_seconds_bucket{kind="memcg",le="1.6e-05"} 8`,
		`oomtrace_reclaim_seconds_count{kind="memcg"} 8`,
		`oomtrace_reclaim_seconds_sum{kind="memcg"} 4e-05`,
		`oomtrace_pod_reclaim_seconds_count{kind="memcg",namespace="ns",pod="p",qos=""} 8`,
	} {
		b.WriteString(want + "\n")
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	text := exposition(t, families)
	for _, want := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

// A node with heavy pod churn: 200,000 pods, each with a kill and reclaim.
// The series stay under the cap and the heap stays small.
func TestChurnMemoryBounded(t *testing.T) {
	m := New(Options{MaxOwners: 1000, Expiry: time.Hour})
	stats := &event.Event{Kind: event.KindReclaimStats}
	stats.ReclaimStats.Count = 1
	for i := range 200_000 {
		pod := fmt.Sprintf("pod-%d", i)
		m.Write(podKill(pod))
		stats.ReclaimStats.Cgroup.Owner = event.Owner{PodUID: "uid-" + pod, PodName: pod, Namespace: "churn"}
		m.Write(stats)
	}
	if n := testutil.CollectAndCount(m.kills); n > 1001 {
		t.Errorf("%d kill series, want at most the cap and the overflow", n)
	}
	if n := testutil.CollectAndCount(m.reclaim, "oomtrace_pod_reclaim_seconds"); n > 1001 {
		t.Errorf("%d pod reclaim series, want at most the cap and the overflow", n)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(m)
	if ms.HeapInuse > 64<<20 {
		t.Errorf("heap in use %d MiB after 200,000 pods", ms.HeapInuse>>20)
	}
	t.Logf("heap in use after 200,000 pods: %.1f MiB", float64(ms.HeapInuse)/(1<<20))
}

func TestExitsByCause(t *testing.T) {
	m := New(Options{})
	for _, x := range []event.Exit{
		{ExitCode: 9, Cause: event.CauseOOMKill, OOMClass: event.ClassMemcg},
		{ExitCode: 9, Cause: event.CauseSignal, SenderClass: event.SenderKubelet},
		{ExitCode: 9, Cause: event.CauseSignal, SenderClass: event.SenderKubelet},
		{ExitCode: 11, Cause: event.CauseFault, SenderClass: event.SenderKernel},
	} {
		m.Write(&event.Event{Kind: event.KindExit, Exit: x})
	}
	want := `
# HELP oomtrace_exits_total Processes that died from a signal, by cause (oom_kill, signal, fault, unknown) and, for a signal, the sender's class.
# TYPE oomtrace_exits_total counter
oomtrace_exits_total{cause="fault",sender_class="kernel"} 1
oomtrace_exits_total{cause="oom_kill",sender_class=""} 1
oomtrace_exits_total{cause="signal",sender_class="kubelet"} 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "oomtrace_exits_total"); err != nil {
		t.Error(err)
	}
}

// Before the tracer attaches, the ring buffer metrics exist and are zero
// (the end-to-end serve test checks them attached).
func TestRingBufferBeforeAttach(t *testing.T) {
	m := New(Options{})
	m.WatchRingBuffer(new(stream.Health))
	want := `
# HELP oomtrace_ringbuf_records_read_total Records read from the ring buffer, undecodable ones included.
# TYPE oomtrace_ringbuf_records_read_total counter
oomtrace_ringbuf_records_read_total 0
# HELP oomtrace_ringbuf_size_bytes Size of the ring buffer the kernel writes events to; 0 until attached.
# TYPE oomtrace_ringbuf_size_bytes gauge
oomtrace_ringbuf_size_bytes 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"oomtrace_ringbuf_records_read_total", "oomtrace_ringbuf_size_bytes"); err != nil {
		t.Error(err)
	}
}

// Names anyone can give a cgroup, or a pod through its runtime, are label
// values the client accepts and a reader sees as text: bytes that are not
// UTF-8 (which made the client panic) and control bytes come escaped.
func TestHostileLabelValues(t *testing.T) {
	m := New(Options{})
	const hostile = "/bad\xff\r\x1b[2J\"x"
	const escaped = `/bad\\xff\\x0d\\x1b[2J\"x` // in the exposition's own quoting
	memcgOOM := &event.Event{Kind: event.KindMemcgOOM}
	memcgOOM.MemcgOOM.Cgroup.Path = hostile
	kill := podKill("p\xc3")
	kill.OOMKill.Victim.Cgroup.Owner.Name = hostile
	stats := &event.Event{Kind: event.KindReclaimStats, ReclaimStats: event.ReclaimStats{Kind: event.ReclaimMemcg, Count: 1,
		Cgroup: event.Cgroup{Path: hostile, Owner: event.Owner{PodUID: "u\xff", Namespace: "n\x85"}}}}
	lost := &event.Event{Kind: event.KindLost, Lost: event.Lost{SkippedRuns: 1, SkippedRunsTotal: 1, SkippedByProgram: "prog\xff:1"}}
	for _, ev := range []*event.Event{memcgOOM, kill, stats, lost} {
		if err := m.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	text := exposition(t, families)
	for _, want := range []string{
		`oomtrace_memcg_oom_total{cgroup="` + escaped + `"} 1`,
		`container="` + escaped + `",namespace="shop",pod="p\\xc3"`,
		`oomtrace_pod_reclaim_seconds_count{kind="memcg",namespace="n\\x85",pod="u\\xff",qos=""} 1`,
		`oomtrace_program_runs_skipped_total{program="prog\\xff"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
	for _, c := range text {
		if c < 0x20 && c != '\n' || c >= 0x7f {
			t.Fatalf("exposition holds %U:\n%q", c, text)
		}
	}
}
