// Package kernlog reads and parses the OOM killer's own report from the
// kernel log. Tests hold oomtrace's events against it: it is what the kernel
// itself says it did.
//
// One OOM kill prints, in this order (mm/oom_kill.c, the same text on 5.10,
// 6.1, 6.12 and 6.18):
//
//	hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
//	... stack, memory state, task table ...
//	oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t,task=hog,pid=4487,uid=0
//	Memory cgroup out of memory: Killed process 4487 (hog) total-vm:53876kB, anon-rss:50944kB, file-rss:948kB, shmem-rss:0kB, UID:0 pgtables:140kB oom_score_adj:0
//
// and later, from the reaper thread,
//
//	oom_reaper: reaped process 4487 (hog), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
//
// The header and the summary ("oom-kill:") are printed under one rate limit
// (10 reports per 5 s); the "Killed process" line is printed for every kill,
// including each extra victim of memory.oom.group, which has no summary of
// its own. The cpuset and mems_allowed fields are absent without
// CONFIG_CPUSETS, oom_memcg and task_memcg without CONFIG_MEMCG, and a global
// OOM prints ",global_oom" instead of oom_memcg. Kernels older than 5.10 end
// the "Killed process" line earlier (without pgtables and oom_score_adj, then
// without UID, then without shmem-rss); fields a kernel does not print are
// left zero, so a line cut at one of those places reads as such a kernel's.
//
// What can and cannot be parsed back. Process names (comm, at most 15 bytes)
// and cgroup names are printed raw: they may contain spaces, parentheses,
// commas, "=" and newlines.
//
//   - "Killed process" and "oom_reaper" lines are unambiguous: everything
//     after the name is fixed kernel text, so the name ends at the last
//     ") total-vm:" (or "), now ").
//   - The header is unambiguous: a 15-byte name cannot hold the 21-byte
//     " invoked oom-killer: ", nor overlap it.
//   - The summary is parsed from its fixed, numeric end (",pid=N,uid=N"). When
//     it is paired with its "Killed process" line the name is known and only
//     the cgroup paths are left to split: a path containing ",task_memcg="
//     can be split wrongly (the split that makes task_memcg a descendant of
//     oom_memcg is preferred). Parsed on its own, a summary is split at the
//     first ",task=" that can start a name (at most 60 characters from the
//     end), wrong only when task_memcg ends in ",task=" and a few more bytes.
//   - /dev/kmsg escapes every byte below 0x20, above 0x7e and the backslash as
//     \xHH, so a record is exact once unescaped, and one record is one
//     message even when a name holds a newline. dmesg's text is not exact:
//     util-linux dmesg prints a newline in a message as a line break followed
//     by an indent (rejoined by ParseText when timestamps are shown) and
//     re-escapes other control bytes as \xHH while printing a backslash raw,
//     so a name containing a literal "\x01" and one containing byte 0x01 read
//     back the same. Without timestamps (dmesg -t), a newline in a name cannot
//     be told from a line break.
//   - Messages written to /dev/kmsg from user space can look like the
//     kernel's, but never have its facility (0): Reader ignores them, and so
//     does ParseText where the text shows the facility (/dev/kmsg records,
//     "dmesg -x", "dmesg -S -r"). Plain dmesg text cannot tell them apart,
//     nor can util-linux's "dmesg -r", which prints only the level.
package kernlog

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// The reasons the kernel prints before "Killed process".
const (
	ReasonMemcg          = "Memory cgroup out of memory"
	ReasonGlobal         = "Out of memory"
	ReasonAllocatingTask = "Out of memory (oom_kill_allocating_task)"
)

// Header is the "invoked oom-killer" line: the task that ran into the OOM.
// It is rate limited.
type Header struct {
	Comm        string // the allocating task, not the victim
	GFPMask     uint64
	GFPFlags    string // the mask decoded by the kernel, e.g. "GFP_KERNEL"; "" before 4.6
	Order       int    // -1 for a manual kill by sysrq-f
	OOMScoreAdj int    // of the allocating task
	// Nodemask is the allocation's nodemask, printed in the header from
	// 4.10 to 4.19 (later in the summary); "(null)" for none.
	Nodemask Opt[string]
	// HasFlags says the kernel decoded the mask (4.6 and later).
	HasFlags bool
}

