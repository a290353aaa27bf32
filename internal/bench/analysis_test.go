package bench

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/report"
)

func TestDeltas(t *testing.T) {
	before := progStats{1: {Label: "memcg_reclaim_begin", Runs: 10, Runtime: 1000}, 2: {Label: "mark_victim", Runs: 1, Runtime: 50}}
	after := progStats{1: {Label: "memcg_reclaim_begin", Runs: 110, Runtime: 41000, Misses: 2}, 2: {Label: "mark_victim", Runs: 1, Runtime: 50},
		3: {Label: "memcg_reclaim_end", Runs: 100, Runtime: 90000}} // loaded in between: counted from zero
	d := deltas(before, after)
	if got := d["memcg_reclaim_begin"]; got.Runs != 100 || got.Runtime != 40000 || got.Misses != 2 || got.nsPerRun() != 400 {
		t.Errorf("begin delta = %+v", got)
	}
	if got := d["mark_victim"]; got.Runs != 0 || !math.IsNaN(got.nsPerRun()) {
		t.Errorf("a program that did not run: %+v, %v ns per run", got, got.nsPerRun())
	}
	if got := d["memcg_reclaim_end"]; got.Runs != 100 {
		t.Errorf("new program delta = %+v", got)
	}
}

func TestEpisodeCost(t *testing.T) {
	progs := map[string]progDelta{
		"memcg_reclaim_begin": {Runs: 100, Runtime: 30000},
		"memcg_reclaim_end":   {Runs: 100, Runtime: 80000},
		"mark_victim":         {Runs: 1, Runtime: 40000}, // not reclaim
	}
	if got := episodeCost(progs); got != 1100 {
		t.Errorf("oomtrace episode cost = %v, want 1100", got)
	}
	bpftrace := map[string]progDelta{
		"mm_vmscan_memcg_reclaim_begin": {Runs: 10, Runtime: 3000},
		"mm_vmscan_memcg_reclaim_end":   {Runs: 10, Runtime: 9000},
	}
	if got := episodeCost(bpftrace); got != 1200 {
		t.Errorf("bpftrace episode cost = %v, want 1200", got)
	}
	if !math.IsNaN(episodeCost(map[string]progDelta{"mark_victim": {Runs: 1}})) {
		t.Error("cost per episode without episodes")
	}
}

// stepTrial is a storm with one reclaim step, which took runtime ns for
// 1000 runs.
func stepTrial(step string, runtime time.Duration) stormTrial {
	trial := stormTrialOf(toolReclaimStep, true, 0, 1000, map[string]progDelta{step: {Runs: 1000, Runtime: runtime}})
	trial.cfg.step = step
	return trial
}

// stormTrialOf is a 1-second storm of pps pages in which the workers spent
// a CPU-second and the tool, if any, 0.3 s.
func stormTrialOf(t tool, stats bool, round int, pps float64, progs map[string]progDelta) stormTrial {
	trial := stormTrial{cfg: stormConfig{tool: t, stats: stats}, round: round,
		storm: stormResult{Pages: uint64(math.Round(pps)), PagesPerSec: pps, CPU: time.Second}, progs: progs,
		peakRSS: uint64(30+round) << 20}
	if t != toolNone {
		trial.cpu = 300 * time.Millisecond
	}
	return trial
}

func TestThroughputPairsRounds(t *testing.T) {
	s := &stormResults{duration: 3 * time.Second, rounds: 2, trials: []stormTrial{
		stormTrialOf(toolNone, false, 0, 1000, nil),
		stormTrialOf(toolOomtrace, false, 0, 990, nil),
		stormTrialOf(toolOomtrace, true, 0, 500, nil), // with statistics: not a throughput figure
		stormTrialOf(toolNone, false, 1, 2000, nil),
		stormTrialOf(toolOomtrace, false, 1, 1900, nil),
	}}
	rows := s.throughput()
	var ours throughputRow
	for _, r := range rows {
		if r.tool == toolOomtrace {
			ours = r
		}
	}
	if len(ours.pagesPerSec) != 2 || ours.pagesPerSec.median() != 1445 {
		t.Errorf("oomtrace throughput %v, want the two trials without statistics", ours.pagesPerSec)
	}
	// Each round against its own untraced run: 0.99 and 0.95.
	if got := ours.vsNone.median(); math.Abs(got-0.97) > 1e-9 {
		t.Errorf("per-round ratio median = %v, want 0.97", got)
	}
	if got := ours.cpuShare.median(); math.Abs(got-0.1) > 1e-9 {
		t.Errorf("CPU share = %v, want 0.1", got)
	}
	// Per CPU-second: the tool's 0.3 s comes on top of the workers' second,
	// and the untraced runs have no tool.
	if got := ours.cpuVsNone.median(); math.Abs(got-0.97/1.3) > 1e-9 {
		t.Errorf("per-CPU ratio median = %v, want %v", got, 0.97/1.3)
	}
	if ours.peakRSS != 31<<20 {
		t.Errorf("peak RSS = %v, want the larger", ours.peakRSS)
	}
}

// checkVerdict wants tg, the target of the case named name, to have the
// verdict want and a why holding why; and a why that says the rounds do
// not decide the target exactly when it is undecided.
func checkVerdict(t *testing.T, name string, tg target, want verdict, why string) {
	t.Helper()
	if tg.verdict != want {
		t.Errorf("%s: verdict %s, want %s (%s)", name, tg.verdict, want, tg.measured)
	}
	if !strings.Contains(tg.why, why) {
		t.Errorf("%s: why lacks %q:\n%s", name, why, tg.why)
	}
	if (tg.verdict == undecided) != strings.Contains(tg.why, "do not decide") {
		t.Errorf("%s: %s, but why says %q", name, tg.verdict, tg.why)
	}
}

