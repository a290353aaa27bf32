package output

import (
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// kubeletSIGKILL is the kubelet killing a container's process after its
// grace period.
func kubeletSIGKILL() event.Event {
	kubelet := event.Task{PID: 812, TGID: 800, Comm: "kubelet"}
	return event.Event{
		Kind:    event.KindSignal,
		Time:    time.Date(2025, 3, 1, 12, 31, 15, 0, time.UTC),
		KtimeNS: 5153_000000000,
		CPU:     1,
		Task:    kubelet,
		Signal: event.Signal{
			Sender:       kubelet,
			SenderCgroup: event.Cgroup{Path: "/system.slice/kubelet.service", ID: 31, UsageBytes: 90 << 20, LimitBytes: event.NoLimit, Owner: event.Owner{Unit: "kubelet.service"}},
			Target:       event.Task{PID: 4600, TGID: 4600, Comm: "worker"},
			TargetCgroup: event.Cgroup{Path: "/kubepods/pod1/ctr", ID: 77, UsageBytes: 10 << 20, LimitBytes: 64 << 20, Owner: event.Owner{Name: "worker", PodName: "job-x", Namespace: "batch", Level: event.LevelContainer}},
			Signal:       9,
			Code:         event.SIUser,
			Group:        true,
			SenderClass:  event.SenderKubelet,
		},
	}
}

// kubeletExit is the death that SIGKILL caused.
func kubeletExit() event.Event {
	sig := kubeletSIGKILL()
	return event.Event{
		Kind:    event.KindExit,
		Time:    sig.Time.Add(2 * time.Millisecond),
		KtimeNS: sig.KtimeNS + 2_000_000,
		CPU:     2,
		Task:    sig.Signal.Target,
		Exit: event.Exit{
			Cgroup:          sig.Signal.TargetCgroup,
			ExitCode:        9,
			Cause:           event.CauseSignal,
			EvidenceKtimeNS: sig.KtimeNS,
			Sender:          sig.Signal.Sender,
			SenderCgroup:    sig.Signal.SenderCgroup,
			SenderClass:     event.SenderKubelet,
			Code:            event.SIUser,
			TermSender:      sig.Signal.Sender,
			TermBefore:      30 * time.Second,
			Why:             "container worker of pod batch/job-x exited 137: SIGKILL from kubelet (pid 800) after SIGTERM 30.0 s earlier; eviction or termination, not an OOM",
		},
	}
}

func signalGoldenCases() []goldenCase {
	fault := kubeletSIGKILL()
	fault.Task = event.Task{PID: 4601, TGID: 4600, Comm: "w\x1b[0m\"ker"}
	fault.Signal.Sender, fault.Signal.Target = fault.Task, fault.Task
	fault.Signal.SenderCgroup = fault.Signal.TargetCgroup
	fault.Signal.Signal, fault.Signal.Code, fault.Signal.Group = 11, 1, false
	fault.Signal.SenderClass = event.SenderUnknown // as decoded, before the correlator

	oomExit := kubeletExit()
	oomExit.Exit = event.Exit{
		Cgroup:          event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 52428800, LimitBytes: 52428800},
		ExitCode:        9,
		Cause:           event.CauseOOMKill,
		EvidenceKtimeNS: oomExit.KtimeNS - 1000,
		OOMClass:        event.ClassMemcg,
		Why:             `"worker" (pid 4600) in cgroup "/t" exited 137: SIGKILL from the kernel's OOM killer (memcg OOM)`,
	}

	coreDump := kubeletExit()
	coreDump.Task = fault.Task
	coreDump.Exit = event.Exit{
		Cgroup:          fault.Signal.TargetCgroup,
		ExitCode:        0x80 | 11,
		Cause:           event.CauseFault,
		EvidenceKtimeNS: fault.KtimeNS,
		Sender:          fault.Task,
		SenderCgroup:    fault.Signal.TargetCgroup,
		SenderClass:     event.SenderKernel,
		Code:            1,
	}

	unknown := kubeletExit()
	unknown.Exit = event.Exit{ExitCode: 15}

	names := Options{GFPNames: testGFPNames}
	return []goldenCase{
		{"signal_kubelet", kubeletSIGKILL(), names},
		{"signal_fault_hostile", fault, names},
		{"exit_kubelet", kubeletExit(), names},
		{"exit_oom_kill", oomExit, names},
		{"exit_fault_core", coreDump, names},
		{"exit_unknown", unknown, names},
	}
}

// An exit that is not a signal's leaves out the sender and the SIGTERM.
func TestExitOmitsEvidence(t *testing.T) {
	ev := kubeletExit()
	ev.Exit.Cause = event.CauseOOMKill
	ev.Exit.OOMClass = event.ClassMemcg
	ev.Exit.TermSender = event.Task{}
	line := string(AppendText(nil, &ev, Options{}))
	for _, key := range []string{" sender.", " si_code=", " sigterm", "sender_class=kubelet"} {
		if strings.Contains(line, key) {
			t.Errorf("oom_kill exit has %q: %s", key, line)
		}
	}
	if !strings.Contains(line, " cause=oom_kill cause.ktime_ns=") || !strings.Contains(line, " cause.class=memcg") {
		t.Errorf("cause missing: %s", line)
	}
}
