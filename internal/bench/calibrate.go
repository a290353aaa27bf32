package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This machine is a guest sharing its host's CPUs, and the host does not
// report steal time: the same code ran 40% slower in one run than in the
// run before it. A fixed piece of work timed before each scenario shows how
// fast the CPUs were when that scenario ran.

// calibrationInts is the fixed work: sorting this many pseudo-random
// integers, branches and memory as well as arithmetic, about 100 ms on one
// CPU here.
const calibrationInts = 1 << 20

// calibrate times the fixed work, the median of three runs.
func calibrate() time.Duration {
	ints := make([]uint64, calibrationInts)
	var took sample
	for range 3 {
		x := uint64(88172645463325252)
		for i := range ints {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			ints[i] = x
		}
		start := time.Now()
		slices.Sort(ints)
		took = append(took, float64(time.Since(start)))
	}
	return time.Duration(took.median())
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
	return fmt.Sprintf("a fixed piece of work (sorting %s pseudo-random integers, the median of three) took %s to %s "+
		"before the scenarios, %.0f%% longer at the slowest (%s): the host's other guests slow this one down, and it "+
		"reports no steal time to show it", fmtCount(calibrationInts), fmtMS(fastest.took), fmtMS(slowest.took),
		100*(float64(slowest.took)/float64(fastest.took)-1), strings.Join(parts, ", "))
}

// fmtMS writes d in milliseconds to a tenth: the calibrations differ by
// less than fmtDur's two digits show.
func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