func TestThroughputVerdict(t *testing.T) {
	// stormOf is a storm of untraced and oomtrace rounds whose ratios per
	// CPU-second are ratios (oomtrace's trials spend 0.3 s of their own).
	// The first 15 are the rounds every run has; the rest, if any, are
	// the deciding pairs that ran after them.
	stormOf := func(ratios ...float64) *Results {
		s := &stormResults{duration: time.Second, rounds: 5, pairs: 10, decidingPairs: 160}
		for round, r := range ratios {
			s.trials = append(s.trials, stormTrialOf(toolNone, false, round, 10000, nil), stormTrialOf(toolOomtrace, false, round, 10000*1.3*r, nil))
		}
		return &Results{storm: s}
	}
	// Over the 95% interval of 15 rounds, the fourth to the twelfth value,
	// but not over the 99% one of the first look, the third to the
	// thirteenth.
	nearTarget := []float64{0.96, 0.97, 0.975, 0.985, 0.99, 0.99, 1, 1, 1.01, 1.01, 1.02, 1.02, 1.03, 1.04, 1.05}
	for _, c := range []struct {
		name   string
		ratios []float64
		want   verdict
		why    string
	}{
		{"every round but the two lowest over", []float64{0.96, 0.97, 0.98, 0.985, 0.99, 0.99, 1, 1, 1.01, 1.01, 1.02, 1.02, 1.03, 1.04, 1.05}, met, ""},
		{"the first look asks 99%", nearTarget, undecided,
			"The first 15 rounds left the throughput target undecided (their median's interval at 99% confidence)"},
		// 20 rounds at 96%: the fifth to the sixteenth value (at 99%, the
		// fourth to the seventeenth).
		{"the second look asks 96%", append(slices.Clone(nearTarget), 0.97, 1.05, 1.06, 1.07, 1.08), met, ""},
		{"the second look, still undecided", append(slices.Clone(nearTarget), 0.95, 0.95, 0.96, 0.96, 0.97), undecided,
			"The first 15 rounds left the throughput target undecided, so 5 more pairs ran, and its verdict is that of all 20 rounds, their median's interval at 99% confidence. These rounds do not decide it. The median of the 20 per-round ratios is 99.0%"},
		{"median over, rounds far apart", []float64{0.90, 0.92, 0.93, 0.95, 0.96, 0.98, 0.99, 0.995, 1, 1.01, 1.02, 1.03, 1.04, 1.06, 1.08}, undecided,
			"These rounds do not decide it. The median of the 15 per-round ratios is 99.5%, but rounds this far apart place " +
				"the median of the storm's true ratio only between 93.0% and 104.0% (a 99% confidence interval"},
		{"every round but the two highest under", []float64{0.90, 0.92, 0.93, 0.94, 0.95, 0.96, 0.96, 0.97, 0.97, 0.97, 0.97, 0.975, 0.975, 1.02, 1.03}, missed,
			"The first 15 rounds decided the throughput target (their median's interval at 99% confidence)."},
	} {
		checkVerdict(t, c.name, throughputTarget(stormOf(c.ratios...)), c.want, c.why)
	}
	// Asked for no second look, the first's undecided verdict stands.
	r := stormOf(nearTarget...)
	r.storm.decidingPairs = 0
	if why := throughputTarget(r).why; !strings.Contains(why, "no more pairs were asked for (`-deciding-pairs 0`)") {
		t.Errorf("why does not say no deciding pairs were asked for: %s", why)
	}
	// The account of oomtrace's own work, from a round with statistics:
	// 0.1 s in its programs and 0.3 s in its process, of 1.3 s.
	r = stormOf(1)
	r.storm.trials = append(r.storm.trials, stormTrialOf(toolOomtrace, true, 0, 1000, map[string]progDelta{
		"memcg_reclaim_end": {Label: "memcg_reclaim_end", Runs: 1000, Runtime: 60 * time.Millisecond},
		"mark_victim":       {Label: "mark_victim", Runs: 1, Runtime: 40 * time.Millisecond},
	}))
	if why := throughputTarget(r).why; !strings.Contains(why, "took 30.8% of the CPU time spent on the storm (rounds 30.8% – 30.8%): by that account alone the storm keeps 69.2%") {
		t.Errorf("why does not account for oomtrace's own work: %s", why)
	}
	// The interval's side towards the target, 93% to the median of 99.5%,
	// is 6.5 points, and the median 1.5 points from the target: the side
	// shrinks to 1.5 points in 15 × (6.5 / 1.5)² rounds.
	if why := throughputTarget(stormOf(0.90, 0.92, 0.93, 0.95, 0.96, 0.98, 0.99, 0.995, 1, 1.01, 1.02, 1.03, 1.04, 1.06, 1.08)).why; !strings.Contains(why, "Were the median to stay at 99.5%, the interval would leave the target out after about 282 rounds") {
		t.Errorf("why does not say how many rounds would decide it: %s", why)
	}
	// Under the target, the side above the median faces it: 97% to 102%
	// is 5 points, the median 1 point under: 15 × 5² rounds.
	if why := throughputTarget(stormOf(0.90, 0.92, 0.94, 0.95, 0.96, 0.96, 0.97, 0.97, 0.97, 0.98, 0.99, 1, 1.02, 1.03, 1.05)).why; !strings.Contains(why, "Were the median to stay at 97.0%, the interval would leave the target out after about 375 rounds") {
		t.Errorf("why does not say how many rounds would decide a median under the target: %s", why)
	}
	// A median half a point from the target, 5.5 points from the
	// interval's lower end: 15 × 11² rounds, written as counts are.
	if why := throughputTarget(stormOf(0.90, 0.92, 0.93, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 1, 1.01, 1.02, 1.03, 1.04, 1.05)).why; !strings.Contains(why, "Were the median to stay at 98.5%, the interval would leave the target out after about 1,815 rounds") {
		t.Errorf("why does not write a large count of rounds with separators: %s", why)
	}
	// A median on the target: no number of rounds decides it.
	if why := throughputTarget(stormOf(0.90, 0.92, 0.93, 0.95, 0.96, 0.97, 0.975, 0.98, 0.99, 1, 1.01, 1.02, 1.03, 1.04, 1.05)).why; !strings.Contains(why, "The median is the target itself") {
		t.Errorf("why does not say a median on the target cannot be decided: %s", why)
	}
}

func TestLossRows(t *testing.T) {
	l := &lossResults{levels: []int{1, 2}, ramp: []lossTrial{
		{workers: 1, duration: time.Second, tally: tallyCounts{reclaims: 10000, episodes: 10000}, cpu: 50 * time.Millisecond},
		{workers: 2, duration: time.Second, tally: tallyCounts{reclaims: 15000, episodes: 20000}, exit: tracerExit{Lost: 5000}},
		{workers: 2, duration: time.Second, tally: tallyCounts{reclaims: 18000, episodes: 18001}},
	}}
	rows := l.rampRows()
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	if r := rows[0]; r.balanced != 1 || r.cpuPerEvent.median() != 5000 || r.eventsPerSec.median() != 10000 {
		t.Errorf("1 worker: %+v", r)
	}
	if r := rows[1]; r.balanced != 1 || r.trials != 2 || r.lost != 5000 {
		t.Errorf("2 workers: %+v (one trial balances, one is off by one)", r)
	}
	rate, anyLost := l.maxLossless()
	if rate != 18000 || !anyLost {
		t.Errorf("maxLossless = %v, %v; want 18000 from the trial that lost nothing", rate, anyLost)
	}
}

func TestBurstTolerance(t *testing.T) {
	// The stalls drain a ring buffer four times the default at 100k/s:
	// the default's 37,449 records (112 bytes each with the kernel's
	// header) take a burst at 200k/s 374 ms to fill.
	l := &lossResults{defaultRingBytes: 4 << 20, stallRingBytes: 16 << 20,
		stalls: []*stallTrial{{held: 50000, drain: 500 * time.Millisecond}}}
	if got := ringCapacity(l.defaultRingBytes); got != 37449 {
		t.Errorf("4 MiB holds %d reclaim records, want 37,449", got)
	}
	if got := burstTolerance(l); got != "374 ms" {
		t.Errorf("burst at 200k/s with 100k/s drained and 37,449 held = %q, want 374 ms", got)
	}
	l.stalls[0].drain = 100 * time.Millisecond // 500k/s
	if got := burstTolerance(l); !strings.HasPrefix(got, "any length") {
		t.Errorf("draining faster than the target: %q", got)
	}
	if got := (&lossResults{}).drainRate().median(); !math.IsNaN(got) {
		t.Errorf("drain rate without a stall = %v", got)
	}
	if got := burstTolerance(&lossResults{}); got != "an unknown length" {
		t.Errorf("burst without a stall = %q", got)
	}
}

