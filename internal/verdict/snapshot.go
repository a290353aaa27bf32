package verdict

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// ExplainSnapshot says what the memory state read right after a kill tells
// about it: where the OOM cgroup's memory was and how often it ran out (a
// memcg OOM), or how hard the node was pressed (any other). For example:
//
//	right after the kill of "java" (pid 4242): pod shop/api-7d9 held anon 470 MiB, file 30 MiB, kernel 12 MiB; 3 OOM kills in it so far
func ExplainSnapshot(ev *event.Event) string {
	if ev == nil || ev.Kind != event.KindOOMSnapshot {
		return ""
	}
	o := &ev.OOMSnapshot
	s := &o.Snapshot
	var b strings.Builder
	b.WriteString("right after the kill of ")
	b.WriteString(process(o.Victim))
	b.WriteString(": ")
	where := "the node"
	if o.OOMCgroup.Valid() {
		where = place(o.OOMCgroup.Owner, &o.OOMCgroup)
	}
	switch s.Status {
	case event.SnapshotRemoved:
		return b.String() + where + " was removed before it could be read"
	case event.SnapshotTimedOut:
		return b.String() + where + " could not be read in time"
	case event.SnapshotFailed:
		return b.String() + where + " could not be read: " + s.Reason
	}
	var parts []string
	if o.OOMCgroup.Valid() {
		// The cgroup is named once, then it is "it".
		it, its := where, "the memory pressure of "+where
		if held := memoryHeld(s); held != "" {
			parts = append(parts, where+" held "+held)
			it, its = "it", "its memory pressure"
		}
		switch n, ok := snapshotOOMKills(o); {
		case ok && n == 1:
			parts = append(parts, "the first OOM kill in "+it)
		case ok && n > 1:
			parts = append(parts, strconv.FormatUint(n, 10)+" OOM kills in "+it+" so far")
		}
		if s.Has(event.SnapSwap) && s.SwapBytes > 0 {
			swap := "swap " + bytes(s.SwapBytes)
			if s.Has(event.SnapSwapLimit) && s.SwapLimitBytes != event.NoLimit {
				swap += " of " + bytes(s.SwapLimitBytes)
			}
			parts = append(parts, swap)
		}
		if s.Has(event.SnapPressure) {
			parts = append(parts, its+" "+pressure(s.Pressure))
		}
	}
	// The node's pressure speaks to OOMs of the node; a memcg OOM is the
	// cgroup's own.
	if !o.OOMCgroup.Valid() && s.Has(event.SnapNodePressure) {
		parts = append(parts, "node memory pressure "+pressure(s.NodePressure))
	}
	if len(parts) == 0 {
		return b.String() + "nothing to add from " + where
	}
	b.WriteString(strings.Join(parts, "; "))
	return b.String()
}

// memoryHeld lists the kinds of memory a snapshot read: "anon 31 MiB,
// file 12 KiB (shmem 0 B), kernel 1.2 MiB".
func memoryHeld(s *event.Snapshot) string {
	var kinds []string
	add := func(bit event.SnapshotField, name string, n uint64) {
		if s.Has(bit) {
			kinds = append(kinds, name+" "+bytes(n))
		}
	}
	add(event.SnapAnon, "anon", s.Anon)
	add(event.SnapFile, "file", s.File)
	if s.Has(event.SnapShmem) && s.Shmem > 0 {
		kinds = append(kinds, "of which shmem "+bytes(s.Shmem))
	}
	add(event.SnapKernel, "kernel", s.Kernel)
	return strings.Join(kinds, ", ")
}

// snapshotOOMKills is the OOM cgroup's count of OOM kills, where it counts
// this kill: on v2 always (the count is hierarchical), on v1 only when the
// victim's own cgroup is the OOM cgroup.
func snapshotOOMKills(o *event.OOMSnapshot) (uint64, bool) {
	s := &o.Snapshot
	if s.Status != event.SnapshotOK || !s.Has(event.SnapEventsOOMKill) {
		return 0, false
	}
	if s.Version == 1 && o.OOMCgroup.Path != o.VictimCgroup.Path {
		return 0, false
	}
	return s.EventsOOMKill, true
}

// pressure is "some 80.5% full 35.2% over 10s".
func pressure(p event.Pressure) string {
	return fmt.Sprintf("some %.1f%% full %.1f%% over 10s", p.Some.Avg10, p.Full.Avg10)
}
