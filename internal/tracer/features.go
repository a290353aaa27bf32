package tracer

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Features is what this kernel and these privileges allow, found by loading
// and attaching for real: a feature probe that only asks the kernel whether
// a program type exists would miss lockdown and missing symbols.
type Features struct {
	// BTF is nil when kernel BTF is readable.
	BTF error
	// MarkVictim names the form of oom:mark_victim.
	MarkVictim string
	// Tracepoints says, per tracepoint oomtrace uses, whether the kernel has it.
	Tracepoints []TracepointFeature
	// Modes holds, per attach mode, nil when it loaded and attached.
	Modes map[event.Mode]error
}

// TracepointFeature is one tracepoint and whether the kernel has it.
type TracepointFeature struct {
	Name    string
	Present bool
}

// ProbeFeatures loads and attaches oomtrace in each mode in turn and
// detaches again.
func ProbeFeatures() Features {
	f := Features{Modes: make(map[event.Mode]error)}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		f.BTF = err
	} else {
		if form, err := detectMarkVictim(kernel); err == nil {
			f.MarkVictim = form.String()
		} else {
			f.MarkVictim = err.Error()
		}
		f.Tracepoints = append(f.Tracepoints, TracepointFeature{"mark_victim", hasTracepoint(kernel, "mark_victim")})
		for _, h := range tracepointHooks {
			f.Tracepoints = append(f.Tracepoints, TracepointFeature{h.target, hasTracepoint(kernel, h.target)})
		}
	}
	for _, mode := range autoOrder {
		t, err := Open(Config{Mode: &mode})
		if err == nil {
			err = t.Close()
		}
		f.Modes[mode] = err
	}
	return f
}

// AutoMode is the mode auto would pick, and why.
func (f Features) AutoMode() (event.Mode, string, error) {
	var failed []string
	for _, mode := range autoOrder {
		if f.Modes[mode] == nil {
			if len(failed) == 0 {
				return mode, "it reads the most and it works", nil
			}
			return mode, strings.Join(failed, " and ") + " mode failed (see above)", nil
		}
		failed = append(failed, mode.String())
	}
	return 0, "", fmt.Errorf("no attach mode works: %s failed (see above)", strings.Join(failed, ", "))
}

// AutoOrder lists the modes in the order auto tries them.
func AutoOrder() []event.Mode { return append([]event.Mode(nil), autoOrder...) }
