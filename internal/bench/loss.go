package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/stream"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// lossArgs make oomtrace report every reclaim episode, the densest stream
// of events a workload can make it produce, with lost counts every second.
// Where oomtrace can leave hooks out, it traces only OOM kills and reclaim:
// the lost count is then about these alone, not about the signals and exits
// of whatever else runs on the machine.
func (ts tools) lossArgs() []string {
	args := []string{"--reclaim-min", "0", "--interval", "1s"}
	if ts.oomtraceHas("events") {
		args = append(args, "--events", "oom,reclaim")
	}
	return args
}

// The stalled trials give oomtrace a ring buffer four times the default,
// which a stall overfills (stallStorm): the backlog it drains, about
// 150,000 reclaim records, takes it about a tenth of a second, over which
// the host's short stalls of a vCPU average out. A drain of 15 ms, the
// default's when a record held 616 bytes, had its CPU per line range over
// three times its least from one trial to the next.
const (
	stallRingBuffer = "16MiB"
	stallRingBytes  = 16 << 20
)

// stallArgs are lossArgs with the stalled trials' ring buffer, where
// oomtrace can size it; ringBytes is the size it will have.
func (ts tools) stallArgs(defaultRingBytes int) (args []string, ringBytes int) {
	if !ts.oomtraceHas("ring-buffer") {
		return ts.lossArgs(), defaultRingBytes
	}
	return append(ts.lossArgs(), "--ring-buffer", stallRingBuffer), stallRingBytes
}

// ringCapacity is how many reclaim records a ring buffer of ringBytes
// holds, each behind the kernel's 8-byte header.
func ringCapacity(ringBytes int) uint64 {
	return uint64(ringBytes / (tracer.ReclaimRecordBytes + 8))
}

// tallyCounts are the counts of an eventTally.
type tallyCounts struct {
	reclaims uint64 // reclaim events
	// reclaimBytes is the length of the reclaim lines, newlines included.
	reclaimBytes uint64
	episodes     uint64 // reclaim episodes the kernel counted (reclaim_stats)
	lostLines    uint64 // lost events
	lostTotal    uint64 // the last lost event's total
	// Reclaim events of a kernel time inside the tally's window, and when
	// the last of them was read.
	held           uint64
	lastHeldReadNS uint64
	// Lines read after the window's end: the drain of a backlog.
	drained uint64
}

// eventTally counts what oomtrace wrote in text. It parses only the rare
// lines fully, so that counting costs the harness little CPU beside the
// tracer: it must read faster than oomtrace writes.
type eventTally struct {
	mu     sync.Mutex
	c      tallyCounts
	kills  map[int]bool // victims of oom_kill events
	errs   []error
	window [2]uint64 // CLOCK_BOOTTIME; none while the end is 0
	// lastLineNS is when the last line was read (CLOCK_BOOTTIME).
	lastLineNS uint64
}

var (
	// In "comm pid/tid [cpu] secs.usecs: oomtrace:reclaim key=value...",
	// the marker follows the time.
	textReclaimMarker = []byte(": oomtrace:reclaim ")
	textOtherMarkers  = [][]byte{[]byte(": oomtrace:reclaim_stats "), []byte(": oomtrace:lost "), []byte(": oomtrace:oom_kill ")}
)

func newEventTally() *eventTally { return &eventTally{kills: make(map[int]bool)} }

// onLine is a lineFunc for oomtrace's text output.
func (t *eventTally) onLine(line []byte, readNS uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastLineNS = readNS
	if t.window[1] != 0 && readNS >= t.window[1] {
		t.c.drained++
	}
	if i := bytes.Index(line, textReclaimMarker); i >= 0 {
		t.c.reclaims++
		t.c.reclaimBytes += uint64(len(line)) + 1
		if t.window[1] == 0 {
			return
		}
		if ktime, ok := textKtime(line[:i]); ok && ktime >= t.window[0] && ktime < t.window[1] {
			t.c.held++
			t.c.lastHeldReadNS = readNS
		}
		return
	}
	rare := false
	for _, m := range textOtherMarkers {
		rare = rare || bytes.Contains(line, m)
	}
	if !rare {
		return
	}
	ev, err := output.Parse(line)
	if err != nil {
		t.errs = append(t.errs, fmt.Errorf("parse oomtrace line %q: %w", line, err))
		return
	}
	switch ev.Kind {
	case event.KindReclaimStats:
		t.c.episodes += ev.ReclaimStats.Count
	case event.KindLost:
		t.c.lostLines++
		t.c.lostTotal = ev.Lost.Total
	case event.KindOOMKill:
		t.kills[int(ev.OOMKill.Victim.PID)] = true
	}
}

