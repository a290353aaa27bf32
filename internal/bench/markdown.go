package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// doc collects BENCHMARKS.md.
type doc struct{ strings.Builder }

func (d *doc) para(format string, args ...any) {
	fmt.Fprintf(d, format, args...)
	d.WriteString("\n\n")
}

func (d *doc) table(t *markdownTable) {
	d.WriteString(t.String())
	d.WriteString("\n")
}

// failed writes why a scenario has no results; it reports whether it did.
func (d *doc) failed(r *Results, scenario string, missingResults bool) bool {
	err := r.errs[scenario]
	switch {
	case err != nil && missingResults:
		d.para("**Not measured**: %s", oneLine(err))
		return true
	case err != nil:
		d.para("**Incomplete**: the scenario failed part way, the figures below are from the trials before: %s", oneLine(err))
	case missingResults:
		d.para("Not run (`oombench --only` left it out).")
		return true
	}
	return false
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// WriteMarkdown writes the results as BENCHMARKS.md.
func WriteMarkdown(w io.Writer, r *Results) error {
	var d doc
	writeHeader(&d, r)
	targets := evaluateTargets(r)
	writeTargets(&d, targets)
	writeCost(&d, r)
	writeLatency(&d, r)
	writeLoss(&d, r)
	writeUserSpace(&d, r)
	writeStartup(&d, r)
	writeReport(&d, r)
	writeKernelLog(&d, r)
	writeMisses(&d, targets)
	if len(r.notes) > 0 {
		d.para("## Notes")
		for _, n := range r.notes {
			d.WriteString("- " + n + "\n")
		}
		d.WriteString("\n")
	}
	_, err := io.WriteString(w, strings.TrimRight(d.String(), "\n")+"\n")
	return err
}

func writeHeader(d *doc, r *Results) {
	m := r.machine
	d.para("# Benchmarks")
	d.para("Written by `make bench` (`bench/cmd/oombench`, run as root) on %s; run it again to regenerate this file, not by hand. "+
		"It loads BPF programs and causes memory-cgroup OOM kills in cgroups of its own, never a global OOM. "+
		"Unless a row says otherwise, a figure is the median of the rounds named, and every comparison is a ratio of figures "+
		"measured side by side in the same run, the configurations interleaved round by round (each round starts with the next one).",
		r.started.UTC().Format("2006-01-02 15:04 MST"))
	t := &markdownTable{header: []string{"", ""}}
	t.add("date", fmt.Sprintf("%s, the run took %v", r.started.UTC().Format("2006-01-02 15:04 MST"), r.finished.Sub(r.started).Round(time.Second)))
	t.add("machine", fmt.Sprintf("`%s`: %d × %s, %.1f GiB of memory", m.host, m.cpus, m.cpuModel, float64(m.memoryBytes)/(1<<30)))
	kernel := fmt.Sprintf("%s (%s)", m.kernel, m.distro)
	if m.clocksource != "" {
		kernel += fmt.Sprintf(", clocksource `%s`", m.clocksource)
	}
	t.add("kernel", kernel)
	mode := missing
	if r.startup != nil && r.startup.mode != "" {
		mode = r.startup.mode
	}
	t.add("mode", fmt.Sprintf("oomtrace attached in **%s** mode (auto)", mode))
	for _, v := range m.versions {
		t.add(v[0], v[1])
	}
	t.add("noise", noiseSummary(r))
	stats := "enabled (BPF_ENABLE_STATS) only during the trials that read them"
	if m.statsWereOn {
		stats = "already enabled system-wide when the run started (kernel.bpf_stats_enabled=1): the throughput trials paid for them too"
	}
	t.add("BPF run-time statistics", stats)
	d.table(t)
}

func noiseSummary(r *Results) string {
	m := r.machine
	parts := []string{fmt.Sprintf("other processes kept %.2f of the %d CPUs busy on average during the run", r.othersCores, m.cpus)}
	parts = append(parts, fmt.Sprintf("load average %.2f at the start, %.2f at the end", m.loadStart, m.loadEnd))
	if r.storm != nil {
		if rows := r.storm.throughput(); len(rows) > 0 && len(rows[0].pagesPerSec) > 1 {
			parts = append(parts, fmt.Sprintf("the untraced storm's throughput spread over %s of its median between rounds", fmtPct(rows[0].pagesPerSec.spread())))
		}
	}
	if c := calibrationSummary(r.calibrations); c != "" {
		parts = append(parts, c)
	}
	return strings.Join(parts, "; ")
}

// verdict is how a figure compares with its target.
type verdict string

const (
	met             verdict = "met"
	missed          verdict = "**missed**"
	projectedMet    verdict = "met (projected, see §3)"
	projectedMissed verdict = "**missed** (projected, see §3)"
	// undecided: the measurements' confidence interval holds the target.
	undecided          verdict = "**undecided**"
	notMeasuredVerdict verdict = "not measured"
)

type target struct {
	name, measured string
	verdict        verdict
	why            string // for a miss: why, and what would fix it
}

func evaluateTargets(r *Results) []target {
	return []target{
		latencyTarget(r),
		aheadTarget(r),
		episodeTarget(r),
		reclaimCostTarget(r),
		cpuPerEventTarget(r),
		drainTarget(r),
		lossTarget(r),
		startupTarget(r),
		rssTarget(r),
		throughputTarget(r),
		decodeTarget(r),
		reportTarget(r),
		kernelLogTarget(r),
	}
}

// Targets of reading a kernel log after the fact.
const (
	kernelLogSeconds = 10
	kernelLogRSS     = 50 * 1000 * 1000 // bytes
)

func kernelLogTarget(r *Results) target {
	name := fmt.Sprintf("a 1 GiB syslog with 10,000 OOM reports explained in ≤ %d s and ≤ 50 MB peak RSS, every kill found", kernelLogSeconds)
	k := r.kernlog
	if k == nil || len(k.cases) == 0 {
		return notMeasured(name)
	}
	c := k.cases[0]
	wall := wallSample(c.runs).median()
	var rss float64
	for _, run := range c.runs {
		rss = max(rss, float64(run.peakRSS))
	}
	ok := wall <= kernelLogSeconds*1e9 && rss <= kernelLogRSS && k.found == k.reports
	return target{name: name, measured: fmt.Sprintf("%s, %s, %d of %d kills", fmtNSAgainst(wall, kernelLogSeconds*1e9), mibUnit.against(rss, kernelLogRSS), k.found, k.reports), verdict: verdictOf(ok),
		why: "The log is read as a stream, one line at a time into one reused buffer; a report is held only until it is complete. " +
			"What is left is the scanning of every line's prefix and the parsing and explaining of each report."}
}

func writeTargets(d *doc, targets []target) {
	d.para("## Targets")
	d.para("The targets of the performance issues, checked here rather than in unit tests. Where one is missed, the last section says why, from what was measured, and what would close the gap; where the measurements cannot tell (**undecided**: the confidence interval of the median holds the target), it says how far apart they were.")
	t := &markdownTable{header: []string{"target", "measured", "verdict"}}
	for _, tg := range targets {
		t.add(tg.name, tg.measured, string(tg.verdict))
	}
	d.table(t)
}

func writeMisses(d *doc, targets []target) {
	var misses []target
	for _, tg := range targets {
		if tg.verdict != met && tg.why != "" {
			misses = append(misses, tg)
		}
	}
	if len(misses) == 0 {
		return
	}
	d.para("## Where a target is missed or undecided, and why")
	for _, tg := range misses {
		d.para("**%s** (%s). %s", tg.name, tg.measured, tg.why)
	}
}

func verdictOf(ok bool) verdict {
	if ok {
		return met
	}
	return missed
}

func notMeasured(name string) target {
	return target{name: name, measured: missing, verdict: notMeasuredVerdict}
}

// Targets of the BPF programs' own cost.
const (
	reclaimCostLimit    = 200 // ns per run of each reclaim program, median
	episodeCostLimit    = 400 // ns per reclaim episode, begin and end together
	episodeBpftraceMost = 0.5 // of bpftrace's episode
)

func reclaimCostTarget(r *Results) target {
	name := fmt.Sprintf("each reclaim program ≤ %d ns per run (median), against an empty program on the same tracepoint", reclaimCostLimit)
	if r.storm == nil {
		return notMeasured(name)
	}
	costs, _ := r.storm.costs(toolOomtrace)
	floor, _ := r.storm.costs(toolEmpty)
	var parts, over []string
	ok := true
	for _, p := range programPairs {
		if !p.reclaim || !costs.ran(p.program) {
			continue
		}
		ns := costs.nsPerRun(p.program)
		part := fmt.Sprintf("%s %s", p.program, fmtNSAgainst(ns, reclaimCostLimit))
		if floor.ran(p.tracepoint) {
			part += fmt.Sprintf(" (empty program %s)", fmtNS(floor.nsPerRun(p.tracepoint)))
		}
		parts = append(parts, part)
		if ns > reclaimCostLimit {
			ok = false
			over = append(over, p.program)
		}
	}
	if len(parts) == 0 {
		return notMeasured(name)
	}
	return target{name: name, measured: strings.Join(parts, ", "), verdict: verdictOf(ok),
		why: fmt.Sprintf("Over the limit: %s. ", strings.Join(over, ", ")) + reclaimStepsWhy(r.storm)}
}

// reclaimStepsWhy says what the end program's time goes to, from the
// reclaim steps.
func reclaimStepsWhy(s *stormResults) string {
	why := "The begin program reads the clock and keeps the episode's start in task-local storage (the hash map on 5.10). " +
		"The end program reads the clock again, takes the start back, finds the task's memory cgroup and counts the " +
		"episode in that cgroup's histogram, which holds every episode, also those below `--reclaim-min`."
	steps, floor, whole, ok := s.stepCosts()
	if !ok {
		return why
	}
	var parts []string
	for _, step := range steps {
		parts = append(parts, fmt.Sprintf("%s %s", step.adds, fmtSignedNS(step.added)))
	}
	last := steps[len(steps)-1].ns
	why += fmt.Sprintf(" Taken apart step by step (§1), on the same tracepoint: any program costs %s there (the trampoline and "+
		"the statistics' own clock reads); then %s: %s in all, against %s for oomtrace's program.",
		fmtNS(floor), strings.Join(parts, ", "), fmtNS(last), fmtNS(whole))
	if last > reclaimCostLimit {
		why += fmt.Sprintf(" None of these steps can go while the end program keeps a per-cgroup histogram of every episode, "+
			"and on this machine they alone take %s more than the limit.", fmtNS(last-reclaimCostLimit))
	}
	return why
}

func episodeTarget(r *Results) target {
	name := fmt.Sprintf("reclaim episode (begin + end) ≤ %d ns of kernel run time, and ≤ ½ of bpftrace's", episodeCostLimit)
	if r.storm == nil {
		return notMeasured(name)
	}
	d, ok := r.storm.decideEpisode()
	if !ok {
		return notMeasured(name)
	}
	_, theirs := r.storm.costs(toolBpftrace)
	ours, q := d.ours.median(), d.ratios.median()
	measured := fmt.Sprintf("%s (the median's interval %s – %s), bpftrace %s: %s, the median of the per-round ratios "+
		"(its interval %s – %s, %.0f%% confidence over %d rounds; rounds %s)",
		fmtNSAgainst(ours, episodeCostLimit), fmtNSAgainst(d.nsLo, episodeCostLimit), fmtNSAgainst(d.nsHi, episodeCostLimit),
		fmtNS(theirs.median()), fmtVsEpisodeRatio(q), fmtVsEpisodeRatio(d.ratioLo), fmtVsEpisodeRatio(d.ratioHi),
		100*d.coverage, d.rounds, fmtRange(d.ratios, fmtRatio))
	why := episodeLooks(r.storm, d) + "bpftrace's begin program does a hash-map update (`@start[tid] = nsecs`) and its end " +
		"program a lookup, a delete and a histogram update, the least a reclaim tracer does; oomtrace's programs also keep " +
		"a histogram per cgroup and kind and compare the episode with `--reclaim-min`. The row above splits the episode " +
		"into its programs and the floor of each." + episodeFloorWhy(r.storm, ours, theirs.median())
	return target{name: name, measured: measured, verdict: d.verdict, why: why}
}

// fmtVsEpisodeRatio writes a ratio to bpftrace's episode apart from the
// target's.
func fmtVsEpisodeRatio(q float64) string { return ratioUnit.against(q, episodeBpftraceMost) }

// episodeLooks says which of the episode target's looks gave its verdict
// and, when undecided, how far apart the rounds were.
func episodeLooks(s *stormResults, d episodeDecision) string {
	first := d.rounds - d.deciding
	var why string
	switch {
	case d.deciding > 0:
		why = fmt.Sprintf("The first %d rounds with statistics left the episode target undecided, so %d more pairs ran "+
			"under oomtrace and bpftrace alone, and its verdict is that of all %d rounds, their medians' intervals at "+
			"%.0f%% confidence. ", first, d.deciding, d.rounds, 100*d.coverage)
	case d.verdict == undecided && s.episodePairs == 0:
		why = fmt.Sprintf("The first %d rounds with statistics left the episode target undecided (their medians' "+
			"intervals at %.0f%% confidence), and no more pairs were asked for (`-episode-pairs 0`). ", first, 100*d.coverage)
	case d.verdict == undecided:
		why = fmt.Sprintf("The first %d rounds with statistics left the episode target undecided (their medians' "+
			"intervals at %.0f%% confidence), and the storm stopped before the pairs that would have decided it. ",
			first, 100*d.coverage)
	default:
		why = fmt.Sprintf("The first %d rounds with statistics decided the episode target (their medians' intervals at "+
			"%.0f%% confidence). ", first, 100*d.coverage)
	}
	if d.verdict == undecided {
		why += fmt.Sprintf("These rounds do not decide it: oomtrace's episode lies between %s and %s, and its ratio to "+
			"bpftrace's between %s and %s, and a limit lies inside. ", fmtNS(d.nsLo), fmtNS(d.nsHi),
			fmtVsEpisodeRatio(d.ratioLo), fmtVsEpisodeRatio(d.ratioHi))
	}
	return why
}

// episodeFloorWhy says what timing an episode costs at the least, from
// the reclaim steps: two programs, each with its floor and a clock read;
// and, against bpftrace's episode (theirs), what that leaves for the rest
// of oomtrace's episode (ours).
func episodeFloorWhy(s *stormResults, ours, theirs float64) string {
	steps, floor, _, ok := s.stepCosts()
	if !ok {
		return ""
	}
	clock := steps[0].added
	least := 2 * (floor + clock)
	why := fmt.Sprintf(" Timing an episode at all takes two programs, each paying the floor (%s) and a read of the clock (%s, §1: "+
		"the end program step by step): %s of kernel time before the start is kept anywhere or anything is counted.",
		fmtNS(floor), fmtNS(clock), fmtNS(least))
	if theirs > 0 && ours > theirs*episodeBpftraceMost {
		why += fmt.Sprintf(" bpftrace pays the same, so it is %s of bpftrace's episode, and at ½ of it oomtrace would have %s "+
			"for everything else; keeping the start, finding the cgroup, counting the episode and the filters took %s.",
			fmtRatio(least/theirs), fmtNS(max(0, theirs*episodeBpftraceMost-least)), fmtNS(ours-least))
	}
	return why
}

// Targets of oomtrace's own process.
const (
	cpuPerEventLimit = 1000    // ns of oomtrace's CPU per delivered event at saturation
	drainTargetRate  = 1000000 // events per second
)

func cpuPerEventTarget(r *Results) target {
	name := "oomtrace's CPU per delivered event at saturation ≤ 1 µs"
	l := r.loss
	if l == nil {
		return notMeasured(name)
	}
	d, ok := l.decideCPUPerEvent()
	if !ok {
		return notMeasured(name)
	}
	raw, marginal := l.drainCPUPerEvent(), d.marginal
	per := marginal.median()
	measured := fmt.Sprintf("%s a line drained, less what the stall itself cost (%s: %s", fmtNSAgainst(per, cpuPerEventLimit),
		trialsOf(len(marginal)), fmtRange(marginal, fmtNS))
	if d.deciding > 0 {
		measured += fmt.Sprintf("; the median's interval %s – %s, %.0f%% confidence", fmtNSAgainst(d.lo, cpuPerEventLimit),
			fmtNSAgainst(d.hi, cpuPerEventLimit), 100*d.coverage)
	}
	measured += fmt.Sprintf("); %s with it (%s)", fmtNS(raw.median()), fmtRange(raw, fmtNS))
	rows := l.rampRows()
	if len(rows) > 0 && len(rows[len(rows)-1].cpuPerEvent) > 0 {
		last := rows[len(rows)-1]
		measured += fmt.Sprintf("; %s at the %s events/s a storm of %d workers makes", fmtNS(last.cpuPerEvent.median()), fmtRate(last.eventsPerSec.median()), last.workers)
	}
	var why string
	if d.deciding > 0 {
		why = fmt.Sprintf("The first %s left the target undecided, so %s more ran, and its verdict is that of all %d, "+
			"their median's interval at %.0f%% confidence. ", plural(uint64(d.first), "trial"), fmtCount(uint64(d.deciding)),
			len(marginal), 100*d.coverage)
	}
	if d.verdict == undecided {
		why += fmt.Sprintf("These trials do not decide it: their median is %s, but %d trials this far apart place the median of "+
			"oomtrace's CPU per line only between %s and %s (%.0f%% confidence, assuming nothing of how trials are "+
			"distributed), and the target lies inside. ", fmtNSAgainst(per, cpuPerEventLimit), len(marginal),
			fmtNSAgainst(d.lo, cpuPerEventLimit), fmtNSAgainst(d.hi, cpuPerEventLimit), 100*d.coverage)
	}
	why += "Saturation is the drain of a full ring buffer (§3): oomtrace reads, decodes and formats records as fast as it can, " +
		"and writes them in batches to a pipe."
	idle := perTrial(l.stalls, func(st *stallTrial) float64 { return float64(st.idleCPU) }).median()
	why += fmt.Sprintf(" A backlog is made by stopping oomtrace (SIGSTOP) in a storm, and resuming it costs CPU of its "+
		"own: stopped and resumed the same way with nothing to drain, oomtrace took %s over the same window (every "+
		"thread woken, and the interval's work that fell due while it was stopped). That comes once per resume, not "+
		"with each event, and saturation has no resume: the target is held against the drain's CPU less it.", fmtDur(time.Duration(idle)))
	replay, replayed := reclaimReplay(r.pipeline)
	if replayed {
		why += fmt.Sprintf(" Of that, a reclaim record's way from decoding through every stage of the pipeline to its line "+
			"written takes %s on one CPU (§4)", fmtNS(replay.all)) + replay.splitText() + "."
	}
	if floor := l.floorMarginalCPUPerLine().median(); !math.IsNaN(floor) {
		why += fmt.Sprintf(" The drain floor of §3, a reader that does nothing with a record but write a line as long as "+
			"oomtrace's, stalled and resumed the same way, took %s of CPU per line, counted the same way: reading the "+
			"ring buffer, being woken and writing the lines through the pipe cost any reader that much here, and "+
			"oomtrace's own work is the %s on top of it (medians of the trials).", fmtNS(floor), fmtNS(per-floor))
		if replayed {
			why += ownWorkWhy(per-floor, replay, marginal, l.floorMarginalCPUPerLine())
		}
	}
	why += fmt.Sprintf(" Below saturation the cost per event is higher: each wake-up (for reclaim records, a look every %s) "+
		"finds fewer records to share its cost: the scheduler's switch to oomtrace and back, the Go runtime's handing the "+
		"woken goroutine a thread, and one write(2) per batch.", fmtDur(tracer.LookInterval))
	return target{name: name, measured: measured, verdict: d.verdict, why: why}
}

// stallRingText says, for §3, why the stalls have a ring buffer of their
// own size: empty when they have the default.
func stallRingText(l *lossResults) string {
	if l.stallRingBytes == l.defaultRingBytes {
		return ""
	}
	return fmt.Sprintf(" Its ring buffer is %s, %s the default %s, so that the drain of a full one lasts long enough "+
		"(a tenth of a second or more) for the host's short stalls of a CPU to average out.", fmtBytes(l.stallRingBytes),
		timesText(l.stallRingBytes, l.defaultRingBytes), fmtBytes(l.defaultRingBytes))
}

// timesText is "eight times" for 8 and 1.
func timesText(n, of int) string {
	if of > 0 && n%of == 0 && n/of >= 2 && n/of <= 10 {
		return []string{"", "", "twice", "three times", "four times", "five times", "six times", "seven times", "eight times",
			"nine times", "ten times"}[n/of]
	}
	return fmt.Sprintf("%.1f times", float64(n)/float64(of))
}

// fmtBytes writes a ring buffer's size: "4 MiB".
func fmtBytes(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// decidingStallsText says, for §3, why there are more stalled trials than
// the first look's: empty when there are not.
func decidingStallsText(l *lossResults) string {
	d, ok := l.decideCPUPerEvent()
	if !ok || d.deciding == 0 {
		return ""
	}
	return fmt.Sprintf(" The first %s left the CPU-per-event target undecided, so %s more ran (see the last section).",
		plural(uint64(d.first), "trial"), fmtCount(uint64(d.deciding)))
}

// replayCost is the replay of a reclaim record through the whole pipeline
// (§4), ns: all of it and, when split, its decoding, its formatting and
// the other stages.
type replayCost struct {
	all, decode, format, other float64
	split                      bool
}

// reclaimReplay reads the reclaim record's replay from the pipeline rows;
// false without the whole pipeline's row.
func reclaimReplay(rows []pipelineRow) (replayCost, bool) {
	all, ok := pipelineRowOf(rows, event.KindReclaim, stageAll)
	if !ok {
		return replayCost{}, false
	}
	c := replayCost{all: all.nsPerOp}
	decode, ok1 := pipelineRowOf(rows, event.KindReclaim, stageDecode)
	text, ok2 := pipelineRowOf(rows, event.KindReclaim, stageText)
	if ok1 && ok2 && decode.nsPerOp <= text.nsPerOp {
		c.decode, c.format, c.other, c.split = decode.nsPerOp, text.nsPerOp-decode.nsPerOp, all.nsPerOp-text.nsPerOp, true
	}
	return c, true
}

// splitText writes the split, or nothing when the rows did not give one.
func (c replayCost) splitText() string {
	if !c.split {
		return ""
	}
	return fmt.Sprintf(": decoding %s, formatting the line and adding it to the batch %s, the other stages %s",
		fmtNS(c.decode), fmtNS(c.format), fmtSignedNS(c.other))
}

// ownWorkWhy sets oomtrace's own work on a drained reclaim record (own,
// its CPU per line over the drain floor's, medians of the trials) against
// the replay, and says where the next step lies when the split shows it.
func ownWorkWhy(own float64, replay replayCost, drains, floors sample) string {
	var why string
	if rest := own - replay.all; rest > 0 {
		why = fmt.Sprintf(" That is %s more than the replay, which neither reads a ring buffer nor writes to a pipe; "+
			"over the trials, the drain's CPU per line ranged over %s and the floor's over %s.",
			fmtNS(rest), fmtNS(drains.max()-drains.min()), fmtNS(floors.max()-floors.min()))
	}
	if replay.split && replay.format >= replay.decode && replay.format >= replay.other {
		why += " Formatting the line is the largest part of the replay: that is where the next step lies."
	}
	return why
}

func drainTarget(r *Results) target {
	name := "draining a full ring buffer ≥ 1 M events/s (end to end: text to a pipe; in process: text and JSON to /dev/null)"
	l := r.loss
	if l == nil || len(l.stalls) == 0 {
		return notMeasured(name)
	}
	drain := l.drainRate().median()
	parts := []string{fmt.Sprintf("end to end %s (%s: %s)", rateUnit(drain).against(drain, drainTargetRate), trialsOf(len(l.stalls)), fmtRange(l.drainRate(), fmtRate))}
	for _, stage := range []string{stageText, stageJSON} {
		if row, ok := pipelineRowOf(r.pipeline, event.KindReclaim, stage); ok && row.nsPerOp > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", stage, fmtRate(1e9/row.nsPerOp)))
		}
	}
	why := fmt.Sprintf("End to end, the backlog a stall left in the ring buffer (%s, %s events) is read, decoded, classified, "+
		"formatted and written in batches, one write(2) per drained batch, to a pipe the harness reads and counts line by "+
		"line on the same two CPUs: the harness's reading is part of the figure. In process, one CPU decodes and "+
		"formats a reclaim record, and writes it to /dev/null, at the rates after the first figure.", fmtBytes(l.stallRingBytes),
		fmtCount(uint64(l.held().median())))
	if all, ok := pipelineRowOf(r.pipeline, event.KindReclaim, stageAll); ok && all.nsPerOp > 0 {
		why += fmt.Sprintf(" Through every stage of the pipeline as well, one CPU writes reclaim lines at %s (§4).", fmtRate(1e9/all.nsPerOp))
	}
	if floor := l.floorRate().median(); !math.IsNaN(floor) {
		why += fmt.Sprintf(" End to end, the drain floor of §3, a reader that does nothing with a record but write a line "+
			"as long as oomtrace's, emptied a backlog of %s records at %s through the same pipe and line counting",
			fmtCount(uint64(perTrial(l.floors, func(f *drainFloorTrial) float64 { return float64(f.lines) }).median())), fmtRate(floor))
		why += drainFloorWhy(drain, floor)
	}
	return target{name: name, measured: strings.Join(parts, "; "), verdict: verdictOf(drain >= drainTargetRate), why: why}
}

// drainFloorWhy ends the drain target's sentence on its floor with what
// the floor shows: where no reader reaches the target on this machine,
// that is the reason; where one does, the floor explains nothing of a
// miss, and oomtrace's own work per line is what is left.
func drainFloorWhy(drain, floor float64) string {
	switch {
	case floor < drainTargetRate:
		return ": the wakeups, the pipe and the harness's reading bound any reader on this machine to about that."
	case drain < drainTargetRate:
		return fmt.Sprintf(", over the target: a reader drains fast enough here, and oomtrace's own work per line is "+
			"what misses it, %s longer a line than the floor's (the CPU-per-event target's reason splits its CPU).",
			fmtNS(1e9/drain-1e9/floor))
	default:
		return "."
	}
}

const throughputTargetRatio = 0.98

// fmtVsThroughputTarget writes an end of the median's interval, which the
// verdict holds against the target, apart from it.
func fmtVsThroughputTarget(f float64) string { return pctUnit.against(f, throughputTargetRatio) }

// intervalLevel is the confidence asked of an interval of a median.
const intervalLevel = 0.95

// fmtInterval writes the confidence interval of s's median, its ends
// with pct.
func fmtInterval(s sample, pct func(float64) string) string {
	return fmtIntervalAt(s, intervalLevel, pct)
}

// fmtIntervalAt is fmtInterval asking level of the interval.
func fmtIntervalAt(s sample, level float64, pct func(float64) string) string {
	lo, hi, coverage := s.medianInterval(level)
	if math.IsNaN(lo) {
		return missing
	}
	return fmt.Sprintf("%s – %s, %.0f%% confidence over %d rounds", pct(lo), pct(hi), 100*coverage, len(s.sorted()))
}

func throughputTarget(r *Results) target {
	name := "storm throughput with oomtrace ≥ 98% of untraced"
	if r.storm == nil {
		return notMeasured(name)
	}
	d, ok := r.storm.decideThroughput()
	if !ok {
		return notMeasured(name)
	}
	why := throughputLooks(r.storm, d)
	if d.verdict == undecided {
		why += undecidedWhy(d)
	}
	why += throughputWhy(r.storm, d.ours, d.rows)
	row := d.ours
	return target{name: name,
		measured: fmt.Sprintf("%s per CPU-second of the storm and the tracer (the median's interval %s; rounds %s); %s by the wall clock (%s; rounds %s)",
			fmtPct(row.cpuVsNone.median()), fmtIntervalAt(row.cpuVsNone, d.level, fmtVsThroughputTarget), fmtRange(row.cpuVsNone, fmtPct),
			fmtPct(row.vsNone.median()), fmtIntervalAt(row.vsNone, d.level, fmtPct), fmtRange(row.vsNone, fmtPct)),
		verdict: d.verdict,
		why:     why,
	}
}

// throughputLooks says which of the throughput target's looks (see
// firstLookLevel) gave its verdict, and the confidence its interval has:
// over few rounds, less than the look asks.
func throughputLooks(s *stormResults, d throughputDecision) string {
	first, ran := s.rounds+s.pairs, s.decidingRan()
	switch {
	case ran > 0:
		return fmt.Sprintf("The first %d rounds left the throughput target undecided, so %s more pairs ran, and its verdict "+
			"is that of all %s rounds, their median's interval at %.0f%% confidence. ", first,
			fmtCount(uint64(ran)), fmtCount(uint64(first+ran)), 100*d.coverage)
	case d.verdict == undecided && s.decidingPairs == 0:
		return fmt.Sprintf("The first %d rounds left the throughput target undecided (their median's interval at %.0f%% "+
			"confidence), and no more pairs were asked for (`-deciding-pairs 0`). ", first, 100*d.coverage)
	case d.verdict == undecided:
		return fmt.Sprintf("The first %d rounds left the throughput target undecided (their median's interval at %.0f%% "+
			"confidence), and the storm stopped before the pairs that would have decided it. ", first, 100*d.coverage)
	default:
		return fmt.Sprintf("The first %d rounds decided the throughput target (their median's interval at %.0f%% confidence). ",
			first, 100*d.coverage)
	}
}

// undecidedWhy says why rounds whose median's interval holds the target
// decide nothing, and how many would.
func undecidedWhy(d throughputDecision) string {
	ours, lo, hi := d.ours, d.lo, d.hi
	n := len(ours.cpuVsNone.sorted())
	median := ours.cpuVsNone.median()
	why := fmt.Sprintf("These rounds do not decide it. The median of the %d per-round ratios is %s, but rounds this far "+
		"apart place the median of the storm's true ratio only between %s and %s (a %.0f%% confidence interval that "+
		"assumes nothing of how rounds are distributed), and the target lies inside. The untraced storm's throughput per CPU-second "+
		"alone spread over %s of its median between rounds, while the target asks to see two points. ",
		n, fmtPct(median), fmtVsThroughputTarget(lo), fmtVsThroughputTarget(hi), 100*d.coverage, fmtPct(d.rows[0].pagesPerCPU.spread()))
	// The interval narrows about as the square root of the rounds: it
	// leaves the target out once the side of it that faces the target is
	// as narrow as the median is far from the target.
	side, gap := median-lo, median-throughputTargetRatio
	if gap < 0 {
		side, gap = hi-median, -gap
	}
	if gap < 1e-4 {
		return why + "The median is the target itself: no number of rounds would put the interval on one side of it. "
	}
	needed := float64(n) * (side / gap) * (side / gap)
	return why + fmt.Sprintf("Were the median to stay at %s, the interval would leave the target out after about %s rounds of this storm. ",
		fmtPct(median), fmtCount(uint64(math.Round(needed))))
}

// throughputWhy splits what oomtrace takes from the storm into its BPF
// programs and its own process, from the measurements.
func throughputWhy(s *stormResults, ours throughputRow, rows []throughputRow) string {
	costs, perEpisode := s.costs(toolOomtrace)
	var episodesPerSec float64
	for _, label := range reclaimLabels(true) {
		if pc := costs[label]; pc != nil {
			episodesPerSec += pc.runsPerSec.median()
		}
	}
	bpfShare := episodesPerSec * perEpisode.median() / 1e9
	linesPerSec := ours.lines.median() / s.duration.Seconds()
	why := fmt.Sprintf("The verdict uses the throughput per CPU-second that the storm's workers and the tracer spent together, "+
		"which other processes disturb less than the wall clock (§1). Two things make up oomtrace's share. Its BPF "+
		"programs run in the workers' context: %s reclaim episodes at %s each is %s of a CPU. Its own process used "+
		"%s of a CPU to write %.0f lines a second, %s of CPU per line, and its threads slept and were woken %.0f times a "+
		"second (voluntary context switches, the Go runtime's own included): the ring buffer wakes the reader for a "+
		"reclaim record only when the reader has neither read nor looked for %s, the reader looks again every %s, twice "+
		"after the last record it found, and each batch of "+
		"lines goes out in one write(2). The first part is the per-program cost of the rows on reclaim programs.",
		fmtRate(episodesPerSec), fmtNS(perEpisode.median()), fmtPct(bpfShare),
		fmtPct(ours.cpuShare.median()), linesPerSec, fmtNS(ours.cpuShare.median()/linesPerSec*1e9), ours.wakeups.median(),
		fmtDur(tracer.WakeupWindow), fmtDur(tracer.LookInterval))
	if own := s.ownShare(toolOomtrace); len(own.sorted()) > 0 {
		why += fmt.Sprintf(" Measured together in the rounds with the BPF statistics on, oomtrace's programs and process "+
			"took %s of the CPU time spent on the storm (rounds %s): by that account alone the storm keeps %s of its "+
			"throughput per CPU-second. What the account leaves out, oomtrace's effect on the workers' caches and the "+
			"interrupts that wake its reader, only the throughput shows.",
			fmtPct(own.median()), fmtRange(own, fmtPct), fmtPct(1-own.median()))
	}
	if j := slices.IndexFunc(rows, func(row throughputRow) bool { return row.tool == toolBpftrace }); j >= 0 {
		why += fmt.Sprintf(" For comparison, the storm keeps %s of its throughput per CPU-second under bpftrace (%s).",
			fmtPct(rows[j].cpuVsNone.median()), fmtInterval(rows[j].cpuVsNone, fmtPct))
	}
	return why
}

// latencyLimit is the kill line's p99 target under c, after
// oom:mark_victim: 1 ms on an idle host, 2 ms with a thousand idle
// processes in the cgroup.
func latencyLimit(c latencyCondition) time.Duration {
	if c.procs > 0 {
		return 2 * time.Millisecond
	}
	return time.Millisecond
}

func latencyTarget(r *Results) target {
	name := "kill line written p99 ≤ 1 ms after `oom:mark_victim` on an idle host, ≤ 2 ms with 1,000 processes in the cgroup"
	l := r.latency
	if l == nil || len(l.variants) == 0 {
		return notMeasured(name)
	}
	// floorsMet are the judged blocks oomtrace missed where the trivial
	// reader met the limit: there the floor explains nothing of the miss.
	var parts, floors, floorsMet []string
	ok, measured := true, false
	for _, c := range l.conditions {
		readers := l.readers(c.name)
		if len(readers) == 0 || len(readers[0].latencies) == 0 {
			continue
		}
		limit := float64(latencyLimit(c))
		p99 := readers[0].latencies.percentile(99)
		parts = append(parts, fmt.Sprintf("%s: %s", c.name, fmtNSAgainst(p99, limit)))
		// A block with the console quiet ran with a host setting
		// changed: it shows what the console costs, and is not judged.
		judged := !c.quietConsole
		if judged {
			measured = true
			ok = ok && p99 <= limit
		}
		if j := slices.IndexFunc(readers, func(rd latencyReader) bool { return rd.name == floorReaderName }); j >= 0 && len(readers[j].latencies) > 0 {
			floor := readers[j].latencies
			floors = append(floors, fmt.Sprintf("%s: %s", c.name, p50p99(floor)))
			if judged && p99 > limit && floor.percentile(99) <= limit {
				floorsMet = append(floorsMet, c.name)
			}
		}
	}
	if !measured {
		return notMeasured(name)
	}
	why := "A kill's line no longer waits for the memory snapshot, which follows in an `oom_snapshot` event (the " +
		"`--no-snapshot` row of §2 shows the snapshot no longer costs the line anything); names come from a cache, and only a " +
		"pod seen for the first time is waited for. \"Where the time goes\" in §2 splits the rest: the ring buffer's wakeup and the scheduling of the reader are " +
		"most of it, oomtrace's own stages a small part."
	if len(floors) > 0 {
		why += " A trivial reader of a ring buffer, woken the same way and reporting through the same pipe and clock, has " +
			strings.Join(floors, "; ") + ": that part is the kernel's wakeup, the scheduler and the harness"
		if len(floorsMet) == 0 {
			why += ", and no tracer beats it on this machine."
		} else {
			why += ". The trivial reader met the limit where oomtrace did not (" + strings.Join(floorsMet, "; ") +
				"): there the rest of oomtrace's figure is its own time, and the target is within a reader's reach."
		}
	}
	why += aloneWhy(l) + consoleWhy(l)
	return target{name: name, measured: strings.Join(parts, "; "), verdict: verdictOf(ok), why: why}
}

// aloneWhy sets the kills oomtrace read alone against the idle host's,
// where every reader ran.
func aloneWhy(l *latencyResults) string {
	alone, ok := l.find(func(c latencyCondition) bool { return c.alone && !c.quietConsole })
	if !ok {
		return ""
	}
	all, ok1 := l.pathOf(l.conditions[0].name)
	only, ok2 := l.pathOf(alone.name)
	if !ok1 || !ok2 {
		return ""
	}
	why := fmt.Sprintf(" With oomtrace the only reader of the kills (the other readers' processes stopped for the block), it "+
		"wrote the line after %s, against %s with every reader running; the harness read it after %s, against %s.",
		p50p99(only.steps[stepWritten].durations), p50p99(all.steps[stepWritten].durations), p50p99(only.whole), p50p99(all.whole))
	if only.whole.percentile(99) < 0.8*all.whole.percentile(99) {
		why += " Much of the idle host's figure is the other readers': they are woken by the same kill and take the two CPUs " +
			"from oomtrace and from the harness."
	}
	return why
}

// consoleWhy says what the kernel console costs a kill's line, from the
// block of kills with the console quiet held against the idle host's.
func consoleWhy(l *latencyResults) string {
	c := l.console
	if !c.printsKills() || len(c.errLine) == 0 {
		return ""
	}
	why := fmt.Sprintf(" The kernel prints its \"Killed process\" line (KERN_ERR) to its consoles (%s, console log level %d) in "+
		"the killing task, right after `oom:mark_victim` fires, and a serial console's driver writes it with interrupts off on that "+
		"CPU: an error-level line took %s to print here (median of %d written to `/dev/kmsg`).",
		strings.Join(c.names, ", "), c.level, fmtNS(c.errLine.median()), len(c.errLine))
	quiet, ok := l.quietCondition()
	if !ok {
		return why
	}
	loudName := l.conditions[0].name
	loud, ok1 := l.pathOf(loudName)
	still, ok2 := l.pathOf(quiet.name)
	if !ok1 || !ok2 {
		return why
	}
	why += fmt.Sprintf(" In a block of kills with the console quiet (its log level set to %d for the block, then put back), "+
		"the kill's record reached oomtrace's decoder after %s, against %s on the %s; oomtrace wrote the line after %s, against "+
		"%s; the harness read it after %s, against %s.",
		kernErr, p50p99(still.steps[stepDecoded].durations), p50p99(loud.steps[stepDecoded].durations), loudName,
		p50p99(still.steps[stepWritten].durations), p50p99(loud.steps[stepWritten].durations),
		p50p99(still.whole), p50p99(loud.whole))
	if still.whole.median() < 0.8*loud.whole.median() {
		return why + " That part of the wait is the console's: a host whose console does not print kill lines has it back."
	}
	return why + " The console holds up the wakeup, but without it the whole path is not shorter here: the other readers and " +
		"the harness are woken at the same moment, and the line then waits for the two CPUs instead."
}

// aheadShare is the share of kills oomtrace must report before the
// kernel-log reader, on an idle host.
const aheadShare = 0.95

func aheadTarget(r *Results) target {
	name := "oomtrace's line first, against a `/dev/kmsg` reader, in ≥ 95 of 100 kills on an idle host"
	l := r.latency
	if l == nil || len(l.variants) == 0 {
		return notMeasured(name)
	}
	var parts []string
	ok, measured := true, false
	for i, c := range l.conditions {
		readers := l.readers(c.name)
		j := slices.IndexFunc(readers, func(rd latencyReader) bool { return rd.name == kmsgAgentReader })
		if j < 0 || len(readers[0].latencies) == 0 {
			continue
		}
		first, n := l.firstAgainstAgent(c.name)
		parts = append(parts, fmt.Sprintf("%s: first in %d of %d kills (kernel log ÷ oomtrace %s at p50)", c.name, first, n,
			fmtRatio(ratio(readers[j].latencies.median(), readers[0].latencies.median()))))
		if i == 0 {
			measured = true
			ok = float64(first) >= aheadShare*float64(n)
		}
	}
	if !measured {
		return notMeasured(name)
	}
	idle := l.conditions[0].name
	why := "The kernel prints its report of an OOM (its header, the memory of the OOM's cgroup or node, the task table) " +
		"before it kills the victim; `oom:mark_victim` fires at the kill, and the \"Killed process\" line is printed right " +
		"after it. The ring buffer wakes its reader through an immediate irq_work; printk wakes a `/dev/kmsg` reader only " +
		"if one sleeps on the log, through a lazy irq_work that runs at the next timer tick or with the next irq_work of " +
		"that CPU. A kernel-log reader is woken by the report's first lines, before the kill; one still reading the report " +
		"when the kill comes reads the \"Killed process\" line without any wakeup, while the ring buffer's readers, woken " +
		"at the kill, wait for a CPU behind it (the other one holds the killing task, see the first target's reason)."
	if lines, duration, _ := l.reportSize(idle); lines > 0 {
		why += fmt.Sprintf(" Here (%s) the report had a median of %.0f lines, printed over %s before the kill.",
			idle, lines, fmtNS(duration))
	}
	if awake, n := l.awakeAtKill(idle); n > 0 {
		why += fmt.Sprintf(" A plain reader of the log in the harness (it reads records until none is left, then waits in "+
			"poll(2)) read the \"Killed process\" line without waiting for the log since the record before it in %d of %d "+
			"of these kills.", awake, n)
	}
	if ahead, n := l.floorAheadOfAgent(idle); n > 0 {
		why += fmt.Sprintf(" Measured in the same kills: the trivial ring-buffer reader of §2, which does next to nothing "+
			"for its line, came before the kernel-log reader in %d of %d.", ahead, n)
		if float64(ahead) < aheadShare*float64(n) {
			why += " So no reader of the ring buffer, however little it does, comes first often enough here: " +
				"the report the kernel prints before the kill has the kernel-log reader running when the kill comes."
		}
	}
	why += quietConsoleAhead(l)
	return target{name: name, measured: strings.Join(parts, "; "), verdict: verdictOf(ok), why: why}
}

// quietConsoleAhead says how often oomtrace came first with the kernel
// console quiet, where the latency scenario had a block of such kills.
func quietConsoleAhead(l *latencyResults) string {
	quiet, ok := l.quietCondition()
	if !ok {
		return ""
	}
	first, n := l.firstAgainstAgent(quiet.name)
	if n == 0 {
		return ""
	}
	why := fmt.Sprintf(" In the block with the console quiet (%s), oomtrace's line came first in %d of %d kills.", quiet.name, first, n)
	if float64(first) >= aheadShare*float64(n) {
		why += " Where the kernel does not print its kill lines to a slow console, oomtrace meets this target here."
	}
	return why
}

const lossTargetRate = 200_000 // events per second

func lossTarget(r *Results) target {
	name := "zero loss at 200k events/s with the default ring buffer"
	l := r.loss
	if l == nil {
		return notMeasured(name)
	}
	rate, anyLost := l.maxLossless()
	drain := l.drainRate().median()
	measured := fmt.Sprintf("the storm produced at most %s here, lost %s", fmtRate(rate), map[bool]string{false: "nothing", true: "events in some trials"}[anyLost])
	if len(l.stalls) > 0 {
		measured += fmt.Sprintf("; the default ring buffer holds %s reclaim events; oomtrace drains a backlog at %s", fmtCount(ringCapacity(l.defaultRingBytes)), fmtRate(drain))
	}
	v := notMeasuredVerdict
	switch {
	case math.IsNaN(drain):
	case drain >= lossTargetRate:
		v = projectedMet
	default:
		v = projectedMissed
	}
	return target{name: name, measured: measured, verdict: v,
		why: fmt.Sprintf("A real workload cannot make this machine's kernel produce 200k oomtrace events per second: the "+
			"densest source is memory-cgroup reclaim with `--reclaim-min 0`, about one episode per 32 to 64 pages allocated, "+
			"and two CPUs allocate a few hundred thousand pages a second. So the figure is projected from what was measured: "+
			"a sustained rate is lossless while oomtrace drains faster than the kernel produces, and a burst above that rate "+
			"is lossless while the ring buffer holds the difference. At 200k/s, with the drain rate measured, the buffer "+
			"holds a burst of %s. The drain rate is bounded by oomtrace's user-space work per event (§4: decoding and "+
			"formatting; lines go out in batches) and by the reader of its output.", burstTolerance(l)),
	}
}

// burstTolerance is how long a burst at the target rate can last without
// loss, from the measured drain rate and the default buffer's size.
func burstTolerance(l *lossResults) string {
	drain, held := l.drainRate().median(), float64(ringCapacity(l.defaultRingBytes))
	if math.IsNaN(drain) || held == 0 {
		return "an unknown length"
	}
	if drain >= lossTargetRate {
		return "any length (oomtrace drains faster than that)"
	}
	return fmtNS(held / (lossTargetRate - drain) * 1e9)
}

const decodeLimit = 100 // ns per event

func decodeTarget(r *Results) target {
	name := "decode ≤ 100 ns per event and 0 allocs/op"
	g := r.goBench
	if g == nil {
		return notMeasured(name)
	}
	var parts, noisy []string
	ok := true
	for _, b := range g.benches {
		if !strings.HasPrefix(b.name, "Decode") {
			continue
		}
		ns, allocs := b.nsPerOp.median(), b.allocsPerOp.median()
		parts = append(parts, fmt.Sprintf("%s %s, %g allocs", b.name, fmtNSAgainst(ns, decodeLimit), allocs))
		ok = ok && ns <= decodeLimit && allocs == 0
		if ns > decodeLimit && b.nsPerOp.min() <= decodeLimit {
			noisy = append(noisy, fmt.Sprintf("`%s` (runs %s)", b.name, fmtRange(b.nsPerOp, fmtNS)))
		}
	}
	if len(parts) == 0 {
		return notMeasured(name)
	}
	why := "A reclaim record, the kind that comes by the thousand, is read in place and clears only the payload the " +
		"previous record filled in; comms and cgroup paths are remembered by their bytes and cgroup id. A kill's record " +
		"fills the largest payload, about 2 KB: three cgroups, the victim and the room for what a kernel log's report " +
		"adds, all cleared for every kill. A kill whose stack differs from the previous kill's " +
		"(`Decode/oom_kill_new_stack`) costs more: its frames (13 in the benchmark, up to 48) are looked up among the " +
		"kernel's symbols, in one call for the whole stack, here in a stand-in table that finds each at once." + lookupWhy(g) + " Kills come a few per " +
		"second at most, and the kills of one OOM (`memory.oom.group`) or of a container killed again share their stack, " +
		"which is remembered (`Decode/oom_kill`)."
	if len(noisy) > 0 {
		why += fmt.Sprintf(" Over the limit at the median but not in every run: %s; the difference is this machine's "+
			"noise from run to run.", strings.Join(noisy, ", "))
	}
	return target{name: name, measured: strings.Join(parts, "; "), verdict: verdictOf(ok), why: why}
}

// lookupWhy gives what naming a stack costs against this kernel's own
// symbols, from ksym's BenchmarkLookupStack.
func lookupWhy(g *goBenchResults) string {
	for _, b := range g.benches {
		if b.name == "LookupStack" {
			return fmt.Sprintf(" Against this kernel's own symbols (`LookupStack`, a binary search of /proc/kallsyms's "+
				"table per frame) naming a stack of 13 frames takes %s (the stand-in's next to nothing), so a new stack "+
				"costs about that much more than the row says.", fmtNS(b.nsPerOp.median()))
		}
	}
	return ""
}

const startupLimit = 200 * time.Millisecond

func startupTarget(r *Results) target {
	name := "attached ≤ 200 ms after exec"
	s := r.startup
	if s == nil {
		return notMeasured(name)
	}
	rows := s.rows()
	if len(rows) == 0 || len(rows[0].startup) == 0 {
		return notMeasured(name)
	}
	var parts []string
	for _, row := range rows {
		if strings.HasPrefix(row.label, "oomtrace") {
			parts = append(parts, fmt.Sprintf("%s: %s", row.label, fmtNSAgainst(row.startup.median(), float64(startupLimit))))
		}
	}
	med := rows[0].startup.median()
	why := "Start-up is CPU work: the kernel verifying each BPF program of the chosen mode (the programs loaded in groups " +
		"side by side, one per CPU), decoding the kernel's BTF (once, for every program and the GFP flag names, while " +
		"oomtrace's own BPF object is parsed on another CPU), and, in auto mode, trying fentry and kprobe before tracepoints; " +
		"kernel symbols are read in the background, for the first stack that needs them. Leaving out the fallback " +
		"(`--mode tracepoint`) or the signal and exit hooks (`--events`) shows what each part costs (the rows above and " +
		"§5); on two CPUs that other processes keep busy, the verifier waits for a CPU as well."
	if v, ok := s.verification(rows[0].label); ok {
		why += fmt.Sprintf(" The verifier walked %s instructions to load oomtrace's %d programs, %s of them for `%s` "+
			"alone; most of them go to the loops that capture cgroup paths, which it walks once for every depth a path "+
			"can have.", fmtCount(v.insns), v.programs, fmtCount(uint64(v.most)), v.largest)
	}
	return target{name: name, measured: strings.Join(parts, "; "), verdict: verdictOf(med <= float64(startupLimit)), why: why}
}

const rssLimit = 40e6 // bytes

func rssTarget(r *Results) target {
	name := "peak RSS ≤ 40 MB under the storm"
	var peak float64
	if r.storm != nil {
		peak = r.storm.oomtracePeakRSS()
	}
	// The stalls count only with the default ring buffer: the kernel maps
	// a ring buffer's pages twice into the reader, and a drain touches
	// them all, so a larger one adds twice its size.
	var stallsPeak float64
	stallsCount := false
	if r.loss != nil {
		for _, tr := range r.loss.ramp {
			peak = max(peak, float64(tr.peakRSS))
		}
		for _, st := range r.loss.stalls {
			stallsPeak = max(stallsPeak, float64(st.peakRSS))
		}
		if stallsCount = r.loss.stallRingBytes == r.loss.defaultRingBytes; stallsCount {
			peak = max(peak, stallsPeak)
		}
	}
	if peak == 0 {
		return notMeasured(name)
	}
	measured := fmt.Sprintf("%s (%s), the largest VmHWM of any storm or loss trial", fmtMiB(peak), mbUnit.against(peak, rssLimit))
	if !stallsCount && stallsPeak > 0 {
		measured = fmt.Sprintf("%s (%s), the largest VmHWM of any storm trial or loss trial with the default ring buffer; %s in the "+
			"stalls, whose %s ring buffer counts twice in it (the kernel maps a ring buffer's pages twice into its reader, "+
			"so that a record that wraps around reads in one piece)", fmtMiB(peak), mbUnit.against(peak, rssLimit),
			fmtMiB(stallsPeak), fmtBytes(r.loss.stallRingBytes))
	}
	return target{name: name, measured: measured,
		verdict: verdictOf(peak <= rssLimit),
		why: "Most of it is there before the first event (§5, idle): the parsed kernel BTF and the kallsyms table. Dropping the " +
			"BTF once the programs are loaded, and keeping kallsyms as sorted address and name arrays rather than a map, would " +
			"lower both."}
}

const reportLimit = 5 * time.Second

func reportTarget(r *Results) target {
	name := "a one-million-event capture reported (and gated) in ≤ 5 s"
	rep := r.report
	if rep == nil || len(rep.cases) == 0 {
		return notMeasured(name)
	}
	var parts []string
	ok := true
	for _, c := range rep.cases {
		wall := wallSample(c.runs).median()
		parts = append(parts, fmt.Sprintf("%s %v %s", c.command, c.format, fmtNSAgainst(wall, float64(reportLimit))))
		ok = ok && wall <= float64(reportLimit)
	}
	return target{name: name, measured: strings.Join(parts, ", "), verdict: verdictOf(ok),
		why: "Reading is one pass that parses every line into the same `event.Event` with one `output.Parser`, which reuses " +
			"its strings and scratch space, so the steady state allocates nothing per line; what is left is the parsing itself, " +
			"field by field, and the aggregation. A CPU profile of the run that missed would say which; this machine's noise (see " +
			"the run's table) weighs on it too."}
}

func wallSample(runs []commandRun) sample {
	var s sample
	for _, run := range runs {
		s = append(s, float64(run.wall))
	}
	return s
}

func writeCost(d *doc, r *Results) {
	d.para("## 1. Kernel-side cost per event, and what a reclaim storm pays")
	s := r.storm
	if s == nil {
		d.failed(r, "storm", true)
		return
	}
	d.para("The storm: %d workers, each in a memory cgroup of its own limited to %s, read a %s sparse file over and over for %v. "+
		"Reading a hole allocates a zeroed page-cache page without any disk I/O, so every page read is an allocation charged "+
		"at the cgroup's limit and every cgroup reclaims its own page cache all the time (memory-cgroup reclaim, no OOM kill, "+
		"no global memory pressure). %d rounds; each round runs the storm untraced, under oomtrace (`oomtrace trace`, as "+
		"users run it), under a bpftrace script on the same tracepoints (below), under `perf record -e 'vmscan:*' -e 'oom:*' -a`, "+
		"and again under oomtrace, bpftrace, an empty program on each of oomtrace's tracepoints and each step of oomtrace's end "+
		"program (below) with the kernel's BPF run-time statistics on. %d more rounds then run the storm untraced and under "+
		"oomtrace only, back to back, each in the other order than the round before: they count toward the throughput of "+
		"those two alone, which takes more rounds than the programs' costs to measure.",
		s.spec.workers, fmtMiB(float64(s.spec.limitBytes)), fmtMiB(float64(s.spec.fileBytes)), s.duration, s.rounds, s.pairs)
	if dec, ok := s.decideThroughput(); ok {
		rule := fmt.Sprintf("The throughput target is looked at once, after those rounds: its verdict is the interval of "+
			"the median of oomtrace's per-round ratios at %.0f%% confidence. ", 100*firstLookLevel)
		if s.decidingPairs > 0 {
			rule = fmt.Sprintf("The throughput target is looked at twice. After those rounds, its verdict is the interval of "+
				"the median of oomtrace's per-round ratios at %.0f%% confidence; only if that interval holds the target do %s "+
				"more pairs run, the same way, and the verdict is then the interval over all the rounds at %.0f%% confidence. "+
				"Over the two looks, a wrong verdict has at most a 5%% chance; the first, over few rounds, decides only a "+
				"tracer far from the target. ", 100*firstLookLevel, fmtCount(uint64(s.decidingPairs)), 100*secondLookLevel)
		}
		d.para("%s%s", rule, throughputLooks(s, dec))
	}
	episode, decided := s.decideEpisode()
	if decided {
		level := fmt.Sprintf("%.0f%% confidence", 100*firstLookLevel)
		// Few rounds cannot give the level, even with the widest interval.
		if widest := rangeCoverage(s.rounds); widest < firstLookLevel {
			level += fmt.Sprintf(" or, over %d rounds, the most they give (their range, %.0f%%)", s.rounds, 100*widest)
		}
		rule := fmt.Sprintf("The reclaim episode's target is looked at once, after those rounds: its verdict is the "+
			"intervals, at %s, of the medians of oomtrace's episode and of its ratio to bpftrace's episode "+
			"in the same round. ", level)
		if s.episodePairs > 0 {
			rule = fmt.Sprintf("The reclaim episode's target is looked at twice too. After those rounds, its verdict is "+
				"the intervals, at %s, of the medians of oomtrace's episode and of its ratio to bpftrace's "+
				"episode in the same round; only if they leave it undecided do %d more pairs run, oomtrace's and "+
				"bpftrace's programs with the statistics on, each pair in the other order than the one before, and the "+
				"verdict is then that of all the rounds at %.0f%% confidence. ", level, s.episodePairs,
				100*secondLookLevel)
		}
		d.para("%s%s", rule, episodeLooks(s, episode))
	}
	d.failed(r, "storm", false)

	d.para("### Per program, under the storm")
	d.para("From the kernel's own accounting (`run_time_ns` / `run_cnt` of each program, with `BPF_ENABLE_STATS`), over the storm only; " +
		"median of the rounds. bpftrace's programs are named by the tracepoint they are attached to. The empty program, " +
		"`return 0` attached as `tp_btf` like oomtrace's, is the floor: what any program on that tracepoint costs.")
	ours, ourEpisode := s.costs(toolOomtrace)
	theirs, theirEpisode := s.costs(toolBpftrace)
	floor, _ := s.costs(toolEmpty)
	writeCostTable(d, ours, theirs, floor, true)
	d.para("Per reclaim episode (begin and end together): oomtrace %s, bpftrace %s, ratio %s (the median of the per-round "+
		"ratios, which the target holds). Runs the kernel skipped because another BPF program was running on the CPU "+
		"(recursion misses, events lost without a trace): oomtrace %d, bpftrace %d.",
		fmtNS(ourEpisode.median()), fmtNS(theirEpisode.median()), fmtRatio(episode.ratios.median()), misses(ours), misses(theirs))
	writeReclaimSteps(d, s)

	d.para("### Per program, under OOM kills")
	k := r.killCost
	if k == nil {
		d.failed(r, "killcost", true)
	} else {
		d.para("%d rounds of %d memory-cgroup OOM kills each (a process allocating %d MiB in a cgroup limited to %s), under "+
			"oomtrace, then under bpftrace. Every program that ran, with its total runs over the rounds.",
			k.rounds, k.killsPerRound, hogMiB, fmtMiB(hogLimitBytes))
		d.failed(r, "killcost", false)
		writeCostTable(d, k.costs(toolOomtrace), k.costs(toolBpftrace), nil, false)
	}

	d.para("### What the storm pays: throughput")
	d.para("By the wall clock, and per second of CPU time that the storm's workers and the tracer spent together (the BPF " +
		"programs and the kernel's perf records are built in the workers' context, and count there). Other processes share " +
		"the CPUs with the storm and move the first from round to round; the second is the throughput the storm would have " +
		"with the CPUs to itself. \"vs untraced\" is the median of the per-round ratios, each traced round against the " +
		"untraced run of the same round, with the 95%% confidence interval of that median from the order of the ratios (with " +
		"five rounds, their range, which covers the median 94%% of the time). Each tracer is first left to finish what it does after it " +
		"reports attached (oomtrace reads the kernel's symbols in the background), until its CPU time stands still for " +
		"a tenth of a second: the figures are what tracing the storm costs.")
	t := &markdownTable{header: []string{"tracer", "page allocations/s", "vs untraced", "pages per CPU-second", "vs untraced", "tracer CPU during the storm", "tracer output during the storm", "tracer peak RSS"}}
	for _, row := range s.throughput() {
		cpu, out, rss := missing, missing, missing
		if row.tool != toolNone {
			cpu = fmtPct(row.cpuShare.median()) + " of a CPU"
			rss = fmtMiB(row.peakRSS)
			out = fmt.Sprintf("%.0f lines", row.lines.median())
		}
		if row.tool == toolPerf {
			out = fmt.Sprintf("%.0f samples, %d records lost", row.perfSamples.median(), row.perfLost)
		}
		vs, cpuVs := missing, missing
		if row.tool != toolNone {
			vs = fmtPct(row.vsNone.median()) + " (" + fmtInterval(row.vsNone, fmtPct) + ")"
			cpuVs = fmtPct(row.cpuVsNone.median()) + " (" + fmtInterval(row.cpuVsNone, fmtPct) + ")"
		}
		t.add(row.tool.String(), fmtRate(row.pagesPerSec.median()), vs, fmtRate(row.pagesPerCPU.median()), cpuVs, cpu, out, rss)
	}
	d.table(t)
	d.para("oomtrace runs with its defaults: every event group it has, reclaim episodes of 1 ms or more as events, all of them in " +
		"histograms. The bpftrace script does what its reclaim and OOM programs do:")
	d.WriteString("```\n" + strings.TrimSpace(bpftraceScript) + "\n```\n\n")
}

// writeReclaimSteps shows the cost of oomtrace's end of reclaim program
// step by step.
func writeReclaimSteps(d *doc, s *stormResults) {
	steps, floor, whole, ok := s.stepCosts()
	if !ok {
		return
	}
	d.para("### The end program, step by step")
	d.para("oomtrace's `memcg_reclaim_end` taken apart (`bpf/reclaim_steps.bpf.c`, built from the tracer's own code): each "+
		"program below does one step more than the one above it. Each runs alone on `%s`, in a storm of its own in every "+
		"round, with the statistics on, so that no step finds the cache lines of the step before warm. \"adds\" is a "+
		"program's median less the one above it.", reclaimStepTracepoint)
	t := &markdownTable{header: []string{"program", "what it does", "ns per run", "adds"}}
	t.add("empty program", "nothing: the floor", fmtNS(floor), missing)
	for _, step := range steps {
		t.add("`"+step.program+"`", step.adds, fmtNS(step.ns), fmtSignedNS(step.added))
	}
	last := steps[len(steps)-1].ns
	t.add("oomtrace's `memcg_reclaim_end`", "all of the above, the filters, and a record for each episode of `--reclaim-min` or more "+
		"(naming the cgroup's histogram, which holds its path; a wake-up of the reader when it has not looked for "+fmtDur(tracer.WakeupWindow)+")", fmtNS(whole), fmtSignedNS(whole-last))
	d.table(t)
}

func misses(c costTable) uint64 {
	var n uint64
	for _, pc := range c {
		n += pc.misses
	}
	return n
}

// writeCostTable compares oomtrace's programs with bpftrace's on the same
// tracepoints and, where floor has runs, with an empty program there.
func writeCostTable(d *doc, ours, theirs, floor costTable, rates bool) {
	header := []string{"oomtrace program", "runs", "ns per run", "empty program, ns per run", "bpftrace program (same tracepoint)", "ns per run", "oomtrace ÷ bpftrace"}
	if rates {
		header[1] = "runs/s"
	}
	t := &markdownTable{header: header}
	runs := func(c costTable, label string) string {
		pc := c[label]
		if pc == nil || pc.runs == 0 {
			return missing
		}
		if rates {
			return fmtRate(pc.runsPerSec.median())
		}
		return fmtCount(pc.runs)
	}
	seen := make(map[string]bool)
	for _, p := range programPairs {
		if !ours.ran(p.program) && !theirs.ran(p.tracepoint) {
			continue
		}
		seen[p.program], seen[p.tracepoint] = true, true
		bt := missing
		if theirs.ran(p.tracepoint) {
			bt = "`" + p.tracepoint + "`"
		}
		t.add("`"+p.program+"`", runs(ours, p.program), fmtNS(ours.nsPerRun(p.program)), fmtNS(floor.nsPerRun(p.tracepoint)), bt, fmtNS(theirs.nsPerRun(p.tracepoint)),
			fmtRatio(ratio(ours.nsPerRun(p.program), theirs.nsPerRun(p.tracepoint))))
	}
	// Programs without a counterpart: oomtrace's other hooks.
	var others []string
	for label, pc := range ours {
		if !seen[label] && pc.runs > 0 {
			others = append(others, label)
		}
	}
	slices.Sort(others)
	for _, label := range others {
		t.add("`"+label+"`", runs(ours, label), fmtNS(ours.nsPerRun(label)), missing, missing, missing, missing)
	}
	d.table(t)
}

func writeLatency(d *doc, r *Results) {
	d.para("## 2. Detection latency")
	l := r.latency
	if l == nil {
		d.failed(r, "latency", true)
		return
	}
	var names []string
	for _, v := range l.variants {
		names = append(names, "`"+strings.TrimSpace("oomtrace trace --output json "+strings.Join(v.args, " "))+"`")
	}
	procs := 0
	for _, c := range l.conditions {
		procs = max(procs, c.procs)
	}
	quiet, alone := "", ""
	if _, ok := l.quietCondition(); ok {
		quiet = fmt.Sprintf(", an idle host with the kernel console quiet (console log level %d, under the \"Killed process\" "+
			"line's KERN_ERR, for the block alone: see the first target's reason)", kernErr)
	}
	if _, ok := l.find(func(c latencyCondition) bool { return c.alone }); ok {
		alone = ", and an idle host where the first oomtrace is the only reader (every other reader's process stopped with " +
			"SIGSTOP for the block, and resumed after it; with the console quiet too, where it prints kill lines)"
	}
	d.para("Memory-cgroup OOM kills one at a time, %v apart (the kernel prints the head of its OOM report at most 10 times in 5 s), "+
		"in blocks that alternate between an idle host, %d idle processes (`sleep`) in the cgroup whose limit is hit, so that the "+
		"kernel's task dump lists them all%s%s. Every kill is watched by %s, by a separate kernel-log reader process (the way cAdvisor "+
		"and node-problem-detector find OOM kills: it follows `/dev/kmsg`, parses the kernel's report with oomtrace's own parser "+
		"and prints a line once it has the kill), and by the same parser reading `/dev/kmsg` inside the harness (no second process, "+
		"no pipe: a lower bound for any kernel-log reader). Each latency runs from the kill's kernel timestamp (the event's `ktime_ns`, "+
		"CLOCK_BOOTTIME at `oom:mark_victim`) to the moment the harness read the reader's line (CLOCK_BOOTTIME). All readers run "+
		"at once and compete for the same CPUs, but where oomtrace is alone.",
		killPace, procs, quiet, alone, strings.Join(names, " and "))
	d.failed(r, "latency", false)
	t := &markdownTable{header: []string{"host", "reader", "kills", "p50", "p99", "max", "÷ oomtrace (p50)", "÷ oomtrace (p99)", "read before oomtrace"}}
	for _, c := range l.conditions {
		readers := l.readers(c.name)
		if len(readers) == 0 {
			continue
		}
		base := readers[0].latencies
		for i, rd := range readers {
			before := fmt.Sprintf("%d of %d", rd.aheadOfFirst, len(rd.latencies))
			p50r, p99r := fmtRatio(ratio(rd.latencies.median(), base.median())), fmtRatio(ratio(rd.latencies.percentile(99), base.percentile(99)))
			if i == 0 {
				before, p50r, p99r = missing, missing, missing
			}
			t.add(c.name, rd.name, fmt.Sprint(len(rd.latencies)), fmtNS(rd.latencies.median()), fmtNS(rd.latencies.percentile(99)),
				fmtNS(rd.latencies.max()), p50r, p99r, before)
		}
	}
	d.table(t)
	var notes []string
	for _, c := range l.conditions {
		lines, dur, full := l.reportSize(c.name)
		notes = append(notes, fmt.Sprintf("%s: %d of %d kills had the full report, a median of %.0f lines printed over %s before the kill",
			c.name, full, len(l.kills[c.name]), lines, fmtNS(dur)))
		if f := l.failures[c.name]; len(f) > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d kills failed, e.g. %s", c.name, len(f), f[0]))
		}
	}
	d.para("The kernel's report, from its header (\"invoked oom-killer\") to its \"Killed process\" line, in kernel-log time: %s. "+
		"p99 is the nearest-rank percentile: with 100 kills or fewer it is the largest.", strings.Join(notes, "; "))
	writeKillPath(d, l)
}