// The stalls' larger ring buffer is said where it matters, and its
// mapped pages do not count against the RSS target, which is about the
// default; with the default, the stalls count as every other trial.
func TestStallRingBuffer(t *testing.T) {
	l := &lossResults{defaultRingBytes: 4 << 20, stallRingBytes: 32 << 20,
		ramp:   []lossTrial{{peakRSS: 30 << 20}},
		stalls: []*stallTrial{{lossTrial: lossTrial{peakRSS: 62 << 20}}}}
	if got, want := stallRingText(l), " Its ring buffer is 32 MiB, eight times the default 4 MiB,"; !strings.HasPrefix(got, want) {
		t.Errorf("§3 says %q, want it to start %q", got, want)
	}
	got := rssTarget(&Results{loss: l})
	if want := "30.0 MiB (31.5 MB), the largest VmHWM of any storm trial or loss trial with the default ring buffer; 62.0 MiB in the stalls, whose 32 MiB ring buffer"; got.verdict != met || !strings.HasPrefix(got.measured, want) {
		t.Errorf("RSS target %+v, want met, %q", got, want)
	}
	l.stallRingBytes = l.defaultRingBytes
	if got := stallRingText(l); got != "" {
		t.Errorf("stalls with the default ring buffer, §3 says %q", got)
	}
	if got := rssTarget(&Results{loss: l}); got.verdict != missed || !strings.HasPrefix(got.measured, "62.0 MiB") {
		t.Errorf("RSS target with the stalls counted: %+v", got)
	}
	if got := timesText(48, 32); got != "1.5 times" {
		t.Errorf("48 of 32 is %q", got)
	}
}

func TestLatencyReaders(t *testing.T) {
	l := &latencyResults{
		conditions: []latencyCondition{{name: "idle host"}},
		variants:   []oomtraceVariant{{"oomtrace", nil}},
		kills: map[string][]latencyKill{"idle host": {
			{oomtrace: []time.Duration{time.Millisecond}, kmsgAgent: 2 * time.Millisecond, kmsgDirect: 500 * time.Microsecond, floor: 2 * time.Millisecond},
			{oomtrace: []time.Duration{3 * time.Millisecond}, kmsgAgent: 2 * time.Millisecond, kmsgDirect: time.Millisecond, floor: 400 * time.Microsecond},
		}},
	}
	readers := l.readers("idle host")
	if len(readers) != 4 || readers[0].name != "oomtrace" || readers[3].name != floorReaderName {
		t.Fatalf("readers = %+v", readers)
	}
	if got := readers[0].latencies.median(); got != 2e6 {
		t.Errorf("oomtrace median = %v ns, want 2e6", got)
	}
	if readers[1].aheadOfFirst != 1 || readers[2].aheadOfFirst != 2 || readers[3].aheadOfFirst != 1 {
		t.Errorf("kills read before oomtrace: agent %d (want 1), direct %d (want 2), floor %d (want 1)",
			readers[1].aheadOfFirst, readers[2].aheadOfFirst, readers[3].aheadOfFirst)
	}
	if got := readers[3].latencies.median(); got != 1.2e6 {
		t.Errorf("floor median = %v ns, want 1.2e6", got)
	}
}

// Where oomtrace read the kills alone, it is the only reader of the block;
// the block is judged against the idle host's limit, and a block with the
// console quiet, which changes a host setting, is shown but not judged.
func TestLatencyAlone(t *testing.T) {
	ms := time.Millisecond
	kill := func(written, read time.Duration) latencyKill {
		return latencyKill{oomtrace: []time.Duration{read, read}, kmsgAgent: 9 * ms, kmsgDirect: 9 * ms, floor: 9 * ms, haveSteps: true,
			steps: killSteps{decode: written / 2, attribute: written / 2, explain: written / 2, write: written}}
	}
	l := &latencyResults{
		conditions: []latencyCondition{{name: "idle host"}, {name: "quiet", quietConsole: true}, {name: "alone", alone: true},
			{name: "alone quiet", alone: true, quietConsole: true}},
		variants: []oomtraceVariant{{"oomtrace", nil}, {"oomtrace --no-snapshot", []string{"--no-snapshot"}}},
		kills: map[string][]latencyKill{
			"idle host":   {kill(3*ms, 5*ms), kill(4*ms, 6*ms)},
			"quiet":       {kill(ms, 2*ms), kill(ms, 3*ms)},
			"alone":       {kill(ms/2, 700*time.Microsecond), kill(ms/2, 900*time.Microsecond)},
			"alone quiet": {kill(ms/4, ms/2)},
		},
	}
	if r := l.readers("alone"); len(r) != 1 || r[0].name != "oomtrace" || r[0].latencies.median() != 0.8e6 {
		t.Errorf("readers of the alone block: %+v, want the first oomtrace only", r)
	}
	if r := l.readers("idle host"); len(r) != 5 {
		t.Errorf("readers of the idle host: %d, want all 5", len(r))
	}
	if q, ok := l.quietCondition(); !ok || q.name != "quiet" {
		t.Errorf("quietCondition = %+v, %v; want the block with every reader", q, ok)
	}
	why := aloneWhy(l)
	for _, want := range []string{
		"it wrote the line after p50 500 µs, p99 500 µs, against p50 3.50 ms, p99 4.00 ms with every reader running",
		"the harness read it after p50 800 µs, p99 900 µs, against p50 5.50 ms, p99 6.00 ms",
		"Much of the idle host's figure is the other readers'",
	} {
		if !strings.Contains(why, want) {
			t.Errorf("reason lacks %q:\n%s", want, why)
		}
	}

	r := &Results{latency: l}
	target := latencyTarget(r)
	if !strings.Contains(target.measured, "alone: 900 µs") || !strings.Contains(target.measured, "quiet: 3.00 ms") || target.verdict != verdictOf(false) {
		t.Errorf("target: %+v", target)
	}
	if want := "idle host: p50 9.00 ms, p99 9.00 ms; quiet: p50 9.00 ms, p99 9.00 ms: that part is the kernel's wakeup, the scheduler and the harness, and no tracer beats it"; !strings.Contains(target.why, want) {
		t.Errorf("why with the floor over the limit lacks %q:\n%s", want, target.why)
	}
	// Where the trivial reader met the limit, the floor is no reason for
	// oomtrace's miss. The quiet block is not judged, and not named.
	idle := l.kills["idle host"]
	l.kills["idle host"] = []latencyKill{kill(3*ms, 5*ms), kill(4*ms, 6*ms)}
	for i := range l.kills["idle host"] {
		l.kills["idle host"][i].floor = 800 * time.Microsecond
	}
	l.kills["quiet"][0].floor, l.kills["quiet"][1].floor = ms/2, ms/2
	target = latencyTarget(r)
	if want := ". The trivial reader met the limit where oomtrace did not (idle host): there the rest of oomtrace's figure is its own time"; target.verdict != verdictOf(false) ||
		!strings.Contains(target.why, want) || strings.Contains(target.why, "no tracer beats it") {
		t.Errorf("why with the floor under the limit lacks %q:\n%s", want, target.why)
	}
	l.kills["idle host"] = idle
	// Met once every judged block is under its limit, though the quiet
	// block is not.
	l.kills["idle host"] = []latencyKill{kill(ms/2, 900*time.Microsecond)}
	if target := latencyTarget(r); target.verdict != verdictOf(true) {
		t.Errorf("every judged block under 1 ms, the quiet one over: %+v", target)
	}
	l.kills["alone"] = []latencyKill{kill(ms, 1100*time.Microsecond)}
	if target := latencyTarget(r); target.verdict != verdictOf(false) {
		t.Errorf("the alone block over 1 ms: %+v", target)
	}
}

