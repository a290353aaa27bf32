package bench

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/stream"
)

// killPace spaces the kills of the latency scenario. The kernel prints the
// head of its OOM report (the header, the memory state and the task dump)
// at most 10 times in 5 s; kills closer together would give the
// kernel-log reader a shorter report than a real OOM does.
const killPace = 600 * time.Millisecond

// latencyCondition is the state of the host during a block of kills.
type latencyCondition struct {
	name  string
	procs int // idle processes in the OOMing cgroup, listed in the task dump
	// quietConsole keeps the kernel's kill lines off its consoles during
	// the block (see console.go).
	quietConsole bool
	// alone leaves the first oomtrace the only reader of the kills: the
	// other readers' processes are stopped (SIGSTOP) for the block, so
	// that none competes with it for the CPUs.
	alone bool
}

// latencyKill is one kill seen by every reader, each timed from the
// kill's kernel timestamp to the moment the harness read its line.
type latencyKill struct {
	oomtrace []time.Duration // each oomtrace variant
	// The kernel-log reader process, which prints a line once it has parsed
	// the kernel's report of the kill.
	kmsgAgent time.Duration
	// The same parser reading /dev/kmsg in the harness itself: what any
	// reader of the kernel log must wait for at least.
	kmsgDirect time.Duration
	// The floor reader: a program of a few instructions and a process
	// that prints one line per kill through the same kind of pipe.
	floor time.Duration
	// steps is the first oomtrace's kill path, step by step.
	steps      killSteps
	haveSteps  bool
	report     oomReport
	fullReport bool // the kernel printed the report's head (not rate-limited)
}

// oomtraceVariant is oomtrace run with some flags.
type oomtraceVariant struct {
	name string
	args []string
}

// latencyVariants are the oomtraces that watch the same kills: as users run
// it, and without the memory snapshot (which follows a kill's line rather
// than holding it), where this oomtrace takes one.
func (ts tools) latencyVariants() []oomtraceVariant {
	variants := []oomtraceVariant{{"oomtrace", nil}}
	if ts.oomtraceHas("no-snapshot") {
		variants = append(variants, oomtraceVariant{"oomtrace --no-snapshot", []string{"--no-snapshot"}})
	}
	return variants
}

type latencyResults struct {
	conditions []latencyCondition
	variants   []oomtraceVariant
	kills      map[string][]latencyKill // by condition name
	failures   map[string][]string
	console    kernelConsole
}

// latencyScenario causes memcg OOM kills one by one, with oomtrace and a
// /dev/kmsg reader watching, on an idle host and with idle processes in
// the OOMing cgroup, in alternating blocks; and, where the kernel prints
// its kill lines to a console, on an idle host with the console quiet.
func (b *bencher) latencyScenario(ctx context.Context) (res *latencyResults, err error) {
	// The console's blocks are extra: a host that does not let the
	// harness read, time or quieten its console still gets the others.
	console, err := readKernelConsole()
	if err == nil && console.printsKills() {
		// Setting the level it has proves the harness may set it.
		err = errors.Join(setConsoleLevel(console.level), console.timeErrorLines())
	}
	if err != nil {
		b.logf("latency: no block with the console quiet: %v", err)
		console = kernelConsole{}
	}
	parentRel := b.top + "/latency"
	parent, err := b.h.Create(parentRel, 0)
	if err != nil {
		return nil, err
	}
	defer parent.Remove()
	hogs, err := b.h.Create(parentRel+"/hog", 0)
	if err != nil {
		return nil, err
	}

	res = &latencyResults{
		conditions: []latencyCondition{
			{name: "idle host"},
			{name: fmt.Sprintf("%d idle processes in the cgroup", b.cfg.IdleProcs), procs: b.cfg.IdleProcs},
		},
		variants: b.tools.latencyVariants(),
		kills:    make(map[string][]latencyKill),
		failures: make(map[string][]string),
		console:  console,
	}
	if console.printsKills() {
		res.conditions = append(res.conditions, latencyCondition{name: "idle host, console quiet", quietConsole: true})
	}
	res.conditions = append(res.conditions, latencyCondition{name: "idle host, oomtrace alone", alone: true})
	if console.printsKills() {
		res.conditions = append(res.conditions, latencyCondition{name: "idle host, oomtrace alone, console quiet", alone: true, quietConsole: true})
	}
	var watches []*killWatch
	var tracers []*runningTool
	for _, v := range res.variants {
		watch := newKillWatch()
		tr, err := b.tools.startTracer(toolOomtrace, append([]string{"--output", "json"}, v.args...), watch.onLine)
		if err != nil {
			return nil, err
		}
		defer tr.stop(b.tools)
		watches = append(watches, watch)
		tracers = append(tracers, tr)
	}
	readers, err := startLatencyReaders(b.tools, tracers[0])
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, readers.stop(b.tools)) }()
	for _, tr := range tracers[1:] {
		readers.others = append(readers.others, tr.p)
	}

	const blocks = 2
	for block := range blocks {
		for _, cond := range res.conditions {
			n := b.cfg.Kills / blocks
			if err := b.latencyBlock(ctx, res, cond, n, parentRel, parent, hogs, watches, readers); err != nil {
				return res, fmt.Errorf("latency block %d, %s: %w", block+1, cond.name, err)
			}
		}
	}
	return res, nil
}

