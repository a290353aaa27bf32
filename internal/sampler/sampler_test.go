package sampler

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
)

const (
	meminfo = "MemTotal:       24684092 kB\nMemFree:         1000000 kB\nMemAvailable:    3000000 kB\nBuffers:            1234 kB\n"
	psi     = "some avg10=5.34 avg60=2.21 avg300=0.55 total=292818073\nfull avg10=0.72 avg60=0.29 avg300=0.07 total=98792943\n"
)

// fakeTree is a cgroup hierarchy of plain files in a temporary directory,
// with the node's files beside it.
type fakeTree struct {
	t       testing.TB
	h       memcg.Hierarchy
	meminfo string
	psi     string
}

func newFakeTree(t testing.TB, version int) *fakeTree {
	dir := t.TempDir()
	f := &fakeTree{t: t, h: memcg.Hierarchy{Version: version, Mountpoint: filepath.Join(dir, "cgroup"), Root: "/"},
		meminfo: filepath.Join(dir, "meminfo"), psi: filepath.Join(dir, "pressure")}
	f.write(f.meminfo, meminfo)
	f.write(f.psi, psi)
	return f
}

func (f *fakeTree) write(name, contents string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(contents), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// cgroup creates the cgroup at path with the files given (name to
// contents) and returns it as an event names it.
func (f *fakeTree) cgroup(path string, files map[string]string) event.Cgroup {
	f.t.Helper()
	dir := filepath.Join(f.h.Mountpoint, path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	for name, contents := range files {
		f.write(filepath.Join(dir, name), contents)
	}
	return event.Cgroup{Path: path, ID: inode(f.t, dir)}
}

func inode(t testing.TB, name string) uint64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func v1Files(usage, limit uint64) map[string]string {
	return map[string]string{"memory.usage_in_bytes": fmt.Sprintln(usage), "memory.limit_in_bytes": fmt.Sprintln(limit)}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeTree) sampler(max int) *Sampler {
	var ticks uint64
	s := New(Config{Hierarchy: f.h, MaxCgroups: max, MemInfo: f.meminfo, NodePressure: f.psi,
		Clock: func() (time.Time, uint64) {
			ticks++
			return epoch.Add(time.Duration(ticks)), 1000 + ticks
		}})
	f.t.Cleanup(s.Close)
	return s
}

func reclaimIn(c event.Cgroup) *event.Event {
	return &event.Event{Kind: event.KindReclaim, Reclaim: event.Reclaim{Kind: event.ReclaimMemcg, Cgroup: c}}
}

// samples returns the cgroup samples of one round by path, and the node's.
func samples(t testing.TB, s *Sampler) (map[string]event.Sample, *event.Sample) {
	t.Helper()
	byPath := map[string]event.Sample{}
	var node *event.Sample
	for _, ev := range s.Sample(nil) {
		if ev.Kind != event.KindSample || ev.KtimeNS <= 1000 || ev.Time.IsZero() {
			t.Errorf("sample event %+v: wrong kind or no time", ev)
		}
		if ev.Sample.IsNode() {
			if node != nil {
				t.Error("two samples of the node in one round")
			}
			node = &ev.Sample
			continue
		}
		if _, ok := byPath[ev.Sample.Cgroup.Path]; ok {
			t.Errorf("%s sampled twice in one round", ev.Sample.Cgroup.Path)
		}
		byPath[ev.Sample.Cgroup.Path] = ev.Sample
	}
	return byPath, node
}

func TestNodeSample(t *testing.T) {
	f := newFakeTree(t, 1)
	byPath, node := samples(t, f.sampler(0))
	if len(byPath) != 0 || node == nil {
		t.Fatalf("cgroups %v, node %v", byPath, node)
	}
	want := event.Sample{MemTotalBytes: 24684092 << 10, MemAvailableBytes: 3000000 << 10, HasPressure: true,
		SomeAvg10: 5.34, FullAvg10: 0.72, SomeTotal: 292818073 * time.Microsecond, FullTotal: 98792943 * time.Microsecond}
	if *node != want {
		t.Errorf("node sample %+v, want %+v", *node, want)
	}

	// Without PSI (psi=0 on the kernel command line) the node's memory is
	// still sampled; without /proc/meminfo the node is not.
	os.Remove(f.psi)
	if _, node := samples(t, f.sampler(0)); node == nil || node.HasPressure || node.MemTotalBytes != want.MemTotalBytes {
		t.Errorf("node sample without PSI: %+v", node)
	}
	f.write(f.meminfo, "MemTotal: 5 kB\n")
	if _, node := samples(t, f.sampler(0)); node != nil {
		t.Errorf("node sample from a meminfo without MemAvailable: %+v", node)
	}
}

func TestCgroupV1(t *testing.T) {
	f := newFakeTree(t, 1)
	limited := f.cgroup("/load/a", v1Files(31<<20, 32<<20))
	unlimited := f.cgroup("/load/b", v1Files(5<<20, 9223372036854771712))
	s := f.sampler(0)
	s.Write(reclaimIn(limited))
	kill := &event.Event{Kind: event.KindOOMKill}
	kill.OOMKill.Victim.Cgroup = unlimited
	kill.OOMKill.OOMCgroup = limited
	s.Write(kill)
	byPath, node := samples(t, s)
	if node == nil || len(byPath) != 2 {
		t.Fatalf("samples %v, node %v", byPath, node)
	}
	if got, want := byPath["/load/a"], (event.Sample{Cgroup: limited}); got.Cgroup.ID != want.Cgroup.ID ||
		got.Cgroup.UsageBytes != 31<<20 || got.Cgroup.LimitBytes != 32<<20 || got.HasHigh || got.HasPressure {
		t.Errorf("/load/a: %+v", got)
	}
	if got := byPath["/load/b"]; got.Cgroup.UsageBytes != 5<<20 || got.Cgroup.LimitBytes != event.NoLimit {
		t.Errorf("/load/b: %+v", got)
	}
	// Values are read afresh each round.
	f.write(filepath.Join(f.h.Mountpoint, "load/a/memory.usage_in_bytes"), "33554432\n")
	if byPath, _ := samples(t, s); byPath["/load/a"].Cgroup.UsageBytes != 32<<20 {
		t.Errorf("second round: %+v", byPath["/load/a"])
	}
}

func TestCgroupV2(t *testing.T) {
	f := newFakeTree(t, 2)
	high := f.cgroup("/pod", map[string]string{"memory.current": "1000\n", "memory.max": "max\n", "memory.high": "800\n", "memory.pressure": psi})
	plain := f.cgroup("/pod/ctr", map[string]string{"memory.current": "900\n", "memory.max": "2048\n", "memory.high": "max\n"})
	// The root of a v2 hierarchy has no memory.current: the node's sample
	// covers it.
	root := f.cgroup("/", map[string]string{"memory.pressure": psi})
	s := f.sampler(0)
	for _, c := range []event.Cgroup{high, plain, root} {
		s.Write(reclaimIn(c))
	}
	byPath, _ := samples(t, s)
	if len(byPath) != 2 {
		t.Fatalf("samples %v", byPath)
	}
	if got := byPath["/pod"]; got.Cgroup.UsageBytes != 1000 || got.Cgroup.LimitBytes != event.NoLimit || !got.HasHigh || got.HighBytes != 800 ||
		!got.HasPressure || got.SomeAvg10 != 5.34 || got.FullTotal != 98792943*time.Microsecond {
		t.Errorf("/pod: %+v", got)
	}
	if got := byPath["/pod/ctr"]; got.Cgroup.UsageBytes != 900 || got.Cgroup.LimitBytes != 2048 || got.HasHigh || got.HasPressure {
		t.Errorf("/pod/ctr: %+v", got)
	}
}

// Only what the event path names with its id and whole path is sampled:
// not a newer cgroup at the path, not a truncated path, not a cgroup that
// does not exist.
func TestWhatIsNotSampled(t *testing.T) {
	f := newFakeTree(t, 1)
	c := f.cgroup("/a", v1Files(1, 2))
	s := f.sampler(0)
	newer := c
	newer.ID++ // the event's cgroup, since replaced by another at the same path
	truncated := f.cgroup("/b", v1Files(1, 2))
	truncated.Truncated = true
	for _, c := range []event.Cgroup{newer, truncated, {Path: "/gone", ID: 77}, {}} {
		s.Write(reclaimIn(c))
	}
	if byPath, _ := samples(t, s); len(byPath) != 0 {
		t.Errorf("sampled %v", byPath)
	}
	// Their slots were freed: the cap still lets one in.
	s2 := f.sampler(1)
	s2.Write(reclaimIn(event.Cgroup{Path: "/gone", ID: 77}))
	samples(t, s2)
	s2.Write(reclaimIn(c))
	if byPath, _ := samples(t, s2); len(byPath) != 1 {
		t.Errorf("after a cgroup that was gone, sampled %v", byPath)
	}
}

// Past the cap, cgroups are not sampled and counted; each cgroup is
// sampled once however often events name it.
func TestCap(t *testing.T) {
	f := newFakeTree(t, 1)
	s := f.sampler(3)
	for i := range 5 {
		c := f.cgroup(fmt.Sprintf("/c%d", i), v1Files(uint64(i), 100))
		for range 10 {
			s.Write(reclaimIn(c))
		}
	}
	byPath, _ := samples(t, s)
	if len(byPath) != 3 || byPath["/c0"].Cgroup.ID == 0 || byPath["/c2"].Cgroup.ID == 0 {
		t.Errorf("sampled %v, want /c0 to /c2", byPath)
	}
	if n := s.Skipped(); n != 20 {
		t.Errorf("skipped %d times, want 20", n)
	}
}

// A watched path is sampled whenever a cgroup is there: also one created
// after sampling started, and it takes a slot of its own.
func TestWatch(t *testing.T) {
	f := newFakeTree(t, 1)
	s := f.sampler(2)
	if err := s.Watch("/later"); err != nil {
		t.Fatal(err)
	}
	if byPath, _ := samples(t, s); len(byPath) != 0 {
		t.Errorf("sampled %v before the cgroup exists", byPath)
	}
	c := f.cgroup("/later", v1Files(7, 8))
	s.Write(reclaimIn(c)) // the same cgroup, also named by an event
	byPath, _ := samples(t, s)
	if got := byPath["/later"]; len(byPath) != 1 || got.Cgroup.UsageBytes != 7 || got.Cgroup.ID != c.ID {
		t.Errorf("sampled %v", byPath)
	}
	other := f.cgroup("/other", v1Files(1, 2))
	s.Write(reclaimIn(other))
	if byPath, _ := samples(t, s); len(byPath) != 2 {
		t.Errorf("sampled %v, want /later and /other", byPath)
	}
	for _, bad := range []string{"", "relative", "/a/../b", "/a/"} {
		if err := s.Watch(bad); err == nil {
			t.Errorf("Watch(%q) accepted", bad)
		}
	}
	if err := s.Watch("/third"); err == nil {
		t.Error("Watch past the cap accepted")
	}
}

// A round on cgroup v1 allocates nothing (v2's pressure files are parsed by
// memstate, which allocates a little).
func TestSampleDoesNotAllocate(t *testing.T) {
	f := newFakeTree(t, 1)
	os.Remove(f.psi)
	s := f.sampler(0)
	for i := range 16 {
		s.Write(reclaimIn(f.cgroup(fmt.Sprintf("/c%d", i), v1Files(uint64(i)<<20, 64<<20))))
	}
	buf := s.Sample(nil)
	if len(buf) != 17 {
		t.Fatalf("%d samples, want 17", len(buf))
	}
	if allocs := testing.AllocsPerRun(100, func() { buf = s.Sample(buf[:0]) }); allocs != 0 {
		t.Errorf("%v allocations per round", allocs)
	}
}

// BenchmarkSample is one round over 64 cgroups of plain files (the cost of
// the reader itself; real cgroup files are measured in real_test.go).
func BenchmarkSample(b *testing.B) {
	for _, version := range []int{1, 2} {
		b.Run(fmt.Sprintf("v%d-64", version), func(b *testing.B) {
			f := newFakeTree(b, version)
			s := f.sampler(64)
			for i := range 64 {
				files := v1Files(uint64(i)<<20, 64<<20)
				if version == 2 {
					files = map[string]string{"memory.current": "1000\n", "memory.max": "max\n", "memory.high": "800\n", "memory.pressure": psi}
				}
				s.Write(reclaimIn(f.cgroup(fmt.Sprintf("/c%d", i), files)))
			}
			benchmarkRounds(b, s, 65)
		})
	}
}

// benchmarkRounds times rounds of s, each of want samples, and reports the
// cost per sample too.
func benchmarkRounds(b *testing.B, s *Sampler, want int) {
	buf := s.Sample(nil)
	if len(buf) != want {
		b.Fatalf("%d samples, want %d", len(buf), want)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf = s.Sample(buf[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/sample")
}
