package classify

import (
	"sync"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Options configures a Stage.
type Options struct {
	// MemoryNodes are this machine's NUMA nodes with memory (0 without
	// NUMA): they tell a cpuset or mempolicy OOM from a global one where a
	// kill's stack and the trigger's node limits are all there is
	// (tracepoint mode). NodesUnknown says they could not be read on a NUMA
	// machine: such kills are then classed unknown rather than guessed.
	MemoryNodes  uint64
	NodesUnknown bool
}

// Stage is the pipeline's classify stage. It writes an oom_kill's Class and
// VictimExiting and drops the OOMCgroup of a kill that is not a memcg OOM,
// a signal's SenderClass, and an exit's cause with its evidence. It keeps
// what it saw of one source's events in bounded memory (signals and kills
// per process, the last reclaim per thread); it is safe for concurrent use.
type Stage struct {
	opts    Options
	mu      sync.Mutex
	deaths  *deathCorrelator
	reclaim *reclaimSeen
}

// New returns a classify stage for one source's events.
func New(opts Options) *Stage {
	return &Stage{opts: opts, deaths: newDeathCorrelator(), reclaim: new(reclaimSeen)}
}

// Process classifies ev. Events read back from oomtrace's own log keep the
// recording's classification.
func (s *Stage) Process(ev *event.Event) (bool, error) {
	if ev.Restored {
		return true, nil
	}
	switch ev.Kind {
	case event.KindOOMKill:
		s.kill(ev)
	case event.KindReclaim:
		s.mu.Lock()
		s.reclaim.observe(ev)
		s.mu.Unlock()
		return true, nil
	case event.KindSignal, event.KindExit:
	default:
		return true, nil
	}
	s.mu.Lock()
	s.deaths.observe(ev)
	s.mu.Unlock()
	return true, nil
}

// kill classifies a kill, by its own evidence or else by the reclaim seen
// before it.
func (s *Stage) kill(ev *event.Event) {
	k := &ev.OOMKill
	var ok bool
	if k.Class, ok = Kill(k, s.opts); !ok {
		s.mu.Lock()
		k.Class = s.reclaim.class(ev.KtimeNS, ev.Task.PID, k.Victim.PID)
		s.mu.Unlock()
	}
	// The walk up from the victim in tracepoint mode finds a cgroup near
	// its limit even in a global OOM; only a memcg OOM has an OOM cgroup.
	if k.Class != event.ClassMemcg {
		k.OOMCgroup = event.Cgroup{}
	}
}

// Kill decides the class of a kill from the best evidence it carries: the
// kernel's own constraint, else the words of its report in the log, else
// the stack. It sets k.VictimExiting from the stack, where there is one.
// It reports false when the kill carries no evidence at all (perf script's
// mark_victim), for the reclaim seen before it to decide.
func Kill(k *event.OOMKill, opts Options) (event.Class, bool) {
	var stackClass event.Class
	if len(k.Stack) > 0 {
		stackClass, k.VictimExiting = FromStack(k.Stack)
	}
	switch {
	case k.Constraint != event.ConstraintUnseen:
		return FromConstraint(k.Constraint, k.Order, k.HasGFP), true
	case k.Reason != event.ReasonUnseen:
		return FromReason(k.Reason, k.Order, k.HasGFP), true
	case len(k.Stack) > 0 && stackClass == event.ClassGlobal:
		return refine(opts, k.Nodes), true
	case len(k.Stack) > 0:
		return stackClass, true
	}
	return event.ClassUnknown, false
}

// refine tells a cpuset or mempolicy OOM apart from the global one a stack
// shows, from the trigger's limits on NUMA nodes.
func refine(opts Options, nodes event.NodeLimits) event.Class {
	if opts.NodesUnknown {
		return event.ClassUnknown
	}
	return Refine(opts.MemoryNodes, nodes)
}
