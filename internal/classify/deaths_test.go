package classify

import (
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/verdict"
)

const victimTGID = 4600

var victimTask = event.Task{PID: victimTGID, TGID: victimTGID, Comm: "worker"}

func signalEv(at time.Duration, sig, code int32, sender event.Task, senderCgroup event.Cgroup) event.Event {
	return event.Event{Kind: event.KindSignal, KtimeNS: uint64(at), Task: sender, Signal: event.Signal{
		Sender: sender, SenderCgroup: senderCgroup, Target: victimTask, Signal: sig, Code: code, Group: true,
	}}
}

func oomKillEv(at time.Duration, tgid uint32, exiting bool) event.Event {
	return event.Event{Kind: event.KindOOMKill, KtimeNS: uint64(at), OOMKill: event.OOMKill{
		Class: event.ClassMemcg, Victim: event.Victim{Task: event.Task{PID: tgid, TGID: tgid}}, VictimExiting: exiting,
	}}
}

func exitEv(at time.Duration, code uint32) event.Event {
	return event.Event{Kind: event.KindExit, KtimeNS: uint64(at), Task: victimTask, Exit: event.Exit{
		ExitCode: code,
		Cgroup:   event.Cgroup{Path: "/kubepods/pod1/ctr", ID: 7, Owner: event.Owner{PodUID: "u", PodName: "job-x", Namespace: "batch", Name: "worker", Level: event.LevelContainer}},
	}}
}

var (
	kubelet = event.Task{PID: 812, TGID: 812, Comm: "kubelet"}
	shell   = event.Task{PID: 900, TGID: 900, Comm: "sh"}
	shim    = event.Task{PID: 700, TGID: 700, Comm: "containerd-shim"}
	oomd    = event.Task{PID: 600, TGID: 600, Comm: "systemd-oomd"}
	initPID = event.Task{PID: 1, TGID: 1, Comm: "init"}
	self    = event.Task{PID: victimTGID + 1, TGID: victimTGID, Comm: "worker"}
	noCg    = event.Cgroup{}
)

func TestDeathCauses(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name   string
		events []event.Event
		want   event.Exit // the cause and its evidence; Cgroup, ExitCode and Why are not compared
		why    string     // a part of the verdict
	}{
		{
			name:   "oom kill",
			events: []event.Event{signalEv(1*s, 9, event.SIKernel, shell, noCg), oomKillEv(1*s+1, victimTGID, false), exitEv(2*s, 9)},
			want:   event.Exit{Cause: event.CauseOOMKill, EvidenceKtimeNS: uint64(1*s + 1), OOMClass: event.ClassMemcg},
			why:    `exited 137: SIGKILL from the kernel's OOM killer (memcg OOM)`,
		},
		{
			name:   "oom kill of an exiting victim is not its cause",
			events: []event.Event{oomKillEv(1*s, victimTGID, true), signalEv(2*s, 9, event.SIUser, shell, noCg), exitEv(3*s, 9)},
			want:   event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(2 * s), Sender: shell, SenderClass: event.SenderUser},
			why:    `SIGKILL from "sh" (pid 900); sent by a process, not an OOM`,
		},
		{
			name:   "oom kill of another process",
			events: []event.Event{oomKillEv(1*s, 1234, false), exitEv(2*s, 9)},
			want:   event.Exit{Cause: event.CauseUnknown},
			why:    "did not see",
		},
		{
			name: "kubelet after its grace period",
			events: []event.Event{
				signalEv(10*s, 15, event.SIUser, kubelet, noCg), signalEv(40*s, 9, event.SIUser, kubelet, noCg), exitEv(40*s+5, 9),
			},
			want: event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(40 * s), Sender: kubelet, SenderClass: event.SenderKubelet, TermSender: kubelet, TermBefore: 30 * s},
			why:  `"worker" (pid 4600) in container worker of pod batch/job-x exited 137: SIGKILL from kubelet (pid 812) after SIGTERM 30.0 s earlier; eviction or termination, not an OOM`,
		},
		{
			name:   "runtime shim",
			events: []event.Event{signalEv(1*s, 9, event.SIUser, shim, noCg), exitEv(2*s, 9)},
			want:   event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(s), Sender: shim, SenderClass: event.SenderRuntime},
			why:    `container runtime "containerd-shim" (pid 700)`,
		},
		{
			name:   "systemd-oomd",
			events: []event.Event{signalEv(1*s, 9, event.SIUser, oomd, noCg), exitEv(2*s, 9)},
			want:   event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(s), Sender: oomd, SenderClass: event.SenderSystemdOOMD},
			why:    "not the kernel's OOM killer",
		},
		{
			name:   "pid 1 is systemd",
			events: []event.Event{signalEv(1*s, 15, event.SIUser, initPID, noCg), exitEv(2*s, 15)},
			want:   event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(s), Sender: initPID, SenderClass: event.SenderSystemd},
			why:    `exited 143: SIGTERM from systemd "init" (pid 1)`,
		},
		{
			name:   "segfault",
			events: []event.Event{signalEv(1*s, 11, 1, self, noCg), exitEv(2*s, 0x80|11)},
			want:   event.Exit{Cause: event.CauseFault, EvidenceKtimeNS: uint64(s), Sender: self, SenderClass: event.SenderKernel, Code: 1},
			why:    "exited 139 (core dumped): SIGSEGV raised by the kernel for the process's own fault (si_code 1)",
		},
		{
			name:   "SIGSEGV sent with kill is a signal",
			events: []event.Event{signalEv(1*s, 11, event.SIUser, shell, noCg), exitEv(2*s, 11)},
			want:   event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(s), Sender: shell, SenderClass: event.SenderUser},
		},
		{
			name:   "fault signal with nothing seen",
			events: []event.Event{exitEv(2*s, 7)},
			want:   event.Exit{Cause: event.CauseFault},
			why:    "SIGBUS raised by the kernel for the process's own fault; a crash",
		},
		{
			name:   "only the signal that matches the exit",
			events: []event.Event{signalEv(1*s, 9, event.SIUser, shell, noCg), exitEv(2*s, 15)},
			want:   event.Exit{Cause: event.CauseUnknown},
		},
		{
			name:   "too old",
			events: []event.Event{signalEv(1*s, 9, event.SIUser, shell, noCg), exitEv(1*s+deathHorizon+1, 9)},
			want:   event.Exit{Cause: event.CauseUnknown},
		},
		{
			name:   "kernel signal without an oom kill",
			events: []event.Event{signalEv(1*s, 9, event.SIKernel, shell, noCg), exitEv(2*s, 9)},
			want:   event.Exit{Cause: event.CauseSignal, EvidenceKtimeNS: uint64(s), Sender: shell, SenderClass: event.SenderKernel, Code: event.SIKernel},
			why:    `SIGKILL from the kernel (in "sh" (pid 900))`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeathCorrelator()
			var ev event.Event
			for _, e := range tc.events {
				ev = e
				d.observe(&ev)
			}
			got := ev.Exit
			got.Cgroup, got.ExitCode, got.Why = event.Cgroup{}, 0, ""
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if why := verdict.ExplainExit(&ev); !strings.Contains(why, tc.why) {
				t.Errorf("why %q does not contain %q", why, tc.why)
			}
			if _, kept := d.byTGID[victimTGID]; kept {
				t.Error("evidence kept after the exit")
			}
		})
	}
}

