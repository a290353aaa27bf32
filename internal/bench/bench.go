// Package bench measures oomtrace on the machine it runs on, side by side
// with the tools people use instead (a bpftrace script on the same
// tracepoints, and perf record): the kernel-side cost of its BPF programs
// and what a storm of memory reclaim pays for being traced, how soon a kill
// is reported compared with a reader of the kernel log, what a burst of
// events loses, the user-space cost of decoding and formatting, start-up
// time and memory, and how fast a large capture is reported and gated.
// Run writes nothing but progress; WriteMarkdown turns the results into
// BENCHMARKS.md.
//
// Everything that allocates memory does so inside a memory cgroup with a
// limit, made before it allocates: the worst that happens is a memcg OOM
// kill of the benchmark's own memory hog, never a global OOM.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/oomtrace/oomtrace/internal/memcg"
)

// Config says what to run and how long.
type Config struct {
	Oomtrace string // the oomtrace binary
	Bpftrace string // bpftrace, looked up in PATH when not a path
	Perf     string // perf, likewise
	Go       string // go, for the Go benchmarks
	RepoDir  string // the module's root, where the Go benchmarks run
	// WorkDir holds the storm's sparse files, ready files and perf.data;
	// it must be on a disk-backed file system, not tmpfs.
	WorkDir string

	Rounds          int           // rounds of the storm and start-up comparisons
	StormDuration   time.Duration // length of one storm
	StormWorkers    int           // workers (and cgroups) of the storm
	StormLimitBytes int64         // each storm cgroup's limit
	StormFileBytes  int64         // each worker's sparse file
	// ThroughputPairs are rounds, after those of every configuration, of
	// the storm untraced and under oomtrace alone: the throughput target
	// needs more rounds than the programs' costs to be decided.
	ThroughputPairs int
	// DecidingPairs are more such rounds, run only when the ones before
	// leave the throughput target undecided: its second look
	// (decideThroughput).
	DecidingPairs int
	// EpisodePairs are rounds of the storm under oomtrace and under
	// bpftrace, with the BPF statistics on, run only when the rounds
	// before leave the reclaim episode's target undecided
	// (decideEpisode).
	EpisodePairs int

	KillCostRounds int // rounds of kills under oomtrace, then bpftrace
	KillCostKills  int // kills per round and tool

	Kills     int // kills per condition in the latency comparison
	IdleProcs int // idle processes in the OOMing cgroup in the loaded condition

	LossRounds     int // rounds of the loss ramp
	LossMaxWorkers int // the ramp doubles the workers from 1 up to this
	// StallTrials are the stalled tracer's trials, each followed by the
	// drain floor's: one drain lasts a few milliseconds, and a single one
	// lands wherever the host's noise puts it. Three trials ranged over
	// nearly twice their least; five give a median that two outliers
	// cannot move.
	StallTrials int
	// DecidingStalls are more such trials, run only when the ones before
	// leave the CPU-per-event target undecided (decideCPUPerEvent).
	DecidingStalls int

	GoBenchCount int    // go test -count
	GoBenchTime  string // go test -benchtime

	ReportEvents int // events of the synthetic capture
	ReportRounds int // runs of report and gate on it, and of explain and report on the kernel log

	KernelLogBytes   int64 // size of the synthetic syslog explain reads
	KernelLogReports int   // OOM reports in it

	// Only, when not empty, runs only these scenarios (see Scenarios).
	Only []string
	// Progress receives a line per trial.
	Progress io.Writer
}

// DefaultConfig is what make bench runs: about fourteen minutes on two CPUs,
// about 17 more when the throughput target needs its deciding pairs, about
// 4 more when the reclaim episode's target needs its own, and about 4 more
// when the CPU-per-event target needs its deciding stalls.
func DefaultConfig() Config {
	return Config{
		Oomtrace:         "bin/oomtrace",
		Bpftrace:         "bpftrace",
		Perf:             "perf",
		Go:               "go",
		RepoDir:          ".",
		WorkDir:          os.TempDir(),
		Rounds:           5,
		StormDuration:    3 * time.Second,
		StormWorkers:     4,
		StormLimitBytes:  16 << 20,
		StormFileBytes:   256 << 20,
		ThroughputPairs:  10,
		DecidingPairs:    160,
		EpisodePairs:     30,
		KillCostRounds:   3,
		KillCostKills:    5,
		Kills:            100,
		IdleProcs:        1000,
		LossRounds:       2,
		LossMaxWorkers:   8,
		StallTrials:      5,
		DecidingStalls:   10,
		GoBenchCount:     5,
		GoBenchTime:      "500ms",
		ReportEvents:     1_000_000,
		ReportRounds:     3,
		KernelLogBytes:   1 << 30,
		KernelLogReports: 10_000,
		Progress:         io.Discard,
	}
}

// Scenarios are the names of what Run measures, in the order it does.
var Scenarios = []string{"startup", "storm", "killcost", "latency", "loss", "pipeline", "gobench", "report", "kernellog"}

// Results is everything a run measured.
type Results struct {
	cfg               Config
	machine           machine
	started, finished time.Time
	othersCores       float64 // CPUs other processes kept busy, on average
	calibrations      []calibration
	notes             []string

	startup  *startupResults
	storm    *stormResults
	killCost *killCostResults
	latency  *latencyResults
	loss     *lossResults
	pipeline []pipelineRow
	goBench  *goBenchResults
	report   *reportResults
	kernlog  *kernelLogResults
	errs     map[string]error // by scenario
}