// writeKillPath shows where the first oomtrace's kill line spends its time.
func writeKillPath(d *doc, l *latencyResults) {
	d.para("### Where the time goes")
	d.para("The first oomtrace above, step by step: a bpftrace script stamps `oom:mark_victim` and, with uprobes on oomtrace's " +
		"binary, the entry of the functions that decode a kill's record, attribute it and explain it, and oomtrace's write(2) of " +
		"the line; the harness's read ends the path. The uprobes add a few microseconds to this oomtrace. The floor row is the " +
		"trivial ring-buffer reader of the table above: what the kernel, the scheduler and the pipe cost any reader of the ring buffer.")
	t := &markdownTable{header: []string{"host", "step", "kills", "p50", "p99", "max"}}
	for _, c := range l.conditions {
		steps, n := l.killPath(c.name)
		if n == 0 {
			continue
		}
		for _, st := range steps {
			t.add(c.name, st.name, fmt.Sprint(n), fmtNS(st.durations.median()), fmtNS(st.durations.percentile(99)), fmtNS(st.durations.max()))
		}
		readers := l.readers(c.name)
		for _, rd := range readers {
			if rd.name == floorReaderName || rd.name == readers[0].name {
				t.add(c.name, "**"+rd.name+"**, whole path", fmt.Sprint(len(rd.latencies)), fmtNS(rd.latencies.median()),
					fmtNS(rd.latencies.percentile(99)), fmtNS(rd.latencies.max()))
			}
		}
	}
	d.table(t)
}

