package tracer

import (
	"fmt"
	"strings"
)

// EventGroup is a set of event groups, each a set of hooks that --events
// turns on or off. A hook that is not attached costs nothing.
type EventGroup uint8

const (
	// EventsOOM is oom:mark_victim: the oom_kill events.
	EventsOOM EventGroup = 1 << iota
	// EventsReclaim is the vmscan tracepoints: reclaim, reclaim_stats and
	// kswapd_wake events.
	EventsReclaim
	// EventsReaper is the OOM reaper's tracepoints.
	EventsReaper
	// EventsSignal is signal:signal_generate for fatal signals.
	EventsSignal
	// EventsExit is sched:sched_process_exit for processes a signal ended.
	EventsExit

	// AllEvents is every group; the zero EventGroup in a Config means it too.
	AllEvents = EventsOOM | EventsReclaim | EventsReaper | EventsSignal | EventsExit
)

var eventGroupNames = []struct {
	group EventGroup
	name  string
}{
	{EventsOOM, "oom"},
	{EventsReclaim, "reclaim"},
	{EventsReaper, "reaper"},
	{EventsSignal, "signal"},
	{EventsExit, "exit"},
}

// ParseEventGroups parses a comma-separated list of group names ("all" for
// every group).
func ParseEventGroups(list string) (EventGroup, error) {
	var groups EventGroup
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" {
			groups |= AllEvents
			continue
		}
		g, ok := eventGroupByName(name)
		if !ok {
			return 0, fmt.Errorf("unknown event group %q (want all or some of %s)", name, AllEvents)
		}
		groups |= g
	}
	if groups == 0 {
		return 0, fmt.Errorf("no event group given (want all or some of %s)", AllEvents)
	}
	return groups, nil
}

func eventGroupByName(name string) (EventGroup, bool) {
	for _, g := range eventGroupNames {
		if g.name == name {
			return g.group, true
		}
	}
	return 0, false
}

// String lists the groups comma-separated, as ParseEventGroups reads them.
func (g EventGroup) String() string {
	var names []string
	for _, n := range eventGroupNames {
		if g&n.group != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// orAll is g, or every group for the zero value.
func (g EventGroup) orAll() EventGroup {
	if g == 0 {
		return AllEvents
	}
	return g
}
