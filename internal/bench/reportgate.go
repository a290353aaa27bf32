package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
)

// syntheticCapture writes a log as oomtrace record writes it, of n events:
// reclaim episodes in 50 cgroups with log-normal durations around 20 µs,
// every thousandth event the kernel's histogram of a cgroup, every ten
// thousandth an OOM kill.
func syntheticCapture(w io.Writer, n int, format output.Format) error {
	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const startKtime = 1e12
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := output.AppendLogStart(nil, &output.LogStart{Host: "loadtest", Kernel: "6.18", Mode: event.ModeTracepoint,
		Start: start, StartKtimeNS: startKtime, ReclaimMin: 0}, format)
	opts := output.Options{Format: format}
	for i := range n {
		ktime := uint64(startKtime + i*100_000)
		cg := rng.IntN(50)
		cgroup := event.Cgroup{Path: fmt.Sprintf("/kubepods/burstable/pod%02d/worker", cg), ID: uint64(1000 + cg),
			UsageBytes: 1 << 30, LimitBytes: 1 << 30}
		e := event.Event{KtimeNS: ktime, Time: start.Add(time.Duration(ktime - startKtime)), CPU: uint32(i % 2),
			Task: event.Task{PID: uint32(2000 + cg), TGID: uint32(2000 + cg), Comm: "worker"}}
		switch {
		case i%10_000 == 9_999:
			e.Kind = event.KindOOMKill
			e.OOMKill = event.OOMKill{Class: event.ClassMemcg, Mode: event.ModeTracepoint,
				Victim: event.Victim{Task: e.Task, UID: 1000, HasUID: true, HasMM: true, RSSAnonKB: 1 << 20,
					RSSFileKB: 4096, TotalVMKB: 2 << 20, PgtablesKB: 2048, Cgroup: cgroup},
				Trigger: e.Task, TriggerCgroup: cgroup, OOMCgroup: cgroup}
		case i%1000 == 999:
			e.Kind = event.KindReclaimStats
			e.ReclaimStats = event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: event.Cgroup{Path: cgroup.Path, ID: cgroup.ID},
				Interval: 10 * time.Second, Count: 1000, Total: 20 * time.Millisecond, Max: time.Millisecond}
			e.ReclaimStats.Buckets[4] = 1000
		default:
			e.Kind = event.KindReclaim
			e.Reclaim = event.Reclaim{Kind: event.ReclaimMemcg,
				Duration:    time.Duration(20e3 * math.Exp(rng.NormFloat64())),
				NrReclaimed: 32, GFPMask: 0x100cca, Cgroup: cgroup}
		}
		if format == output.JSON {
			buf = output.AppendJSON(buf, &e, opts)
		} else {
			buf = output.AppendText(buf, &e, opts)
		}
		if len(buf) > 64<<10 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = output.AppendLogEnd(buf, &output.LogEnd{End: start.Add(time.Duration(n) * 100 * time.Microsecond),
		EndKtimeNS: uint64(startKtime + n*100_000), Events: uint64(n)}, format)
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// commandRun is one run of a command: its wall time and peak RSS.
type commandRun struct {
	wall    time.Duration
	peakRSS uint64 // bytes
}

// commandTimeout bounds one run of report or gate.
const commandTimeout = 2 * time.Minute

// timeCommand runs bin with args, its output discarded, and returns its
// wall time and peak RSS. Exit statuses in ok are not errors.
//
// The peak comes from a wrapper, this binary run again (PeakRSSMain), and
// not from this process's own wait: Go starts a child with vfork, so the
// child runs in this process's memory until it execs, and the kernel's
// peak for the child (ru_maxrss) is then at least this process's peak, tens
// of MiB after the scenarios before. The wrapper is small and fresh, so
// its child's ru_maxrss is the child's own, or the wrapper's few MiB.
func timeCommand(ctx context.Context, bin string, args []string, ok ...int) (commandRun, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return commandRun{}, fmt.Errorf("run %s: %w", filepath.Base(bin), err)
	}
	report, reportW, err := os.Pipe()
	if err != nil {
		return commandRun{}, fmt.Errorf("run %s: %w", filepath.Base(bin), err)
	}
	defer report.Close()
	cmd := exec.CommandContext(ctx, self, append([]string{bin}, args...)...)
	cmd.Env = append(os.Environ(), peakRSSEnv+"=1")
	cmd.ExtraFiles = []*os.File{reportW} // fd 3 in the wrapper
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	began := time.Now()
	err = cmd.Start()
	reportW.Close()
	if err == nil {
		err = cmd.Wait()
	}
	wall := time.Since(began)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		for _, code := range ok {
			if exit.ExitCode() == code {
				err = nil
			}
		}
	}
	if err != nil {
		return commandRun{}, fmt.Errorf("%s %v: %w: %s", filepath.Base(bin), args, err, stderr.String())
	}
	line, err := io.ReadAll(report)
	if err != nil {
		return commandRun{}, fmt.Errorf("%s: read its peak RSS: %w", filepath.Base(bin), err)
	}
	peak, err := strconv.ParseUint(strings.TrimSpace(string(line)), 10, 64)
	if err != nil {
		return commandRun{}, fmt.Errorf("%s: peak RSS %q from the wrapper: %w", filepath.Base(bin), line, err)
	}
	return commandRun{wall: wall, peakRSS: peak}, nil
}

