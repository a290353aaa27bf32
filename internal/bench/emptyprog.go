package bench

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
)

// The empty programs are the floor of the per-program costs: a program of
// `return 0`, attached as tp_btf like oomtrace's, on each tracepoint
// oomtrace's programs run on. Its run time, as the kernel's BPF statistics
// measure it, is what any program on that tracepoint pays before doing
// anything: the trampoline into it and the statistics' own clock reads.
// What oomtrace's program costs beyond it is oomtrace's work.

// emptyProgramTracepoints are the tracepoints given an empty program:
// those of programPairs, and those of oomtrace's other programs.
func emptyProgramTracepoints() []string {
	var tps []string
	for _, p := range programPairs {
		tps = append(tps, p.tracepoint)
	}
	return append(tps, "signal_generate", "sched_process_exit")
}

// emptyPrograms are the empty programs attached, by tracepoint.
type emptyPrograms struct {
	progs map[string]*ebpf.Program
	links []link.Link
}

// attachEmptyPrograms loads and attaches an empty program on each of
// tracepoints that the kernel has.
func attachEmptyPrograms(tracepoints []string) (e *emptyPrograms, err error) {
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("read kernel BTF: %w", err)
	}
	e = &emptyPrograms{progs: make(map[string]*ebpf.Program)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	for _, tp := range tracepoints {
		var typedef *btf.Typedef
		if kernel.TypeByName("btf_trace_"+tp, &typedef) != nil {
			continue // not on this kernel; oomtrace leaves it out too
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         "empty",
			Type:         ebpf.Tracing,
			AttachType:   ebpf.AttachTraceRawTp,
			AttachTo:     tp,
			License:      "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			return e, fmt.Errorf("load an empty program on %s: %w", tp, err)
		}
		e.progs[tp] = prog
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return e, fmt.Errorf("attach an empty program to %s: %w", tp, err)
		}
		e.links = append(e.links, l)
	}
	return e, nil
}

// statsOf returns the kernel's statistics of programs the harness loaded
// itself, labelled by their key in progs.
func statsOf(progs map[string]*ebpf.Program) (progStats, error) {
	stats := make(progStats, len(progs))
	for label, prog := range progs {
		info, err := prog.Info()
		if err != nil {
			return nil, fmt.Errorf("read the program %s: %w", label, err)
		}
		id, ok := info.ID()
		if !ok {
			return nil, fmt.Errorf("the program %s has no id", label)
		}
		st, err := prog.Stats()
		if err != nil {
			return nil, fmt.Errorf("read statistics of the program %s: %w", label, err)
		}
		stats[id] = progStat{Label: label, Runs: st.RunCount, Runtime: st.Runtime, Misses: st.RecursionMisses}
	}
	return stats, nil
}

func (e *emptyPrograms) close() error {
	var errs []error
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	for _, p := range e.progs {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
