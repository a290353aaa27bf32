package htmlreport

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/report"
)

// The geometry of a lane, in SVG user units. Every lane's SVG is
// svgWidth wide and scaled to the page's width, so that the plots of all
// lanes line up under the time axis.
const (
	svgWidth  = 1000.0
	plotX     = 78.0 // left of the plots: room for the y labels
	plotW     = 902.0
	plotY     = 8.0
	plotH     = 72.0
	stallY    = plotY + plotH + 4 // the reclaim stall strip, under the memory plot
	stallH    = 18.0
	laneH     = stallY + stallH + 6
	psiY      = laneH + 4 // the node's PSI plot, under its stall strip
	psiH      = 40.0
	nodeH     = psiY + psiH + 6
	markerW   = 7.0 // half the width of a kill marker
	markerH   = 10.0
	kswapdH   = 6.0
	minBarW   = 4.0 // the narrowest stall bar
	axisTicks = 8   // about how many time ticks an axis has
)

// timelineView is one capture's timeline as drawn.
type timelineView struct {
	ID        string // for anchors: "t0"
	File      string
	Start     string // wall clock of the start, or the boot time
	Duration  string
	Bucket    string
	Axis      axisView
	Node      *laneView  // nil when nothing of the node was sampled or seen
	Open      []laneView // the busiest lanes
	Folded    []laneView // the others, in a <details>
	LeftOut   int
	NoCgroups bool // the capture names no cgroups (perf script)
}

// axisView is the time axis: ticks along the plots' width.
type axisView struct {
	Ticks []tick
}

type tick struct {
	X     string
	Label string
}

// laneView is one lane as drawn.
type laneView struct {
	ID     string // "t0-l3", "t0-node"
	Name   string // pod and container, unit, cgroup path; "node"
	Path   string // the cgroup path when Name is something else
	Stats  string // one line of numbers
	Node   bool
	Height string
	Ticks  []tick
	// Plot is the memory plot's rectangle; the kill markers are inside it.
	Plot rect
	Grid []gridLine
	// StallPlot is the strip under it, Stall the SVG path of the bars in
	// it, StallPeak the label of its scale.
	StallPlot rect
	Stall     string
	StallPeak string
	// Usage, Limit and High are SVG polyline points.
	Usage, Limit, High string
	Markers            []marker
	// The node's: kswapd wakes as ticks, PSI in a plot of its own.
	Kswapd           string
	PSIPlot          rect
	PSIGrid          []gridLine
	PSISome, PSIFull string
	Empty            bool // no usage was ever read: a note instead of lines
}

type rect struct{ X, Y, W, H string }

// gridLine is a horizontal line of a plot with its label.
type gridLine struct {
	Y, LabelY, Label string
}

