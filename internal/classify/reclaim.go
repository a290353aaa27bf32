package classify

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// ReclaimWindow is how long before a kill a reclaim episode of the trigger
// or the victim still says what kind of OOM it was.
const ReclaimWindow = 10 * time.Second

// reclaimSlots bounds the memory of the reclaim seen: a thread whose last
// episode was pushed out by another thread's gets class unknown, never
// that thread's class.
const reclaimSlots = 4096

// lastReclaim is the last reclaim episode that ended in one thread.
type lastReclaim struct {
	tid   uint32
	valid bool
	kind  event.ReclaimKind
	ktime uint64
}

// reclaimSeen remembers, per thread, the last reclaim episode that ended:
// the evidence for a kill whose source saw nothing better (perf script of
// the oom and vmscan tracepoints, whose mark_victim carries neither stack
// nor constraint). Memcg reclaim comes before a memcg OOM, direct reclaim
// before a global one (or a cpuset or mempolicy one, which reclaim cannot
// tell apart); sysrq-f kills have none.
type reclaimSeen [reclaimSlots]lastReclaim

// observe remembers a reclaim episode. A softlimit episode runs inside a
// direct one, so it is no evidence of its own.
func (r *reclaimSeen) observe(ev *event.Event) {
	if ev.Reclaim.Kind == event.ReclaimSoftlimit {
		return
	}
	tid := ev.Task.PID
	r[tid%reclaimSlots] = lastReclaim{tid: tid, valid: true, kind: ev.Reclaim.Kind, ktime: ev.KtimeNS}
}

// class is what the last episode of the trigger, or else of the victim,
// within ReclaimWindow before now says of a kill.
func (r *reclaimSeen) class(now uint64, trigger, victim uint32) event.Class {
	for _, tid := range []uint32{trigger, victim} {
		e := r[tid%reclaimSlots]
		if !e.valid || e.tid != tid || now < e.ktime || now-e.ktime > uint64(ReclaimWindow) {
			continue
		}
		switch e.kind {
		case event.ReclaimMemcg:
			return event.ClassMemcg
		case event.ReclaimDirect:
			return event.ClassGlobal
		}
	}
	return event.ClassUnknown
}
