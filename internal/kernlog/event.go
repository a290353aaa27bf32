package kernlog

import (
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// pageBytes is the page size the report's page counts are in. The kernel
// prints Mem-Info and the task table in pages; every architecture oomtrace
// runs on (x86-64, arm64 with 4 KiB pages, Debian's kernels) has 4 KiB.
const pageBytes = 4096

// EventOptions says what the caller knows beyond the log.
type EventOptions struct {
	// Boot is the wall-clock time this machine booted, for a log read from
	// its own /dev/kmsg, whose records carry the time since boot only; the
	// zero time for a log of unknown origin.
	Boot time.Time
}

// Events appends to dst one oom_kill event per task the report says the
// OOM killer chose (the victims, or the victim that was already exiting),
// with the facts the log holds and nothing it does not: what a source must
// hand the pipeline, whose classify stage decides the class from them. The
// report's memory state goes with the first victim; memory.oom.group's
// other victims name the group. A task is one kill however often the log
// says it was killed: memory.oom.group kills every task of the group, the
// victim the OOM chose among them, and the kernel logs "Killed process"
// for it again, although the second SIGKILL changes nothing (and
// oom:mark_victim, which the tracer sees, fires once per task).
func (r *Report) Events(dst []event.Event, opts EventOptions) []event.Event {
	base := r.baseEvent(opts)
	if r.Skipped != nil {
		ev := base
		k := &ev.OOMKill
		k.Victim.Task = event.Task{PID: uint32(r.Skipped.PID), TGID: uint32(r.Skipped.PID), Comm: r.Skipped.Comm}
		ev.Missing |= event.MissingVictimTGID | event.MissingVictimAdj
		k.VictimExiting = true
		k.Reason = reasonOf(r.Skipped.Reason)
		r.setTime(&ev, r.Skipped.At, opts)
		r.setVictimCgroup(k, 0)
		r.setReport(&k.Report)
		dst = append(dst, ev)
	}
	for i, v := range r.Victims {
		if r.killedBefore(i) {
			continue
		}
		ev := base
		k := &ev.OOMKill
		r.setTime(&ev, v.At, opts)
		r.setVictim(&ev, i)
		if k.Reason == event.ReasonUnseen {
			k.Reason = reasonOf(v.Reason)
		}
		r.setVictimCgroup(k, i)
		if i == 0 {
			r.setChosenParent(k)
			r.setReport(&k.Report)
		}
		dst = append(dst, ev)
	}
	return dst
}

// LoggedAt is the stamp of the line that reported the kill of the task
// pid, one of the events Events makes of the report: its "Killed process"
// line, or the line saying it was already exiting.
func (r *Report) LoggedAt(pid uint32) Stamp {
	if s := r.Skipped; s != nil && uint32(s.PID) == pid {
		return s.At
	}
	for _, v := range r.Victims {
		if uint32(v.PID) == pid {
			return v.At
		}
	}
	return r.Start
}

// setChosenParent names the process the OOM chose when the kernel killed
// a child of it, the first victim, in its place (before 5.0).
func (r *Report) setChosenParent(k *event.OOMKill) {
	if sel := r.Selected; sel != nil && uint32(sel.PID) != k.Victim.PID {
		k.ChosenParent = event.Task{TGID: uint32(sel.PID), Comm: sel.Comm} // a process: its thread is not named
		k.ChosenScore = sel.Score
	}
}

// killedBefore reports whether the report's i-th victim is one of the
// victims before it.
func (r *Report) killedBefore(i int) bool {
	for _, v := range r.Victims[:i] {
		if v.PID == r.Victims[i].PID {
			return true
		}
	}
	return false
}

// baseEvent is what every kill of the report shares: the allocating task,
// the allocation, the constraint, the OOM cgroup, the group.
func (r *Report) baseEvent(opts EventOptions) event.Event {
	ev := event.Event{Kind: event.KindOOMKill, Missing: event.MissingCgroupIDs}
	k := &ev.OOMKill
	k.Mode = event.ModeKmsg
	if t := r.Trigger; t != nil {
		ev.CPU = uint32(t.CPU)
		ev.Task = event.Task{PID: uint32(t.PID), Comm: t.Comm}
		ev.Missing |= event.MissingTGID | event.MissingTriggerTGID
		k.Trigger = ev.Task
	} else {
		ev.Missing |= event.MissingTask | event.MissingCPU | event.MissingTrigger
	}
	if h := r.Header; h != nil {
		k.HasGFP, k.GFPMask, k.Order = true, uint32(h.GFPMask), int32(h.Order)
	}
	switch {
	case r.Summary != nil:
		k.Constraint = constraintOf(r.Summary.Constraint)
		if r.Summary.OOMMemcg != "" {
			k.OOMCgroup.Path = r.Summary.OOMMemcg
		}
	case r.LimitOf != nil:
		// Printed for memcg OOMs only, before 4.19.
		k.Reason = event.ReasonMemcg
		k.OOMCgroup.Path = r.LimitOf.Limit
	}
	if r.Selected != nil {
		k.Reason = reasonOf(r.Selected.Reason)
	}
	if c, ok := r.counter("memory"); ok && k.OOMCgroup.Valid() {
		k.OOMCgroup.UsageBytes, k.OOMCgroup.LimitBytes = c.UsageKB<<10, limitBytes(c.LimitKB)
	}
	if r.Group.OK {
		k.Group.Path = r.Group.V
	}
	return ev
}

// setTime sets the event's times from the line that reported the kill,
// or else from the report's first line.
func (r *Report) setTime(ev *event.Event, at Stamp, opts EventOptions) {
	mono, wall := at.Mono, at.Wall
	if !mono.OK {
		mono = r.Start.Mono
	}
	if !wall.OK {
		wall = r.Start.Wall
	}
	if mono.OK {
		ev.KtimeNS = uint64(mono.V)
	} else {
		ev.Missing |= event.MissingKtime
	}
	switch {
	case wall.OK:
		ev.Time = wall.V
	case mono.OK && !opts.Boot.IsZero():
		ev.Time = opts.Boot.Add(mono.V)
	case !mono.OK && ev.Kind == event.KindOOMKill:
		ev.OOMKill.LogTime = at.TimeText
		if ev.OOMKill.LogTime == "" {
			ev.OOMKill.LogTime = r.Start.TimeText
		}
	}
}

// setVictim fills in the i-th victim from its "Killed process" line and,
// where the line lacks a value, from its row in the task table.
func (r *Report) setVictim(ev *event.Event, i int) {
	v := &r.Victims[i]
	row, hasRow := r.VictimRow(i)
	k := &ev.OOMKill
	vic := &k.Victim
	vic.Task = event.Task{PID: uint32(v.PID), Comm: v.Comm}
	if hasRow {
		vic.TGID = uint32(row.TGID)
	} else {
		ev.Missing |= event.MissingVictimTGID
	}
	vic.HasMM = true
	vic.TotalVMKB, vic.RSSAnonKB, vic.RSSFileKB = v.TotalVMKB, v.AnonRSSKB, v.FileRSSKB
	switch {
	case v.HasUID:
		vic.UID, vic.HasUID = v.UID, true
	case i == 0 && r.Summary != nil && r.Summary.PID == v.PID:
		vic.UID, vic.HasUID = r.Summary.UID, true
	case hasRow && row.UID >= 0:
		vic.UID, vic.HasUID = uint32(row.UID), true
	}
	switch {
	case v.HasOOMScoreAdj:
		vic.OOMScoreAdj = int16(v.OOMScoreAdj)
	case hasRow:
		vic.OOMScoreAdj = int16(row.OOMScoreAdj)
	default:
		ev.Missing |= event.MissingVictimAdj
	}
	if v.HasShmemRSS {
		vic.RSSShmemKB = v.ShmemRSSKB
	} else {
		ev.Missing |= event.MissingVictimShmem
	}
	switch pgtables, ok := row.Other["pgtables_bytes"]; {
	case v.HasPgtables:
		vic.PgtablesKB = v.PgtablesKB
	case hasRow && ok && pgtables >= 0:
		vic.PgtablesKB = uint64(pgtables) >> 10
	default:
		ev.Missing |= event.MissingVictimPgtables
	}
}

// setVictimCgroup sets the victim's memory cgroup where the report names
// it: the summary's task_memcg of the chosen victim, or the old "Task in X
// killed as a result of limit of Y". memory.oom.group's other victims are
// in the group, their own cgroups unnamed.
func (r *Report) setVictimCgroup(k *event.OOMKill, i int) {
	var path string
	switch {
	case i > 0:
		return
	case r.Summary != nil:
		path = r.Summary.TaskMemcg
	case r.LimitOf != nil:
		path = r.LimitOf.Task
	}
	if path == "" {
		return
	}
	k.Victim.Cgroup.Path = path
	if path == k.OOMCgroup.Path {
		// The same cgroup at the same moment: the OOM cgroup's numbers.
		k.Victim.Cgroup.UsageBytes, k.Victim.Cgroup.LimitBytes = k.OOMCgroup.UsageBytes, k.OOMCgroup.LimitBytes
	}
}

// setReport fills in what the report says of the memory beyond the kill.
func (r *Report) setReport(rep *event.KernelReport) {
	if mi := r.MemInfo; mi != nil && len(mi.Pages) > 0 {
		p := mi.Pages
		rep.HasNode = true
		rep.AnonBytes = (p["active_anon"] + p["inactive_anon"]) * pageBytes
		rep.FileBytes = (p["active_file"] + p["inactive_file"]) * pageBytes
		rep.ShmemBytes = p["shmem"] * pageBytes
		rep.SlabReclaimableBytes = p["slab_reclaimable"] * pageBytes
		rep.SlabUnreclaimBytes = p["slab_unreclaimable"] * pageBytes
		rep.FreeBytes = p["free"] * pageBytes
		for _, z := range mi.Zones {
			if z.MinKB.OK {
				rep.MinFreeBytes += z.MinKB.V << 10
			}
			for _, a := range z.FreeAreas {
				order := orderOf(a.SizeKB)
				if order < 0 || a.Count == 0 {
					continue
				}
				rep.HasFreeLists = true
				rep.FreeByOrder[order] += a.Count * a.SizeKB << 10
			}
		}
		if mi.FreeSwapKB.OK && mi.TotalSwapKB.OK {
			rep.HasSwap, rep.SwapFreeBytes, rep.SwapTotalBytes = true, mi.FreeSwapKB.V<<10, mi.TotalSwapKB.V<<10
		}
	}
	if s := r.MemcgStats; s != nil && len(s.Stats) > 0 {
		rep.HasMemcg = true
		stat := func(names ...string) uint64 {
			for _, n := range names {
				if v, ok := s.Stats[n]; ok {
					return v
				}
			}
			return 0
		}
		// cgroup v2 names first, then v1's hierarchical and local ones.
		rep.MemcgAnonBytes = stat("anon", "total_rss", "rss")
		rep.MemcgFileBytes = stat("file", "total_cache", "cache")
		rep.MemcgShmemBytes = stat("shmem", "total_shmem")
		rep.MemcgKernelBytes = stat("kernel")
		if _, ok := s.Stats["kernel"]; !ok {
			if c, ok := r.counter("kmem"); ok {
				rep.MemcgKernelBytes = c.UsageKB << 10
			} else {
				rep.MemcgKernelBytes = stat("slab") + stat("kernel_stack") + stat("pagetables") + stat("sock") + stat("percpu")
			}
		}
	}
	if c, ok := r.counter("swap"); ok {
		rep.HasMemcgSwap, rep.MemcgSwapUsageBytes, rep.MemcgSwapLimitBytes = true, c.UsageKB<<10, limitBytes(c.LimitKB)
	} else if c, ok := r.counter("memory+swap"); ok {
		rep.HasMemcgSwap, rep.MemcgSwapUsageBytes, rep.MemcgSwapLimitBytes = true, c.UsageKB<<10, limitBytes(c.LimitKB)
	}
	if t := r.Tasks; t != nil {
		rep.TaskCount = t.Count
		rows := slices.Clone(t.Rows)
		slices.SortStableFunc(rows, func(a, b TaskRow) int {
			switch {
			case a.RSS > b.RSS:
				return -1
			case a.RSS < b.RSS:
				return 1
			}
			return 0
		})
		for _, row := range rows[:min(len(rows), len(rep.Tasks))] {
			rep.Tasks[rep.NumTasks] = event.ReportedTask{
				PID: uint32(row.PID), TGID: uint32(row.TGID), UID: uint32(max(row.UID, 0)), Comm: row.Name,
				RSSBytes: row.RSS * pageBytes, SwapBytes: row.Swapents * pageBytes, OOMScoreAdj: int16(row.OOMScoreAdj),
			}
			rep.NumTasks++
		}
	}
}

// counter returns the memcg usage line named name ("memory", "kmem", ...).
func (r *Report) counter(name string) (Counter, bool) {
	for _, c := range r.Counters {
		if c.Name == name {
			return c, true
		}
	}
	return Counter{}, false
}

// limitBytes is a counter's limit in bytes: the kernel prints an unlimited
// one as the page counter's maximum, about 8 EiB.
func limitBytes(kb uint64) uint64 {
	const unlimitedKB = 1 << 52 // far above any memory there is
	if kb >= unlimitedKB {
		return event.NoLimit
	}
	return kb << 10
}

// orderOf is the allocation order of free blocks of sizeKB, -1 for a size
// that is not 4 KiB times a power of two within event.MaxOrder.
func orderOf(sizeKB uint64) int {
	if sizeKB < 4 || sizeKB%4 != 0 || bits.OnesCount64(sizeKB/4) != 1 {
		return -1
	}
	order := bits.TrailingZeros64(sizeKB / 4)
	if order >= event.MaxOrder {
		return -1
	}
	return order
}

// constraintOf maps the summary's constraint to event.Constraint.
func constraintOf(s string) event.Constraint {
	switch s {
	case "CONSTRAINT_NONE":
		return event.ConstraintNone
	case "CONSTRAINT_CPUSET":
		return event.ConstraintCpuset
	case "CONSTRAINT_MEMORY_POLICY":
		return event.ConstraintMemoryPolicy
	case "CONSTRAINT_MEMCG":
		return event.ConstraintMemcg
	}
	return event.ConstraintUnseen
}

// reasonOf maps the words before "Killed process" to event.Reason.
func reasonOf(s string) event.Reason {
	switch {
	case s == ReasonMemcg:
		return event.ReasonMemcg
	case s == ReasonAllocatingTask:
		return event.ReasonAllocatingTask
	case strings.HasPrefix(s, ReasonGlobal):
		return event.ReasonSystem
	}
	return event.ReasonUnseen
}

// Event returns the oom_kill event of this kill, as Report.Events makes it.
func (k Kill) Event(opts EventOptions) event.Event {
	r := k.Report
	if r == nil {
		r = &Report{Victims: []Killed{k.Killed}, Summary: k.Summary, Header: k.Header}
	}
	events := r.Events(nil, opts)
	for _, ev := range events {
		if ev.OOMKill.Victim.PID == uint32(k.PID) && !ev.OOMKill.VictimExiting {
			return ev
		}
	}
	return events[0]
}
