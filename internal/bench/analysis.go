package bench

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// programPair is one of oomtrace's programs and the tracepoint it runs on,
// which is how the bpftrace script's program on it is named.
type programPair struct {
	program    string
	tracepoint string
	reclaim    bool // times reclaim: the programs the cost target is about
}

var programPairs = []programPair{
	{"memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_begin", true},
	{"memcg_reclaim_end", "mm_vmscan_memcg_reclaim_end", true},
	{"direct_reclaim_begin", "mm_vmscan_direct_reclaim_begin", true},
	{"direct_reclaim_end", "mm_vmscan_direct_reclaim_end", true},
	{"softlimit_reclaim_begin", "mm_vmscan_memcg_softlimit_reclaim_begin", true},
	{"softlimit_reclaim_end", "mm_vmscan_memcg_softlimit_reclaim_end", true},
	{"mark_victim", "mark_victim", false},
	{"wake_reaper", "wake_reaper", false},
	{"start_task_reaping", "start_task_reaping", false},
	{"finish_task_reaping", "finish_task_reaping", false},
	{"skip_task_reaping", "skip_task_reaping", false},
	{"kswapd_wake", "mm_vmscan_kswapd_wake", false},
}

// reclaimLabels are the programs that open (end false) or close (end
// true) a reclaim episode, under both namings.
func reclaimLabels(end bool) []string {
	var labels []string
	for _, p := range programPairs {
		if p.reclaim && strings.HasSuffix(p.program, "_end") == end {
			labels = append(labels, p.program, p.tracepoint)
		}
	}
	return labels
}

// progCost sums a program's runs over trials.
type progCost struct {
	nsPerRun   sample // per trial with runs
	runsPerSec sample // per trial
	runs       uint64
	misses     uint64
}

// costTable is the cost of each program of a tool, by label.
type costTable map[string]*progCost

func (c costTable) add(progs map[string]progDelta, d time.Duration) {
	for label, p := range progs {
		pc := c[label]
		if pc == nil {
			pc = &progCost{}
			c[label] = pc
		}
		pc.runs += p.Runs
		pc.misses += p.Misses
		if d > 0 {
			pc.runsPerSec = append(pc.runsPerSec, float64(p.Runs)/d.Seconds())
		}
		if p.Runs > 0 {
			pc.nsPerRun = append(pc.nsPerRun, p.nsPerRun())
		}
	}
}

// nsPerRun is the median cost of label's program; NaN if it never ran.
func (c costTable) nsPerRun(label string) float64 {
	if pc := c[label]; pc != nil {
		return pc.nsPerRun.median()
	}
	return nan
}

func (c costTable) ran(label string) bool {
	pc := c[label]
	return pc != nil && pc.runs > 0
}

// episodeCost is the kernel time of the reclaim programs of one trial per
// reclaim episode (a begin and an end); NaN without episodes.
func episodeCost(progs map[string]progDelta) float64 {
	var runtime time.Duration
	var episodes uint64
	for _, label := range reclaimLabels(false) {
		runtime += progs[label].Runtime
	}
	for _, label := range reclaimLabels(true) {
		runtime += progs[label].Runtime
		episodes += progs[label].Runs
	}
	if episodes == 0 {
		return nan
	}
	return float64(runtime.Nanoseconds()) / float64(episodes)
}

// stormCosts are the programs' costs of tool t over the storm trials with
// statistics, and the cost per reclaim episode.
func (s *stormResults) costs(t tool) (costTable, sample) {
	table := make(costTable)
	var perEpisode sample
	for _, tr := range s.trials {
		if tr.cfg.tool == t && tr.cfg.stats {
			table.add(tr.progs, s.duration)
			perEpisode = append(perEpisode, episodeCost(tr.progs))
		}
	}
	return table, perEpisode
}

func (k *killCostResults) costs(t tool) costTable {
	table := make(costTable)
	for _, tr := range k.trials {
		if tr.tool == t {
			table.add(tr.progs, 0)
		}
	}
	return table
}

// throughputRow is how the storm fared under one tool.
type throughputRow struct {
	tool        tool
	pagesPerSec sample
	vsNone      sample // per round: this tool's throughput / the untraced one's
	// pagesPerCPU is pages per second of CPU time spent by the storm's
	// workers and the tracer together: the throughput the storm would have
	// with the CPUs to itself, which other processes do not disturb.
	pagesPerCPU sample
	cpuVsNone   sample // per round, as vsNone
	cpuShare    sample // the tool's CPU time / the storm's duration
	lines       sample
	wakeups     sample // the tool's threads' voluntary context switches per second
	perfSamples sample
	perfLost    uint64
	peakRSS     float64 // the largest, bytes
}

