package kernlog

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Stamp says where and when a line of a report was logged, as far as the
// log's format shows.
type Stamp struct {
	Line     int
	Mono     Opt[time.Duration]
	Wall     Opt[time.Time]
	TimeText string
	Host     string
	Seq      Opt[uint64]
}

func stampOf(m *Message) Stamp {
	return Stamp{Line: m.Line, Mono: m.Mono, Wall: m.Wall, TimeText: m.TimeText, Host: m.Host, Seq: m.Seq}
}

// Report is one run of the OOM killer as the kernel log tells it: from the
// "invoked oom-killer" header (when the rate limit let it through) to the
// last task it killed, with what the oom_reaper said of them after. Every
// part the log did not show is nil, empty or not OK.
type Report struct {
	Start, End Stamp // the report's first and last line

	Header *Header
	// Cpuset is the "COMM cpuset=NAME mems_allowed=NODES" line printed
	// after the header up to 4.18; later kernels put both in Summary.
	Cpuset *CpusetLine
	// Trigger is the allocating task as dump_stack's "CPU: N PID: P Comm: C"
	// line names it: the only place the log gives its pid.
	Trigger *TriggerLine
	// LimitOf is "Task in X killed as a result of limit of Y" (memcg OOMs
	// up to 4.19): the victim's memcg and the one whose limit was hit.
	LimitOf *LimitOf
	// Counters are the memcg's "memory:", "memory+swap:", "kmem:" and
	// (cgroup v2) "swap:" usage lines.
	Counters []Counter
	// MemcgStats is "Memory cgroup stats for X:" and the statistics after
	// it, in bytes.
	MemcgStats *MemcgStats
	// MemInfo is the system's memory state printed for an OOM that is not a
	// memcg one ("Mem-Info:" and the lines after it).
	MemInfo *MemInfo
	// Tasks is the task table (vm.oom_dump_tasks), reduced to its largest
	// tasks and the victims' rows.
	Tasks *TaskTable
	// Summary is the "oom-kill:constraint=..." line (5.0 and later).
	Summary *Summary
	// Selected is the "Kill process P (C) score S or sacrifice child" line
	// (up to 5.0): the task chosen, before a child may be killed instead.
	Selected *Selected
	// Skipped is set when the chosen task was already exiting and nothing
	// was killed.
	Skipped *Skipped
	// NoKillable is set when the OOM killer found no task it may kill
	// ("Out of memory and no killable processes...").
	NoKillable bool
	// Panic is the kernel's panic message right after the report, where
	// it panicked rather than kill ("Out of memory: system-wide
	// panic_on_oom is enabled", "System is deadlocked on memory").
	Panic string
	// Victims are the tasks killed, in log order: the chosen one first,
	// then, with memory.oom.group, every task of Group.
	Victims []Killed
	// Group is the memcg whose tasks memory.oom.group had killed together.
	Group Opt[string]
	// Reaped holds what the oom_reaper said of the victims.
	Reaped []Reaped
}

// CpusetLine is the allocating task's cpuset line of kernels up to 4.18.
type CpusetLine struct {
	Comm        string
	Cpuset      string
	MemsAllowed string
}

// TriggerLine is the first line of dump_stack: "CPU: 0 PID: 14614 Comm:
// klhog Not tainted 6.18.44 #1" (since 3.10; " UID: U" after the CPU since
// 6.12).
type TriggerLine struct {
	CPU  int
	UID  Opt[uint32]
	PID  int
	Comm string
}

// LimitOf is the "Task in TASK killed as a result of limit of LIMIT" line.
type LimitOf struct {
	Task  string
	Limit string
}

// Counter is a memcg usage line: "memory: usage 32768kB, limit 32768kB,
// failcnt 60".
type Counter struct {
	Name    string // "memory", "memory+swap", "kmem", "swap", "tcpmem"
	UsageKB uint64
	LimitKB uint64
	Failcnt uint64
}

// MemcgStats are the statistics of the memcg whose limit was hit.
type MemcgStats struct {
	Memcg string
	// Stats maps each name to its value in bytes for the sizes (kernels
	// up to 5.x print "cache:12KB", later ones bytes) and as printed for
	// counts (pgfault, ...).
	Stats map[string]uint64
	// Order is the names in the order printed.
	Order []string
}

// MemInfo is the system memory state of show_mem.
type MemInfo struct {
	// Pages is the "Mem-Info:" summary: active_anon, inactive_anon,
	// active_file, inactive_file, shmem, slab_reclaimable,
	// slab_unreclaimable, free, ... in pages.
	Pages map[string]uint64
	Zones []Zone
	// FreeSwapKB and TotalSwapKB are "Free swap  = N kB" and
	// "Total swap = N kB".
	FreeSwapKB     Opt[uint64]
	TotalSwapKB    Opt[uint64]
	RAMPages       Opt[uint64] // "N pages RAM"
	ReservedPages  Opt[uint64] // "N pages reserved"
	PagecachePages Opt[uint64] // "N total pagecache pages"
}

