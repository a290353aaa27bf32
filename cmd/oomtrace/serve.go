package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/agent"
	"github.com/oomtrace/oomtrace/internal/metrics"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f traceFlags
	f.register(fs)
	// One reclaim_stats per typical scrape interval.
	f.interval = 15 * time.Second
	interval := fs.Lookup("interval")
	interval.DefValue = f.interval.String()
	interval.Usage = "how often to emit reclaim_stats and lost events, which bring the kernel's reclaim histograms and loss counts to the metrics"
	listen := fs.String("listen", "127.0.0.1:9789", "address of /metrics, /healthz and /readyz (a non-loopback address exposes them beyond this host)")
	webConfig := fs.String("web.config.file", "", "TLS and basic auth for every endpoint, in the web configuration format of Prometheus' exporters (tls_server_config, basic_auth_users with bcrypt hashes); read again for each connection")
	printEvents := fs.Bool("print-events", false, "also write every event to stdout, in the --output format (--output json: JSON Lines for log shippers)")
	maxOwners := fs.Int("max-series-owners", 1000, "distinct pods (and, outside pods, label sets; memory cgroups for memcg OOMs) with series of their own; the rest share the label "+metrics.Overflow)
	expiry := fs.Duration("series-expiry", time.Hour, "delete the series of pods and cgroups not seen for this long")
	memLimit := fs.Int64("memory-limit-mib", 128, "soft limit of the agent's heap, in MiB (as GOMEMLIMIT; the variable wins when set)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: oomtrace serve [flags]\n\nRun as a node agent: trace like oomtrace trace and serve Prometheus metrics\n(/metrics), liveness (/healthz: attached and reading) and readiness\n(/readyz). SIGTERM stops it cleanly. Needs root (or CAP_BPF and CAP_PERFMON).\n\nFlags:\n")
		printDefaults(fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *maxOwners <= 0 || *expiry <= 0 || *memLimit <= 0 {
		return fmt.Errorf("--max-series-owners, --series-expiry and --memory-limit-mib must be positive")
	}
	// The agent must not be what runs a node out of memory: a soft limit
	// makes the collector work harder before the heap grows past it.
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(*memLimit << 20)
	}
	if f.interval == 0 {
		// The interval is when the kernel's histograms, lost events and
		// skipped runs reach the metrics: at exit only is never, here.
		return fmt.Errorf("--interval must be above 0 in serve: reclaim histograms, lost events and skipped runs reach the metrics once each interval")
	}
	opts, err := f.options(stdout, logger)
	if err != nil {
		return err
	}
	if *printEvents {
		// A reader of the events that goes away (a log shipper restarting)
		// would end the agent with SIGPIPE, without a word: the write's
		// error says what happened instead.
		signal.Ignore(syscall.SIGPIPE)
	} else {
		// The metrics count kills; what the kernel's report adds to one
		// would be read for nothing.
		opts.Sinks, opts.KernelReport = nil, false
		var unused []string
		fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "output", "stacks", "no-kernel-report":
				unused = append(unused, "--"+fl.Name)
			}
		})
		if len(unused) > 0 {
			logger.Warn("these flags shape the events printed, and have no effect without --print-events", "flags", strings.Join(unused, " "))
		}
	}
	m := metrics.New(metrics.Options{MaxOwners: *maxOwners, Expiry: *expiry, Version: version})
	m.WatchAgent()
	return agent.Run(ctx, agent.Options{
		Listen:        *listen,
		WebConfigFile: *webConfig,
		Stream:        opts,
		Metrics:       m,
		Logger:        logger,
	})
}