// throughput summarises the storm trials without statistics by tool.
func (s *stormResults) throughput() []throughputRow {
	untraced := make(map[int]stormTrial) // by round
	for _, tr := range s.trials {
		if tr.cfg == (stormConfig{tool: toolNone}) {
			untraced[tr.round] = tr
		}
	}
	var rows []throughputRow
	for _, t := range []tool{toolNone, toolOomtrace, toolBpftrace, toolPerf} {
		row := throughputRow{tool: t}
		for _, tr := range s.trials {
			if tr.cfg != (stormConfig{tool: t}) {
				continue
			}
			row.pagesPerSec = append(row.pagesPerSec, tr.storm.PagesPerSec)
			row.pagesPerCPU = append(row.pagesPerCPU, tr.pagesPerCPU())
			if base, ok := untraced[tr.round]; ok {
				row.vsNone = append(row.vsNone, ratio(tr.storm.PagesPerSec, base.storm.PagesPerSec))
				row.cpuVsNone = append(row.cpuVsNone, ratio(tr.pagesPerCPU(), base.pagesPerCPU()))
			}
			row.cpuShare = append(row.cpuShare, tr.cpu.Seconds()/s.duration.Seconds())
			row.lines = append(row.lines, float64(tr.lines))
			row.wakeups = append(row.wakeups, float64(tr.wakeups)/s.duration.Seconds())
			row.perfSamples = append(row.perfSamples, float64(tr.exit.PerfSamples))
			row.perfLost += tr.exit.PerfLost
			row.peakRSS = max(row.peakRSS, float64(tr.peakRSS))
		}
		rows = append(rows, row)
	}
	return rows
}

// The throughput target is looked at twice: after the rounds every run
// has, and, when those leave it undecided, once more after the deciding
// pairs. Each look asks its own confidence of the median's interval, and
// the two together give a wrong verdict a chance of at most 5%: 1% at the
// first look, whose few rounds decide only a tracer far from the target,
// and 4% at the second, where the many rounds are.
const (
	firstLookLevel  = 0.99
	secondLookLevel = 0.96
)

// throughputDecision is the throughput target's verdict on the rounds so
// far: oomtrace's row and its median's interval at the look's level.
type throughputDecision struct {
	rows                    []throughputRow
	ours                    throughputRow
	level, lo, hi, coverage float64
	verdict                 verdict
}

// decidingRan is how many deciding pairs ran: the rounds after the first
// ones, counted from the trials, so that a storm stopped among them says
// how far it got.
func (s *stormResults) decidingRan() int {
	ran := 0
	for _, tr := range s.trials {
		if slices.Contains(throughputConfigs, tr.cfg) {
			ran = max(ran, tr.round+1-(s.rounds+s.pairs))
		}
	}
	return ran
}

// nextRound is the number of the round after every round that ran.
func (s *stormResults) nextRound() int {
	next := 0
	for _, tr := range s.trials {
		next = max(next, tr.round+1)
	}
	return next
}

// decideThroughput holds the interval of the median of oomtrace's
// per-round ratios per CPU-second against the target: met when the whole
// interval is at or over it, missed when under it, undecided otherwise.
// False when no round compared oomtrace with the untraced storm. The
// verdict is the median's interval, not the median: with rounds as far
// apart as this host makes them, the median alone lands on either side of
// the target from one run to the next.
func (s *stormResults) decideThroughput() (throughputDecision, bool) {
	d := throughputDecision{rows: s.throughput(), level: firstLookLevel}
	i := slices.IndexFunc(d.rows, func(row throughputRow) bool { return row.tool == toolOomtrace && len(row.cpuVsNone) > 0 })
	if i < 0 {
		return d, false
	}
	d.ours = d.rows[i]
	if s.decidingRan() > 0 {
		d.level = secondLookLevel
	}
	d.lo, d.hi, d.coverage = d.ours.cpuVsNone.medianInterval(d.level)
	switch {
	case d.lo >= throughputTargetRatio:
		d.verdict = met
	case d.hi < throughputTargetRatio:
		d.verdict = missed
	default:
		d.verdict = undecided
	}
	return d, true
}

