// Package human writes events for a person reading them as they come, on a
// terminal or in a report of the past: one line per OOM kill with its
// verdict, one per eviction and per process a signal ended, reclaim summed
// up per interval, and at the end a summary. Machines read oomtrace's text
// and JSON formats (package output); this one may change.
//
// Every string written comes from the pipeline's sentences, which quote
// the kernel's strings, or passes through Escape: nothing from the kernel
// reaches the terminal as a control byte.
package human

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/filter"
)

// Writer is a sink of the pipeline writing for people. It is not safe for
// concurrent use; the pipeline serialises its sinks.
type Writer struct {
	w io.Writer
	// Local is the time zone times are shown in.
	local *time.Location
	// group is the memory.oom.group of the last kill written, whose other
	// victims are written under it.
	group string

	kills     int
	byClass   map[event.Class]int
	evictions int
	exits     map[event.Cause]int
	lost      uint64
	// skipped are the runs of the tracer's programs the kernel skipped,
	// of the programs skippedBy names.
	skipped   uint64
	skippedBy string
	first     string // the time of the first kill or eviction
	last      string
}

// NewWriter returns a Writer to w, showing times in loc.
func NewWriter(w io.Writer, loc *time.Location) *Writer {
	return &Writer{w: w, local: loc, byClass: map[event.Class]int{}, exits: map[event.Cause]int{}}
}

// underKill writes the sentence of an event that follows a kill under the
// kill's, which it follows within a fraction of a second.
func underKill(b *strings.Builder, why string) {
	if why != "" {
		fmt.Fprintf(b, "    %s\n", safe(why))
	}
}

// Write writes what a person wants to know of ev: kills, evictions, exits
// and lost events; reclaim summed up; the rest not at all.
func (w *Writer) Write(ev *event.Event) error {
	var b strings.Builder
	switch ev.Kind {
	case event.KindOOMKill:
		w.kill(&b, ev)
	case event.KindOOMSnapshot:
		underKill(&b, ev.OOMSnapshot.Why)
	case event.KindOOMReport:
		underKill(&b, ev.OOMReport.Why)
	case event.KindEviction:
		w.evictions++
		w.seen(ev)
		fmt.Fprintf(&b, "%s  eviction  %s\n", w.when(ev), safe(ev.Eviction.Why))
	case event.KindExit:
		w.exits[ev.Exit.Cause]++
		if ev.Exit.Cause != event.CauseOOMKill { // the kill said it already
			fmt.Fprintf(&b, "%s  exit      %s\n", w.when(ev), safe(ev.Exit.Why))
		}
	case event.KindReclaimStats:
		s := &ev.ReclaimStats
		fmt.Fprintf(&b, "%s  reclaim   %s in %s: %d episodes over %s, %s stalled, longest %s\n", w.when(ev),
			s.Kind, where(&s.Cgroup), s.Count, round(s.Interval), round(s.Total), round(s.Max))
	case event.KindLost:
		l := &ev.Lost
		w.lost, w.skipped, w.skippedBy = l.Total, l.SkippedRunsTotal, l.SkippedByProgram
		if l.Count > 0 {
			fmt.Fprintf(&b, "%s  LOST      %d events the kernel could not hand over (%d in all)\n", w.when(ev), l.Count, l.Total)
		}
		if l.SkippedRuns > 0 {
			fmt.Fprintf(&b, "%s  SKIPPED   %s of oomtrace's programs the kernel did not start (%d in all: %s): %s may be missing\n",
				w.when(ev), plural(int(l.SkippedRuns), "run", "runs"), l.SkippedRunsTotal, safe(l.SkippedByProgram), event.MayMiss(l.SkippedByProgram, l.SkippedRunsTotal))
		}
	default:
		return nil
	}
	_, err := io.WriteString(w.w, b.String())
	return err
}

// kill writes one line per kill: when, the class, the verdict; under it
// the names of the commands that name a pod or container the log has IDs
// of only, and memory.oom.group's other victims. The memory state read
// after the kill follows in a line of its own.
func (w *Writer) kill(b *strings.Builder, ev *event.Event) {
	k := &ev.OOMKill
	w.kills++
	w.byClass[k.Class]++
	w.seen(ev)
	if k.Group.Valid() && k.Group.Path == w.group && k.Why != "" && !k.Report.Has() {
		fmt.Fprintf(b, "%s    + killed with its memory.oom.group %s: %s\n", w.when(ev), quotePath(k.Group.Path), safe(victimOf(k)))
		return
	}
	w.group = k.Group.Path
	what := k.Class.String() + " OOM"
	if k.Replayed {
		what += ", before tracing"
	}
	fmt.Fprintf(b, "%s  OOM kill  [%s] %s\n", w.when(ev), what, safe(k.Why))
	if k.Group.Valid() {
		fmt.Fprintf(b, "    memory.oom.group of %s: every task in it is killed with it\n", quotePath(k.Group.Path))
	}
	for _, hint := range lookups(k) {
		fmt.Fprintf(b, "    %s\n", hint)
	}
}

// victimOf names a kill's victim for a line under its group's.
func victimOf(k *event.OOMKill) string {
	return strconv.Quote(k.Victim.Comm) + " (pid " + strconv.FormatUint(uint64(max(k.Victim.TGID, k.Victim.PID)), 10) + ")"
}

