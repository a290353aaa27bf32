package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/stream"
)

// lineFunc receives a line of a child's output, without its newline, and
// CLOCK_BOOTTIME at the moment it was read. The line is only valid during
// the call.
type lineFunc func(line []byte, readNS uint64)

// procOptions says what to do with a child's output.
type procOptions struct {
	stdout lineFunc // nil: discarded
	stderr lineFunc // nil: only kept for error messages
	env    []string // added to this process's environment
	// stdinPipe gives the child a pipe as stdin, proc.stdin its write end;
	// otherwise it reads /dev/null.
	stdinPipe bool
}

// proc is a running child whose output is read line by line as it comes.
type proc struct {
	name    string
	cmd     *exec.Cmd
	startNS uint64 // CLOCK_BOOTTIME just before the fork
	stdin   io.WriteCloser
	exited  chan struct{}
	waitErr error // valid once exited is closed

	mu         sync.Mutex
	stderrTail []byte
}

// stderrTailMax bounds what is kept of a child's stderr for error messages.
const stderrTailMax = 4 << 10

func startProc(path string, args []string, opts procOptions) (*proc, error) {
	p := &proc{name: filepath.Base(path), cmd: exec.Command(path, args...), exited: make(chan struct{})}
	if len(opts.env) > 0 {
		p.cmd.Env = append(os.Environ(), opts.env...)
	}
	// A child outlives the benchmark only if the thread that started it
	// exits first; it is never left behind by a crash of the driver.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	if opts.stdinPipe {
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("start %s: %w", p.name, err)
		}
	}
	p.startNS = stream.BootNanos()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		readLines(stdout, opts.stdout)
	}()
	go func() {
		defer readers.Done()
		readLines(stderr, func(line []byte, readNS uint64) {
			p.keepStderr(line)
			if opts.stderr != nil {
				opts.stderr(line, readNS)
			}
		})
	}()
	go func() {
		// Wait closes the pipes: only once everything was read.
		readers.Wait()
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// readLines calls fn for each line of r until r ends; fn may be nil.
func readLines(r io.Reader, fn lineFunc) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		readNS := stream.BootNanos()
		if fn != nil {
			fn(sc.Bytes(), readNS)
		}
	}
	// A line too long for the scanner ends the reading: drain the rest so
	// that the child never blocks on a full pipe.
	io.Copy(io.Discard, r)
}

func (p *proc) keepStderr(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stderrTail = append(p.stderrTail, line...)
	p.stderrTail = append(p.stderrTail, '\n')
	if over := len(p.stderrTail) - stderrTailMax; over > 0 {
		p.stderrTail = p.stderrTail[over:]
	}
}

// stderr returns the last few KiB the child wrote to stderr.
func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.TrimSpace(string(p.stderrTail))
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stopTimeout bounds how long a child may take to exit after SIGINT.
const stopTimeout = 20 * time.Second

// stop sends SIGINT and waits for the child to exit, killing it if it has
// not after stopTimeout. The error says how it ended if not with status 0.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return p.exitError("exited early")
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
		return p.exitError("stopped")
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s: %w", p.name, errStopTimeout)
	}
}

// errStopTimeout says that a child did not exit within stopTimeout of
// SIGINT, and was killed.
var errStopTimeout = fmt.Errorf("did not stop within %v of SIGINT: killed", stopTimeout)

// kill ends the child at once, for cleaning up after a failure.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) exitError(what string) error {
	if p.waitErr == nil || diedOf(p.cmd.ProcessState, syscall.SIGINT) {
		// Some tools (perf) end themselves with the SIGINT they were
		// stopped with, once done.
		return nil
	}
	msg := p.stderr()
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return fmt.Errorf("%s %s: %w: %s", p.name, what, p.waitErr, msg)
}

// cpuTime is the CPU time all live threads of process pid have used, from
// /proc/PID/task/*/schedstat (nanoseconds, unlike the tick-counting stat).
func cpuTime(pid int) (time.Duration, error) {
	ns, err := sumOverThreads(pid, "schedstat", "CPU time", func(contents string) (uint64, error) {
		d, err := parseSchedstat(contents)
		return uint64(d), err
	})
	return time.Duration(ns), err
}

// wakeups is how often the live threads of process pid went to sleep and
// were woken again: the sum of their voluntary context switches.
func wakeups(pid int) (uint64, error) {
	return sumOverThreads(pid, "status", "context switches", func(contents string) (uint64, error) {
		return statusField(contents, "voluntary_ctxt_switches")
	})
}

// sumOverThreads adds up value of the contents of /proc/PID/task/*/file
// over the threads of process pid that are still alive; what names the
// value in errors.
func sumOverThreads(pid int, file, what string, value func(contents string) (uint64, error)) (uint64, error) {
	names, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/%s", pid, file))
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("read %s of %d: no threads", what, pid)
	}
	var total uint64
	for _, name := range names {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // the thread exited
		}
		if err != nil {
			return 0, fmt.Errorf("read %s of %d: %w", what, pid, err)
		}
		n, err := value(string(b))
		if err != nil {
			return 0, fmt.Errorf("read %s of %d: %w", what, pid, err)
		}
		total += n
	}
	return total, nil
}

// statusField returns the number of a "Name:\tvalue" line of a
// /proc/PID/status file.
func statusField(status, name string) (uint64, error) {
	for line := range strings.Lines(status) {
		if value, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in the status", name)
}

// Settling: a tracer counts as done with its start once its CPU time grew
// by less than settleCPU over settleInterval; it is waited for at most
// settleMax.
const (
	settleInterval = 100 * time.Millisecond
	settleCPU      = 2 * time.Millisecond
	settleMax      = 3 * time.Second
)

// settle waits until process pid is done with the work of its start that
// goes on after it reported attached (oomtrace reads the kernel's symbols
// and collects the kernel types it loaded against in the background), so
// that the CPU time measured next is what tracing costs.
func settle(pid int) error {
	start := time.Now()
	last, err := cpuTime(pid)
	if err != nil {
		return err
	}
	for time.Since(start) < settleMax {
		time.Sleep(settleInterval)
		now, err := cpuTime(pid)
		if err != nil {
			return err
		}
		if now-last < settleCPU {
			return nil
		}
		last = now
	}
	return nil
}

// parseSchedstat returns the first field of a schedstat file: the time on
// a CPU, in nanoseconds.
func parseSchedstat(s string) (time.Duration, error) {
	fields := strings.Fields(s)
	if len(fields) < 1 {
		return 0, fmt.Errorf("empty schedstat")
	}
	ns, err := strconv.ParseUint(fields[0], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("parse schedstat %q: %w", s, err)
	}
	return time.Duration(ns), nil
}

// peakRSS is VmHWM of process pid: the most resident memory it ever had,
// in bytes.
func peakRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak RSS of %d: %w", pid, err)
	}
	return parseStatusKB(string(b), "VmHWM")
}

// parseStatusKB returns the value of a "Key:   123 kB" line of a
// /proc/PID/status file, in bytes.
func parseStatusKB(status, key string) (uint64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		if !ok {
			return 0, fmt.Errorf("parse %s %q: not in kB", key, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", key, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in status", key)
}

// diedOf reports whether the process ended by signal sig.
func diedOf(ps *os.ProcessState, sig syscall.Signal) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
