package stream

import (
	"sync"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

// followUp makes the event that follows a kill happening now (its memory
// snapshot, its report in the kernel log), or reports false when there is
// none to make. It may take its time: nothing waits for it but the run's
// end.
type followUp func(kill *event.Event) (event.Event, bool)

// followUps is the last sink of the pipeline, and a source of the events
// that follow kills. It holds every kill happening now until the pipeline
// flushes its sinks, which it does at once for a kill, then runs each
// followUp of the kill in a goroutine of its own, after the kill's line
// went out, and hands what it makes to the pipeline. The kill's line
// waits for no file nor log, nor for these goroutines: on a host whose
// CPUs were taken, the thread the runtime woke for one took the CPU, and
// a snapshot's file reads often ran before the line's write(2).
type followUps struct {
	makers []followUp
	pipe   *pipeline.Pipeline // set once the pipeline is made

	// held are the kills written since the last flush, whose follow-ups
	// are still to start; used under the pipeline's lock on its sinks.
	held    []*event.Event
	pending sync.WaitGroup
	failed  chan error // the first error handing an event over
}

func newFollowUps(makers ...followUp) *followUps {
	return &followUps{makers: makers, failed: make(chan error, 1)}
}

// Write holds a kill happening now until Flush starts its follow-ups.
func (f *followUps) Write(ev *event.Event) error {
	if ev.Kind != event.KindOOMKill || ev.Restored || ev.OOMKill.Replayed {
		return nil
	}
	kill := *ev // the caller reuses ev
	kill.OOMKill.Stack = nil
	f.held = append(f.held, &kill)
	return nil
}

// Flush starts the follow-ups of the kills held.
func (f *followUps) Flush() error {
	for _, kill := range f.held {
		for _, follow := range f.makers {
			f.start(kill, follow)
		}
	}
	clear(f.held) // the kills are not kept past their follow-ups
	f.held = f.held[:0]
	return nil
}

// start makes kill's follow-up in a goroutine of its own and hands it to
// the pipeline.
func (f *followUps) start(kill *event.Event, follow followUp) {
	f.pending.Add(1)
	go func() {
		defer f.pending.Done()
		out, ok := follow(kill)
		if !ok {
			return
		}
		if err := f.pipe.Process(&out); err != nil {
			select {
			case f.failed <- err:
			default:
			}
		}
	}()
}

// wait returns once every follow-up started has been handed over.
func (f *followUps) wait() { f.pending.Wait() }
