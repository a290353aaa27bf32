package bench

import (
	"context"
	"fmt"
	"os/exec"
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
	command string
	benches []goBench
}

// goBenchScenario runs the Go benchmarks of decoding and formatting in the
// module at dir.
func (b *bencher) goBenchScenario(ctx context.Context) (*goBenchResults, error) {
	args := append([]string{"test", "-run", "^$", "-bench", goBenchPattern, "-benchmem",
		"-count", strconv.Itoa(b.cfg.GoBenchCount), "-benchtime", b.cfg.GoBenchTime}, goBenchPackages...)
	// go test's own -timeout (10 minutes by default) bounds the run.
	cmd := exec.CommandContext(ctx, b.cfg.Go, args...)
	cmd.Dir = b.cfg.RepoDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	benches, err := parseGoBench(string(out))
	if err != nil {
		return nil, err
	}
	for _, gb := range benches {
		b.logf("go bench %-22s %8.1f ns/op  %g allocs/op", gb.name, gb.nsPerOp.median(), gb.allocsPerOp.median())
	}
	return &goBenchResults{command: "go " + strings.Join(args, " "), benches: benches}, nil
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
