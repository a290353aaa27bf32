package verdict

import (
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// largestShown is how many of a report's largest tasks a verdict names.
const largestShown = 3

// reportedNode says where the node's memory was, from the kernel's report
// in its log: "node: anon 7.0 GiB, page cache 40 MiB, shmem 1.0 MiB,
// unreclaimable slab 200 MiB, free 120 MiB (min 60 MiB), no swap; largest
// tasks "postgres" (pid 1200) 3.0 GiB, ...". "" without a report.
func reportedNode(r *event.KernelReport) string {
	var parts []string
	if r.HasNode {
		s := "node: anon " + bytes(r.AnonBytes) + ", page cache " + bytes(r.FileBytes) +
			", shmem " + bytes(r.ShmemBytes) + ", unreclaimable slab " + bytes(r.SlabUnreclaimBytes) +
			", free " + bytes(r.FreeBytes)
		if r.MinFreeBytes > 0 {
			s += " (min watermark " + bytes(r.MinFreeBytes) + ")"
		}
		switch {
		case r.HasSwap && r.SwapTotalBytes == 0:
			s += ", no swap"
		case r.HasSwap:
			s += ", swap " + bytes(r.SwapTotalBytes-min(r.SwapFreeBytes, r.SwapTotalBytes)) + " used of " + bytes(r.SwapTotalBytes)
		}
		parts = append(parts, s)
	}
	if t := largestTasks(r); t != "" {
		parts = append(parts, t)
	}
	return strings.Join(parts, "; ")
}

// largestTasks names the largest tasks of the report's task table.
func largestTasks(r *event.KernelReport) string {
	if r.NumTasks == 0 {
		return ""
	}
	var tasks []string
	for _, t := range r.Tasks[:min(r.NumTasks, largestShown)] {
		tasks = append(tasks, process(event.Task{PID: t.PID, TGID: t.TGID, Comm: t.Comm})+" "+bytes(t.RSSBytes))
	}
	s := "largest tasks " + strings.Join(tasks, ", ")
	if r.TaskCount > 0 {
		s += " (of " + strconv.Itoa(r.TaskCount) + ")"
	}
	return s
}

// reportedMemcg says where the OOM cgroup's memory was, from the
// statistics the kernel printed at the kill: "in the cgroup: anon 31 MiB,
// page cache 1.2 MiB, kernel 2.0 MiB, shmem 0 KiB". Kernel memory and
// shmem count toward the limit like anon does: what "killed although below
// my limit" usually comes down to.
func reportedMemcg(r *event.KernelReport) string {
	if !r.HasMemcg {
		return ""
	}
	return "in the cgroup at the kill: anon " + bytes(r.MemcgAnonBytes) + ", page cache " + bytes(r.MemcgFileBytes) +
		", kernel " + bytes(r.MemcgKernelBytes) + ", shmem " + bytes(r.MemcgShmemBytes)
}

// hugePage is the largest charge a memory cgroup takes at once.
const hugePage = 2 << 20

// swapLimit explains a kill whose memory was below the memory limit of
// oom, the OOM cgroup, when memory+swap (cgroup v1) or swap (v2) was at its
// own: "memory+swap reached its limit of 64 MiB while memory alone was
// 20 MiB of 32 MiB".
func swapLimit(r *event.KernelReport, oom *event.Cgroup) string {
	if !r.HasMemcgSwap || r.MemcgSwapLimitBytes == event.NoLimit || r.MemcgSwapLimitBytes == 0 ||
		r.MemcgSwapUsageBytes+hugePage < r.MemcgSwapLimitBytes || oom.AtLimit() || oom.LimitBytes == 0 {
		return ""
	}
	return "memory+swap reached its limit of " + bytes(r.MemcgSwapLimitBytes) + " while memory alone was " +
		bytes(oom.UsageBytes) + " of " + bytes(oom.LimitBytes)
}

// fragmentation says when the allocation that failed needed contiguous
// memory: "an order-3 allocation (32 KiB contiguous): 120 MiB was free,
// only 12 MiB of it in blocks that large", from the report r where it has
// the free lists. Free memory in smaller blocks is no use to it: the OOM
// can come with plenty free. hasGFP says the order is known.
func fragmentation(hasGFP bool, order int32, r *event.KernelReport) string {
	if !hasGFP || order <= 0 {
		return ""
	}
	s := "an order-" + strconv.Itoa(int(order)) + " allocation (" + bytes(4096<<order) + " contiguous)"
	if !r.HasFreeLists || int(order) >= len(r.FreeByOrder) {
		return s
	}
	var free, large uint64
	for o, n := range r.FreeByOrder {
		free += n
		if o >= int(order) {
			large += n
		}
	}
	return s + ": " + bytes(free) + " was free, " + bytes(large) + " of it in blocks that large"
}

// ExplainReport says what the kernel's report of a kill, read from its log
// right after the kill, tells about it: for a memcg OOM where the OOM
// cgroup's memory was and its largest tasks, for any other where the
// node's was; and whether the allocation needed contiguous memory. For
// example:
//
//	the kernel's report of the kill of "java" (pid 4242): in the cgroup at the kill: anon 470 MiB, page cache 30 MiB, kernel 12 MiB, shmem 1.0 MiB; largest tasks "java" (pid 4242) 480 MiB (of 3)
func ExplainReport(ev *event.Event) string {
	if ev == nil || ev.Kind != event.KindOOMReport {
		return ""
	}
	o := &ev.OOMReport
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if o.Class == event.ClassMemcg {
		add(swapLimit(&o.Report, &o.OOMCgroup))
		add(reportedMemcg(&o.Report))
		add(largestTasks(&o.Report))
	} else {
		add(reportedNode(&o.Report))
	}
	add(fragmentation(o.HasGFP, o.Order, &o.Report))
	if len(parts) == 0 {
		return ""
	}
	return "the kernel's report of the kill of " + process(o.Victim) + ": " + strings.Join(parts, "; ")
}
