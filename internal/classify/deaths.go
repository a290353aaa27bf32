package classify

import (
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
)

// Bounds of what the death correlator remembers: a process's evidence is
// dropped when it exits, when it is older than deathHorizon, or, past
// maxTracked processes, to make room.
const (
	maxTracked = 4096
	// deathHorizon is how long a signal or a kill stays evidence. It covers
	// the grace periods that matter (the kubelet's default is 30 s) without
	// tying a reused pid to a signal from long ago.
	deathHorizon = 10 * time.Minute
	// signalsKept is the signals remembered per process: the killing one
	// and the SIGTERM before it, with room for repeats.
	signalsKept = 4
)

// Signal numbers the correlator tells apart (the same on every Linux
// architecture oomtrace runs on).
const (
	sigILL  = 4
	sigBUS  = 7
	sigFPE  = 8
	sigKILL = 9
	sigSEGV = 11
	sigTERM = 15
)

// seenSignal is a signal to a process, as remembered.
type seenSignal struct {
	ktime uint64
	sig   event.Signal
}

// evidence is what was seen happen to one process before it exited.
type evidence struct {
	latest  uint64 // ktime of the newest entry, for expiry
	hasKill bool
	kill    uint64 // ktime of the oom_kill
	class   event.Class
	signals [signalsKept]seenSignal // newest last; ktime 0 is an empty slot
}

func (e *evidence) addSignal(ktime uint64, s *event.Signal) {
	copy(e.signals[:], e.signals[1:])
	e.signals[len(e.signals)-1] = seenSignal{ktime, *s}
}

// deathCorrelator gives each exit its cause from the oom_kill and signal
// events seen before it, and each signal its sender's class. Its memory is
// bounded by maxTracked processes.
type deathCorrelator struct {
	byTGID map[uint32]*evidence
}

func newDeathCorrelator() *deathCorrelator {
	return &deathCorrelator{byTGID: make(map[uint32]*evidence)}
}

// observe records oom_kill and signal events and completes signal and exit
// events; it must see every event of its source, before any filter.
func (d *deathCorrelator) observe(ev *event.Event) {
	switch ev.Kind {
	case event.KindOOMKill:
		k := &ev.OOMKill
		if k.VictimExiting || k.Victim.TGID == 0 {
			return // no SIGKILL was sent: the process was already dying
		}
		e := d.track(k.Victim.TGID, ev.KtimeNS)
		e.hasKill, e.kill, e.class = true, ev.KtimeNS, k.Class
	case event.KindSignal:
		s := &ev.Signal
		s.SenderClass = ClassifySender(s)
		d.track(s.Target.TGID, ev.KtimeNS).addSignal(ev.KtimeNS, s)
	case event.KindExit:
		tgid := ev.Task.TGID
		e := d.byTGID[tgid]
		delete(d.byTGID, tgid) // the pid is free for reuse from now on
		exitCause(ev, e)
	}
}

// track returns the evidence kept for tgid, making room if needed.
func (d *deathCorrelator) track(tgid uint32, now uint64) *evidence {
	e, ok := d.byTGID[tgid]
	if !ok {
		if len(d.byTGID) >= maxTracked {
			d.expire(now)
		}
		e = &evidence{}
		d.byTGID[tgid] = e
	}
	if now > e.latest {
		e.latest = now
	}
	return e
}

// expire drops the evidence older than deathHorizon; if every process is
// recent, it drops one at random (map order), which keeps the map bounded
// at the cost of one process's cause.
func (d *deathCorrelator) expire(now uint64) {
	horizon := uint64(deathHorizon)
	for tgid, e := range d.byTGID {
		if now-e.latest > horizon {
			delete(d.byTGID, tgid)
		}
	}
	for tgid := range d.byTGID {
		if len(d.byTGID) < maxTracked {
			break
		}
		delete(d.byTGID, tgid)
	}
}