func writeLoss(d *doc, r *Results) {
	d.para("## 3. Loss under burst")
	l := r.loss
	if l == nil {
		d.failed(r, "loss", true)
		return
	}
	d.para("oomtrace with `%s` (every reclaim episode is an event; with `--events`, only OOM and reclaim hooks, so that the lost "+
		"count is about these alone) under storms of 1 to %d workers, %v each, %d rounds. `counted` is the kernel's own count of "+
		"episodes from the `reclaim_stats` histograms, which count every episode before the ring buffer is tried: delivered "+
		"events plus lost ones must add up to it.",
		strings.Join(l.args, " "), l.levels[len(l.levels)-1], r.cfg.StormDuration, l.rounds)
	d.failed(r, "loss", false)
	t := &markdownTable{header: []string{"storm workers", "page allocations/s", "reclaim events/s delivered", "range", "lost", "delivered + lost = counted", "oomtrace CPU per event", "oomtrace CPU"}}
	for _, row := range l.rampRows() {
		t.add(fmt.Sprint(row.workers), fmtRate(row.pagesPerSec.median()), fmtRate(row.eventsPerSec.median()), fmtRange(row.eventsPerSec, fmtRate), fmtCount(row.lost),
			fmt.Sprintf("%d of %d trials", row.balanced, row.trials), fmtNS(row.cpuPerEvent.median()), fmtPct(row.cpuShare.median())+" of a CPU")
	}
	d.table(t)
	if len(l.stalls) == 0 {
		return
	}
	st := l.stalls[0]
	d.para("Beyond what the tracer drains: the same storm with %d workers for %v, oomtrace (`%s`) stopped (SIGSTOP) %v in and "+
		"resumed (SIGCONT) %v after the storm ended, %v later: the kernel keeps producing while nobody reads, and oomtrace then "+
		"drains the backlog on its own. One OOM kill follows; then oomtrace is stopped as long again and resumed with nothing "+
		"to drain, and its CPU over the same window is what a stall costs it by itself.%s A drain is short and the host's "+
		"noise is not, so this is done %s, and the targets quote the medians.%s", st.workers, st.duration, strings.Join(l.stallArgs, " "),
		stallAfter, stallSettle, st.stopped.Round(time.Millisecond), stallRingText(l), plural(uint64(len(l.stalls)), "time"), decidingStallsText(l))
	if len(l.floors) > 0 {
		d.para("The drain floor, stalled and resumed the same way after each of them: the least a tracer can do with such a "+
			"backlog. A program of a few instructions on `mm_vmscan_memcg_reclaim_end` puts a record of the size of "+
			"oomtrace's reclaim record (%d bytes) in a ring buffer of the size of oomtrace's, and a process reads them and "+
			"writes, for each, a line as long as oomtrace's reclaim lines in the stall before it, in batches of oomtrace's "+
			"size (%s), through the same pipe, its buffer grown to %s as oomtrace grows it, to the same line counting; it too "+
			"is then stopped and resumed with nothing to drain. Its figures are what reading a ring buffer, being woken and "+
			"writing lines through the pipe cost any reader here.", tracer.ReclaimRecordBytes,
			fmt.Sprintf("%d KiB", output.BufferSize>>10), fmtBytes(output.PipeBytes))
	}
	header := []string{""}
	for i := range l.stalls {
		header = append(header, fmt.Sprintf("trial %d", i+1))
	}
	t = &markdownTable{header: header}
	stallRow := func(name string, cell func(st *stallTrial) string) {
		t.add(append([]string{name}, perTrialCells(l.stalls, cell)...)...)
	}
	floorRow := func(name string, cell func(f *drainFloorTrial) string) {
		cells := perTrialCells(l.floors, cell)
		for len(cells) < len(l.stalls) {
			cells = append(cells, missing)
		}
		t.add(append([]string{name}, cells...)...)
	}
	stallRow("reclaim episodes counted by the kernel", func(st *stallTrial) string { return fmtCount(st.tally.episodes) })
	stallRow("reclaim events delivered", func(st *stallTrial) string { return fmtCount(st.tally.reclaims) })
	stallRow("lost, in oomtrace's `lost` events", func(st *stallTrial) string {
		return fmt.Sprintf("%s (in %s)", fmtCount(st.tally.lostTotal), plural(st.tally.lostLines, "`lost` event"))
	})
	stallRow("lost, in its exit summary", func(st *stallTrial) string { return fmtCount(st.exit.Lost) })
	stallRow("delivered + lost = counted", func(st *stallTrial) string {
		return map[bool]string{true: "yes", false: "**no**"}[st.tally.reclaims+st.exit.Lost == st.tally.episodes]
	})
	stallRow("events of the stopped interval delivered afterwards (held by the ring buffer)", func(st *stallTrial) string { return fmtCount(st.held) })
	stallRow("drained after SIGCONT", func(st *stallTrial) string {
		return fmt.Sprintf("in %s: %s", fmtDur(st.drain), fmtRate(st.drainRate()))
	})
	stallRow("oomtrace's CPU while draining, per line", func(st *stallTrial) string {
		return fmt.Sprintf("%s (%s for %s lines)", fmtNS(st.drainCPUPerEvent()), fmtDur(st.drainCPU), fmtCount(st.tally.drained))
	})
	stallRow("oomtrace's CPU over the same window, stopped as long and resumed with nothing to drain", func(st *stallTrial) string {
		return fmtDur(st.idleCPU)
	})
	stallRow("oomtrace's CPU while draining, less that, per line", func(st *stallTrial) string { return fmtNS(st.marginalCPUPerEvent()) })
	floorRow("drain floor: line length", func(f *drainFloorTrial) string { return fmt.Sprintf("%d bytes", f.lineBytes) })
	floorRow("drain floor: drained after SIGCONT", func(f *drainFloorTrial) string {
		return fmt.Sprintf("%s records in %s: %s", fmtCount(f.lines), fmtDur(f.drain), fmtRate(f.rate()))
	})
	floorRow("drain floor: its CPU while draining, per line", func(f *drainFloorTrial) string {
		return fmt.Sprintf("%s (%s for %s lines)", fmtNS(f.cpuPerLine()), fmtDur(f.cpu), fmtCount(f.lines))
	})
	floorRow("drain floor: its CPU over the same window with nothing to drain", func(f *drainFloorTrial) string { return fmtDur(f.idleCPU) })
	floorRow("drain floor: its CPU while draining, less that, per line", func(f *drainFloorTrial) string { return fmtNS(f.marginalCPUPerLine()) })
	stallRow("the OOM kill after the storm", func(st *stallTrial) string {
		switch {
		case st.killErr != nil:
			return "not caused: " + oneLine(st.killErr)
		case !st.killDetected:
			return "**not reported**"
		}
		return "reported"
	})
	stallRow("decode errors", func(st *stallTrial) string { return fmtCount(st.exit.DecodeErrors) })
	d.table(t)
	rate, _ := l.maxLossless()
	d.para("The largest rate measured without loss is %s, the most the storm produced here. The default ring buffer (%s) holds %s "+
		"reclaim records (its size over a record's, with the kernel's header); the stalls' (%s) held %s, and oomtrace empties "+
		"it at %s when it has a backlog (text to a pipe the harness reads; medians of the trials). 200k events/s cannot be "+
		"produced here (see the last section); at that rate the default buffer would hold a burst of %s.",
		fmtRate(rate), fmtBytes(l.defaultRingBytes), fmtCount(ringCapacity(l.defaultRingBytes)), fmtBytes(l.stallRingBytes),
		fmtCount(uint64(l.held().median())), fmtRate(l.drainRate().median()), burstTolerance(l))
}

