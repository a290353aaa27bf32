package bench

import (
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
	coll *ebpf.Collection
	prog *ebpf.Program
	lnk  link.Link
}

// attachReclaimStep loads the reclaim step named, alone (the verifier walks
// only it), and attaches it.
func attachReclaimStep(name string) (*attachedStep, error) {
	spec, err := loadReclaimSteps()
	if err != nil {
		return nil, err
	}
	prog, ok := spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("no reclaim step %q", name)
	}
	spec.Programs = map[string]*ebpf.ProgramSpec{name: prog}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load the reclaim step %s: %w", name, err)
	}
	s := &attachedStep{coll: coll, prog: coll.Programs[name]}
	if s.lnk, err = link.AttachTracing(link.TracingOptions{Program: s.prog}); err != nil {
		coll.Close()
		return nil, fmt.Errorf("attach the reclaim step %s to %s: %w", name, reclaimStepTracepoint, err)
	}
	return s, nil
}

func (s *attachedStep) close() error {
	err := s.lnk.Close()
	s.coll.Close()
	return err
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
