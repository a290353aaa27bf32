package bench

import (
	"strings"
	"testing"
	"time"
)

func TestCalibrationSummary(t *testing.T) {
	if got := calibrationSummary(nil); got != "" {
		t.Errorf("no calibration: %q", got)
	}
	got := calibrationSummary([]calibration{{"storm", 10 * time.Millisecond}, {"loss", 14 * time.Millisecond}, {"pipeline", 11 * time.Millisecond}})
	for _, want := range []string{"took 10.0 ms to 14.0 ms before the scenarios, 40% longer at the slowest",
		"(storm 10.0 ms, loss 14.0 ms, pipeline 11.0 ms)"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
}

func TestCalibrateRuns(t *testing.T) {
	if d := calibrate(); d <= 0 {
		t.Errorf("the fixed work took %v", d)
	}
}