// perTrialCells is cell of each trial.
func perTrialCells[T any](trials []T, cell func(T) string) []string {
	cells := make([]string, 0, len(trials))
	for _, t := range trials {
		cells = append(cells, cell(t))
	}
	return cells
}

// trialsOf says how many trials a median is of.
func trialsOf(n int) string {
	if n == 1 {
		return "one trial"
	}
	return fmt.Sprintf("median of %d trials", n)
}

// signalBenchPrefix names the results of e2e's BenchmarkSignalHook:
// "SignalHook/<untraced|traced>/<signal>".
const signalBenchPrefix = "SignalHook/"

// writeSignalHook puts what the signal hook adds to a kill(2) side by side:
// the same signal sent untraced and with oomtrace attached, in one run.
func writeSignalHook(d *doc, g *goBenchResults) {
	byName := map[string]goBench{}
	for _, b := range g.benches {
		byName[b.name] = b
	}
	t := &markdownTable{header: []string{"signal", "untraced", "with oomtrace", "added per signal", "ratio"}}
	for _, sig := range []string{"SIGUSR1", "SIGTERM"} {
		off, okOff := byName[signalBenchPrefix+"untraced/"+sig]
		on, okOn := byName[signalBenchPrefix+"traced/"+sig]
		if !okOff || !okOn {
			continue
		}
		a, b := off.nsPerOp.median(), on.nsPerOp.median()
		t.add(sig, fmtNS(a), fmtNS(b), fmtNS(b-a), fmt.Sprintf("%.2f×", b/a))
	}
	if len(t.rows) == 0 {
		d.para("The signal hook's benchmark (`BenchmarkSignalHook` in `e2e/`) did not run: it needs root.")
		return
	}
	d.para("The signal hook runs for every signal the machine sends. `BenchmarkSignalHook` (in `e2e/`) sends signals to its own " +
		"process with kill(2), without oomtrace and with `oomtrace trace` attached (every event group, no filter): SIGUSR1, which " +
		"the hook drops after two comparisons, and SIGTERM, which it reports (a ring-buffer record and a line of output). " +
		"Medians of the runs, side by side in one run:")
	d.table(t)
}

