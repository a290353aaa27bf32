package e2e

import (
	"bytes"
	"os"
	"os/exec"
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

// attached is a command of oomtrace's a test started and waited for.
type attached struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	exited chan error // its Wait's error, once it exits
}

// startAttached starts cmd, whose arguments hold --ready-file ready, and
// waits until it is attached. It is killed at the end of the test if it
// still runs.
func startAttached(t *testing.T, cmd *exec.Cmd, ready string) *attached {
	t.Helper()
	a := &attached{cmd: cmd, exited: make(chan error, 1)}
	cmd.Stderr = &a.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	waitReady(t, ready, a.stderr.String)
	return a
}