// textKtime parses the time that ends prefix, "secs.fraction", into
// nanoseconds.
func textKtime(prefix []byte) (uint64, bool) {
	token := prefix[bytes.LastIndexByte(prefix, ' ')+1:]
	secs, frac, ok := bytes.Cut(token, []byte("."))
	if !ok || len(secs) == 0 || len(frac) == 0 || len(frac) > 9 {
		return 0, false
	}
	var s, f uint64
	for _, c := range secs {
		if c < '0' || c > '9' {
			return 0, false
		}
		s = s*10 + uint64(c-'0')
	}
	for i := range 9 {
		f *= 10
		if i < len(frac) {
			if frac[i] < '0' || frac[i] > '9' {
				return 0, false
			}
			f += uint64(frac[i] - '0')
		}
	}
	return s*1e9 + f, true
}

// counts returns the counts so far, and the lines that did not parse.
func (t *eventTally) counts() (tallyCounts, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.c, errors.Join(t.errs...)
}

// lossTrial is a storm traced with every episode reported.
type lossTrial struct {
	workers  int
	storm    stormResult
	duration time.Duration
	tally    tallyCounts
	exit     tracerExit
	cpu      time.Duration // oomtrace's CPU time during the storm
	peakRSS  uint64
}

// stallTrial is a storm during which oomtrace is stopped (SIGSTOP) for a
// while: the ring buffer fills and the kernel counts what it cannot take.
type stallTrial struct {
	lossTrial
	stopped time.Duration
	held    uint64        // events of the stopped interval delivered afterwards
	drain   time.Duration // from SIGCONT to the last of those read
	// drainCPU is oomtrace's CPU time from SIGCONT until its output went
	// quiet: the drain of the backlog, at full speed.
	drainCPU time.Duration
	// idleCPU is its CPU time over the same window after a stall as long
	// with nothing to drain: what the stop and the resume cost it.
	idleCPU      time.Duration
	killDetected bool
	killErr      error
}

type lossResults struct {
	args   []string // oomtrace's
	levels []int
	rounds int
	ramp   []lossTrial
	// stalls are the stalled trials, and floors the drain floor stalled
	// the same way right after each, its lines as long as oomtrace's
	// reclaim lines in that stall.
	stalls []*stallTrial
	floors []*drainFloorTrial
	// stallArgs are oomtrace's in the stalls; stallRingBytes their ring
	// buffer, which the drain floor's has too, and defaultRingBytes the
	// ring buffer's size by default, that of the ramp.
	stallArgs                        []string
	stallRingBytes, defaultRingBytes int
	// firstStalls are the trials of the first look at the CPU-per-event
	// target; the stalls after them are its deciding trials (0: every
	// stall is of the first look).
	firstStalls int
}

// drainCPUPerEvent is oomtrace's CPU per line while draining, per stall.
func (l *lossResults) drainCPUPerEvent() sample {
	return perTrial(l.stalls, (*stallTrial).drainCPUPerEvent)
}

// marginalCPUPerEvent is drainCPUPerEvent less the stall's own cost, per
// stall.
func (l *lossResults) marginalCPUPerEvent() sample {
	return perTrial(l.stalls, (*stallTrial).marginalCPUPerEvent)
}

// drainRate is how fast oomtrace emptied the ring buffer, per stall.
func (l *lossResults) drainRate() sample { return perTrial(l.stalls, (*stallTrial).drainRate) }

