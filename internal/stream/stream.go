// Package stream is the live tracer as a source of the pipeline: it runs
// the BPF programs until it is told to stop and hands the pipeline what the
// kernel hands over, the records themselves and, every interval, the
// reclaim histograms and the count of lost records; with sampling, the
// sampler's rounds as well.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/ksym"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/sampler"
	"github.com/oomtrace/oomtrace/internal/selfprotect"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// Options configures Run.
type Options struct {
	Tracer tracer.Config
	// Pipeline configures the stages the events take; Run completes what
	// only the live tracer knows (this machine's NUMA nodes, the memory
	// cgroup hierarchy the snapshots are read from).
	Pipeline pipeline.Options
	// Sinks receive the events that pass the stages.
	Sinks []pipeline.Sink
	// Interval between reclaim_stats and lost events; zero disables them
	// except for the final ones at exit.
	Interval time.Duration
	// Sampling, when set with an interval above zero, writes sample events.
	Sampling *Sampling
	// Snapshot reads the OOM cgroup's memory state right after each kill
	// happening now, written as an oom_snapshot event after the kill's.
	Snapshot bool
	// KernelReport reads the kernel's report of each kill happening now
	// from its log, written as an oom_report event after the kill's. It
	// is for the tracer's kills: those read from the kernel log carry
	// their report.
	KernelReport bool
	// SinceBoot first hands over the kills already in the kernel log,
	// marked replayed, then goes on live without reporting any twice.
	SinceBoot bool
	// OnReady, when set, is called once everything is attached.
	OnReady func(mode event.Mode) error
	// Health, when set, is kept up to date with the ring buffer's state.
	Health *Health
	Logger *slog.Logger
}

// Sampling configures sample events: the memory of the node and of the
// cgroups that matter, read from user space.
type Sampling struct {
	// Interval between rounds; the first is taken as tracing starts, the
	// last as it stops.
	Interval time.Duration
	// Watch lists cgroups (paths in the memory hierarchy) sampled from the
	// start, besides those events name as reclaiming or OOMing.
	Watch []string
	// MaxCgroups bounds the cgroups sampled at once; 0 means
	// sampler.DefaultMaxCgroups.
	MaxCgroups int
}

// Summary is what a run saw.
type Summary struct {
	Mode         event.Mode
	Events       map[event.Kind]uint64
	Lost         uint64
	DecodeErrors uint64
	// SkippedRuns are the programs' runs the kernel skipped (see
	// tracer.Tracer.SkippedRuns), as the last lost event said them.
	SkippedRuns event.SkippedRuns
}

// Run traces until ctx is done, then drains the ring buffer, writes the
// final reclaim_stats and lost events, and detaches. With no BPF mode at
// all (opts.Tracer.Mode kmsg, or auto where none loads) it reads the kills
// from the kernel log instead.
func Run(ctx context.Context, opts Options) (Summary, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.Tracer.Logger = logger
	if m := opts.Tracer.Mode; m != nil && *m == event.ModeKmsg {
		if cannot := kernelLogCannot(opts.Tracer); len(cannot) > 0 {
			return Summary{}, fmt.Errorf("mode kmsg reads the OOM kills from the kernel log, which cannot honour %s: leave them out, or choose a BPF mode",
				strings.Join(cannot, " or "))
		}
		return runKernelLog(ctx, opts, logger)
	}

	// Opened before the programs attach: the kills logged until then are
	// the ones to replay.
	var past *kernlog.Tail
	if opts.SinceBoot {
		var err error
		if past, err = kernlog.OpenTail(kernlog.FromBootMarked); err != nil {
			logger.Warn("no kills from before tracing began", "error", err)
		} else {
			defer past.Close()
		}
	}
	t, err := tracer.Open(opts.Tracer)
	// Open let go of the kernel's types once they served to load the
	// programs. Decoded, with the kernel's BTF file mapped (5 MiB here),
	// they are a sixth of the tracer's memory, which a collection now gives
	// back rather than the runtime's next forced one, two minutes on.
	go runtime.GC()
	if err != nil {
		if opts.Tracer.Mode != nil {
			return Summary{}, err
		}
		if err := kernlog.StandsIn(err); err != nil {
			return Summary{}, err
		}
		logger.Warn("no BPF mode loads: "+kernlog.StandInGives, "cause", err)
		if cannot := kernelLogCannot(opts.Tracer); len(cannot) > 0 {
			logger.Warn("the kernel log cannot honour these settings: they have no effect", "settings", strings.Join(cannot, "; "))
		}
		return runKernelLog(ctx, opts, logger)
	}
	defer t.Close()
	protectSelf(logger)
	// The rest of kallsyms is read while tracing starts: only the first
	// stack to name waits for it.
	symbols, err := ksym.LoadInBackground()
	if err != nil {
		return Summary{}, fmt.Errorf("load kernel symbols for stack classification: %w", err)
	}
	go func() {
		if err := symbols.Err(); err != nil {
			logger.Warn("kernel stacks stay unnamed: tracepoint-mode kills are classified by their reclaim and memory nodes alone", "error", err)
		}
	}()
	decoder, err := tracer.NewDecoder(symbols, t)
	if err != nil {
		return Summary{}, err
	}
	out, err := newOutput(opts, logger)
	if err != nil {
		return Summary{}, err
	}
	defer out.close()
	return run(ctx, t, decoder.Decode, out, opts, logger, past)
}

