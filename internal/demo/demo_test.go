package demo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The demo refuses a limit that would leave the machine short of memory
// when its child fills the cgroup.
func TestCheckLimit(t *testing.T) {
	meminfo := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(meminfo, []byte("MemTotal:  4096000 kB\nMemAvailable:  1024000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkLimit(500<<20, meminfo); err != nil {
		t.Errorf("500 MiB of 1000 MiB available: %v", err)
	}
	err := checkLimit(501<<20, meminfo)
	if err == nil || !strings.Contains(err.Error(), "more than half the memory this machine has available (1000 MiB)") ||
		!strings.Contains(err.Error(), "--limit-mib") {
		t.Errorf("501 MiB of 1000 MiB available: %v", err)
	}
	if err := os.WriteFile(meminfo, []byte("MemTotal:  4096000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkLimit(32<<20, meminfo); err == nil || !strings.Contains(err.Error(), "no MemAvailable") {
		t.Errorf("a meminfo without MemAvailable: %v", err)
	}
	if err := checkLimit(32<<20, filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("no meminfo: no error")
	}
}

// The wait for the child ends with it, with the timeout, or when the demo
// is interrupted: a child that is never killed does not hold the demo.
func TestWaitKilled(t *testing.T) {
	start := func(args ...string) *exec.Cmd {
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		return cmd
	}
	killed := start("sleep", "10")
	killed.Process.Kill()
	if err := waitKilled(context.Background(), killed, 10*time.Second); err != nil {
		t.Errorf("a child killed by SIGKILL: %v", err)
	}
	if err := waitKilled(context.Background(), start("false"), 10*time.Second); err == nil || !strings.Contains(err.Error(), "not killed by the OOM killer") {
		t.Errorf("a child that exited 1: %v", err)
	}
	if err := waitKilled(context.Background(), start("sleep", "10"), 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "is swap letting it exceed the limit?") {
		t.Errorf("a child still running at the timeout: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitKilled(ctx, start("sleep", "10"), 10*time.Second); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("an interrupted wait: %v", err)
	}
}
