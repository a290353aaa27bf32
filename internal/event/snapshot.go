package event

import "strconv"

// SnapshotStatus says whether a snapshot could be taken.
type SnapshotStatus uint8

const (
	SnapshotOK       SnapshotStatus = iota
	SnapshotRemoved                 // the cgroup is gone (or its path now names a newer cgroup)
	SnapshotTimedOut                // the files were not read before the deadline
	SnapshotFailed                  // another error; Snapshot.Reason says which
)

var snapshotStatusNames = [...]string{
	SnapshotOK:       "ok",
	SnapshotRemoved:  "cgroup removed",
	SnapshotTimedOut: "timed out",
	SnapshotFailed:   "failed",
}

func (s SnapshotStatus) String() string {
	if int(s) < len(snapshotStatusNames) {
		return snapshotStatusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// SnapshotField names one value of a Snapshot, for Snapshot.Has.
type SnapshotField uint32

const (
	// memory.events (v2)
	SnapEventsLow SnapshotField = 1 << iota
	SnapEventsHigh
	SnapEventsMax
	SnapEventsOOM
	SnapEventsOOMKill // also v1, from memory.oom_control
	SnapEventsOOMGroupKill
	// v1
	SnapFailcnt
	SnapUnderOOM
	SnapOOMKillDisable
	// memory.stat
	SnapAnon
	SnapFile
	SnapKernel
	SnapSlab
	SnapShmem
	SnapWorkingsetRefaultAnon
	SnapWorkingsetRefaultFile
	// limits and swap
	SnapHigh
	SnapSwapLimit
	SnapSwap
	// pressure
	SnapPressure
	SnapNodePressure
)

// Snapshot is a cgroup's memory state as read from user space. Which values
// were read depends on the cgroup version and the kernel: Has says.
type Snapshot struct {
	Status SnapshotStatus
	Reason string // why, when Status is SnapshotFailed
	// Version is the cgroup version the values come from (1 or 2).
	Version int
	Fields  SnapshotField // which values below were read: see Has

	// Counts from memory.events (v2; hierarchical unless the hierarchy is
	// mounted with memory_localevents): times the cgroup went over
	// memory.low, memory.high and memory.max, OOMs, tasks OOM-killed, and
	// memory.oom.group kills. On v1 EventsOOMKill is memory.oom_control's
	// oom_kill, which counts only tasks whose own cgroup this is.
	EventsLow, EventsHigh, EventsMax, EventsOOM, EventsOOMKill, EventsOOMGroupKill uint64
	// Failcnt is v1's memory.failcnt: times a charge hit the memory limit.
	// A charge refused by the memory+swap limit first is not counted (on
	// 6.18 in neither memory.failcnt nor memory.memsw.failcnt).
	Failcnt uint64
	// UnderOOM and OOMKillDisable are v1's memory.oom_control: the cgroup is
	// in OOM now, and its tasks are paused rather than killed.
	UnderOOM, OOMKillDisable bool

	// Bytes from memory.stat, for the cgroup and its descendants (v1: the
	// total_ lines). File includes Shmem on both versions. Kernel is v1's
	// memory.kmem.usage_in_bytes; v1 has no Slab.
	Anon, File, Kernel, Slab, Shmem uint64
	// Pages refaulted after reclaim evicted them (memory.stat
	// workingset_refault_anon and _file): a sign of thrashing.
	WorkingsetRefaultAnon, WorkingsetRefaultFile uint64

	// HighBytes is memory.high (v2), NoLimit when "max".
	HighBytes uint64
	// SwapLimitBytes is how much swap the cgroup may use: memory.swap.max
	// on v2; on v1 the memory+swap limit less the memory limit (or the
	// memory+swap limit alone when memory has no limit). NoLimit when
	// unlimited.
	SwapLimitBytes uint64
	// SwapBytes is the swap in use: memory.swap.current (v2), memory.stat
	// total_swap (v1).
	SwapBytes uint64

	// Pressure is the cgroup's memory.pressure (v2 only).
	Pressure Pressure
	// NodePressure is the whole node's, from /proc/pressure/memory.
	NodePressure Pressure
}

// Has reports whether the value f was read.
func (s *Snapshot) Has(f SnapshotField) bool { return s.Fields&f != 0 }

// Pressure is a PSI file: the share of time some task, and all tasks at
// once ("full"), stalled waiting for memory.
type Pressure struct {
	Some, Full PressureLine
}

// PressureLine is one line of a PSI file: averages over 10, 60 and 300
// seconds in percent, and the total stall time.
type PressureLine struct {
	Avg10, Avg60, Avg300 float64
	TotalMicros          uint64
}
