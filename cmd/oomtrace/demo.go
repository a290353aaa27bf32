package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/oomtrace/oomtrace/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var f traceFlags
	fs.StringVar(&f.mode, "mode", "auto", "attach mode: auto, fentry, kprobe, tracepoint, or kmsg (no BPF: the kernel's OOM reports in its log, which auto falls back to)")
	fs.StringVar(&f.output, "output", "text", "event format: text or json")
	limit := fs.Int("limit-mib", 32, "memory limit of the temporary cgroup, in MiB")
	hog := fs.Int("alloc-mib", 64, "how much the child allocates, in MiB (more than the limit)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: oomtrace demo [flags]\n\nCreate a temporary memory cgroup with a small limit, run a child that\nallocates past it, trace the kill, print the event, remove the cgroup.\nNever causes a global OOM. Needs root.\n\nFlags:\n")
		printDefaults(fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *limit < 8 || *hog <= *limit {
		return fmt.Errorf("--limit-mib must be at least 8 and --alloc-mib larger than it")
	}
	f.reclaimMin = time.Millisecond
	opts, err := f.options(stdout, logger)
	if err != nil {
		return err
	}
	return demo.Run(ctx, demo.Options{
		Stream:     opts,
		LimitBytes: int64(*limit) << 20,
		HogMiB:     *hog,
		Timeout:    10 * time.Second,
		Report:     stderr,
	})
}
