// Package event defines oomtrace's events as every other package sees them:
// decoded from the kernel's records, written as text or JSON, and parsed back
// from oomtrace's own logs.
package event

import (
	"fmt"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

// enumNames maps the values of a small enum, used as indexes, to the names
// oomtrace writes and reads.
type enumNames[T ~uint8] struct {
	what  string // for errors: "OOM class"
	names []string
}

func (e enumNames[T]) name(v T) string {
	if int(v) < len(e.names) && e.names[v] != "" {
		return e.names[v]
	}
	return fmt.Sprintf("%s(%d)", strings.ReplaceAll(e.what, " ", "_"), uint8(v))
}

func (e enumNames[T]) parse(s string) (T, error) {
	var valid []string
	for v, name := range e.names {
		if name == "" {
			continue
		}
		if name == s {
			return T(v), nil
		}
		valid = append(valid, name)
	}
	return 0, fmt.Errorf("unknown %s %q (want one of %s)", e.what, s, strings.Join(valid, ", "))
}

// Kind names what happened.
type Kind uint8

const (
	KindOOMKill Kind = iota + 1
	KindMemcgOOM
	KindReclaim
	KindKswapdWake
	KindReaper
	KindReclaimStats
	KindLost
)

var kindNames = enumNames[Kind]{what: "event kind", names: []string{
	KindOOMKill:      "oom_kill",
	KindMemcgOOM:     "memcg_oom",
	KindReclaim:      "reclaim",
	KindKswapdWake:   "kswapd_wake",
	KindReaper:       "reaper",
	KindReclaimStats: "reclaim_stats",
	KindLost:         "lost",
}}

func (k Kind) String() string { return kindNames.name(k) }

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) { return kindNames.parse(s) }

// Class says which limit an OOM kill enforced.
type Class uint8

const (
	ClassUnknown   Class = iota
	ClassMemcg           // a memory cgroup's hard limit
	ClassGlobal          // the whole machine ran out
	ClassCpuset          // the allowed cpuset's nodes ran out
	ClassMempolicy       // the task's NUMA memory policy's nodes ran out
	ClassSysrq           // sysrq-f: a manual kill
)

var classNames = enumNames[Class]{what: "OOM class", names: []string{
	ClassUnknown:   "unknown",
	ClassMemcg:     "memcg",
	ClassGlobal:    "global",
	ClassCpuset:    "cpuset",
	ClassMempolicy: "mempolicy",
	ClassSysrq:     "sysrq",
}}

func (c Class) String() string { return classNames.name(c) }

// ParseClass is the inverse of Class.String.
func ParseClass(s string) (Class, error) { return classNames.parse(s) }

// Mode is the attach mode: which hooks the tracer runs.
type Mode uint8

const (
	ModeTracepoint Mode = iota
	ModeFentry
	ModeKprobe
)

var modeNames = enumNames[Mode]{what: "attach mode", names: []string{
	ModeTracepoint: "tracepoint",
	ModeFentry:     "fentry",
	ModeKprobe:     "kprobe",
}}

func (m Mode) String() string { return modeNames.name(m) }

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) { return modeNames.parse(s) }

// Task identifies a thread: PID is the thread id, TGID the process id.
type Task struct {
	PID  uint32
	TGID uint32
	Comm string
}

// Cgroup is a memory cgroup as the kernel saw it at the event. Path is empty
// when the event has no such cgroup (the oom cgroup of a global OOM).
type Cgroup struct {
	Path       string
	ID         uint64
	UsageBytes uint64
	LimitBytes uint64 // NoLimit when the cgroup has no hard limit
	Truncated  bool   // the path was too deep or long to capture whole
	// Container is who the cgroup belongs to (container, pod, unit), from
	// its path and, where found, the kubelet's and runtimes' names.
	Container container.Info
}

// NoLimit is Cgroup.LimitBytes of a cgroup without a hard limit (memory.max
// "max"); text output writes it as "max" and JSON as null.
const NoLimit = ^uint64(0)

// Valid reports whether the event carries this cgroup.
func (c *Cgroup) Valid() bool { return c.Path != "" }

// Victim is the task an OOM kill chose.
type Victim struct {
	Task
	UID         uint32
	HasUID      bool // false with the old mark_victim(int pid) tracepoint
	OOMScoreAdj int16
	HasMM       bool // false when the victim had already dropped its memory
	RSSAnonKB   uint64
	RSSFileKB   uint64
	RSSShmemKB  uint64
	TotalVMKB   uint64
	PgtablesKB  uint64
	Cgroup      Cgroup
}

