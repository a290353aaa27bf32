package tracer

import (
	"testing"
	"time"
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

// wall is the decoder's stamping of a record: the wall-clock time of the
// CLOCK_BOOTTIME stamp ktime.
func (c *bootClock) wall(ktime uint64) time.Time {
	return c.zeroFor(ktime).Add(time.Duration(ktime))
}

func TestBootClock(t *testing.T) {
	host := &fakeClocks{boot: int64(time.Hour), wall: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)}
	c := bootClock{read: host.read}
	if err := c.measure(); err != nil {
		t.Fatal(err)
	}
	// A record stamped now is stamped with the wall clock's time now, to
	// within the best reading's gap (2 µs), not the interrupted one's.
	now := uint64(host.boot)
	if got, want := c.wall(now), host.wall.Add(time.Duration(now)); got.Sub(want).Abs() > 2*time.Microsecond {
		t.Errorf("a record of now stamped %v, want %v", got, want)
	}

	// The host's wall clock is set an hour forward. A record within a
	// second of the last measurement keeps the old offset; the first one
	// later than that is stamped by the new one.
	host.wall = host.wall.Add(time.Hour)
	reads := host.reads
	soon := now + uint64(500*time.Millisecond)
	if got, want := c.wall(soon), host.wall.Add(-time.Hour).Add(time.Duration(soon)); got.Sub(want).Abs() > 2*time.Microsecond {
		t.Errorf("a record half a second later stamped %v, want %v (the offset unchanged)", got, want)
	}
	if host.reads != reads {
		t.Errorf("the clocks were read %d times within a second of the last measurement", host.reads-reads)
	}
	host.boot += int64(2 * time.Second)
	later := uint64(host.boot)
	if got, want := c.wall(later), host.wall.Add(time.Duration(later)); got.Sub(want).Abs() > 2*time.Microsecond {
		t.Errorf("a record after the clock was set stamped %v, want %v", got, want)
	}

	// Event times are wall-clock times: none carries the process's
	// monotonic reading, by which Go would compare it instead.
	real := bootClock{read: readClocks}
	if err := real.measure(); err != nil {
		t.Fatal(err)
	}
	if w := real.wall(real.measuredAt); w != w.Round(0) {
		t.Errorf("event time %v carries a monotonic reading", w)
	}

	// A record stamped ahead of the clock (another boot's) is measured for
	// once, not at every record.
	ahead := uint64(host.boot) + uint64(time.Hour)
	c.wall(ahead)
	reads = host.reads
	c.wall(ahead + 1)
	if host.reads != reads {
		t.Error("a record ahead of the clock measured the clocks again at once")
	}
}
