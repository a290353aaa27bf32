package bench

import (
	"fmt"
	"strings"
	"time"
)

// This machine is a guest sharing its host's CPUs, and the host does not
// report steal time: the same code ran 40% slower in one run than in the
// run before it. A fixed piece of work timed before each scenario shows how
// fast the CPUs were when that scenario ran.

// calibrationSteps is the fixed work: steps of a xorshift generator, about
// 20 ms on one CPU here.
const calibrationSteps = 10_000_000

// calibrationSink keeps the generator's result, so that the loop is run.
var calibrationSink uint64

// calibrate times the fixed work, the fastest of five runs: the least the
// host's other guests left of one CPU shows as the slowest such figure of a
// benchmark run.
func calibrate() time.Duration {
	var fastest time.Duration
	for range 5 {
		start := time.Now()
		x := uint64(88172645463325252)
		for range calibrationSteps {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		calibrationSink += x
		if d := time.Since(start); fastest == 0 || d < fastest {
			fastest = d
		}
	}
	return fastest
}

// calibration is the fixed work's time before one scenario.
type calibration struct {
	scenario string
	took     time.Duration
}

// calibrationSummary says how fast the CPUs were through the run.
func calibrationSummary(cs []calibration) string {
	if len(cs) == 0 {
		return ""
	}
	fastest, slowest := cs[0], cs[0]
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.took < fastest.took {
			fastest = c
		}
		if c.took > slowest.took {
			slowest = c
		}
		parts = append(parts, fmt.Sprintf("%s %s", c.scenario, fmtMS(c.took)))
	}
	return fmt.Sprintf("a fixed CPU-bound loop (%s xorshift steps, the fastest of five) took %s to %s before the "+
		"scenarios, %.0f%% longer at the slowest (%s): the host's other guests slow this one down, and it reports "+
		"no steal time to show it", fmtCount(calibrationSteps), fmtMS(fastest.took), fmtMS(slowest.took),
		100*(float64(slowest.took)/float64(fastest.took)-1), strings.Join(parts, ", "))
}

// fmtMS writes d in milliseconds to a tenth: the calibrations differ by
// less than fmtDur's two digits show.
func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
