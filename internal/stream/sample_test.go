package stream

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/sampler"
)

// lockedSink collects events for a test that looks while the run goes on.
type lockedSink struct {
	mu     sync.Mutex
	events []event.Event
}

func (s *lockedSink) Write(ev *event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, *ev)
	return nil
}

func (s *lockedSink) snapshot() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

// A run samples the node from the start, and a cgroup from the first event
// that names it as reclaiming; the last events are the final round.
func TestRunSamples(t *testing.T) {
	dir := t.TempDir()
	h := memcg.Hierarchy{Version: 1, Mountpoint: filepath.Join(dir, "memory"), Root: "/"}
	cgDir := filepath.Join(h.Mountpoint, "t")
	for name, contents := range map[string]string{
		filepath.Join(dir, "meminfo"):                 "MemTotal: 1000 kB\nMemAvailable: 400 kB\n",
		filepath.Join(cgDir, "memory.usage_in_bytes"): "5000\n",
		filepath.Join(cgDir, "memory.limit_in_bytes"): "8192\n",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(contents), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(cgDir)
	if err != nil {
		t.Fatal(err)
	}
	cgroup := event.Cgroup{Path: "/t", ID: fi.Sys().(*syscall.Stat_t).Ino}
	smp := sampler.New(sampler.Config{Hierarchy: h, MemInfo: filepath.Join(dir, "meminfo"), NodePressure: filepath.Join(dir, "none"),
		Clock: func() (time.Time, uint64) { return time.Now(), BootNanos() }})
	defer smp.Close()
	decode := func(raw []byte, ev *event.Event) error {
		*ev = event.Event{Kind: event.KindReclaim, KtimeNS: BootNanos(), Task: event.Task{PID: 9, TGID: 9, Comm: "app"}}
		ev.Reclaim = event.Reclaim{Kind: event.ReclaimMemcg, Duration: time.Millisecond, Cgroup: cgroup}
		return nil
	}

	src := newFakeSource()
	sink := &lockedSink{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, src, decode, output{pipe: pipeline.Of(nil, sink, smp), sampler: smp}, Options{
			Sampling: &Sampling{Interval: 10 * time.Millisecond},
			OnReady:  func(event.Mode) error { close(ready); return nil },
		}, discard(), nil)
		done <- err
	}()
	<-ready
	src.records <- []byte{0}
	sampledCgroup := func() bool {
		for _, ev := range sink.snapshot() {
			if ev.Kind == event.KindSample && ev.Sample.Cgroup.ID == cgroup.ID {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !sampledCgroup(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cgroup of a reclaim event was never sampled")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	events := sink.snapshot()
	reclaimAt, nodeSamples := -1, 0
	for i, ev := range events {
		if ev.Kind == event.KindReclaim {
			reclaimAt = i
		}
		if ev.Kind != event.KindSample {
			continue
		}
		if ev.Sample.IsNode() {
			nodeSamples++
			if ev.Sample.MemTotalBytes != 1000<<10 || ev.Sample.MemAvailableBytes != 400<<10 || ev.Sample.HasPressure {
				t.Errorf("node sample %+v", ev.Sample)
			}
		}
		if ev.Task.Comm != "oomtrace" || ev.Task.TGID != uint32(os.Getpid()) {
			t.Errorf("sample from task %+v", ev.Task)
		}
		if !ev.Sample.IsNode() && reclaimAt < 0 {
			t.Errorf("cgroup sampled before any event named it: %+v", ev)
		}
		if !ev.Sample.IsNode() && (ev.Sample.Cgroup.UsageBytes != 5000 || ev.Sample.Cgroup.LimitBytes != 8192 || ev.Sample.Cgroup.Path != "/t") {
			t.Errorf("cgroup sample %+v", ev.Sample)
		}
	}
	// A round when sampling starts, one at the stop, and more between.
	if nodeSamples < 2 {
		t.Errorf("%d samples of the node", nodeSamples)
	}
	last := events[len(events)-2:]
	if !last[0].Sample.IsNode() || last[0].Kind != event.KindSample || last[1].Kind != event.KindSample || last[1].Sample.Cgroup.ID != cgroup.ID {
		t.Errorf("last events %+v, want a final round of samples", last)
	}
}
