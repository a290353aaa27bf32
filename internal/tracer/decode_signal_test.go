package tracer

import (
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

func TestDecodeSignal(t *testing.T) {
	d, err := NewDecoder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &oomtraceSignalEvent{Sig: 9, Code: 0, TargetPid: 301, TargetTgid: 300, Group: 1}
	r.Hdr = oomtraceEventHeader{KtimeNs: 7_000, Kind: uint32(oomtraceEventKindEVENT_SIGNAL), Cpu: 3, Pid: 812, Tgid: 810}
	setString(r.Hdr.Comm[:], "kubelet")
	setString(r.TargetComm[:], "work\ner")
	r.SenderCgroup = cgroupInfo("/system.slice/kubelet.service", 4, 10, 1<<51)
	r.TargetCgroup = cgroupInfo("/pod/ctr", 7, 20, 30)

	var ev event.Event
	if err := d.Decode(rawBytes(r), &ev); err != nil {
		t.Fatal(err)
	}
	s := ev.Signal
	if ev.Kind != event.KindSignal || ev.KtimeNS != 7_000 || ev.CPU != 3 {
		t.Errorf("header: kind %v ktime %d cpu %d", ev.Kind, ev.KtimeNS, ev.CPU)
	}
	if s.Sender != (event.Task{PID: 812, TGID: 810, Comm: "kubelet"}) || s.Sender != ev.Task {
		t.Errorf("sender %+v, task %+v", s.Sender, ev.Task)
	}
	if s.Target != (event.Task{PID: 301, TGID: 300, Comm: "work\ner"}) {
		t.Errorf("target %+v", s.Target)
	}
	if s.Signal != 9 || s.Code != event.SIUser || !s.Group || s.SenderClass != event.SenderUnknown {
		t.Errorf("signal %d code %d group %v class %v", s.Signal, s.Code, s.Group, s.SenderClass)
	}
	if s.SenderCgroup.Path != "/system.slice/kubelet.service" || s.SenderCgroup.ID != 4 || s.SenderCgroup.LimitBytes != event.NoLimit {
		t.Errorf("sender cgroup %+v", s.SenderCgroup)
	}
	if s.TargetCgroup.Path != "/pod/ctr" || s.TargetCgroup.ID != 7 || s.TargetCgroup.UsageBytes != 20*pageSize || s.TargetCgroup.LimitBytes != 30*pageSize {
		t.Errorf("target cgroup %+v", s.TargetCgroup)
	}

	// A fault: raised by the kernel in the faulting thread, no cgroup read.
	r.Sig, r.Code, r.Group = 11, 1, 0
	r.SenderCgroup, r.TargetCgroup = oomtraceCgroupInfo{}, oomtraceCgroupInfo{}
	if err := d.Decode(rawBytes(r), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Signal.Signal != 11 || ev.Signal.Code != 1 || ev.Signal.Group || ev.Signal.TargetCgroup.Valid() || ev.Signal.SenderCgroup.Valid() {
		t.Errorf("fault: %+v", ev.Signal)
	}
}

func TestDecodeExit(t *testing.T) {
	d, err := NewDecoder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	// A signal record first: nothing of it may leak into the exit.
	sig := &oomtraceSignalEvent{Sig: 15}
	sig.Hdr.Kind = uint32(oomtraceEventKindEVENT_SIGNAL)
	if err := d.Decode(rawBytes(sig), &ev); err != nil {
		t.Fatal(err)
	}

	r := &oomtraceExitEvent{ExitCode: 0x80 | 11}
	r.Hdr = oomtraceEventHeader{KtimeNs: 9_000, Kind: uint32(oomtraceEventKindEVENT_EXIT), Pid: 401, Tgid: 400}
	setString(r.Hdr.Comm[:], "crasher")
	r.Cgroup = cgroupInfo("/t", 5, 1, 2)
	if err := d.Decode(rawBytes(r), &ev); err != nil {
		t.Fatal(err)
	}
	x := &ev.Exit
	if ev.Kind != event.KindExit || ev.Task != (event.Task{PID: 401, TGID: 400, Comm: "crasher"}) {
		t.Errorf("kind %v task %+v", ev.Kind, ev.Task)
	}
	if x.ExitCode != 0x8b || x.Signal() != 11 || !x.CoreDumped() || x.ShellStatus() != 139 || x.Cause != event.CauseUnknown {
		t.Errorf("exit %+v: signal %d core %v status %d", *x, x.Signal(), x.CoreDumped(), x.ShellStatus())
	}
	if x.Cgroup.Path != "/t" || x.Cgroup.ID != 5 {
		t.Errorf("cgroup %+v", x.Cgroup)
	}
	if ev.Signal != (event.Signal{}) {
		t.Errorf("signal left over: %+v", ev.Signal)
	}
}

func TestDecodeShortSignalRecords(t *testing.T) {
	d, err := NewDecoder(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	for _, kind := range []oomtraceEventKind{oomtraceEventKindEVENT_SIGNAL, oomtraceEventKindEVENT_EXIT} {
		hdr := oomtraceEventHeader{Kind: uint32(kind)}
		if err := d.Decode(rawBytes(&hdr), &ev); err == nil {
			t.Errorf("kind %d: a bare header decoded", kind)
		}
	}
}

func TestParseEventGroups(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want EventGroup
		ok   bool
	}{
		{"all", AllEvents, true},
		{"oom, signal,exit", EventsOOM | EventsSignal | EventsExit, true},
		{"reclaim,reaper", EventsReclaim | EventsReaper, true},
		{"", 0, false},
		{"oom,sigs", 0, false},
	} {
		got, err := ParseEventGroups(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseEventGroups(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if s := (EventsOOM | EventsExit).String(); s != "oom,exit" {
		t.Errorf("String = %q", s)
	}
	if EventGroup(0).orAll() != AllEvents {
		t.Error("zero groups do not mean all")
	}
}

// Every hook belongs to a group --events can name, or it could never be
// turned on.
func TestHooksHaveGroups(t *testing.T) {
	for _, h := range append(append([]hook{markVictimHook}, markVictimPidHooks...), tracepointHooks...) {
		if h.group == 0 || h.group&AllEvents != h.group {
			t.Errorf("hook %s has group %d", h.program, h.group)
		}
	}
}