// Summary is the one-line "oom-kill:" summary of an OOM kill. It is rate
// limited together with the header.
type Summary struct {
	Constraint  string // e.g. "CONSTRAINT_MEMCG", "CONSTRAINT_NONE"
	Nodemask    string // "(null)" or a node list such as "0-1,3"
	Cpuset      string // name (not path) of the allocating task's cpuset
	MemsAllowed string // node list of the allocating task
	OOMMemcg    string // path of the memcg whose limit was hit; "" if global
	GlobalOOM   bool   // the kernel printed ",global_oom"
	TaskMemcg   string // path of the victim's memcg
	Task        string // the victim's comm
	PID         int
	UID         uint32
}

// Killed is a "Killed process" line: one task that was sent SIGKILL.
type Killed struct {
	Reason      string // ReasonMemcg, ReasonGlobal, ...; "" before 5.1
	PID         int
	Comm        string
	TotalVMKB   uint64
	AnonRSSKB   uint64
	FileRSSKB   uint64
	ShmemRSSKB  uint64
	UID         uint32
	PgtablesKB  uint64
	OOMScoreAdj int
	// Which of the fields above the line printed: kernels added them
	// over time (shmem-rss in 4.6, UID in 5.3, pgtables and oom_score_adj
	// in 5.10; Red Hat's 3.10 prints ", UID N," after the name).
	HasShmemRSS, HasUID, HasPgtables, HasOOMScoreAdj bool
	At                                               Stamp
}

// Reaped is an "oom_reaper: reaped process" line: what was left of a
// victim's memory after the reaper unmapped it.
type Reaped struct {
	PID        int
	Comm       string
	AnonRSSKB  uint64
	FileRSSKB  uint64
	ShmemRSSKB uint64
	// Failed is "oom_reaper: unable to reap pid:N (comm)": the sizes are
	// not printed then.
	Failed bool
	At     Stamp
}

// LineKind says which OOM report line a message is.
type LineKind uint8

const (
	LineOther   LineKind = iota // not part of an OOM report this package parses
	LineHeader                  // "... invoked oom-killer: ..."
	LineSummary                 // "oom-kill:constraint=..."
	LineKilled                  // "...: Killed process ..."
	LineReaped                  // "oom_reaper: reaped process ..."
	LineSkipped                 // "...: OOM victim N (comm) is already exiting. Skip killing the task"
)

// Line is one parsed kernel log message. Kind says which payload is set.
type Line struct {
	Kind    LineKind
	Header  Header
	Summary Summary
	Killed  Killed
	Reaped  Reaped
}

// ErrMalformed is wrapped by ParseLine's errors: the message starts like an
// OOM report line but does not have its form (truncated, or not the
// kernel's).
var ErrMalformed = errors.New("malformed OOM report line")

// ErrNoKill is the warning about an OOM report that ends without the
// "Killed process" line the kernel logs right after it: the log was cut
// there, or ends there, and a kill may be missing from it.
var ErrNoKill = errors.New(`OOM report without a kill: the log ends or was cut before its "Killed process" line`)

// ErrOOMPanic is the warning about an OOM report the kernel followed with
// a panic instead of a kill: vm.panic_on_oom, or no task it could kill in
// a global OOM. The node went down; no task was killed.
var ErrOOMPanic = errors.New("the kernel panicked on this OOM instead of killing a task: the node went down, and no kill is in the log")

// ErrNothingKillable is the warning about an OOM report where the OOM
// killer found no task it may kill, and the kernel did not panic (a memory
// cgroup's OOM, sysrq-f): nothing was killed.
var ErrNothingKillable = errors.New("the OOM killer found no task it could kill: nothing was killed")

// maxCommText is the longest a task name can print: TASK_COMM_LEN-1 bytes,
// each escaped as \xHH by dmesg at worst.
const maxCommText = 4 * 15

