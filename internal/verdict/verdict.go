// Package verdict explains an OOM kill in one sentence a person can act on:
// who was killed, which limit made the kernel do it, and the numbers that
// show it, e.g.
//
//	"api" (pid 4242) in container api of pod shop/api-7d9 was killed because
//	the pod-level limit of 512 MiB was reached (container usage 498 MiB;
//	victim anon 470 MiB); memcg OOM
//
// Process names and cgroup paths come from whoever named them, so they are
// always quoted; IDs and names that passed the strict checks of package
// container are not.
package verdict

import (
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Explain returns the sentence for an oom_kill event, or "" for any other
// event. It reads the owners of the kill's cgroups and, when one was taken,
// the OOM cgroup's snapshot from the event.
func Explain(ev *event.Event) string {
	if ev == nil || ev.Kind != event.KindOOMKill {
		return ""
	}
	k := &ev.OOMKill
	var b strings.Builder
	b.Grow(256) // most sentences fit: one allocation for the whole
	if k.Class == event.ClassMemcg {
		explainMemcg(&b, k)
	} else {
		explainChosen(&b, k, !ev.Missing.Lacks(event.MissingVictimAdj))
	}
	if f := fragmentation(k.HasGFP, k.Order, &k.Report); f != "" {
		b.WriteString("; " + f)
	}
	if p := k.ChosenParent; p.TGID != 0 {
		b.WriteString("; the OOM chose its parent " + quote(p.Comm) + " (pid " + strconv.FormatUint(uint64(p.TGID), 10) +
			", score " + strconv.FormatUint(k.ChosenScore, 10) + ") and killed this child in its place")
	}
	mainProcess(&b, k)
	return b.String()
}

// mainProcess says whether the victim was its container's main process:
// when it was not, the container lives on and may exit 0 although its
// runtime reports an OOM kill.
func mainProcess(b *strings.Builder, k *event.OOMKill) {
	m := k.VictimMain
	if m.TGID == 0 || k.Victim.Cgroup.Owner.ID == "" || k.VictimExiting {
		return
	}
	if m.TGID == k.Victim.TGID {
		b.WriteString("; it was the container's main process")
		return
	}
	b.WriteString("; the container's main process ")
	b.WriteString(process(m))
	b.WriteString(" was not killed and lives on")
}

// explainMemcg: "<victim> was killed because <limit> was reached
// (<numbers>); memcg OOM".
func explainMemcg(b *strings.Builder, k *event.OOMKill) {
	b.WriteString(victim(k))
	if k.VictimExiting {
		b.WriteString(" was already exiting when ")
	} else {
		b.WriteString(" was killed because ")
	}
	b.WriteString(memcgLimit(k))
	b.WriteString(" was reached")
	if k.VictimExiting {
		b.WriteString(", so it was only marked for the OOM reaper")
	}
	b.WriteString(" (")
	// A kernel log gives the OOM cgroup's usage, not the victim's cgroup's.
	if k.OOMCgroup.Valid() && k.Victim.Cgroup.Measured() && k.OOMCgroup.Path != k.Victim.Cgroup.Path {
		what := noun(k.Victim.Cgroup.Owner)
		if k.Victim.Cgroup.Owner.ID != "" && k.Victim.Cgroup.Owner.ID == k.OOMCgroup.Owner.ID {
			what = "victim cgroup" // below the container whose limit it is
		}
		b.WriteString(what)
		b.WriteString(" usage ")
		b.WriteString(victimUsage(&k.Victim.Cgroup))
		b.WriteString("; ")
	}
	b.WriteString(victimMemory(&k.Victim))
	if t := trigger(k); t != "" {
		b.WriteString("; allocation by ")
		b.WriteString(t)
	}
	b.WriteString("); memcg OOM")
	if s := swapLimit(&k.Report, &k.OOMCgroup); s != "" {
		b.WriteString("; " + s)
	}
	if s := reportedMemcg(&k.Report); s != "" {
		b.WriteString("; " + s)
	}
}

// victimUsage is the victim cgroup's usage, and its own limit when it has
// one: "498 MiB", "31 MiB of its own limit 32 MiB, at it too".
func victimUsage(c *event.Cgroup) string {
	s := bytes(c.UsageBytes)
	if c.LimitBytes == event.NoLimit || c.LimitBytes == 0 {
		return s
	}
	s += " of its own limit " + bytes(c.LimitBytes)
	if c.AtLimit() {
		s += ", at it too"
	}
	return s
}

// explainChosen: "<kind of OOM>: <cause>, victim <victim> chosen by
// oom_score (adj N; <numbers>)". Every class but memcg. hasAdj says the
// source saw the victim's oom_score_adj.
func explainChosen(b *strings.Builder, k *event.OOMKill, hasAdj bool) {
	switch k.Class {
	case event.ClassGlobal:
		b.WriteString("global OOM: node out of memory")
	case event.ClassCpuset:
		b.WriteString("cpuset OOM: the memory nodes of the allocating task's cpuset ran out")
	case event.ClassMempolicy:
		b.WriteString("mempolicy OOM: the NUMA nodes of the allocating task's memory policy ran out")
	case event.ClassSysrq:
		b.WriteString("manual OOM kill (sysrq-f)")
	default:
		b.WriteString("OOM kill of unknown cause")
	}
	if k.Reason == event.ReasonAllocatingTask {
		// No score was compared: vm.oom_kill_allocating_task has the
		// task that ran into the OOM killed.
		b.WriteString(", the allocating task ")
		b.WriteString(victim(k))
		b.WriteString(" killed, as vm.oom_kill_allocating_task asks (")
	} else {
		b.WriteString(", victim ")
		b.WriteString(victim(k))
		b.WriteString(" chosen by oom_score (")
	}
	if hasAdj {
		b.WriteString("adj ")
		b.WriteString(strconv.Itoa(int(k.Victim.OOMScoreAdj)))
	}
	hasBadness := k.HasControl && k.TotalPages > 0
	if hasBadness {
		if hasAdj {
			b.WriteString(", ")
		}
		b.WriteString("badness " + strconv.FormatInt(k.Points, 10) + " of " + strconv.FormatUint(k.TotalPages, 10) + " pages")
	}
	if hasAdj || hasBadness {
		b.WriteString("; ")
	}
	b.WriteString(victimMemory(&k.Victim))
	if k.Class != event.ClassSysrq {
		if t := trigger(k); t != "" {
			b.WriteString("; allocation by ")
			b.WriteString(t)
		}
	}
	b.WriteString(")")
	if k.VictimExiting {
		b.WriteString(", already exiting: marked for the OOM reaper, not killed")
	}
	if s := reportedNode(&k.Report); s != "" {
		b.WriteString("; " + s)
	}
}

// victim names the killed process and where it ran: `"java" (pid 42) in
// container api of pod shop/api-7d9`.
func victim(k *event.OOMKill) string {
	s := process(k.Victim.Task)
	if where := place(k.Victim.Cgroup.Owner, &k.Victim.Cgroup); where != "" {
		s += " in " + where
	}
	return s
}

// trigger names the task that ran into the limit when it is not the
// victim's process, and where it ran when that is not the victim's cgroup.
func trigger(k *event.OOMKill) string {
	// A kernel log names the allocating thread, not always its process.
	if k.Trigger.PID == 0 || k.Trigger.TGID != 0 && k.Trigger.TGID == k.Victim.TGID ||
		k.Trigger.TGID == 0 && k.Trigger.PID == k.Victim.PID {
		return ""
	}
	s := process(k.Trigger)
	if k.TriggerCgroup.Valid() && k.TriggerCgroup.Path != k.Victim.Cgroup.Path {
		s += " in " + place(k.TriggerCgroup.Owner, &k.TriggerCgroup)
	}
	return s
}

func process(t event.Task) string {
	pid := t.TGID
	if pid == 0 {
		pid = t.PID
	}
	return quote(t.Comm) + " (pid " + strconv.FormatUint(uint64(pid), 10) + ")"
}

// place says where a cgroup belongs: "container api of pod shop/api-7d9",
// "docker container web", "unit nginx.service", `cgroup "/a/b"`; "" for no
// cgroup.
func place(info event.Owner, cg *event.Cgroup) string {
	switch {
	case info.PodUID != "":
		pod := "pod " + podName(info)
		switch info.Level {
		case event.LevelContainer:
			return "container " + containerName(info) + " of " + pod
		case event.LevelMonitor:
			return "the monitor of container " + containerName(info) + " of " + pod
		case event.LevelPod:
			return pod
		}
		return "cgroup " + quotedPath(cg) + " of " + pod
	case info.Level == event.LevelQoS:
		return "the " + string(info.QoS) + " pods' cgroup " + quotedPath(cg)
	case info.Level == event.LevelKubepods:
		return "the cgroup of all pods " + quotedPath(cg)
	case info.ID != "":
		runtime := "container "
		if info.Runtime != "" {
			runtime = string(info.Runtime) + " container "
		}
		if info.Level == event.LevelMonitor {
			return "the monitor of " + runtime + containerName(info)
		}
		return runtime + containerName(info)
	case info.Unit != "":
		if info.User != "" {
			return "unit " + info.Unit + " of user " + info.User
		}
		return "unit " + info.Unit
	case cg.Valid():
		return "cgroup " + quotedPath(cg)
	}
	return ""
}

// noun is what a cgroup is, in a phrase like "the pod's limit".
func noun(info event.Owner) string {
	switch {
	case info.Level == event.LevelMonitor:
		return "monitor"
	case info.Level == event.LevelContainer:
		return "container"
	case info.Level == event.LevelPod:
		return "pod"
	case info.Unit != "":
		return "unit"
	}
	return "cgroup"
}

// memcgLimit says which limit a memcg OOM enforced, relative to the
// victim: its own, its pod's, or an ancestor's.
func memcgLimit(k *event.OOMKill) string {
	victim, oom := k.Victim.Cgroup.Owner, k.OOMCgroup.Owner
	if !k.OOMCgroup.Valid() {
		return "a memory cgroup's limit"
	}
	of := ""
	if limit := k.OOMCgroup.LimitBytes; limit != event.NoLimit && limit != 0 {
		of = " of " + bytes(limit)
	}
	oomPath, victimPath := k.OOMCgroup.Path, k.Victim.Cgroup.Path
	switch {
	case oomPath == victimPath:
		return "the " + noun(victim) + "'s own limit" + of
	case !event.PathWithin(victimPath, oomPath):
		return "the limit" + of + " of " + place(oom, &k.OOMCgroup)
	case oom.Level == event.LevelPod && oom.PodUID == victim.PodUID:
		return "the pod-level limit" + of
	case oom.Level == event.LevelContainer && oom.ID == victim.ID:
		return "the container's limit" + of
	case oom.Level == event.LevelQoS:
		return "the limit" + of + " on all " + string(oom.QoS) + " pods (" + quotedPath(&k.OOMCgroup) + ")"
	case oom.Level == event.LevelKubepods:
		return "the limit" + of + " on all pods (node allocatable, " + quotedPath(&k.OOMCgroup) + ")"
	}
	return "the limit" + of + " of the enclosing " + place(oom, &k.OOMCgroup)
}

// victimMemory is the victim's memory at the kill: "victim anon 470 MiB,
// file 3.7 MiB".
func victimMemory(v *event.Victim) string {
	if !v.HasMM {
		return "victim had already released its memory"
	}
	s := "victim anon " + bytes(v.RSSAnonKB<<10) + ", file " + bytes(v.RSSFileKB<<10)
	if v.RSSShmemKB > 0 {
		s += ", shmem " + bytes(v.RSSShmemKB<<10)
	}
	return s
}

// podName is "namespace/name", or the UID when the names are unknown.
func podName(info event.Owner) string {
	if info.Namespace != "" && info.PodName != "" {
		return info.Namespace + "/" + info.PodName
	}
	return info.PodUID
}

// shortIDLen is how much of a container ID is shown without its name, as
// docker ps does.
const shortIDLen = 12

func containerName(info event.Owner) string {
	if info.Name != "" {
		return info.Name
	}
	if len(info.ID) > shortIDLen {
		return info.ID[:shortIDLen]
	}
	return info.ID
}

// quotedPath quotes a cgroup's path, marking where it was cut: before a
// path without its top, after one without the end of its leaf.
func quotedPath(cg *event.Cgroup) string {
	if cg.TopMissing() {
		return "…" + quote(cg.Path)
	}
	if cg.Truncated {
		return quote(cg.Path) + "…"
	}
	return quote(cg.Path)
}

// quote is strconv.Quote, without its rune by rune look at the strings
// that need no escape: printable ASCII, as most paths and comms are, is
// only put between quotes.
func quote(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}

// bytes formats a size with a binary unit: "512 MiB", "3.7 MiB", "1.5 GiB".
func bytes(n uint64) string {
	const kib, mib, gib = 1 << 10, 1 << 20, 1 << 30
	switch {
	case n < mib:
		return formatUnit(n, kib, "KiB")
	case n < gib:
		return formatUnit(n, mib, "MiB")
	}
	return formatUnit(n, gib, "GiB")
}

// formatUnit writes n in units, with one decimal below 10 units unless it
// is whole.
func formatUnit(n, unit uint64, name string) string {
	if n%unit == 0 {
		return strconv.FormatUint(n/unit, 10) + " " + name
	}
	v := float64(n) / float64(unit)
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + name
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + name
}
