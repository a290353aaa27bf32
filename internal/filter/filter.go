// Package filter is the pipeline's filter stage: it selects events by what
// the stages before it worked out, the class of a kill and the pod and
// container of its cgroups. (Process and cgroup filters run in the kernel.)
package filter

import (
	"slices"
	"strings"
	"sync"

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

// IsZero reports whether f keeps every event.
func (f *Filter) IsZero() bool {
	return len(f.Classes) == 0 && len(f.Pods) == 0 && len(f.Containers) == 0 && f.Cgroup == "" && f.PID == 0
}

// Stage is a Filter as a pipeline stage: it drops what does not match, and
// an oom_snapshot event goes where the kill it follows went. It is safe for
// concurrent use.
type Stage struct {
	filter Filter

	mu sync.Mutex
	// kept holds the kills kept whose snapshot has not come yet.
	kept map[killKey]struct{}
}

type killKey struct {
	ktime uint64
	pid   uint32
}

// maxKept bounds the kills remembered for their snapshots: a snapshot
// comes within a fraction of a second of its kill.
const maxKept = 1024

// NewStage returns the stage of f.
func NewStage(f Filter) *Stage {
	return &Stage{filter: f, kept: make(map[killKey]struct{})}
}

// Process keeps the events that match.
func (s *Stage) Process(ev *event.Event) (bool, error) {
	if s.filter.IsZero() {
		return true, nil
	}
	switch ev.Kind {
	case event.KindOOMKill:
		if !s.filter.Match(ev) {
			return false, nil
		}
		s.mu.Lock()
		if len(s.kept) >= maxKept {
			clear(s.kept)
		}
		s.kept[killKey{ev.KtimeNS, ev.OOMKill.Victim.PID}] = struct{}{}
		s.mu.Unlock()
		return true, nil
	case event.KindOOMSnapshot:
		key := killKey{ev.OOMSnapshot.KillKtimeNS, ev.OOMSnapshot.Victim.PID}
		s.mu.Lock()
		_, ok := s.kept[key]
		delete(s.kept, key)
		s.mu.Unlock()
		return ok, nil
	}
	return s.filter.Match(ev), nil
}

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
			if c.Valid() && mayBeWithin(c, f.Cgroup) {
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

// mayBeWithin reports whether c may be the cgroup at path dir or one below
// it. A path cut short comes from the BPF side (a kernel log names cgroups
// whole), which filtered by the cgroup's id in the kernel already: it is
// taken as within unless what is left of it rules that out. What is left
// of a path whose leaf end was cut must lie on the way to dir or below it;
// the deepest components alone rule nothing out.
func mayBeWithin(c *event.Cgroup, dir string) bool {
	switch {
	case event.PathWithin(c.Path, dir):
		return true
	case c.TopMissing():
		return true
	case c.Truncated:
		return event.PathWithin(dir, c.Path)
	}
	return false
}
