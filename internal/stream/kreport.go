package stream

import (
	"log/slog"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
)

// reportWait bounds the wait for a kill's report in the kernel log. The
// kernel logs its "Killed process" line right after the kill, in the task
// that killed, so the report is almost always there by the time the kill's
// line is out; a task preempted between the two can take longer.
const reportWait = 2 * time.Second

// reportReread is how long a follow-up that did not find its kill in a
// reading of the kernel log waits before the log is read again.
const reportReread = 50 * time.Millisecond

// reportDelay is how long a follow-up waits before its first reading: the
// kill's line is out, and whoever reads it was woken by it and may need
// the CPU the reading would take (about a millisecond) on a host of few
// CPUs. The report is in the log by then anyway.
const reportDelay = 20 * time.Millisecond

// kernelReports makes the oom_report event of a kill seen live: what the
// kernel's own report of the kill, in its log, says beyond the kill. The
// kill's line cannot have it (the report is printed around the kill, the
// line is written from the ring buffer); the event follows it. The log is
// read from /dev/kmsg once for the kills that come together
// (memory.oom.group's, a storm's), from where the last reading stopped,
// and not at all while no kill comes.
type kernelReports struct {
	// read returns the latest kills logged since tracing began, with
	// what each report adds, the latest last (those of the report still
	// being read among them); valid until the next call.
	read     func() ([]loggedKill, error)
	closeLog func() error
	wait     time.Duration // reportWait
	delay    time.Duration // reportDelay
	self     event.Task
	logger   *slog.Logger

	mu    sync.Mutex
	kills []loggedKill // of the last reading
	// readBootNS is when the last reading began, on the ring buffer's
	// clock, CLOCK_BOOTTIME.
	readBootNS uint64
	broken     bool // a reading failed, or the log was closed
	// matched holds the logged kills given to a kill already: one report
	// is one kill's.
	matched map[matchKey]bool
}

type matchKey struct {
	logNS uint64
	pid   uint32
}

// maxMatched bounds the logged kills remembered as matched; it is more
// than maxLoggedKills, the most a reading holds.
const maxMatched = 4 * maxLoggedKills

// loggedKill is a kill as the kernel log reports it, and what its report
// adds to it.
type loggedKill struct {
	// logNS is the time of its "Killed process" line as the log stamps
	// it, which names the line for good; bootNS is the same on the ring
	// buffer's clock, CLOCK_BOOTTIME, as well as it can be told.
	logNS, bootNS uint64
	pid           uint32
	comm          string
	// What the report adds: the failed allocation, from its header line,
	// and the memory state.
	hasGFP  bool
	gfpMask uint32
	order   int32
	report  event.KernelReport
}

// newKernelReports opens the kernel log after its last record: the kills
// to follow are those from now on.
func newKernelReports(self event.Task, logger *slog.Logger) (*kernelReports, error) {
	tail, err := kernlog.OpenTail(kernlog.FromNow)
	if err != nil {
		return nil, err
	}
	logged := &kmsgKills{tail: tail}
	return &kernelReports{read: logged.read, closeLog: tail.Close, wait: reportWait, delay: reportDelay, self: self, logger: logger}, nil
}

// close closes the kernel log once no reading is under way; the
// follow-ups still waiting give up.
func (r *kernelReports) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broken = true
	return r.closeLog()
}

// after is the followUp of a kill: it waits for the kill's report to be
// in the kernel log, at most r.wait, and makes its oom_report event. A
// report that adds nothing to the kill makes none: one whose header was
// rate-limited away, and those of memory.oom.group's other victims, which
// only repeat the allocation the kill has where the tracer read it.
func (r *kernelReports) after(kill *event.Event) (event.Event, bool) {
	if kill.OOMKill.VictimExiting {
		// The OOM killer only marked a victim already exiting: it logs
		// nothing then, neither report nor "Killed process".
		return event.Event{}, false
	}
	start := time.Now()
	time.Sleep(r.delay)
	for {
		logged, found, ok := r.find(kill)
		switch {
		case !ok:
			return event.Event{}, false
		case found:
			if !logged.report.Has() && (!logged.hasGFP || kill.OOMKill.HasGFP) {
				return event.Event{}, false
			}
			fromLog := event.OOMKill{HasGFP: logged.hasGFP, GFPMask: logged.gfpMask, Order: logged.order, Report: logged.report}
			return event.Event{Kind: event.KindOOMReport, Time: time.Now(), KtimeNS: BootNanos(), Task: r.self,
				OOMReport: event.ReportAfter(kill, &fromLog)}, true
		case time.Since(start) >= r.wait:
			v := &kill.OOMKill.Victim
			r.logger.Warn("no report of the kill in the kernel log: its records were overwritten before they were read, or not logged",
				"victim_pid", v.PID, "victim_comm", v.Comm, "waited", r.wait)
			return event.Event{}, false
		}
		time.Sleep(reportReread)
	}
}

