package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// goBenchPackages are the packages whose Go benchmarks measure decoding and
// formatting one event, looking up one kernel symbol (what each frame of a
// kill's new stack costs) and what the signal hook adds to kill(2), and the
// benchmarks to run.
var (
	goBenchPackages = []string{"./internal/tracer", "./internal/output", "./internal/ksym", "./e2e"}
	goBenchPattern  = "^(BenchmarkDecode|BenchmarkWriter|BenchmarkLookupStack|BenchmarkSignalHook)$"
)

// goBench is one Go benchmark over several runs.
type goBench struct {
	name                string // e.g. "Decode/oom_kill"
	nsPerOp, bytesPerOp sample
	allocsPerOp         sample
}

type goBenchResults struct {
	build, run string // the commands that built the test binaries and ran each
	benches    []goBench
}

// goBenchScenario runs the Go benchmarks of decoding and formatting in the
// module at dir. Every package's test binary is built before any of them
// runs: go test runs one package's benchmarks at a time, but may still be
// building (compiling, vetting, linking) the packages after it, and on two
// CPUs that work would take the CPU from the benchmarks.
func (b *bencher) goBenchScenario(ctx context.Context) (*goBenchResults, error) {
	bins, err := os.MkdirTemp("", "oombench-gobench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bins)
	build := append([]string{"test", "-c", "-o", bins + "/"}, goBenchPackages...)
	cmd := exec.CommandContext(ctx, b.cfg.Go, build...)
	cmd.Dir = b.cfg.RepoDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(build, " "), err, out)
	}
	run := []string{"-test.run", "^$", "-test.bench", goBenchPattern, "-test.benchmem",
		"-test.count", strconv.Itoa(b.cfg.GoBenchCount), "-test.benchtime", b.cfg.GoBenchTime}
	var out strings.Builder
	for _, pkg := range goBenchPackages {
		// As go test runs it: in its package's directory.
		cmd := exec.CommandContext(ctx, filepath.Join(bins, path.Base(pkg)+".test"), run...)
		cmd.Dir = filepath.Join(b.cfg.RepoDir, pkg)
		got, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("the benchmarks of %s: %w\n%s", pkg, err, got)
		}
		out.Write(got)
	}
	benches, err := parseGoBench(out.String())
	if err != nil {
		return nil, err
	}
	for _, gb := range benches {
		b.logf("go bench %-22s %8.1f ns/op  %g allocs/op", gb.name, gb.nsPerOp.median(), gb.allocsPerOp.median())
	}
	return &goBenchResults{
		build:   "go test -c -o DIR/ " + strings.Join(goBenchPackages, " "),
		run:     "PKG.test " + strings.Join(run, " "),
		benches: benches,
	}, nil
}

// goBenchLine matches a result line of go test -bench:
// "BenchmarkDecode/oom_kill-2  1000000  1234 ns/op  0 B/op  0 allocs/op".
var goBenchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseGoBench collects the results of go test -bench -benchmem output by
// benchmark, in the order they first appear.
func parseGoBench(out string) ([]goBench, error) {
	var benches []goBench
	index := make(map[string]int)
	for line := range strings.Lines(out) {
		m := goBenchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		i, ok := index[m[1]]
		if !ok {
			i = len(benches)
			index[m[1]] = i
			benches = append(benches, goBench{name: m[1]})
		}
		fields := strings.Fields(m[2])
		for j := 0; j+1 < len(fields); j += 2 {
			v, err := strconv.ParseFloat(fields[j], 64)
			if err != nil {
				return nil, fmt.Errorf("parse benchmark line %q: %w", line, err)
			}
			switch fields[j+1] {
			case "ns/op":
				benches[i].nsPerOp = append(benches[i].nsPerOp, v)
			case "B/op":
				benches[i].bytesPerOp = append(benches[i].bytesPerOp, v)
			case "allocs/op":
				benches[i].allocsPerOp = append(benches[i].allocsPerOp, v)
			}
		}
	}
	if len(benches) == 0 {
		return nil, fmt.Errorf("no benchmark results in go test output:\n%s", out)
	}
	return benches, nil
}
