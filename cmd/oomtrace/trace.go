package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/attribute"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/gfp"
	"github.com/oomtrace/oomtrace/internal/human"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/stream"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// traceFlags are the flags of every command that traces.
type traceFlags struct {
	mode       string
	output     string
	cgroup     string
	pid        uint
	classes    string
	reclaimMin time.Duration
	interval   time.Duration
	stacks     bool
	readyFile  string
	pods       string
	containers string
	hostRoot   string
	namesWait  time.Duration
	noSnapshot bool
	noReport   bool
	events     string
	sinceBoot  bool
	ringBuffer string
}

func (f *traceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mode, "mode", "auto", "attach mode: auto, fentry, kprobe, tracepoint, or kmsg (no BPF: the kernel's OOM reports in its log, which auto falls back to)")
	fs.StringVar(&f.output, "output", "auto", "event format: text (perf-script style), json (JSON Lines), human (a verdict per kill, reclaim summed up), or auto: human on a terminal, text otherwise")
	fs.StringVar(&f.cgroup, "cgroup", "", "trace only this memory cgroup and its descendants (path in the memory hierarchy, e.g. /kubepods)")
	fs.UintVar(&f.pid, "pid", 0, "trace only this process (as victim, trigger or reclaimer)")
	fs.StringVar(&f.classes, "class", "", "report only OOM kills of these classes, comma-separated: memcg, global, cpuset, mempolicy, sysrq, unknown")
	fs.DurationVar(&f.reclaimMin, "reclaim-min", time.Millisecond, "report reclaim episodes at least this long as events (all are counted in reclaim_stats)")
	fs.DurationVar(&f.interval, "interval", 10*time.Second, "how often to emit reclaim_stats and lost events (0: only at exit)")
	fs.BoolVar(&f.stacks, "stacks", false, "include the kernel stack of each OOM kill")
	fs.StringVar(&f.pods, "filter-pod", "", "report only events of these pods, comma-separated: name, namespace/name or UID")
	fs.StringVar(&f.containers, "filter-container", "", "report only events of these containers, comma-separated: name or ID (12 digits or more)")
	fs.StringVar(&f.hostRoot, "host-root", "/", "where the host's root directory is seen, for the kubelet's and runtimes' names (e.g. /host in a container)")
	fs.DurationVar(&f.namesWait, "names-wait", killEnrichWait, "how long a kill or a fatal exit waits for the names of a container or pod seen for the first time before its line is written without them")
	fs.BoolVar(&f.noSnapshot, "no-snapshot", false, "do not read the OOM cgroup's memory state after each kill (the oom_snapshot event)")
	fs.BoolVar(&f.noReport, "no-kernel-report", false, "do not read the kernel's report of each kill from its log (the oom_report event)")
	fs.StringVar(&f.events, "events", "all", "event groups to trace, comma-separated: oom, reclaim, reaper, signal, exit (or all); hooks of the others are not attached")
	fs.StringVar(&f.ringBuffer, "ring-buffer", "", "`size` of the ring buffer the kernel side writes events to, a power of two from 64KiB to 1GiB (default 4MiB): larger holds longer bursts, at that much kernel memory")
	fs.BoolVar(&f.sinceBoot, "since-boot", false, "first report the kills already in the kernel log (marked replayed), then go on live; each kill once")
	// For tests and scripts; left out of the usage text.
	fs.StringVar(&f.readyFile, "ready-file", "", "")
}

