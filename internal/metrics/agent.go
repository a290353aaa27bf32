package metrics

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

// WatchAgent adds the agent's own health to the registry, so that an agent
// run under a memory limit shows how close it came, and one that was killed
// and restarted shows it: the process's metrics (process_start_time_seconds,
// process_resident_memory_bytes, …), the Go runtime's (go_*), and the usage,
// peak usage and limit of the agent's own memory cgroup
// (oomtrace_agent_memory_*_bytes), read at each scrape. The cgroup's are
// left out where the agent cannot see its own cgroup in the hierarchy (a
// private cgroup namespace shows it as the root).
func (m *Metrics) WatchAgent() {
	m.Registry.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	h, err := memcg.Detect()
	if err != nil {
		return
	}
	dir, ok := ownCgroupDir(h, "/proc/self/cgroup")
	if !ok {
		return
	}
	files := map[string][3]string{ // v1, v2, help
		"usage":     {"memory.usage_in_bytes", "memory.current", "Memory the agent's own memory cgroup uses, in bytes."},
		"max_usage": {"memory.max_usage_in_bytes", "memory.peak", "The most memory the agent's own memory cgroup has used, in bytes."},
		"limit":     {"memory.limit_in_bytes", "memory.max", "The hard limit of the agent's own memory cgroup, in bytes (+Inf: none)."},
	}
	for name, f := range files {
		file := filepath.Join(dir, f[h.Version-1])
		if _, err := os.Stat(file); err != nil {
			continue // memory.peak is new in 5.19
		}
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "oomtrace_agent_memory_" + name + "_bytes",
			Help: f[2],
		}, func() float64 { return readBytes(file) }))
	}
}

// ownCgroupDir returns the directory of this process's memory cgroup in
// the hierarchy h, from a /proc/PID/cgroup file; false when it is the
// hierarchy's root (the host's root cgroup, or a private namespace's).
func ownCgroupDir(h memcg.Hierarchy, procCgroup string) (string, bool) {
	f, err := os.Open(procCgroup)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path; v2's is 0::path.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		v1 := h.Version == 1 && slices.Contains(strings.Split(parts[1], ","), "memory")
		v2 := h.Version == 2 && parts[0] == "0" && parts[1] == ""
		if !v1 && !v2 || parts[2] == "/" {
			continue
		}
		dir, err := h.Dir(parts[2])
		if err != nil {
			return "", false
		}
		return dir, true
	}
	return "", false
}

// readBytes reads a cgroup memory file: NaN when it cannot be read, +Inf
// for no limit.
func readBytes(file string) float64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return math.NaN()
	}
	n, ok := memstate.ParseLimit(b)
	if !ok {
		return math.NaN()
	}
	if n == event.NoLimit {
		return math.Inf(1)
	}
	return float64(n)
}
