// Package filter is the pipeline's filter stage: it selects events by what
// the stages before it worked out, the class of a kill and the pod and
// container of its cgroups. (Process and cgroup filters run in the kernel.)
package filter

import (
	"slices"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Filter keeps the events that match all of its non-empty parts. Lost
// events always pass: a filter must never hide that events were lost. So do
// samples of the node, which every pod shares.
type Filter struct {
	// Classes keeps only oom_kill events of these classes.
	Classes []event.Class
	// Pods keeps only events with a cgroup of one of these pods: name,
	// namespace/name or UID.
	Pods []string
	// Containers keeps only events with a cgroup of one of these
	// containers: name, or ID (MinIDPrefix hex digits of it or more).
	Containers []string
	// Cgroup keeps only events with a cgroup at this path or below it, and
	// PID only events of this process (as victim, trigger, reclaimer,
	// sender or target). The BPF programs filter so in the kernel; sources
	// without BPF (the kernel log) need it here.
	Cgroup string
	PID    uint32
}

// MinIDPrefix is the shortest container ID prefix a filter may give, as
// docker and crictl print them.
const MinIDPrefix = 12

// Process is Match as a pipeline stage: it drops what does not match.
func (f *Filter) Process(ev *event.Event) (bool, error) { return f.Match(ev), nil }

// Match reports whether ev passes the filter.
func (f *Filter) Match(ev *event.Event) bool {
	if ev.Kind == event.KindOOMKill && len(f.Classes) > 0 && !slices.Contains(f.Classes, ev.OOMKill.Class) {
		return false
	}
	if !f.matchesCgroupAndPID(ev) {
		return false
	}
	if len(f.Pods) == 0 && len(f.Containers) == 0 || ev.Kind == event.KindLost || ev.Kind == event.KindSample && ev.Sample.IsNode() {
		return true
	}
	if ev.Kind == event.KindEviction {
		pod := ev.Eviction.Pod
		return matchesPod(pod, f.Pods) && len(f.Containers) == 0
	}
	for _, c := range ev.Cgroups() {
		if matchesPod(c.Owner, f.Pods) && matchesContainer(c.Owner, f.Containers) {
			return true
		}
	}
	return false
}

func matchesPod(info event.Owner, pods []string) bool {
	if len(pods) == 0 {
		return true
	}
	for _, p := range pods {
		if info.PodUID != "" && p == info.PodUID ||
			info.PodName != "" && (p == info.PodName || p == info.Namespace+"/"+info.PodName) {
			return true
		}
	}
	return false
}

func matchesContainer(info event.Owner, containers []string) bool {
	if len(containers) == 0 {
		return true
	}
	for _, c := range containers {
		if info.Name != "" && c == info.Name || info.ID != "" && len(c) >= MinIDPrefix && strings.HasPrefix(info.ID, c) {
			return true
		}
	}
	return false
}

// matchesCgroupAndPID applies Cgroup and PID. Lost events and samples of
// the node pass, as with every filter.
func (f *Filter) matchesCgroupAndPID(ev *event.Event) bool {
	if f.Cgroup == "" && f.PID == 0 || ev.Kind == event.KindLost || ev.Kind == event.KindSample && ev.Sample.IsNode() {
		return true
	}
	if f.Cgroup != "" {
		within := false
		for _, c := range ev.Cgroups() {
			if c.Valid() && (c.Path == f.Cgroup || f.Cgroup == "/" || strings.HasPrefix(c.Path, strings.TrimSuffix(f.Cgroup, "/")+"/")) {
				within = true
			}
		}
		if !within {
			return false
		}
	}
	if f.PID != 0 {
		var tasks []event.Task
		switch ev.Kind {
		case event.KindOOMKill:
			tasks = []event.Task{ev.OOMKill.Victim.Task, ev.OOMKill.Trigger}
		case event.KindSignal:
			tasks = []event.Task{ev.Signal.Sender, ev.Signal.Target}
		default:
			tasks = []event.Task{ev.Task}
		}
		for _, t := range tasks {
			if t.TGID == f.PID || t.TGID == 0 && t.PID == f.PID {
				return true
			}
		}
		return false
	}
	return true
}
