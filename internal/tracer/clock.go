package tracer

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// bootClock turns the kernel's CLOCK_BOOTTIME stamps into wall-clock time.
// The offset between the two clocks changes whenever the wall clock is set
// (an NTP client stepping it at boot, an administrator), so it is measured
// again once the records have moved on by recheckAfter: a tracer started
// before the host's time was synchronised stamps its events right once
// it is.
type bootClock struct {
	// bootZero is the wall-clock time of CLOCK_BOOTTIME zero, without a
	// monotonic reading: event times compare as wall-clock times.
	bootZero time.Time
	// measuredAt is the CLOCK_BOOTTIME of that measurement, in ns.
	measuredAt uint64
	// read returns the wall clock, CLOCK_BOOTTIME and the wall clock
	// again; tests replace it.
	read func() (before time.Time, boot int64, after time.Time, err error)
}

const recheckAfter = time.Second

// readClocks reads CLOCK_BOOTTIME between two readings of the wall clock.
func readClocks() (time.Time, int64, time.Time, error) {
	var ts unix.Timespec
	before := time.Now()
	err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	after := time.Now()
	if err != nil {
		return before, 0, after, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
	}
	return before, ts.Nano(), after, nil
}

// measure sets the offset from the closest of three readings: a reading
// the scheduler interrupted between its clocks (for milliseconds on a busy
// or emulated machine) would put every event that far off.
func (c *bootClock) measure() error {
	best := time.Duration(-1)
	for range 3 {
		before, boot, after, err := c.read()
		if err != nil {
			return err
		}
		if gap := after.Sub(before); best < 0 || gap < best {
			best = gap
			c.bootZero = before.Add(gap / 2).Add(-time.Duration(boot)).Round(0)
			c.measuredAt = uint64(boot)
		}
	}
	return nil
}

// zeroFor returns bootZero as it applies to the stamp ktime. It is kept
// small enough to inline into the decoder, which stamps every record.
func (c *bootClock) zeroFor(ktime uint64) time.Time {
	if ktime > c.measuredAt+uint64(recheckAfter) {
		c.remeasure(ktime)
	}
	return c.bootZero
}

// remeasure measures the offset again for a record stamped ktime. On error
// the last offset stays: it was right when measured. A stamp from ahead of
// the clock (a record of another boot) waits as long as a live one before
// the next measurement. It is kept out of line, so that zeroFor inlines.
//
//go:noinline
func (c *bootClock) remeasure(ktime uint64) {
	_ = c.measure()
	c.measuredAt = max(c.measuredAt, ktime)
}
