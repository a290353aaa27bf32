package tracer

import (
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// fakeClocks is a host whose wall clock is set forward by an hour while
// the tracer runs, and whose first reading of each measurement is
// interrupted between its clocks for 20 ms.
type fakeClocks struct {
	boot  int64     // CLOCK_BOOTTIME, ns
	wall  time.Time // wall-clock time at boot
	reads int
}

func (f *fakeClocks) read() (time.Time, int64, time.Time, error) {
	f.reads++
	f.boot += int64(time.Microsecond)
	before := f.wall.Add(time.Duration(f.boot))
	if f.reads%3 == 1 {
		// Interrupted after reading the wall clock: the boot clock is
		// read 20 ms later.
		f.boot += int64(20 * time.Millisecond)
	}
	boot := f.boot
	f.boot += int64(time.Microsecond)
	return before, boot, f.wall.Add(time.Duration(f.boot)), nil
}

// stamp decodes with d a reclaim record stamped ktime and returns the
// event's time: the wall-clock time the decoder gives that CLOCK_BOOTTIME
// stamp.
func stamp(t *testing.T, d *Decoder, ktime uint64) time.Time {
	t.Helper()
	rec := &oomtraceReclaimEvent{}
	rec.Hdr.Kind, rec.Hdr.KtimeNs = uint32(oomtraceEventKindEVENT_RECLAIM), ktime
	var ev event.Event
	if err := d.Decode(rawBytes(rec), &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Time
}

func TestBootClock(t *testing.T) {
	host := &fakeClocks{boot: int64(time.Hour), wall: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)}
	d := &Decoder{clock: bootClock{read: host.read}}
	if err := d.clock.measure(); err != nil {
		t.Fatal(err)
	}
	// A record stamped now is stamped with the wall clock's time now, to
	// within the best reading's gap (2 µs), not the interrupted one's.
	now := uint64(host.boot)
	if got, want := stamp(t, d, now), host.wall.Add(time.Duration(now)); got.Sub(want).Abs() > 2*time.Microsecond {
		t.Errorf("a record of now stamped %v, want %v", got, want)
	}

	// The host's wall clock is set an hour forward. A record within a
	// second of the last measurement keeps the old offset; the first one
	// later than that is stamped by the new one.
	host.wall = host.wall.Add(time.Hour)
	reads := host.reads
	soon := now + uint64(500*time.Millisecond)
	if got, want := stamp(t, d, soon), host.wall.Add(-time.Hour).Add(time.Duration(soon)); got.Sub(want).Abs() > 2*time.Microsecond {
		t.Errorf("a record half a second later stamped %v, want %v (the offset unchanged)", got, want)
	}
	if host.reads != reads {
		t.Errorf("the clocks were read %d times within a second of the last measurement", host.reads-reads)
	}
	host.boot += int64(2 * time.Second)
	later := uint64(host.boot)
	if got, want := stamp(t, d, later), host.wall.Add(time.Duration(later)); got.Sub(want).Abs() > 2*time.Microsecond {
		t.Errorf("a record after the clock was set stamped %v, want %v", got, want)
	}

	// Event times are wall-clock times: none carries the process's
	// monotonic reading, by which Go would compare it instead.
	real := &Decoder{clock: bootClock{read: readClocks}}
	if err := real.clock.measure(); err != nil {
		t.Fatal(err)
	}
	if w := stamp(t, real, real.clock.measuredAt); w != w.Round(0) {
		t.Errorf("event time %v carries a monotonic reading", w)
	}

	// A record stamped ahead of the clock (another boot's) is measured for
	// once, not at every record.
	ahead := uint64(host.boot) + uint64(time.Hour)
	stamp(t, d, ahead)
	reads = host.reads
	stamp(t, d, ahead+1)
	if host.reads != reads {
		t.Error("a record ahead of the clock measured the clocks again at once")
	}
}
