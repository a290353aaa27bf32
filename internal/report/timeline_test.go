package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
)

func cgroupSample(s float64, path string, id, usage, limit uint64) event.Event {
	e := ev(event.KindSample, s)
	e.Sample = event.Sample{Cgroup: event.Cgroup{Path: path, ID: id, UsageBytes: usage, LimitBytes: limit}}
	return e
}

func nodeSample(s float64, total, avail uint64, some float64) event.Event {
	e := ev(event.KindSample, s)
	e.Sample = event.Sample{MemTotalBytes: total, MemAvailableBytes: avail, HasPressure: true, SomeAvg10: some}
	return e
}

// timelineOf reads events into one capture and returns its timeline.
func timelineOf(t *testing.T, events []event.Event) *Timeline {
	t.Helper()
	a := New(Options{Timeline: true})
	for i := range events {
		a.Add(&events[i])
	}
	a.EndCapture(recordLog(time.Millisecond))
	rep := a.Report()
	if len(rep.Timelines) != 1 {
		t.Fatalf("%d timelines", len(rep.Timelines))
	}
	return &rep.Timelines[0]
}

func laneOf(t *testing.T, tl *Timeline, cgroup string) *Lane {
	t.Helper()
	for i := range tl.Lanes {
		if tl.Lanes[i].Cgroup == cgroup {
			return &tl.Lanes[i]
		}
	}
	t.Fatalf("no lane %q in %+v", cgroup, tl.Lanes)
	return nil
}

// Usage climbing to the limit over 20 s: the buckets widen to keep at most
// timelineBuckets, and peaks, sums and kills survive the merging.
func TestTimelineWidens(t *testing.T) {
	var events []event.Event
	for i := range 200 {
		s := 10 + float64(i)*0.1
		events = append(events, cgroupSample(s, "/t", 5, uint64(i)<<20, 200<<20))
	}
	events = append(events, reclaim(29.5, 3*time.Millisecond, "/t", 5), reclaim(29.6, 2*time.Millisecond, "/t", 5))
	k := kill(29.9, event.ClassMemcg)
	k.OOMKill.OOMCgroup = event.Cgroup{Path: "/t", ID: 5, UsageBytes: 200 << 20, LimitBytes: 200 << 20}
	k.OOMKill.Victim.Cgroup = k.OOMKill.OOMCgroup
	k.OOMKill.Why = "limit <reached>"
	events = append(events, k)
	tl := timelineOf(t, events)

	if tl.StartKtimeNS != 10e9 || tl.Buckets > timelineBuckets || tl.Buckets < timelineBuckets/2 {
		t.Errorf("start %d, %d buckets of %v", tl.StartKtimeNS, tl.Buckets, tl.BucketWidth)
	}
	if tl.Duration() < 19900*time.Millisecond || tl.Duration() > 20100*time.Millisecond*2 {
		t.Errorf("duration %v", tl.Duration())
	}
	if want := time.Unix(10, 0).UTC(); tl.Start == nil || !tl.Start.Equal(want) {
		t.Errorf("start %v, want %v (the log's start plus the first event's boot time)", tl.Start, want)
	}
	lane := laneOf(t, tl, "/t")
	if len(tl.Lanes) != 1 || lane.Kills != 1 || lane.Stall != 5*time.Millisecond || lane.PeakUsageBytes != 200<<20 ||
		lane.LimitBytes == nil || *lane.LimitBytes != 200<<20 {
		t.Errorf("lane %+v", lane)
	}
	// Usage only rises, so each point's peak is the last sample in it.
	var prev uint64
	var stall time.Duration
	for _, p := range lane.Points {
		if p.UsageBytes == nil || *p.UsageBytes < prev || p.Bucket >= tl.Buckets {
			t.Fatalf("point %+v after usage %d", p, prev)
		}
		prev = *p.UsageBytes
		stall += p.Stall
	}
	if stall != lane.Stall {
		t.Errorf("points hold %v of stall, the lane %v", stall, lane.Stall)
	}
	if len(lane.Marks) != 1 {
		t.Fatalf("marks %+v", lane.Marks)
	}
	m := lane.Marks[0]
	if at := tl.BucketStart(m.Bucket); at > 19900*time.Millisecond || at+tl.BucketWidth <= 19900*time.Millisecond {
		t.Errorf("kill at 19.9 s into the timeline marked in bucket %d (%v)", m.Bucket, at)
	}
	if m.Why != "limit <reached>" || m.Victim.Comm != `app\x0a` || m.Class != "memcg" {
		t.Errorf("mark %+v", m)
	}
	if len(tl.Node.Marks) != 0 || tl.Node.Kills != 0 {
		t.Errorf("a memcg kill on the node lane: %+v", tl.Node)
	}
}

