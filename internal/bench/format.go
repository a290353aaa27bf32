package bench

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"time"
)

// The formatting of figures in BENCHMARKS.md. A missing figure (NaN) is
// written as a dash.

const missing = "–"

// unit is how a figure is written: in multiples of per, with decimals
// after the point, followed by suffix.
type unit struct {
	per      float64
	decimals int
	suffix   string
}

// format writes v in u.
func (u unit) format(v float64) string { return u.write(v, u.decimals) }

// write writes v in u with decimals after the point.
func (u unit) write(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return missing
	}
	return strconv.FormatFloat(v/u.per, 'f', decimals, 64) + u.suffix
}

// maxExtraDecimals bounds the decimals against adds: a figure closer to
// its limit than that is written as if on it.
const maxExtraDecimals = 6

// against writes v in u, as a figure held against limit: with as many more
// decimals as it takes for the written figure to lie on the same side of
// limit as v, so that a figure just over a limit is never written as the
// limit itself ("1.00 µs" for 1,003 ns, judged against 1 µs, is written
// "1.003 µs").
func (u unit) against(v, limit float64) string {
	x, l := v/u.per, limit/u.per
	side := cmp.Compare(x, l)
	decimals := u.decimals
	for ; decimals < u.decimals+maxExtraDecimals; decimals++ {
		written, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', decimals, 64), 64)
		if err == nil && cmp.Compare(written, l) == side {
			break
		}
	}
	return u.write(v, decimals)
}

// nsUnit is the unit a number of nanoseconds is written in: three
// significant digits at most, in the largest unit it has one of.
func nsUnit(ns float64) unit {
	switch {
	case ns < 1e3:
		return unit{1, 0, " ns"}
	case ns < 1e4:
		return unit{1e3, 2, " µs"}
	case ns < 1e6:
		return unit{1e3, 0, " µs"}
	case ns < 1e7:
		return unit{1e6, 2, " ms"}
	case ns < 1e9:
		return unit{1e6, 0, " ms"}
	}
	return unit{1e9, 2, " s"}
}

func fmtNS(ns float64) string { return nsUnit(ns).format(ns) }

// fmtNSAgainst writes ns as fmtNS does, with the decimals it takes to tell
// it from the limit it is judged against.
func fmtNSAgainst(ns, limit float64) string { return nsUnit(ns).against(ns, limit) }

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

var (
	ratioUnit = unit{1, 2, "×"}
	pctUnit   = unit{0.01, 1, "%"}
	mibUnit   = unit{1 << 20, 1, " MiB"}
	mbUnit    = unit{1e6, 1, " MB"}
)

func fmtRatio(r float64) string { return ratioUnit.format(r) }

func fmtPct(f float64) string { return pctUnit.format(f) }

// rateUnit is the unit a count per second is written in.
func rateUnit(v float64) unit {
	switch {
	case v >= 1e6:
		return unit{1e6, 2, " M/s"}
	case v >= 1e3:
		return unit{1e3, 1, " k/s"}
	}
	return unit{1, 0, " /s"}
}

// fmtRate writes a count per second.
func fmtRate(v float64) string { return rateUnit(v).format(v) }

func fmtMiB(bytes float64) string {
	if bytes <= 0 {
		return missing
	}
	return mibUnit.format(bytes)
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
