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
	"fmt"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

// Input is an oom_kill event and what oomtrace learned about it.
type Input struct {
	Event *event.Event
	// Victim, Trigger and OOM attribute the victim's memory cgroup, the
	// triggering task's and the OOM cgroup, with whatever names were found.
	Victim, Trigger, OOM container.Info
	// Snapshot is the OOM cgroup's state read after the kill (for a global
	// OOM, the node's pressure); nil when none was taken.
	Snapshot *memstate.Snapshot
	// Main is the main process of the victim's container (PID 1 of its
	// PID namespace) as found right after the kill; nil when unknown.
	Main *container.Process
}

// Explain returns the sentence for an oom_kill event, or "" for any other
// event.
func Explain(in Input) string {
	if in.Event == nil || in.Event.Kind != event.KindOOMKill {
		return ""
	}
	k := &in.Event.OOMKill
	var b strings.Builder
	if k.Class == event.ClassMemcg {
		explainMemcg(&b, k, in)
	} else {
		explainChosen(&b, k, in)
	}
	mainProcess(&b, k, in)
	return b.String()
}

// mainProcess says whether the victim was its container's main process:
// when it was not, the container lives on and may exit 0 although its
// runtime reports an OOM kill.
func mainProcess(b *strings.Builder, k *event.OOMKill, in Input) {
	if in.Main == nil || in.Victim.ID == "" || k.VictimExiting {
		return
	}
	if uint32(in.Main.PID) == k.Victim.TGID {
		b.WriteString("; it was the container's main process")
		return
	}
	fmt.Fprintf(b, "; the container's main process %s (pid %d) was not killed and lives on", strconv.Quote(in.Main.Comm), in.Main.PID)
}