func TestClassifySender(t *testing.T) {
	unit := func(name string) event.Cgroup {
		return event.Cgroup{Path: "/system.slice/" + name, Owner: event.Owner{Unit: name}}
	}
	for _, tc := range []struct {
		sender event.Task
		cgroup event.Cgroup
		code   int32
		want   event.SenderClass
	}{
		{kubelet, noCg, event.SIUser, event.SenderKubelet},
		{event.Task{TGID: 5, Comm: "kubelite"}, unit("kubelet.service"), event.SIUser, event.SenderKubelet},
		{event.Task{TGID: 5, Comm: "runc:[2:INIT]"}, noCg, event.SIUser, event.SenderRuntime},
		{event.Task{TGID: 5, Comm: "crun"}, noCg, event.SIUser, event.SenderRuntime},
		{event.Task{TGID: 5, Comm: "conmon"}, noCg, event.SIUser, event.SenderRuntime},
		{event.Task{TGID: 5, Comm: "dockerd"}, noCg, event.SIUser, event.SenderRuntime},
		{event.Task{TGID: 5, Comm: "crio"}, noCg, event.SIUser, event.SenderRuntime},
		{event.Task{TGID: 5, Comm: "anything"}, unit("containerd.service"), event.SIUser, event.SenderRuntime},
		{event.Task{TGID: 5, Comm: "systemd"}, noCg, event.SIUser, event.SenderSystemd},
		{initPID, noCg, event.SIUser, event.SenderSystemd},
		{oomd, noCg, event.SIUser, event.SenderSystemdOOMD},
		{shell, noCg, event.SIKernel, event.SenderKernel},
		{shell, noCg, event.SIUser, event.SenderUser},
		{event.Task{TGID: 5, Comm: "containerd-shi"}, noCg, event.SIUser, event.SenderUser},
	} {
		s := event.Signal{Sender: tc.sender, SenderCgroup: tc.cgroup, Target: victimTask, Signal: 9, Code: tc.code}
		if got := ClassifySender(&s); got != tc.want {
			t.Errorf("%+v in %q: got %v, want %v", tc.sender, tc.cgroup.Path, got, tc.want)
		}
	}
}

// The correlator's memory stays bounded however many processes are
// signalled and never exit.
func TestDeathCorrelatorBounded(t *testing.T) {
	d := newDeathCorrelator()
	for i := range 3 * maxTracked {
		ev := signalEv(time.Duration(i)*time.Millisecond, 15, event.SIUser, shell, noCg)
		ev.Signal.Target.TGID = uint32(10_000 + i)
		d.observe(&ev)
		if len(d.byTGID) > maxTracked {
			t.Fatalf("%d processes tracked after %d signals", len(d.byTGID), i+1)
		}
	}
	// Old entries go first once the horizon has passed.
	ev := signalEv(time.Duration(3*maxTracked)*time.Millisecond+deathHorizon+time.Second, 15, event.SIUser, shell, noCg)
	ev.Signal.Target.TGID = 1
	d.observe(&ev)
	if len(d.byTGID) != 1 {
		t.Errorf("%d processes tracked after every other expired", len(d.byTGID))
	}
}