// find looks for kill in a reading of the kernel log that began after the
// kill, and reads the log again when there is none, or when it has not
// the kill: the kills that came together share a reading, and readings
// are reportReread apart at least, which bounds what a storm of kills
// costs (a reading of a full log buffer takes milliseconds). ok is false
// when the log cannot be read.
func (r *kernelReports) find(kill *event.Event) (logged loggedKill, found, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken {
		return loggedKill{}, false, false
	}
	if r.readBootNS <= kill.KtimeNS || !r.match(kill, &logged) {
		now := BootNanos()
		if now-r.readBootNS < uint64(reportReread) {
			return loggedKill{}, false, true
		}
		r.readBootNS = now
		kills, err := r.read()
		if err != nil {
			r.broken = true
			r.logger.Warn("no kernel reports after kills", "error", err)
			return loggedKill{}, false, false
		}
		r.kills = kills
		if !r.match(kill, &logged) {
			return loggedKill{}, false, true
		}
	}
	if r.matched == nil || len(r.matched) >= maxMatched {
		r.matched = make(map[matchKey]bool)
	}
	r.matched[matchKey{logged.logNS, logged.pid}] = true
	return logged, true, true
}

// match finds kill among the logged kills of the last reading not given
// to another kill yet.
func (r *kernelReports) match(kill *event.Event, logged *loggedKill) bool {
	i := matchKill(r.kills, kill, func(l *loggedKill) bool { return !r.matched[matchKey{l.logNS, l.pid}] })
	if i < 0 {
		return false
	}
	*logged = r.kills[i]
	return true
}

// matchKill returns the index of the kill in logged that is kill, or -1:
// the same victim, by pid and name, nearest in time, among those free
// says are free. The kernel log's clock is not quite the ring buffer's:
// NTP slews CLOCK_BOOTTIME (at most 500 ppm), not the scheduler's clock
// that stamps the log, so the two drift apart with uptime; the nearest
// is the one, since the drift moves every logged kill alike.
func matchKill(logged []loggedKill, kill *event.Event, free func(*loggedKill) bool) int {
	v := &kill.OOMKill.Victim
	slack := uint64(time.Second) + kill.KtimeNS/1000 // 1 s and 1,000 ppm
	best := -1
	for i := range logged {
		l := &logged[i]
		d := absDiff(l.bootNS, kill.KtimeNS)
		if l.pid == v.PID && l.comm == v.Comm && d <= slack && free(l) && (best < 0 || d < absDiff(logged[best].bootNS, kill.KtimeNS)) {
			best = i
		}
	}
	return best
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// kmsgKills keeps the kills the kernel log reported since it was opened,
// read on demand from a kernlog.Tail.
type kmsgKills struct {
	tail logTail
	// done holds the kills of complete reports, the latest maxLoggedKills
	// at least; kills has them and those of the report being read.
	done, kills []loggedKill
	events      []event.Event // scratch
}

// logTail is what kmsgKills needs of a kernlog.Tail.
type logTail interface {
	Read(fn func(kernlog.Item) error) (records int, err error)
	Pending() []kernlog.Item
}

// maxLoggedKills bounds the kills kept: a kill's report is looked for
// within seconds of the kill.
const maxLoggedKills = 256

// read reads what was logged since the last call and returns every kill
// kept, those of the report still being read last: a report is complete
// only well after its kill, once unrelated messages follow it.
func (k *kmsgKills) read() ([]loggedKill, error) {
	// The log's stamps run like CLOCK_MONOTONIC, which stops during a
	// suspend; the ring buffer's, CLOCK_BOOTTIME, does not.
	suspended := BootNanos() - uint64(monotonic())
	if _, err := k.tail.Read(func(it kernlog.Item) error {
		k.done = k.add(k.done, it, suspended)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(k.done) > 2*maxLoggedKills {
		k.done = append(k.done[:0], k.done[len(k.done)-maxLoggedKills:]...)
	}
	k.kills = append(k.kills[:0], k.done...)
	for _, it := range k.tail.Pending() {
		k.kills = k.add(k.kills, it, suspended)
	}
	return k.kills, nil
}

// add appends to dst the kills of the report in it, their times moved by
// suspended to CLOCK_BOOTTIME.
func (k *kmsgKills) add(dst []loggedKill, it kernlog.Item, suspended uint64) []loggedKill {
	if it.Report == nil {
		return dst
	}
	k.events = it.Report.Events(k.events[:0], kernlog.EventOptions{})
	for i := range k.events {
		ev := &k.events[i]
		if ev.Missing.Lacks(event.MissingKtime) {
			continue
		}
		kill := &ev.OOMKill
		dst = append(dst, loggedKill{logNS: ev.KtimeNS, bootNS: ev.KtimeNS + suspended, pid: kill.Victim.PID, comm: kill.Victim.Comm,
			hasGFP: kill.HasGFP, gfpMask: kill.GFPMask, order: kill.Order, report: kill.Report})
	}
	return dst
}
