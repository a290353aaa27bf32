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
package pipeline

import (
	"fmt"
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
// every sink. ev is changed in place.
func (p *Pipeline) Process(ev *event.Event) error {
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
	return nil
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
