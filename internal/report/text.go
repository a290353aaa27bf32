package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// TextOptions says how much WriteText writes.
type TextOptions struct {
	// Short is the summary oomtrace record prints at exit: no per-cgroup
	// tables, at most ten kills.
	Short bool
}

// Rows listed in text before the rest is left to the JSON report.
const (
	textCgroupRows = 20
	shortKills     = 10
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteText writes the report as tables for people.
func WriteText(w io.Writer, rep *Report, opts TextOptions) error {
	bw := bufio.NewWriter(w)
	t := &textWriter{w: bw, rep: rep}
	t.captures()
	t.kills(opts)
	t.deaths(opts)
	t.reclaim(opts)
	if !opts.Short {
		t.timelines()
	}
	t.lost()
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

type textWriter struct {
	w   io.Writer
	rep *Report
}

func (t *textWriter) table(header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\n", strings.Join(header, "\t"))
	return tw
}

func addRow(tw *tabwriter.Writer, cells ...string) {
	fmt.Fprintf(tw, "  %s\n", strings.Join(cells, "\t"))
}

func (t *textWriter) captures() {
	fmt.Fprintln(t.w, "captures")
	tw := t.table("FILE", "FORMAT", "HOST", "KERNEL", "MODE", "START", "DURATION", "EVENTS", "LOST", "STOPPED")
	for _, c := range t.rep.Captures {
		start := "-"
		if c.Start != nil {
			start = c.Start.Format("2006-01-02 15:04:05 UTC")
		}
		stopped := "-"
		if c.StoppedCleanly != nil {
			stopped = map[bool]string{true: "cleanly", false: "cut short"}[*c.StoppedCleanly]
		}
		addRow(tw, escapeFile(c.File), c.Format, nameCell(c.Host), nameCell(c.Kernel), orDash(c.Mode), start,
			FormatDuration(c.Duration), fmt.Sprint(c.Events), fmt.Sprint(c.Lost), stopped)
	}
	tw.Flush()
	fmt.Fprintln(t.w)
}

// escapeFile keeps a file name from writing escape sequences to a
// terminal; file names are the user's own, so only control bytes matter.
func escapeFile(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, name)
}

// nameCell is a name from a capture (a comm, a cgroup, a pod, a host) as
// a table cell, "-" when empty. Its spaces are written \x20, as the text
// format writes a comm's: the columns are set apart by spaces, and a name
// that holds some would otherwise read as more columns than one.
func nameCell(s string) string {
	return orDash(strings.ReplaceAll(s, " ", `\x20`))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (t *textWriter) kills(opts TextOptions) {
	k := t.rep.Kills
	fmt.Fprintf(t.w, "kills: %d", k.Total)
	if k.Total > 0 {
		fmt.Fprintf(t.w, " (%s)", countsByName(k.ByClass))
	}
	fmt.Fprintln(t.w)
	if len(k.List) == 0 {
		fmt.Fprintln(t.w)
		return
	}
	header := []string{"TIME", "CLASS", "VICTIM", "OOM CGROUP", "VICTIM RSS", "OOM_SCORE_ADJ",
		fmt.Sprintf("RECLAIM IN %s BEFORE", FormatDuration(t.rep.Window))}
	several := len(t.rep.Captures) > 1
	if several {
		header = append([]string{"FILE"}, header...)
	}
	tw := t.table(header...)
	shown := k.List
	if opts.Short && len(shown) > shortKills {
		shown = shown[:shortKills]
	}
	for _, kill := range shown {
		rss := "-"
		if kill.RSSKB != nil {
			rss = formatBytes(kill.RSSKB.Sum() << 10)
		}
		stall := "-"
		if kill.StallBefore.Count > 0 {
			stall = fmt.Sprintf("%d, %s", kill.StallBefore.Count, FormatDuration(kill.StallBefore.Total))
		}
		cells := []string{kill.When(), kill.Class,
			fmt.Sprintf("%d %s", kill.Victim.Process(), nameCell(kill.Victim.Comm)), nameCell(kill.OOMCgroup),
			rss, fmt.Sprint(kill.OOMScoreAdj), stall}
		if several {
			cells = append([]string{escapeFile(t.rep.Captures[kill.Capture].File)}, cells...)
		}
		addRow(tw, cells...)
	}
	tw.Flush()
	if more := k.Total - uint64(len(shown)); more > 0 {
		fmt.Fprintf(t.w, "  ... and %d more\n", more)
	}
	fmt.Fprintln(t.w)
	t.killsByOwner(opts)
}

// killsByOwner is the kills by pod and container (or unit), when the
// captures attribute any; with the verdict of the first kill of each.
func (t *textWriter) killsByOwner(opts TextOptions) {
	owners := t.rep.Kills.ByOwner
	if len(owners) == 0 {
		return
	}
	fmt.Fprintln(t.w, "kills by pod and container")
	tw := t.table("POD", "CONTAINER", "UNIT", "KILLS", "OOM LEVEL", "WHY (FIRST KILL)")
	rows := owners
	if opts.Short && len(rows) > shortKills {
		rows = rows[:shortKills]
	}
	for _, o := range rows {
		level, why := "-", "-"
		for _, kill := range t.rep.Kills.List {
			if kill.Owner == o.Owner {
				level, why = orDash(kill.OOMLevel), orDash(kill.Why)
				break
			}
		}
		addRow(tw, nameCell(o.Pod), nameCell(o.Container), nameCell(o.Unit), fmt.Sprint(o.Count), level, why)
	}
	tw.Flush()
	if more := len(owners) - len(rows); more > 0 {
		fmt.Fprintf(t.w, "  ... and %d more\n", more)
	}
	fmt.Fprintln(t.w)
}

// When is FormatTime of the kill, or the time its log wrote without a
// year where the log gave no other.
func (k *Kill) When() string {
	if k.Time == nil && k.KtimeNS == 0 && k.LogTime != "" {
		return k.LogTime + " (as logged)"
	}
	return FormatTime(k.Time, k.KtimeNS)
}

// FormatTime is a wall-clock time when the log gives one, else the boot
// time the kernel stamped, else "-": a kernel log whose lines carry no
// time the tool can place (journalctl's default form has no year) leaves
// both out, and no task runs at boot+0.
func FormatTime(t *time.Time, ktime uint64) string {
	switch {
	case t != nil:
		return t.Format("2006-01-02 15:04:05.000")
	case ktime == 0:
		return "-"
	}
	return fmt.Sprintf("boot+%d.%06ds", ktime/1e9, ktime%1e9/1e3)
}

func (t *textWriter) reclaim(opts TextOptions) {
	r := t.rep.Reclaim
	if r.All.Count == 0 {
		fmt.Fprintf(t.w, "reclaim: none\n\n")
		return
	}
	partial := false
	cells := func(x Row, first ...string) []string {
		count := fmt.Sprint(x.Count)
		if !x.AllEpisodes {
			count += "*"
			partial = true
		}
		return append(first, count, FormatDuration(x.Total), FormatDuration(x.P50), FormatDuration(x.P90),
			FormatDuration(x.P99), FormatDuration(x.Max))
	}
	fmt.Fprintln(t.w, "reclaim by kind")
	tw := t.table("KIND", "COUNT", "TOTAL", "P50", "P90", "P99", "MAX")
	for _, x := range r.ByKind {
		addRow(tw, cells(x, x.Kind)...)
	}
	if len(r.ByKind) > 1 {
		addRow(tw, cells(r.All, "all")...)
	}
	tw.Flush()
	fmt.Fprintln(t.w)

	if !opts.Short && len(r.ByOwner) > 0 {
		fmt.Fprintln(t.w, "reclaim by kind, pod and container")
		tw = t.table("KIND", "POD", "CONTAINER", "UNIT", "COUNT", "TOTAL", "P50", "P90", "P99", "MAX")
		for _, x := range r.ByOwner[:min(len(r.ByOwner), textCgroupRows)] {
			addRow(tw, cells(x, x.Kind, nameCell(x.Owner.Pod), nameCell(x.Owner.Container), nameCell(x.Owner.Unit))...)
		}
		tw.Flush()
		if more := len(r.ByOwner) - textCgroupRows; more > 0 {
			fmt.Fprintf(t.w, "  ... and %d more (all in --output json)\n", more)
		}
		fmt.Fprintln(t.w)
	}
	if !opts.Short {
		fmt.Fprintln(t.w, "reclaim by kind and cgroup")
		tw = t.table("KIND", "CGROUP", "COUNT", "TOTAL", "P50", "P90", "P99", "MAX")
		for _, x := range r.ByCgroup[:min(len(r.ByCgroup), textCgroupRows)] {
			addRow(tw, cells(x, x.Kind, nameCell(x.Cgroup))...)
		}
		tw.Flush()
		if more := len(r.ByCgroup) - textCgroupRows; more > 0 {
			fmt.Fprintf(t.w, "  ... and %d more (all in --output json)\n", more)
		}
		fmt.Fprintln(t.w)
		t.kernelHistograms()
	}
	if partial {
		fmt.Fprintf(t.w, "* no reclaim_stats in some capture: counts and percentiles there cover only the episodes at least --reclaim-min long\n\n")
	}
}

// kernelHistograms lists the kernel's own log2 histograms, per kind and
// cgroup.
func (t *textWriter) kernelHistograms() {
	var rows []Row
	for _, x := range t.rep.Reclaim.ByCgroup[:min(len(t.rep.Reclaim.ByCgroup), textCgroupRows)] {
		if x.HistUS != nil {
			rows = append(rows, x)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(t.w, "reclaim_stats histograms (episodes per duration, from the kernel)")
	tw := t.table("KIND", "CGROUP", "HISTOGRAM")
	for _, x := range rows {
		var buckets []string
		for i, n := range x.HistUS {
			if n > 0 {
				buckets = append(buckets, fmt.Sprintf("%s:%d", BucketName(i), n))
			}
		}
		addRow(tw, x.Kind, nameCell(x.Cgroup), strings.Join(buckets, " "))
	}
	tw.Flush()
	fmt.Fprintln(t.w)
}

// BucketName names the kernel's log2 bucket i: [2^i, 2^(i+1)) µs, bucket 0
// from 0.
func BucketName(i int) string {
	switch i {
	case 0:
		return "<2us"
	case event.ReclaimBuckets - 1:
		return fmt.Sprintf(">=%dus", uint64(1)<<i)
	}
	return fmt.Sprintf("%d-%dus", uint64(1)<<i, uint64(2)<<i)
}

func (t *textWriter) lost() {
	l := t.rep.Lost
	fmt.Fprintf(t.w, "lost: %d\n", l.Total)
	for _, e := range l.List {
		fmt.Fprintf(t.w, "  %s  %d lost\n", FormatTime(e.Time, e.KtimeNS), e.Count)
	}
	if l.Unlisted > 0 {
		fmt.Fprintf(t.w, "  ... and %d more lost events\n", l.Unlisted)
	}
	if l.SkippedRuns == 0 {
		return
	}
	fmt.Fprintf(t.w, "skipped runs: %d (the kernel did not run oomtrace's programs then: %s may be missing)\n",
		l.SkippedRuns, t.rep.SkippedMayMiss())
	for _, c := range t.rep.Captures {
		if c.SkippedRuns > 0 {
			fmt.Fprintf(t.w, "  %s  %d skipped  %s\n", escapeFile(c.File), c.SkippedRuns, orDash(c.SkippedByProgram))
		}
	}
}

// FormatDuration writes d with three significant digits, or fewer for
// round values: "139us", "2.74ms", "10s".
func FormatDuration(d time.Duration) string {
	units := []struct {
		name string
		size time.Duration
	}{{"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	for _, u := range units {
		if d >= u.size {
			return trimFloat(float64(d)/float64(u.size)) + u.name
		}
	}
	return fmt.Sprintf("%dns", d)
}

func formatBytes(b uint64) string {
	return trimFloat(float64(b)/(1<<20)) + "MiB"
}

// FormatSize writes b with three significant digits in the largest binary
// unit it reaches: "512B", "32MiB", "23.5GiB".
func FormatSize(b uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(b)
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return trimFloat(v) + units[u]
}

// trimFloat writes v with three significant digits (all of them from 100
// up), without trailing zeros.
func trimFloat(v float64) string {
	var s string
	switch {
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
