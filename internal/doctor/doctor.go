// Package doctor tells what this kernel and these privileges allow oomtrace
// to do, and which attach mode auto would pick.
package doctor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/ksym"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// Status of one check.
type Status string

const (
	OK   Status = "ok"
	Fail Status = "FAIL"
	Info Status = "info"
)

// Check is one line of the report.
type Check struct {
	Status Status
	Name   string
	Detail string
}

// Report is everything doctor found.
type Report struct {
	Kernel     string
	Checks     []Check
	AutoMode   event.Mode
	AutoReason string
	// Usable is false when no attach mode works: oomtrace cannot trace here.
	Usable bool
}

// Run probes this machine. It loads and attaches oomtrace for real, so it
// needs the same privileges as tracing.
func Run() Report {
	var r Report
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		r.Kernel = unix.ByteSliceToString(uts.Release[:]) + " " + unix.ByteSliceToString(uts.Machine[:])
	}
	add := func(ok bool, name, detail string) {
		s := OK
		if !ok {
			s = Fail
		}
		r.Checks = append(r.Checks, Check{s, name, detail})
	}

	if os.Geteuid() == 0 {
		add(true, "privileges", "running as root")
	} else {
		add(false, "privileges", "not root: tracing needs root, or CAP_BPF and CAP_PERFMON")
	}
	if b, err := os.ReadFile("/sys/kernel/security/lockdown"); err == nil {
		r.Checks = append(r.Checks, Check{Info, "lockdown", strings.TrimSpace(string(b)) + " (the bracketed mode is in force)"})
	}

	features := tracer.ProbeFeatures()
	if features.BTF != nil {
		add(false, "kernel BTF", fmt.Sprintf("%v: CO-RE needs CONFIG_DEBUG_INFO_BTF", features.BTF))
	} else {
		add(true, "kernel BTF", "/sys/kernel/btf/vmlinux")
		add(true, "oom:mark_victim", features.MarkVictim)
	}
	for _, tp := range features.Tracepoints {
		detail := "present"
		if !tp.Present {
			detail = "missing: its events are not reported"
		}
		add(tp.Present, "tracepoint "+tp.Name, detail)
	}
	for _, mode := range tracer.AutoOrder() {
		err := features.Modes[mode]
		detail := "loads and attaches"
		var modeErr *tracer.ModeError
		if errors.As(err, &modeErr) {
			detail = modeErr.Err.Error()
		} else if err != nil {
			detail = err.Error()
		}
		add(err == nil, mode.String()+" mode", detail)
	}

	if _, err := ksym.Load(); err != nil {
		add(false, "kallsyms", fmt.Sprintf("%v: tracepoint-mode kills cannot be classified", err))
	} else {
		add(true, "kallsyms", "/proc/kallsyms has real addresses")
	}
	if h, err := memcg.Detect(); err != nil {
		add(false, "memory cgroup", err.Error())
	} else {
		add(true, "memory cgroup", fmt.Sprintf("cgroup v%d at %s", h.Version, h.Mountpoint))
	}

	if err := kernlog.CanRead(); err != nil {
		add(false, "kernel log", fmt.Sprintf("%v: no kmsg mode, no explain of this machine's log, no oom_report after kills", err))
	} else {
		add(true, "kernel log", kernlog.KmsgPath+" readable: kmsg mode, oom_report after kills")
	}

	mode, reason, err := features.AutoMode()
	if err == nil {
		r.Usable, r.AutoMode, r.AutoReason = true, mode, reason
		return r
	}
	// What trace, record and serve do in auto mode.
	if standIn := kernlog.StandsIn(err); standIn != nil {
		r.AutoReason = standIn.Error()
		return r
	}
	r.Usable, r.AutoMode = true, event.ModeKmsg
	r.AutoReason = fmt.Sprintf("no BPF mode loads (%v): %s", err, kernlog.StandInGives)
	return r
}

// Write prints the report, one check a line.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel %s\n", r.Kernel)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %-4s  %-*s  %s\n", c.Status, width, c.Name, c.Detail)
	}
	if r.Usable {
		fmt.Fprintf(&b, "auto mode: %s, because %s\n", r.AutoMode, r.AutoReason)
	} else {
		fmt.Fprintf(&b, "oomtrace cannot trace here: %s\n", r.AutoReason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
