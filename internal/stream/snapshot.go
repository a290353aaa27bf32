package stream

import (
	"context"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

// snapshotWait bounds the read of one snapshot: a cgroup being removed can
// hold a read up in the kernel. Nothing else waits for it, so it can be
// generous: in a guest of two emulated CPUs, reads took longer than 200 ms.
const snapshotWait = 2 * time.Second

// snapshots reads the OOM cgroup of every kill happening now, after the
// kill's line is written: it is a sink of the pipeline, the last of them,
// that holds each kill it is given until the pipeline flushes its sinks,
// which it does at once for a kill, and starts the read when its turn to
// flush comes, after the lines went out; and it is a source of oom_snapshot
// events, each handed to the pipeline from a goroutine of its own. The
// kill's line waits for no file, nor for the read's goroutine: on a host
// whose CPUs were taken, the thread the runtime woke for it took the CPU,
// and the snapshot's file reads often ran before the line's write(2).
type snapshots struct {
	// read reads the state of a kill's OOM cgroup.
	read func(oom *event.Cgroup) event.Snapshot
	pipe *pipeline.Pipeline // set once the pipeline is made

	// held are the kills written since the last flush, whose reads are
	// still to start; used under the pipeline's lock on its sinks.
	held    []*event.Event
	pending sync.WaitGroup
	failed  chan error // the first error handing a snapshot over
	self    event.Task
}

func newSnapshots(h memcg.Hierarchy, self event.Task) *snapshots {
	r := memstate.NewReader(h.Version, memstate.NodePressurePath)
	return &snapshots{
		read:   func(oom *event.Cgroup) event.Snapshot { return take(r, h, oom) },
		failed: make(chan error, 1),
		self:   self,
	}
}

// Write holds a kill happening now until Flush starts its snapshot.
func (s *snapshots) Write(ev *event.Event) error {
	if ev.Kind != event.KindOOMKill || ev.Restored || ev.OOMKill.Replayed {
		return nil
	}
	kill := *ev // the caller reuses ev
	kill.OOMKill.Stack = nil
	s.held = append(s.held, &kill)
	return nil
}

// Flush starts the snapshots of the kills held.
func (s *snapshots) Flush() error {
	for _, kill := range s.held {
		s.start(kill)
	}
	clear(s.held) // the kills are not kept past their reads
	s.held = s.held[:0]
	return nil
}

// start reads the snapshot of kill in a goroutine of its own and hands it
// to the pipeline.
func (s *snapshots) start(kill *event.Event) {
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		snap := s.read(&kill.OOMKill.OOMCgroup)
		out := event.Event{Kind: event.KindOOMSnapshot, Time: time.Now(), KtimeNS: BootNanos(), Task: s.self,
			OOMSnapshot: event.SnapshotAfter(kill, snap)}
		if err := s.pipe.Process(&out); err != nil {
			select {
			case s.failed <- err:
			default:
			}
		}
	}()
}

// take reads the state of the OOM cgroup in h with r, or only the node's
// pressure when there is no OOM cgroup (any OOM but a memcg one).
func take(r *memstate.Reader, h memcg.Hierarchy, oom *event.Cgroup) event.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), snapshotWait)
	defer cancel()
	if !oom.Valid() {
		return r.Read(ctx, "", 0)
	}
	dir, err := h.Dir(oom.Path)
	if err != nil {
		return r.Read(ctx, "", 0)
	}
	return r.Read(ctx, dir, oom.ID)
}

// wait returns once every snapshot started has been handed over.
func (s *snapshots) wait() { s.pending.Wait() }