// Zone is one memory zone of one node: its watermarks line and its free
// lists line.
type Zone struct {
	Node   int
	Name   string // "DMA", "DMA32", "Normal", "Movable", "HighMem"
	FreeKB Opt[uint64]
	MinKB  Opt[uint64]
	LowKB  Opt[uint64]
	HighKB Opt[uint64]
	// Free lists by order: "12*4kB (UME)" is 12 free blocks of 4 kB, of
	// the migrate types U, M and E.
	FreeAreas   []FreeArea
	FreeTotalKB Opt[uint64] // the "= 1234kB" total after the free lists
}

// BelowMin reports whether the zone's free memory was under its min
// watermark, and whether the log showed both.
func (z Zone) BelowMin() (below, known bool) {
	if !z.FreeKB.OK || !z.MinKB.OK {
		return false, false
	}
	return z.FreeKB.V < z.MinKB.V, true
}

// FreeArea is the free list of one order in one zone.
type FreeArea struct {
	SizeKB uint64
	Count  uint64
	Types  string
}

// TaskTable is the OOM killer's task table. Columns is its header, as the
// kernel printed it (they changed over versions). Only the largest tasks by
// rss and the victims' rows are kept.
type TaskTable struct {
	Columns []string
	Rows    []TaskRow
	// Count is the number of rows the log had.
	Count int
}

// TaskRow is one row of the task table; memory values are in pages,
// pgtables_bytes in bytes.
type TaskRow struct {
	PID         int
	UID         int64
	TGID        int
	TotalVM     uint64
	RSS         uint64
	Swapents    uint64
	OOMScoreAdj int
	Name        string
	// Other holds the columns of only some versions: nr_ptes, nr_pmds,
	// pgtables_bytes, rss_anon, rss_file, rss_shmem.
	Other map[string]int64
}

// Selected is the "REASON: Kill process PID (COMM) score N or sacrifice
// child" line of kernels up to 5.0.
type Selected struct {
	Reason string
	PID    int
	Comm   string
	Score  uint64
}

// Skipped is "REASON: OOM victim PID (COMM) is already exiting. Skip
// killing the task".
type Skipped struct {
	Reason string
	PID    int
	Comm   string
	At     Stamp
}

// VictimRow returns the task table's row of the i-th victim, if kept.
func (r *Report) VictimRow(i int) (TaskRow, bool) {
	if r.Tasks == nil || i >= len(r.Victims) {
		return TaskRow{}, false
	}
	for _, row := range r.Tasks.Rows {
		if row.PID == r.Victims[i].PID {
			return row, true
		}
	}
	return TaskRow{}, false
}

// Kills returns one Kill per victim: the first carries the report's header
// and summary, the others (memory.oom.group's) none, as the kernel prints
// them.
func (r *Report) Kills() []Kill {
	kills := make([]Kill, 0, len(r.Victims))
	for i, v := range r.Victims {
		k := Kill{Killed: v, Report: r}
		if i == 0 {
			k.Summary, k.Header = r.Summary, r.Header
		}
		kills = append(kills, k)
	}
	return kills
}

// maxTaskRows bounds the rows held while a task table is read (the victim
// is known only after it); maxKeptTasks is how many of the largest are
// kept after.
const (
	maxTaskRows  = 20000
	maxKeptTasks = 5
	maxStats     = 256
	maxZones     = 64
)

// trimTasks keeps the largest rows by rss and the rows of the victims and
// the task chosen.
func (r *Report) trimTasks() {
	t := r.Tasks
	if t == nil || len(t.Rows) <= maxKeptTasks {
		return
	}
	want := map[int]bool{}
	for _, v := range r.Victims {
		want[v.PID] = true
	}
	if r.Summary != nil {
		want[r.Summary.PID] = true
	}
	if r.Selected != nil {
		want[r.Selected.PID] = true
	}
	if r.Skipped != nil {
		want[r.Skipped.PID] = true
	}
	rows := t.Rows
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].RSS > rows[j].RSS })
	var kept []TaskRow
	for i, row := range rows {
		if i < maxKeptTasks || want[row.PID] {
			kept = append(kept, row)
		}
	}
	t.Rows = kept
}

