package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/filter"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spread := range []float64{1, 4, 12} {
		var h histogram
		values := make([]uint64, 100000)
		for i := range values {
			// Log-normal around 50 µs: reclaim latencies look like this.
			values[i] = uint64(50e3 * math.Exp(spread*rng.NormFloat64()/3))
			h.add(values[i], 1)
		}
		slices.Sort(values)
		for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			want := values[int(math.Ceil(q*float64(len(values))))-1]
			got := uint64(h.quantile(q))
			if rel := math.Abs(float64(got)-float64(want)) / float64(want); rel > QuantileError {
				t.Errorf("spread %v: q%v = %d, exact %d: off by %.4f > %.4f", spread, q, got, want, rel, QuantileError)
			}
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("quantile of nothing")
	}
	// Exact below 64 ns, and at the extremes.
	var small histogram
	for _, v := range []uint64{0, 1, 63, math.MaxInt64} {
		small.add(v, 1)
	}
	if small.quantile(0.25) != 0 || small.quantile(0.5) != 1 || small.quantile(0.75) != 63 || small.quantile(1) != math.MaxInt64 {
		t.Errorf("small values: %v %v %v %v", small.quantile(0.25), small.quantile(0.5), small.quantile(0.75), small.quantile(1))
	}
}

// ev builds an event at second s of boot time.
func ev(kind event.Kind, s float64) event.Event {
	return event.Event{Kind: kind, KtimeNS: uint64(s * 1e9), Task: event.Task{PID: 9, TGID: 9, Comm: "app"}}
}

func reclaim(s float64, d time.Duration, cgroup string, id uint64) event.Event {
	e := ev(event.KindReclaim, s)
	e.Reclaim = event.Reclaim{Kind: event.ReclaimMemcg, Duration: d, Cgroup: event.Cgroup{Path: cgroup, ID: id}}
	return e
}

func kill(s float64, class event.Class) event.Event {
	e := ev(event.KindOOMKill, s)
	e.OOMKill = event.OOMKill{Class: class, Victim: event.Victim{Task: event.Task{PID: 9, TGID: 9, Comm: "app\n"}, HasMM: true, RSSAnonKB: 1024}}
	return e
}

func recordLog(reclaimMin time.Duration) capture.Info {
	return capture.Info{Name: "a.log", Format: capture.FormatText,
		Start: &output.LogStart{Mode: event.ModeTracepoint, ReclaimMin: reclaimMin, Start: time.Unix(0, 0)},
		End:   &output.LogEnd{End: time.Unix(20, 0)}}
}

// Episodes under the threshold are known from the kernel's histogram only;
// those above it one by one, exactly.
func TestKernelHistogramAndEvents(t *testing.T) {
	a := New(Options{})
	var slow []time.Duration
	for i := range 20 {
		d := 2100*time.Microsecond + time.Duration(i)*50*time.Microsecond
		slow = append(slow, d)
		e := reclaim(1+float64(i)/100, d, "/t", 5)
		a.Add(&e)
	}
	stats := ev(event.KindReclaimStats, 2)
	stats.ReclaimStats = event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: event.Cgroup{Path: "/t", ID: 5}, Count: 1000,
		Total: 980*20*time.Microsecond + 60*time.Millisecond, Max: slow[19]}
	stats.ReclaimStats.Buckets[4] = 980 // 16-32 µs
	stats.ReclaimStats.Buckets[11] = 20 // 2048-4096 µs: the events
	a.Add(&stats)
	a.EndCapture(recordLog(time.Millisecond))
	r := a.Report().Reclaim.All
	if r.Count != 1000 || r.Total != stats.ReclaimStats.Total || !r.AllEpisodes || r.Max != slow[19] {
		t.Errorf("row %+v", r)
	}
	// p50 is in the bulk: the geometric middle of 16-32 µs.
	if want := math.Sqrt(16e3 * 32e3); math.Abs(float64(r.P50)-want)/want > QuantileError {
		t.Errorf("p50 %v, want %v", r.P50, time.Duration(want))
	}
	// p99 is the 990th episode: the 10th slowest event, exactly.
	if rel := math.Abs(float64(r.P99-slow[9])) / float64(slow[9]); rel > QuantileError {
		t.Errorf("p99 %v, want %v", r.P99, slow[9])
	}
	if len(r.Slowest) != maxSlowest || r.Slowest[0].Duration != slow[19] || r.Slowest[4].Duration != slow[15] {
		t.Errorf("slowest %+v", r.Slowest)
	}
	if r.HistUS == nil || r.HistUS[4] != 980 {
		t.Errorf("kernel histogram %v", r.HistUS)
	}
}

