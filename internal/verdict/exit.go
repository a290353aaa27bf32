package verdict

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// signalNames are the names of the standard signals, by number.
var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// SignalName is "SIGKILL" for 9, "signal 40" for a number without a name.
func SignalName(sig int32) string {
	if sig > 0 && int(sig) < len(signalNames) {
		return signalNames[sig]
	}
	return "signal " + strconv.Itoa(int(sig))
}

// ExplainExit returns the sentence for an exit event whose cause is set, e.g.
//
//	"worker" (pid 4600) in container worker of pod batch/job-x exited 137:
//	SIGKILL from kubelet (pid 812) after SIGTERM 30.0 s earlier; eviction
//	or termination, not an OOM
//
// and "" for any other event.
func ExplainExit(ev *event.Event) string {
	if ev == nil || ev.Kind != event.KindExit {
		return ""
	}
	x := &ev.Exit
	var b strings.Builder
	b.WriteString(process(ev.Task))
	if where := place(x.Cgroup.Owner, &x.Cgroup); where != "" {
		b.WriteString(" in " + where)
	}
	fmt.Fprintf(&b, " exited %d", x.ShellStatus())
	if x.CoreDumped() {
		b.WriteString(" (core dumped)")
	}
	b.WriteString(": ")
	name := SignalName(x.Signal())
	switch x.Cause {
	case event.CauseOOMKill:
		fmt.Fprintf(&b, "%s from the kernel's OOM killer (%s OOM)", name, x.OOMClass)
	case event.CauseFault:
		b.WriteString(name + " raised by the kernel for the process's own fault")
		if x.EvidenceKtimeNS != 0 {
			fmt.Fprintf(&b, " (si_code %d)", x.Code)
		}
		b.WriteString("; a crash, not an OOM")
	case event.CauseSignal:
		b.WriteString(name + " from " + sender(x))
		if x.TermSender.TGID != 0 {
			fmt.Fprintf(&b, " after SIGTERM %s earlier", seconds(x.TermBefore))
			if x.TermSender.TGID != x.Sender.TGID {
				b.WriteString(" from " + process(x.TermSender))
			}
		}
		b.WriteString("; " + senderMeaning(x.SenderClass))
	default:
		b.WriteString(name + " from a sender oomtrace did not see (signal tracing off, or a signal it does not trace)")
	}
	return b.String()
}

// sender names who sent the killing signal, and where it runs when that
// is not the process's own cgroup.
func sender(x *event.Exit) string {
	var s string
	switch x.SenderClass {
	case event.SenderKernel:
		s = "the kernel (in " + process(x.Sender) + ")"
	case event.SenderKubelet, event.SenderSystemd, event.SenderSystemdOOMD:
		s = fmt.Sprintf("%s (pid %d)", x.SenderClass, x.Sender.TGID)
		if x.Sender.Comm != x.SenderClass.String() {
			s = fmt.Sprintf("%s %s", x.SenderClass, process(x.Sender))
		}
	case event.SenderRuntime:
		s = "container runtime " + process(x.Sender)
	default:
		s = process(x.Sender)
	}
	if x.SenderCgroup.Valid() && x.SenderCgroup.Path != x.Cgroup.Path && x.SenderClass != event.SenderKernel {
		s += " in " + place(x.SenderCgroup.Owner, &x.SenderCgroup)
	}
	return s
}

// senderMeaning says what a kill by this class of sender usually is.
func senderMeaning(c event.SenderClass) string {
	switch c {
	case event.SenderKubelet:
		return "eviction or termination, not an OOM"
	case event.SenderRuntime:
		return "the container was stopped by its runtime, not an OOM"
	case event.SenderSystemd:
		return "systemd stopped the unit, not an OOM"
	case event.SenderSystemdOOMD:
		return "a user-space kill on memory pressure, not the kernel's OOM killer"
	case event.SenderKernel:
		return "sent by the kernel, not by its OOM killer"
	}
	return "sent by a process, not an OOM"
}

// seconds is a duration in seconds with one decimal: "30.0 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
}