const (
	headerMarker   = " invoked oom-killer: "
	summaryPrefix  = "oom-kill:constraint="
	killedMarker   = "Killed process "
	reapedPrefix   = "oom_reaper: reaped process "
	reapedTail     = "), now "
	skippedMarker  = ": OOM victim "
	skippedSuffix  = " is already exiting. Skip killing the task"
	summaryTaskKey = ",task="
	taskMemcgKey   = ",task_memcg="
)

// ParseLine parses one kernel log message (without any prefix: no timestamp,
// no /dev/kmsg header). A message that is no OOM report line gives
// LineOther and no error; one that starts like an OOM report line but does
// not parse gives an error wrapping ErrMalformed. ParseLine never panics.
func ParseLine(msg string) (Line, error) {
	switch {
	case strings.HasPrefix(msg, summaryPrefix):
		s, err := parseSummary(msg, "", false)
		return Line{Kind: LineSummary, Summary: s}, err
	case strings.HasPrefix(msg, reapedPrefix):
		r, err := parseReaped(msg)
		return Line{Kind: LineReaped, Reaped: r}, err
	case strings.Contains(msg, headerMarker):
		h, err := parseHeader(msg)
		return Line{Kind: LineHeader, Header: h}, err
	case isKilledLine(msg):
		k, err := parseKilled(msg)
		return Line{Kind: LineKilled, Killed: k}, err
	case strings.Contains(msg, skippedMarker) && strings.HasSuffix(msg, skippedSuffix):
		return Line{Kind: LineSkipped}, nil
	}
	return Line{}, nil
}

func malformed(what, msg string) error {
	return fmt.Errorf("parse %s %q: %w", what, msg, ErrMalformed)
}

// headerRest matches the header after "invoked oom-killer: " in every
// form since 3.10: "gfp_mask=0x201da, order=0, oom_score_adj=0" (up to
// 4.5), "gfp_mask=0x24000c0(GFP_KERNEL), order=0, ..." (4.6 to 4.9),
// "gfp_mask=0x14000c0(GFP_KERNEL), nodemask=(null), order=0, ..." (4.10 to
// 4.19; some print two spaces before order), and without the nodemask again
// since 5.0.
var headerRest = regexp.MustCompile(`^gfp_mask=(0x[0-9a-fA-F]+|0)(\([^()]*\))?, (?:nodemask=(\(null\)|[0-9,-]*), +)?order=(-?[0-9]+), oom_score_adj=(-?[0-9]+)$`)

func parseHeader(msg string) (Header, error) {
	i := strings.Index(msg, headerMarker)
	m := headerRest.FindStringSubmatch(msg[i+len(headerMarker):])
	if m == nil {
		return Header{}, malformed("oom-killer header", msg)
	}
	h := Header{Comm: msg[:i], HasFlags: m[2] != ""}
	if h.HasFlags {
		h.GFPFlags = m[2][1 : len(m[2])-1]
	}
	if m[3] != "" {
		h.Nodemask = some(m[3])
	}
	var err error
	if h.GFPMask, err = strconv.ParseUint(m[1], 0, 64); err != nil {
		return Header{}, malformed("oom-killer header", msg)
	}
	if h.Order, err = strconv.Atoi(m[4]); err != nil {
		return Header{}, malformed("oom-killer header", msg)
	}
	if h.OOMScoreAdj, err = strconv.Atoi(m[5]); err != nil {
		return Header{}, malformed("oom-killer header", msg)
	}
	return h, nil
}

// summaryEnd is the fixed, numeric end of a summary. Kernels of 2018 padded
// the numbers ("%5d"), hence the optional spaces.
var summaryEnd = regexp.MustCompile(`,pid= *([0-9]+),uid= *(-?[0-9]+)$`)

// summaryHead matches everything before ",task=". The node lists hold only
// digits, commas and dashes; the lazy cgroup fields end at the first key
// that lets the rest match.
var summaryHead = regexp.MustCompile(`(?s)^oom-kill:constraint=([^,]*),nodemask=(\(null\)|[0-9,-]*?)` +
	`(?:,cpuset=(.*?),mems_allowed=([0-9,-]*?))?` +
	`(?:,oom_memcg=(.*?)|,(global_oom))?` +
	`(?:,task_memcg=(.*))?$`)