// The synthetic capture is one oomtrace report reads whole, in both formats.
func TestSyntheticCaptureReads(t *testing.T) {
	for _, format := range []output.Format{output.Text, output.JSON} {
		name := filepath.Join(t.TempDir(), "capture")
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := syntheticCapture(f, 20_000, format); err != nil {
			t.Fatal(err)
		}
		f.Close()
		rep, err := report.ReadFiles([]string{name}, report.Options{}, pipeline.Options{})
		if err != nil {
			t.Fatalf("%v: %v", format, err)
		}
		if c := rep.Captures[0]; c.Events != 20_000 || len(c.Warnings) > 0 {
			t.Errorf("%v: %d events, warnings %v", format, c.Events, c.Warnings)
		}
		if rep.Kills.Total != 2 {
			t.Errorf("%v: %d kills, want 2", format, rep.Kills.Total)
		}
	}
}

func TestWriteMarkdownVerdicts(t *testing.T) {
	costly := map[string]progDelta{
		"memcg_reclaim_begin": {Label: "memcg_reclaim_begin", Runs: 1000, Runtime: 400_000},
		"memcg_reclaim_end":   {Label: "memcg_reclaim_end", Runs: 1000, Runtime: 200_000},
	}
	bt := map[string]progDelta{
		"mm_vmscan_memcg_reclaim_begin": {Runs: 1000, Runtime: 900_000},
		"mm_vmscan_memcg_reclaim_end":   {Runs: 1000, Runtime: 900_000},
	}
	empty := map[string]progDelta{
		"mm_vmscan_memcg_reclaim_begin": {Runs: 1000, Runtime: 70_000},
		"mm_vmscan_memcg_reclaim_end":   {Runs: 1000, Runtime: 60_000},
	}
	r := &Results{
		cfg:     DefaultConfig(),
		machine: machine{kernel: "6.18.44 x86_64", distro: "Debian GNU/Linux 12 (bookworm)", clocksource: "tsc"},
		started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), finished: time.Date(2026, 1, 2, 3, 14, 0, 0, time.UTC),
		storm: &stormResults{duration: time.Second, rounds: 1, decidingPairs: 160, spec: stormSpec{workers: 4, limitBytes: 16 << 20, fileBytes: 256 << 20}, trials: []stormTrial{
			stormTrialOf(toolNone, false, 0, 1000, nil),
			stormTrialOf(toolOomtrace, false, 0, 990, nil),
			stormTrialOf(toolOomtrace, true, 0, 990, costly),
			stormTrialOf(toolBpftrace, true, 0, 900, bt),
			stormTrialOf(toolEmpty, true, 0, 1000, empty),
			stepTrial("end_clock", 90_000), stepTrial("end_start", 140_000),
			stepTrial("end_cgroup", 180_000), stepTrial("end_histogram", 230_000),
		}},
		// The kernel-log reader was first once.
		latency: &latencyResults{
			conditions: []latencyCondition{{name: "idle host"}},
			variants:   []oomtraceVariant{{"oomtrace", nil}},
			kills: map[string][]latencyKill{"idle host": {
				{oomtrace: []time.Duration{3 * time.Millisecond}, kmsgAgent: 3100 * time.Microsecond, floor: 3200 * time.Microsecond},
				{oomtrace: []time.Duration{4 * time.Millisecond}, kmsgAgent: 3900 * time.Microsecond, floor: 3800 * time.Microsecond},
			}},
		},
		// The first start's programs are counted, the label breaking a tie.
		startup: &startupResults{rounds: 2, subjects: []startupSubject{{label: "oomtrace"}}, trials: []startupTrial{
			{subject: startupSubject{label: "oomtrace"}, startup: 250 * time.Millisecond, programs: progStats{
				1: {Label: "mark_victim", Verified: 60000}, 2: {Label: "signal_generate", Verified: 15000},
				3: {Label: "exit", Verified: 60000}, 4: {Label: "wake_reaper", Verified: 67},
			}},
			{subject: startupSubject{label: "oomtrace"}, startup: 150 * time.Millisecond, programs: progStats{
				1: {Label: "other", Verified: 1},
			}},
		}},
		goBench: &goBenchResults{benches: []goBench{
			{name: "Decode/oom_kill", nsPerOp: sample{98, 102, 104}, allocsPerOp: sample{0, 0, 0}},
			{name: "Decode/reclaim", nsPerOp: sample{40, 41, 42}, allocsPerOp: sample{0, 0, 0}},
		}},
		errs: map[string]error{"loss": errors.New("no storm")},
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"| each reclaim program ≤ 200 ns per run (median), against an empty program on the same tracepoint | memcg_reclaim_begin 400 ns (empty program 70 ns), memcg_reclaim_end 200 ns (empty program 60 ns) | **missed** |",
		"| reclaim episode (begin + end) ≤ 400 ns of kernel run time, and ≤ ½ of bpftrace's | 600 ns (the median's interval 600 ns – 600 ns), bpftrace 1.80 µs: 0.33×, the median of the per-round ratios (its interval 0.33× – 0.33×, 0% confidence over 1 rounds; rounds 0.33× – 0.33×) | **missed** |",
		"Per reclaim episode (begin and end together): oomtrace 600 ns, bpftrace 1.80 µs, ratio 0.33× (the median of the per-round ratios, which the target holds).",
		"The reclaim episode's target is looked at once, after those rounds: its verdict is the intervals, at 99% confidence or, over 1 rounds, the most they give (their range, 0%), of the medians",
		"The first 1 rounds with statistics decided the episode target (their medians' intervals at 0% confidence).",
		"| storm throughput with oomtrace ≥ 98% of untraced | 76.2% per CPU-second of the storm and the tracer (the median's interval 76.2% – 76.2%, 0% confidence over 1 rounds; rounds 76.2% – 76.2%); 99.0% by the wall clock (99.0% – 99.0%, 0% confidence over 1 rounds; rounds 99.0% – 99.0%) | **missed** |",
		"| kill line written p99 ≤ 1 ms after `oom:mark_victim` on an idle host, ≤ 2 ms with 1,000 processes in the cgroup | idle host: 4.00 ms | **missed** |",
		"The throughput target is looked at twice. After those rounds, its verdict is the interval of the median of oomtrace's per-round ratios at 99% confidence; only if that interval holds the target do 160 more pairs run",
		"The first 1 rounds decided the throughput target (their median's interval at 0% confidence).",
		"| oomtrace's line first, against a `/dev/kmsg` reader, in ≥ 95 of 100 kills on an idle host | idle host: first in 1 of 2 kills (kernel log ÷ oomtrace 1.00× at p50) | **missed** |",
		"| oomtrace's CPU per delivered event at saturation ≤ 1 µs | – | not measured |",
		"| 60 ns |",
		"| zero loss at 200k events/s with the default ring buffer | – | not measured |",
		"**Not measured**: no storm",
		"2026-01-02 03:04 UTC, the run took 10m0s",
		"| kernel | 6.18.44 x86_64 (Debian GNU/Linux 12 (bookworm)), clocksource `tsc` |",
		"| attached ≤ 200 ms after exec | oomtrace: 200 ms | met |",
		"| empty program | nothing: the floor | 60 ns | – |",
		"| `end_clock` | read the clock | 90 ns | +30 ns |",
		"| `end_histogram` | count the episode in the cgroup's histogram (its slot cached beside the start, two atomic adds and the maximum) | 230 ns | +50 ns |",
		"| oomtrace's `memcg_reclaim_end` | all of the above, the filters, and a record for each episode of `--reclaim-min` or more (naming the cgroup's histogram, which holds its path; a wake-up of the reader when it has not looked for 200 ms) | 200 ns | −30 ns |",
		"230 ns in all, against 200 ns for oomtrace's program. None of these steps can go",
		"they alone take 30 ns more than the limit.",
		"| decode ≤ 100 ns per event and 0 allocs/op | Decode/oom_kill 102 ns, 0 allocs; Decode/reclaim 41 ns, 0 allocs | **missed** |",
		"Over the limit at the median but not in every run: `Decode/oom_kill` (runs 98 ns – 104 ns); the difference is this machine's noise",
		"came before the kernel-log reader in 1 of 2. So no reader of the ring buffer, however little it does, comes first often enough here",
		"each paying the floor (60 ns) and a read of the clock (30 ns, §1: the end program step by step): 180 ns of kernel time",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	// The verifier's work is told from the first start alone.
	if v, ok := r.startup.verification("oomtrace"); !ok || v != (verification{programs: 4, insns: 135067, largest: "exit", most: 60000}) {
		t.Errorf("verification = %+v, %v", v, ok)
	}
	// Both misses come with their reasons.
	if !strings.Contains(md, "## Where a target is missed or undecided, and why") || !strings.Contains(md, "**each reclaim program ≤ 200 ns per run (median), against an empty program on the same tracepoint**") {
		t.Error("the misses are not explained")
	}
}

