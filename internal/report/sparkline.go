package report

import (
	"fmt"
	"strings"
	"time"
)

// Sparklines in the text report: one row per lane, usage and reclaim stall
// each squeezed into sparkColumns characters.
const (
	sparkColumns = 32
	textLanes    = 10
)

// sparkLevels are the glyphs of a sparkline, lowest first.
var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// Name is how a lane is named for people: its pod and container, or unit,
// where the cgroup is attributed, else its path; "node" for the node.
func (l *Lane) Name() string {
	o := l.Owner
	switch {
	case l.Cgroup == "":
		return "node"
	case o.Pod != "" && o.Container != "":
		return "pod " + o.Pod + " container " + o.Container
	case o.Pod != "":
		return "pod " + o.Pod
	case o.Container != "":
		return "container " + o.Container
	case o.Unit != "":
		return o.Unit
	}
	return l.Cgroup
}

// HasData reports whether the lane has anything to draw: usage read, or
// reclaim stall.
func (l *Lane) HasData() bool {
	for _, p := range l.Points {
		if p.UsageBytes != nil || p.Stall > 0 {
			return true
		}
	}
	return false
}

// spark is a sparkline of columns values; has says which have a value at
// all. A value is drawn relative to top; a column without one is a space.
func spark(values []float64, has []bool, top float64) string {
	var b strings.Builder
	for i, v := range values {
		if !has[i] {
			b.WriteByte(' ')
			continue
		}
		level := 0
		if top > 0 {
			level = min(int(v/top*float64(len(sparkLevels))), len(sparkLevels)-1)
		}
		b.WriteRune(sparkLevels[max(level, 0)])
	}
	return b.String()
}

// columns sums a lane up in n columns of equal width: the highest usage,
// and the stall, of the buckets each covers.
func columns(tl *Timeline, l *Lane, n int) (usage []float64, hasUsage []bool, stall []float64, hasStall []bool) {
	usage, hasUsage = make([]float64, n), make([]bool, n)
	stall, hasStall = make([]float64, n), make([]bool, n)
	for _, p := range l.Points {
		c := min(p.Bucket*n/max(tl.Buckets, 1), n-1)
		if p.UsageBytes != nil {
			usage[c] = max(usage[c], float64(*p.UsageBytes))
			hasUsage[c] = true
		}
		if p.Stall > 0 {
			stall[c] += float64(p.Stall)
			hasStall[c] = true
		}
	}
	return usage, hasUsage, stall, hasStall
}

// timelines writes a sparkline of usage and of reclaim stall per lane, the
// busiest first, for each capture with samples or reclaim.
func (t *textWriter) timelines() {
	for i := range t.rep.Timelines {
		tl := &t.rep.Timelines[i]
		if tl.Samples == 0 && tl.Reclaims == 0 {
			continue
		}
		lanes := []*Lane{&tl.Node}
		for j := range tl.Lanes {
			lanes = append(lanes, &tl.Lanes[j])
		}
		var shown []*Lane
		for _, l := range lanes {
			if l.HasData() {
				shown = append(shown, l)
			}
		}
		if len(shown) == 0 {
			continue
		}
		n := min(sparkColumns, tl.Buckets)
		fmt.Fprintf(t.w, "over time: %s, %s in %d columns of %s (usage: the peak of each column, against the limit; reclaim: stall per column)\n",
			escapeFile(t.rep.Captures[tl.Capture].File), FormatDuration(tl.Duration()), n,
			FormatDuration(tl.Duration()/time.Duration(n)))
		tw := t.table("CGROUP", "USAGE", "PEAK/LIMIT", "RECLAIM STALL", "TOTAL", "KILLS")
		rows := shown[:min(len(shown), textLanes+1)] // the node, then the busiest cgroups
		for _, l := range rows {
			usage, hasUsage, stall, hasStall := columns(tl, l, n)
			top := float64(l.PeakUsageBytes)
			peak := "-"
			if l.PeakUsageBytes > 0 || l.LimitBytes != nil {
				peak = FormatSize(l.PeakUsageBytes) + "/"
				if l.LimitBytes != nil {
					top = max(top, float64(*l.LimitBytes))
					peak += FormatSize(*l.LimitBytes)
				} else {
					peak += "max"
				}
			}
			var topStall float64
			for _, s := range stall {
				topStall = max(topStall, s)
			}
			name := l.Name()
			if l.Cgroup == "" {
				name = "node (in use of MemTotal; direct reclaim)"
			}
			total := "-"
			if l.Stall > 0 {
				total = FormatDuration(l.Stall)
			}
			addRow(tw, name, spark(usage, hasUsage, top), peak, spark(stall, hasStall, topStall), total, fmt.Sprint(l.Kills))
		}
		tw.Flush()
		if more := len(shown) - len(rows); more > 0 {
			fmt.Fprintf(t.w, "  ... and %d more (all in --output json, or drawn by --html)\n", more)
		}
		fmt.Fprintln(t.w)
	}
}
