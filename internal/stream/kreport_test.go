package stream

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

// liveKill is a kill as the tracer reports it: ktime_ns on CLOCK_BOOTTIME.
func liveKill(ktime uint64, pid uint32, comm string) *event.Event {
	ev := &event.Event{Kind: event.KindOOMKill, KtimeNS: ktime}
	ev.OOMKill.Class = event.ClassMemcg
	ev.OOMKill.Victim.Task = event.Task{PID: pid, TGID: pid, Comm: comm}
	ev.OOMKill.OOMCgroup = event.Cgroup{Path: "/t", ID: 9, UsageBytes: 32 << 20, LimitBytes: 32 << 20}
	return ev
}

// withMemcgReport is a logged kill whose report has the memcg's
// statistics and its header.
func withMemcgReport(bootNS uint64, pid uint32, comm string) loggedKill {
	l := loggedKill{logNS: bootNS, bootNS: bootNS, pid: pid, comm: comm, hasGFP: true, gfpMask: 0xcc0}
	l.report.HasMemcg, l.report.MemcgAnonBytes = true, 31<<20
	return l
}

// A kill is the logged kill of the same victim, by pid and name, nearest
// in time: the log's clock drifts from the ring buffer's by up to 1,000
// ppm of the uptime, and a second more.
func TestMatchKill(t *testing.T) {
	const sec = uint64(time.Second)
	kill := liveKill(100*sec, 42, "hog")
	all := func(*loggedKill) bool { return true }
	logged := []loggedKill{
		withMemcgReport(10*sec, 42, "hog"),      // the same pid long before
		withMemcgReport(100*sec, 43, "hog"),     // another pid
		withMemcgReport(100*sec, 42, "other"),   // a reused pid
		withMemcgReport(100*sec+5e8, 42, "hog"), // this one, half a second off
		withMemcgReport(100*sec+9e8, 42, "hog"), // later, farther
	}
	if i := matchKill(logged, kill, all); i != 3 {
		t.Fatalf("matched %d, want 3: the one half a second off", i)
	}
	if i := matchKill(logged, kill, func(l *loggedKill) bool { return l.bootNS != 100*sec+5e8 }); i != 4 {
		t.Errorf("with the nearest taken, matched %d, want 4", i)
	}
	if i := matchKill(logged[:3], kill, all); i >= 0 {
		t.Errorf("matched %d: a kill of another time, pid or name", i)
	}
	// 1.2 s off at 100 s of uptime is too far; 60 s off after 30 days is not.
	if i := matchKill([]loggedKill{withMemcgReport(100*sec+12e8, 42, "hog")}, kill, all); i >= 0 {
		t.Error("matched a kill 1.2 s off at 100 s of uptime")
	}
	month := liveKill(30*24*3600*sec, 42, "hog")
	if i := matchKill([]loggedKill{withMemcgReport(month.KtimeNS-60*sec, 42, "hog")}, month, all); i != 0 {
		t.Error("did not match a kill 60 s off after 30 days of uptime")
	}
}

// fakeLog is a kernel log whose readings show its kills one reading at a
// time: reading n shows readings[min(n, last)].
type fakeLog struct {
	mu       sync.Mutex
	readings [][]loggedKill
	err      error
	n        atomic.Int32
}