// The kernel's counts of all episodes go where the events of their
// interval are; without events, evenly over the interval.
func TestTimelineStatsSpread(t *testing.T) {
	stats := func(s float64, interval, total time.Duration) event.Event {
		e := ev(event.KindReclaimStats, s)
		e.ReclaimStats = event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: event.Cgroup{Path: "/t", ID: 5}, Interval: interval, Count: 100, Total: total}
		return e
	}
	start := cgroupSample(0, "/t", 5, 1, 2)
	tl := timelineOf(t, []event.Event{
		start,
		reclaim(0.2, 2*time.Millisecond, "/t", 5),
		reclaim(0.3, 6*time.Millisecond, "/t", 5),
		stats(0.5, 500*time.Millisecond, 16*time.Millisecond), // 8 ms beyond the events: 2 and 6 more
		stats(1.0, 500*time.Millisecond, 5*time.Millisecond),  // no events: 10 µs per ms
	})
	lane := laneOf(t, tl, "/t")
	if lane.Stall != 21*time.Millisecond {
		t.Errorf("total stall %v, want 21ms", lane.Stall)
	}
	at := func(s float64) time.Duration {
		var d time.Duration
		for _, p := range lane.Points {
			if from := tl.BucketStart(p.Bucket); from <= time.Duration(s*1e9) && time.Duration(s*1e9) < from+tl.BucketWidth {
				d += p.Stall
			}
		}
		return d
	}
	if at(0.2) != 4*time.Millisecond || at(0.3) != 12*time.Millisecond {
		t.Errorf("stall at 0.2 s %v, at 0.3 s %v; want 4ms and 12ms", at(0.2), at(0.3))
	}
	if got, want := at(0.75), tl.BucketWidth*5*time.Millisecond/(500*time.Millisecond); got < want-time.Microsecond || got > want+time.Microsecond {
		t.Errorf("stall at 0.75 s %v, want %v", got, want)
	}
}

// The node lane: memory in use against MemTotal, PSI, kswapd, direct
// reclaim, and the kills that are not memcg OOMs, which also mark the
// victim's lane.
func TestTimelineNode(t *testing.T) {
	direct := reclaim(1.5, 4*time.Millisecond, "/app", 3)
	direct.Reclaim.Kind = event.ReclaimDirect
	wake := ev(event.KindKswapdWake, 1.2)
	global := kill(2, event.ClassGlobal)
	global.OOMKill.Victim.Cgroup = event.Cgroup{Path: "/app", ID: 3, UsageBytes: 900 << 20, LimitBytes: event.NoLimit}
	tl := timelineOf(t, []event.Event{
		nodeSample(1, 1<<30, 600<<20, 1.5),
		wake, wake, direct,
		nodeSample(1.9, 1<<30, 100<<20, 40),
		global,
	})
	n := &tl.Node
	if n.Cgroup != "" || n.Name() != "node" || n.PeakUsageBytes != 924<<20 || n.LimitBytes == nil || *n.LimitBytes != 1<<30 ||
		n.MinAvailableBytes == nil || *n.MinAvailableBytes != 100<<20 || n.KswapdWakes != 2 || n.Stall != 4*time.Millisecond || n.Kills != 1 || len(n.Marks) != 1 {
		t.Errorf("node lane %+v", n)
	}
	var psi float64
	for _, p := range n.Points {
		if p.PSISome != nil {
			psi = max(psi, *p.PSISome)
		}
	}
	if psi != 40 {
		t.Errorf("highest PSI some %v, want 40", psi)
	}
	app := laneOf(t, tl, "/app")
	if app.Kills != 1 || len(app.Marks) != 1 || app.LimitBytes != nil || app.PeakUsageBytes != 900<<20 || app.Stall != 4*time.Millisecond {
		t.Errorf("victim's lane %+v", app)
	}
}

