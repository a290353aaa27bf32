package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oomtrace/oomtrace/internal/kernlog"
	"golang.org/x/sys/unix"
)

// The kernel-log reader is this binary run again with kmsgReaderEnv set:
// a separate process, as the agents that find OOM kills in the kernel log
// are. For every pid it reads on stdin it waits for the kernel's report of
// killing it, parsed in full, then prints "killed PID" on stdout.
const kmsgReaderEnv = "OOMBENCH_KMSG_READER"

// KmsgReaderMain runs the kernel-log reader and exits when this process
// was started as one; otherwise it returns at once.
func KmsgReaderMain() {
	if _, ok := os.LookupEnv(kmsgReaderEnv); !ok {
		return
	}
	if err := runKmsgReader(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "kernel log reader: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runKmsgReader(in io.Reader, out io.Writer) error {
	r, err := kernlog.OpenKmsg()
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		pid, err := strconv.Atoi(sc.Text())
		if err != nil {
			return fmt.Errorf("bad pid %q", sc.Text())
		}
		ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
		_, err = r.WaitKill(ctx, pid)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "error %d %v\n", pid, err)
			continue
		}
		fmt.Fprintf(out, "killed %d\n", pid)
	}
	return sc.Err()
}

// kmsgAgent is a running kernel-log reader process.
type kmsgAgent struct {
	p     *proc
	mu    sync.Mutex
	seen  map[int]uint64 // pid -> CLOCK_BOOTTIME its line was read
	errs  map[int]string
	wake  chan struct{}
	ready chan struct{}
}

func startKmsgAgent() (*kmsgAgent, error) {
	a := &kmsgAgent{seen: make(map[int]uint64), errs: make(map[int]string), wake: make(chan struct{}, 1), ready: make(chan struct{})}
	var err error
	a.p, err = startSelf("kernel log reader", kmsgReaderEnv+"=1", a.onLine, a.ready)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// startSelf runs this binary again with env ("NAME=VALUE") added to its
// environment, as the child what, its
// stdout going to onLine, and waits for ready to be closed (onLine's doing,
// once the child says so).
func startSelf(what, env string, onLine lineFunc, ready <-chan struct{}) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	p, err := startProc(self, nil, procOptions{stdout: onLine, env: []string{env}, stdinPipe: true})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited: %v: %s", what, p.waitErr, p.stderr())
	case <-time.After(readyTimeout):
		p.kill()
		return nil, fmt.Errorf("%s not ready after %v", what, readyTimeout)
	}
}

func (a *kmsgAgent) onLine(line []byte, readNS uint64) {
	fields := strings.SplitN(string(line), " ", 3)
	if len(fields) == 1 && fields[0] == "ready" {
		close(a.ready)
		return
	}
	if len(fields) < 2 {
		return
	}
	pid, err := strconv.Atoi(fields[1])
	if err != nil {
		return
	}
	a.mu.Lock()
	switch fields[0] {
	case "killed":
		a.seen[pid] = readNS
	case "error":
		a.errs[pid] = strings.Join(fields[2:], " ")
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// watch asks the reader to wait for the kill of pid.
func (a *kmsgAgent) watch(pid int) error {
	_, err := fmt.Fprintf(a.p.stdin, "%d\n", pid)
	return err
}

// wait returns when the reader's line about pid was read.
func (a *kmsgAgent) wait(pid int, timeout time.Duration) (uint64, error) {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		ns, ok := a.seen[pid]
		msg, failed := a.errs[pid]
		a.mu.Unlock()
		switch {
		case ok:
			return ns, nil
		case failed:
			return 0, fmt.Errorf("kernel log reader: %s", msg)
		}
		select {
		case <-a.wake:
		case <-deadline:
			return 0, fmt.Errorf("kernel log reader saw no kill of pid %d within %v", pid, timeout)
		}
	}
}

func (a *kmsgAgent) stop() error {
	a.p.stdin.Close()
	return a.p.stop()
}

// oomReport is the size of the kernel's report of one kill, from its
// header ("invoked oom-killer") to its "Killed process" line, in kernel log
// time.
type oomReport struct {
	lines    int
	duration time.Duration
	// awakeAtKill: the watcher read the "Killed process" line without
	// waiting for the log since the record before it. printk wakes only a
	// reader that sleeps on the log, and lazily: one still reading the
	// report when the kill comes needs no wakeup for the kill's line.
	awakeAtKill bool
}

// reportWatch follows /dev/kmsg and measures the kernel's OOM reports. It
// reads as a plain kernel-log reader does: records until none is left,
// then poll(2) until the kernel wakes it.
type reportWatch struct {
	fd      int
	stopped atomic.Bool
	mu      sync.Mutex
	reports map[int]oomReport // by killed pid
	err     error             // why following stopped early
	done    chan struct{}
}

// fail records why the watcher stopped following the log: the kills after
// it have no report measured, and stop says why.
func (w *reportWatch) fail(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

func startReportWatch() (*reportWatch, error) {
	fd, err := unix.Open(kernlog.KmsgPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open kernel log: %w", err)
	}
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seek to end of kernel log: %w", err)
	}
	w := &reportWatch{fd: fd, reports: make(map[int]oomReport), done: make(chan struct{})}
	go w.follow()
	return w, nil
}

const killedMarker = "Killed process "

// watchPoll bounds each wait for the log, so that stop is noticed.
const watchPoll = 100 * time.Millisecond

func (w *reportWatch) follow() {
	defer close(w.done)
	buf := make([]byte, 16<<10)
	var r reportReader
	waited := false // since the last record read
	for !w.stopped.Load() {
		n, err := unix.Read(w.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			waited = true
			pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, int(watchPoll/time.Millisecond)); err != nil && !errors.Is(err, unix.EINTR) {
				w.fail(fmt.Errorf("poll kernel log: %w", err))
				return
			}
			continue
		case errors.Is(err, unix.EPIPE) || errors.Is(err, unix.EINTR):
			continue // records overwritten before they were read: the next read has the oldest left
		case err != nil:
			w.fail(fmt.Errorf("read kernel log: %w", err))
			return
		}
		usec, msg, ok := parseKmsgRecord(buf[:n])
		if !ok {
			continue
		}
		if pid, rep, ok := r.add(usec, msg, !waited); ok {
			w.mu.Lock()
			w.reports[pid] = rep
			w.mu.Unlock()
		}
		waited = false
	}
}