var (
	cpuLine       = regexp.MustCompile(`(?s)^CPU: ([0-9]+) (?:UID: ([0-9]+) )?PID: ([0-9]+) Comm: (.*)$`)
	counterLine   = regexp.MustCompile(`^(memory|memory\+swap|kmem|swap|tcpmem): usage ([0-9]+)kB, limit ([0-9]+)kB, failcnt ([0-9]+)$`)
	statsOneLine  = regexp.MustCompile(`^(?: [a-z_0-9]+:[0-9]+(?:KB)?)+$`)
	statsPair     = regexp.MustCompile(`([a-z_0-9]+):([0-9]+)(KB)?`)
	statLine      = regexp.MustCompile(`^([a-z_0-9]+) ([0-9]+)$`)
	meminfoPair   = regexp.MustCompile(`([a-z_A-Z0-9()]+):([0-9]+)(?:\s|$)`)
	zoneLine      = regexp.MustCompile(`^Node ([0-9]+) ([A-Za-z0-9]+) free:([0-9]+)kB(?: boost:[0-9]+kB)? min:([0-9]+)kB low:([0-9]+)kB high:([0-9]+)kB`)
	freeListLine  = regexp.MustCompile(`^Node ([0-9]+) ([A-Za-z0-9]+): (.*) = ([0-9]+)kB$`)
	freeArea      = regexp.MustCompile(`([0-9]+)\*([0-9]+)kB(?: \(([A-Z]+)\))?`)
	swapLine      = regexp.MustCompile(`^(Free|Total) swap *= *([0-9]+)kB$`)
	pagesLine     = regexp.MustCompile(`^([0-9]+) (pages RAM|pages reserved|total pagecache pages)$`)
	taskHeader    = regexp.MustCompile(`^\[ *pid *\] +uid +tgid +total_vm +rss `)
	taskRowStart  = regexp.MustCompile(`^\[ *([0-9]+)\] `)
	selectedLine  = regexp.MustCompile(`^(?:(.*): )?Kill process ([0-9]+) \((.*)\) score ([0-9]+) or sacrifice child$`)
	skippedLine   = regexp.MustCompile(`^(?:(.*): )?OOM victim ([0-9]+) \((.*)\) is already exiting\. Skip killing the task$`)
	unableLine    = regexp.MustCompile(`^oom_reaper: unable to reap pid:([0-9]+) \((.*)\)$`)
	groupPrefix   = "Tasks in "
	groupSuffix   = " are going to be killed due to memory.oom.group set"
	limitOfPrefix = "Task in "
	limitOfMarker = " killed as a result of limit of "
	statsPrefix   = "Memory cgroup stats for "
	// noKillablePrefix starts the line of an OOM that found no task to
	// kill (all unkillable, oom_score_adj -1000): no kill follows.
	noKillablePrefix = "Out of memory and no killable processes"
	panicPrefix      = "Kernel panic - not syncing: "
	tasksStateLine   = "Tasks state (memory values in pages):"
)

// bodyMode says which multi-line part of a report the last line began.
type bodyMode uint8

const (
	bodyNone bodyMode = iota
	bodyMemInfo
	bodyStats
	bodyTasks
)

// Item is what the log says next: an OOM report, or an oom_reaper line
// whose report is not in the log read (or was handed out already).
type Item struct {
	Report *Report
	Reaped *Reaped
}

// Assembler builds Reports from kernel log messages given in log order.
// Reports are handed out (Pop) once complete: when the next one starts, or
// after their victims were reaped or enough of the log passed for the
// oom_reaper to have reported (10 s, or 1,000 messages), or at Flush.
type Assembler struct {
	cur  *Report
	mode bodyMode
	// statsBlock is what the "Memory cgroup stats" lines being read go
	// to: cur's MemcgStats, or nowhere for a cgroup's after the first.
	statsBlock *MemcgStats
	unrelated  int // messages since cur's last victim that were not its
	fragment   string
	fragAt     Stamp
	// summaryText is cur's summary kept unparsed until its victim's name
	// is known.
	summaryText string
	queue       []queued
	out         []Item
	// Warn receives the report lines that did not parse.
	Warn func(at Stamp, line string, err error)
}

type queued struct {
	item     Item
	msgs     int
	closedAt Opt[time.Duration]
}

const (
	reapWindowMsgs = 1000
	reapWindow     = 10 * time.Second
	groupWindow    = 64 // unrelated messages after a kill before its report closes
	maxQueued      = 64
)

// Add reads one message. Messages that cannot be the kernel's (see
// Message.FromKernel) are ignored.
func (a *Assembler) Add(m *Message) {
	if !m.FromKernel() {
		return
	}
	a.age(m)
	at := stampOf(m)
	text := m.Text
	if a.fragment != "" {
		switch {
		case strings.HasPrefix(text, ",") && len(a.fragment)+len(text) <= maxMessage:
			text, a.fragment = a.fragment+text, ""
		case startsReport(text):
			// The rest of the summary never came.
			a.warn(a.fragAt, a.fragment, errCutSummary)
			a.fragment = ""
		}
	}
	if strings.HasPrefix(text, summaryPrefix) && !summaryEnd.MatchString(text) {
		a.fragment, a.fragAt = text, at
		return
	}
	if a.line(text, at, true) {
		return
	}
	if strings.Contains(text, "\n") {
		for l := range strings.SplitSeq(text, "\n") {
			a.line(l, at, false)
		}
	}
}