// OOMKill is one killed task.
type OOMKill struct {
	Class         Class
	Mode          Mode
	Victim        Victim
	Trigger       Task // the task that ran into the OOM; often not the victim
	TriggerCgroup Cgroup
	// OOMCgroup is the memcg whose limit was hit; set for memcg OOMs only.
	OOMCgroup Cgroup
	// HasControl is true when GFPMask, Order, Points and TotalPages were read
	// from the kernel's struct oom_control (fentry and kprobe modes).
	HasControl bool
	GFPMask    uint32
	Order      int32
	Points     int64  // the victim's badness, in pages; 0 for oom.group's extra victims
	TotalPages uint64 // the limit the OOM was judged against, NOT the victim's size
	// VictimExiting is true when no SIGKILL was sent: the victim was already
	// exiting and was only marked so its memory is reaped.
	VictimExiting bool
	// Stack holds the kernel functions at the kill, innermost first.
	Stack []string
	// Why is a one-sentence explanation of the kill for people.
	Why string
	// Snapshot is the OOM cgroup's memory state read from user space right
	// after the kill (for a global OOM, only the node's pressure).
	Snapshot    memstate.Snapshot
	HasSnapshot bool
}

// MemcgOOM is a memory cgroup entering OOM (mem_cgroup_out_of_memory); no
// kill need follow (cgroup v1 oom_kill_disable).
type MemcgOOM struct {
	Cgroup  Cgroup
	GFPMask uint32
	Order   int32
}

// ReclaimKind names a reclaim tracepoint pair.
type ReclaimKind uint8

const (
	ReclaimDirect ReclaimKind = iota
	ReclaimMemcg
	ReclaimSoftlimit
)

var reclaimKindNames = enumNames[ReclaimKind]{what: "reclaim kind", names: []string{
	ReclaimDirect:    "direct",
	ReclaimMemcg:     "memcg",
	ReclaimSoftlimit: "softlimit",
}}

func (k ReclaimKind) String() string { return reclaimKindNames.name(k) }

// ParseReclaimKind is the inverse of ReclaimKind.String.
func ParseReclaimKind(s string) (ReclaimKind, error) { return reclaimKindNames.parse(s) }

// Reclaim is one reclaim episode that took at least the reporting threshold.
type Reclaim struct {
	Kind        ReclaimKind
	Duration    time.Duration
	NrReclaimed uint64
	GFPMask     uint32
	Order       int32
	Cgroup      Cgroup // the reclaiming task's memcg, not necessarily the one reclaimed
}

// KswapdWake is kswapd being woken on a node.
type KswapdWake struct {
	Node  int32
	Zone  int32
	Order int32
}

// ReaperStep is a step of the OOM reaper on a victim.
type ReaperStep uint8

const (
	ReaperWake ReaperStep = iota
	ReaperStart
	ReaperFinish
	ReaperSkip
)

var reaperStepNames = enumNames[ReaperStep]{what: "reaper step", names: []string{
	ReaperWake:   "wake",
	ReaperStart:  "start",
	ReaperFinish: "finish",
	ReaperSkip:   "skip",
}}

func (s ReaperStep) String() string { return reaperStepNames.name(s) }

// ParseReaperStep is the inverse of ReaperStep.String.
func ParseReaperStep(s string) (ReaperStep, error) { return reaperStepNames.parse(s) }

// Reaper is the OOM reaper acting on a victim's memory.
type Reaper struct {
	Step      ReaperStep
	VictimPID uint32
}

// ReclaimBuckets is the number of log2 latency buckets: bucket i counts
// episodes of [2^i, 2^(i+1)) microseconds (bucket 0 also holds shorter ones).
const ReclaimBuckets = 32

// ReclaimStats counts every reclaim episode of one kind in one cgroup during
// an interval, including those below the reporting threshold.
type ReclaimStats struct {
	Kind     ReclaimKind
	Cgroup   Cgroup // path and id only
	Interval time.Duration
	Count    uint64
	Total    time.Duration
	Max      time.Duration // the largest since the tracer started
	Buckets  [ReclaimBuckets]uint64
}

// Lost reports ring-buffer records the kernel could not hand over.
type Lost struct {
	Count uint64 // lost since the previous lost event
	Total uint64 // lost since the tracer started
}

// Event is one line of oomtrace output. Kind says which of the payload
// fields is set; the others are zero. The payloads are values, not pointers,
// so one Event can be reused for every record without allocating.
type Event struct {
	Kind    Kind
	Time    time.Time // wall clock, derived from KtimeNS
	KtimeNS uint64    // CLOCK_BOOTTIME of the event, in ns
	CPU     uint32
	Task    Task // the task that was running: perf's comm pid/tid

	OOMKill      OOMKill
	MemcgOOM     MemcgOOM
	Reclaim      Reclaim
	KswapdWake   KswapdWake
	Reaper       Reaper
	ReclaimStats ReclaimStats
	Lost         Lost
}

// Cgroups returns the cgroups the event is about: for a kill the victim's,
// the OOM cgroup and the trigger's.
func (ev *Event) Cgroups() []*Cgroup {
	switch ev.Kind {
	case KindOOMKill:
		k := &ev.OOMKill
		return []*Cgroup{&k.Victim.Cgroup, &k.OOMCgroup, &k.TriggerCgroup}
	case KindMemcgOOM:
		return []*Cgroup{&ev.MemcgOOM.Cgroup}
	case KindReclaim:
		return []*Cgroup{&ev.Reclaim.Cgroup}
	case KindReclaimStats:
		return []*Cgroup{&ev.ReclaimStats.Cgroup}
	}
	return nil
}
