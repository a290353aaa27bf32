package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/report"
	"github.com/oomtrace/oomtrace/internal/sampler"
	"github.com/oomtrace/oomtrace/internal/stream"
)

// The command is started as this binary again, with these variables, so
// that it can undo the oom_score_adj the recorder lowered for itself
// before it becomes the command.
const (
	childPathEnv = "OOMTRACE_RECORD_EXEC"
	childAdjEnv  = "OOMTRACE_RECORD_OOM_SCORE_ADJ"
)

// recordChildMain becomes the command oomtrace record runs, and never
// returns, when this process was started for that; otherwise it returns at
// once. The recorder keeps itself out of the OOM killer's reach, and a
// child inherits that: the command, whose kills are what is being
// recorded, must get the oom_score_adj the recorder started with. Raising
// it back needs no privilege.
func recordChildMain() {
	path, ok := os.LookupEnv(childPathEnv)
	if !ok {
		return
	}
	adj := os.Getenv(childAdjEnv)
	os.Unsetenv(childPathEnv)
	os.Unsetenv(childAdjEnv)
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0); err != nil {
		fmt.Fprintf(os.Stderr, "oomtrace record: restore oom_score_adj %s of the command: %v\n", adj, err)
		os.Exit(126)
	}
	err := syscall.Exec(path, os.Args[1:], os.Environ())
	fmt.Fprintf(os.Stderr, "oomtrace record: run %s: %v\n", path, err)
	if errors.Is(err, syscall.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
}

