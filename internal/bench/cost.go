package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// stormConfig is one way of running the storm: under a tool, with or
// without the kernel's BPF run-time statistics (which cost a little on
// every program run, so throughput is measured without them).
type stormConfig struct {
	tool  tool
	stats bool
	step  string // the reclaim step of toolReclaimStep
}

func (c stormConfig) String() string {
	if c.tool == toolReclaimStep {
		return "reclaim step " + c.step
	}
	if c.stats {
		return c.tool.String() + " (with BPF stats)"
	}
	return c.tool.String()
}

// stormTrial is one storm under one configuration.
type stormTrial struct {
	cfg     stormConfig
	round   int
	storm   stormResult
	cpu     time.Duration // the tool's CPU time during the storm
	progs   map[string]progDelta
	lines   uint64 // lines the tool wrote during the storm
	wakeups uint64 // the tool's threads' voluntary context switches during the storm
	peakRSS uint64 // the tool's VmHWM at the end of the storm, bytes
	exit    tracerExit
}

type stormResults struct {
	spec     stormSpec
	duration time.Duration
	rounds   int // rounds of every configuration
	pairs    int // rounds after them of the storm untraced and under oomtrace only
	// decidingPairs are pairs like those, to run after them when they
	// leave the throughput target undecided (decideThroughput).
	decidingPairs int
	// episodePairs are rounds of the storm under oomtrace and under
	// bpftrace, both with statistics, to run last when the rounds before
	// leave the reclaim episode's target undecided (decideEpisode).
	episodePairs int
	trials       []stormTrial
}

var stormConfigs = []stormConfig{
	{toolNone, false, ""},
	{toolOomtrace, false, ""},
	{toolBpftrace, false, ""},
	{toolPerf, false, ""},
	{toolOomtrace, true, ""},
	{toolBpftrace, true, ""},
	{toolEmpty, true, ""},
	{toolReclaimStep, true, "end_clock"},
	{toolReclaimStep, true, "end_start"},
	{toolReclaimStep, true, "end_cgroup"},
	{toolReclaimStep, true, "end_histogram"},
}

// rotate returns xs starting at index r mod len(xs): each round starts with
// another configuration, so that no configuration always follows the same
// one.
func rotate[T any](xs []T, r int) []T {
	r %= len(xs)
	return append(append([]T(nil), xs[r:]...), xs[:r]...)
}

// throughputConfigs are the configurations of the extra rounds that only
// compare the storm untraced and under oomtrace, back to back.
var throughputConfigs = []stormConfig{{toolNone, false, ""}, {toolOomtrace, false, ""}}

// episodeConfigs are the configurations of the rounds that decide the
// reclaim episode's target: oomtrace's and bpftrace's programs, with the
// kernel's run-time statistics.
var episodeConfigs = []stormConfig{{toolOomtrace, true, ""}, {toolBpftrace, true, ""}}

