package htmlreport

import (
	"fmt"
	"strings"

	"github.com/oomtrace/oomtrace/internal/report"
)

// maxHistograms bounds the per-cgroup histograms drawn; the report has
// them all in JSON.
const maxHistograms = 20

// reclaimRow is a line of the reclaim latency table.
type reclaimRow struct {
	Kind, Cgroup, Count, Total, P50, P90, P99, Max string
}

// histogramView is the kernel's log2 histogram of one kind of reclaim in
// one cgroup (or all of them), as bars.
type histogramView struct {
	Title  string
	Height string
	Plot   rect
	Bars   []bar
	Labels []tick
	Top    string // the highest count, labelled on the y axis
	// Where the labels go: the count's, the zero's, the bars'.
	TopY, ZeroY, LabelY string
}

type bar struct {
	X, Y, W, H string
	Title      string
}

const (
	histH     = 120.0
	histPlotY = 8.0
	histPlotH = 84.0
)

// reclaimViews are the rows of the reclaim table, and whether one covers
// only the episodes at least --reclaim-min long, and the histograms.
func reclaimViews(r *report.Reclaim) ([]reclaimRow, bool, []histogramView) {
	var rows []reclaimRow
	partial := false
	var hists []histogramView
	add := func(x report.Row, cgroup string) {
		count := fmt.Sprint(x.Count)
		if !x.AllEpisodes {
			count += "*"
			partial = true
		}
		rows = append(rows, reclaimRow{Kind: x.Kind, Cgroup: cgroup, Count: count, Total: report.FormatDuration(x.Total),
			P50: report.FormatDuration(x.P50), P90: report.FormatDuration(x.P90), P99: report.FormatDuration(x.P99), Max: report.FormatDuration(x.Max)})
		if x.HistUS != nil && len(hists) < maxHistograms {
			hists = append(hists, newHistogram(x.Kind+" reclaim, "+cgroup, x.HistUS))
		}
	}
	// One cgroup's histogram would repeat its kind's.
	perCgroup := len(r.ByCgroup) > 1
	for _, x := range r.ByKind {
		add(x, "all cgroups")
	}
	if len(r.ByKind) > 1 {
		add(r.All, "all cgroups")
	}
	if len(r.ByCgroup) > 1 || len(r.ByCgroup) == 1 && r.ByCgroup[0].Cgroup != "" {
		for _, x := range r.ByCgroup {
			if !perCgroup {
				x.HistUS = nil
			}
			add(x, ownerText(x.Owner, x.Cgroup))
		}
	}
	return rows, partial, hists
}

// newHistogram draws the buckets from the first to the last that counted
// anything.
func newHistogram(title string, h *report.KernelHistogram) histogramView {
	lo, hi := -1, 0
	var top uint64
	for i, n := range h {
		if n == 0 {
			continue
		}
		if lo < 0 {
			lo = i
		}
		hi = i
		top = max(top, n)
	}
	v := histogramView{Title: title, Height: num(histH), Plot: rect{num(plotX), num(histPlotY), num(plotW), num(histPlotH)}, Top: fmt.Sprint(top),
		TopY: num(histPlotY + 8), ZeroY: num(histPlotY + histPlotH), LabelY: num(histPlotY + histPlotH + 16)}
	if lo < 0 {
		return v
	}
	n := hi - lo + 1
	w := plotW / float64(n)
	var total uint64
	for _, c := range h {
		total += c
	}
	for i := lo; i <= hi; i++ {
		x := plotX + float64(i-lo)*w
		height := float64(h[i]) / float64(top) * histPlotH
		if h[i] > 0 {
			height = max(height, 1)
		}
		v.Bars = append(v.Bars, bar{
			X: num(x + 1), Y: num(histPlotY + histPlotH - height), W: num(max(w-2, 1)), H: num(height),
			Title: fmt.Sprintf("%s: %d episode%s (%.1f%%)", bucketLabel(i), h[i], plural(h[i]), 100*float64(h[i])/float64(total)),
		})
		v.Labels = append(v.Labels, tick{X: num(x + w/2), Label: bucketLabel(i)})
	}
	return v
}

// bucketLabel is the name under a histogram bar: "16-32µs".
func bucketLabel(i int) string {
	return strings.TrimSuffix(report.BucketName(i), "us") + "µs"
}

// legend is the key to the timeline's drawing, drawn with the same
// classes as the lanes.
type legend struct {
	Entries []legendEntry
}

type legendEntry struct {
	Class, Label string
	Shape        string // "line", "band", "marker", "tick"
}

func newLegend() legend {
	return legend{Entries: []legendEntry{
		{"usage", "memory usage (peak per bucket)", "line"},
		{"limit", "hard limit (memory.max, limit_in_bytes; the node: MemTotal)", "line"},
		{"high", "memory.high", "line"},
		{"stall", "reclaim stall per bucket, under each plot (scale: the lane's peak)", "band"},
		{"kill-marker", "OOM kill: hover for the verdict", "marker"},
		{"kswapd", "kswapd woken", "tick"},
		{"psi-some", "PSI some (avg10)", "line"},
		{"psi-full", "PSI full (avg10)", "line"},
	}}
}