// latencyBlock causes n kills under cond.
func (b *bencher) latencyBlock(ctx context.Context, res *latencyResults, cond latencyCondition, n int,
	parentRel string, parent, hogs *memcg.Group, watches []*killWatch, readers *latencyReaders) (err error) {
	// The deferred clean-ups join their errors to the named result: they
	// must not be declared with := in a block of their own, which would
	// shadow it.
	if cond.quietConsole {
		var restore func() error
		if restore, err = res.console.quieten(); err != nil {
			return err
		}
		b.logf("latency %s: console log level %d until the block ends (it was %d)", cond.name, kernErr, res.console.level)
		defer func() { err = errors.Join(err, restore()) }()
	}
	if cond.alone {
		var resume func() error
		if resume, err = readers.pauseOthers(); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, resume()) }()
	}
	if cond.procs > 0 {
		var s *sleepers
		if s, err = startSleepers(b.h, parentRel+"/idle", cond.procs); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, s.remove()) }()
	}
	// The limit is on the parent, so the OOM is the parent's and the
	// kernel's task dump lists every process in it.
	usage, err := parent.Usage()
	if err != nil {
		return err
	}
	if err := parent.SetLimit(usage + hogLimitBytes); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, parent.SetLimit(0)) }()

	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		began := time.Now()
		k, err := latencyKillOnce(ctx, hogs, watches, readers, cond.alone)
		if err != nil {
			res.failures[cond.name] = append(res.failures[cond.name], err.Error())
			b.logf("latency %s: kill %d/%d: %v", cond.name, i+1, n, err)
		} else {
			res.kills[cond.name] = append(res.kills[cond.name], k)
		}
		time.Sleep(time.Until(began.Add(killPace)))
	}
	ks := res.kills[cond.name]
	if len(ks) > 0 && cond.alone {
		b.logf("latency %-35s %3d kills  last: oomtrace %v", cond.name, len(ks), ks[len(ks)-1].oomtrace)
	} else if len(ks) > 0 {
		last := ks[len(ks)-1]
		b.logf("latency %-35s %3d kills  last: oomtrace %v, kernel log %v (in the harness %v), report %d lines in %v",
			cond.name, len(ks), last.oomtrace, last.kmsgAgent, last.kmsgDirect, last.report.lines, last.report.duration)
	}
	return nil
}

// latencyReaders are the readers other than oomtrace that the kills are
// timed with, and the breakdown of the first oomtrace's kill path.
type latencyReaders struct {
	agent     *kmsgAgent
	direct    *kernlog.Reader
	report    *reportWatch
	floor     *floorReader
	breakdown *breakdownWatch
	// others are the oomtraces after the first.
	others []*proc
}

