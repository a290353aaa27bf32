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
	"github.com/oomtrace/oomtrace/internal/memstate"
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
	if err := checkLimit(opts.LimitBytes, meminfoPath); err != nil {
		return err
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

	killed := &killWatch{added: make(chan struct{}, 1)}
	ready := make(chan event.Mode, 1)
	so := opts.Stream
	so.Sinks = append(so.Sinks[:len(so.Sinks):len(so.Sinks)], killed)
	// The kernel side filters by id; in kmsg mode, which has no kernel
	// side, the filter stage does: another cgroup's kill is not the demo's.
	so.Tracer.FilterCgroupID, so.Pipeline.Filter.Cgroup = id, group.Path()
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
		return interrupted(ctx)
	}

	fmt.Fprintf(opts.Report, "demo: tracing in %s mode; starting a child that allocates %d MiB in memory cgroup %s (cgroup v%d, limit %d MiB)\n",
		mode, opts.HogMiB, group.Path(), h.Version, opts.LimitBytes>>20)
	hog, err := memcg.StartHog(group, opts.HogMiB, memcg.HogOptions{Comm: "oomtrace-hog", Stderr: opts.Report})
	if err != nil {
		return err
	}
	if err := waitKilled(ctx, hog, opts.Timeout); err != nil {
		return err
	}

	deadline := time.After(opts.Timeout)
	kill, found := killed.of(uint32(hog.Process.Pid))
	for !found {
		select {
		case <-killed.added:
		case <-deadline:
			return fmt.Errorf("the child was SIGKILLed but no oom_kill event of it arrived within %s", opts.Timeout)
		case <-ctx.Done():
			return interrupted(ctx)
		}
		kill, found = killed.of(uint32(hog.Process.Pid))
	}
	stopTrace()
	if err := <-traced; err != nil {
		return err
	}
	fmt.Fprintf(opts.Report, "demo: the kernel killed pid %d (%q) with class=%s: memory cgroup %s hit its limit of %d MiB\n",
		kill.Victim.TGID, kill.Victim.Comm, kill.Class, kill.OOMCgroup.Path, kill.OOMCgroup.LimitBytes>>20)
	return nil
}

// meminfoPath is where checkLimit reads the memory the machine has.
const meminfoPath = "/proc/meminfo"

// checkLimit refuses a cgroup limit that leaves the machine too little:
// the child fills the cgroup to its limit, and a limit near what the
// machine has available would put the whole machine under pressure, where
// the demo promises only the cgroup.
func checkLimit(limitBytes int64, meminfo string) error {
	b, err := os.ReadFile(meminfo)
	if err != nil {
		return fmt.Errorf("read the machine's memory before the demo: %w", err)
	}
	availKB, ok := memstate.MeminfoKB(b, "MemAvailable:")
	if !ok {
		return fmt.Errorf("read the machine's memory before the demo: no MemAvailable in %s", meminfo)
	}
	if avail := int64(availKB) << 10; limitBytes > avail/2 {
		return fmt.Errorf("a limit of %d MiB is more than half the memory this machine has available (%d MiB): "+
			"the demo fills its cgroup to the limit, and must not put the machine short of memory; give a smaller --limit-mib",
			limitBytes>>20, avail>>20)
	}
	return nil
}

// waitKilled waits for the child to die of SIGKILL. It gives up when ctx
// ends or the child still runs after timeout: with swap that the cgroup
// does not limit, the child may swap past the limit and never be killed.
// The cgroup's removal then kills it.
func waitKilled(ctx context.Context, hog *exec.Cmd, timeout time.Duration) error {
	exited := make(chan error, 1)
	go func() { exited <- hog.Wait() }()
	select {
	case err := <-exited:
		if !killedBySIGKILL(err) {
			return fmt.Errorf("the child was not killed by the OOM killer (%v); its error, if any, is above", err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the child still runs %s after it started allocating past the limit: is swap letting it exceed the limit?", timeout)
	case <-ctx.Done():
		return interrupted(ctx)
	}
}

// killWatch is a sink that keeps the oom_kills it sees, for the demo to
// find its child's among them: the child runs before its pid is known, and
// in kmsg mode the kills of other cgroups whose reports the kernel held
// back (it prints ten in five seconds) name no cgroup to filter them by.
// It keeps maxKills at most: the demo's own kill comes within
// milliseconds of the child's start.
type killWatch struct {
	mu    sync.Mutex
	kills []event.OOMKill
	added chan struct{} // a kill was kept since the last receive
}

const maxKills = 1024

func (k *killWatch) Write(ev *event.Event) error {
	if ev.Kind != event.KindOOMKill {
		return nil
	}
	k.mu.Lock()
	if len(k.kills) < maxKills {
		kill := ev.OOMKill
		// The source reuses the event, its stack's slice with it.
		kill.Stack = append([]string(nil), kill.Stack...)
		k.kills = append(k.kills, kill)
	}
	k.mu.Unlock()
	select {
	case k.added <- struct{}{}:
	default:
	}
	return nil
}

// of returns the kill of the process tgid, if one was kept.
func (k *killWatch) of(tgid uint32) (event.OOMKill, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, kill := range k.kills {
		if kill.Victim.TGID == tgid {
			return kill, true
		}
	}
	return event.OOMKill{}, false
}

func killedBySIGKILL(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return ok && status.Signaled() && status.Signal() == syscall.SIGKILL
}

// interrupted is the error of a demo that SIGINT or SIGTERM stopped: the
// cgroup is removed on the way out, and the child with it.
func interrupted(ctx context.Context) error {
	return fmt.Errorf("demo interrupted before the kill: %w", ctx.Err())
}