// stormScenario runs the reclaim storm under every configuration,
// interleaved, for the configured number of rounds; then, for the
// throughput target, more rounds of the storm untraced and under oomtrace
// alone, each pair in the other order than the one before; then, if those
// leave the target undecided, the deciding pairs; and last, if the rounds
// with statistics leave the reclaim episode's target undecided, its own
// deciding pairs.
func (b *bencher) stormScenario(ctx context.Context) (*stormResults, error) {
	spec := stormSpec{workers: b.cfg.StormWorkers, limitBytes: b.cfg.StormLimitBytes, fileBytes: b.cfg.StormFileBytes}
	st, err := newStorm(b.h, b.top+"/storm", spec, b.cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	defer st.remove()
	res := &stormResults{spec: spec, duration: b.cfg.StormDuration, rounds: b.cfg.Rounds, pairs: b.cfg.ThroughputPairs,
		decidingPairs: b.cfg.DecidingPairs, episodePairs: b.cfg.EpisodePairs}
	first := b.cfg.Rounds + b.cfg.ThroughputPairs
	configs := func(round int) []stormConfig {
		if round < b.cfg.Rounds {
			return stormConfigs
		}
		return throughputConfigs
	}
	if err := b.stormRounds(ctx, st, res, 0, first, configs); err != nil {
		return res, err
	}
	if d, ok := res.decideThroughput(); ok && d.verdict == undecided && res.decidingPairs > 0 {
		b.logf("storm: %d rounds leave the throughput target undecided (%s – %s at %.0f%% confidence): %d more pairs",
			first, fmtPct(d.lo), fmtPct(d.hi), 100*d.coverage, res.decidingPairs)
		if err := b.stormRounds(ctx, st, res, first, first+res.decidingPairs, configs); err != nil {
			return res, err
		}
	}
	if d, ok := res.decideEpisode(); ok && d.verdict == undecided && res.episodePairs > 0 {
		b.logf("storm: %d rounds leave the reclaim episode's target undecided (oomtrace %s – %s, %s – %s of bpftrace's, at %.0f%% confidence): %d more pairs",
			d.rounds, fmtNS(d.nsLo), fmtNS(d.nsHi), fmtRatio(d.ratioLo), fmtRatio(d.ratioHi), 100*d.coverage, res.episodePairs)
		next := res.nextRound()
		episodes := func(int) []stormConfig { return episodeConfigs }
		if err := b.stormRounds(ctx, st, res, next, next+res.episodePairs, episodes); err != nil {
			return res, err
		}
	}
	return res, nil
}

// stormRounds runs the storm's rounds numbered from `from` up to, but not
// including, `to`, each under the configurations configs gives for its
// number, rotated so that each round starts with the next one.
func (b *bencher) stormRounds(ctx context.Context, st *storm, res *stormResults, from, to int, configs func(round int) []stormConfig) error {
	for round := from; round < to; round++ {
		for _, cfg := range rotate(configs(round), round) {
			if err := ctx.Err(); err != nil {
				return err
			}
			trial, err := b.stormTrial(st, cfg, res.spec.workers)
			if err != nil {
				return fmt.Errorf("storm round %d, %v: %w", round+1, cfg, err)
			}
			trial.round = round
			res.trials = append(res.trials, trial)
			b.logf("storm round %d/%d  %-30v %10.0f pages/s  tool CPU %v  lines %d", round+1, to, cfg, trial.storm.PagesPerSec, trial.cpu.Round(time.Millisecond), trial.lines)
			for _, d := range trial.progs {
				if d.Runs > 0 {
					b.logf("    %-40s %8d runs %6.0f ns/run", d.Label, d.Runs, d.nsPerRun())
				}
			}
		}
	}
	return nil
}

// stormTrial runs one storm of n workers under cfg.
func (b *bencher) stormTrial(st *storm, cfg stormConfig, n int) (trial stormTrial, err error) {
	trial.cfg = cfg
	var stats io.Closer
	if cfg.stats {
		if stats, err = ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err != nil {
			return trial, fmt.Errorf("enable BPF run-time statistics: %w", err)
		}
		defer stats.Close()
	}
	switch cfg.tool {
	case toolEmpty:
		return b.emptyProgramsTrial(st, trial, n)
	case toolReclaimStep:
		return b.reclaimStepTrial(st, trial, n)
	}
	tr, err := b.tools.startTracer(cfg.tool, nil, nil)
	if err != nil {
		return trial, err
	}
	stopped := false
	defer func() {
		if !stopped {
			tr.stop(b.tools)
		}
	}()
	type toolSnapshot struct {
		cpu            time.Duration
		progs          progStats
		lines, wakeups uint64
	}
	snap := func() (toolSnapshot, error) {
		if tr.p == nil {
			return toolSnapshot{}, nil
		}
		var ts toolSnapshot
		var err error
		if ts.cpu, err = cpuTime(tr.pid()); err != nil {
			return ts, err
		}
		if ts.wakeups, err = wakeups(tr.pid()); err != nil {
			return ts, err
		}
		if cfg.stats {
			if ts.progs, err = programsOf(tr.pid()); err != nil {
				return ts, err
			}
		}
		ts.lines = tr.lines.Load()
		return ts, nil
	}
	if tr.p != nil {
		if err := settle(tr.pid()); err != nil {
			return trial, err
		}
	}
	before, err := snap()
	if err != nil {
		return trial, err
	}
	trial.storm, err = st.run(n, b.cfg.StormDuration)
	if err != nil {
		return trial, err
	}
	after, err := snap()
	if err != nil {
		return trial, err
	}
	trial.cpu, trial.lines, trial.wakeups = after.cpu-before.cpu, after.lines-before.lines, after.wakeups-before.wakeups
	if cfg.stats {
		trial.progs = deltas(before.progs, after.progs)
	}
	if tr.p != nil {
		if trial.peakRSS, err = peakRSS(tr.pid()); err != nil {
			return trial, err
		}
	}
	stopped = true
	trial.exit, err = b.stopTool(tr)
	return trial, err
}

// emptyProgramsTrial runs the storm with the empty programs attached: no
// process of a tool, only the programs' statistics.
func (b *bencher) emptyProgramsTrial(st *storm, trial stormTrial, n int) (stormTrial, error) {
	e, err := attachEmptyPrograms(emptyProgramTracepoints())
	if err != nil {
		return trial, err
	}
	return b.ownProgramsTrial(st, trial, n, e.progs, e.close)
}

// reclaimStepTrial runs the storm with one reclaim step attached alone
// (reclaimsteps.go).
func (b *bencher) reclaimStepTrial(st *storm, trial stormTrial, n int) (stormTrial, error) {
	s, err := attachReclaimStep(trial.cfg.step)
	if err != nil {
		return trial, err
	}
	return b.ownProgramsTrial(st, trial, n, map[string]*ebpf.Program{trial.cfg.step: s.prog}, s.close)
}

// ownProgramsTrial runs the storm with programs the harness attached
// itself, progs, and closes them with release: their statistics over the
// storm are the trial's.
func (b *bencher) ownProgramsTrial(st *storm, trial stormTrial, n int, progs map[string]*ebpf.Program, release func() error) (stormTrial, error) {
	before, err := statsOf(progs)
	if err == nil {
		trial.storm, err = st.run(n, b.cfg.StormDuration)
	}
	var after progStats
	if err == nil {
		after, err = statsOf(progs)
	}
	if err := errors.Join(err, release()); err != nil {
		return trial, err
	}
	trial.progs = deltas(before, after)
	return trial, nil
}

// killCostResults are the programs' costs over OOM kills.
type killCostResults struct {
	rounds, killsPerRound int
	trials                []killCostTrial
}

type killCostTrial struct {
	tool  tool
	progs map[string]progDelta
}

// killCostScenario causes OOM kills under oomtrace and under bpftrace, in
// turn, with the kernel's BPF statistics on.
func (b *bencher) killCostScenario(ctx context.Context) (*killCostResults, error) {
	g, err := b.h.Create(b.top+"/killcost", hogLimitBytes)
	if err != nil {
		return nil, err
	}
	defer g.Remove()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	defer stats.Close()

	res := &killCostResults{rounds: b.cfg.KillCostRounds, killsPerRound: b.cfg.KillCostKills}
	for round := range res.rounds {
		for _, t := range rotate([]tool{toolOomtrace, toolBpftrace}, round) {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			tr, err := b.tools.startTracer(t, nil, nil)
			if err != nil {
				return res, err
			}
			progs, err := func() (map[string]progDelta, error) {
				before, err := programsOf(tr.pid())
				if err != nil {
					return nil, err
				}
				for range res.killsPerRound {
					if _, err := oneKill(g, nil); err != nil {
						return nil, err
					}
				}
				after, err := programsOf(tr.pid())
				if err != nil {
					return nil, err
				}
				return deltas(before, after), nil
			}()
			_, stopErr := b.stopTool(tr)
			if err := errors.Join(err, stopErr); err != nil {
				return res, fmt.Errorf("kill cost round %d, %v: %w", round+1, t, err)
			}
			res.trials = append(res.trials, killCostTrial{tool: t, progs: progs})
			b.logf("kill cost round %d/%d  %-10v %d kills", round+1, res.rounds, t, res.killsPerRound)
		}
	}
	return res, nil
}
