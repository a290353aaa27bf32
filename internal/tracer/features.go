package tracer

import (
	"fmt"
	"log/slog"
	"strings"

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

// ProbeFeatures loads and attaches oomtrace in each mode in turn, as Open
// would, and detaches again. The programs every mode shares are loaded
// once, and each mode's function hooks on top of them in turn: verifying
// the shared programs is most of the cost of a start (seconds on a real
// machine, a minute under emulation).
func ProbeFeatures() Features {
	f := Features{Modes: make(map[event.Mode]error)}
	pre := NewPreload()
	kernel, err := pre.Cache().Kernel()
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
	t, spec, err := openBase(Config{Preload: pre}, slog.New(slog.DiscardHandler))
	if err == nil {
		err = t.openReader()
	}
	for _, mode := range autoOrder {
		if err != nil {
			f.Modes[mode] = err // Open fails in every mode alike
			continue
		}
		if hookErr := t.attachFunctionHooks(spec, mode); hookErr != nil {
			f.Modes[mode] = &ModeError{mode, hookErr}
			continue
		}
		f.Modes[mode] = t.detachFunctionHooks()
	}
	if t != nil {
		t.Close()
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