func TestPipelineRowOf(t *testing.T) {
	rows := []pipelineRow{{kind: event.KindReclaim, stage: stageDecode, nsPerOp: 1}, {kind: event.KindReclaim, stage: stageText, nsPerOp: 2}}
	if r, ok := pipelineRowOf(rows, event.KindReclaim, stageText); !ok || r.nsPerOp != 2 {
		t.Errorf("pipelineRowOf = %+v, %v", r, ok)
	}
	if _, ok := pipelineRowOf(rows, event.KindOOMKill, stageText); ok {
		t.Error("found a row that is not there")
	}
}

func TestKillPath(t *testing.T) {
	ms := time.Millisecond
	l := &latencyResults{kills: map[string][]latencyKill{"idle host": {
		{oomtrace: []time.Duration{3 * ms}, haveSteps: true, steps: killSteps{decode: ms, attribute: ms + 100*time.Microsecond, explain: 2 * ms, write: 2*ms + 50*time.Microsecond}},
		{oomtrace: []time.Duration{9 * ms}}, // the breakdown missed it
	}}}
	steps, n := l.killPath("idle host")
	if n != 1 || len(steps) != 6 {
		t.Fatalf("killPath: %d kills, %d steps", n, len(steps))
	}
	if steps[stepDecoded].durations[0] != 1e6 || steps[stepWritten].durations[0] != 2.05e6 {
		t.Errorf("stepDecoded is %q, stepWritten %q", steps[stepDecoded].name, steps[stepWritten].name)
	}
	want := []float64{1e6, 1e5, 9e5, 5e4, 2.05e6, 9.5e5}
	for i, st := range steps {
		if len(st.durations) != 1 || st.durations[0] != want[i] {
			t.Errorf("step %q = %v, want %v", st.name, st.durations, want[i])
		}
	}
}

// The kill line's reason says what the console costs, from the block with
// the console quiet against the idle host's, and nothing where the kernel
// prints no kill line to a console.
func TestConsoleWhy(t *testing.T) {
	ms := time.Millisecond
	// Each kill's record is decoded at decode, its line written 1 ms later.
	kill := func(decode, whole time.Duration) latencyKill {
		return latencyKill{oomtrace: []time.Duration{whole}, haveSteps: true,
			steps: killSteps{decode: decode, attribute: decode, explain: decode, write: decode + ms}}
	}
	l := &latencyResults{
		conditions: []latencyCondition{{name: "idle host"}, {name: "quiet", quietConsole: true}},
		variants:   []oomtraceVariant{{"oomtrace", nil}},
		kills: map[string][]latencyKill{
			"idle host": {kill(2*ms, 4*ms), kill(3*ms, 6*ms)},
			"quiet":     {kill(ms/2, 2*ms), kill(ms/4, 3*ms)},
		},
		console: kernelConsole{names: []string{"ttyS0"}, level: 4, errLine: sample{2.2e6, 2.3e6, 2.4e6}},
	}
	got := consoleWhy(l)
	for _, want := range []string{
		"(ttyS0, console log level 4)",
		"an error-level line took 2.30 ms to print here (median of 3",
		"the kill's record reached oomtrace's decoder after p50 375 µs, p99 500 µs, against p50 2.50 ms, p99 3.00 ms on the idle host",
		"oomtrace wrote the line after p50 1.38 ms, p99 1.50 ms, against p50 3.50 ms, p99 4.00 ms",
		"the harness read it after p50 2.50 ms, p99 3.00 ms, against p50 5.00 ms, p99 6.00 ms",
		"That part of the wait is the console's",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("reason lacks %q:\n%s", want, got)
		}
	}
	// The harness reads the line no sooner with the console quiet.
	l.kills["quiet"] = []latencyKill{kill(ms/2, 5*ms), kill(ms/4, 5*ms)}
	if got := consoleWhy(l); !strings.Contains(got, "without it the whole path is not shorter here") {
		t.Errorf("a whole path no shorter:\n%s", got)
	}
	l.console.level = kernErr
	if got := consoleWhy(l); got != "" {
		t.Errorf("a console that prints no kill line: %q", got)
	}
}

// The reason for missing the target against a kernel-log reader says how
// long the kernel's report ran before the kill, and blames no reader of the
// ring buffer only when the trivial one also came first too rarely.
func TestAheadTargetReason(t *testing.T) {
	ms := time.Millisecond
	l := &latencyResults{
		conditions: []latencyCondition{{name: "idle host"}},
		variants:   []oomtraceVariant{{"oomtrace", nil}},
		kills:      map[string][]latencyKill{},
	}
	for i := range 20 {
		k := latencyKill{oomtrace: []time.Duration{3 * ms}, kmsgAgent: 2 * ms, floor: ms,
			report: oomReport{lines: 79, duration: 358 * time.Microsecond}, fullReport: true}
		if i%2 == 0 {
			k.floor = 4 * ms // the kernel-log reader before the trivial reader
		}
		k.report.awakeAtKill = i < 15
		l.kills["idle host"] = append(l.kills["idle host"], k)
	}
	got := aheadTarget(&Results{latency: l})
	if got.verdict != verdictOf(false) || !strings.Contains(got.measured, "idle host: first in 0 of 20 kills") {
		t.Errorf("verdict %v, measured %q", got.verdict, got.measured)
	}
	for _, want := range []string{
		"Here (idle host) the report had a median of 79 lines, printed over 358 µs before the kill.",
		"came before the kernel-log reader in 10 of 20.",
		"without waiting for the log since the record before it in 15 of 20 of these kills.",
		"has the kernel-log reader running when the kill comes",
	} {
		if !strings.Contains(got.why, want) {
			t.Errorf("reason lacks %q:\n%s", want, got.why)
		}
	}
	for i := range l.kills["idle host"] {
		l.kills["idle host"][i].floor = ms
	}
	if got := aheadTarget(&Results{latency: l}); !strings.Contains(got.why, "in 20 of 20.") || strings.Contains(got.why, "no reader of the ring buffer") {
		t.Errorf("the trivial reader always first:\n%s", got.why)
	}
}