// held is how many events the ring buffer held, per stall.
func (l *lossResults) held() sample {
	return perTrial(l.stalls, func(st *stallTrial) float64 { return float64(st.held) })
}

// floorMarginalCPUPerLine and floorRate are the drain floor's, per trial.
func (l *lossResults) floorMarginalCPUPerLine() sample {
	return perTrial(l.floors, (*drainFloorTrial).marginalCPUPerLine)
}

func (l *lossResults) floorRate() sample { return perTrial(l.floors, (*drainFloorTrial).rate) }

func perTrial[T any](trials []T, figure func(T) float64) sample {
	s := make(sample, 0, len(trials))
	for _, t := range trials {
		s = append(s, figure(t))
	}
	return s
}

// lossScenario ramps the storm up with every episode an event, then
// stalls the tracer in the middle of a storm.
func (b *bencher) lossScenario(ctx context.Context) (*lossResults, error) {
	spec := stormSpec{workers: b.cfg.LossMaxWorkers, limitBytes: b.cfg.StormLimitBytes, fileBytes: b.cfg.StormFileBytes}
	st, err := newStorm(b.h, b.top+"/loss", spec, b.cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	defer st.remove()
	killGroup, err := b.h.Create(b.top+"/loss-kill", hogLimitBytes)
	if err != nil {
		return nil, err
	}
	defer killGroup.Remove()

	res := &lossResults{args: b.tools.lossArgs(), rounds: b.cfg.LossRounds, firstStalls: b.cfg.StallTrials}
	if res.defaultRingBytes, err = tracer.DefaultRingBufferBytes(); err != nil {
		return nil, err
	}
	res.stallArgs, res.stallRingBytes = b.tools.stallArgs(res.defaultRingBytes)
	for n := 1; n <= spec.workers; n *= 2 {
		res.levels = append(res.levels, n)
	}
	for round := range res.rounds {
		for _, n := range res.levels {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			trial, err := b.lossTrial(st, n)
			if err != nil {
				return res, fmt.Errorf("loss round %d, %d workers: %w", round+1, n, err)
			}
			res.ramp = append(res.ramp, trial)
			b.logf("loss round %d/%d  %d workers  %8.0f events/s  lost %d  counted %d delivered %d", round+1, res.rounds, n,
				float64(trial.tally.reclaims)/trial.duration.Seconds(), trial.exit.Lost, trial.tally.episodes, trial.tally.reclaims)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := b.stallTrials(ctx, st, spec.workers, killGroup, res, b.cfg.StallTrials); err != nil {
		return res, err
	}
	if d, ok := res.decideCPUPerEvent(); ok && d.verdict == undecided && b.cfg.DecidingStalls > 0 {
		b.logf("CPU per event undecided after %d stall trials (its median's interval %.0f ns – %.0f ns): %d more",
			len(res.stalls), d.lo, d.hi, b.cfg.DecidingStalls)
		if err := b.stallTrials(ctx, st, spec.workers, killGroup, res, b.cfg.DecidingStalls); err != nil {
			return res, err
		}
	}
	return res, nil
}

// stallTrials runs n more stalled trials of the tracer in a storm of st
// with the given workers, each followed by the drain floor's, adding them
// to res.
func (b *bencher) stallTrials(ctx context.Context, st *storm, workers int, killGroup *memcg.Group, res *lossResults, n int) error {
	total := len(res.stalls) + n
	for len(res.stalls) < total {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := len(res.stalls) + 1
		stalled, err := b.stallTrial(st, workers, killGroup, res.stallArgs)
		if err != nil {
			return fmt.Errorf("stalled tracer, trial %d: %w", i, err)
		}
		res.stalls = append(res.stalls, stalled)
		b.logf("stall %d/%d  stopped %v  held %d, drained in %v  lost %d (lost events %d, last total %d)  counted %d delivered %d  kill afterwards detected: %v",
			i, total, stalled.stopped, stalled.held, stalled.drain, stalled.exit.Lost, stalled.tally.lostLines, stalled.tally.lostTotal,
			stalled.tally.episodes, stalled.tally.reclaims, stalled.killDetected)
		if stalled.tally.reclaims == 0 {
			return errors.New("stalled tracer: no reclaim line to measure the drain floor's lines by")
		}
		lineBytes := int(stalled.tally.reclaimBytes / stalled.tally.reclaims)
		floor, err := b.drainFloorTrial(st, workers, lineBytes, res.stallRingBytes)
		if err != nil {
			return fmt.Errorf("drain floor, trial %d: %w", i, err)
		}
		res.floors = append(res.floors, floor)
		b.logf("drain floor %d/%d  %d-byte lines  drained %d in %v: %.0f lines/s, CPU %v: %.0f ns per line",
			i, total, lineBytes, floor.lines, floor.drain, floor.rate(), floor.cpu, floor.cpuPerLine())
	}
	return nil
}

func (b *bencher) lossTrial(st *storm, n int) (lossTrial, error) {
	trial := lossTrial{workers: n, duration: b.cfg.StormDuration}
	tally := newEventTally()
	tr, err := b.tools.startTracer(toolOomtrace, b.tools.lossArgs(), tally.onLine)
	if err != nil {
		return trial, err
	}
	if err := settle(tr.pid()); err != nil {
		tr.stop(b.tools)
		return trial, err
	}
	cpu0, err := cpuTime(tr.pid())
	if err != nil {
		tr.stop(b.tools)
		return trial, err
	}
	trial.storm, err = st.run(n, trial.duration)
	cpu1, cpuErr := cpuTime(tr.pid())
	trial.cpu = cpu1 - cpu0
	trial.peakRSS, _ = peakRSS(tr.pid())
	exit, stopErr := tr.stop(b.tools)
	trial.exit = exit
	counts, parseErr := tally.counts()
	trial.tally = counts
	return trial, errors.Join(err, cpuErr, stopErr, parseErr)
}

// The stalled trial stops the tracer stallAfter into a storm of
// stallStorm, and resumes it stallSettle after the storm has ended: the
// backlog is then drained at the speed of oomtrace alone, not shared with
// the storm's workers. Stopped for six seconds, in a storm of 25,000
// records a second or more (8 workers made 33,000 to 52,000 here), the
// tracer leaves more records than its ring buffer holds.
const (
	stallAfter  = 1500 * time.Millisecond
	stallStorm  = 7500 * time.Millisecond
	stallSettle = 200 * time.Millisecond
)

func (b *bencher) stallTrial(st *storm, n int, killGroup *memcg.Group, args []string) (*stallTrial, error) {
	trial := &stallTrial{lossTrial: lossTrial{workers: n, duration: stallStorm}}
	tally := newEventTally()
	tr, err := b.tools.startTracer(toolOomtrace, args, tally.onLine)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			syscall.Kill(tr.pid(), syscall.SIGCONT)
			tr.stop(b.tools)
		}
	}()
	if err := settle(tr.pid()); err != nil {
		return nil, err
	}
	stalled, err := stallReader(st, n, tr.pid(), "oomtrace", tally.setWindow, tally.lastReadNS)
	if err != nil {
		return nil, err
	}
	trial.storm, trial.stopped = stalled.storm, time.Duration(stalled.contNS-stalled.stopNS)
	trial.cpu, trial.drainCPU = stalled.cpuStalled, stalled.drainCPU
	if trial.peakRSS, err = peakRSS(tr.pid()); err != nil {
		return nil, err
	}

	// The tracer must still see what matters after losing events.
	pid, err := oneKill(killGroup, nil)
	trial.killErr = err
	if err == nil {
		trial.killDetected = tally.waitKill(pid, killTimeout)
	}
	time.Sleep(stallSettle) // the kill's own events and snapshot
	if trial.idleCPU, err = idleResume(tr.pid(), "oomtrace", trial.stopped, stalled.window); err != nil {
		return nil, err
	}

	stopped = true
	trial.exit, err = tr.stop(b.tools)
	counts, parseErr := tally.counts()
	trial.tally = counts
	if err := errors.Join(err, parseErr); err != nil {
		return trial, err
	}
	trial.held = trial.tally.held
	if trial.tally.lastHeldReadNS > stalled.contNS {
		trial.drain = time.Duration(trial.tally.lastHeldReadNS - stalled.contNS)
	}
	return trial, nil
}

// stall is how a reader fared, stopped in a storm and resumed after it.
type stall struct {
	storm          stormResult
	stopNS, contNS uint64 // CLOCK_BOOTTIME at SIGSTOP and SIGCONT
	// cpuStalled is the reader's CPU time from the storm's start to
	// SIGCONT; drainCPU from SIGCONT until its output went quiet, window
	// later.
	cpuStalled, drainCPU, window time.Duration
}

// idleResume stops the reader process pid (what, in errors) for stopped,
// resumes it and returns its CPU time over window from SIGCONT: what a stall
// costs it with no backlog to drain. Every thread of the process is woken,
// and a periodic task that fell due while it was stopped runs; at
// saturation these come once, not with every event, so a drain's CPU less
// this is what its lines took.
func idleResume(pid int, what string, stopped, window time.Duration) (time.Duration, error) {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return 0, fmt.Errorf("stop %s: %w", what, err)
	}
	time.Sleep(stopped)
	cpu0, err := cpuTime(pid)
	if contErr := syscall.Kill(pid, syscall.SIGCONT); contErr != nil {
		return 0, fmt.Errorf("resume %s: %w", what, contErr)
	}
	if err != nil {
		return 0, err
	}
	time.Sleep(window)
	cpu1, err := cpuTime(pid)
	return cpu1 - cpu0, err
}