func writeUserSpace(d *doc, r *Results) {
	d.para("## 4. User-space decode and format")
	g := r.goBench
	if g == nil {
		d.failed(r, "gobench", true)
	} else {
		d.para("`%s`, then each package's test binary in turn, in its package's directory, so that no build runs beside "+
			"a benchmark: `%s`. Decoding one record of each kind (a synthetic record in the kernel's layout), "+
			"formatting one event (a memcg kill) into a discarded buffer, and naming a stack of 13 frames against this "+
			"kernel's symbols (`LookupStack`); medians of the runs.", g.build, g.run)
		d.failed(r, "gobench", false)
		t := &markdownTable{header: []string{"benchmark", "ns/op", "B/op", "allocs/op", "runs"}}
		for _, b := range g.benches {
			if !strings.HasPrefix(b.name, signalBenchPrefix) {
				t.add(b.name, fmtNS(b.nsPerOp.median()), fmt.Sprintf("%g", b.bytesPerOp.median()), fmt.Sprintf("%g", b.allocsPerOp.median()), fmt.Sprint(len(b.nsPerOp)))
			}
		}
		d.table(t)
		writeSignalHook(d, g)
	}
	if r.pipeline == nil {
		d.failed(r, "pipeline", true)
		return
	}
	d.para("End to end in user space: real records, as oomtrace's BPF programs wrote them on this kernel during a storm "+
		"(with `--reclaim-min 0`) and an OOM kill, replayed through oomtrace's decoder and writers to /dev/null, the writer "+
		"holding lines until 64 KiB are ready, as `oomtrace trace` does while it drains (`testing.Benchmark`, one goroutine). "+
		"The last stage of each kind is the whole way `oomtrace trace` gives a record it read: decoding, the classify, "+
		"attribute, explain and filter stages, the text line, flushed every %d records.", flushEvery)
	d.failed(r, "pipeline", false)
	t := &markdownTable{header: []string{"record", "stage", "distinct records", "ns per record", "records/s on one CPU", "allocs per record", "B per record"}}
	for _, row := range r.pipeline {
		t.add(row.kind.String(), row.stage, fmtCount(uint64(row.records)), fmtNS(row.nsPerOp), fmtRate(1e9/row.nsPerOp),
			fmt.Sprint(row.allocs), fmt.Sprint(row.bytes))
	}
	d.table(t)
	for _, row := range r.pipeline {
		if row.stage == stageAll && row.allocs > 0 {
			d.para("Through every stage, a %s record allocates %d times: the explain stage writes its verdict, a sentence "+
				"built for people, and only the decoder and the writers are kept free of allocations.", row.kind, row.allocs)
		} else if row.allocs > 0 {
			d.para("**The writers allocate**: %s records, %s: %d per record.", row.kind, row.stage, row.allocs)
		}
	}
	if text, ok := pipelineRowOf(r.pipeline, event.KindReclaim, stageText); ok {
		if jsonRow, ok := pipelineRowOf(r.pipeline, event.KindReclaim, stageJSON); ok {
			d.para("So one CPU turns reclaim records into text lines at %s and into JSON lines at %s; §3 shows what the "+
				"whole binary does with a backlog, reading the ring buffer and writing to a pipe.",
				fmtRate(1e9/text.nsPerOp), fmtRate(1e9/jsonRow.nsPerOp))
		}
	}
}

