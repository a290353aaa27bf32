// Package event defines oomtrace's events as every other package sees them:
// decoded from the kernel's records, written as text or JSON, and parsed back
// from oomtrace's own logs.
package event

import (
	"fmt"
	"strings"
	"time"
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
	KindSignal
	KindExit
	KindSample
	KindEviction
	KindOOMSnapshot
	KindOOMReport

	// NumKinds is one more than the largest Kind.
	NumKinds = iota + 1
)

var kindNames = enumNames[Kind]{what: "event kind", names: []string{
	KindOOMKill:      "oom_kill",
	KindMemcgOOM:     "memcg_oom",
	KindReclaim:      "reclaim",
	KindKswapdWake:   "kswapd_wake",
	KindReaper:       "reaper",
	KindReclaimStats: "reclaim_stats",
	KindLost:         "lost",
	KindSignal:       "signal",
	KindExit:         "exit",
	KindSample:       "sample",
	KindEviction:     "eviction",
	KindOOMSnapshot:  "oom_snapshot",
	KindOOMReport:    "oom_report",
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
	// ModeKmsg is no BPF at all: the kill was read from the kernel's own
	// report in its log, live from /dev/kmsg or after the fact.
	ModeKmsg
)

var modeNames = enumNames[Mode]{what: "attach mode", names: []string{
	ModeTracepoint: "tracepoint",
	ModeFentry:     "fentry",
	ModeKprobe:     "kprobe",
	ModeKmsg:       "kmsg",
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
	// Truncated: the path was too deep or long to capture whole. A path
	// that starts with "/" lost the end of its leaf; one that does not
	// holds only the deepest components (see TopMissing).
	Truncated bool
	// Owner is who the cgroup belongs to (container, pod, unit), from
	// its path and, where found, the kubelet's and runtimes' names.
	Owner Owner
}

// NoLimit is Cgroup.LimitBytes of a cgroup without a hard limit (memory.max
// "max"); text output writes it as "max" and JSON as null.
const NoLimit = ^uint64(0)

// Valid reports whether the event carries this cgroup.
func (c *Cgroup) Valid() bool { return c.Path != "" }

// Measured reports whether the cgroup's usage and limit are known: the
// tracer reads them with the cgroup, a kernel log names most cgroups by
// path alone.
func (c *Cgroup) Measured() bool { return c.Valid() && (c.UsageBytes != 0 || c.LimitBytes != 0) }

// TopMissing reports whether the path lacks its top: the cgroup lies deeper
// than the kernel side walks, and the path holds the deepest components,
// without a leading slash. Where such a cgroup sits, and so whose it is,
// cannot be told: the missing top could be any user's delegated subtree.
func (c *Cgroup) TopMissing() bool {
	return c.Truncated && c.Valid() && c.Path[0] != '/'
}

// PathWithin reports whether the cgroup path p is dir or lies below it.
func PathWithin(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// hugePageBytes is the largest charge a memory cgroup takes at once (a
// transparent huge page): a charge fails this far below the limit.
const hugePageBytes = 2 << 20

// AtLimit reports whether the cgroup's usage was at its hard limit when the
// kernel saw it, that is within one huge page of it: where a charge can
// fail.
func (c *Cgroup) AtLimit() bool {
	return c.LimitBytes != NoLimit && c.LimitBytes != 0 && c.UsageBytes+hugePageBytes > c.LimitBytes
}

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

// Constraint is the kernel's enum oom_constraint: what the OOM killer's
// choice of victim was confined to, as a source saw it.
type Constraint uint8

const (
	ConstraintUnseen       Constraint = iota // the source could not see it
	ConstraintNone                           // CONSTRAINT_NONE: the whole machine
	ConstraintCpuset                         // CONSTRAINT_CPUSET
	ConstraintMemoryPolicy                   // CONSTRAINT_MEMORY_POLICY
	ConstraintMemcg                          // CONSTRAINT_MEMCG
)

// Reason is what the kernel's report in its log says the OOM was, in the
// words before "Killed process" (or "Kill process" before 5.1).
type Reason uint8

const (
	ReasonUnseen Reason = iota // no report line said
	ReasonMemcg                // "Memory cgroup out of memory": a memcg OOM
	ReasonSystem               // "Out of memory": any other OOM
	// "Out of memory (oom_kill_allocating_task)": any other OOM, where
	// vm.oom_kill_allocating_task had the allocating task killed rather
	// than a victim chosen by oom_score.
	ReasonAllocatingTask
)

// NodeLimits are the limits on NUMA nodes of the task that ran into an OOM,
// read at the kill where oom_control.constraint is out of reach (tracepoint
// mode). Masks hold nodes 0 to 63.
type NodeLimits struct {
	// MemsAllowed are the nodes the task's cpuset lets it allocate from.
	MemsAllowed     uint64
	HaveMemsAllowed bool
	// PolicyMode and PolicyNodes are the task's memory policy
	// (set_mempolicy(2)); HavePolicy is false when it has none.
	PolicyMode  uint16
	PolicyNodes uint64
	HavePolicy  bool
}

// OOMKill is one killed task.
//
// Sources fill in the kernel's facts; the classify stage decides Class and
// VictimExiting from the evidence among them (Constraint and Order, the
// Stack, the trigger's NodeLimits, or reclaim seen before), and drops the
// OOMCgroup of a kill that is not a memcg OOM.
type OOMKill struct {
	Class         Class
	Mode          Mode
	Victim        Victim
	Trigger       Task // the task that ran into the OOM; often not the victim
	TriggerCgroup Cgroup
	// OOMCgroup is the memcg whose limit was hit; set for memcg OOMs only.
	// The kernel side reads it from oom_control in fentry and kprobe
	// modes; in tracepoint mode it is the victim's highest ancestor at its
	// limit, which a global OOM can have too.
	OOMCgroup Cgroup
	// Constraint is oom_control.constraint, where the source saw it (the
	// kernel log's summary line prints it).
	Constraint Constraint
	// Reason is what the kernel log's report lines say the OOM was.
	Reason Reason
	// Nodes are the trigger's limits on NUMA nodes (tracepoint mode).
	Nodes NodeLimits
	// HasGFP is true when GFPMask and Order, of the allocation that failed,
	// are known: from struct oom_control (fentry and kprobe modes) or the
	// report's header line in the kernel log.
	HasGFP  bool
	GFPMask uint32
	Order   int32
	// HasControl is true when Points and TotalPages were read from the
	// kernel's struct oom_control (fentry and kprobe modes).
	HasControl bool
	Points     int64  // the victim's badness, in pages; 0 for oom.group's extra victims
	TotalPages uint64 // the limit the OOM was judged against, NOT the victim's size
	// VictimExiting is true when no SIGKILL was sent: the victim was already
	// exiting and was only marked so its memory is reaped.
	VictimExiting bool
	// ChosenParent is the process the OOM chose when the kernel killed one
	// of its children in its place, where the source saw it: kernels before
	// 5.0 log "Kill process P (C) score S or sacrifice child" before the
	// kill. Its TGID is 0 when the victim is the task chosen. ChosenScore
	// is the score that line printed.
	ChosenParent Task
	ChosenScore  uint64
	// Replayed is true for a kill found in the kernel log from before
	// tracing started (trace --since-boot), rather than seen as it happened.
	Replayed bool
	// LogTime is the time as a kernel log wrote it, where it gives no
	// other that places the kill: a syslog or journalctl stamp without a
	// year ("Dec  2 23:07:36"), dmesg -T's in a locale not read. It tells
	// the kill from the others for whoever reads it.
	LogTime string
	// Group is the memory cgroup with memory.oom.group set whose tasks were
	// killed together, this one among them (path only), where the source
	// saw it: the kernel log says so.
	Group Cgroup
	// Report is what the kernel's OOM report says beyond the kill, where
	// the kill was read from the kernel log.
	Report KernelReport
	// Stack holds the kernel functions at the kill, innermost first. Its
	// frames tell the class where nothing else does.
	Stack []string
	// Why is a one-sentence explanation of the kill for people.
	Why string
	// Snapshot is the OOM cgroup's memory state read from user space right
	// after the kill (for a global OOM, only the node's pressure), in logs
	// written before it became an oom_snapshot event of its own: read back
	// and written again as they are.
	Snapshot    Snapshot
	HasSnapshot bool
	// VictimMain is the main process of the victim's container (PID 1 of
	// its own PID namespace), found in the victim's cgroup from user space
	// right after the kill; TGID 0 when there is none to find (no
	// container, the main process already gone, a kill from a log).
	VictimMain Task
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

// Lost reports ring-buffer records the kernel could not hand over, and
// runs of the tracer's programs the kernel skipped: it does not start a
// program on a CPU where the same program is still running, and a kill,
// an exit or a reclaim episode it would have seen then goes unrecorded.
type Lost struct {
	Count uint64 // lost since the previous lost event
	Total uint64 // lost since the tracer started
	// SkippedRuns are the runs skipped since the previous lost event, and
	// SkippedRunsTotal since the tracer started.
	SkippedRuns, SkippedRunsTotal uint64
	// SkippedByProgram names the programs of SkippedRunsTotal, each with
	// its runs skipped since the tracer started: "direct_reclaim_end:2,
	// mark_victim:1" (without the space), sorted by name.
	SkippedByProgram string
}

// SenderClass is what kind of task sent a signal, told by its name, its
// cgroup and the signal's si_code.
type SenderClass uint8

const (
	SenderUnknown     SenderClass = iota // not classified
	SenderKernel                         // the kernel itself (SI_KERNEL): an OOM kill, a fault, a hangup
	SenderKubelet                        // the kubelet: eviction, preemption, pod deletion, probe failure
	SenderRuntime                        // a container runtime or its shim: containerd, runc, crun, conmon, dockerd, cri-o
	SenderSystemd                        // systemd (pid 1): stopping a unit
	SenderSystemdOOMD                    // systemd-oomd: a kill on memory pressure, outside the kernel's OOM killer
	SenderUser                           // any other process: a shell's kill, a supervisor
)

var senderClassNames = enumNames[SenderClass]{what: "sender class", names: []string{
	SenderKernel:      "kernel",
	SenderKubelet:     "kubelet",
	SenderRuntime:     "runtime",
	SenderSystemd:     "systemd",
	SenderSystemdOOMD: "systemd-oomd",
	SenderUser:        "user",
}}

func (c SenderClass) String() string { return senderClassNames.name(c) }

// ParseSenderClass is the inverse of SenderClass.String.
func ParseSenderClass(s string) (SenderClass, error) { return senderClassNames.parse(s) }

// Signal is a fatal signal queued for a process (signal:signal_generate):
// only the signals whose default action ends a process and that are sent to
// end it, and only those the kernel delivered.
type Signal struct {
	Sender       Task // the task that sent it; the kernel's own signals name the task it ran in
	SenderCgroup Cgroup
	Target       Task // Target.PID is the thread, TGID the process
	TargetCgroup Cgroup
	Signal       int32
	Code         int32 // si_code: SIUser from kill(2), SIKernel from the kernel, > 0 raised by a fault
	Group        bool  // sent to the whole process, not one thread
	// SenderClass is decided by the classify stage, from the sender's name
	// and cgroup.
	SenderClass SenderClass
}

// si_code values that say who sent a signal.
const (
	SIUser   = 0    // kill(2), or the kernel on behalf of a user-space request
	SIKernel = 0x80 // the kernel itself
)

// Cause says why a process died from a signal.
type Cause uint8

const (
	CauseUnknown Cause = iota // no signal to the process was seen
	CauseOOMKill              // the kernel's OOM killer chose it
	CauseSignal               // a task sent the signal
	CauseFault                // the kernel raised it for the process's own fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE)
)

var causeNames = enumNames[Cause]{what: "cause", names: []string{
	CauseUnknown: "unknown",
	CauseOOMKill: "oom_kill",
	CauseSignal:  "signal",
	CauseFault:   "fault",
}}

func (c Cause) String() string { return causeNames.name(c) }

// ParseCause is the inverse of Cause.String.
func ParseCause(s string) (Cause, error) { return causeNames.parse(s) }

// Exit is a process that a signal ended (sched:sched_process_exit of its
// last thread). The event's Task is that thread. The classify stage sets
// the cause and its evidence from the signal and oom_kill events seen
// before.
type Exit struct {
	Cgroup   Cgroup
	ExitCode uint32 // wait(2) status: the signal in the low 7 bits, 0x80 if it dumped core
	Cause    Cause
	// EvidenceKtimeNS is the KtimeNS of the oom_kill or signal event that
	// is the cause; 0 for none.
	EvidenceKtimeNS uint64
	// OOMClass is the class of the OOM kill, for CauseOOMKill.
	OOMClass Class
	// Sender, SenderCgroup, SenderClass and Code are the killing signal's,
	// for CauseSignal and CauseFault.
	Sender       Task
	SenderCgroup Cgroup
	SenderClass  SenderClass
	Code         int32
	// TermSender sent a SIGTERM to the process TermBefore before the signal
	// that ended it (the grace period a kubelet or runtime allowed); the
	// zero Task when none was seen.
	TermSender Task
	TermBefore time.Duration
	// Why is a one-sentence explanation for people.
	Why string
}

// Signal is the signal that ended the process.
func (x *Exit) Signal() int32 { return int32(x.ExitCode & 0x7f) }

// CoreDumped reports whether the process dumped core.
func (x *Exit) CoreDumped() bool { return x.ExitCode&0x80 != 0 }

// ShellStatus is the exit status shells and container runtimes show for a
// process a signal ended: 128 + the signal (137 for SIGKILL).
func (x *Exit) ShellStatus() int { return 128 + int(x.Signal()) }

// Sample is the memory state of one cgroup, or of the whole node, read from
// user space at an instant (oomtrace record's --sample-interval): how close
// usage is to the limit, and how much tasks stall for memory.
type Sample struct {
	// Cgroup is the cgroup sampled, with its usage and hard limit (v1
	// memory.usage_in_bytes and memory.limit_in_bytes, v2 memory.current
	// and memory.max). Path is empty in a sample of the node.
	Cgroup Cgroup
	// HighBytes is memory.high (v2), when HasHigh: it is set to something
	// other than "max".
	HighBytes uint64
	HasHigh   bool
	// MemTotalBytes and MemAvailableBytes are the node's, from
	// /proc/meminfo; set in samples of the node only.
	MemTotalBytes     uint64
	MemAvailableBytes uint64
	// Pressure (PSI, when HasPressure): the share of the last 10 seconds
	// in which some task, and all tasks at once, stalled waiting for
	// memory, in percent; and the total stall times since the cgroup was
	// created (the node: since boot). A cgroup's is v2's memory.pressure,
	// the node's /proc/pressure/memory.
	HasPressure          bool
	SomeAvg10, FullAvg10 float64
	SomeTotal, FullTotal time.Duration
}

// Eviction is a pod the kubelet evicted, or set out to, to reclaim a
// resource of the node: read from the kubelet's log. It is no OOM kill:
// the pod's containers get SIGTERM, and SIGKILL after the grace period.
type Eviction struct {
	// Pod names the pod: namespace and name, and the UID where the log
	// printed it.
	Pod Owner
	// Resource is what the kubelet was reclaiming: "memory",
	// "ephemeral-storage", "nodefs", ...
	Resource string
	// Threshold and Available are the quantities the eviction's message
	// names, as the kubelet printed them ("100Mi", "92412Ki").
	Threshold, Available string
	// Message is the eviction's message, when the log has it.
	Message string
	// Succeeded says the kubelet logged the pod as evicted.
	Succeeded bool
	// Why is a one-sentence explanation for people.
	Why string
}

// OOMSnapshot is the memory state of an OOM kill's cgroup, read from user
// space right after the kill: an event of its own, which follows the kill's
// so that the kill's line waits for no file to be read.
type OOMSnapshot struct {
	// KillKtimeNS, Victim and Class say which kill this follows: its
	// ktime_ns, its victim (with the victim's cgroup) and its class.
	KillKtimeNS  uint64
	Victim       Task
	VictimCgroup Cgroup
	Class        Class
	// OOMCgroup is the kill's OOM cgroup, the one read; none for other
	// classes than memcg, whose snapshot holds the node's pressure only.
	OOMCgroup Cgroup
	Snapshot  Snapshot
	// Why says what the snapshot tells about the kill, for people.
	Why string
}

// SnapshotAfter returns the snapshot s of kill, an oom_kill event, as the
// payload of the oom_snapshot event that follows it. The cgroups keep
// their paths, ids and owners; their usage and limit are the kill's line's.
func SnapshotAfter(kill *Event, s Snapshot) OOMSnapshot {
	k := &kill.OOMKill
	strip := func(c Cgroup) Cgroup {
		c.UsageBytes, c.LimitBytes = 0, 0
		return c
	}
	return OOMSnapshot{
		KillKtimeNS:  kill.KtimeNS,
		Victim:       k.Victim.Task,
		VictimCgroup: strip(k.Victim.Cgroup),
		Class:        k.Class,
		OOMCgroup:    strip(k.OOMCgroup),
		Snapshot:     s,
	}
}

// OOMReport is what the kernel's own report of a kill, in its log, says
// beyond the kill: where the memory was (the node's for any OOM but a
// memcg one, the OOM cgroup's for a memcg OOM), the largest tasks, and the
// allocation that failed. Read from /dev/kmsg right after the kill's line
// was written, it is an event of its own that follows the kill's, as an
// OOMSnapshot does, so that the kill's line waits for no log.
type OOMReport struct {
	// KillKtimeNS, Victim, VictimCgroup, Class and OOMCgroup say which kill
	// this follows, as in OOMSnapshot; the cgroups keep their usage and
	// limit at the kill, which the report's numbers are read against.
	KillKtimeNS  uint64
	Victim       Task
	VictimCgroup Cgroup
	Class        Class
	OOMCgroup    Cgroup
	// HasGFP is true when the report's header line, which the kernel rate
	// limits, gave the failed allocation's GFPMask and Order.
	HasGFP  bool
	GFPMask uint32
	Order   int32
	Report  KernelReport
	// Why says what the report tells about the kill, for people.
	Why string
}

// ReportAfter returns the payload of the oom_report event that follows
// kill, an oom_kill event, with what fromLog, the same kill as the kernel
// log reports it, adds.
func ReportAfter(kill *Event, fromLog *OOMKill) OOMReport {
	k := &kill.OOMKill
	return OOMReport{
		KillKtimeNS:  kill.KtimeNS,
		Victim:       k.Victim.Task,
		VictimCgroup: k.Victim.Cgroup,
		Class:        k.Class,
		OOMCgroup:    k.OOMCgroup,
		HasGFP:       fromLog.HasGFP,
		GFPMask:      fromLog.GFPMask,
		Order:        fromLog.Order,
		Report:       fromLog.Report,
	}
}

// FollowedKill returns the key of the kill an oom_snapshot or oom_report
// event follows: the kill's ktime_ns and its victim's pid.
func (ev *Event) FollowedKill() (ktimeNS uint64, victimPID uint32, ok bool) {
	switch ev.Kind {
	case KindOOMSnapshot:
		return ev.OOMSnapshot.KillKtimeNS, ev.OOMSnapshot.Victim.PID, true
	case KindOOMReport:
		return ev.OOMReport.KillKtimeNS, ev.OOMReport.Victim.PID, true
	}
	return 0, 0, false
}

// IsNode reports whether s is a sample of the whole node, not of a cgroup.
func (s *Sample) IsNode() bool { return !s.Cgroup.Valid() }

// Event is one line of oomtrace output. Kind says which of the payload
// fields is set; the others are zero. The payloads are values, not pointers,
// so one Event can be reused for every record without allocating.
type Event struct {
	Kind    Kind
	Time    time.Time // wall clock, derived from KtimeNS
	KtimeNS uint64    // CLOCK_BOOTTIME of the event, in ns
	CPU     uint32
	Task    Task // the task that was running: perf's comm pid/tid
	// Missing says which values the source did not see. Zero for the
	// tracer's events, which have them all; a kernel log lacks some.
	Missing Missing
	// Restored marks an event read back from oomtrace's own log: its
	// derived fields (class, owners, causes, explanations) are the
	// recording's, and the stages that derive them leave them as they are.
	Restored bool

	OOMKill      OOMKill
	MemcgOOM     MemcgOOM
	Reclaim      Reclaim
	KswapdWake   KswapdWake
	Reaper       Reaper
	ReclaimStats ReclaimStats
	Lost         Lost
	Signal       Signal
	Exit         Exit
	Sample       Sample
	Eviction     Eviction
	OOMSnapshot  OOMSnapshot
	OOMReport    OOMReport
}

// Reset makes ev the zero Event. Of the payloads it clears only the one
// ev.Kind names, since the others are zero in any Event built as this
// package says; an Event of another kind is cleared whole. One Event
// reused for a stream of records then costs a few hundred bytes of
// clearing per record instead of the whole Event's three kilobytes.
func (ev *Event) Reset() {
	switch ev.Kind {
	case KindOOMKill:
		ev.OOMKill = OOMKill{}
	case KindMemcgOOM:
		ev.MemcgOOM = MemcgOOM{}
	case KindReclaim:
		ev.Reclaim = Reclaim{}
	case KindKswapdWake:
		ev.KswapdWake = KswapdWake{}
	case KindReaper:
		ev.Reaper = Reaper{}
	case KindReclaimStats:
		ev.ReclaimStats = ReclaimStats{}
	case KindLost:
		ev.Lost = Lost{}
	case KindSignal:
		ev.Signal = Signal{}
	case KindExit:
		ev.Exit = Exit{}
	case KindSample:
		ev.Sample = Sample{}
	case KindEviction:
		ev.Eviction = Eviction{}
	case KindOOMSnapshot:
		ev.OOMSnapshot = OOMSnapshot{}
	case KindOOMReport:
		ev.OOMReport = OOMReport{}
	default:
		*ev = Event{}
		return
	}
	ev.Kind, ev.Time, ev.KtimeNS, ev.CPU, ev.Task, ev.Missing, ev.Restored = 0, time.Time{}, 0, 0, Task{}, 0, false
}

// Cgroups returns the cgroups the event is about: for a kill the victim's,
// the OOM cgroup and the trigger's; for a signal the target's and the
// sender's; for an exit the process's and its killer's.
//
// It is called for every event a storm brings, so it does not allocate:
// inlined, its array lives in the caller's frame as long as the caller
// keeps the slice to itself.
func (ev *Event) Cgroups() []*Cgroup {
	var a [3]*Cgroup
	return ev.appendCgroups(a[:0])
}

func (ev *Event) appendCgroups(dst []*Cgroup) []*Cgroup {
	switch ev.Kind {
	case KindOOMKill:
		k := &ev.OOMKill
		return append(dst, &k.Victim.Cgroup, &k.OOMCgroup, &k.TriggerCgroup)
	case KindMemcgOOM:
		return append(dst, &ev.MemcgOOM.Cgroup)
	case KindReclaim:
		return append(dst, &ev.Reclaim.Cgroup)
	case KindReclaimStats:
		return append(dst, &ev.ReclaimStats.Cgroup)
	case KindSignal:
		return append(dst, &ev.Signal.TargetCgroup, &ev.Signal.SenderCgroup)
	case KindExit:
		return append(dst, &ev.Exit.Cgroup, &ev.Exit.SenderCgroup)
	case KindSample:
		return append(dst, &ev.Sample.Cgroup)
	case KindOOMSnapshot:
		return append(dst, &ev.OOMSnapshot.VictimCgroup, &ev.OOMSnapshot.OOMCgroup)
	case KindOOMReport:
		return append(dst, &ev.OOMReport.VictimCgroup, &ev.OOMReport.OOMCgroup)
	}
	return dst
}