// reportReader follows the records of the kernel's OOM reports.
type reportReader struct {
	inReport bool
	startUS  uint64
	lines    int
}

// add reads one record, at usec in the log, read without a wait for the
// log since the record before it if awake; it returns the report a
// "Killed process" line ends.
func (r *reportReader) add(usec uint64, msg []byte, awake bool) (pid int, rep oomReport, ok bool) {
	switch {
	case bytes.Contains(msg, []byte(" invoked oom-killer: ")):
		r.inReport, r.startUS, r.lines = true, usec, 1
	case r.inReport:
		r.lines++
		i := bytes.Index(msg, []byte(killedMarker))
		if i < 0 {
			return 0, oomReport{}, false
		}
		r.inReport = false
		rest := msg[i+len(killedMarker):]
		end := bytes.IndexByte(rest, ' ')
		pid, err := strconv.Atoi(string(rest[:max(end, 0)]))
		if err != nil {
			return 0, oomReport{}, false
		}
		return pid, oomReport{lines: r.lines, duration: time.Duration(usec-r.startUS) * time.Microsecond, awakeAtKill: awake}, true
	}
	return 0, oomReport{}, false
}

// parseKmsgRecord returns the time (µs) and message of a /dev/kmsg record,
// "PRIO,SEQ,USEC,FLAGS;MESSAGE\n".
func parseKmsgRecord(rec []byte) (uint64, []byte, bool) {
	prefix, msg, ok := bytes.Cut(rec, []byte(";"))
	if !ok {
		return 0, nil, false
	}
	fields := bytes.Split(prefix, []byte(","))
	if len(fields) < 4 {
		return 0, nil, false
	}
	usec, err := strconv.ParseUint(string(fields[2]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	msg, _, _ = bytes.Cut(msg, []byte("\n"))
	return usec, msg, true
}

// report waits up to timeout for the report of the kill of pid; ok is
// false if the kernel printed none with its header.
func (w *reportWatch) report(pid int, timeout time.Duration) (oomReport, bool) {
	return pollFor(timeout, func() (oomReport, bool) {
		w.mu.Lock()
		defer w.mu.Unlock()
		r, ok := w.reports[pid]
		return r, ok
	})
}

// stop stops following the log; its error says why following stopped
// early, if it did.
func (w *reportWatch) stop() error {
	w.stopped.Store(true)
	<-w.done
	unix.Close(w.fd)
	if w.err != nil {
		return fmt.Errorf("kernel report watcher: %w", w.err)
	}
	return nil
}
