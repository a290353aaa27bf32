// Package demo shows oomtrace at work on a real OOM kill it causes itself:
// a child that allocates past the limit of a small, temporary memory cgroup.
// It never causes a global OOM: the child is in the cgroup, under its
// limit, before it allocates anything.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/stream"
)

// Options configures Run.
type Options struct {
	// Stream says how to trace and where the events go; its cgroup filter
	// and OnReady are set by Run.
	Stream     stream.Options
	LimitBytes int64
	HogMiB     int
	// Timeout bounds the wait for the kill after the child has died.
	Timeout time.Duration
	// Report receives the one-paragraph account of what happened.
	Report io.Writer
}

// Run creates the cgroup, traces it, starts the child, waits for the
// oom_kill event and removes the cgroup again.
func Run(ctx context.Context, opts Options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("demo needs root: it creates a memory cgroup and traces with BPF; run it with sudo")
	}
	h, err := memcg.Detect()
	if err != nil {
		return err
	}
	group, err := h.Create(memcg.UniqueName("oomtrace-demo"), opts.LimitBytes)
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := group.Remove(); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove demo cgroup: %w", rmErr))
		}
	}()
	id, err := h.ID(group.Path())
	if err != nil {
		return err
	}

	killed := &killWatch{seen: make(chan event.OOMKill, 1)}
	ready := make(chan event.Mode, 1)
	so := opts.Stream
	so.Sinks = append(so.Sinks[:len(so.Sinks):len(so.Sinks)], killed)
	so.Tracer.FilterCgroupID = id
	so.OnReady = func(mode event.Mode) error { ready <- mode; return nil }

	traceCtx, stopTrace := context.WithCancel(ctx)
	defer stopTrace()
	traced := make(chan error, 1)
	go func() {
		_, err := stream.Run(traceCtx, so)
		traced <- err
	}()
	var mode event.Mode
	select {
	case mode = <-ready:
	case err := <-traced:
		return fmt.Errorf("start tracer: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}

	fmt.Fprintf(opts.Report, "demo: tracing in %s mode; starting a child that allocates %d MiB in memory cgroup %s (cgroup v%d, limit %d MiB)\n",
		mode, opts.HogMiB, group.Path(), h.Version, opts.LimitBytes>>20)
	hog, err := memcg.StartHog(group, opts.HogMiB, memcg.HogOptions{Comm: "oomtrace-hog"})
	if err != nil {
		return err
	}
	waitErr := hog.Wait()
	if !killedBySIGKILL(waitErr) {
		return fmt.Errorf("the child was not killed by the OOM killer (%v): is swap letting it exceed the limit?", waitErr)
	}

	var kill event.OOMKill
	select {
	case kill = <-killed.seen:
	case <-time.After(opts.Timeout):
		return fmt.Errorf("the child was SIGKILLed but no oom_kill event arrived within %s", opts.Timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	stopTrace()
	if err := <-traced; err != nil {
		return err
	}
	fmt.Fprintf(opts.Report, "demo: the kernel killed pid %d (%q) with class=%s: memory cgroup %s hit its limit of %d MiB\n",
		kill.Victim.TGID, kill.Victim.Comm, kill.Class, kill.OOMCgroup.Path, kill.OOMCgroup.LimitBytes>>20)
	if kill.Victim.TGID != uint32(hog.Process.Pid) {
		return fmt.Errorf("oomtrace reported pid %d killed, but the child was pid %d", kill.Victim.TGID, hog.Process.Pid)
	}
	return nil
}

// killWatch is a sink that reports the first oom_kill.
type killWatch struct {
	once sync.Once
	seen chan event.OOMKill
}

func (k *killWatch) Write(ev *event.Event) error {
	if ev.Kind == event.KindOOMKill {
		k.once.Do(func() {
			kill := ev.OOMKill
			kill.Stack = append([]string(nil), kill.Stack...)
			k.seen <- kill
		})
	}
	return nil
}

func killedBySIGKILL(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == syscall.SIGKILL
}
