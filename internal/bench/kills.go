package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
)

// A kill is a memory hog that allocates hogMiB in a cgroup limited below
// that: a memcg OOM kill, never a global one.
const (
	hogMiB        = 64
	hogLimitBytes = 32 << 20
	hogComm       = "oombench-hog"
	killTimeout   = 15 * time.Second
)

// oneKill starts a hog in g, calls started with its pid, and waits until
// the kernel has killed it.
func oneKill(g *memcg.Group, started func(pid int)) (int, error) {
	cmd, err := memcg.StartHog(g, hogMiB, memcg.HogOptions{Comm: hogComm})
	if err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	if started != nil {
		started(pid)
	}
	timer := time.AfterFunc(killTimeout, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	if !timer.Stop() {
		return pid, fmt.Errorf("memory hog %d in %s not OOM-killed within %v", pid, g.Path(), killTimeout)
	}
	if !diedOf(cmd.ProcessState, syscall.SIGKILL) {
		return pid, fmt.Errorf("memory hog %d in %s ended without an OOM kill: %v", pid, g.Path(), err)
	}
	return pid, nil
}

// killSeen is oomtrace's report of a kill, and when the harness read it.
type killSeen struct {
	KtimeNS uint64 // CLOCK_BOOTTIME of the kill, from the event
	ReadNS  uint64 // CLOCK_BOOTTIME when its line was read from oomtrace's stdout
}

// killWatch collects the oom_kill events of oomtrace's JSON output by
// victim pid.
type killWatch struct {
	mu   sync.Mutex
	seen map[int]killSeen
	errs []error
	wake chan struct{}
}

func newKillWatch() *killWatch {
	return &killWatch{seen: make(map[int]killSeen), wake: make(chan struct{}, 1)}
}

var jsonKillMarker = []byte(`"event":"oom_kill"`)

// onLine is a lineFunc for oomtrace --output json.
func (w *killWatch) onLine(line []byte, readNS uint64) {
	if !bytes.Contains(line, jsonKillMarker) {
		return
	}
	ev, err := output.Parse(line)
	switch {
	case err != nil:
		w.fail(fmt.Errorf("parse oomtrace line %q: %w", line, err))
	case ev.Kind == event.KindOOMKill:
		w.record(int(ev.OOMKill.Victim.PID), killSeen{KtimeNS: ev.KtimeNS, ReadNS: readNS})
	}
}

// record keeps a reader's sighting of the kill of pid.
func (w *killWatch) record(pid int, k killSeen) {
	w.mu.Lock()
	w.seen[pid] = k
	w.mu.Unlock()
	w.notify()
}

// fail keeps a reader's error, which the next wait returns.
func (w *killWatch) fail(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
	w.notify()
}

func (w *killWatch) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// wait waits up to timeout for the kill of pid.
func (w *killWatch) wait(pid int, timeout time.Duration) (killSeen, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		k, ok := w.seen[pid]
		errs := errors.Join(w.errs...)
		w.mu.Unlock()
		if ok {
			return k, nil
		}
		if errs != nil {
			return killSeen{}, errs
		}
		select {
		case <-w.wake:
		case <-deadline:
			return killSeen{}, fmt.Errorf("oomtrace reported no kill of pid %d within %v", pid, timeout)
		}
	}
}

// pollFor calls get every millisecond until it reports ok or timeout has
// passed, for what another process's output fills in.
func pollFor[T any](timeout time.Duration, get func() (T, bool)) (T, bool) {
	deadline := time.Now().Add(timeout)
	for {
		v, ok := get()
		if ok || time.Now().After(deadline) {
			return v, ok
		}
		time.Sleep(time.Millisecond)
	}
}

// sleepers are idle processes in a cgroup of their own.
type sleepers struct {
	group *memcg.Group
	shell *exec.Cmd
}

// sleeperLife bounds how long a sleeper lives if the driver dies without
// cleaning up.
const sleeperLife = "900"

// startSleepers puts n sleeping processes in a new cgroup at rel: a shell,
// moved there before it forks n-1 sleeps and becomes the last one itself.
func startSleepers(h memcg.Hierarchy, rel string, n int) (s *sleepers, err error) {
	g, err := h.Create(rel, 0)
	if err != nil {
		return nil, err
	}
	s = &sleepers{group: g}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("start %d sleeping processes: %w", n, err), s.remove())
		}
	}()
	s.shell = exec.Command("/bin/sh", "-c",
		`read go || exit 1; i=1; while [ "$i" -lt "$1" ]; do sleep `+sleeperLife+` & i=$((i+1)); done; exec sleep `+sleeperLife,
		"sh", strconv.Itoa(n))
	stdin, err := s.shell.StdinPipe()
	if err != nil {
		return s, err
	}
	s.shell.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.shell.Start(); err != nil {
		return s, err
	}
	if err := g.AddProcess(s.shell.Process.Pid); err != nil {
		return s, err
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		return s, err
	}
	stdin.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		count, err := countProcs(g)
		if err != nil {
			return s, err
		}
		if count >= n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("only %d of %d processes started after 60s", count, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countProcs(g *memcg.Group) (int, error) {
	b, err := os.ReadFile(filepath.Join(g.Dir(), "cgroup.procs"))
	if err != nil {
		return 0, fmt.Errorf("count processes: %w", err)
	}
	return strings.Count(string(b), "\n"), nil
}

// remove kills the sleepers and removes their cgroup.
func (s *sleepers) remove() error {
	err := s.group.Remove()
	if s.shell != nil && s.shell.Process != nil {
		s.shell.Process.Kill()
		s.shell.Wait()
	}
	return err
}