func runRecord(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	var f traceFlags
	f.register(fs)
	out := fs.String("o", "", "write the log to `FILE` (required); an earlier log there is replaced once tracing starts, and kept if it does not; a link to a file is refused")
	duration := fs.Duration("duration", 0, "stop after this long; with a COMMAND, send it SIGTERM then (0: no limit)")
	sampleInterval := fs.Duration("sample-interval", time.Second, "how often to write sample events: memory usage, limits and pressure of the node and of the cgroups that reclaim or OOM (0: none)")
	var watch []string
	fs.Func("watch-cgroup", fmt.Sprintf("also sample this memory cgroup (`PATH` in the hierarchy, e.g. /kubepods), whenever it exists; repeatable. At most %d cgroups are sampled at once, watched ones first", sampler.DefaultMaxCgroups),
		func(path string) error {
			watch = append(watch, path)
			return nil
		})
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: oomtrace record -o FILE [flags] [-- COMMAND ARGS...]

Trace like oomtrace trace and write the events to FILE as the kernel hands
them over: the lines of the records drained together in one write, a kill's
line at once. With a COMMAND, start it once tracing runs, record until it exits
and exit with its status (128+N if signal N killed it); SIGINT, SIGTERM or
SIGHUP sends it SIGTERM, a second one SIGKILL. Without one, record until
SIGINT, SIGTERM, SIGHUP or --duration. Either way every event the kernel handed over is
written, then an end line with the count of lost events. Every
--sample-interval, sample events record the memory of the node and of the
cgroups that matter: those watched, and those that events name as
reclaiming or OOMing, from their first such event on. On a terminal, stderr
shows a live status line (not while a COMMAND runs: the terminal is the
command's); at the end, a summary.

Flags:
`)
		printDefaults(fs)
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	command := fs.Args()
	if *out == "" || *duration < 0 || *sampleInterval < 0 {
		fmt.Fprintln(stderr, "oomtrace record: -o FILE is required, and --duration and --sample-interval cannot be negative")
		return errUsage
	}
	if *sampleInterval == 0 && len(watch) > 0 {
		fmt.Fprintln(stderr, "oomtrace record: --watch-cgroup needs a --sample-interval above 0")
		return errUsage
	}
	if len(watch) > 0 {
		// Without a hierarchy the paths are only cleaned; sampling then
		// fails, saying why.
		h, _ := memcg.Detect()
		for i, path := range watch {
			clean, err := h.CleanPath(path)
			if err != nil {
				fmt.Fprintf(stderr, "oomtrace record: --watch-cgroup: %v\n", err)
				return errUsage
			}
			watch[i] = clean
		}
	}
	format, err := f.lineFormat()
	if err != nil {
		return err
	}
	rec := &recording{logger: logger, stderr: stderr, name: *out, format: format, command: command, duration: *duration}
	if len(command) > 0 {
		if rec.path, err = exec.LookPath(command[0]); err != nil {
			// As shells do: 127 for a command not found, 126 for one found
			// that cannot be run (not executable, a directory).
			status := 126
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				status = 127
			}
			return &exitError{status: status, err: fmt.Errorf("record: %w", err)}
		}
		// The recorder lowers its own oom_score_adj once tracing starts.
		if rec.adj, err = os.ReadFile("/proc/self/oom_score_adj"); err != nil {
			return fmt.Errorf("record: read oom_score_adj: %w", err)
		}
	}
	if err := checkOutput("-o", *out, nil); err != nil {
		return err
	}
	rec.file, err = capture.Create(*out, format)
	if err != nil {
		return err
	}
	rec.opts, err = f.options(rec.file, logger)
	if err != nil {
		rec.discard()
		return err
	}
	rec.opts.Sampling = &stream.Sampling{Interval: *sampleInterval, Watch: watch}
	rec.start = output.LogStart{
		Host: hostname(), Kernel: kernelRelease(), ReclaimMin: f.reclaimMin,
		Cgroup: rec.opts.Pipeline.Filter.Cgroup, PID: uint32(f.pid), Classes: rec.opts.Pipeline.Filter.Classes,
	}
	return rec.run(ctx)
}

// recording is one run of oomtrace record.
type recording struct {
	logger   *slog.Logger
	stderr   io.Writer
	name     string // of the log
	format   output.Format
	command  []string
	path     string // of the command
	adj      []byte // the oom_score_adj the command gets
	duration time.Duration
	file     *capture.File
	opts     stream.Options
	start    output.LogStart
	sink     *countingSink
}

// tracerRun is stream.Run in a goroutine: done is closed when it returns.
type tracerRun struct {
	done    chan struct{}
	summary stream.Summary
	err     error
}

func (r *recording) run(ctx context.Context) error {
	r.sink = &countingSink{agg: report.New(report.Options{}), kind: make(map[event.Kind]uint64)}
	r.opts.Sinks = append(r.opts.Sinks, r.sink)
	ready := make(chan struct{})
	onReady := r.opts.OnReady
	r.opts.OnReady = func(mode event.Mode) error {
		r.start.Mode, r.start.Start, r.start.StartKtimeNS = mode, time.Now(), stream.BootNanos()
		if err := r.file.WriteStart(&r.start); err != nil {
			return err
		}
		if onReady != nil {
			if err := onReady(mode); err != nil {
				return err
			}
		}
		close(ready)
		return nil
	}

	traceCtx, stopTrace := context.WithCancel(context.Background())
	defer stopTrace()
	t := &tracerRun{done: make(chan struct{})}
	go func() {
		t.summary, t.err = stream.Run(traceCtx, r.opts)
		close(t.done)
	}()
	select {
	case <-ready:
	case <-t.done:
		r.discard()
		return t.err
	}

	status, cmdErr := 0, error(nil)
	if len(r.command) > 0 {
		status, cmdErr = r.runCommand(t)
	} else {
		r.waitForStop(ctx, t)
	}
	stopTrace()
	<-t.done
	if t.err != nil {
		r.file.Close()
		return fmt.Errorf("record: %w", t.err)
	}
	if n := t.summary.DecodeErrors; n > 0 {
		r.logger.Warn("records the decoder could not read were dropped", "count", n)
	}
	end := output.LogEnd{End: time.Now(), EndKtimeNS: stream.BootNanos(), Events: r.sink.total(), Lost: t.summary.Lost,
		SkippedRuns: t.summary.SkippedRuns.Total(), SkippedByProgram: t.summary.SkippedRuns.String()}
	if err := r.file.Finish(&end); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	r.summarize(&end)
	if cmdErr != nil {
		return &exitError{status: 126, err: fmt.Errorf("record: %w", cmdErr)}
	}
	if status != 0 {
		return &exitError{status: status}
	}
	return nil
}

// discard closes the log of a recording that never started, and removes
// it if record made it.
func (r *recording) discard() {
	if err := r.file.Discard(); err != nil {
		r.logger.Warn("discard the log of a recording that did not start", "file", r.name, "error", err)
	}
}

// waitForStop waits for SIGINT or SIGTERM (ctx), --duration or the tracer's
// end, with a live status line on a terminal meanwhile.
func (r *recording) waitForStop(ctx context.Context, t *tracerRun) {
	var timeout, tick <-chan time.Time
	if r.duration > 0 {
		timer := time.NewTimer(r.duration)
		defer timer.Stop()
		timeout = timer.C
	}
	live := isTerminal(r.stderr)
	if live {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		tick = ticker.C
		defer fmt.Fprint(r.stderr, "\r\x1b[K")
	}
	began := time.Now()
	for {
		if live {
			fmt.Fprintf(r.stderr, "\r\x1b[K%s", r.sink.status(time.Since(began)))
		}
		select {
		case <-ctx.Done():
			return
		case <-timeout:
			return
		case <-t.done:
			return
		case <-tick:
		}
	}
}

// runCommand runs the command until it exits and returns its exit status.
// SIGINT, SIGTERM, SIGHUP, --duration and a failing tracer send it SIGTERM; a
// second signal sends SIGKILL.
func (r *recording) runCommand(t *tracerRun) (int, error) {
	// Signals arrive here as well as at the context main set up, which
	// this mode leaves alone: the recording goes on until the command ends.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals()...)
	defer signal.Stop(sigs)

	cmd := &exec.Cmd{
		Path:   "/proc/self/exe",
		Args:   append([]string{"oomtrace"}, r.command...),
		Env:    append(os.Environ(), childPathEnv+"="+r.path, childAdjEnv+"="+strings.TrimSpace(string(r.adj))),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", r.path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if r.duration > 0 {
		timer := time.NewTimer(r.duration)
		defer timer.Stop()
		timeout = timer.C
	}
	tracerDone := t.done
	stopping := false
	stop := func() {
		sig := syscall.SIGTERM
		if stopping {
			sig = syscall.SIGKILL
		}
		stopping = true
		if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			r.logger.Warn("signal the command", "signal", sig, "error", err)
		}
	}
	for {
		select {
		case err := <-exited:
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				return 0, fmt.Errorf("wait for %s: %w", r.path, err)
			}
			return exitStatus(cmd.ProcessState), nil
		case <-sigs:
			stop()
		case <-timeout:
			timeout = nil
			stop()
		case <-tracerDone:
			tracerDone = nil
			r.logger.Error("tracing failed: stopping the command", "error", t.err)
			stop()
		}
	}
}

// summarize writes the report of what was captured to stderr.
func (r *recording) summarize(end *output.LogEnd) {
	format := capture.FormatText
	if r.format == output.JSON {
		format = capture.FormatJSON
	}
	r.sink.agg.EndCapture(capture.Info{Name: r.name, Format: format, Start: &r.start, End: end, Events: end.Events})
	fmt.Fprintln(r.stderr)
	if err := report.WriteText(r.stderr, r.sink.agg.Report(), report.TextOptions{Short: true}); err != nil {
		r.logger.Warn("summary", "error", err)
	}
}

// countingSink counts the events written for the status line and the
// summary at exit.
type countingSink struct {
	mu   sync.Mutex
	agg  *report.Aggregator
	kind map[event.Kind]uint64
	lost uint64
}

func (s *countingSink) Write(ev *event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kind[ev.Kind]++
	if ev.Kind == event.KindLost {
		s.lost = ev.Lost.Total
	}
	s.agg.Add(ev)
	return nil
}

func (s *countingSink) total() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, c := range s.kind {
		n += c
	}
	return n
}

// status is the live status line: elapsed time, kills, the other events
// by kind, lost records.
func (s *countingSink) status(elapsed time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "oomtrace record: %s  kills %d", elapsed.Truncate(time.Second), s.kind[event.KindOOMKill])
	for k := event.KindMemcgOOM; k < event.KindLost; k++ {
		if n := s.kind[k]; n > 0 {
			fmt.Fprintf(&b, "  %s %d", k, n)
		}
	}
	fmt.Fprintf(&b, "  lost %d", s.lost)
	return b.String()
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// exitStatus is the shell's view of how a process ended: its exit code, or
// 128 plus the signal that killed it.
func exitStatus(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}