// protectSelf keeps the tracer out of the OOM killer's reach: it must
// outlive the OOMs it reports.
func protectSelf(logger *slog.Logger) {
	if adj, err := selfprotect.LowerOOMScoreAdj(selfprotect.MinOOMScoreAdj); err != nil {
		logger.Warn("tracer can be chosen by the OOM killer", "oom_score_adj", adj, "error", err)
	} else {
		logger.Debug("tracer protected from the OOM killer", "oom_score_adj", adj)
	}
}

// output is the way out of a live run: the pipeline, completed with what
// only a live tracer knows (this machine's NUMA nodes, the memory cgroup
// hierarchy), and the sampler and the kills' follow-ups (snapshots,
// kernel reports) when asked for.
type output struct {
	pipe      *pipeline.Pipeline
	sampler   *sampler.Sampler
	followUps *followUps
	reports   *kernelReports // one of the follow-ups, whose log is closed at the end
	// hierarchy, when found, tells which cgroups were removed.
	hierarchy *memcg.Hierarchy
}

func newOutput(opts Options, logger *slog.Logger) (output, error) {
	po := opts.Pipeline
	nodes, err := classify.ReadMemoryNodes()
	if err != nil {
		logger.Warn("cpuset and mempolicy OOMs cannot be told from global ones in tracepoint mode", "error", err)
	}
	po.Classify = classify.Options{MemoryNodes: nodes, NodesUnknown: err != nil}
	h, hierarchyErr := memcg.Detect()
	var out output
	if hierarchyErr == nil {
		po.Attribute.Hierarchy = h
		out.hierarchy = &h
	}
	sinks := slices.Clone(opts.Sinks)
	if opts.Sampling != nil && opts.Sampling.Interval > 0 {
		if out.sampler, err = newSampler(opts.Sampling, h, hierarchyErr, logger); err != nil {
			return output{}, err
		}
		sinks = append(sinks, out.sampler)
	}
	var follow []followUp
	if opts.Snapshot {
		if hierarchyErr != nil {
			logger.Warn("no memory snapshots after kills", "error", hierarchyErr)
		} else {
			follow = append(follow, snapshotAfter(snapshotReader(h), selfTask()))
		}
	}
	if opts.KernelReport {
		if out.reports, err = newKernelReports(selfTask(), logger); err != nil {
			logger.Warn("no kernel reports after kills", "error", err)
		} else {
			follow = append(follow, out.reports.after)
		}
	}
	if len(follow) > 0 {
		// Last, so that the follow-ups start once the kill's line is out.
		out.followUps = newFollowUps(follow...)
		sinks = append(sinks, out.followUps)
	}
	out.pipe = pipeline.New(po, sinks...)
	if out.followUps != nil {
		out.followUps.pipe = out.pipe
	}
	return out, nil
}

// followUpFailed reports the first error handing a kill's follow-up over;
// nil without follow-ups.
func (o output) followUpFailed() <-chan error {
	if o.followUps == nil {
		return nil
	}
	return o.followUps.failed
}

// finish waits for the follow-ups still being made to be handed over.
func (o output) finish() error {
	if o.followUps == nil {
		return nil
	}
	o.followUps.wait()
	select {
	case err := <-o.followUps.failed:
		return err
	default:
		return nil
	}
}

func (o output) close() {
	if o.sampler != nil {
		o.sampler.Close()
	}
	if o.reports != nil {
		o.reports.close()
	}
}