// parseSummary parses an "oom-kill:" summary. When knownComm is true, comm
// is the victim's name as its "Killed process" line gave it, which removes
// the ambiguity of a name containing ",task=".
func parseSummary(msg, comm string, knownComm bool) (Summary, error) {
	end := summaryEnd.FindStringSubmatchIndex(msg)
	if end == nil {
		return Summary{}, malformed("oom-kill summary", msg)
	}
	var s Summary
	pid, err := strconv.Atoi(msg[end[2]:end[3]])
	if err != nil {
		return Summary{}, malformed("oom-kill summary", msg)
	}
	// from_kuid is printed with %d: an unmapped uid reads -1, which is the
	// same uid the "Killed process" line prints with %u.
	uid, err := strconv.ParseInt(msg[end[4]:end[5]], 10, 64)
	if err != nil || uid < -1 || uid > 1<<32-1 {
		return Summary{}, malformed("oom-kill summary", msg)
	}
	s.PID, s.UID = pid, uint32(uid)
	body := msg[:end[0]] // "oom-kill:...,task=COMM"

	if knownComm && strings.HasSuffix(body, summaryTaskKey+comm) {
		head := body[:len(body)-len(summaryTaskKey+comm)]
		if parseSummaryHead(head, &s) {
			s.Task = comm
			return s, nil
		}
	}
	// The name is at most 15 bytes, 60 characters in dmesg's escaped text:
	// only a ",task=" that close to the end can start it, which also keeps
	// the search linear.
	for i := max(0, len(body)-len(summaryTaskKey)-maxCommText); ; {
		j := strings.Index(body[i:], summaryTaskKey)
		if j < 0 {
			return Summary{}, malformed("oom-kill summary", msg)
		}
		i += j
		if parseSummaryHead(body[:i], &s) {
			s.Task = body[i+len(summaryTaskKey):]
			return s, nil
		}
		i++
	}
}

func parseSummaryHead(head string, s *Summary) bool {
	m := summaryHead.FindStringSubmatch(head)
	if m == nil {
		return false
	}
	s.Constraint, s.Nodemask, s.Cpuset, s.MemsAllowed = m[1], m[2], m[3], m[4]
	s.OOMMemcg, s.GlobalOOM, s.TaskMemcg = m[5], m[6] != "", m[7]
	if s.OOMMemcg != "" && !event.PathWithin(s.TaskMemcg, s.OOMMemcg) {
		splitMemcgs(s)
	}
	return true
}

// splitMemcgs re-splits "oom_memcg=A,task_memcg=B" when a cgroup name holds
// ",task_memcg=": the victim of a memcg OOM always lives in the OOMing memcg
// or below it, so the first split that says so is the right one.
func splitMemcgs(s *Summary) {
	both := s.OOMMemcg + taskMemcgKey + s.TaskMemcg
	for i := 0; ; i++ {
		j := strings.Index(both[i:], taskMemcgKey)
		if j < 0 {
			return
		}
		i += j
		oom, task := both[:i], both[i+len(taskMemcgKey):]
		if event.PathWithin(task, oom) {
			s.OOMMemcg, s.TaskMemcg = oom, task
			return
		}
	}
}