// episodeDecision is the reclaim episode target's verdict on the rounds so
// far. Like the throughput's, it is looked at twice (firstLookLevel), and
// held against intervals of medians, not medians: oomtrace's episode
// against episodeCostLimit, and its ratio to bpftrace's episode of the
// same round against episodeBpftraceMost. On this host the clock read
// alone moves by tens of nanoseconds from one run to the next, and the
// median ratio with it, from either side of the target.
type episodeDecision struct {
	ours, ratios     sample // per round with statistics: oomtrace's episode, ns; it ÷ bpftrace's
	level            float64
	nsLo, nsHi       float64
	ratioLo, ratioHi float64
	coverage         float64 // of the ratios' interval
	verdict          verdict
	rounds, deciding int // rounds compared; of them, the deciding rounds
}

// episodeRounds are the per-round figures of the episode target: for each
// round with both, oomtrace's episode in its trial with statistics, and
// its ratio to bpftrace's episode in the same round.
func (s *stormResults) episodeRounds() (ours, ratios sample) {
	theirs := make(map[int]float64) // by round
	for _, tr := range s.trials {
		if tr.cfg == (stormConfig{tool: toolBpftrace, stats: true}) {
			theirs[tr.round] = episodeCost(tr.progs)
		}
	}
	for _, tr := range s.trials {
		if tr.cfg != (stormConfig{tool: toolOomtrace, stats: true}) {
			continue
		}
		if t, ok := theirs[tr.round]; ok {
			ns := episodeCost(tr.progs)
			if q := ratio(ns, t); !math.IsNaN(q) {
				ours, ratios = append(ours, ns), append(ratios, q)
			}
		}
	}
	return ours, ratios
}

// episodeRan is how many deciding rounds of the episode target ran.
func (s *stormResults) episodeRan() int {
	ran := make(map[int]bool)
	for _, tr := range s.trials {
		if tr.round >= s.rounds && slices.Contains(episodeConfigs, tr.cfg) {
			ran[tr.round] = true
		}
	}
	return len(ran)
}

// decideEpisode holds the intervals of the medians of oomtrace's episode
// and of its per-round ratio to bpftrace's against their limits: met when
// both intervals are at or under them, missed when either is over, and
// undecided otherwise. False when no round has both tools' statistics.
func (s *stormResults) decideEpisode() (episodeDecision, bool) {
	d := episodeDecision{level: firstLookLevel, deciding: s.episodeRan()}
	d.ours, d.ratios = s.episodeRounds()
	if len(d.ratios) == 0 {
		return d, false
	}
	if d.deciding > 0 {
		d.level = secondLookLevel
	}
	d.rounds = len(d.ratios)
	var ns, ratio verdict
	ns, d.nsLo, d.nsHi, _ = underLimit(d.ours, episodeCostLimit, d.level)
	ratio, d.ratioLo, d.ratioHi, d.coverage = underLimit(d.ratios, episodeBpftraceMost, d.level)
	switch {
	case ns == met && ratio == met:
		d.verdict = met
	case ns == missed || ratio == missed:
		d.verdict = missed
	default:
		d.verdict = undecided
	}
	return d, true
}

// cpuPerEventDecision is the CPU-per-event target's verdict on the stalled
// trials so far, held against the interval of their median: the drain's
// CPU per line moves by hundreds of nanoseconds between trials here, and
// the median alone lands on either side of the limit from one run to the
// next. Like the storm's targets it is looked at twice (firstLookLevel):
// after the first trials and, when they leave it undecided, after the
// deciding ones.
type cpuPerEventDecision struct {
	marginal                sample // per trial, the drain's CPU per line less the stall's own
	first, deciding         int    // trials of the first look, and the deciding trials that ran
	level, lo, hi, coverage float64
	verdict                 verdict
}

// decideCPUPerEvent gives the CPU-per-event target's verdict; false when
// no trial measured it.
func (l *lossResults) decideCPUPerEvent() (cpuPerEventDecision, bool) {
	d := cpuPerEventDecision{marginal: l.marginalCPUPerEvent(), level: firstLookLevel}
	if math.IsNaN(d.marginal.median()) {
		return d, false
	}
	if l.firstStalls > 0 && len(d.marginal) > l.firstStalls {
		d.deciding = len(d.marginal) - l.firstStalls
		d.level = secondLookLevel
	}
	d.first = len(d.marginal) - d.deciding
	d.verdict, d.lo, d.hi, d.coverage = underLimit(d.marginal, cpuPerEventLimit, d.level)
	return d, true
}

