package pipeline

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

// holdingSink holds what it is given until Flush, as a buffered writer
// does, and keeps what was flushed.
type holdingSink struct {
	held, out []event.Kind
	flushes   int
	err       error
}

func (s *holdingSink) Write(ev *event.Event) error {
	s.held = append(s.held, ev.Kind)
	return nil
}

func (s *holdingSink) Flush() error {
	s.flushes++
	s.out = append(s.out, s.held...)
	s.held = nil
	return s.err
}

// plainSink writes at once: it has nothing to flush.
type plainSink struct{ got []event.Kind }

func (s *plainSink) Write(ev *event.Event) error {
	s.got = append(s.got, ev.Kind)
	return nil
}

type dropKind event.Kind

func (d dropKind) Process(ev *event.Event) (bool, error) { return ev.Kind != event.Kind(d), nil }

// Process writes the event out before it returns.
func TestProcessWritesOut(t *testing.T) {
	hold, plain := &holdingSink{}, &plainSink{}
	p := Of(nil, hold, plain)
	if err := p.Process(&event.Event{Kind: event.KindReclaim}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hold.out, []event.Kind{event.KindReclaim}) || len(hold.held) != 0 || len(plain.got) != 1 {
		t.Errorf("after Process: out %v, held %v, plain %v", hold.out, hold.held, plain.got)
	}
}

// ProcessBuffered lets the sinks hold lines until Flush, but for a kill's,
// which goes out at once with what was held before it.
func TestProcessBuffered(t *testing.T) {
	hold := &holdingSink{}
	p := Of([]Stage{dropKind(event.KindKswapdWake)}, hold)
	for _, k := range []event.Kind{event.KindReclaim, event.KindKswapdWake, event.KindReclaim} {
		if err := p.ProcessBuffered(&event.Event{Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	if len(hold.out) != 0 || len(hold.held) != 2 || hold.flushes != 0 {
		t.Fatalf("before Flush: out %v, held %v, %d flushes", hold.out, hold.held, hold.flushes)
	}
	if err := p.ProcessBuffered(&event.Event{Kind: event.KindOOMKill}); err != nil {
		t.Fatal(err)
	}
	want := []event.Kind{event.KindReclaim, event.KindReclaim, event.KindOOMKill}
	if !slices.Equal(hold.out, want) || len(hold.held) != 0 {
		t.Fatalf("after a kill: out %v, held %v; want %v out", hold.out, hold.held, want)
	}
	p.ProcessBuffered(&event.Event{Kind: event.KindReclaim})
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(hold.out) != 4 || len(hold.held) != 0 {
		t.Errorf("after Flush: out %v, held %v", hold.out, hold.held)
	}
	if w := p.Written(); w[event.KindReclaim] != 3 || w[event.KindOOMKill] != 1 || w[event.KindKswapdWake] != 0 {
		t.Errorf("written %v", w)
	}
}

// A sink that fails to flush does not keep the others from flushing.
func TestFlushErrors(t *testing.T) {
	broken := errors.New("disk full")
	bad, good := &holdingSink{err: broken}, &holdingSink{}
	p := Of(nil, bad, good)
	p.ProcessBuffered(&event.Event{Kind: event.KindReclaim})
	if err := p.Flush(); !errors.Is(err, broken) || len(good.out) != 1 {
		t.Errorf("Flush: %v, the good sink wrote %v", err, good.out)
	}
	if err := p.Process(&event.Event{Kind: event.KindLost}); !errors.Is(err, broken) {
		t.Errorf("Process: %v", err)
	}
}

// A source reading its events from a file or a pipe writes out what the
// sinks hold before every read, so before it may wait for input.
func TestFlushBeforeRead(t *testing.T) {
	hold := &holdingSink{}
	p := Of(nil, hold)
	r := p.FlushBeforeRead(strings.NewReader("ab"))
	p.ProcessBuffered(&event.Event{Kind: event.KindReclaim})
	var b [1]byte
	if n, err := r.Read(b[:]); n != 1 || err != nil || len(hold.out) != 1 || len(hold.held) != 0 {
		t.Errorf("read %d, %v; out %v, held %v: want the event written before the read", n, err, hold.out, hold.held)
	}
	hold.err = errors.New("disk full")
	if _, err := r.Read(b[:]); !errors.Is(err, hold.err) {
		t.Errorf("read after a failed flush: %v", err)
	}
}