// isKilledLine reports whether msg is "REASON: Killed process PID ..." or,
// as before 4.19, starts with "Killed process PID".
func isKilledLine(msg string) bool {
	i := strings.Index(msg, killedMarker)
	if i < 0 || i != 0 && (i < 2 || msg[i-2:i] != ": ") {
		return false
	}
	rest := msg[i+len(killedMarker):]
	return rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

// killedRest matches what follows the name in a "Killed process" line, in
// every form kernels have printed. Older kernels end it earlier: before
// pgtables and oom_score_adj, before UID, before shmem-rss; 5.10 and later
// print them all.
var killedRest = regexp.MustCompile(`^total-vm:([0-9]+)kB, anon-rss:([0-9]+)kB, file-rss:([0-9]+)kB` +
	`(?:, shmem-rss:([0-9]+)kB(?:, UID:([0-9]+)(?: pgtables:([0-9]+)kB oom_score_adj:(-?[0-9]+))?)?)?$`)

// rhelUID is what Red Hat's 3.10 prints between the name and total-vm.
var rhelUID = regexp.MustCompile(`\), UID ([0-9]+),$`)

func parseKilled(msg string) (Killed, error) {
	i := strings.Index(msg, killedMarker)
	var k Killed
	if i > 0 {
		k.Reason = msg[:i-2]
	}
	rest := msg[i+len(killedMarker):]
	num, after, found := strings.Cut(rest, " (")
	if !found || num == "" || strings.Trim(num, "0123456789") != "" {
		return Killed{}, malformed("killed process", msg)
	}
	pid, err := strconv.Atoi(num)
	// The name ends at the last " total-vm:": what follows is fixed text.
	end := strings.LastIndex(after, " total-vm:")
	if err != nil || end < 0 {
		return Killed{}, malformed("killed process", msg)
	}
	name, tail := after[:end], after[end+1:]
	var rhel string
	if g := rhelUID.FindStringSubmatchIndex(name); g != nil {
		rhel, name = name[g[2]:g[3]], name[:g[0]]
	} else if strings.HasSuffix(name, ")") {
		name = name[:len(name)-1]
	} else {
		return Killed{}, malformed("killed process", msg)
	}
	m := killedRest.FindStringSubmatch(tail)
	if m == nil {
		return Killed{}, malformed("killed process", msg)
	}
	k.PID, k.Comm = pid, name
	for i, dst := range []*uint64{&k.TotalVMKB, &k.AnonRSSKB, &k.FileRSSKB, &k.ShmemRSSKB, nil, &k.PgtablesKB} {
		if dst == nil || m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseUint(m[i+1], 10, 64)
		if err != nil {
			return Killed{}, malformed("killed process", msg)
		}
		*dst = v
	}
	k.HasShmemRSS, k.HasPgtables = m[4] != "", m[6] != ""
	uid := m[5]
	if rhel != "" {
		uid = rhel
	}
	if uid != "" {
		v, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return Killed{}, malformed("killed process", msg)
		}
		k.UID, k.HasUID = uint32(v), true
	}
	if m[7] != "" {
		adj, err := strconv.Atoi(m[7])
		if err != nil {
			return Killed{}, malformed("killed process", msg)
		}
		k.OOMScoreAdj, k.HasOOMScoreAdj = adj, true
	}
	return k, nil
}

var reapedRest = regexp.MustCompile(`^anon-rss:([0-9]+)kB, file-rss:([0-9]+)kB, shmem-rss:([0-9]+)kB$`)

func parseReaped(msg string) (Reaped, error) {
	pid, comm, tail, ok := splitProcess(msg[len(reapedPrefix):], reapedTail)
	m := reapedRest.FindStringSubmatch(tail)
	if !ok || m == nil {
		return Reaped{}, malformed("oom_reaper", msg)
	}
	r := Reaped{PID: pid, Comm: comm}
	for i, dst := range []*uint64{&r.AnonRSSKB, &r.FileRSSKB, &r.ShmemRSSKB} {
		v, err := strconv.ParseUint(m[i+1], 10, 64)
		if err != nil {
			return Reaped{}, malformed("oom_reaper", msg)
		}
		*dst = v
	}
	return r, nil
}

// splitProcess splits "PID (COMM)TAIL_MARKERrest" into pid, comm and rest.
// The name ends at the last tailMarker: what follows it is fixed kernel
// text, which cannot hold the marker again.
func splitProcess(s, tailMarker string) (pid int, comm, rest string, ok bool) {
	num, after, found := strings.Cut(s, " (")
	if !found {
		return 0, "", "", false
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, "", "", false
	}
	pid, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", "", false
	}
	end := strings.LastIndex(after, tailMarker)
	if end < 0 {
		return 0, "", "", false
	}
	return pid, after[:end], after[end+len(tailMarker):], true
}

// Kill is one killed task as the kernel reported it: its "Killed process"
// line, with the summary and header that preceded it when the rate limit
// let them through (always nil for the extra victims of memory.oom.group).
type Kill struct {
	Killed
	Summary *Summary
	Header  *Header
	// Report is everything the log said of the OOM that killed the task.
	Report *Report
}