// underLimit holds the interval of the median of s, at level, against
// limit, for a figure that is to be at most limit: met when the whole
// interval is at or under it, missed when over it, undecided otherwise.
// It returns the interval and its own confidence too.
func underLimit(s sample, limit, level float64) (v verdict, lo, hi, coverage float64) {
	lo, hi, coverage = s.medianInterval(level)
	switch {
	case hi <= limit:
		v = met
	case lo > limit:
		v = missed
	default:
		v = undecided
	}
	return v, lo, hi, coverage
}

// ownShare is, per trial of tool t with the BPF statistics on, the part of
// the CPU time spent on the storm that t's own work took: its programs'
// run time (in the workers' context) and its process's CPU time, over the
// workers' CPU time and the process's together. It accounts for what t
// does itself, not for what it does to the workers (their caches, the
// interrupts that wake its reader).
func (s *stormResults) ownShare(t tool) sample {
	var share sample
	for _, tr := range s.trials {
		if tr.cfg != (stormConfig{tool: t, stats: true}) {
			continue
		}
		var progs time.Duration
		for _, d := range tr.progs {
			progs += d.Runtime
		}
		share = append(share, ratio((progs+tr.cpu).Seconds(), (tr.storm.CPU+tr.cpu).Seconds()))
	}
	return share
}

// pagesPerCPU is the trial's pages per second of CPU time of the workers
// and the tool together; NaN if unknown.
func (tr stormTrial) pagesPerCPU() float64 {
	return ratio(float64(tr.storm.Pages), (tr.storm.CPU + tr.cpu).Seconds())
}

// oomtracePeakRSS is oomtrace's largest peak RSS over the storm trials.
func (s *stormResults) oomtracePeakRSS() float64 {
	var peak float64
	for _, tr := range s.trials {
		if tr.cfg.tool == toolOomtrace {
			peak = max(peak, float64(tr.peakRSS))
		}
	}
	return peak
}

// The kernel-log readers of the latency scenario, by name.
const (
	kmsgAgentReader  = "kernel-log reader process"
	kmsgDirectReader = "kernel log read in the harness"
	floorReaderName  = "floor: a trivial ring-buffer reader"
)

// latencyReader is one reader's latencies under one condition.
type latencyReader struct {
	name         string
	latencies    sample // nanoseconds
	aheadOfFirst int    // kills this reader read before the first oomtrace variant
}

// readers returns the latencies of every reader under cond, oomtrace's
// variants first.
func (l *latencyResults) readers(cond string) []latencyReader {
	kills := l.kills[cond]
	var out []latencyReader
	pick := func(name string, f func(latencyKill) time.Duration) {
		r := latencyReader{name: name}
		for _, k := range kills {
			d := f(k)
			r.latencies = append(r.latencies, float64(d))
			if len(k.oomtrace) > 0 && d < k.oomtrace[0] {
				r.aheadOfFirst++
			}
		}
		out = append(out, r)
	}
	variants := l.variants
	_, alone := l.find(func(c latencyCondition) bool { return c.name == cond && c.alone })
	if alone {
		variants = variants[:1] // the first oomtrace was the only reader
	}
	for i, v := range variants {
		pick(v.name, func(k latencyKill) time.Duration { return k.oomtrace[i] })
	}
	if alone {
		return out
	}
	pick(kmsgAgentReader, func(k latencyKill) time.Duration { return k.kmsgAgent })
	pick(kmsgDirectReader, func(k latencyKill) time.Duration { return k.kmsgDirect })
	pick(floorReaderName, func(k latencyKill) time.Duration { return k.floor })
	return out
}

// floorAheadOfAgent counts the kills under cond that the floor reader
// reported before the kernel-log reader process, of n kills: how often any
// reader of the ring buffer comes first here.
func (l *latencyResults) floorAheadOfAgent(cond string) (ahead, n int) {
	for _, k := range l.kills[cond] {
		n++
		if k.floor < k.kmsgAgent {
			ahead++
		}
	}
	return ahead, n
}