// options turns the flags into stream options writing to w.
func (f *traceFlags) options(w io.Writer, logger *slog.Logger) (stream.Options, error) {
	var opts stream.Options
	if f.mode != "auto" {
		mode, err := event.ParseMode(f.mode)
		if err != nil {
			return opts, fmt.Errorf("--mode: %w", err)
		}
		opts.Tracer.Mode = &mode
	}

	if f.pid > 1<<22 {
		return opts, fmt.Errorf("--pid %d: not a valid process id", f.pid)
	}
	opts.Tracer.FilterTGID = uint32(f.pid)
	// The BPF programs filter by process and cgroup in the kernel; the
	// filter stage does it again for the kernel log, which has no BPF.
	opts.Pipeline.Filter.PID = uint32(f.pid)
	if f.cgroup != "" {
		h, err := memcg.Detect()
		if err != nil {
			return opts, fmt.Errorf("--cgroup: %w", err)
		}
		// The filter stage compares the path with the events' own, which
		// the kernel writes clean: "kubepods/" must match them too.
		cgroup, err := h.CleanPath(f.cgroup)
		if err != nil {
			return opts, fmt.Errorf("--cgroup: %w", err)
		}
		id, err := h.ID(cgroup)
		if err != nil {
			return opts, fmt.Errorf("--cgroup: %w", err)
		}
		opts.Tracer.FilterCgroupID, opts.Pipeline.Filter.Cgroup = id, cgroup
	}
	for _, name := range splitList(f.classes) {
		c, err := event.ParseClass(name)
		if err != nil {
			return opts, fmt.Errorf("--class: %w", err)
		}
		opts.Pipeline.Filter.Classes = append(opts.Pipeline.Filter.Classes, c)
	}
	if f.reclaimMin < 0 || f.interval < 0 || f.namesWait < 0 {
		return opts, fmt.Errorf("--reclaim-min, --interval and --names-wait must not be negative")
	}
	opts.Tracer.ReclaimMin = f.reclaimMin
	// Commands without the flag (demo) leave it empty: every group.
	if f.events != "" {
		var err error
		if opts.Tracer.Events, err = tracer.ParseEventGroups(f.events); err != nil {
			return opts, fmt.Errorf("--events: %w", err)
		}
	}
	if f.ringBuffer != "" {
		var err error
		if opts.Tracer.RingBufferBytes, err = tracer.ParseRingBufferSize(f.ringBuffer); err != nil {
			return opts, fmt.Errorf("--ring-buffer: %w", err)
		}
	}
	opts.Interval = f.interval
	opts.SinceBoot = f.sinceBoot
	opts.Pipeline.Attribute = attribute.Options{HostRoot: f.hostRoot, Wait: f.namesWait}
	opts.Snapshot = !f.noSnapshot
	opts.KernelReport = !f.noReport
	opts.Pipeline.Filter.Pods = splitList(f.pods)
	opts.Pipeline.Filter.Containers = splitList(f.containers)

	// The tracer loads its programs against the same decoding of the
	// kernel's BTF, and parses its own object meanwhile.
	opts.Tracer.Preload = tracer.NewPreload()
	names, err := gfp.ForKernel(opts.Tracer.Preload.Cache())
	if err != nil {
		logger.Warn("gfp flag names unavailable, printing masks only", "error", err)
	}
	if f.output == "human" || f.output == "auto" && isTerminal(w) {
		opts.Sinks = []pipeline.Sink{human.NewWriter(w, time.Local)}
	} else {
		format, err := f.lineFormat()
		if err != nil {
			return opts, err
		}
		outOpts := output.Options{Format: format, Stacks: f.stacks}
		if names != nil {
			outOpts.GFPNames = names.Append
		}
		opts.Sinks = []pipeline.Sink{output.NewWriter(w, outOpts)}
	}
	opts.Logger = logger
	if f.readyFile != "" {
		path := f.readyFile
		opts.OnReady = func(mode event.Mode) error {
			if err := os.WriteFile(path, []byte(mode.String()+"\n"), 0o644); err != nil {
				return fmt.Errorf("write ready file: %w", err)
			}
			return nil
		}
	}
	return opts, nil
}

// lineFormat is the format of --output for lines a program reads: auto
// is text there.
func (f *traceFlags) lineFormat() (output.Format, error) {
	name := f.output
	if name == "auto" {
		name = "text"
	}
	format, err := output.ParseFormat(name)
	if err != nil {
		return 0, fmt.Errorf("--output: %w (human is for a terminal)", err)
	}
	return format, nil
}

func runTrace(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	var f traceFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: oomtrace trace [flags]\n\nTrace OOM kills, memcg OOMs, reclaim and the OOM reaper until SIGINT or SIGTERM.\nNeeds root (or CAP_BPF and CAP_PERFMON).\n\nFlags:\n")
		printDefaults(fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	opts, err := f.options(stdout, logger)
	if err != nil {
		return err
	}
	summary, err := stream.Run(ctx, opts)
	if err != nil {
		return err
	}
	logger.Info("stopped", "mode", summary.Mode, "oom_kills", summary.Events[event.KindOOMKill],
		"lost", summary.Lost, "decode_errors", summary.DecodeErrors, "skipped_runs", summary.SkippedRuns.Total(),
		"skipped_by_program", summary.SkippedRuns)
	return nil
}

// killEnrichWait bounds how long a kill waits for names before it is
// written: trace's default, and what report and explain wait.
const killEnrichWait = 200 * time.Millisecond

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// printDefaults is flag.PrintDefaults without the flags whose usage is
// empty (those for tests and scripts).
func printDefaults(fs *flag.FlagSet) {
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Usage == "" {
			return
		}
		name, usage := flag.UnquoteUsage(fl)
		dashes := "--"
		if len(fl.Name) == 1 {
			dashes = "-"
		}
		fmt.Fprintf(fs.Output(), "  %s%s %s\n    \t%s", dashes, fl.Name, name, usage)
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" {
			fmt.Fprintf(fs.Output(), " (default %s)", fl.DefValue)
		}
		fmt.Fprintln(fs.Output())
	})
}