// stallReader runs a storm of n workers for stallStorm, stops the reader
// process pid (what, in errors) stallAfter into it and resumes it
// stallSettle after the storm ended, calling atCont(stopNS, contNS) just
// before; it then waits until lastReadNS, the time of the reader's last
// line, shows no line for drainQuiet: the backlog drained.
func stallReader(st *storm, n, pid int, what string, atCont func(stopNS, contNS uint64), lastReadNS func() uint64) (stall, error) {
	var s stall
	cpu0, err := cpuTime(pid)
	if err != nil {
		return s, err
	}
	run, err := st.start(n, stallStorm)
	if err != nil {
		return s, err
	}
	time.Sleep(stallAfter)
	s.stopNS = stream.BootNanos()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		run.kill()
		return s, fmt.Errorf("stop %s: %w", what, err)
	}
	if s.storm, err = run.wait(); err != nil {
		return s, err
	}
	time.Sleep(stallSettle)
	s.contNS = stream.BootNanos()
	atCont(s.stopNS, s.contNS)
	cpu1, err := cpuTime(pid) // stopped: as at SIGCONT
	if err != nil {
		return s, err
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return s, fmt.Errorf("resume %s: %w", what, err)
	}
	s.cpuStalled = cpu1 - cpu0
	pollFor(drainTimeout, func() (struct{}, bool) {
		last := lastReadNS()
		return struct{}{}, last > s.contNS && stream.BootNanos()-last > uint64(drainQuiet)
	})
	cpu2, err := cpuTime(pid)
	if err != nil {
		return s, err
	}
	s.drainCPU = cpu2 - cpu1
	s.window = time.Duration(stream.BootNanos() - s.contNS)
	return s, nil
}

// How the end of a drain is told: no line for drainQuiet, within
// drainTimeout of SIGCONT.
const (
	drainQuiet   = 100 * time.Millisecond
	drainTimeout = 5 * time.Second
)

// lastReadNS is when the tally last read a line (CLOCK_BOOTTIME).
func (t *eventTally) lastReadNS() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastLineNS
}

func (t *eventTally) setWindow(from, to uint64) {
	t.mu.Lock()
	t.window = [2]uint64{from, to}
	t.mu.Unlock()
}

// waitKill waits up to timeout for an oom_kill event of pid.
func (t *eventTally) waitKill(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		t.mu.Lock()
		seen := t.kills[pid]
		t.mu.Unlock()
		if seen {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