// firstAgainstAgent counts the kills under cond that the first oomtrace
// variant reported no later than the kernel-log reader process (a tie is
// oomtrace's), of n kills.
func (l *latencyResults) firstAgainstAgent(cond string) (first, n int) {
	readers := l.readers(cond)
	j := slices.IndexFunc(readers, func(rd latencyReader) bool { return rd.name == kmsgAgentReader })
	if j < 0 {
		return 0, 0
	}
	n = len(readers[j].latencies)
	return n - readers[j].aheadOfFirst, n
}

// quietCondition is the block with the kernel console quiet and every
// reader running, if the scenario had one.
func (l *latencyResults) quietCondition() (latencyCondition, bool) {
	return l.find(func(c latencyCondition) bool { return c.quietConsole && !c.alone })
}

// find returns the first condition that match accepts.
func (l *latencyResults) find(match func(latencyCondition) bool) (latencyCondition, bool) {
	i := slices.IndexFunc(l.conditions, match)
	if i < 0 {
		return latencyCondition{}, false
	}
	return l.conditions[i], true
}

// blockPath is the first oomtrace's kill path under one condition: its
// steps, and the whole path to the harness's read.
type blockPath struct {
	steps []killPathStep
	whole sample // nanoseconds
}

// pathOf returns the first oomtrace's path under cond; false unless the
// breakdown saw some kills whole.
func (l *latencyResults) pathOf(cond string) (blockPath, bool) {
	steps, n := l.killPath(cond)
	readers := l.readers(cond)
	if n == 0 || len(readers) == 0 {
		return blockPath{}, false
	}
	return blockPath{steps, readers[0].latencies}, true
}

// killPathStep is one step of oomtrace's kill path under one condition.
type killPathStep struct {
	name      string
	durations sample // nanoseconds
}

// Steps of killPath that the console's reason quotes.
const (
	stepDecoded = 0 // the kill → oomtrace decodes its record
	stepWritten = 4 // the kill → oomtrace's write(2) of the line
)

// killPath returns the steps of the first oomtrace's kill path under cond,
// over the kills the breakdown saw whole, and how many those were.
func (l *latencyResults) killPath(cond string) ([]killPathStep, int) {
	steps := []killPathStep{
		{name: "the kill → oomtrace decodes its record (the ring buffer's wakeup, scheduling, records before it)"},
		{name: "decode and classify stages"},
		{name: "attribute stage (container and pod names)"},
		{name: "explain and filter stages, formatting"},
		{name: "the kill → oomtrace's write(2) of the line (the steps above together)"},
		{name: "oomtrace's write(2) → the harness has the line (pipe, scheduling)"},
	}
	n := 0
	for _, k := range l.kills[cond] {
		if !k.haveSteps || len(k.oomtrace) == 0 {
			continue
		}
		n++
		s := k.steps
		for i, d := range []time.Duration{s.decode, s.attribute - s.decode, s.explain - s.attribute, s.write - s.explain, s.write, k.oomtrace[0] - s.write} {
			steps[i].durations = append(steps[i].durations, float64(d))
		}
	}
	return steps, n
}

// reportSize is the median size of the kernel's reports under cond, over
// the kills it printed one for.
func (l *latencyResults) reportSize(cond string) (lines, duration float64, full int) {
	var ls, ds sample
	for _, k := range l.kills[cond] {
		if k.report.lines > 0 {
			ls = append(ls, float64(k.report.lines))
			ds = append(ds, float64(k.report.duration))
		}
		if k.fullReport {
			full++
		}
	}
	return ls.median(), ds.median(), full
}

// awakeAtKill counts the kills under cond whose "Killed process" line the
// harness's watcher of the log read without waiting for the log, of the n
// kills it saw the report of.
func (l *latencyResults) awakeAtKill(cond string) (awake, n int) {
	for _, k := range l.kills[cond] {
		if k.report.lines == 0 {
			continue
		}
		n++
		if k.report.awakeAtKill {
			awake++
		}
	}
	return awake, n
}

// rampRow summarises the loss trials of one storm size.
type rampRow struct {
	workers      int
	pagesPerSec  sample // the storm's page allocations
	eventsPerSec sample
	lost         uint64
	balanced     int // trials where delivered + lost = counted
	trials       int
	cpuPerEvent  sample // ns of oomtrace CPU per delivered event
	cpuShare     sample
}