// marker is one OOM kill: a triangle at the top of the plot and a line
// down through it, with the verdict as its title.
type marker struct {
	X, Y1, Y2 string
	Path      string
	Title     string
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func newTimelineView(rep *report.Report, tl *report.Timeline, index int) timelineView {
	v := timelineView{
		ID:       fmt.Sprintf("t%d", index),
		File:     rep.Captures[tl.Capture].File,
		Start:    report.FormatTime(tl.Start, tl.StartKtimeNS),
		Duration: report.FormatDuration(tl.Duration()),
		Bucket:   report.FormatDuration(tl.BucketWidth),
		LeftOut:  tl.LanesLeftOut,
	}
	if tl.Start != nil {
		v.Start = tl.Start.Format("2006-01-02 15:04:05.000 UTC")
	}
	v.Axis.Ticks = timeTicks(tl)
	v.NoCgroups = len(tl.Lanes) == 0
	if len(tl.Node.Points) > 0 || len(tl.Node.Marks) > 0 {
		node := newLaneView(tl, &tl.Node, v.ID+"-node", v.Axis.Ticks)
		v.Node = &node
	}
	for i := range tl.Lanes {
		lane := newLaneView(tl, &tl.Lanes[i], fmt.Sprintf("%s-l%d", v.ID, i), v.Axis.Ticks)
		if i < OpenLanes {
			v.Open = append(v.Open, lane)
		} else {
			v.Folded = append(v.Folded, lane)
		}
	}
	return v
}

// timeTicks puts a tick at every multiple of a round step (1, 2 or 5 times
// a power of ten) that gives about axisTicks ticks.
func timeTicks(tl *report.Timeline) []tick {
	d := tl.Duration()
	if d <= 0 {
		return nil
	}
	raw := d / axisTicks
	step := time.Duration(1)
	for found := false; !found; {
		for _, f := range []time.Duration{1, 2, 5} {
			if f*step >= raw {
				step, found = f*step, true
				break
			}
		}
		if !found {
			step *= 10
		}
	}
	var ticks []tick
	for at := time.Duration(0); at <= d; at += step {
		ticks = append(ticks, tick{X: num(xOf(at, d)), Label: formatOffset(at)})
	}
	return ticks
}

// xOf is where time at (from the start) lies on a plot spanning d.
func xOf(at, d time.Duration) float64 {
	f := float64(at) / float64(d)
	return plotX + min(max(f, 0), 1)*plotW
}

// centerX is the middle of bucket i.
func centerX(tl *report.Timeline, i int) float64 {
	return xOf(tl.BucketStart(i)+tl.BucketWidth/2, tl.Duration())
}

func newLaneView(tl *report.Timeline, l *report.Lane, id string, ticks []tick) laneView {
	v := laneView{ID: id, Name: l.Name(), Node: l.Cgroup == "", Ticks: ticks,
		Plot:      rect{num(plotX), num(plotY), num(plotW), num(plotH)},
		StallPlot: rect{num(plotX), num(stallY), num(plotW), num(stallH)}}
	if v.Name != l.Cgroup && !v.Node {
		v.Path = l.Cgroup
	}
	v.Height = num(laneH)
	if v.Node {
		v.Height = num(nodeH)
		v.Name = "node"
	}

	// The y scale: up to the limit (MemTotal for the node), memory.high or
	// the peak, whichever is highest, with room above.
	top := float64(l.PeakUsageBytes)
	if l.LimitBytes != nil {
		top = max(top, float64(*l.LimitBytes))
	}
	for _, p := range l.Points {
		if p.HighBytes != nil {
			top = max(top, float64(*p.HighBytes))
		}
	}
	v.Empty = top == 0
	top *= 1.08
	yOf := func(b uint64) float64 { return plotY + plotH - float64(b)/top*plotH }

	var usage, limit, high []string
	var maxStall time.Duration
	for _, p := range l.Points {
		maxStall = max(maxStall, p.Stall)
	}
	var stall strings.Builder
	bucketW := plotW / float64(max(tl.Buckets, 1))
	for _, p := range l.Points {
		x := num(centerX(tl, p.Bucket))
		if !v.Empty {
			if p.UsageBytes != nil {
				usage = append(usage, x+","+num(yOf(*p.UsageBytes)))
			}
			if p.LimitBytes != nil {
				limit = append(limit, x+","+num(yOf(*p.LimitBytes)))
			}
			if p.HighBytes != nil {
				high = append(high, x+","+num(yOf(*p.HighBytes)))
			}
		}
		if p.Stall > 0 {
			// A bar at least minBarW wide, centred on its bucket, so
			// that a short stall in a long capture still shows.
			h := max(float64(p.Stall)/float64(maxStall)*stallH, 1)
			w := max(bucketW, minBarW)
			x0 := min(max(centerX(tl, p.Bucket)-w/2, plotX), plotX+plotW-w)
			fmt.Fprintf(&stall, "M%s %sh%sv%sh%sz", num(x0), num(stallY+stallH), num(w), num(-h), num(-w))
		}
	}
	v.Usage, v.Limit, v.High, v.Stall = strings.Join(usage, " "), strings.Join(limit, " "), strings.Join(high, " "), stall.String()
	if maxStall > 0 {
		v.StallPeak = report.FormatDuration(maxStall)
	}
	if !v.Empty {
		v.Grid = []gridLine{{Y: num(yOf(0)), LabelY: num(yOf(0)), Label: "0"}}
		if l.LimitBytes != nil {
			v.Grid = append(v.Grid, gridLine{Y: num(yOf(*l.LimitBytes)), LabelY: num(yOf(*l.LimitBytes) + 4), Label: report.FormatSize(*l.LimitBytes)})
		} else {
			v.Grid = append(v.Grid, gridLine{Y: num(yOf(l.PeakUsageBytes)), LabelY: num(yOf(l.PeakUsageBytes) + 4), Label: report.FormatSize(l.PeakUsageBytes)})
		}
	}
	for _, m := range l.Marks {
		x := xOf(time.Duration(m.KtimeNS-min(m.KtimeNS, tl.StartKtimeNS)), tl.Duration())
		x = min(max(x, plotX+markerW), plotX+plotW-markerW)
		v.Markers = append(v.Markers, marker{
			X: num(x), Y1: num(plotY + markerH), Y2: num(plotY + plotH),
			Path:  fmt.Sprintf("M%s %sl%s %sh%sz", num(x), num(plotY+markerH), num(-markerW), num(-markerH), num(2*markerW)),
			Title: markTitle(m),
		})
	}
	v.Stats = laneStats(l)
	if v.Node {
		nodeExtras(&v, tl, l)
	}
	return v
}

// markTitle is what hovering a kill marker says.
func markTitle(m report.KillMark) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s OOM kill of %d %s", report.FormatTime(m.Time, m.KtimeNS), m.Class, m.Victim.Process(), m.Victim.Comm)
	if m.Victim.Cgroup != "" {
		fmt.Fprintf(&b, " in %s", m.Victim.Cgroup)
	}
	if m.Why != "" {
		fmt.Fprintf(&b, "\n%s", m.Why)
	}
	return b.String()
}

