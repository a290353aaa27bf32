// Package classify is the pipeline's classify stage: it decides which limit
// an OOM kill enforced (from oom_control or the kernel's report where a
// source saw them, else from the kernel stack at oom:mark_victim, else from
// the reclaim seen before), who sent a signal, and why a process died. It
// is the one place these are decided, whatever the source.
package classify

import "github.com/oomtrace/oomtrace/internal/event"

// sysrqOrder is oom_control.order of a kill asked for with sysrq-f.
const sysrqOrder = -1

// FromConstraint classifies a kill from the kernel's oom_control.constraint
// and order. A sysrq-f kill carries constraint NONE like a global one; only
// its order of -1 tells, so hasOrder says whether order was seen at all.
func FromConstraint(constraint event.Constraint, order int32, hasOrder bool) event.Class {
	if hasOrder && order == sysrqOrder {
		return event.ClassSysrq
	}
	switch constraint {
	case event.ConstraintNone:
		return event.ClassGlobal
	case event.ConstraintCpuset:
		return event.ClassCpuset
	case event.ConstraintMemoryPolicy:
		return event.ClassMempolicy
	case event.ConstraintMemcg:
		return event.ClassMemcg
	}
	return event.ClassUnknown
}

// FromReason classifies a kill from what the kernel's report in its log
// says when it prints no constraint (before 4.19, or with the summary cut):
// "Memory cgroup out of memory" is a memcg OOM; "Out of memory" any other,
// which a log of those kernels cannot tell apart: global, unless its header
// gives the order -1 of sysrq-f. A cpuset or mempolicy OOM of such a kernel
// reads as global.
func FromReason(r event.Reason, order int32, hasOrder bool) event.Class {
	switch {
	case r == event.ReasonMemcg:
		return event.ClassMemcg
	case r == event.ReasonSystem && hasOrder && order == sysrqOrder:
		return event.ClassSysrq
	case r == event.ReasonSystem || r == event.ReasonAllocatingTask:
		return event.ClassGlobal
	}
	return event.ClassUnknown
}

// FromStack classifies a kill from the kernel functions on the stack at
// oom:mark_victim, innermost first. Names may carry the compiler's suffixes
// (".constprop.0", ".isra.0", ".cold") or an offset ("+0x1a/0x50"). A frame
// that is not a name ("", "0xffffffffc0a01234", "[unknown]") is a function
// that could not be resolved.
//
//   - A memory cgroup's entry into the OOM killer anywhere on the stack makes
//     it memcg: that decides even when the charge was made inside the page
//     allocator, for kernel memory.
//   - Else moom_callback, the sysrq-f handler, makes it sysrq.
//   - Else the OOM killer called from anywhere else is global. A cpuset or
//     memory-policy OOM takes the same path as a global one and cannot be
//     told from it by the stack: it comes out global, for Refine to tell
//     apart.
//
// A stack without the OOM killer gives ClassUnknown, and so does one whose
// frames outside the OOM killer are missing (a truncated stack) or
// unresolved: its caller, which tells the class, is unknown.
//
// victimExiting reports a kill that sent no SIGKILL: the OOM killer only
// marked a victim that was already exiting, so __oom_kill_process, which
// sends the signal, is not on a stack that has the OOM killer on it.
func FromStack(symbols []string) (class event.Class, victimExiting bool) {
	var memcg, sysrq, signalled bool
	outermostKiller, outermostNamed := -1, -1
	for i, symbol := range symbols {
		name := baseName(symbol)
		if name != "" {
			outermostNamed = i
		}
		switch name {
		case "mem_cgroup_out_of_memory", "mem_cgroup_oom", "try_charge",
			"try_charge_memcg", "memory_max_write", "mem_cgroup_oom_synchronize":
			memcg = true
		case "moom_callback":
			sysrq = true
		case "out_of_memory", "oom_kill_process":
			outermostKiller = i
		case "__oom_kill_process":
			signalled = true
		}
	}
	switch {
	case outermostKiller < 0:
		return event.ClassUnknown, false
	case memcg:
		return event.ClassMemcg, !signalled
	case sysrq:
		return event.ClassSysrq, !signalled
	case outermostNamed == outermostKiller:
		return event.ClassUnknown, !signalled
	}
	return event.ClassGlobal, !signalled
}

// baseName returns the C identifier a symbol starts with:
// "__alloc_pages_slowpath" for "__alloc_pages_slowpath.constprop.0", and ""
// for a symbol that starts with none, such as an address.
func baseName(symbol string) string {
	for i := 0; i < len(symbol); i++ {
		c := symbol[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return symbol[:i]
		}
	}
	return symbol
}
