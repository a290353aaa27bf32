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
	// without BPF (the kernel log) need it here. Kills that name no cgroup
	// pass Cgroup, Pods and Containers (see unplaced).
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
// the events that follow a kill (oom_snapshot, oom_report) go where the
// kill went. It is safe for concurrent use.
type Stage struct {
	filter Filter

	mu sync.Mutex
	// kept and keptBefore hold the kills kept, newest in kept, with the
	// kinds of the events that followed each so far: each kind follows a
	// kill once.
	kept, keptBefore map[killKey]followers
}

type killKey struct {
	ktime uint64
	pid   uint32
}

// followers is a set of event kinds, one bit each.
type followers uint32

// maxKept bounds the kills remembered for the events that follow them,
// which come within seconds of their kill: when kept is full, it becomes
// keptBefore, so that a kill is remembered for at least maxKept more.
const maxKept = 1024

// NewStage returns the stage of f.
func NewStage(f Filter) *Stage {
	return &Stage{filter: f, kept: make(map[killKey]followers)}
}

// Process keeps the events that match.
func (s *Stage) Process(ev *event.Event) (bool, error) {
	if s.filter.IsZero() {
		return true, nil
	}
	if ktime, pid, ok := ev.FollowedKill(); ok {
		return s.follows(killKey{ktime, pid}, followers(1)<<ev.Kind), nil
	}
	if ev.Kind == event.KindOOMKill {
		if !s.filter.Match(ev) {
			return false, nil
		}
		s.mu.Lock()
		if len(s.kept) >= maxKept {
			s.keptBefore, s.kept = s.kept, make(map[killKey]followers)
		}
		s.kept[killKey{ev.KtimeNS, ev.OOMKill.Victim.PID}] = 0
		s.mu.Unlock()
		return true, nil
	}
	return s.filter.Match(ev), nil
}

// follows reports whether an event of kind, which follows the kill key,
// goes out: when the kill was kept, and no other of its kind followed it.
func (s *Stage) follows(key killKey, kind followers) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[killKey]followers{s.kept, s.keptBefore} {
		if seen, ok := m[key]; ok {
			m[key] = seen | kind
			return seen&kind == 0
		}
	}
	return false
}

// Match reports whether ev passes the filter.
func (f *Filter) Match(ev *event.Event) bool {
	if ev.Kind == event.KindOOMKill && len(f.Classes) > 0 && !slices.Contains(f.Classes, ev.OOMKill.Class) {
		return false
	}
	if !f.matchesCgroupAndPID(ev) {
		return false
	}
	if len(f.Pods) == 0 && len(f.Containers) == 0 || ev.Kind == event.KindLost || ev.Kind == event.KindSample && ev.Sample.IsNode() ||
		unplaced(ev) {
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
	if f.Cgroup != "" && !unplaced(ev) {
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

// unplaced reports whether ev is a kill that names no cgroup: one from a
// kernel log whose report the kernel held back, which names its cgroups in
// its summary line (the kernel prints ten reports in five seconds at most).
// Filters by cgroup, pod or container cannot place it, and keep it rather
// than hide a kill that may be the one asked for.
func unplaced(ev *event.Event) bool {
	if ev.Kind != event.KindOOMKill {
		return false
	}
	for _, c := range ev.Cgroups() {
		if c.Valid() {
			return false
		}
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