// Without reclaim_stats only the events are known: all episodes in perf
// logs and without a threshold, the slow ones otherwise.
func TestEventsOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		info capture.Info
		all  bool
	}{
		{"perf", capture.Info{Format: capture.FormatPerf}, true},
		{"no threshold", recordLog(0), true},
		{"threshold", recordLog(time.Millisecond), false},
		{"trace output", capture.Info{Format: capture.FormatText}, false},
	} {
		a := New(Options{})
		e := reclaim(1, 3*time.Millisecond, "", 0)
		a.Add(&e)
		a.EndCapture(tc.info)
		if r := a.Report().Reclaim.All; r.AllEpisodes != tc.all || r.Count != 1 || r.P99 != 3*time.Millisecond {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}

func TestStallBeforeKill(t *testing.T) {
	a := New(Options{Window: 10 * time.Second})
	for _, e := range []event.Event{
		reclaim(0.5, time.Millisecond, "", 0), // before the first kill's window
		reclaim(5, 2*time.Millisecond, "", 0),
		reclaim(10.5, 4*time.Millisecond, "", 0),
		kill(11, event.ClassMemcg),
		reclaim(11.5, 8*time.Millisecond, "", 0),
		kill(30, event.ClassGlobal), // nothing in its window
		reclaim(41.2, 16*time.Millisecond, "", 0),
		kill(41, event.ClassMemcg), // seen after a later reclaim: not counted
	} {
		a.Add(&e)
	}
	a.EndCapture(recordLog(time.Millisecond))
	got := a.Report().Kills
	want := []StallSummary{{2, 6 * time.Millisecond}, {}, {}}
	for i, k := range got.List {
		if k.StallBefore != want[i] {
			t.Errorf("kill %d: stall %+v, want %+v", i, k.StallBefore, want[i])
		}
	}
	if got.Total != 3 || got.ByClass["memcg"] != 2 || got.ByClass["global"] != 1 {
		t.Errorf("kills %+v", got)
	}
}

func TestBounds(t *testing.T) {
	a := New(Options{KillsShown: 2})
	for i := range maxRows + 10 {
		e := reclaim(1, time.Millisecond, fmt.Sprintf("/c%d", i), uint64(i))
		a.Add(&e)
	}
	for i := range 3 {
		e := kill(float64(2+i), event.ClassMemcg)
		a.Add(&e)
	}
	for i := range maxLostList + 5 {
		e := ev(event.KindLost, 3)
		e.Lost = event.Lost{Count: 1, Total: uint64(i + 1)}
		a.Add(&e)
	}
	a.EndCapture(capture.Info{Format: capture.FormatPerf})
	rep := a.Report()
	rows := rep.Reclaim.ByCgroup
	var other *Row
	for i := range rows {
		if rows[i].Cgroup == OtherCgroups {
			other = &rows[i]
		}
	}
	if len(rows) != maxRows+1 || other == nil || other.Count != 10 || rep.Reclaim.All.Count != maxRows+10 {
		t.Errorf("%d rows, other %+v, all %d", len(rows), other, rep.Reclaim.All.Count)
	}
	if len(rep.Kills.List) != 2 || rep.Kills.Unlisted != 1 || rep.Kills.Total != 3 {
		t.Errorf("kills: %d listed, %d not, %d in all", len(rep.Kills.List), rep.Kills.Unlisted, rep.Kills.Total)
	}
	if len(rep.Lost.List) != maxLostList || rep.Lost.Unlisted != 5 || rep.Lost.Total != maxLostList+5 {
		t.Errorf("lost %+v", rep.Lost)
	}
}

// Runs the kernel skipped, per capture: from the lost events of a capture
// cut short, from the end line of one that stopped cleanly; only the lost
// events that lost records are listed as lost.
func TestSkippedRuns(t *testing.T) {
	a := New(Options{})
	first := ev(event.KindLost, 1)
	first.Lost = event.Lost{SkippedRuns: 2, SkippedRunsTotal: 2, SkippedByProgram: "direct_reclaim_end:2"}
	second := ev(event.KindLost, 2)
	second.Lost = event.Lost{Count: 1, Total: 1, SkippedRuns: 1, SkippedRunsTotal: 3, SkippedByProgram: "direct_reclaim_end:2,mark_victim:1"}
	a.Add(&first)
	a.Add(&second)
	a.EndCapture(capture.Info{Name: "cut.log", Format: capture.FormatText})
	a.EndCapture(capture.Info{Name: "clean.log", Format: capture.FormatText,
		End: &output.LogEnd{SkippedRuns: 4, SkippedByProgram: "process_exit:4\x1b[2J"}})
	rep := a.Report()
	if c := rep.Captures[0]; c.SkippedRuns != 3 || c.SkippedByProgram != "direct_reclaim_end:2,mark_victim:1" || c.Lost != 1 {
		t.Errorf("capture cut short: %+v", c)
	}
	if c := rep.Captures[1]; c.SkippedRuns != 4 || c.SkippedByProgram != `process_exit:4\x1b[2J` {
		t.Errorf("capture with its end line: %+v", c)
	}
	if rep.Lost.SkippedRuns != 7 || rep.Lost.Total != 1 || len(rep.Lost.List) != 1 || rep.Lost.List[0].Count != 1 {
		t.Errorf("lost %+v, want 7 runs skipped and the one event that lost a record", rep.Lost)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, rep, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"skipped runs: 7 (", "  cut.log  3 skipped  direct_reclaim_end:2,mark_victim:1\n", `  clean.log  4 skipped  process_exit:4\x1b[2J`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report without %q:\n%s", want, buf.String())
		}
	}
}