func (l *lossResults) rampRows() []rampRow {
	var rows []rampRow
	for _, n := range l.levels {
		row := rampRow{workers: n}
		for _, tr := range l.ramp {
			if tr.workers != n {
				continue
			}
			row.trials++
			row.pagesPerSec = append(row.pagesPerSec, tr.storm.PagesPerSec)
			row.eventsPerSec = append(row.eventsPerSec, float64(tr.tally.reclaims)/tr.duration.Seconds())
			row.lost += tr.exit.Lost
			if tr.tally.reclaims+tr.exit.Lost == tr.tally.episodes {
				row.balanced++
			}
			if tr.tally.reclaims > 0 {
				row.cpuPerEvent = append(row.cpuPerEvent, float64(tr.cpu.Nanoseconds())/float64(tr.tally.reclaims))
			}
			row.cpuShare = append(row.cpuShare, tr.cpu.Seconds()/tr.duration.Seconds())
		}
		rows = append(rows, row)
	}
	return rows
}

// maxLossless is the highest event rate of a ramp trial that lost nothing,
// and whether any trial lost events.
func (l *lossResults) maxLossless() (rate float64, anyLost bool) {
	for _, tr := range l.ramp {
		if tr.exit.Lost == 0 {
			rate = max(rate, float64(tr.tally.reclaims)/tr.duration.Seconds())
		} else {
			anyLost = true
		}
	}
	return rate, anyLost
}

// drainCPUPerEvent is oomtrace's CPU time per line it wrote while it
// drained the backlog, in nanoseconds; NaN if not measured.
func (st *stallTrial) drainCPUPerEvent() float64 {
	if st == nil {
		return nan
	}
	return cpuPerLine(st.drainCPU, 0, st.tally.drained)
}

// marginalCPUPerEvent is drainCPUPerEvent less what the stall itself cost
// oomtrace (see idleResume); NaN if not measured.
func (st *stallTrial) marginalCPUPerEvent() float64 {
	if st == nil || st.idleCPU == 0 {
		return nan
	}
	return cpuPerLine(st.drainCPU, st.idleCPU, st.tally.drained)
}

// cpuPerLine is a reader's CPU while draining, less idle, per line it
// wrote, in nanoseconds; NaN if nothing was measured.
func cpuPerLine(cpu, idle time.Duration, lines uint64) float64 {
	if cpu == 0 || lines == 0 {
		return nan
	}
	return float64((cpu - idle).Nanoseconds()) / float64(lines)
}

// drainRate is how fast oomtrace emptied the ring buffer after the stall,
// in events per second; NaN if not measured.
func (st *stallTrial) drainRate() float64 {
	if st == nil || st.drain <= 0 {
		return nan
	}
	return float64(st.held) / st.drain.Seconds()
}

// verification is what the kernel's verifier walked to load the programs
// of one start of a subject.
type verification struct {
	programs int
	insns    uint64 // verified instructions, all programs
	largest  string // the program that took the most
	most     uint32
}

// verification returns the verifier's work for the first start of the
// subject labelled label that recorded its programs; ok is false when none
// did or the kernel does not count verified instructions.
func (s *startupResults) verification(label string) (v verification, ok bool) {
	for _, tr := range s.trials {
		if tr.subject.label != label || len(tr.programs) == 0 {
			continue
		}
		for _, p := range tr.programs {
			v.programs++
			v.insns += uint64(p.Verified)
			if p.Verified > v.most || p.Verified == v.most && p.Label < v.largest {
				v.largest, v.most = p.Label, p.Verified
			}
		}
		return v, v.insns > 0
	}
	return v, false
}

// startupRows summarises the start-up trials by subject, in order.
type startupRow struct {
	label   string
	startup sample // ns
	idleRSS sample // bytes
}

func (s *startupResults) rows() []startupRow {
	var rows []startupRow
	for _, subj := range s.subjects {
		row := startupRow{label: subj.label}
		for _, tr := range s.trials {
			if tr.subject.label == subj.label {
				row.startup = append(row.startup, float64(tr.startup))
				row.idleRSS = append(row.idleRSS, float64(tr.idlePeakRSS))
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// pipelineRow returns the replay row of kind through stage, if measured.
func pipelineRowOf(rows []pipelineRow, kind event.Kind, stage string) (pipelineRow, bool) {
	i := slices.IndexFunc(rows, func(r pipelineRow) bool { return r.kind == kind && r.stage == stage })
	if i < 0 {
		return pipelineRow{}, false
	}
	return rows[i], true
}