func writeStartup(d *doc, r *Results) {
	d.para("## 5. Start-up and memory")
	s := r.startup
	if s == nil {
		d.failed(r, "startup", true)
		return
	}
	d.para("From exec to attached, %d rounds: for oomtrace until it writes its `--ready-file` (seen with inotify), for bpftrace "+
		"until it reports every probe attached (`__BPFTRACE_NOTIFY_PROBES_ATTACHED`), for perf until it acknowledges enabling its "+
		"events on its control fifo (`-D -1 --control`). Peak RSS is VmHWM after a second idle; under the storm, the largest "+
		"VmHWM of the storm trials of §1 (and, for oomtrace, of the loss trials of §3, with every episode an event).", s.rounds)
	d.failed(r, "startup", false)
	stormRSS := map[tool]float64{}
	if r.storm != nil {
		for _, row := range r.storm.throughput() {
			stormRSS[row.tool] = row.peakRSS
		}
	}
	if r.loss != nil {
		for _, tr := range r.loss.ramp {
			stormRSS[toolOomtrace] = max(stormRSS[toolOomtrace], float64(tr.peakRSS))
		}
	}
	t := &markdownTable{header: []string{"tool", "exec → attached", "range", "÷ bpftrace", "peak RSS idle", "peak RSS under the storm"}}
	rows := s.rows()
	bpftraceStartup := nan
	for _, row := range rows {
		if row.label == "bpftrace" {
			bpftraceStartup = row.startup.median()
		}
	}
	for i, row := range rows {
		under := missing
		subject := s.subjects[i]
		if len(subject.args) == 0 {
			under = fmtMiB(stormRSS[subject.tool])
		}
		t.add(row.label, fmtNS(row.startup.median()), fmtRange(row.startup, fmtNS), fmtRatio(ratio(row.startup.median(), bpftraceStartup)),
			fmtMiB(row.idleRSS.median()), under)
	}
	d.table(t)
}