func (a *Assembler) warn(at Stamp, line string, err error) {
	if a.Warn != nil {
		a.Warn(at, line, err)
	}
}

var errCutSummary = fmt.Errorf("oom-kill summary cut short: %w", ErrMalformed)

// age counts a message against the reports waiting for the reaper.
func (a *Assembler) age(m *Message) {
	for i := range a.queue {
		a.queue[i].msgs++
	}
	for len(a.queue) > 0 {
		q := a.queue[0]
		done := q.msgs > reapWindowMsgs || len(a.queue) > maxQueued
		if q.closedAt.OK && m.Mono.OK && m.Mono.V-q.closedAt.V > reapWindow {
			done = true
		}
		if q.item.Report != nil && allReaped(q.item.Report) {
			done = true
		}
		if q.item.Report == nil {
			done = true
		}
		if !done {
			return
		}
		a.out = append(a.out, q.item)
		a.queue = a.queue[1:]
	}
}

func allReaped(r *Report) bool {
	if len(r.Victims) == 0 {
		return true
	}
	for _, v := range r.Victims {
		found := false
		for _, rp := range r.Reaped {
			if rp.PID == v.PID {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// closeCur ends the report being read and queues it for the reaper.
func (a *Assembler) closeCur() {
	r := a.cur
	if r == nil {
		return
	}
	a.cur, a.mode, a.unrelated = nil, bodyNone, 0
	if err := a.summarize(r); err != nil {
		a.warn(r.Start, a.summaryText, err)
	}
	switch {
	case len(r.Victims) > 0 || r.Skipped != nil:
	case r.Panic != "":
		a.warn(r.End, panicPrefix+r.Panic, ErrOOMPanic)
	case r.NoKillable:
		a.warn(r.End, noKillablePrefix, ErrNothingKillable)
	case r.Header != nil || r.Summary != nil:
		// The kernel logs a kill's "Killed process" line right after its
		// report, and nothing stops it: a report without one is a log
		// cut short, and a kill that may be missing.
		a.warn(r.Start, a.summaryText, ErrNoKill)
	}
	a.summaryText = ""
	r.trimTasks()
	a.queue = append(a.queue, queued{item: Item{Report: r}, closedAt: r.End.Mono})
}

// groupGap is the most a memory.oom.group kill follows the one before it:
// the kernel kills the group's tasks in one go, right after its victim.
const groupGap = time.Second

// groupMember reports whether k, a kill read after r's, is one more task
// of the memory.oom.group r names: killed right after the one before, and
// in the report's task table where the log printed one. A later kill
// whose report the kernel held back (it prints ten in five seconds) is
// another OOM's; without a table (vm.oom_dump_tasks off), one within the
// second cannot be told from the group's.
func groupMember(r *Report, k *Killed) bool {
	last := r.Victims[len(r.Victims)-1].At
	if k.At.Mono.OK && last.Mono.OK && k.At.Mono.V-last.Mono.V > groupGap {
		return false
	}
	if t := r.Tasks; t != nil && len(t.Rows) > 0 {
		return slices.ContainsFunc(t.Rows, func(row TaskRow) bool { return row.PID == k.PID || row.TGID == k.PID })
	}
	return true
}

// summarize parses the summary line read so far, if any, into r.Summary.
func (a *Assembler) summarize(r *Report) error {
	if a.summaryText == "" {
		return nil
	}
	comm := ""
	if len(r.Victims) > 0 {
		comm = r.Victims[0].Comm
	}
	s, err := parseSummary(a.summaryText, comm, len(r.Victims) > 0)
	if err != nil {
		return err
	}
	r.Summary = &s
	return nil
}

func (a *Assembler) open(at Stamp) *Report {
	a.closeCur()
	a.cur = &Report{Start: at, End: at}
	return a.cur
}

// Flush hands out every report read so far, complete or not: at the end of
// the input, or when a followed log has been quiet.
func (a *Assembler) Flush() {
	if a.fragment != "" {
		a.warn(a.fragAt, a.fragment, errCutSummary)
		a.fragment = ""
	}
	a.closeCur()
	for _, q := range a.queue {
		a.out = append(a.out, q.item)
	}
	a.queue = a.queue[:0]
}

// Pop returns the next item ready, if any.
func (a *Assembler) Pop() (Item, bool) {
	if len(a.out) == 0 {
		return Item{}, false
	}
	it := a.out[0]
	a.out[0] = Item{}
	a.out = a.out[1:]
	return it, true
}

// line reads one line of a report. whole says the line is a whole
// message; a line of a multi-line message is only tried as a body line.
// It reports whether the line was a report line.
func (a *Assembler) line(text string, at Stamp, whole bool) bool {
	if whole {
		if ok := a.reportLine(text, at); ok {
			return true
		}
	}
	return a.bodyLine(text, at)
}

func (a *Assembler) touch(at Stamp) {
	if a.cur != nil {
		a.cur.End = at
	}
}

// reportLine handles the lines that start, end or join reports.
func (a *Assembler) reportLine(text string, at Stamp) bool {
	switch {
	case strings.HasPrefix(text, panicPrefix):
		// The kernel panics right after the report where vm.panic_on_oom
		// asks it to, or where a global OOM found nothing to kill.
		r := a.cur
		why := text[len(panicPrefix):]
		if r == nil || len(r.Victims) > 0 || r.Skipped != nil ||
			!strings.HasPrefix(why, "Out of memory") && !strings.HasPrefix(why, "System is deadlocked on memory") {
			return false
		}
		r.Panic = why
		a.touch(at)
		a.closeCur()
		return true
	case strings.HasPrefix(text, summaryPrefix):
		if r := a.cur; r == nil || len(r.Victims) > 0 || a.summaryText != "" || r.Skipped != nil {
			a.open(at)
		}
		if _, err := parseSummary(text, "", false); err != nil {
			a.warn(at, text, err)
			return true
		}
		a.summaryText = text
		a.mode = bodyNone
		a.touch(at)
		return true
	case strings.HasPrefix(text, reapedPrefix):
		rp, err := parseReaped(text)
		if err != nil {
			a.warn(at, text, err)
			return true
		}
		rp.At = at
		a.reaped(rp)
		return true
	case strings.HasPrefix(text, "oom_reaper: unable to reap pid:"):
		if g := unableLine.FindStringSubmatch(text); g != nil {
			pid, _ := strconv.Atoi(g[1])
			a.reaped(Reaped{PID: pid, Comm: g[2], Failed: true, At: at})
			return true
		}
	case strings.Contains(text, headerMarker):
		h, err := parseHeader(text)
		if err != nil {
			a.warn(at, text, err)
			return true
		}
		a.open(at).Header = &h
		return true
	case isKilledLine(text):
		k, err := parseKilled(text)
		if err != nil {
			a.warn(at, text, err)
			return true
		}
		k.At = at
		r := a.cur
		if r == nil || r.Skipped != nil || len(r.Victims) > 0 && !(r.Group.OK && groupMember(r, &k)) {
			r = a.open(at)
		}
		r.Victims = append(r.Victims, k)
		a.mode, a.unrelated = bodyNone, 0
		a.touch(at)
		return true
	case strings.HasPrefix(text, groupPrefix) && strings.HasSuffix(text[len(groupPrefix):], groupSuffix):
		// The suffix is looked for after the prefix: the two overlap in
		// "Tasks in are going to be…", which names no cgroup.
		r := a.cur
		if r == nil || r.Group.OK {
			r = a.open(at)
		}
		r.Group = some(strings.TrimSuffix(text[len(groupPrefix):], groupSuffix))
		a.touch(at)
		return true
	case strings.Contains(text, "Kill process ") && strings.HasSuffix(text, " or sacrifice child"):
		g := selectedLine.FindStringSubmatch(text)
		if g == nil {
			return false
		}
		score, err1 := strconv.ParseUint(g[4], 10, 64)
		pid, err2 := strconv.Atoi(g[2])
		if err1 != nil || err2 != nil {
			a.warn(at, text, malformed("kill process", text))
			return true
		}
		r := a.cur
		if r == nil || len(r.Victims) > 0 || r.Selected != nil {
			r = a.open(at)
		}
		r.Selected = &Selected{Reason: g[1], PID: pid, Comm: g[3], Score: score}
		a.mode = bodyNone
		a.touch(at)
		return true
	case strings.HasSuffix(text, skippedSuffix):
		g := skippedLine.FindStringSubmatch(text)
		if g == nil {
			return false
		}
		pid, err := strconv.Atoi(g[2])
		if err != nil {
			return false
		}
		r := a.cur
		if r == nil || len(r.Victims) > 0 || r.Skipped != nil {
			r = a.open(at)
		}
		r.Skipped = &Skipped{Reason: g[1], PID: pid, Comm: g[3], At: at}
		a.touch(at)
		return true
	case strings.HasPrefix(text, "CPU: "):
		r := a.cur
		if r == nil || r.Header == nil || r.Trigger != nil || len(r.Victims) > 0 {
			return false
		}
		g := cpuLine.FindStringSubmatch(text)
		if g == nil {
			return false
		}
		cpu, _ := strconv.Atoi(g[1])
		pid, _ := strconv.Atoi(g[3])
		t := &TriggerLine{CPU: cpu, PID: pid, Comm: triggerComm(g[4], r.Header.Comm)}
		if g[2] != "" {
			if uid, err := strconv.ParseUint(g[2], 10, 32); err == nil {
				t.UID = some(uint32(uid))
			}
		}
		r.Trigger = t
		a.touch(at)
		return true
	}
	return false
}

// triggerComm finds the name in what follows "Comm: " on the CPU line: the
// header's name when it is there, else the text up to the taint.
func triggerComm(rest, headerComm string) string {
	if headerComm != "" && strings.HasPrefix(rest, headerComm+" ") {
		return headerComm
	}
	end := len(rest)
	for _, marker := range []string{" Kdump: ", " Not tainted", " Tainted: "} {
		if i := strings.Index(rest, marker); i >= 0 && i < end {
			end = i
		}
	}
	return rest[:end]
}

func (a *Assembler) reaped(rp Reaped) {
	if a.cur != nil && hasVictim(a.cur, rp.PID) {
		a.cur.Reaped = append(a.cur.Reaped, rp)
		return
	}
	for i := len(a.queue) - 1; i >= 0; i-- {
		if r := a.queue[i].item.Report; r != nil && hasVictim(r, rp.PID) {
			r.Reaped = append(r.Reaped, rp)
			return
		}
	}
	if len(a.queue) == 0 {
		a.out = append(a.out, Item{Reaped: &rp})
		return
	}
	a.queue = append(a.queue, queued{item: Item{Reaped: &rp}})
}

func hasVictim(r *Report, pid int) bool {
	for _, v := range r.Victims {
		if v.PID == pid {
			return true
		}
	}
	return false
}

// bodyLine handles the lines between a header and the kill: the memcg's
// state, the system's memory state and the task table.
func (a *Assembler) bodyLine(text string, at Stamp) bool {
	r := a.cur
	if r == nil {
		return false
	}
	if len(r.Victims) > 0 {
		// Only the group line and the group's kills still belong here.
		if a.unrelated++; a.unrelated > groupWindow {
			a.closeCur()
		}
		return false
	}
	switch {
	case strings.HasPrefix(text, noKillablePrefix):
		r.NoKillable = true
	case strings.HasPrefix(text, limitOfPrefix) && strings.Contains(text, limitOfMarker):
		task, limit := splitLimitOf(text[len(limitOfPrefix):])
		r.LimitOf = &LimitOf{Task: task, Limit: limit}
	case r.Header != nil && r.Cpuset == nil && strings.HasPrefix(text, r.Header.Comm+" cpuset="):
		rest := text[len(r.Header.Comm+" cpuset="):]
		i := strings.LastIndex(rest, " mems_allowed=")
		if i < 0 {
			return false
		}
		r.Cpuset = &CpusetLine{Comm: r.Header.Comm, Cpuset: rest[:i], MemsAllowed: rest[i+len(" mems_allowed="):]}
	case strings.HasPrefix(text, statsPrefix):
		a.stats(text[len(statsPrefix):])
	case text == "Mem-Info:" || text == "Mem-info:":
		r.MemInfo = &MemInfo{Pages: map[string]uint64{}}
		a.mode = bodyMemInfo
	case text == tasksStateLine:
	case taskHeader.MatchString(text):
		cols := strings.Fields(text[strings.Index(text, "]")+1:])
		r.Tasks = &TaskTable{Columns: append([]string{"pid"}, cols...)}
		a.mode = bodyTasks
	default:
		if g := counterLine.FindStringSubmatch(text); g != nil {
			c := Counter{Name: g[1]}
			c.UsageKB, _ = strconv.ParseUint(g[2], 10, 64)
			c.LimitKB, _ = strconv.ParseUint(g[3], 10, 64)
			c.Failcnt, _ = strconv.ParseUint(g[4], 10, 64)
			if len(r.Counters) < 8 {
				r.Counters = append(r.Counters, c)
			}
			break
		}
		if !a.modeLine(text) {
			return false
		}
	}
	a.touch(at)
	return true
}

// splitLimitOf splits "TASK killed as a result of limit of LIMIT": the
// memcg whose limit was hit is the task's or an ancestor of it.
func splitLimitOf(s string) (task, limit string) {
	i := strings.Index(s, limitOfMarker)
	first := i
	for i >= 0 {
		t, l := s[:i], s[i+len(limitOfMarker):]
		if event.PathWithin(t, l) {
			return t, l
		}
		j := strings.Index(s[i+1:], limitOfMarker)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return s[:first], s[first+len(limitOfMarker):]
}

func (a *Assembler) stats(rest string) {
	r := a.cur
	st := &MemcgStats{Stats: map[string]uint64{}}
	// Older kernels on cgroup v1 print a line for each cgroup of the
	// OOM one's subtree, the OOM one first, each with its own pages only
	// (a pod's cgroup holds none of its containers'): the report's stats
	// are their sum, under the OOM cgroup's name.
	first := r.MemcgStats
	if first == nil {
		r.MemcgStats = st
	}
	a.statsBlock = st
	if strings.HasSuffix(rest, ":") {
		st.Memcg = rest[:len(rest)-1]
		a.mode = bodyStats
		return
	}
	// Up to 5.x on cgroup v1: "Memory cgroup stats for /x: cache:0KB rss:980KB ...".
	for i := 0; ; i++ {
		j := strings.Index(rest[i:], ": ")
		if j < 0 {
			st.Memcg = rest
			return
		}
		i += j
		if statsOneLine.MatchString(rest[i+1:]) {
			st.Memcg = rest[:i]
			for _, g := range statsPair.FindAllStringSubmatch(rest[i+1:], maxStats) {
				v, err := strconv.ParseUint(g[2], 10, 64)
				if err != nil {
					continue
				}
				if g[3] == "KB" {
					v *= 1024
				}
				st.add(g[1], v)
			}
			if first != nil && event.PathWithin(st.Memcg, first.Memcg) {
				first.sum(st)
			}
			return
		}
	}
}

func (st *MemcgStats) add(name string, v uint64) {
	if _, dup := st.Stats[name]; !dup && len(st.Order) < maxStats {
		st.Order = append(st.Order, name)
		st.Stats[name] = v
	}
}

// sum adds below's values to st's: those of a cgroup below st's.
func (st *MemcgStats) sum(below *MemcgStats) {
	for _, name := range below.Order {
		if _, ok := st.Stats[name]; ok {
			st.Stats[name] += below.Stats[name]
		} else {
			st.add(name, below.Stats[name])
		}
	}
}

// modeLine reads a line of the multi-line part begun last.
func (a *Assembler) modeLine(text string) bool {
	switch a.mode {
	case bodyStats:
		if strings.Contains(text, "\n") {
			// A v2 memory.stat printed as one record (5.x to 6.3): Add
			// reads it line by line next.
			return false
		}
		g := statLine.FindStringSubmatch(text)
		if g == nil {
			a.mode = bodyNone
			return false
		}
		v, err := strconv.ParseUint(g[2], 10, 64)
		if err == nil {
			a.statsBlock.add(g[1], v)
		}
		return true
	case bodyMemInfo:
		return a.memInfoLine(strings.TrimSpace(text))
	case bodyTasks:
		return a.taskRow(text)
	}
	return false
}

func (a *Assembler) memInfoLine(text string) bool {
	mi := a.cur.MemInfo
	if g := zoneLine.FindStringSubmatch(text); g != nil {
		z := a.zone(g[1], g[2])
		if z == nil {
			return true
		}
		for i, dst := range []*Opt[uint64]{&z.FreeKB, &z.MinKB, &z.LowKB, &z.HighKB} {
			if v, err := strconv.ParseUint(g[3+i], 10, 64); err == nil {
				*dst = some(v)
			}
		}
		return true
	}
	if g := freeListLine.FindStringSubmatch(text); g != nil {
		z := a.zone(g[1], g[2])
		if z == nil {
			return true
		}
		z.FreeAreas = z.FreeAreas[:0]
		for _, f := range freeArea.FindAllStringSubmatch(g[3], 32) {
			n, err1 := strconv.ParseUint(f[1], 10, 64)
			size, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 == nil && err2 == nil {
				z.FreeAreas = append(z.FreeAreas, FreeArea{SizeKB: size, Count: n, Types: f[3]})
			}
		}
		if v, err := strconv.ParseUint(g[4], 10, 64); err == nil {
			z.FreeTotalKB = some(v)
		}
		return true
	}
	if g := swapLine.FindStringSubmatch(text); g != nil {
		v, _ := strconv.ParseUint(g[2], 10, 64)
		if g[1] == "Free" {
			mi.FreeSwapKB = some(v)
		} else {
			mi.TotalSwapKB = some(v)
		}
		return true
	}
	if g := pagesLine.FindStringSubmatch(text); g != nil {
		v, _ := strconv.ParseUint(g[1], 10, 64)
		switch g[2] {
		case "pages RAM":
			mi.RAMPages = some(v)
		case "pages reserved":
			mi.ReservedPages = some(v)
		default:
			mi.PagecachePages = some(v)
		}
		return true
	}
	if strings.HasPrefix(text, "Node ") || strings.HasPrefix(text, "lowmem_reserve[]:") ||
		strings.HasPrefix(text, "CPU ") || strings.Contains(text, "pages in swap cache") ||
		strings.HasPrefix(text, "Swap cache stats:") || strings.HasSuffix(text, "pages HighMem/MovableOnly") ||
		strings.HasSuffix(text, "pages cma reserved") || strings.HasSuffix(text, "pages hwpoisoned") ||
		strings.HasSuffix(text, "Bytes from unreclaimable slab") {
		return true
	}
	// The summary before the first node: "active_anon:1 inactive_anon:2 ...".
	if len(mi.Zones) == 0 {
		pairs := meminfoPair.FindAllStringSubmatch(text, 64)
		if len(pairs) == 0 {
			return false
		}
		for _, p := range pairs {
			if v, err := strconv.ParseUint(p[2], 10, 64); err == nil && len(mi.Pages) < maxStats {
				mi.Pages[p[1]] = v
			}
		}
		return true
	}
	return false
}

func (a *Assembler) zone(node, name string) *Zone {
	mi := a.cur.MemInfo
	n, err := strconv.Atoi(node)
	if err != nil {
		return nil
	}
	for i := range mi.Zones {
		if mi.Zones[i].Node == n && mi.Zones[i].Name == name {
			return &mi.Zones[i]
		}
	}
	if len(mi.Zones) >= maxZones {
		return nil
	}
	mi.Zones = append(mi.Zones, Zone{Node: n, Name: name})
	return &mi.Zones[len(mi.Zones)-1]
}

// taskRow reads "[  14614]     0 14614     8869     8514 ... 0 klhog": one
// number per column but the last, then one space and the name, which may
// hold spaces.
func (a *Assembler) taskRow(text string) bool {
	t := a.cur.Tasks
	g := taskRowStart.FindStringSubmatch(text)
	if g == nil {
		a.mode = bodyNone
		return false
	}
	t.Count++
	if len(t.Rows) >= maxTaskRows {
		return true
	}
	pid, err := strconv.Atoi(g[1])
	if err != nil {
		return true
	}
	row := TaskRow{PID: pid}
	rest := text[len(g[0]):]
	ncols := len(t.Columns) - 2 // not pid, not name
	vals := make([]int64, 0, ncols)
	for range ncols {
		rest = strings.TrimLeft(rest, " ")
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			return true
		}
		v, err := strconv.ParseInt(rest[:end], 10, 64)
		if err != nil {
			return true
		}
		vals = append(vals, v)
		rest = rest[end:]
	}
	row.Name = strings.TrimPrefix(rest, " ")
	for i, v := range vals {
		switch col := t.Columns[i+1]; col {
		case "uid":
			row.UID = v
		case "tgid":
			row.TGID = int(v)
		case "total_vm":
			row.TotalVM = uint64(v)
		case "rss":
			row.RSS = uint64(v)
		case "swapents":
			row.Swapents = uint64(v)
		case "oom_score_adj":
			row.OOMScoreAdj = int(v)
		default:
			if row.Other == nil {
				row.Other = map[string]int64{}
			}
			row.Other[col] = v
		}
	}
	t.Rows = append(t.Rows, row)
	return true
}

// Pending returns copies of the items not handed out yet, the report being
// read last (its summary parsed as far as the log went). A live reader
// looks at them to see a kill the moment it is logged.
func (a *Assembler) Pending() []Item {
	items := make([]Item, 0, len(a.out)+len(a.queue)+1)
	items = append(items, a.out...)
	for _, q := range a.queue {
		items = append(items, q.item)
	}
	if a.cur != nil {
		r := *a.cur
		a.summarize(&r) // a summary not read whole yet may not parse
		items = append(items, Item{Report: &r})
	}
	return items
}

// Oldest returns the first log line of the earliest report not handed out
// by Pop yet, and whether there is one: a reader merging the log's reports
// with what else it finds in the log holds back what comes after it.
func (a *Assembler) Oldest() (int, bool) {
	switch {
	case len(a.out) > 0 && a.out[0].Report != nil:
		return a.out[0].Report.Start.Line, true
	case len(a.out) > 0:
		return a.out[0].Reaped.At.Line, true
	case len(a.queue) > 0 && a.queue[0].item.Report != nil:
		return a.queue[0].item.Report.Start.Line, true
	case a.cur != nil:
		return a.cur.Start.Line, true
	}
	return 0, false
}

// startsReport reports whether a message is a header, summary or "Killed
// process" line.
func startsReport(text string) bool {
	return strings.HasPrefix(text, summaryPrefix) || strings.Contains(text, headerMarker) || isKilledLine(text)
}