// With the console quiet, the share of kills oomtrace reported first is
// counted against the target's, with ties going to oomtrace.
func TestQuietConsoleAhead(t *testing.T) {
	ms := time.Millisecond
	l := &latencyResults{
		conditions: []latencyCondition{{name: "idle host"}, {name: "quiet", quietConsole: true}},
		variants:   []oomtraceVariant{{"oomtrace", nil}},
		kills:      map[string][]latencyKill{},
	}
	if got := quietConsoleAhead(l); got != "" {
		t.Errorf("no kills: %q", got)
	}
	for i := range 20 {
		agent := 2 * ms
		if i == 0 {
			agent = ms / 2 // the kernel-log reader first, once
		}
		if i == 1 {
			agent = ms // a tie
		}
		l.kills["quiet"] = append(l.kills["quiet"], latencyKill{oomtrace: []time.Duration{ms}, kmsgAgent: agent})
	}
	got := quietConsoleAhead(l)
	if !strings.Contains(got, "In the block with the console quiet (quiet), oomtrace's line came first in 19 of 20 kills.") ||
		!strings.Contains(got, "oomtrace meets this target here") {
		t.Errorf("19 of 20 first:\n%s", got)
	}
	l.kills["quiet"][2].kmsgAgent = 0
	if got := quietConsoleAhead(l); !strings.Contains(got, "first in 18 of 20 kills.") || strings.Contains(got, "meets this target") {
		t.Errorf("18 of 20 first:\n%s", got)
	}
}

// The reasons for the CPU per event and the drain rate set oomtrace's
// drain against the whole pipeline in process and against the drain floor,
// each the median of its trials.
func TestCPUPerEventSplit(t *testing.T) {
	// Each stall costs oomtrace 200 µs of its own (200 ns of each line's)
	// and the floor 100 µs (50 ns of each line's).
	stall := func(cpu, drain time.Duration) *stallTrial {
		st := &stallTrial{held: 1000, drain: drain, drainCPU: cpu, idleCPU: 200 * time.Microsecond}
		st.tally.drained = 1000
		return st
	}
	floor := func(cpu, drain time.Duration) *drainFloorTrial {
		return &drainFloorTrial{lineBytes: 300, lines: 2000, drain: drain, cpu: cpu, idleCPU: 100 * time.Microsecond}
	}
	r := &Results{
		loss: &lossResults{
			// 2 µs per event and 500k/s in the middle trial of each kind.
			stalls: []*stallTrial{stall(3*time.Millisecond, time.Millisecond), stall(2*time.Millisecond, 2*time.Millisecond), stall(time.Millisecond, 4*time.Millisecond)},
			// 750 ns per line and 500k/s in the middle.
			floors: []*drainFloorTrial{floor(1500*time.Microsecond, 8*time.Millisecond), floor(time.Millisecond, 4*time.Millisecond), floor(2*time.Millisecond, 2*time.Millisecond)},
		},
		pipeline: []pipelineRow{
			{kind: event.KindReclaim, stage: stageDecode, nsPerOp: 100},
			{kind: event.KindReclaim, stage: stageText, nsPerOp: 700},
			{kind: event.KindReclaim, stage: stageAll, nsPerOp: 1200},
		},
	}
	got := cpuPerEventTarget(r)
	if want := "1.80 µs a line drained, less what the stall itself cost (median of 3 trials: 800 ns – 2.80 µs); 2.00 µs with it (1.00 µs – 3.00 µs)"; got.verdict != undecided || !strings.Contains(got.measured, want) {
		t.Errorf("target %+v, want %q, undecided", got, want)
	}
	for _, want := range []string{
		"These trials do not decide it: their median is 1.80 µs, but 3 trials this far apart place the median of oomtrace's CPU per line only between 800 ns and 2.80 µs (75% confidence",
		"oomtrace took 200 µs over the same window",
		"through every stage of the pipeline to its line written takes 1.20 µs on one CPU (§4): decoding 100 ns, formatting the line and adding it to the batch 600 ns, the other stages +500 ns.",
		"took 700 ns of CPU per line, counted the same way", "oomtrace's own work is the 1.10 µs on top of it",
		"Formatting the line is the largest part of the replay",
	} {
		if !strings.Contains(got.why, want) {
			t.Errorf("why %q lacks %q", got.why, want)
		}
	}
	d := drainTarget(r)
	if want := "end to end 500.0 k/s (median of 3 trials: 250.0 k/s – 1.00 M/s)"; !strings.Contains(d.measured, want) {
		t.Errorf("drain measured %q, want %q", d.measured, want)
	}
	for _, want := range []string{"one CPU writes reclaim lines at 833.3 k/s (§4)",
		"emptied a backlog of 2,000 records at 500.0 k/s through the same pipe and line counting: the wakeups, the pipe and the harness's reading bound any reader"} {
		if !strings.Contains(d.why, want) {
			t.Errorf("drain why %q lacks %q", d.why, want)
		}
	}
	// A floor over the target explains nothing of oomtrace's miss: its
	// own work per line is what is left.
	slowFloors := r.loss.floors
	r.loss.floors = []*drainFloorTrial{floor(time.Millisecond, 500*time.Microsecond), floor(time.Millisecond, time.Millisecond), floor(time.Millisecond, 2*time.Millisecond)}
	d = drainTarget(r)
	if want := "at 2.00 M/s through the same pipe and line counting, over the target: a reader drains fast enough here, and oomtrace's own work per line is what misses it, 1.50 µs longer a line than the floor's"; d.verdict != verdictOf(false) || !strings.Contains(d.why, want) || strings.Contains(d.why, "bound any reader") {
		t.Errorf("drain with a floor over the target: %+v, want a why with %q", d, want)
	}
	r.loss.floors = slowFloors
	// The target is held against the drain's CPU less the stall's own
	// cost, for oomtrace and for the floor.
	for _, st := range r.loss.stalls {
		st.idleCPU = 1200 * time.Microsecond // 1.2 µs of each line's
	}
	for _, f := range r.loss.floors {
		f.idleCPU = 400 * time.Microsecond // 200 ns of each line's
	}
	got = cpuPerEventTarget(r)
	if want := "800 ns a line drained, less what the stall itself cost (median of 3 trials: -200 ns – 1.80 µs); 2.00 µs with it (1.00 µs – 3.00 µs)"; got.verdict != undecided || !strings.Contains(got.measured, want) {
		t.Errorf("target with the stalls' own cost: %+v, want %q", got, want)
	}
	for _, want := range []string{"oomtrace took 1.20 ms over the same window", "took 550 ns of CPU per line, counted the same way",
		"oomtrace's own work is the 250 ns on top of it"} {
		if !strings.Contains(got.why, want) {
			t.Errorf("why %q lacks %q", got.why, want)
		}
	}

	// A figure just over its target is written with the digits that tell
	// it apart: 1,003 ns a line is not "1.00 µs".
	for _, st := range r.loss.stalls {
		st.idleCPU = 997 * time.Microsecond // the middle trial: 1,003 ns a line
	}
	got = cpuPerEventTarget(r)
	if want := "1.003 µs a line drained, less what the stall itself cost"; got.verdict != undecided || !strings.HasPrefix(got.measured, want) {
		t.Errorf("target just over the limit: %+v, want %q", got, want)
	}
	// Every trial under the limit: met, whatever the median; every trial
	// over it: missed.
	for _, st := range r.loss.stalls {
		st.idleCPU = 2500 * time.Microsecond // 500 ns, -500 ns, -1.5 µs a line
	}
	if got = cpuPerEventTarget(r); got.verdict != met {
		t.Errorf("every trial under 1 µs: %+v", got)
	}
	for _, st := range r.loss.stalls {
		st.idleCPU = 200 * time.Microsecond
	}
	r.loss.stalls[2].drainCPU = 1500 * time.Microsecond // 2.8, 1.8 and 1.3 µs a line
	if got = cpuPerEventTarget(r); got.verdict != missed || strings.Contains(got.why, "do not decide") {
		t.Errorf("every trial over 1 µs: %+v", got)
	}
	r.loss.stalls[2].drainCPU = time.Millisecond
	for _, st := range r.loss.stalls {
		st.idleCPU = 1200 * time.Microsecond
	}

	// Own work beyond the replay is said; without the replay's rows,
	// nothing is.
	replay, ok := reclaimReplay(r.pipeline)
	if !ok || !replay.split {
		t.Fatalf("replay of %+v: %+v, %v", r.pipeline, replay, ok)
	}
	drains, floorLines := sample{900, 1500, 1300}, sample{400, 500}
	if got, want := ownWorkWhy(1500, replay, drains, floorLines), "That is 300 ns more than the replay, which neither reads a ring buffer "+
		"nor writes to a pipe; over the trials, the drain's CPU per line ranged over 600 ns and the floor's over 100 ns."; !strings.Contains(got, want) {
		t.Errorf("own work over the replay: %q, want %q", got, want)
	}
	if got := ownWorkWhy(1000, replay, drains, floorLines); strings.Contains(got, "more than the replay") {
		t.Errorf("own work within the replay: %q", got)
	}
	// The next step is named only where the split shows formatting as the
	// largest part: in the rows above it leads (600 ns, against 100 ns of
	// decoding and 500 ns of the other stages); with heavier stages, or
	// without a split, it is not named.
	if got := ownWorkWhy(1000, replay, drains, floorLines); !strings.Contains(got, "where the next step lies") {
		t.Errorf("formatting the largest part, no next step: %q", got)
	}
	heavyStages := replayCost{all: 2000, decode: 100, format: 600, other: 1300, split: true}
	if got := ownWorkWhy(1000, heavyStages, drains, floorLines); strings.Contains(got, "Formatting the line is the largest part") {
		t.Errorf("formatting named the largest part of %+v: %q", heavyStages, got)
	}
	if got := ownWorkWhy(1000, replayCost{all: 1200}, drains, floorLines); strings.Contains(got, "Formatting") {
		t.Errorf("formatting named without a split: %q", got)
	}
	// Without decoding's row the replay is given whole, not split.
	if replay, ok := reclaimReplay(r.pipeline[1:]); !ok || replay.split || replay.all != 1200 || replay.splitText() != "" {
		t.Errorf("replay without decoding's row: %+v, %v", replay, ok)
	}
	if _, ok := reclaimReplay(r.pipeline[:2]); ok {
		t.Error("a replay without the whole pipeline's row")
	}

	// Without the floor's trial, its sentences are left out.
	floors := r.loss.floors
	r.loss.floors = nil
	if got := cpuPerEventTarget(r); got.verdict != undecided || strings.Contains(got.why, "drain floor") {
		t.Errorf("target without a floor %+v", got)
	}
	// Without the stall's own cost, the figure the target is held against
	// was not measured.
	r.loss.floors = floors
	for _, st := range r.loss.stalls {
		st.idleCPU = 0
	}
	if got := cpuPerEventTarget(r); got.verdict != notMeasuredVerdict {
		t.Errorf("target without the stall's own cost %+v", got)
	}
	if got := (*drainFloorTrial)(nil).rate(); !math.IsNaN(got) {
		t.Errorf("floor rate without a trial = %v", got)
	}
}

