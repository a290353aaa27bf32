// Command oombench measures oomtrace on this machine, side by side with
// bpftrace and perf, and writes BENCHMARKS.md. make bench runs it as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/oomtrace/oomtrace/internal/bench"
	"github.com/oomtrace/oomtrace/internal/memcg"
)

func main() {
	// The storm workers, the kernel-log and floor readers and the memory
	// hogs are this binary, run again.
	bench.StormWorkerMain()
	bench.KmsgReaderMain()
	bench.FloorReaderMain()
	bench.DrainFloorMain()
	bench.PeakRSSMain()
	memcg.HogMain()
	os.Exit(run())
}

func run() int {
	cfg := bench.DefaultConfig()
	out := flag.String("out", "BENCHMARKS.md", "write the results here")
	only := flag.String("only", "", "run only these scenarios, comma-separated: "+strings.Join(bench.Scenarios, ", "))
	flag.StringVar(&cfg.Oomtrace, "oomtrace", cfg.Oomtrace, "the oomtrace binary")
	flag.StringVar(&cfg.Bpftrace, "bpftrace", cfg.Bpftrace, "the bpftrace binary")
	flag.StringVar(&cfg.Perf, "perf", cfg.Perf, "the perf binary")
	flag.StringVar(&cfg.WorkDir, "work-dir", cfg.WorkDir, "directory for the storm's sparse files and perf.data (not tmpfs)")
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds of the storm and start-up comparisons")
	flag.DurationVar(&cfg.StormDuration, "storm", cfg.StormDuration, "length of one reclaim storm")
	flag.IntVar(&cfg.ThroughputPairs, "throughput-pairs", cfg.ThroughputPairs, "rounds of the storm untraced and under oomtrace alone, after the others")
	flag.IntVar(&cfg.DecidingPairs, "deciding-pairs", cfg.DecidingPairs, "more such rounds, run only when the ones before leave the throughput target undecided (0: none)")
	flag.IntVar(&cfg.EpisodePairs, "episode-pairs", cfg.EpisodePairs, "rounds of the storm under oomtrace and bpftrace with BPF statistics, run only when the ones before leave the reclaim episode's target undecided (0: none)")
	flag.IntVar(&cfg.StallTrials, "stall-trials", cfg.StallTrials, "trials of the tracer stalled in a storm, each followed by the drain floor's")
	flag.IntVar(&cfg.DecidingStalls, "deciding-stalls", cfg.DecidingStalls, "more such trials, run only when the ones before leave the CPU-per-event target undecided (0: none)")
	flag.IntVar(&cfg.StormWorkers, "storm-workers", cfg.StormWorkers, "memory cgroups reclaiming at once in a storm")
	flag.IntVar(&cfg.Kills, "kills", cfg.Kills, "OOM kills per condition in the latency comparison")
	flag.IntVar(&cfg.IdleProcs, "idle-procs", cfg.IdleProcs, "idle processes in the OOMing cgroup in the loaded condition")
	flag.IntVar(&cfg.ReportEvents, "report-events", cfg.ReportEvents, "events of the synthetic capture that report and gate read")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "oombench: unexpected argument %q\n", flag.Arg(0))
		return 2
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "oombench: %v\n", err)
		return 1
	}
	f, err := os.Create(*out)
	if err == nil {
		err = bench.WriteMarkdown(f, res)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "oombench: write %s: %v\n", *out, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "oombench: wrote %s\n", *out)
	if err := res.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "oombench: some scenarios failed:\n%v\n", err)
		return 1
	}
	return 0
}