// newSampler returns the sampler of the node and, with a memory cgroup
// hierarchy, of the cgroups that matter.
func newSampler(opts *Sampling, h memcg.Hierarchy, hierarchyErr error, logger *slog.Logger) (*sampler.Sampler, error) {
	if hierarchyErr != nil {
		if len(opts.Watch) > 0 {
			return nil, fmt.Errorf("watch cgroups: %w", hierarchyErr)
		}
		logger.Warn("samples of the node only", "error", hierarchyErr)
		h = memcg.Hierarchy{} // the zero hierarchy: the node alone
	}
	s := sampler.New(sampler.Config{
		Hierarchy:  h,
		MaxCgroups: opts.MaxCgroups,
		Clock:      func() (time.Time, uint64) { return time.Now(), BootNanos() },
		Logger:     logger,
	})
	for _, path := range opts.Watch {
		if err := s.Watch(path); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// source is what the session needs of a tracer.
type source interface {
	Mode() event.Mode
	// Read returns the next record, waiting for one only if wait is set:
	// else tracer.ErrNoRecord when there is none.
	Read(wait bool) ([]byte, error)
	RingBuffer() (size, pending int)
	Lost() (uint64, error)
	ReclaimStats(dst []event.ReclaimStats) ([]event.ReclaimStats, error)
	// UncountedReclaim is how many episodes found no histogram.
	UncountedReclaim() (uint64, error)
	// FreeReclaimHistogram gives back the histogram of a removed cgroup.
	FreeReclaimHistogram(cgroupID uint64, kind event.ReclaimKind) error
	// SkippedRuns is how many runs of each program the kernel skipped.
	SkippedRuns() (map[string]uint64, error)
	// SawKill says whether the source saw the OOM kill of process tgid.
	SawKill(tgid uint32) (bool, error)
	Detach() error
	Flush() error
}

// decodeFunc decodes one record into ev, as tracer.Decoder.Decode does.
type decodeFunc func(raw []byte, ev *event.Event) error

// run is Run on any source, handing every event to out.pipe; out.sampler,
// when not nil, is a sink of it and takes a round of samples every
// sampling interval. The kills of past, the kernel log as it was before
// the source attached, come first, when it is not nil.
func run(ctx context.Context, t source, decode decodeFunc, out output, opts Options, logger *slog.Logger, past *kernlog.Tail) (Summary, error) {
	pipe := out.pipe
	s := &session{
		opts:        opts,
		tracer:      t,
		decode:      decode,
		pipe:        pipe,
		sampler:     out.sampler,
		hierarchy:   out.hierarchy,
		logger:      logger,
		lastStats:   make(map[statsKey]event.ReclaimStats),
		lastStatsAt: time.Now(),
	}
	if opts.Health != nil {
		opts.Health.attach(t)
		defer opts.Health.attach(nil)
	}
	if opts.OnReady != nil {
		if err := opts.OnReady(t.Mode()); err != nil {
			return s.summary(t.Mode()), err
		}
	}
	if past != nil {
		// The ring buffer keeps what happens meanwhile: the past comes
		// first, then the present, and each kill once.
		if _, err := ReadKernelLog(context.Background(), pipe, past, KernelLog{Replay: true, Live: t.SawKill}); err != nil {
			logger.Warn("no kills from before tracing began", "error", err)
		}
	}

	readDone := make(chan error, 1)
	go func() { readDone <- s.readLoop() }()
	samplingFailed, stopSampling := s.startSampling()
	defer stopSampling()

	var tick <-chan time.Time
	if opts.Interval > 0 {
		ticker := time.NewTicker(opts.Interval)
		defer ticker.Stop()
		tick = ticker.C
	}
	// An error ends the run like a stop does, so that what the reader and
	// the follow-ups still hold is written out.
	var failed error
	for {
		select {
		case <-tick:
			if failed = s.emitPeriodic(); failed == nil {
				continue
			}
		case err := <-readDone:
			// The reader only stops early on an error, after writing out
			// what it held.
			return s.summary(t.Mode()), errors.Join(err, out.finish())
		case failed = <-samplingFailed:
		case failed = <-out.followUpFailed():
		case <-ctx.Done():
		}
		break
	}
	stopSampling()

	// Stop new records, then hand over every record already in the buffer.
	if err := t.Detach(); err != nil {
		logger.Warn("detach", "error", err)
	}
	if err := t.Flush(); err != nil {
		return s.summary(t.Mode()), errors.Join(failed, fmt.Errorf("flush ring buffer: %w", err), out.finish())
	}
	if err := errors.Join(failed, <-readDone, out.finish()); err != nil {
		return s.summary(t.Mode()), err
	}
	if err := s.emitPeriodic(); err != nil {
		return s.summary(t.Mode()), err
	}
	// The last samples: the state after the last events.
	return s.summary(t.Mode()), s.emitSamples()
}

// startSampling writes samples now and then every sampling interval, from a
// goroutine of its own, until stop is called (which waits for it). A sink
// error ends the sampling and is sent on failed.
func (s *session) startSampling() (failed <-chan error, stop func()) {
	if s.sampler == nil {
		return nil, func() {}
	}
	errc := make(chan error, 1)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(s.opts.Sampling.Interval)
		defer ticker.Stop()
		for {
			if err := s.emitSamples(); err != nil {
				errc <- err
				return
			}
			select {
			case <-ticker.C:
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return errc, func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
}

// emitSamples takes a round of samples and hands them to the pipeline. The
// sampler is a source like the ring buffer: its samples take the same way
// out, in a goroutine of its own, and a kill waiting for names never
// delays them.
func (s *session) emitSamples() error {
	if s.sampler == nil {
		return nil
	}
	s.samples = s.sampler.Sample(s.samples[:0])
	self := selfTask()
	for i := range s.samples {
		s.samples[i].Task = self
		if err := s.pipe.Process(&s.samples[i]); err != nil {
			return err
		}
	}
	return nil
}

// selfTask is the task of the events oomtrace makes itself, rather than
// decoding them from the kernel's records.
func selfTask() event.Task {
	return event.Task{PID: uint32(os.Getpid()), TGID: uint32(os.Getpid()), Comm: "oomtrace"}
}

type statsKey struct {
	cgroup uint64
	kind   event.ReclaimKind
}

type session struct {
	opts   Options
	tracer source
	decode decodeFunc
	pipe   *pipeline.Pipeline
	logger *slog.Logger
	// sampler, when not nil, takes the samples; samples is its buffer,
	// used by one goroutine at a time.
	sampler *sampler.Sampler
	samples []event.Event

	decodeErrors atomic.Uint64
	lost         atomic.Uint64                     // the kernel's count, as last written
	skipped      atomic.Pointer[event.SkippedRuns] // the kernel's skipped runs, as last written

	// hierarchy, when not nil, tells the histograms of removed cgroups,
	// which emitPeriodic frees.
	hierarchy *memcg.Hierarchy

	// Used by the goroutine that runs emitPeriodic only.
	lastStats   map[statsKey]event.ReclaimStats
	lastStatsAt time.Time
	statsBuf    []event.ReclaimStats
	ev          event.Event
	// uncountedWarned, skippedWarned, freeWarned: episodes without a
	// histogram, skipped runs, and a histogram that could not be freed,
	// were told of.
	uncountedWarned, skippedWarned, freeWarned bool
}

// summary is what the session saw so far.
func (s *session) summary(mode event.Mode) Summary {
	return Summary{Mode: mode, Events: s.pipe.Written(), Lost: s.lost.Load(), DecodeErrors: s.decodeErrors.Load(),
		SkippedRuns: s.skippedRuns()}
}

// skippedRuns is the kernel's count of skipped runs as last written in a
// lost event: nil before the first one.
func (s *session) skippedRuns() event.SkippedRuns {
	if p := s.skipped.Load(); p != nil {
		return *p
	}
	return nil
}

// readLoop hands every record to the pipeline until the ring buffer is
// flushed (nil) or fails (the error).
//
// The records the ring buffer holds are a batch: their lines go out
// together, once the reader has drained what it holds and before it waits
// for more (or sooner, see pipeline.ProcessBuffered). The ring buffer says
// without a system call whether it holds anything.
func (s *session) readLoop() (err error) {
	// However it ends, nothing the sinks hold is left behind.
	defer func() { err = errors.Join(err, s.pipe.Flush()) }()
	var ev event.Event
	for {
		_, pending := s.tracer.RingBuffer()
		wait := pending == 0
		if wait {
			if err := s.pipe.Flush(); err != nil {
				return err
			}
		}
		raw, err := s.tracer.Read(wait)
		switch {
		case errors.Is(err, tracer.ErrNoRecord):
			// What was pending was no record (one the kernel discarded):
			// the next turn writes out the batch before it waits.
			continue
		case errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("read ring buffer: %w", err)
		}
		if h := s.opts.Health; h != nil {
			h.observe(s.tracer)
		}
		if err := s.decode(raw, &ev); err != nil {
			s.decodeErrors.Add(1)
			s.logger.Warn("record dropped", "error", err)
			continue
		}
		if err := s.pipe.ProcessBuffered(&ev); err != nil {
			return err
		}
	}
}

// emitPeriodic writes one reclaim_stats event per cgroup and kind that
// reclaimed since the last call, and a lost event if records were lost.
func (s *session) emitPeriodic() error {
	now := time.Now()
	stats, err := s.tracer.ReclaimStats(s.statsBuf[:0])
	s.statsBuf = stats
	if err != nil {
		return err
	}
	lost, err := s.tracer.Lost()
	if err != nil {
		return err
	}
	uncounted, err := s.tracer.UncountedReclaim()
	if err != nil {
		return err
	}
	s.warnOnce(&s.uncountedWarned, uncounted, "uncounted_episodes", "reclaim histograms are full: reclaim_stats does not "+
		"count the episodes of cgroups first seen now, until removed cgroups' histograms are freed (reclaim events "+
		"still report those over --reclaim-min)")
	byProgram, err := s.tracer.SkippedRuns()
	if err != nil {
		return err
	}
	skipped := event.SkippedRuns(byProgram)
	s.warnOnce(&s.skippedWarned, skipped.Total(), "skipped_runs", "the kernel skipped runs of oomtrace's programs, each started "+
		"while the same program, preempted, was still running on that CPU: reclaim episodes, kills or exits of other "+
		"tasks on it may be missing", "programs", skipped)

	// These events come from oomtrace itself, not from a kernel task.
	self := selfTask()
	header := func(kind event.Kind) {
		s.ev = event.Event{Kind: kind, Time: now, KtimeNS: BootNanos(), Task: self}
	}
	interval := now.Sub(s.lastStatsAt)
	s.lastStatsAt = now
	for _, cur := range stats {
		key := statsKey{cur.Cgroup.ID, cur.Kind}
		prev, seen := s.lastStats[key]
		s.lastStats[key] = cur
		if cur.Count == prev.Count {
			// Counted nothing for a whole interval: the cgroup may be
			// gone, and everything it counted was written already.
			if seen && s.removed(&cur.Cgroup) {
				// Freeing is housekeeping: when it fails the run goes on,
				// and tries again at the next interval.
				if err := s.tracer.FreeReclaimHistogram(key.cgroup, key.kind); err != nil {
					if !s.freeWarned {
						s.freeWarned = true
						s.logger.Warn("the reclaim histograms of removed cgroups cannot be freed", "error", err)
					}
					continue
				}
				delete(s.lastStats, key)
			}
			continue
		}
		header(event.KindReclaimStats)
		delta := cur
		delta.Interval = interval
		delta.Count -= prev.Count
		delta.Total -= prev.Total
		for i := range delta.Buckets {
			delta.Buckets[i] -= prev.Buckets[i]
		}
		s.ev.ReclaimStats = delta
		if err := s.pipe.Process(&s.ev); err != nil {
			return err
		}
	}
	// A lost event when records were lost or runs skipped since the last:
	// either way a capture lacks what the kernel did not hand over.
	// Each program's count only grows, so an equal total is the same runs.
	prev, prevSkipped, skippedTotal := s.lost.Load(), s.skippedRuns().Total(), skipped.Total()
	if lost != prev || skippedTotal != prevSkipped {
		header(event.KindLost)
		s.ev.Lost = event.Lost{Count: lost - prev, Total: lost,
			SkippedRuns: skippedTotal - prevSkipped, SkippedRunsTotal: skippedTotal, SkippedByProgram: skipped.String()}
		s.lost.Store(lost)
		s.skipped.Store(&skipped)
		if err := s.pipe.Process(&s.ev); err != nil {
			return err
		}
	}
	return nil
}

// removed reports whether c, a cgroup with a reclaim histogram, is known to
// be gone. A truncated path names no directory to look at: only its id
// can tell.
func (s *session) removed(c *event.Cgroup) bool {
	if s.hierarchy == nil || !c.Valid() {
		return false
	}
	whole := c.Path
	if c.Truncated {
		whole = ""
	}
	return s.hierarchy.Removed(whole, c.ID)
}

// warnOnce logs msg with the count n under key, and attrs after it, the
// first time n is not zero, and notes in *warned that it did.
func (s *session) warnOnce(warned *bool, n uint64, key, msg string, attrs ...any) {
	if n > 0 && !*warned {
		*warned = true
		s.logger.Warn(msg, append([]any{key, n}, attrs...)...)
	}
}

// BootNanos is CLOCK_BOOTTIME now, the clock of the kernel's records.
func BootNanos() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0 // cannot fail on Linux with a valid clock id
	}
	return uint64(ts.Nano())
}