// The CPU-per-event target is looked at twice: the deciding trials, run
// after a first look that left it undecided, are counted at the second
// look's level, and the report says they ran.
func TestCPUPerEventSecondLook(t *testing.T) {
	// 1,000 lines a trial, and 200 µs of the stall's own: ns ns a line.
	stall := func(ns int) *stallTrial {
		st := &stallTrial{held: 1000, drain: time.Millisecond, drainCPU: time.Duration(ns+200) * time.Microsecond, idleCPU: 200 * time.Microsecond}
		st.tally.drained = 1000
		return st
	}
	stalls := func(ns ...int) []*stallTrial {
		var out []*stallTrial
		for _, n := range ns {
			out = append(out, stall(n))
		}
		return out
	}
	first := []int{800, 850, 900, 950, 1400} // the first look: the range holds 1 µs
	l := &lossResults{firstStalls: 5, stalls: stalls(first...)}
	d, ok := l.decideCPUPerEvent()
	if !ok || d.verdict != undecided || d.first != 5 || d.deciding != 0 || d.level != firstLookLevel || d.hi != 1400 {
		t.Fatalf("first look: %+v, %v", d, ok)
	}
	if got := decidingStallsText(l); got != "" {
		t.Errorf("no deciding trials, but §3 says %q", got)
	}

	// Ten deciding trials under 1 µs: at 96%, the 4th to the 12th of 15
	// trials hold the median, and the two slow ones fall outside.
	l.stalls = stalls(append(first, 700, 750, 800, 820, 840, 860, 880, 900, 920, 1300)...)
	d, ok = l.decideCPUPerEvent()
	if !ok || d.verdict != met || d.first != 5 || d.deciding != 10 || d.level != secondLookLevel || d.lo != 800 || d.hi != 920 {
		t.Fatalf("second look: %+v, %v", d, ok)
	}
	if math.Abs(d.coverage-0.965) > 0.001 {
		t.Errorf("coverage of the 4th to the 12th of 15: %v, want 0.965", d.coverage)
	}
	got := cpuPerEventTarget(&Results{loss: l})
	if want := "860 ns a line drained, less what the stall itself cost (median of 15 trials: 700 ns – 1.40 µs; the median's interval 800 ns – 920 ns, 96% confidence)"; got.verdict != met || !strings.HasPrefix(got.measured, want) {
		t.Errorf("target after the deciding trials: %+v, want %q, met", got, want)
	}
	if want := "The first 5 trials left the target undecided, so 10 more ran, and its verdict is that of all 15, their median's interval at 96% confidence. Saturation"; !strings.HasPrefix(got.why, want) {
		t.Errorf("why %q, want it to start %q", got.why, want)
	}
	if got, want := decidingStallsText(l), " The first 5 trials left the CPU-per-event target undecided, so 10 more ran (see the last section)."; got != want {
		t.Errorf("§3 says %q, want %q", got, want)
	}

	// Deciding trials all over 1 µs: missed. Between: still undecided,
	// and the reason says both.
	l.stalls = stalls(900, 980, 1050, 1100, 1400, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 2000)
	if d, _ := l.decideCPUPerEvent(); d.verdict != missed {
		t.Errorf("deciding trials over the limit: %+v", d)
	}
	l.stalls = stalls(append(first, 700, 1100, 800, 1200, 900, 1300, 950, 1050, 990, 1010)...)
	got = cpuPerEventTarget(&Results{loss: l})
	for _, want := range []string{"so 10 more ran", "These trials do not decide it: their median is 950 ns, but 15 trials this far apart"} {
		if got.verdict != undecided || !strings.Contains(got.why, want) {
			t.Errorf("deciding trials on both sides: %+v, want %q", got, want)
		}
	}
}

