package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The formatting of figures in BENCHMARKS.md. A missing figure (NaN) is
// written as a dash.

const missing = "–"

func fmtNS(ns float64) string {
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0):
		return missing
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e4:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns < 1e6:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	case ns < 1e7:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns < 1e9:
		return fmt.Sprintf("%.0f ms", ns/1e6)
	}
	return fmt.Sprintf("%.2f s", ns/1e9)
}

// fmtSignedNS writes a difference of nanoseconds with its sign: "+42 ns",
// "−3 ns" (a step measured cheaper than the one before it, within noise).
func fmtSignedNS(ns float64) string {
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0):
		return missing
	case ns < 0:
		return "−" + fmtNS(-ns)
	}
	return "+" + fmtNS(ns)
}

func fmtDur(d time.Duration) string { return fmtNS(float64(d)) }

func fmtRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return missing
	}
	return fmt.Sprintf("%.2f×", r)
}

func fmtPct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return missing
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// fmtRate writes a count per second.
func fmtRate(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return missing
	case v >= 1e6:
		return fmt.Sprintf("%.2f M/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k/s", v/1e3)
	}
	return fmt.Sprintf("%.0f /s", v)
}

func fmtMiB(bytes float64) string {
	if math.IsNaN(bytes) || bytes <= 0 {
		return missing
	}
	return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
}

// fmtCount writes n with thousands separated by commas.
func fmtCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// p50p99 writes the median and the 99th percentile of s, nanoseconds.
func p50p99(s sample) string {
	return "p50 " + fmtNS(s.median()) + ", p99 " + fmtNS(s.percentile(99))
}

// fmtRange writes "min – max" of s with f.
func fmtRange(s sample, f func(float64) string) string {
	if len(s.sorted()) == 0 {
		return missing
	}
	return f(s.min()) + " – " + f(s.max())
}

// markdownTable is a GitHub-flavoured Markdown table.
type markdownTable struct {
	header []string
	rows   [][]string
}

func (t *markdownTable) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *markdownTable) String() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" ")
			b.WriteString(strings.ReplaceAll(c, "|", `\|`))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(t.header)
	sep := make([]string, len(t.header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}
