package e2e

import (
	"os"
	"testing"
	"time"
)

// waitReady waits until an oomtrace started with --ready-file path is
// attached, and fails tb after 30 s; output, when not nil, tells what the
// process said so far.
func waitReady(tb testing.TB, path string, output func() string) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			said := ""
			if output != nil {
				said = "\n" + output()
			}
			tb.Fatalf("oomtrace not ready after 30s%s", said)
		}
	}
}
