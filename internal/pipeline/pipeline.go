// Package pipeline is the one way out for oomtrace's events, whatever
// produced them: the ring buffer of the live tracer, the kernel log, a
// capture file, perf script output, the sampler. Every event takes the same
// stages in the same order,
//
//	classify → attribute → explain → filter → sinks
//
// and each field a stage derives is written by that stage alone:
//
//   - classify (package classify): an oom_kill's class and victim_exiting,
//     and its OOM cgroup only for memcg OOMs; a signal's sender class; an
//     exit's cause and evidence;
//   - attribute (package attribute): the owner (container, pod, unit) of
//     every cgroup, with names, and the main process of a killed task's
//     container;
//   - explain (package verdict): the sentences of kills, exits, evictions
//     and kill snapshots;
//   - filter (package filter): which events go on to the sinks.
//
// Sources write the kernel's facts only. Events read back from oomtrace's
// own logs (event.Event.Restored) carry the fields the recording derived,
// and the deriving stages pass them on untouched.
//
// Sources may run in goroutines of their own: the stages are safe for
// concurrent use, and only the sinks are serialised, under a lock taken
// after every stage is done, so that an event waiting for names never holds
// up another source's events.
//
// Sinks that write to a file or a pipe hold lines in a buffer (Flusher),
// so that a burst costs one write(2) per batch rather than one per line.
// When a line leaves the process is the pipeline's rule, the same for
// every source: an event handed to Process is written out before Process
// returns; one handed to ProcessBuffered, by a source that has more events
// at hand (a ring buffer or a file being drained), at the latest when that
// source calls Flush, which it does before it waits for more, so that no
// line sits in a buffer while nothing happens. An OOM kill's line is
// written out at once either way. A sink also writes out on its own what
// grows past its bound.
package pipeline

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/oomtrace/oomtrace/internal/attribute"
	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/filter"
	"github.com/oomtrace/oomtrace/internal/verdict"
)

// Stage works on an event in place. It reports false to drop it.
type Stage interface {
	Process(ev *event.Event) (keep bool, err error)
}

// Sink receives the events that passed every stage. Calls are serialised.
type Sink interface {
	Write(ev *event.Event) error
}

// Flusher is a Sink that may hold what it was given (lines in a buffer)
// until Flush.
type Flusher interface {
	Flush() error
}

// Options configures the standard stages.
type Options struct {
	Classify  classify.Options
	Attribute attribute.Options
	Filter    filter.Filter
}

// Pipeline runs events through its stages into its sinks.
type Pipeline struct {
	stages []Stage
	mu     sync.Mutex // serialises the sinks and guards written
	sinks  []Sink
	// written counts the events handed to the sinks, by kind.
	written [event.NumKinds]uint64
}

// New returns the standard pipeline, writing to sinks. Its stages keep
// state about one source's events (the signals a process got before it
// exited, the reclaim before a kill): use one Pipeline per source of
// events, sharing sinks if need be, unless the sources are parts of one
// whole (the live tracer's ring buffer and its sampler).
func New(opts Options, sinks ...Sink) *Pipeline {
	return Of([]Stage{
		classify.New(opts.Classify),
		attribute.New(opts.Attribute),
		verdict.Stage{},
		filter.NewStage(opts.Filter),
	}, sinks...)
}

// Of returns a pipeline of the given stages, for tests and tools that need
// only some of them.
func Of(stages []Stage, sinks ...Sink) *Pipeline {
	return &Pipeline{stages: stages, sinks: sinks}
}

// Process runs ev through the stages and, if none dropped it, writes it to
// every sink, and out of the process before it returns. ev is changed in
// place.
func (p *Pipeline) Process(ev *event.Event) error {
	return p.process(ev, true)
}

// ProcessBuffered is Process for a source with more events at hand: the
// sinks may hold ev's line until the source calls Flush, which it must do
// before it waits for its next event, and before it stops. An OOM kill's
// line is written out at once all the same: nothing in a burst is worth
// keeping it waiting.
func (p *Pipeline) ProcessBuffered(ev *event.Event) error {
	return p.process(ev, ev.Kind == event.KindOOMKill)
}

func (p *Pipeline) process(ev *event.Event, flush bool) error {
	for _, s := range p.stages {
		keep, err := s.Process(ev)
		if err != nil {
			return fmt.Errorf("%s event: %w", ev.Kind, err)
		}
		if !keep {
			return nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(ev.Kind) < len(p.written) {
		p.written[ev.Kind]++
	}
	for _, s := range p.sinks {
		if err := s.Write(ev); err != nil {
			return fmt.Errorf("write %s event: %w", ev.Kind, err)
		}
	}
	if flush {
		return p.flush()
	}
	return nil
}

// Flush writes out what the sinks hold.
func (p *Pipeline) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flush()
}

func (p *Pipeline) flush() error {
	var errs []error
	for _, s := range p.sinks {
		if f, ok := s.(Flusher); ok {
			if err := f.Flush(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// FlushBeforeRead returns r with p flushed before each read from it: a
// source that reads its events from r (a log file, standard input) and
// hands them over with ProcessBuffered writes out what the sinks hold
// before it may wait for input, and once per buffer of input read.
func (p *Pipeline) FlushBeforeRead(r io.Reader) io.Reader {
	return flushingReader{r: r, p: p}
}

type flushingReader struct {
	r io.Reader
	p *Pipeline
}

func (f flushingReader) Read(b []byte) (int, error) {
	if err := f.p.Flush(); err != nil {
		return 0, err
	}
	return f.r.Read(b)
}

// Written returns how many events of each kind reached the sinks.
func (p *Pipeline) Written() map[event.Kind]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := make(map[event.Kind]uint64)
	for k, n := range p.written {
		if n > 0 {
			counts[event.Kind(k)] = n
		}
	}
	return counts
}