// laneStats is a lane's numbers in one line.
func laneStats(l *report.Lane) string {
	var parts []string
	switch {
	case l.Cgroup == "" && l.LimitBytes != nil:
		parts = append(parts, fmt.Sprintf("in use at most %s of %s", report.FormatSize(l.PeakUsageBytes), report.FormatSize(*l.LimitBytes)))
		if l.MinAvailableBytes != nil {
			parts = append(parts, "available at least "+report.FormatSize(*l.MinAvailableBytes))
		}
	case l.LimitBytes != nil:
		parts = append(parts, fmt.Sprintf("peak %s of limit %s (%.0f%%)", report.FormatSize(l.PeakUsageBytes), report.FormatSize(*l.LimitBytes),
			100*float64(l.PeakUsageBytes)/float64(max(*l.LimitBytes, 1))))
	case l.PeakUsageBytes > 0:
		parts = append(parts, "peak "+report.FormatSize(l.PeakUsageBytes)+", no limit")
	}
	if l.Stall > 0 {
		parts = append(parts, "reclaim stall "+report.FormatDuration(l.Stall))
	}
	var psi float64
	hasPSI := false
	for _, p := range l.Points {
		if p.PSISome != nil {
			psi, hasPSI = max(psi, *p.PSISome), true
		}
	}
	if hasPSI {
		parts = append(parts, fmt.Sprintf("PSI some up to %.3g%%", psi))
	}
	if l.KswapdWakes > 0 {
		parts = append(parts, fmt.Sprintf("%d kswapd wake%s", l.KswapdWakes, plural(l.KswapdWakes)))
	}
	parts = append(parts, fmt.Sprintf("%d OOM kill%s", l.Kills, plural(l.Kills)))
	return strings.Join(parts, " · ")
}

// nodeExtras draws what only the node has: kswapd wakes along the bottom
// of the memory plot, and PSI in a plot of its own, up to 10% or the
// highest value.
func nodeExtras(v *laneView, tl *report.Timeline, l *report.Lane) {
	var kswapd strings.Builder
	top := 10.0
	for _, p := range l.Points {
		if p.KswapdWakes > 0 {
			fmt.Fprintf(&kswapd, "M%s %sv%s", num(centerX(tl, p.Bucket)), num(plotY+plotH), num(-kswapdH))
		}
		if p.PSISome != nil {
			top = max(top, *p.PSISome, *p.PSIFull)
		}
	}
	v.Kswapd = kswapd.String()
	v.PSIPlot = rect{num(plotX), num(psiY), num(plotW), num(psiH)}
	yOf := func(pct float64) float64 { return psiY + psiH - pct/top*psiH }
	v.PSIGrid = []gridLine{
		{Y: num(yOf(0)), LabelY: num(yOf(0)), Label: "0%"},
		{Y: num(yOf(top)), LabelY: num(yOf(top) + 9), Label: fmt.Sprintf("%.3g%%", top)},
	}
	var some, full []string
	for _, p := range l.Points {
		if p.PSISome == nil {
			continue
		}
		x := num(centerX(tl, p.Bucket))
		some = append(some, x+","+num(yOf(*p.PSISome)))
		full = append(full, x+","+num(yOf(*p.PSIFull)))
	}
	v.PSISome, v.PSIFull = strings.Join(some, " "), strings.Join(full, " ")
}