func writeReport(d *doc, r *Results) {
	d.para("## 6. Report and gate of a one-million-event capture")
	rep := r.report
	if rep == nil {
		d.failed(r, "report", true)
		return
	}
	d.para("A synthetic capture as `oomtrace record` writes it, of %s events (reclaim episodes in 50 cgroups, every thousandth "+
		"a kernel histogram, every ten-thousandth an OOM kill), in each format; `oomtrace report FILE` and `oomtrace gate FILE %s`, "+
		"interleaved, %d runs each, output discarded. "+peakRSSHow,
		fmtCount(uint64(rep.events)), strings.Join(rep.gate, " "), r.cfg.ReportRounds)
	d.failed(r, "report", false)
	t := &markdownTable{header: []string{"command", "capture", "size", "seconds", "range", "events/s", "peak RSS"}}
	for _, c := range rep.cases {
		wall := wallSample(c.runs)
		var rss float64
		for _, run := range c.runs {
			rss = max(rss, float64(run.peakRSS))
		}
		t.add("oomtrace "+c.command, formatName(c.format), fmtMiB(float64(c.size)), fmtNS(wall.median()), fmtRange(wall, fmtNS),
			fmtRate(float64(rep.events)/(wall.median()/1e9)), fmtMiB(rss))
	}
	d.table(t)
}

