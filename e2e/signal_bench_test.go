package e2e

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkSignalHook measures what the signal hook adds to sending a
// signal: kill(2) to this process, for a signal the hook drops at once
// (SIGUSR1) and for one it reports (SIGTERM), without oomtrace and with it
// attached (all event groups, no filter: the worst case).
func BenchmarkSignalHook(b *testing.B) {
	if testing.Short() || os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	received := make(chan os.Signal, 1024)
	signal.Notify(received, syscall.SIGUSR1, syscall.SIGTERM)
	defer signal.Stop(received)
	go func() {
		for range received {
		}
	}()
	pid := os.Getpid()
	send := func(b *testing.B, sig syscall.Signal) {
		for b.Loop() {
			if err := syscall.Kill(pid, sig); err != nil {
				b.Fatal(err)
			}
		}
	}
	run := func(prefix string) {
		b.Run(prefix+"/SIGUSR1", func(b *testing.B) { send(b, syscall.SIGUSR1) })
		b.Run(prefix+"/SIGTERM", func(b *testing.B) { send(b, syscall.SIGTERM) })
	}
	run("untraced")
	ready := filepath.Join(b.TempDir(), "ready")
	tracer := exec.Command(oomtraceBin, "trace", "--output", "json", "--ready-file", ready)
	tracer.Stderr = os.Stderr // stdout is discarded: the output's cost is not the hook's
	if err := tracer.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		tracer.Process.Signal(syscall.SIGINT)
		tracer.Wait()
	}()
	waitReady(b, ready, nil)
	run("traced")
}
