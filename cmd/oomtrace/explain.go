package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/human"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/stream"
)

func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	format := fs.String("output", "human", "human (a verdict per kill, then a summary), text (perf-script style) or json (JSON Lines)")
	follow := fs.Bool("follow", false, "without FILE: keep reading this machine's kernel log until SIGINT or SIGTERM")
	var sel selection
	sel.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: oomtrace explain [flags] [FILE...]

Explain the OOM kills of a kernel log after the fact: who was killed, why,
by which limit, with the fields the kernel's own report holds. A FILE is a
kernel log in any form people save it in (dmesg, also -T, -x, -r and
--time-format iso; journalctl -k in the short, short-iso, short-precise,
short-monotonic and json outputs; kern.log and messages, gzip-compressed or
not; cat /dev/kmsg), the kernel's and the kubelet's messages mixed (the
kubelet's evictions are explained too), or a log of oomtrace's; - is
standard input. Without FILE it reads this machine's kernel log since boot
(root, or CAP_SYSLOG). Pods and containers are named where this machine
knows them, else the commands that name them are shown.

Flags:
`)
		printDefaults(fs)
	}
	files, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if *follow && len(files) > 0 {
		fmt.Fprintln(stderr, "oomtrace explain: --follow reads this machine's kernel log, not a FILE (for a growing file: tail -f FILE | oomtrace explain -)")
		return errUsage
	}
	through, err := sel.stages()
	if err != nil {
		return err
	}
	var sink pipeline.Sink
	var summary *human.Writer
	switch *format {
	case "human":
		summary = human.NewWriter(stdout, time.Local)
		sink = summary
	case "text", "json":
		f, _ := output.ParseFormat(*format)
		sink = output.NewWriter(stdout, output.Options{Format: f})
	default:
		fmt.Fprintf(stderr, "oomtrace explain: --output %q: want human, text or json\n", *format)
		return errUsage
	}

	source := "this machine's kernel log"
	warnings := 0
	if len(files) == 0 {
		n, err := explainKmsg(ctx, through, sink, *follow, stderr)
		warnings += n
		if err != nil {
			return err
		}
	} else {
		source = strings.Join(files, ", ")
		for _, name := range files {
			n, err := explainFile(name, through, sink, stderr)
			warnings += n
			if err != nil {
				return &exitError{status: 2, err: err}
			}
		}
	}
	if summary != nil {
		return summary.Summary(source, warnings)
	}
	return nil
}

// explainKmsg reads this machine's kernel log since boot through a
// pipeline into sink, and warns of the records the kernel overwrote
// before they were read; it returns how many warnings it printed.
func explainKmsg(ctx context.Context, through pipeline.Options, sink pipeline.Sink, follow bool, stderr io.Writer) (int, error) {
	log, err := kernlog.OpenTail(kernlog.FromBoot)
	if err != nil {
		return 0, fmt.Errorf("%w; or give a saved kernel log as FILE", err)
	}
	defer log.Close()
	pipe := pipeline.New(through, sink)
	lost, err := stream.ReadKernelLog(ctx, pipe, log, stream.KernelLog{Follow: follow})
	if err != nil && !errors.Is(err, context.Canceled) {
		return 0, fmt.Errorf("read the kernel log: %w", err)
	}
	if lost == 0 {
		return 0, nil
	}
	records := fmt.Sprintf("%d kernel log records were", lost)
	if lost == 1 {
		records = "1 kernel log record was"
	}
	fmt.Fprintf(stderr, "oomtrace: warning: %s overwritten before being read: "+
		"the kills among them are missing (the kernel logged faster than oomtrace read; "+
		"the log_buf_len= boot parameter gives its log more room)\n", records)
	return 1, nil
}

// explainFile reads one log through a pipeline of its own into sink and
// prints its warnings; it returns how many there were.
func explainFile(name string, through pipeline.Options, sink pipeline.Sink, stderr io.Writer) (int, error) {
	f, display, err := capture.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// A log is read a buffer at a time: the lines of its events go out
	// together, before each read.
	pipe := pipeline.New(through, sink)
	cr := capture.NewReader(pipe.FlushBeforeRead(f), display)
	err = cr.Each(pipe.ProcessBuffered)
	if ferr := pipe.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, err
	}
	info := cr.Info()
	for _, w := range info.Warnings {
		fmt.Fprintf(stderr, "oomtrace: warning: %s\n", w)
	}
	if info.MoreWarnings > 0 {
		fmt.Fprintf(stderr, "oomtrace: warning: %s: %d more warnings\n", display, info.MoreWarnings)
	}
	return len(info.Warnings) + info.MoreWarnings, nil
}