// Lanes come busiest first, are named by pod and container where known,
// and past maxLanes are counted, not kept.
func TestTimelineLanes(t *testing.T) {
	api := event.Owner{PodUID: "uid-1", PodName: "api-7d9", Namespace: "shop", Name: "api", Level: event.LevelContainer}
	var events []event.Event
	for i := range maxLanes + 7 {
		events = append(events, cgroupSample(1, fmt.Sprintf("/c%03d", i), uint64(i+10), uint64(i), 1000))
	}
	events = append(events, reclaim(2, time.Millisecond, "/c005", 15), reclaim(2, 3*time.Millisecond, "/c007", 17))
	k := kill(3, event.ClassMemcg)
	k.OOMKill.OOMCgroup = event.Cgroup{Path: "/c009", ID: 19, Owner: api}
	events = append(events, k)
	tl := timelineOf(t, events)
	if len(tl.Lanes) != maxLanes || tl.LanesLeftOut != 7 {
		t.Fatalf("%d lanes, %d left out", len(tl.Lanes), tl.LanesLeftOut)
	}
	var order []string
	for _, l := range tl.Lanes[:4] {
		order = append(order, l.Name())
	}
	// Kills first, then stall, then the fullest.
	if want := []string{"pod shop/api-7d9 container api", "/c007", "/c005", "/c199"}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("busiest lanes %q, want %q", order, want)
	}
	if l := tl.Lanes[0]; l.Level != "container" || l.Cgroup != "/c009" {
		t.Errorf("lane %+v", l)
	}
}

func TestTimelineOff(t *testing.T) {
	a := New(Options{})
	e := cgroupSample(1, "/t", 1, 2, 3)
	a.Add(&e)
	a.EndCapture(recordLog(0))
	if rep := a.Report(); rep.Timelines != nil || rep.Events["sample"] != 1 {
		t.Errorf("timelines %+v, events %v", rep.Timelines, rep.Events)
	}
}

// The text report draws each lane with data as sparklines.
func TestSparklines(t *testing.T) {
	var events []event.Event
	for i := range 64 {
		events = append(events, cgroupSample(float64(i)/8, "/t", 5, uint64(i)<<20, 64<<20))
	}
	events = append(events, reclaim(7.9, 3*time.Millisecond, "/t", 5))
	a := New(Options{Timeline: true})
	for i := range events {
		a.Add(&events[i])
	}
	a.EndCapture(capture.Info{Name: "load.log", Format: capture.FormatText})
	var buf bytes.Buffer
	if err := WriteText(&buf, a.Report(), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	var row string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "  /t ") {
			row = line
		}
	}
	if !strings.Contains(out, "over time: load.log, ") || !strings.Contains(row, "▁▁▁▁▂▂▂▂▃▃▃▃▄▄▄▄▅▅▅▅▆▆▆▆▇▇▇▇████") ||
		!strings.Contains(row, "63MiB/64MiB") || !strings.Contains(row, "                               █  3ms") {
		t.Errorf("sparklines:\n%s", out)
	}
	// The summary record prints has none.
	buf.Reset()
	if err := WriteText(&buf, a.Report(), TextOptions{Short: true}); err != nil || strings.Contains(buf.String(), "over time") {
		t.Errorf("short report:\n%s", buf.String())
	}
}

func TestFormatSize(t *testing.T) {
	for b, want := range map[uint64]string{0: "0B", 512: "512B", 1536: "1.5KiB", 32 << 20: "32MiB", 25276510208: "23.5GiB", 1<<64 - 1: "16EiB"} {
		if got := FormatSize(b); got != want {
			t.Errorf("FormatSize(%d) = %s, want %s", b, got, want)
		}
	}
}

// A capture with neither samples nor reclaim gets no sparklines: its kills
// are in the tables already.
func TestNoSparklinesForKillsAlone(t *testing.T) {
	a := New(Options{Timeline: true})
	k := kill(1, event.ClassMemcg)
	k.OOMKill.OOMCgroup = event.Cgroup{Path: "/t", ID: 5, UsageBytes: 1 << 20, LimitBytes: 1 << 20}
	a.Add(&k)
	a.EndCapture(capture.Info{Name: "kill.log", Format: capture.FormatText})
	rep := a.Report()
	if len(rep.Timelines) != 1 || rep.Timelines[0].Samples != 0 || rep.Timelines[0].Reclaims != 0 {
		t.Fatalf("timelines %+v", rep.Timelines)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, rep, TextOptions{}); err != nil || strings.Contains(buf.String(), "over time") {
		t.Errorf("report:\n%s", buf.String())
	}
}