func (l *fakeLog) read() ([]loggedKill, error) {
	n := int(l.n.Add(1)) - 1
	if l.err != nil {
		return nil, l.err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readings[min(n, len(l.readings)-1)], nil
}

func reportsOf(l *fakeLog, logs *bytes.Buffer) *kernelReports {
	return &kernelReports{read: l.read, closeLog: func() error { return nil }, wait: 500 * time.Millisecond, self: selfTask(),
		logger: slog.New(slog.NewTextHandler(logs, nil))}
}

// The report follows its kill once the log has it: a reading without the
// kill is read again, and what the report adds goes into the event.
func TestKernelReportAfter(t *testing.T) {
	now := BootNanos()
	kill := liveKill(now, 42, "hog")
	log := &fakeLog{readings: [][]loggedKill{nil, {withMemcgReport(now, 42, "hog")}}}
	var logs bytes.Buffer
	r := reportsOf(log, &logs)
	ev, ok := r.after(kill)
	if !ok {
		t.Fatalf("no oom_report; log: %s", logs.String())
	}
	o := ev.OOMReport
	if ev.Kind != event.KindOOMReport || ev.Task.Comm != "oomtrace" || o.KillKtimeNS != now || o.Victim.PID != 42 ||
		o.Class != event.ClassMemcg || o.OOMCgroup.LimitBytes != 32<<20 || !o.HasGFP || o.GFPMask != 0xcc0 ||
		!o.Report.HasMemcg || o.Report.MemcgAnonBytes != 31<<20 {
		t.Errorf("oom_report %+v", ev)
	}
	if n := log.n.Load(); n != 2 {
		t.Errorf("%d readings, want 2: one without the kill, one with it", n)
	}
}

// The kills that come together share a reading of the log; a kill after
// the reading is looked for in a new one.
func TestKernelReportsShareAReading(t *testing.T) {
	now := BootNanos()
	var logged []loggedKill
	var kills []*event.Event
	for pid := uint32(100); pid < 110; pid++ {
		logged = append(logged, withMemcgReport(now, pid, "member"))
		kills = append(kills, liveKill(now, pid, "member"))
	}
	log := &fakeLog{readings: [][]loggedKill{logged}}
	r := reportsOf(log, &bytes.Buffer{})
	var wg sync.WaitGroup
	var found atomic.Int32
	for _, kill := range kills {
		wg.Go(func() {
			if _, ok := r.after(kill); ok {
				found.Add(1)
			}
		})
	}
	wg.Wait()
	if found.Load() != 10 || log.n.Load() != 1 {
		t.Errorf("%d reports from %d readings, want 10 from 1", found.Load(), log.n.Load())
	}
	later := BootNanos()
	log.mu.Lock()
	log.readings = append(log.readings, append(logged, withMemcgReport(later, 100, "member")))
	log.mu.Unlock()
	ev, ok := r.after(liveKill(later, 100, "member"))
	if !ok || ev.OOMReport.KillKtimeNS != later || log.n.Load() != 2 {
		t.Errorf("a later kill of the same pid: %v, %d readings", ok, log.n.Load())
	}
}

// A report that adds nothing to its kill makes no event: one whose header
// the kernel rate-limited away (the "Killed process" line alone), and
// that of memory.oom.group's other victims (the header's allocation, which
// the kill has where the tracer read oom_control). A kill the OOM killer
// only marked, its victim already exiting, is not in the log at all: it
// is not looked for.
func TestKernelReportAddsNothing(t *testing.T) {
	member := loggedKill{bootNS: 5e9, pid: 43, comm: "member", hasGFP: true, gfpMask: 0xcc0}
	other := member
	other.pid = 45
	log := &fakeLog{readings: [][]loggedKill{{{bootNS: 5e9, pid: 42, comm: "hog"}, member, other}}}
	var logs bytes.Buffer
	r := reportsOf(log, &logs)
	if ev, ok := r.after(liveKill(5e9, 42, "hog")); ok {
		t.Errorf("an oom_report from a bare Killed process line: %+v", ev.OOMReport)
	}
	withControl := liveKill(5e9, 43, "member")
	withControl.OOMKill.HasGFP, withControl.OOMKill.GFPMask = true, 0xcc0
	if ev, ok := r.after(withControl); ok {
		t.Errorf("an oom_report of a group member that repeats the kill's allocation: %+v", ev.OOMReport)
	}
	exiting := liveKill(5e9, 44, "exiting")
	exiting.OOMKill.VictimExiting = true
	if ev, ok := r.after(exiting); ok {
		t.Errorf("an oom_report of a victim only marked: %+v", ev.OOMReport)
	}
	if n := log.n.Load(); n != 1 || logs.Len() != 0 {
		t.Errorf("%d readings, warned %q; want 1 reading, no warning", n, logs.String())
	}
	// In tracepoint mode the kill has no allocation: the header's is news.
	ev, ok := r.after(liveKill(5e9, 45, "member"))
	if !ok || !ev.OOMReport.HasGFP || ev.OOMReport.GFPMask != 0xcc0 {
		t.Errorf("tracepoint-mode member: %v %+v", ok, ev.OOMReport)
	}
}

// One logged kill is one kill's report: a second kill of the same pid and
// name, whose own line is not in the log yet, does not take the first's,
// whose time on the ring buffer's clock each reading works out anew.
func TestKernelReportMatchedOnce(t *testing.T) {
	now := BootNanos()
	again := withMemcgReport(now, 42, "hog")
	again.bootNS += 1000
	log := &fakeLog{readings: [][]loggedKill{{withMemcgReport(now, 42, "hog")}, {again}}}
	var logs bytes.Buffer
	r := reportsOf(log, &logs)
	r.wait = 200 * time.Millisecond
	if _, ok := r.after(liveKill(now, 42, "hog")); !ok {
		t.Fatal("no report of the first kill")
	}
	if ev, ok := r.after(liveKill(now+1e6, 42, "hog")); ok {
		t.Errorf("the second kill took the first's report: %+v", ev.OOMReport)
	}
}

// Once the log is closed, a kill still waiting for its report gives up.
func TestKernelReportClosed(t *testing.T) {
	log := &fakeLog{readings: [][]loggedKill{nil}}
	r := reportsOf(log, &bytes.Buffer{})
	if err := r.close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.after(liveKill(BootNanos(), 42, "hog")); ok || log.n.Load() != 0 {
		t.Errorf("a closed log was read %d times", log.n.Load())
	}
}

// A kill the log never shows is given up after the wait, with a warning
// that names it.
func TestKernelReportNeverLogged(t *testing.T) {
	log := &fakeLog{readings: [][]loggedKill{nil}}
	var logs bytes.Buffer
	r := reportsOf(log, &logs)
	r.wait = 200 * time.Millisecond
	start := time.Now()
	if _, ok := r.after(liveKill(5e9, 42, "hog")); ok {
		t.Fatal("an oom_report of a kill the log does not have")
	}
	if waited := time.Since(start); waited < r.wait {
		t.Errorf("gave up after %v, before the wait of %v", waited, r.wait)
	}
	if !strings.Contains(logs.String(), "no report of the kill in the kernel log") || !strings.Contains(logs.String(), "victim_pid=42") {
		t.Errorf("warning: %q", logs.String())
	}
	if n := log.n.Load(); n < 2 {
		t.Errorf("read the log %d times in the wait, want it read again", n)
	}
}

// A log that cannot be read is warned about once, and not read again.
func TestKernelReportUnreadableLog(t *testing.T) {
	log := &fakeLog{err: errors.New("open kernel log: permission denied")}
	var logs bytes.Buffer
	r := reportsOf(log, &logs)
	for range 3 {
		if _, ok := r.after(liveKill(5e9, 42, "hog")); ok {
			t.Fatal("an oom_report from a log that cannot be read")
		}
	}
	if n := log.n.Load(); n != 1 {
		t.Errorf("%d readings of a log that cannot be read, want 1", n)
	}
	if c := strings.Count(logs.String(), "no kernel reports after kills"); c != 1 || !strings.Contains(logs.String(), "permission denied") {
		t.Errorf("%d warnings: %q", c, logs.String())
	}
}

// Every follow-up of a kill runs once, after the kill's line; one that
// has nothing to add hands nothing over.
func TestFollowUpsOfAKill(t *testing.T) {
	sink := &lockedCollect{}
	var nothing atomic.Int32
	follow := newFollowUps(
		snapshotAfter(func(*event.Cgroup) event.Snapshot { return event.Snapshot{Status: event.SnapshotOK} }, selfTask()),
		func(kill *event.Event) (event.Event, bool) {
			return event.Event{Kind: event.KindOOMReport, OOMReport: event.ReportAfter(kill, &event.OOMKill{})}, true
		},
		func(*event.Event) (event.Event, bool) { nothing.Add(1); return event.Event{}, false },
	)
	pipe := pipeline.Of(nil, sink, follow)
	follow.pipe = pipe
	for pid := uint32(1); pid <= 2; pid++ {
		if err := pipe.ProcessBuffered(liveKill(uint64(pid), pid, "hog")); err != nil {
			t.Fatal(err)
		}
	}
	follow.wait()
	if k, s, r := sink.count(event.KindOOMKill), sink.count(event.KindOOMSnapshot), sink.count(event.KindOOMReport); k != 2 || s != 2 || r != 2 || nothing.Load() != 2 {
		t.Errorf("%d kills, %d snapshots, %d reports, %d follow-ups with nothing; want 2 of each", k, s, r, nothing.Load())
	}
	for _, rep := range sink.kinds(event.KindOOMReport) {
		if rep.OOMReport.Victim.PID != uint32(rep.OOMReport.KillKtimeNS) {
			t.Errorf("report of pid %d follows the kill at %d", rep.OOMReport.Victim.PID, rep.OOMReport.KillKtimeNS)
		}
	}
}

// Reading this machine's kernel log for the kills' reports, at its worst:
// every record of the kernel's buffer is new since the last reading (a
// first kill after a long quiet, on a host whose log kept going).
func BenchmarkReadWholeKernelLog(b *testing.B) {
	if err := kernlog.CanRead(); err != nil {
		b.Skip(err)
	}
	var kills, records int
	for b.Loop() {
		tail, err := kernlog.OpenTail(kernlog.FromBoot)
		if err != nil {
			b.Fatal(err)
		}
		logged := &kmsgKills{tail: tail}
		all, err := logged.read()
		if err != nil {
			b.Fatal(err)
		}
		kills = len(all)
		b.StopTimer()
		tail.Close()
		tail, _ = kernlog.OpenTail(kernlog.FromBoot)
		records, _ = tail.Read(func(kernlog.Item) error { return nil })
		tail.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(kills), "kills")
	b.ReportMetric(float64(records), "records")
}

// fakeTail hands out the items of a kernel log fixture, every copy of it
// one Read, and shows pending as the report still being read.
type fakeTail struct {
	items   []kernlog.Item
	pending []kernlog.Item
}

func (f *fakeTail) Read(fn func(kernlog.Item) error) (int, error) {
	for _, it := range f.items {
		if err := fn(it); err != nil {
			return 0, err
		}
	}
	return len(f.items), nil
}

func (f *fakeTail) Pending() []kernlog.Item { return f.pending }

func fixtureItems(t *testing.T, name string) []kernlog.Item {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", name))
	if err != nil {
		t.Fatal(err)
	}
	d := kernlog.NewDecoder(bytes.NewReader(b), name)
	var items []kernlog.Item
	for {
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			return items
		}
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
}

// The kills of the reports read, then that of the report still being
// read; the latest kept when they pile up.
func TestKmsgKills(t *testing.T) {
	storm := fixtureItems(t, "6.18-v1-rec-ratelimit.kmsg")
	plain := fixtureItems(t, "6.18-v1-rec-memcg.kmsg")
	tail := &fakeTail{items: storm, pending: plain}
	k := &kmsgKills{tail: tail}
	kills, err := k.read()
	if err != nil {
		t.Fatal(err)
	}
	perRead := len(k.done)
	if perRead != 7 || len(kills) != perRead+2 { // the fixtures hold 7 kills, and 2
		t.Fatalf("%d kills of the storm's reports, %d with the pending ones", perRead, len(kills))
	}
	last := kills[len(kills)-1]
	if last.pid != 14614 || last.comm != "klhog" || !last.hasGFP || !last.report.HasMemcg {
		t.Errorf("the pending report's kill: %+v", last)
	}
	for range 2 * maxLoggedKills / perRead {
		if kills, err = k.read(); err != nil {
			t.Fatal(err)
		}
	}
	if len(k.done) > 2*maxLoggedKills || len(k.done) < maxLoggedKills {
		t.Errorf("%d kills kept, want %d to %d", len(k.done), maxLoggedKills, 2*maxLoggedKills)
	}
	if kills[len(kills)-1].pid != 14614 || kills[len(kills)-3] != k.done[len(k.done)-1] {
		t.Error("the latest kills are not last")
	}
}