// exitCause sets the cause of ev, an exit, and its evidence from e (nil:
// nothing seen).
func exitCause(ev *event.Event, e *evidence) {
	x := &ev.Exit
	sig := x.Signal()
	recent := func(ktime uint64) bool {
		return ktime != 0 && ktime <= ev.KtimeNS && ev.KtimeNS-ktime <= uint64(deathHorizon)
	}

	if e != nil && sig == sigKILL && e.hasKill && recent(e.kill) {
		x.Cause, x.EvidenceKtimeNS, x.OOMClass = event.CauseOOMKill, e.kill, e.class
		return
	}
	var killer *seenSignal
	if e != nil {
		for i := len(e.signals) - 1; i >= 0; i-- {
			if s := &e.signals[i]; recent(s.ktime) && s.sig.Signal == sig {
				killer = s
				break
			}
		}
	}
	if killer == nil {
		if isFaultSignal(sig) {
			x.Cause = event.CauseFault // raised where no signal is traced: a fault, most likely
		}
		return
	}
	s := &killer.sig
	x.EvidenceKtimeNS = killer.ktime
	x.Sender, x.SenderCgroup, x.SenderClass, x.Code = s.Sender, s.SenderCgroup, s.SenderClass, s.Code
	x.Cause = event.CauseSignal
	if isFault(s) {
		x.Cause = event.CauseFault
		return
	}
	if sig != sigKILL {
		return
	}
	// The grace period: the last SIGTERM before the SIGKILL.
	for i := len(e.signals) - 1; i >= 0; i-- {
		t := &e.signals[i]
		if t.ktime != 0 && t.ktime <= killer.ktime && t.sig.Signal == sigTERM && killer.ktime-t.ktime <= uint64(deathHorizon) {
			x.TermSender = t.sig.Sender
			x.TermBefore = time.Duration(killer.ktime - t.ktime)
			return
		}
	}
}

func isFaultSignal(sig int32) bool {
	return sig == sigSEGV || sig == sigBUS || sig == sigILL || sig == sigFPE
}

// isFault reports whether s is the kernel raising a signal for a thread's
// own fault: a fault signal with a positive si_code (SEGV_MAPERR, BUS_ADRERR,
// FPE_INTDIV, ...), sent in the faulting thread's process.
func isFault(s *event.Signal) bool {
	return isFaultSignal(s.Signal) && s.Code > 0 && s.Code != event.SIKernel && s.Sender.TGID == s.Target.TGID
}

// runtimeComms are the names (as the kernel keeps them: 15 bytes at most)
// of container runtimes and their shims; a name ending in '*' is a prefix.
var runtimeComms = []string{"containerd", "containerd-shim*", "runc*", "crun", "conmon", "dockerd", "docker-init", "crio", "cri-o", "podman"}

// runtimeUnits are the systemd units runtimes run in.
var runtimeUnits = []string{"containerd.service", "docker.service", "crio.service"}

// ClassifySender tells who sent a signal: by its si_code, its sender's name,
// pid and cgroup. Names can be chosen by anyone, so the class says what the
// sender called itself, not what it is; the cgroup is named in the event.
// The unit is read from the cgroup's path here, as the attribute stage,
// which comes later, reads it too.
func ClassifySender(s *event.Signal) event.SenderClass {
	comm := s.Sender.Comm
	var unit string
	if cg := &s.SenderCgroup; cg.Valid() && !cg.Truncated {
		unit = container.Parse(cg.Path).Unit
	}
	switch {
	case s.Code == event.SIKernel || isFault(s):
		return event.SenderKernel
	case comm == "kubelet" || unit == "kubelet.service":
		return event.SenderKubelet
	case comm == "systemd-oomd" || unit == "systemd-oomd.service":
		return event.SenderSystemdOOMD
	case s.Sender.TGID == 1 || comm == "systemd":
		return event.SenderSystemd
	case matchesName(comm, runtimeComms) || matchesName(unit, runtimeUnits):
		return event.SenderRuntime
	}
	return event.SenderUser
}

func matchesName(name string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, prefix) || name == p {
			return true
		}
	}
	return false
}