// explainMemcg: "<victim> was killed because <limit> was reached
// (<numbers>); memcg OOM".
func explainMemcg(b *strings.Builder, k *event.OOMKill, in Input) {
	b.WriteString(victim(k, in.Victim))
	if k.VictimExiting {
		b.WriteString(" was already exiting when ")
	} else {
		b.WriteString(" was killed because ")
	}
	b.WriteString(memcgLimit(k, in.Victim, in.OOM))
	b.WriteString(" was reached")
	if k.VictimExiting {
		b.WriteString(", so it was only marked for the OOM reaper")
	}
	var details []string
	if k.OOMCgroup.Valid() && k.Victim.Cgroup.Valid() && k.OOMCgroup.Path != k.Victim.Cgroup.Path {
		what := noun(in.Victim)
		if in.Victim.ID != "" && in.Victim.ID == in.OOM.ID {
			what = "victim cgroup" // below the container whose limit it is
		}
		details = append(details, what+" usage "+victimUsage(&k.Victim.Cgroup))
	}
	details = append(details, victimMemory(&k.Victim))
	if n, ok := oomKills(k, in.Snapshot); ok && n > 1 {
		details = append(details, strconv.FormatUint(n, 10)+" OOM kills in the "+noun(in.OOM)+" so far")
	}
	if t := trigger(k, in.Trigger); t != "" {
		details = append(details, "allocation by "+t)
	}
	fmt.Fprintf(b, " (%s); memcg OOM", strings.Join(details, "; "))
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
// oom_score (adj N; <numbers>)". Every class but memcg.
func explainChosen(b *strings.Builder, k *event.OOMKill, in Input) {
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
	b.WriteString(", victim ")
	b.WriteString(victim(k, in.Victim))
	b.WriteString(" chosen by oom_score (adj ")
	b.WriteString(strconv.Itoa(int(k.Victim.OOMScoreAdj)))
	if k.HasControl && k.TotalPages > 0 {
		fmt.Fprintf(b, ", badness %d of %d pages", k.Points, k.TotalPages)
	}
	b.WriteString("; ")
	b.WriteString(victimMemory(&k.Victim))
	if p, ok := nodePressure(k, in.Snapshot); ok {
		b.WriteString("; node memory pressure ")
		b.WriteString(p)
	}
	if k.Class != event.ClassSysrq {
		if t := trigger(k, in.Trigger); t != "" {
			b.WriteString("; allocation by ")
			b.WriteString(t)
		}
	}
	b.WriteString(")")
	if k.VictimExiting {
		b.WriteString(", already exiting: marked for the OOM reaper, not killed")
	}
}

// victim names the killed process and where it ran: `"java" (pid 42) in
// container api of pod shop/api-7d9`.
func victim(k *event.OOMKill, info container.Info) string {
	s := process(k.Victim.Task)
	if where := place(info, &k.Victim.Cgroup); where != "" {
		s += " in " + where
	}
	return s
}

// trigger names the task that ran into the limit when it is not the
// victim's process, and where it ran when that is not the victim's cgroup.
func trigger(k *event.OOMKill, info container.Info) string {
	if k.Trigger.TGID == 0 || k.Trigger.TGID == k.Victim.TGID {
		return ""
	}
	s := process(k.Trigger)
	if k.TriggerCgroup.Valid() && k.TriggerCgroup.Path != k.Victim.Cgroup.Path {
		s += " in " + place(info, &k.TriggerCgroup)
	}
	return s
}

func process(t event.Task) string {
	pid := t.TGID
	if pid == 0 {
		pid = t.PID
	}
	return fmt.Sprintf("%s (pid %d)", strconv.Quote(t.Comm), pid)
}

// place says where a cgroup belongs: "container api of pod shop/api-7d9",
// "docker container web", "unit nginx.service", `cgroup "/a/b"`; "" for no
// cgroup.
func place(info container.Info, cg *event.Cgroup) string {
	switch {
	case info.PodUID != "":
		pod := "pod " + podName(info)
		switch info.Level {
		case container.LevelContainer:
			return "container " + containerName(info) + " of " + pod
		case container.LevelMonitor:
			return "the monitor of container " + containerName(info) + " of " + pod
		case container.LevelPod:
			return pod
		}
		return "cgroup " + quotedPath(cg) + " of " + pod
	case info.Level == container.LevelQoS:
		return "the " + string(info.QoS) + " pods' cgroup " + quotedPath(cg)
	case info.Level == container.LevelKubepods:
		return "the cgroup of all pods " + quotedPath(cg)
	case info.ID != "":
		runtime := "container "
		if info.Runtime != "" {
			runtime = string(info.Runtime) + " container "
		}
		if info.Level == container.LevelMonitor {
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
func noun(info container.Info) string {
	switch {
	case info.Level == container.LevelMonitor:
		return "monitor"
	case info.Level == container.LevelContainer:
		return "container"
	case info.Level == container.LevelPod:
		return "pod"
	case info.Unit != "":
		return "unit"
	}
	return "cgroup"
}

// memcgLimit says which limit a memcg OOM enforced, relative to the
// victim: its own, its pod's, or an ancestor's.
func memcgLimit(k *event.OOMKill, victim, oom container.Info) string {
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
	case !strings.HasPrefix(victimPath, strings.TrimSuffix(oomPath, "/")+"/"):
		return "the limit" + of + " of " + place(oom, &k.OOMCgroup)
	case oom.Level == container.LevelPod && oom.PodUID == victim.PodUID:
		return "the pod-level limit" + of
	case oom.Level == container.LevelContainer && oom.ID == victim.ID:
		return "the container's limit" + of
	case oom.Level == container.LevelQoS:
		return "the limit" + of + " on all " + string(oom.QoS) + " pods (" + quotedPath(&k.OOMCgroup) + ")"
	case oom.Level == container.LevelKubepods:
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

// oomKills returns the OOM cgroup's count of OOM kills from the snapshot,
// where it counts this kill: on v2 always (the count is hierarchical), on
// v1 only when the victim's own cgroup is the OOM cgroup.
func oomKills(k *event.OOMKill, s *memstate.Snapshot) (uint64, bool) {
	if s == nil || s.Status != memstate.StatusOK || !s.Has(memstate.FieldEventsOOMKill) {
		return 0, false
	}
	if s.Version == 1 && k.OOMCgroup.Path != k.Victim.Cgroup.Path {
		return 0, false
	}
	return s.EventsOOMKill, true
}

// nodePressure is the node's memory pressure for a global OOM: "some 80.5%
// full 35.2% over 10s".
func nodePressure(k *event.OOMKill, s *memstate.Snapshot) (string, bool) {
	if k.Class != event.ClassGlobal || s == nil || !s.Has(memstate.FieldNodePressure) {
		return "", false
	}
	p := s.NodePressure
	return fmt.Sprintf("some %.1f%% full %.1f%% over 10s", p.Some.Avg10, p.Full.Avg10), true
}

// podName is "namespace/name", or the UID when the names are unknown.
func podName(info container.Info) string {
	if info.Namespace != "" && info.PodName != "" {
		return info.Namespace + "/" + info.PodName
	}
	return info.PodUID
}

// shortIDLen is how much of a container ID is shown without its name, as
// docker ps does.
const shortIDLen = 12

func containerName(info container.Info) string {
	if info.Name != "" {
		return info.Name
	}
	if len(info.ID) > shortIDLen {
		return info.ID[:shortIDLen]
	}
	return info.ID
}

// quotedPath quotes a cgroup's path, marking one that was cut short.
func quotedPath(cg *event.Cgroup) string {
	if cg.Truncated {
		return strconv.Quote(cg.Path) + "…"
	}
	return strconv.Quote(cg.Path)
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