// seen keeps the first and last wall-clock time shown, for the summary.
func (w *Writer) seen(ev *event.Event) {
	if ev.Time.IsZero() {
		return
	}
	t := w.when(ev)
	if w.first == "" {
		w.first = t
	}
	w.last = t
}

// when is the event's time: the wall clock where known, else the time
// since boot, else a dash.
func (w *Writer) when(ev *event.Event) string {
	switch {
	case !ev.Time.IsZero():
		return ev.Time.In(w.local).Format("2006-01-02 15:04:05")
	case !ev.Missing.Lacks(event.MissingKtime):
		return fmt.Sprintf("boot+%.3fs", float64(ev.KtimeNS)/1e9)
	case ev.Kind == event.KindOOMKill && ev.OOMKill.LogTime != "":
		return safe(ev.OOMKill.LogTime) + " (as logged)"
	}
	return "(time unknown)"
}

// Summary writes the summary at the end: kills by class, evictions, exits
// by cause, what was lost; and, for a log read, how many warnings it gave.
func (w *Writer) Summary(source string, warnings int) error {
	var b strings.Builder
	if w.kills == 0 && w.evictions == 0 {
		fmt.Fprintf(&b, "\nno OOM kill and no eviction in %s\n", source)
	} else {
		fmt.Fprintf(&b, "\n%s in %s", plural(w.kills, "OOM kill", "OOM kills"), source)
		if w.kills > 0 {
			var classes []string
			for c, n := range w.byClass {
				classes = append(classes, fmt.Sprintf("%s %d", c, n))
			}
			sort.Strings(classes)
			fmt.Fprintf(&b, " (%s)", strings.Join(classes, ", "))
		}
		if w.evictions > 0 {
			fmt.Fprintf(&b, ", %s", plural(w.evictions, "eviction", "evictions"))
		}
		if w.first != "" && w.first != w.last {
			fmt.Fprintf(&b, ", from %s to %s", w.first, w.last)
		}
		b.WriteString("\n")
	}
	if n := w.exits[event.CauseSignal] + w.exits[event.CauseFault] + w.exits[event.CauseUnknown]; n > 0 {
		fmt.Fprintf(&b, "%s ended by a signal other than the OOM killer's\n", plural(n, "process", "processes"))
	}
	if w.lost > 0 {
		fmt.Fprintf(&b, "%d events lost: the kernel could not hand them over\n", w.lost)
	}
	if w.skipped > 0 {
		fmt.Fprintf(&b, "%s of oomtrace's programs skipped by the kernel (%s): %s may be missing\n",
			plural(int(w.skipped), "run", "runs"), safe(w.skippedBy), event.MayMiss(w.skippedBy, w.skipped))
	}
	if warnings > 0 {
		fmt.Fprintf(&b, "%s on the log: lines that could not be read, reports cut short (on stderr)\n", plural(warnings, "warning", "warnings"))
	}
	_, err := io.WriteString(w.w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// lookups are the commands that name the pods and containers a kill's
// cgroups have IDs of only: the log came from another node, or they are
// gone from this one.
func lookups(k *event.OOMKill) []string {
	var hints []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			hints = append(hints, s)
		}
	}
	for _, c := range []*event.Cgroup{&k.Victim.Cgroup, &k.OOMCgroup} {
		o := c.Owner
		switch {
		case o.PodUID != "" && o.PodName == "":
			add("pod UID " + o.PodUID + ": kubectl get pods -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid | grep " + o.PodUID)
		case o.ID != "" && o.Name == "" && o.Runtime == event.RuntimeDocker:
			add("docker ps -a --no-trunc --filter id=" + o.ID)
		case o.ID != "" && o.Name == "" && o.Runtime == event.RuntimePodman:
			add("podman ps -a --filter id=" + o.ID)
		}
		if o.PodUID != "" && o.ID != "" && o.Name == "" {
			add("container " + o.ID[:min(len(o.ID), filter.MinIDPrefix)] + ": crictl ps -a --id " + o.ID)
		}
	}
	return hints
}

// where names a cgroup for a reclaim line.
func where(c *event.Cgroup) string {
	if !c.Valid() {
		return "the node"
	}
	return quotePath(c.Path)
}

func quotePath(p string) string { return strconv.Quote(p) }

// round shows a duration to three significant digits.
func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Microsecond).String()
	}
	return d.String()
}

// safe makes a sentence of the pipeline's fit for a terminal. It may hold
// names read from a log, which may hold anything: what a terminal would act
// on rather than show (control characters, C1 ones included; format
// characters such as a bidirectional override; line and paragraph
// separators) is escaped, \x1b, \u202e, and so is a byte that is not
// UTF-8, \xff. Letters and symbols beyond ASCII are shown as they are.
func safe(s string) string {
	for i, r := range s {
		if !shown(r, s[i:]) {
			return escapeUnshown(s)
		}
	}
	return s
}

// shown says whether r, the rune at the start of rest, is written as
// itself.
func shown(r rune, rest string) bool {
	if r == utf8.RuneError {
		_, size := utf8.DecodeRuneInString(rest)
		return size > 1 // U+FFFD itself, not a byte that is not UTF-8
	}
	return unicode.IsPrint(r)
}

func escapeUnshown(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case shown(r, s[i:]):
			b.WriteRune(r)
		case r == utf8.RuneError || r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}
