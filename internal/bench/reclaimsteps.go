package bench

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// The reclaim steps are oomtrace's end-of-reclaim program taken apart
// (bpf/reclaim_steps.bpf.c, built from the tracer's own code): each does
// one step more than the one before. Attached alone, one per storm trial,
// so that no step finds the cache lines the one before it brought in, they
// tell what each step of the program costs.

// reclaimStep is a step program and the work it adds to the one before.
type reclaimStep struct {
	program string
	adds    string
}

var reclaimSteps = []reclaimStep{
	{"end_clock", "read the clock"},
	{"end_start", "take the episode's start from task-local storage"},
	{"end_cgroup", "find the task's memory cgroup and its id (five dependent loads through BTF pointers)"},
	{"end_histogram", "count the episode in the cgroup's histogram (its slot cached beside the start, two atomic adds and the maximum)"},
}

// reclaimStepTracepoint is where the steps run: oomtrace's end program of
// memory cgroup reclaim runs there, on every episode of the storm.
const reclaimStepTracepoint = "mm_vmscan_memcg_reclaim_end"

// attachedStep is one reclaim step attached.
type attachedStep struct {
	prog *ebpf.Program
	objs reclaimStepsObjects
	lnk  link.Link
}

// attachReclaimStep loads the reclaim steps and attaches the one named.
func attachReclaimStep(name string) (*attachedStep, error) {
	s := &attachedStep{}
	if err := loadReclaimStepsObjects(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("load the reclaim steps: %w", err)
	}
	progs := map[string]*ebpf.Program{
		"end_clock": s.objs.EndClock, "end_start": s.objs.EndStart,
		"end_cgroup": s.objs.EndCgroup, "end_histogram": s.objs.EndHistogram,
	}
	if s.prog = progs[name]; s.prog == nil {
		s.objs.Close()
		return nil, fmt.Errorf("no reclaim step %q", name)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: s.prog})
	if err != nil {
		s.objs.Close()
		return nil, fmt.Errorf("attach the reclaim step %s to %s: %w", name, reclaimStepTracepoint, err)
	}
	s.lnk = l
	return s, nil
}

func (s *attachedStep) close() error {
	return errors.Join(s.lnk.Close(), s.objs.Close())
}

// stepCost is the median cost of one step program, and what it adds to
// the one before it (the empty program before the first).
type stepCost struct {
	reclaimStep
	ns, added float64
}

// stepCosts returns the steps' costs, the empty program's on their
// tracepoint (the floor) and oomtrace's own end program's there; ok is
// false unless every one of them ran.
func (s *stormResults) stepCosts() (steps []stepCost, floor, whole float64, ok bool) {
	measured, _ := s.costs(toolReclaimStep)
	empty, _ := s.costs(toolEmpty)
	ours, _ := s.costs(toolOomtrace)
	ok = empty.ran(reclaimStepTracepoint) && ours.ran("memcg_reclaim_end")
	floor, whole = empty.nsPerRun(reclaimStepTracepoint), ours.nsPerRun("memcg_reclaim_end")
	before := floor
	for _, step := range reclaimSteps {
		ns := measured.nsPerRun(step.program)
		ok = ok && measured.ran(step.program)
		steps = append(steps, stepCost{reclaimStep: step, ns: ns, added: ns - before})
		before = ns
	}
	return steps, floor, whole, ok
}
