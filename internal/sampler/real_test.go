package sampler_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memcg/memcgtest"
	"github.com/oomtrace/oomtrace/internal/sampler"
)

func TestMain(m *testing.M) {
	memcg.HogMain()
	os.Exit(m.Run())
}

// create makes a cgroup for the test and returns it as events name it.
func create(t testing.TB, h memcg.Hierarchy, rel string, limit int64) (*memcg.Group, event.Cgroup) {
	t.Helper()
	g := memcgtest.Create(t, h, rel, limit)
	return g, event.Cgroup{Path: g.Path(), ID: memcgtest.ID(t, h, g)}
}

func newSampler(t testing.TB, h memcg.Hierarchy, max int) *sampler.Sampler {
	s := sampler.New(sampler.Config{Hierarchy: h, MaxCgroups: max, Clock: func() (time.Time, uint64) {
		return time.Now(), uint64(time.Now().UnixNano())
	}})
	t.Cleanup(s.Close)
	return s
}

func observe(s *sampler.Sampler, c event.Cgroup) {
	s.Write(&event.Event{Kind: event.KindReclaim, Reclaim: event.Reclaim{Cgroup: c}})
}

func byPath(events []event.Event) (map[string]event.Sample, int) {
	m := map[string]event.Sample{}
	nodes := 0
	for _, ev := range events {
		if ev.Sample.IsNode() {
			nodes++
		} else {
			m[ev.Sample.Cgroup.Path] = ev.Sample
		}
	}
	return m, nodes
}

const mib = 1 << 20

// Real cgroup files: usage and limit as the kernel keeps them, a removed
// cgroup left out without an error and its slot given to the next one.
func TestRealCgroups(t *testing.T) {
	h := memcgtest.Require(t)
	busyGroup, busy := create(t, h, memcg.UniqueName("oomtrace-sampler"), 32*mib)
	idleGroup, idle := create(t, h, memcg.UniqueName("oomtrace-sampler"), 16*mib)
	hog, err := memcg.StartHog(busyGroup, 8, memcg.HogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		hog.Process.Kill()
		hog.Wait()
	}()
	s := newSampler(t, h, 2)
	observe(s, busy)
	observe(s, idle)

	// The hog touches its 8 MiB soon after it starts.
	deadline := time.Now().Add(10 * time.Second)
	var got map[string]event.Sample
	for {
		var nodes int
		got, nodes = byPath(s.Sample(nil))
		if nodes != 1 || len(got) != 2 {
			t.Fatalf("%d node samples and cgroups %v", nodes, got)
		}
		if got[busy.Path].Cgroup.UsageBytes >= 8*mib || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b := got[busy.Path]; b.Cgroup.UsageBytes < 8*mib || b.Cgroup.UsageBytes > 32*mib || b.Cgroup.LimitBytes != 32*mib || b.Cgroup.ID != busy.ID {
		t.Errorf("busy cgroup: %+v", b)
	}
	if i := got[idle.Path]; i.Cgroup.UsageBytes > mib || i.Cgroup.LimitBytes != 16*mib {
		t.Errorf("idle cgroup: %+v", i)
	}
	if h.Version == 2 && !got[busy.Path].HasPressure {
		t.Errorf("no memory.pressure on cgroup v2: %+v", got[busy.Path])
	}

	if err := idleGroup.Remove(); err != nil {
		t.Fatal(err)
	}
	if got, _ = byPath(s.Sample(nil)); len(got) != 1 || got[busy.Path].Cgroup.ID != busy.ID {
		t.Errorf("after removing %s: %v", idle.Path, got)
	}
	_, next := create(t, h, memcg.UniqueName("oomtrace-sampler"), 16*mib)
	observe(s, next)
	observe(s, idle) // events may still name the removed one
	if got, _ = byPath(s.Sample(nil)); len(got) != 2 || got[next.Path].Cgroup.LimitBytes != 16*mib {
		t.Errorf("the freed slot: %v", got)
	}
	if s.Skipped() != 0 {
		t.Errorf("skipped %d", s.Skipped())
	}
}

// BenchmarkSampleReal is one round over 64 real memory cgroups and the
// node: what oomtrace record pays each --sample-interval at its cap.
func BenchmarkSampleReal(b *testing.B) {
	h := memcgtest.Require(b)
	parent := memcg.UniqueName("oomtrace-sampler-bench")
	s := newSampler(b, h, sampler.DefaultMaxCgroups)
	for i := range sampler.DefaultMaxCgroups {
		_, c := create(b, h, fmt.Sprintf("%s/c%d", parent, i), 64*mib)
		observe(s, c)
	}
	buf := s.Sample(nil)
	if len(buf) != sampler.DefaultMaxCgroups+1 {
		b.Fatalf("%d samples", len(buf))
	}
	b.ReportAllocs()
	for b.Loop() {
		buf = s.Sample(buf[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(buf)), "ns/sample")
}