func TestKernelStringsEscaped(t *testing.T) {
	a := New(Options{})
	e := kill(1, event.ClassMemcg)
	e.OOMKill.OOMCgroup = event.Cgroup{Path: "/x\x1b[2J", ID: 3}
	a.Add(&e)
	a.EndCapture(capture.Info{Format: capture.FormatJSON})
	var buf bytes.Buffer
	if err := WriteText(&buf, a.Report(), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(buf.String(), "\x1b\r") || !strings.Contains(buf.String(), `app\x0a`) || !strings.Contains(buf.String(), `/x\x1b[2J`) {
		t.Errorf("report:\n%s", buf.String())
	}
}

// The report says what skipped runs may have left out, by the programs
// of every capture that has some.
func TestSkippedMayMiss(t *testing.T) {
	a := New(Options{})
	for i, c := range []struct {
		list  string
		total uint64
	}{{"process_exit:4", 4}, {"", 0}, {"mark_victim:1", 1}} {
		if c.total > 0 {
			e := ev(event.KindLost, float64(i+1))
			e.Lost = event.Lost{SkippedRuns: c.total, SkippedRunsTotal: c.total, SkippedByProgram: c.list}
			a.Add(&e)
		}
		a.EndCapture(capture.Info{Name: fmt.Sprintf("%d.log", i), Format: capture.FormatJSON})
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, a.Report(), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "skipped runs: 5 (the kernel did not run oomtrace's programs then: kills or signals and exits may be missing)\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, buf.String())
	}
}

// What a kernel log does not say is not written as zero: a victim named
// by its pid alone is shown by it, and a kill whose report lost its head
// names no trigger.
func TestKillFromKernelLog(t *testing.T) {
	a := New(Options{})
	e := kill(1, event.ClassMemcg)
	e.OOMKill.Victim.TGID = 0
	e.OOMKill.Victim.PID = 9467
	e.Missing = event.MissingVictimTGID | event.MissingTrigger | event.MissingKtime
	a.Add(&e)
	// A log whose time has no year (journalctl -k by default).
	noYear := kill(0, event.ClassMemcg)
	noYear.Missing = event.MissingKtime
	noYear.OOMKill.LogTime = "Dec 02 23:07:03"
	a.Add(&noYear)
	withTrigger := kill(2, event.ClassMemcg)
	withTrigger.OOMKill.Trigger = event.Task{PID: 87, Comm: "hog"}
	withTrigger.Missing = event.MissingTriggerTGID
	a.Add(&withTrigger)
	a.EndCapture(capture.Info{Format: capture.FormatSystemLog})
	rep := a.Report()
	var text, js bytes.Buffer
	if err := WriteText(&text, rep, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	// The first kill's log held no time: its time is left out, not boot+0.
	if !strings.Contains(text.String(), "  9467 app\\x0a  ") || strings.Contains(text.String(), " 0 app") ||
		!strings.Contains(text.String(), "\n  -        ") || strings.Contains(text.String(), "boot+0.000000s") ||
		!strings.Contains(text.String(), "boot+2.000000s") || !strings.Contains(text.String(), "\n  Dec 02 23:07:03 (as logged)  memcg") {
		t.Errorf("text report:\n%s", text.String())
	}
	var doc struct {
		Kills struct {
			List []struct {
				Victim  map[string]any
				Trigger map[string]any
				KtimeNS *uint64 `json:"ktime_ns"`
			}
		}
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Kills.List) != 3 || !strings.Contains(js.String(), `"log_time": "Dec 02 23:07:03"`) {
		t.Fatalf("JSON report: %v\n%s", err, js.String())
	}
	first, second := doc.Kills.List[0], doc.Kills.List[2]
	if first.KtimeNS != nil || second.KtimeNS == nil || *second.KtimeNS != 2e9 {
		t.Errorf("ktime_ns: %v and %v, want none and 2000000000", first.KtimeNS, second.KtimeNS)
	}
	if _, has := first.Victim["tgid"]; has || first.Victim["pid"] != 9467.0 || first.Trigger != nil {
		t.Errorf("first kill: victim %v, trigger %v; want pid 9467, no tgid, no trigger", first.Victim, first.Trigger)
	}
	if _, has := second.Trigger["tgid"]; has || second.Trigger["pid"] != 87.0 || second.Trigger["comm"] != "hog" {
		t.Errorf("second kill: trigger %v; want pid 87 (hog), no tgid", second.Trigger)
	}
}

// A name with spaces in it stays one column of the text tables: a cgroup
// named like the columns after it does not forge them.
func TestNamesStayOneColumn(t *testing.T) {
	a := New(Options{})
	e := kill(1, event.ClassMemcg)
	e.OOMKill.Victim.Comm = "a  b"
	e.OOMKill.OOMCgroup = event.Cgroup{Path: "/t  global  999 root   0.1MiB  -1000", ID: 3}
	a.Add(&e)
	exit := ev(event.KindExit, 2)
	exit.Task = event.Task{PID: 12, TGID: 12, Comm: "c  d"}
	exit.Exit = event.Exit{Cgroup: event.Cgroup{Path: "/u  SIGKILL  oom_kill", ID: 4}, ExitCode: 9, Cause: event.CauseSignal}
	a.Add(&exit)
	a.EndCapture(capture.Info{Format: capture.FormatJSON})
	var buf bytes.Buffer
	if err := WriteText(&buf, a.Report(), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	for _, line := range lines {
		if !strings.Contains(line, "/t") {
			continue
		}
		fields := strings.Fields(line)
		// time since boot, class, pid, comm, cgroup, rss, adj, stall
		if len(fields) != 8 || fields[3] != `a\x20\x20b` || fields[4] != `/t\x20\x20global\x20\x20999\x20root\x20\x20\x200.1MiB\x20\x20-1000` {
			t.Errorf("kill row %q: fields %q", line, fields)
		}
	}
	deaths := 0
	for _, line := range lines {
		if !strings.Contains(line, "/u") {
			continue
		}
		deaths++
		// time since boot, pid, comm, owner, then the signal
		if fields := strings.Fields(line); len(fields) < 5 || fields[2] != `c\x20\x20d` || fields[3] != `/u\x20\x20SIGKILL\x20\x20oom_kill` {
			t.Errorf("death row %q: fields %q", line, fields)
		}
	}
	if deaths != 1 {
		t.Errorf("%d death rows:\n%s", deaths, buf.String())
	}
}

// The reports of the committed captures: a recording made with oomtrace
// record on the development machine, and perf script output from it.
func TestGolden(t *testing.T) {
	for _, tc := range []struct{ golden, input string }{
		{"record", filepath.Join("capture", "memcg-oom.log")},
		{"perf", filepath.Join("perfscript", "memcg-oom.txt")},
		{"both", ""},
		{"deaths", filepath.Join("capture", "deaths.log")},
	} {
		inputs := []string{filepath.Join("..", "..", "testdata", tc.input)}
		if tc.input == "" {
			inputs = []string{filepath.Join("..", "..", "testdata", "capture", "memcg-oom.log"), filepath.Join("..", "..", "testdata", "perfscript", "lost.txt")}
		}
		// As oomtrace report reads them: with timelines for text only.
		read := func(timeline bool) *Report {
			rep, err := ReadFiles(inputs, Options{Timeline: timeline}, pipeline.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range rep.Captures {
				rep.Captures[i].File = filepath.Base(rep.Captures[i].File)
			}
			return rep
		}
		var text, js bytes.Buffer
		if err := WriteText(&text, read(true), TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&js, read(false)); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, tc.golden+".txt", text.Bytes())
		checkGolden(t, tc.golden+".json", js.Bytes())
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "report", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden file (go test -update rewrites it):\n%s", name, got)
	}
}

// writeSyntheticLog writes a log of n events like a busy host's: reclaim
// in 50 cgroups, periodic reclaim_stats, a kill every 10000 events.
func writeSyntheticLog(w io.Writer, n int, format output.Format) error {
	rng := rand.New(rand.NewPCG(3, 4))
	start := output.LogStart{Host: "loadtest-1", Kernel: "6.18", Mode: event.ModeTracepoint, Start: time.Unix(1.7e9, 0).UTC(),
		StartKtimeNS: 1e12, ReclaimMin: time.Microsecond}
	buf := output.AppendLogStart(nil, &start, format)
	opts := output.Options{Format: format}
	append1 := func(e *event.Event) {
		if format == output.JSON {
			buf = output.AppendJSON(buf, e, opts)
		} else {
			buf = output.AppendText(buf, e, opts)
		}
	}
	for i := range n {
		ktime := 1e12 + uint64(i)*1e5
		var e event.Event
		switch {
		case i%10000 == 9999:
			e = kill(0, event.ClassMemcg)
			e.OOMKill.Victim.Comm = "worker"
			e.OOMKill.OOMCgroup = event.Cgroup{Path: "/kubepods/pod7", ID: 7, UsageBytes: 1 << 30, LimitBytes: 1 << 30}
		case i%1000 == 999:
			e = ev(event.KindReclaimStats, 0)
			e.ReclaimStats = event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: event.Cgroup{Path: "/kubepods/pod7", ID: 7},
				Interval: 10 * time.Second, Count: 1000, Total: 50 * time.Millisecond, Max: time.Millisecond}
			e.ReclaimStats.Buckets[5] = 1000
		default:
			cg := rng.IntN(50)
			e = reclaim(0, time.Duration(20e3*math.Exp(rng.NormFloat64())), fmt.Sprintf("/kubepods/pod%d", cg), uint64(cg))
			e.Reclaim.Cgroup.UsageBytes, e.Reclaim.Cgroup.LimitBytes = 1<<29, 1<<30
		}
		e.KtimeNS = ktime
		e.Time = time.Unix(0, int64(ktime))
		append1(&e)
		if len(buf) > 1<<20 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	end := output.LogEnd{End: start.Start.Add(time.Duration(n) * 1e5), Events: uint64(n)}
	buf = output.AppendLogEnd(buf, &end, format)
	_, err := w.Write(buf)
	return err
}

func syntheticLog(tb testing.TB, n int, format output.Format) string {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "big."+format.String())
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := writeSyntheticLog(f, n, format); err != nil {
		tb.Fatal(err)
	}
	return name
}

// peakHeap runs fn and returns the most heap in use meanwhile, sampled
// every 5 ms without stopping the world.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			metrics.Read(samples)
			if inUse := samples[0].Value.Uint64() + samples[1].Value.Uint64(); inUse > peak.Load() {
				peak.Store(inUse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// Reading streams: what a report keeps does not grow with the events.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a log of 200000 events")
	}
	name := syntheticLog(t, 200000, output.Text)
	var rep *Report
	peak := peakHeap(func() {
		var err error
		if rep, err = ReadFiles([]string{name}, Options{Timeline: true}, pipeline.Options{}); err != nil {
			t.Error(err)
		}
	})
	if rep == nil || rep.Kills.Total != 20 || rep.Captures[0].Events != 200000 {
		t.Fatalf("report of the synthetic log: %+v", rep)
	}
	if tl := rep.Timelines[0]; len(tl.Lanes) != 50 || tl.Buckets > timelineBuckets || tl.Lanes[0].Kills != 20 {
		t.Errorf("timeline of the synthetic log: %d lanes, %d buckets, %d kills in the first", len(tl.Lanes), tl.Buckets, tl.Lanes[0].Kills)
	}
	if peak > 32<<20 {
		t.Errorf("reading 200000 events took a heap of %d MiB", peak>>20)
	}
}

// BenchmarkReport1M reads a log of a million events: go test -bench
// Report1M -benchtime 1x ./internal/report.
func BenchmarkReport1M(b *testing.B) {
	for _, format := range []output.Format{output.Text, output.JSON} {
		b.Run(format.String(), func(b *testing.B) {
			name := syntheticLog(b, 1_000_000, format)
			info, err := os.Stat(name)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(info.Size())
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					if _, err := ReadFiles([]string{name}, Options{}, pipeline.Options{}); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// Kills and reclaim are grouped by pod and container as well as by
// cgroup, and the filter selects by them.
func TestOwners(t *testing.T) {
	api := event.Owner{PodUID: "uid-1", PodName: "api-7d9", Namespace: "shop", Name: "api", ID: strings.Repeat("a", 64), Level: event.LevelContainer}
	apiPod := event.Owner{PodUID: "uid-1", PodName: "api-7d9", Namespace: "shop", Level: event.LevelPod}
	batch := event.Owner{PodUID: "uid-2", ID: strings.Repeat("b", 64), Level: event.LevelContainer} // no names found
	nginx := event.Owner{Unit: "nginx.service"}

	events := func() []event.Event {
		var evs []event.Event
		for i, tc := range []struct {
			victim, oom event.Owner
			path        string
		}{
			{api, apiPod, "/kubepods/pod1/a"},
			{api, api, "/kubepods/pod1/a"},
			{batch, batch, "/kubepods/pod2/b"},
			{nginx, nginx, "/system.slice/nginx.service"},
			{event.Owner{}, event.Owner{}, "/plain"},
		} {
			k := kill(float64(i+1), event.ClassMemcg)
			k.OOMKill.Victim.Cgroup = event.Cgroup{Path: tc.path, ID: uint64(i + 10), Owner: tc.victim}
			k.OOMKill.OOMCgroup = event.Cgroup{Path: tc.path, ID: uint64(i + 10), Owner: tc.oom}
			k.OOMKill.Why = "why " + tc.path
			evs = append(evs, k)
		}
		for i, c := range []struct {
			info event.Owner
			path string
			d    time.Duration
		}{
			{api, "/kubepods/pod1/a", 3 * time.Millisecond},
			{apiPod, "/kubepods/pod1", 5 * time.Millisecond},
			{nginx, "/system.slice/nginx.service", 2 * time.Millisecond},
			{event.Owner{}, "/plain", time.Millisecond},
		} {
			r := reclaim(0.5, c.d, c.path, uint64(i+20))
			r.Reclaim.Cgroup.Owner = c.info
			evs = append(evs, r)
		}
		return evs
	}

	a := New(Options{})
	for _, e := range events() {
		a.Add(&e)
	}
	a.EndCapture(recordLog(time.Millisecond))
	rep := a.Report()

	wantKills := []OwnerKills{
		{Owner{Pod: "shop/api-7d9", Container: "api"}, 2},
		{Owner{Unit: "nginx.service"}, 1},
		{Owner{Pod: "uid-2", Container: strings.Repeat("b", 12)}, 1},
	}
	if !slices.Equal(rep.Kills.ByOwner, wantKills) {
		t.Errorf("kills by owner:\n got %+v\nwant %+v", rep.Kills.ByOwner, wantKills)
	}
	if k := rep.Kills.List[0]; k.Owner != wantKills[0].Owner || k.OOMLevel != "pod" || k.Why != "why /kubepods/pod1/a" {
		t.Errorf("first kill: owner %+v level %q why %q", k.Owner, k.OOMLevel, k.Why)
	}
	var owners []string
	for _, r := range rep.Reclaim.ByOwner {
		owners = append(owners, fmt.Sprintf("%s %s/%s/%s %s", r.Kind, r.Owner.Pod, r.Owner.Container, r.Owner.Unit, FormatDuration(r.Total)))
	}
	wantOwners := []string{"memcg shop/api-7d9//" + " 5ms", "memcg shop/api-7d9/api/ 3ms", "memcg //nginx.service 2ms"}
	if !slices.Equal(owners, wantOwners) {
		t.Errorf("reclaim by owner:\n got %q\nwant %q", owners, wantOwners)
	}

	var text strings.Builder
	if err := WriteText(&text, rep, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kills by pod and container", "reclaim by kind, pod and container", "why /kubepods/pod1/a"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}

	// Only what belongs to pod api-7d9.
	f := New(Options{})
	pipe := pipeline.Of([]pipeline.Stage{filter.NewStage(filter.Filter{Pods: []string{"shop/api-7d9"}})}, f)
	for _, e := range events() {
		if err := pipe.Process(&e); err != nil {
			t.Fatal(err)
		}
	}
	f.EndCapture(recordLog(time.Millisecond))
	if r := f.Report(); r.Kills.Total != 2 || r.Reclaim.All.Count != 2 {
		t.Errorf("filtered to pod api-7d9: %d kills, %d reclaim episodes; want 2 and 2", r.Kills.Total, r.Reclaim.All.Count)
	}
}

// Warnings past those a reader keeps are counted in the report, not lost.
func TestMoreWarnings(t *testing.T) {
	a := New(Options{})
	a.EndCapture(capture.Info{Name: "k.log", Format: capture.FormatSystemLog, Warnings: []string{"k.log:3: a warning"}, MoreWarnings: 50})
	var js bytes.Buffer
	if err := WriteJSON(&js, a.Report()); err != nil {
		t.Fatal(err)
	}
	if c := a.Report().Captures[0]; c.MoreWarnings != 50 || !strings.Contains(js.String(), `"more_warnings": 50`) {
		t.Errorf("capture %+v, JSON:\n%s", c, js.String())
	}
}
