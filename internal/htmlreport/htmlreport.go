// Package htmlreport draws a report as one self-contained HTML file: per
// capture a timeline, one lane per cgroup (memory usage against its limit
// and memory.high, reclaim stall as a band, OOM kills as markers whose
// verdict shows on hover) and one for the node (memory in use against
// MemTotal, direct reclaim, kswapd wakes, PSI, kills other than memcg
// OOMs); below it the kills and the reclaim latency histograms.
//
// The file is inline SVG and CSS: no script, nothing fetched, readable
// offline, in print and in dark mode. Every string from a capture (process
// names, cgroup paths, verdicts) is attacker-controlled: the report holds
// them escaped to printable ASCII already, and html/template escapes them
// again for where they land. The document is well-formed XML as well as
// HTML, which the tests rely on to read it back.
//
// The numbers come from package report's aggregation; this package only
// lays them out.
package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/report"
)

// OpenLanes is how many cgroup lanes a timeline shows; the less busy ones
// are folded below them.
const OpenLanes = 12

// Options says what Write puts around the report.
type Options struct {
	// Title names what the report is of, e.g. its files.
	Title string
	// Generator names the program and its version, for the footer.
	Generator string
}

//go:embed report.html.tmpl
var pageTemplate string

//go:embed report.css
var pageCSS string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(pageCSS) },
	// The geometry every SVG shares.
	"svgWidth":   func() string { return num(svgWidth) },
	"plotLeft":   func() string { return num(plotX) },
	"plotRight":  func() string { return num(plotX + plotW) },
	"plotMiddle": func() string { return num(plotX + plotW/2) },
	"labelX":     func() string { return num(plotX - 6) },
}).Parse(pageTemplate))

// Write writes rep as an HTML document. rep should be read with
// report.Options.Timeline, or it has no timelines to draw.
func Write(w io.Writer, rep *report.Report, opts Options) error {
	if err := page.Execute(w, newView(rep, opts)); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

// view is what the template shows.
type view struct {
	Title, Generator string
	Summary          string
	Captures         []captureRow
	Timelines        []timelineView
	Legend           legend
	Kills            []killRow
	KillsUnlisted    uint64
	ReclaimRows      []reclaimRow
	ReclaimPartial   bool
	Histograms       []histogramView
	LostTotal        uint64
}

type captureRow struct {
	File, Format, Host, Kernel, Mode, Start, Duration, Stopped string
	Events, Lost                                               uint64
}

func newView(rep *report.Report, opts Options) *view {
	v := &view{Title: opts.Title, Generator: opts.Generator, LostTotal: rep.Lost.Total, KillsUnlisted: rep.Kills.Unlisted, Legend: newLegend()}
	v.Summary = summary(rep)
	for _, c := range rep.Captures {
		row := captureRow{File: c.File, Format: c.Format, Host: orDash(c.Host), Kernel: orDash(c.Kernel), Mode: orDash(c.Mode),
			Start: "-", Duration: report.FormatDuration(c.Duration), Stopped: "-", Events: c.Events, Lost: c.Lost}
		if c.Start != nil {
			row.Start = c.Start.Format("2006-01-02 15:04:05 UTC")
		}
		if c.StoppedCleanly != nil {
			row.Stopped = map[bool]string{true: "cleanly", false: "cut short"}[*c.StoppedCleanly]
		}
		v.Captures = append(v.Captures, row)
	}
	for i := range rep.Timelines {
		v.Timelines = append(v.Timelines, newTimelineView(rep, &rep.Timelines[i], i))
	}
	for _, k := range rep.Kills.List {
		v.Kills = append(v.Kills, newKillRow(rep, k))
	}
	v.ReclaimRows, v.ReclaimPartial, v.Histograms = reclaimViews(&rep.Reclaim)
	return v
}

// summary is the report's one line: kills by class, the reclaim stall,
// what was lost.
func summary(rep *report.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d OOM kill%s", rep.Kills.Total, plural(rep.Kills.Total))
	if rep.Kills.Total > 0 {
		var classes []string
		for _, class := range []string{"memcg", "global", "cpuset", "mempolicy", "sysrq", "unknown"} {
			if n := rep.Kills.ByClass[class]; n > 0 {
				classes = append(classes, fmt.Sprintf("%s %d", class, n))
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(classes, ", "))
	}
	if all := rep.Reclaim.All; all.Count > 0 {
		fmt.Fprintf(&b, " · reclaim: %d episodes, %s stalled, p99 %s", all.Count, report.FormatDuration(all.Total), report.FormatDuration(all.P99))
	}
	fmt.Fprintf(&b, " · %d events lost", rep.Lost.Total)
	if n := rep.Lost.SkippedRuns; n > 0 {
		fmt.Fprintf(&b, " · %d run%s of oomtrace's programs skipped by the kernel: %s may be missing", n, plural(n), rep.SkippedMayMiss())
	}
	return b.String()
}

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// killRow is one line of the kill table.
type killRow struct {
	Time, Class, Victim, Owner, OOMCgroup, RSS, Adj, Stall, Why string
}

func newKillRow(rep *report.Report, k report.Kill) killRow {
	row := killRow{
		Time:  k.When(),
		Class: k.Class, Victim: fmt.Sprintf("%d %s", k.Victim.Process(), k.Victim.Comm),
		Owner: ownerText(k.Owner, k.Victim.Cgroup), OOMCgroup: orDash(k.OOMCgroup),
		RSS: "-", Adj: fmt.Sprint(k.OOMScoreAdj), Stall: "-", Why: orDash(k.Why),
	}
	if k.OOMLevel != "" {
		row.OOMCgroup += " (" + k.OOMLevel + " level)"
	}
	if k.OOMLimitBytes != nil {
		row.OOMCgroup += ", limit " + report.FormatSize(*k.OOMLimitBytes)
	}
	if k.RSSKB != nil {
		row.RSS = report.FormatSize(k.RSSKB.Sum() << 10)
	}
	if k.StallBefore.Count > 0 {
		row.Stall = fmt.Sprintf("%d episode%s, %s", k.StallBefore.Count, plural(k.StallBefore.Count), report.FormatDuration(k.StallBefore.Total))
	}
	if len(rep.Captures) > 1 {
		row.Time = rep.Captures[k.Capture].File + " " + row.Time
	}
	return row
}

// ownerText names who a cgroup belongs to, or the cgroup.
func ownerText(o report.Owner, cgroup string) string {
	var parts []string
	if o.Pod != "" {
		parts = append(parts, "pod "+o.Pod)
	}
	if o.Container != "" {
		parts = append(parts, "container "+o.Container)
	}
	if o.Unit != "" {
		parts = append(parts, o.Unit)
	}
	if len(parts) == 0 {
		return orDash(cgroup)
	}
	return strings.Join(parts, ", ")
}

// formatOffset writes a time from the start of a timeline for an axis:
// "0", "500ms", "1.5s".
func formatOffset(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return report.FormatDuration(d)
}