// The reason for the episode's target says what the floors and clock
// reads leave, at half of bpftrace's episode, for the rest of oomtrace's.
func TestEpisodeFloorWhy(t *testing.T) {
	us := time.Microsecond
	trial := func(tl tool, step string, progs map[string]progDelta) stormTrial {
		return stormTrial{cfg: stormConfig{tool: tl, stats: true, step: step}, progs: progs}
	}
	end := func(label string, runtime time.Duration) map[string]progDelta {
		return map[string]progDelta{label: {Label: label, Runs: 1000, Runtime: runtime}}
	}
	s := &stormResults{duration: time.Second, rounds: 1, trials: []stormTrial{
		trial(toolOomtrace, "", map[string]progDelta{
			"memcg_reclaim_begin": {Runs: 1000, Runtime: 110 * us},
			"memcg_reclaim_end":   {Runs: 1000, Runtime: 190 * us},
		}),
		trial(toolBpftrace, "", map[string]progDelta{
			"mm_vmscan_memcg_reclaim_begin": {Runs: 1000, Runtime: 140 * us},
			"mm_vmscan_memcg_reclaim_end":   {Runs: 1000, Runtime: 400 * us},
		}),
		trial(toolEmpty, "", end(reclaimStepTracepoint, 30*us)),
		trial(toolReclaimStep, "end_clock", end("end_clock", 110*us)),
		trial(toolReclaimStep, "end_start", end("end_start", 135*us)),
		trial(toolReclaimStep, "end_cgroup", end("end_cgroup", 150*us)),
		trial(toolReclaimStep, "end_histogram", end("end_histogram", 170*us)),
	}}
	got := episodeTarget(&Results{storm: s})
	if got.verdict != missed || !strings.Contains(got.measured, "300 ns (the median's interval 300 ns – 300 ns), bpftrace 540 ns: 0.56×") {
		t.Errorf("target %+v", got)
	}
	// Floor 30 ns and clock 80 ns, twice: 220 ns of bpftrace's 540 ns.
	want := "it is 0.41× of bpftrace's episode, and at ½ of it oomtrace would have 50 ns for everything else; keeping the start, " +
		"finding the cgroup, counting the episode and the filters took 80 ns."
	if !strings.Contains(got.why, want) {
		t.Errorf("why %q lacks %q", got.why, want)
	}
}

func TestEpisodeVerdict(t *testing.T) {
	// stormOf is a storm whose rounds with statistics have oomtrace's
	// episode cost ours[i] ns and bpftrace's theirs[i]: the first five are
	// the rounds every run has, the rest the episode's deciding pairs,
	// numbered after the throughput's rounds.
	stormOf := func(ours, theirs []float64) *stormResults {
		s := &stormResults{duration: time.Second, rounds: 5, pairs: 10, episodePairs: 30}
		episode := func(begin, end string, ns float64) map[string]progDelta {
			return map[string]progDelta{
				begin: {Label: begin, Runs: 1000, Runtime: time.Duration(400 * ns)},
				end:   {Label: end, Runs: 1000, Runtime: time.Duration(600 * ns)},
			}
		}
		for i := range ours {
			round := i
			if i >= s.rounds {
				round = s.rounds + s.pairs + i
			}
			s.trials = append(s.trials,
				stormTrialOf(toolOomtrace, true, round, 1000, episode("memcg_reclaim_begin", "memcg_reclaim_end", ours[i])),
				stormTrialOf(toolBpftrace, true, round, 1000, episode("mm_vmscan_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_end", theirs[i])))
		}
		return s
	}
	repeat := func(v float64, n int) []float64 { return slices.Repeat([]float64{v}, n) }
	// Against bpftrace's 700 ns, oomtrace's episodes at these ratios stay
	// under 400 ns: only the ratio decides.
	of700 := func(ratios ...float64) []float64 {
		ns := slices.Clone(ratios)
		for i := range ns {
			ns[i] *= 700
		}
		return ns
	}
	bpftrace := repeat(700, 25)
	straddling := []float64{0.46, 0.48, 0.50, 0.51, 0.52}
	for _, c := range []struct {
		name         string
		ours, theirs []float64
		want         verdict
		why          string
	}{
		{"every round under both limits", of700(0.38, 0.44, 0.46, 0.47, 0.49), bpftrace[:5], met,
			"The first 5 rounds with statistics decided the episode target (their medians' intervals at 94% confidence)."},
		{"the ratio's rounds on both sides", of700(straddling...), bpftrace[:5], undecided,
			"The first 5 rounds with statistics left the episode target undecided (their medians' intervals at 94% " +
				"confidence), and the storm stopped before the pairs that would have decided it. These rounds do not " +
				"decide it: oomtrace's episode lies between 322 ns and 364 ns, and its ratio to bpftrace's between 0.46× and 0.52×"},
		// 25 rounds at 96%: the seventh to the nineteenth value.
		{"decided by the deciding pairs", of700(append(slices.Clone(straddling), repeat(0.47, 20)...)...), bpftrace, met,
			"The first 5 rounds with statistics left the episode target undecided, so 20 more pairs ran under oomtrace " +
				"and bpftrace alone, and its verdict is that of all 25 rounds, their medians' intervals at 99% confidence."},
		{"the deciding pairs still on both sides", of700(append(slices.Clone(straddling), append(repeat(0.49, 10), repeat(0.51, 10)...)...)...), bpftrace, undecided,
			"so 20 more pairs ran"},
		{"every round over half of bpftrace's", repeat(300, 5), repeat(500, 5), missed, ""},
		{"every round over 400 ns", repeat(450, 5), repeat(2000, 5), missed, ""},
	} {
		s := stormOf(c.ours, c.theirs)
		checkVerdict(t, c.name, episodeTarget(&Results{storm: s}), c.want, c.why)
		// The episode's rounds are not the throughput's deciding pairs.
		if ran := s.decidingRan(); ran != 0 {
			t.Errorf("%s: %d throughput pairs counted as run", c.name, ran)
		}
	}
	// Asked for no deciding pairs, the first look's undecided verdict stands.
	s := stormOf(of700(straddling...), bpftrace[:5])
	s.episodePairs = 0
	if why := episodeTarget(&Results{storm: s}).why; !strings.Contains(why, "no more pairs were asked for (`-episode-pairs 0`)") {
		t.Errorf("why does not say no deciding pairs were asked for: %s", why)
	}
	// A round without bpftrace's trial compares nothing.
	s = stormOf([]float64{300}, []float64{1000})
	s.trials = s.trials[:1]
	if got := episodeTarget(&Results{storm: s}); got.verdict != notMeasuredVerdict {
		t.Errorf("target without bpftrace's rounds %+v", got)
	}
}