// pauseOthers stops every reader process but the first oomtrace and the
// breakdown's bpftrace, which times it; resume starts them again, and
// they read what they missed then. The harness's own follower of the
// kernel log, which sizes the kernel's reports, keeps reading: printk
// wakes it at the next timer tick, after the kill's line is out.
func (r *latencyReaders) pauseOthers() (resume func() error, err error) {
	procs := append([]*proc{r.agent.p, r.floor.p}, r.others...)
	var stopped []*proc
	resume = func() error {
		var errs []error
		for _, p := range stopped {
			if err := syscall.Kill(p.pid(), syscall.SIGCONT); err != nil {
				errs = append(errs, fmt.Errorf("resume %s: %w", p.name, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, p := range procs {
		if err := syscall.Kill(p.pid(), syscall.SIGSTOP); err != nil {
			return nil, errors.Join(fmt.Errorf("stop %s: %w", p.name, err), resume())
		}
		stopped = append(stopped, p)
	}
	return resume, nil
}

func startLatencyReaders(ts tools, first *runningTool) (_ *latencyReaders, err error) {
	r := &latencyReaders{}
	defer func() {
		if err != nil {
			r.stop(ts)
		}
	}()
	if r.agent, err = startKmsgAgent(); err != nil {
		return nil, err
	}
	if r.direct, err = kernlog.OpenKmsg(); err != nil {
		return nil, err
	}
	if r.report, err = startReportWatch(); err != nil {
		return nil, err
	}
	if r.floor, err = startFloorReader(); err != nil {
		return nil, err
	}
	if r.breakdown, err = ts.startBreakdown(first); err != nil {
		return nil, err
	}
	return r, nil
}

// stop stops the readers started.
func (r *latencyReaders) stop(ts tools) error {
	var errs []error
	if r.breakdown != nil {
		errs = append(errs, r.breakdown.stop(ts))
	}
	if r.floor != nil {
		errs = append(errs, r.floor.stop())
	}
	if r.report != nil {
		errs = append(errs, r.report.stop())
	}
	if r.direct != nil {
		errs = append(errs, r.direct.Close())
	}
	if r.agent != nil {
		errs = append(errs, r.agent.stop())
	}
	return errors.Join(errs...)
}

type kmsgSeen struct {
	readNS     uint64
	fullReport bool
	err        error
}

// latencyKillOnce causes one kill and times every reader against the
// kill's kernel timestamp, which oomtrace's events carry; alone, the first
// oomtrace only.
func latencyKillOnce(ctx context.Context, hogs *memcg.Group, watches []*killWatch, readers *latencyReaders, alone bool) (latencyKill, error) {
	ctx, cancel := context.WithTimeout(ctx, killTimeout)
	defer cancel()
	if alone {
		watches = watches[:1]
	}
	directDone := make(chan kmsgSeen, 1)
	directReading := false // directDone will have the direct reader's result
	var agentErr error
	pid, err := oneKill(hogs, func(pid int) {
		if alone {
			return
		}
		// The hog is still allocating: the readers are waiting on
		// /dev/kmsg well before the kill.
		agentErr = readers.agent.watch(pid)
		directReading = true
		go func() {
			k, err := readers.direct.WaitKill(ctx, pid)
			directDone <- kmsgSeen{readNS: stream.BootNanos(), fullReport: k.Header != nil, err: err}
		}()
	})
	fail := func(err error) (latencyKill, error) {
		cancel()
		if directReading {
			<-directDone
		}
		return latencyKill{}, err
	}
	if err = errors.Join(err, agentErr); err != nil {
		return fail(err)
	}
	var k latencyKill
	var killNS uint64
	for i, w := range watches {
		seen, err := w.wait(pid, killTimeout)
		if err != nil {
			return fail(err)
		}
		if i == 0 {
			killNS = seen.KtimeNS
		}
		k.oomtrace = append(k.oomtrace, time.Duration(seen.ReadNS-seen.KtimeNS))
	}
	if alone {
		k.steps, k.haveSteps = readers.breakdown.of(pid)
		// The follower finds a report only from its head on.
		k.report, k.fullReport = readers.report.report(pid, time.Second)
		return k, nil
	}
	agentNS, err := readers.agent.wait(pid, killTimeout)
	if err != nil {
		return fail(err)
	}
	floor, err := readers.floor.kills.wait(pid, killTimeout)
	if err != nil {
		return fail(err)
	}
	k.floor = time.Duration(floor.ReadNS - floor.KtimeNS)
	k.steps, k.haveSteps = readers.breakdown.of(pid)
	direct := <-directDone
	if direct.err != nil {
		return latencyKill{}, direct.err
	}
	k.kmsgAgent = time.Duration(agentNS - killNS)
	k.kmsgDirect = time.Duration(direct.readNS - killNS)
	k.fullReport = direct.fullReport
	k.report, _ = readers.report.report(pid, time.Second)
	return k, nil
}