// Err reports the scenarios that failed.
func (r *Results) Err() error {
	var errs []error
	for _, name := range Scenarios {
		if err := r.errs[name]; err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

type bencher struct {
	cfg   Config
	tools tools
	h     memcg.Hierarchy
	top   string // the benchmark's cgroup, relative to the hierarchy's mount point
	began time.Time
	notes []string // what went wrong without spoiling a measurement
}

// stopTool stops tr, keeping what went wrong at its end for the results.
func (b *bencher) stopTool(tr *runningTool) (tracerExit, error) {
	exit, err := tr.stop(b.tools)
	if exit.note != "" {
		b.notes = append(b.notes, fmt.Sprintf("%v %s", tr.tool, exit.note))
		b.logf("%v %s", tr.tool, exit.note)
	}
	return exit, err
}

func (b *bencher) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, "%7.1fs  %s\n", time.Since(b.began).Seconds(), fmt.Sprintf(format, args...))
}

// Run measures every scenario (or those in cfg.Only). A scenario that
// fails is recorded in the results and the others still run; the error is
// for what keeps any from running.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	for _, name := range cfg.Only {
		if !slices.Contains(Scenarios, name) {
			return nil, fmt.Errorf("unknown scenario %q (want one of %v)", name, Scenarios)
		}
	}
	if cfg.Rounds < 1 || cfg.ThroughputPairs < 0 || cfg.DecidingPairs < 0 || cfg.EpisodePairs < 0 {
		return nil, fmt.Errorf("rounds %d, throughput pairs %d, deciding pairs %d and episode pairs %d: want rounds ≥ 1 and pairs ≥ 0",
			cfg.Rounds, cfg.ThroughputPairs, cfg.DecidingPairs, cfg.EpisodePairs)
	}
	if cfg.StallTrials < 1 || cfg.DecidingStalls < 0 {
		return nil, fmt.Errorf("stall trials %d and deciding stalls %d: want stall trials ≥ 1 and deciding stalls ≥ 0",
			cfg.StallTrials, cfg.DecidingStalls)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the benchmark needs root: it loads BPF programs, makes memory cgroups and reads /dev/kmsg")
	}
	ts, err := findTools(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkPageCacheFS(ts.workDir); err != nil {
		return nil, err
	}
	mounted, unmountTracefs, err := mountTracefs()
	if err != nil {
		return nil, err
	}
	if mounted {
		fmt.Fprintf(cfg.Progress, "mounted tracefs on %s; it is unmounted at the end\n", tracefsMount)
	}
	defer func() {
		if err := unmountTracefs(); err != nil {
			fmt.Fprintf(cfg.Progress, "unmount tracefs: %v\n", err)
		}
	}()
	h, err := memcg.Detect()
	if err != nil {
		return nil, err
	}
	b := &bencher{cfg: cfg, tools: ts, h: h, top: memcg.UniqueName("oombench"), began: time.Now()}
	top, err := h.Create(b.top, 0)
	if err != nil {
		return nil, err
	}
	defer top.Remove()

	res := &Results{cfg: cfg, machine: describeMachine(ts, cfg.Go), started: time.Now(), errs: make(map[string]error)}
	cpuStart, cpuErr := readCPUSnapshot()
	for _, name := range Scenarios {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			res.errs[name] = err
			continue
		}
		cal := calibrate()
		res.calibrations = append(res.calibrations, calibration{name, cal})
		began := time.Now()
		b.logf("== %s (the fixed work took %v)", name, cal.Round(10*time.Microsecond))
		var err error
		switch name {
		case "startup":
			res.startup, err = b.startupScenario(ctx)
		case "storm":
			res.storm, err = b.stormScenario(ctx)
		case "killcost":
			res.killCost, err = b.killCostScenario(ctx)
		case "latency":
			// The kills before must not eat into the kernel's rate limit of
			// full OOM reports (10 in 5 s).
			time.Sleep(5 * time.Second)
			res.latency, err = b.latencyScenario(ctx)
		case "loss":
			res.loss, err = b.lossScenario(ctx)
		case "pipeline":
			res.pipeline, err = b.pipelineScenario(ctx)
		case "gobench":
			res.goBench, err = b.goBenchScenario(ctx)
		case "report":
			res.report, err = b.reportScenario(ctx)
		case "kernellog":
			res.kernlog, err = b.kernelLogScenario(ctx)
		}
		if err != nil {
			res.errs[name] = err
			b.logf("%s failed: %v", name, err)
		}
		b.logf("== %s took %v", name, time.Since(began).Round(time.Second))
	}
	res.finished = time.Now()
	res.notes = b.notes
	res.machine.loadEnd = loadAverage()
	res.othersCores = nan
	if cpuEnd, err := readCPUSnapshot(); err == nil && cpuErr == nil {
		res.othersCores = othersCores(cpuStart, cpuEnd)
	}
	return res, nil
}

// findTools resolves the programs the benchmark runs.
func findTools(cfg Config) (tools, error) {
	ts := tools{workDir: cfg.WorkDir}
	for _, t := range []struct {
		dst  *string
		name string
		why  string
	}{
		{&ts.oomtrace, cfg.Oomtrace, "build it with make build"},
		{&ts.bpftrace, cfg.Bpftrace, "install Debian's bpftrace (make bench does)"},
		{&ts.perf, cfg.Perf, "install Debian's linux-perf (make bench does)"},
	} {
		path, err := exec.LookPath(t.name)
		if err != nil {
			return ts, fmt.Errorf("find %s: %w: %s", t.name, err, t.why)
		}
		if *t.dst, err = filepath.Abs(path); err != nil {
			return ts, fmt.Errorf("find %s: %w", t.name, err)
		}
	}
	// The usage goes to stderr, with status 0 for -h.
	help, err := exec.Command(ts.oomtrace, "trace", "-h").CombinedOutput()
	if err != nil {
		return ts, fmt.Errorf("%s trace -h: %w: %s", ts.oomtrace, err, help)
	}
	ts.oomtraceHelp = string(help)
	return ts, nil
}
