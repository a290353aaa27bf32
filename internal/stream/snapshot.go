package stream

import (
	"context"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

// snapshotWait bounds the read of one snapshot: a cgroup being removed can
// hold a read up in the kernel. Nothing else waits for it, so it can be
// generous: in a guest of two emulated CPUs, reads took longer than 200 ms.
const snapshotWait = 2 * time.Second

// snapshotAfter returns the followUp that reads a kill's OOM cgroup in h,
// with read, and makes the oom_snapshot event of oomtrace, self.
func snapshotAfter(read func(oom *event.Cgroup) event.Snapshot, self event.Task) followUp {
	return func(kill *event.Event) (event.Event, bool) {
		snap := read(&kill.OOMKill.OOMCgroup)
		return event.Event{Kind: event.KindOOMSnapshot, Time: time.Now(), KtimeNS: BootNanos(), Task: self,
			OOMSnapshot: event.SnapshotAfter(kill, snap)}, true
	}
}

// snapshotReader reads the state of a kill's OOM cgroup in h.
func snapshotReader(h memcg.Hierarchy) func(oom *event.Cgroup) event.Snapshot {
	r := memstate.NewReader(h.Version, memstate.NodePressurePath)
	return func(oom *event.Cgroup) event.Snapshot { return take(r, h, oom) }
}

// take reads the state of the OOM cgroup in h with r, or only the node's
// pressure when there is no OOM cgroup (any OOM but a memcg one).
func take(r *memstate.Reader, h memcg.Hierarchy, oom *event.Cgroup) event.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), snapshotWait)
	defer cancel()
	if !oom.Valid() {
		return r.Read(ctx, "", 0)
	}
	if oom.Truncated {
		// The directory at a cut path is another cgroup's, or none: the
		// cgroup was not removed, its files cannot be found.
		return event.Snapshot{Status: event.SnapshotFailed, Version: h.Version,
			Reason: "its path was not captured whole (deeper than 16 levels, or longer than oomtrace keeps), so its files cannot be found"}
	}
	dir, err := h.Dir(oom.Path)
	if err != nil {
		return r.Read(ctx, "", 0)
	}
	return r.Read(ctx, dir, oom.ID)
}