// peakRSSHow says how sections 6 and 7 measure a command's peak RSS.
const peakRSSHow = "Peak RSS is the kernel's accounting of the command (`ru_maxrss`), taken by a small process that starts it: " +
	"the harness's own would count the harness's memory too, since Go starts a child in its parent's memory until it execs."

func writeKernelLog(d *doc, r *Results) {
	d.para("## 7. A kernel log after the fact")
	k := r.kernlog
	if k == nil {
		d.failed(r, "kernellog", true)
		return
	}
	d.para("A syslog file of %s as rsyslog writes `kern.log`: %s copies of a real memcg OOM report of this machine (`%s`, each with "+
		"a pid of its own) spread among other programs' lines and the kernel's other messages. `oomtrace explain --output json FILE` "+
		"(it found %s kills) and `oomtrace report FILE`, interleaved, %d runs each, output discarded. "+peakRSSHow,
		fmtMiB(float64(k.size)), fmtCount(uint64(k.reports)), kernelLogTemplate, fmtCount(uint64(k.found)), r.cfg.ReportRounds)
	d.failed(r, "kernellog", false)
	t := &markdownTable{header: []string{"command", "seconds", "range", "MB/s", "peak RSS"}}
	for _, c := range k.cases {
		wall := wallSample(c.runs)
		var rss float64
		for _, run := range c.runs {
			rss = max(rss, float64(run.peakRSS))
		}
		t.add("oomtrace "+c.command, fmtNS(wall.median()), fmtRange(wall, fmtNS), fmt.Sprintf("%.0f", float64(k.size)/(1<<20)/(wall.median()/1e9)), fmtMiB(rss))
	}
	d.table(t)
}

// plural writes "1 thing" or "n things".
func plural(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmtCount(n) + " " + thing + "s"
}

func formatName(f output.Format) string {
	if f == output.JSON {
		return "JSON Lines"
	}
	return "text"
}
