package event

// Missing names values of an event that its source did not see, which are
// then absent from the output rather than zero. The tracer sees them all;
// a kernel log shows no process id of the victim's process in some forms,
// no time since boot in others, and nothing of the allocating task when the
// report's header was rate-limited away.
type Missing uint16

const (
	MissingKtime          Missing = 1 << iota // KtimeNS: the log shows no time since boot
	MissingCPU                                // CPU
	MissingTask                               // Task: no task is named at all
	MissingTGID                               // Task.TGID: the thread is named, not its process
	MissingVictimTGID                         // OOMKill.Victim.TGID
	MissingVictimAdj                          // OOMKill.Victim.OOMScoreAdj (kernels before 5.10)
	MissingVictimShmem                        // OOMKill.Victim.RSSShmemKB (before 4.6)
	MissingVictimPgtables                     // OOMKill.Victim.PgtablesKB (before 5.10)
	MissingTrigger                            // OOMKill.Trigger
	MissingTriggerTGID                        // OOMKill.Trigger.TGID
	MissingCgroupIDs                          // Cgroup.ID of every cgroup: a log names cgroups by path
)

// MissingHeader are the values of an event's header a source may not see.
const MissingHeader = MissingKtime | MissingCPU | MissingTask | MissingTGID

// MayMissHeader reports whether events of kind k can lack values of their
// header: the kinds read from logs.
func MayMissHeader(k Kind) bool { return k == KindOOMKill || k == KindEviction }

// Canonical is m without what other values in it already say: a process
// id is missing whenever its task is.
func (m Missing) Canonical() Missing {
	if m&MissingTask != 0 {
		m &^= MissingTGID
	}
	if m&MissingTrigger != 0 {
		m &^= MissingTriggerTGID
	}
	return m
}

// Lacks reports whether any of values is missing.
func (m Missing) Lacks(values Missing) bool { return m&values != 0 }

// MaxOrder bounds the allocation orders of the free lists a report shows
// (the kernel's MAX_ORDER was 11 for years, NR_PAGE_ORDERS is 11 on x86-64
// today; some configurations have more).
const MaxOrder = 16

// ReportedTasks is how many of the largest tasks of a report's task table
// a kill keeps.
const ReportedTasks = 5

// KernelReport is what the kernel's OOM report in its log says beyond the
// "Killed process" line: where the memory was when the OOM killer ran.
// Only kills read from the kernel log carry one. Sizes are in bytes.
type KernelReport struct {
	// The node's memory (the report's Mem-Info block), printed for every
	// OOM but a memcg one.
	HasNode bool
	// AnonBytes, FileBytes: active plus inactive anonymous and file
	// pages. ShmemBytes is part of them (as shmem counts in both on some
	// kernels); SlabReclaimable and SlabUnreclaimable are kernel memory.
	AnonBytes, FileBytes, ShmemBytes         uint64
	SlabReclaimableBytes, SlabUnreclaimBytes uint64
	FreeBytes                                uint64
	// MinFreeBytes is the sum of the zones' min watermarks: free memory
	// under it is kept for the kernel's own use.
	MinFreeBytes uint64
	// Swap: "Free swap" and "Total swap".
	HasSwap                       bool
	SwapFreeBytes, SwapTotalBytes uint64
	// FreeByOrder is the free memory in blocks of 4 KiB << order, summed
	// over the zones (the report's free lists). HasFreeLists says the
	// lists hold a free block: lists printed all empty say no more than
	// FreeBytes does, and output, which writes no empty histogram, could
	// not carry them.
	HasFreeLists bool
	FreeByOrder  [MaxOrder]uint64

	// The OOM cgroup's statistics ("Memory cgroup stats for ..."), printed
	// for a memcg OOM: anonymous, page cache, kernel and shared memory.
	HasMemcg                                                          bool
	MemcgAnonBytes, MemcgFileBytes, MemcgKernelBytes, MemcgShmemBytes uint64
	// HasMemcgSwap: the memory+swap (v1) or swap (v2) usage and limit.
	HasMemcgSwap                             bool
	MemcgSwapUsageBytes, MemcgSwapLimitBytes uint64

	// Tasks are the largest tasks of the report's task table by resident
	// memory, largest first; TaskCount is how many rows the table had.
	Tasks     [ReportedTasks]ReportedTask
	NumTasks  int
	TaskCount int
}

// ReportedTask is one row of a report's task table.
type ReportedTask struct {
	PID, TGID   uint32
	UID         uint32
	Comm        string
	RSSBytes    uint64
	SwapBytes   uint64
	OOMScoreAdj int16
}

// Has reports whether the report holds anything.
func (r *KernelReport) Has() bool { return r.HasNode || r.HasMemcg || r.NumTasks > 0 }