// peakRSSEnv, set, makes this binary the wrapper of timeCommand.
const peakRSSEnv = "OOMBENCH_PEAK_RSS"

// PeakRSSMain runs the command in its arguments and exits with its status,
// writing the command's peak RSS in bytes to file descriptor 3, when this
// process was started as timeCommand's wrapper; otherwise it returns at
// once.
func PeakRSSMain() {
	if _, ok := os.LookupEnv(peakRSSEnv); !ok {
		return
	}
	os.Exit(runForPeakRSS(os.Args[1:], os.NewFile(3, "peak RSS report")))
}

func runForPeakRSS(args []string, report io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "peak RSS wrapper: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, peakRSSEnv+"=") })
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "peak RSS wrapper: %v\n", err)
		return 2
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "peak RSS wrapper: no resource usage")
		return 2
	}
	if _, err := fmt.Fprintf(report, "%d\n", uint64(ru.Maxrss)<<10); err != nil {
		fmt.Fprintf(os.Stderr, "peak RSS wrapper: %v\n", err)
		return 2
	}
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		return 128 + int(status.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// reportCase is one command over one capture.
type reportCase struct {
	command string // "report" or "gate"
	format  output.Format
	size    int64 // bytes of the capture
	runs    []commandRun
}

type reportResults struct {
	events int
	gate   []string // the gate's rules
	cases  []reportCase
}

// gateRules are what a CI job would check on a load test.
var gateRules = []string{"--max-kills", "1000", "--max-kills-class", "global=0", "--max-reclaim-p99", "10ms"}

// reportScenario writes a synthetic capture of a million events in each
// format, then times oomtrace report and oomtrace gate on them, interleaved.
func (b *bencher) reportScenario(ctx context.Context) (*reportResults, error) {
	res := &reportResults{events: b.cfg.ReportEvents, gate: gateRules}
	dir, err := os.MkdirTemp(b.cfg.WorkDir, "oombench-capture-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files := make(map[output.Format]string)
	for _, format := range []output.Format{output.Text, output.JSON} {
		name := filepath.Join(dir, "capture."+format.String())
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		err = syntheticCapture(f, res.events, format)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("write synthetic capture: %w", err)
		}
		fi, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		files[format] = name
		res.cases = append(res.cases, reportCase{command: "report", format: format, size: fi.Size()},
			reportCase{command: "gate", format: format, size: fi.Size()})
	}
	for round := range b.cfg.ReportRounds {
		for i := range res.cases {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			c := &res.cases[i]
			args := []string{c.command, files[c.format]}
			if c.command == "gate" {
				args = append(args, gateRules...)
			}
			// gate exits 1 when a rule fails, which is a verdict, not an error.
			run, err := timeCommand(ctx, b.cfg.Oomtrace, args, 1)
			if err != nil {
				return res, err
			}
			c.runs = append(c.runs, run)
			b.logf("report round %d/%d  %-6s %-4v %6.2fs  peak RSS %.0f MiB", round+1, b.cfg.ReportRounds, c.command, c.format,
				run.wall.Seconds(), float64(run.peakRSS)/(1<<20))
		}
	}
	return res, nil
}
