package htmlreport

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/htmlreport")

const testdata = "../../testdata"

// render reads the logs as oomtrace report --html does and writes the
// page.
func render(t testing.TB, files ...string) []byte {
	t.Helper()
	rep, err := report.ReadFiles(files, report.Options{Timeline: true}, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range rep.Captures {
		rep.Captures[i].File = filepath.Base(rep.Captures[i].File)
		names = append(names, rep.Captures[i].File)
	}
	var buf bytes.Buffer
	if err := Write(&buf, rep, Options{Title: strings.Join(names, ", "), Generator: "oomtrace test"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeLog writes events as a log oomtrace record could have written, and
// returns its name.
func writeLog(t testing.TB, name string, events []event.Event) string {
	t.Helper()
	start := output.LogStart{Host: "test", Kernel: "6.18", Mode: event.ModeTracepoint,
		Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), StartKtimeNS: 1e12, ReclaimMin: time.Millisecond}
	buf := output.AppendLogStart(nil, &start, output.Text)
	for i := range events {
		buf = output.AppendText(buf, &events[i], output.Options{})
	}
	end := output.LogEnd{End: start.Start.Add(time.Minute), EndKtimeNS: 1e12 + 60e9, Events: uint64(len(events))}
	buf = output.AppendLogEnd(buf, &end, output.Text)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func at(s float64, kind event.Kind) event.Event {
	return event.Event{Kind: kind, KtimeNS: 1e12 + uint64(s*1e9), Task: event.Task{PID: 700, TGID: 700, Comm: "oomtrace"}}
}

// manyLanes is a capture of 50 cgroups climbing at different rates; every
// tenth is killed at its limit.
func manyLanes() []event.Event {
	var events []event.Event
	for step := range 20 {
		s := float64(step) * 0.5
		node := at(s, event.KindSample)
		node.Sample = event.Sample{MemTotalBytes: 8 << 30, MemAvailableBytes: uint64(6<<30 - step<<27), HasPressure: true,
			SomeAvg10: float64(step), FullAvg10: float64(step) / 4, SomeTotal: time.Duration(step) * time.Millisecond}
		events = append(events, node)
		for c := range 50 {
			limit := uint64(64+c) << 20
			sample := at(s+0.01, event.KindSample)
			sample.Sample = event.Sample{Cgroup: event.Cgroup{Path: fmt.Sprintf("/load/c%02d", c), ID: uint64(100 + c),
				UsageBytes: min(limit, limit*uint64(step)*uint64(c+1)/400), LimitBytes: limit}}
			if c%2 == 0 {
				sample.Sample.HighBytes, sample.Sample.HasHigh = limit*7/8, true
			}
			events = append(events, sample)
		}
	}
	for c := 0; c < 50; c += 10 {
		kill := at(9.6, event.KindOOMKill)
		cg := event.Cgroup{Path: fmt.Sprintf("/load/c%02d", c), ID: uint64(100 + c), UsageBytes: uint64(64+c) << 20, LimitBytes: uint64(64+c) << 20}
		kill.Task = event.Task{PID: uint32(5000 + c), TGID: uint32(5000 + c), Comm: "worker"}
		kill.OOMKill = event.OOMKill{Class: event.ClassMemcg, Victim: event.Victim{Task: kill.Task, Cgroup: cg},
			Trigger: kill.Task, TriggerCgroup: cg, OOMCgroup: cg, Why: fmt.Sprintf("worker %d hit the limit of c%02d", c, c)}
		rc := at(9.5, event.KindReclaim)
		rc.Reclaim = event.Reclaim{Kind: event.ReclaimMemcg, Duration: time.Duration(c+1) * time.Millisecond, Cgroup: cg}
		events = append(events, rc, kill)
	}
	return events
}

// The strings a hostile process or cgroup name puts into a capture.
const (
	hostileComm   = `<script>alert("x")</script>`
	hostileCgroup = `/"><script>alert('y')</script><svg onload="z">&amp;`
	hostilePod    = `</title><img src=x onerror=alert(1)>`
)

func hostile() []event.Event {
	cg := event.Cgroup{Path: hostileCgroup, ID: 7, UsageBytes: 32 << 20, LimitBytes: 32 << 20,
		Owner: event.Owner{PodName: hostilePod, Namespace: "ns", Name: hostileComm, Level: event.LevelContainer}}
	sample := at(0, event.KindSample)
	sample.Sample = event.Sample{Cgroup: cg}
	rc := at(0.5, event.KindReclaim)
	rc.Task.Comm = hostileComm
	rc.Reclaim = event.Reclaim{Kind: event.ReclaimMemcg, Duration: 2 * time.Millisecond, Cgroup: cg}
	kill := at(1, event.KindOOMKill)
	kill.Task = event.Task{PID: 66, TGID: 66, Comm: hostileComm}
	kill.OOMKill = event.OOMKill{Class: event.ClassMemcg, Victim: event.Victim{Task: kill.Task, Cgroup: cg, HasMM: true, RSSAnonKB: 1000},
		Trigger: kill.Task, TriggerCgroup: cg, OOMCgroup: cg, Why: hostileComm + ` & "` + hostileCgroup + `"`}
	stats := at(1.1, event.KindReclaimStats)
	stats.ReclaimStats = event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: cg, Interval: time.Second, Count: 3, Total: 3 * time.Millisecond}
	stats.ReclaimStats.Buckets[11] = 3
	return []event.Event{sample, rc, kill, stats}
}

// goldenCases are the captures drawn in the golden tests: real ones from
// testdata (a recording with samples, one without, perf script output)
// and two made here.
func goldenCases(t testing.TB) map[string][]string {
	return map[string][]string{
		"example":   {filepath.Join(testdata, "capture", "example.log")},
		"memcg-oom": {filepath.Join(testdata, "capture", "memcg-oom.log")},
		"perf":      {filepath.Join(testdata, "perfscript", "memcg-oom.txt")},
		"lanes50":   {writeLog(t, "lanes50.log", manyLanes())},
		"hostile":   {writeLog(t, "hostile.log", hostile())},
	}
}

// node is an element of the page, read back with encoding/xml.
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	text     strings.Builder // the text directly inside
}

func (n *node) class(c string) bool { return strings.Contains(" "+n.attrs["class"]+" ", " "+c+" ") }

// all returns the descendants matching keep, in document order.
func (n *node) all(keep func(*node) bool) []*node {
	var out []*node
	for _, c := range n.children {
		if keep(c) {
			out = append(out, c)
		}
		out = append(out, c.all(keep)...)
	}
	return out
}

func (n *node) first(keep func(*node) bool) *node {
	if found := n.all(keep); len(found) > 0 {
		return found[0]
	}
	return nil
}

// allText is the text of n and its descendants.
func (n *node) allText() string {
	s := n.text.String()
	for _, c := range n.children {
		s += c.allText()
	}
	return s
}

func byClass(c string) func(*node) bool { return func(n *node) bool { return n.class(c) } }
func byName(name string) func(*node) bool {
	return func(n *node) bool { return n.name == name }
}

// parse reads a document strictly as XML.
func parse(t testing.TB, doc []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	root := &node{name: "#document"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well-formed XML: %v", err)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text.Write(tok)
		}
	}
	if len(stack) != 1 {
		t.Fatalf("%d elements left open", len(stack)-1)
	}
	return root
}

var space = regexp.MustCompile(`\s+`)

func squash(s string) string { return strings.TrimSpace(space.ReplaceAllString(s, " ")) }

// outline is the page's structure: what the golden files hold. Numbers of
// points rather than coordinates, so that the files read as what is
// drawn.
func outline(root *node) string {
	var b strings.Builder
	line := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line(0, "title: %s", squash(root.first(byName("title")).allText()))
	line(0, "summary: %s", squash(root.first(byClass("summary")).allText()))
	line(0, "captures: %d", len(root.first(byClass("captures")).all(byName("tr")))-1)
	lane := func(indent int, l *node) {
		line(indent, "lane %s: %s", l.attrs["id"], squash(l.first(byClass("lane-name")).allText()))
		line(indent+1, "stats: %s", squash(l.first(byClass("lane-stats")).allText()))
		svg := l.first(byName("svg"))
		count := func(class, attr string, sep string) int {
			n := 0
			for _, e := range svg.all(byClass(class)) {
				n += strings.Count(e.attrs[attr], sep)
			}
			return n
		}
		var labels []string
		for _, e := range svg.all(byClass("y-label")) {
			labels = append(labels, squash(e.allText()))
		}
		line(indent+1, "y labels: %s", strings.Join(labels, " | "))
		line(indent+1, "usage %d, limit %d, high %d points; stall %d bars; kswapd %d; psi %d points",
			count("usage", "points", ","), count("limit", "points", ","), count("high", "points", ","),
			count("stall", "d", "M"), count("kswapd", "d", "M"), count("psi-some", "points", ","))
		for _, k := range svg.all(byClass("kill")) {
			line(indent+1, "kill marker: %s", squash(k.first(byName("title")).allText()))
		}
	}
	for _, tl := range root.all(byClass("timeline")) {
		line(0, "timeline %s: %s", tl.attrs["id"], squash(tl.first(byName("h2")).allText()))
		if meta := tl.first(byClass("timeline-meta")); meta != nil {
			line(1, "%s", squash(meta.allText()))
		}
		var ticks []string
		for _, e := range tl.all(byClass("axis-label")) {
			ticks = append(ticks, squash(e.allText()))
		}
		line(1, "axis: %s", strings.Join(ticks, " "))
		for _, c := range tl.children {
			switch {
			case c.class("lane"):
				lane(1, c)
			case c.class("more-lanes"):
				line(1, "folded: %s", squash(c.first(byName("summary")).allText()))
				for _, l := range c.all(byClass("lane")) {
					lane(2, l)
				}
			case c.class("note"):
				line(1, "note: %s", squash(c.allText()))
			}
		}
	}
	kills := root.first(byClass("kills"))
	rows := kills.all(byName("tr"))
	line(0, "kills: %d", max(len(rows)-1, 0))
	for _, r := range rows[min(1, len(rows)):] {
		var cells []string
		for _, td := range r.all(byName("td")) {
			cells = append(cells, squash(td.allText()))
		}
		line(1, "%s", strings.Join(cells, " | "))
	}
	reclaim := root.first(byClass("reclaim"))
	line(0, "reclaim rows: %d", max(len(reclaim.all(byName("tr")))-1, 0))
	for _, h := range reclaim.all(byClass("histogram")) {
		var labels []string
		for _, e := range h.all(byClass("bar-label")) {
			labels = append(labels, squash(e.allText()))
		}
		line(1, "histogram %s: %d bars: %s", squash(h.first(byName("figcaption")).allText()), len(h.all(byClass("bar"))), strings.Join(labels, " "))
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for name, files := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			got := outline(parse(t, render(t, files...)))
			path := filepath.Join(testdata, "htmlreport", name+".outline")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from its golden file (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// Each SVG of the page is an XML document of its own.
func TestSVGIsXML(t *testing.T) {
	for name, files := range goldenCases(t) {
		page := render(t, files...)
		svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAll(page, -1)
		if len(svgs) < 3 {
			t.Errorf("%s: %d SVGs", name, len(svgs))
		}
		for _, svg := range svgs {
			var doc struct {
				XMLName xml.Name
				ViewBox string `xml:"viewBox,attr"`
			}
			d := xml.NewDecoder(bytes.NewReader(svg))
			d.Strict = true
			if err := d.Decode(&doc); err != nil || doc.XMLName.Local != "svg" || doc.XMLName.Space != "http://www.w3.org/2000/svg" || doc.ViewBox == "" {
				t.Fatalf("%s: SVG %.200s: %+v, %v", name, svg, doc, err)
			}
		}
	}
}

func attrFloat(t *testing.T, n *node, name string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(n.attrs[name], 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.name, name, n.attrs[name], err)
	}
	return f
}

// Everything drawn in a lane lies in its plots: the kill markers and
// usage, limit and memory.high lines in the memory plot, the stall bars in
// the strip under it.
func TestLanesStayInTheirPlots(t *testing.T) {
	for name, files := range goldenCases(t) {
		root := parse(t, render(t, files...))
		for _, svg := range root.all(byClass("lane-svg")) {
			plot := svg.first(byClass("memory"))
			x0, y0 := attrFloat(t, plot, "x"), attrFloat(t, plot, "y")
			x1, y1 := x0+attrFloat(t, plot, "width"), y0+attrFloat(t, plot, "height")
			inside := func(what string, x, y float64) {
				if x < x0 || x > x1 || y < y0 || y > y1 {
					t.Errorf("%s, %s: %s at %v,%v is outside the plot %v,%v-%v,%v", name, svg.attrs["aria-label"], what, x, y, x0, y0, x1, y1)
				}
			}
			for _, class := range []string{"usage", "limit", "high"} {
				for _, line := range svg.all(byClass(class)) {
					for _, p := range strings.Fields(line.attrs["points"]) {
						xs, ys, _ := strings.Cut(p, ",")
						x, _ := strconv.ParseFloat(xs, 64)
						y, _ := strconv.ParseFloat(ys, 64)
						inside(class, x, y)
					}
				}
			}
			for _, k := range svg.all(byClass("kill-line")) {
				inside("kill", attrFloat(t, k, "x1"), attrFloat(t, k, "y1"))
				inside("kill", attrFloat(t, k, "x2"), attrFloat(t, k, "y2"))
			}
			strip := svg.first(byClass("stall-area"))
			sy0 := attrFloat(t, strip, "y")
			sy1 := sy0 + attrFloat(t, strip, "height")
			for _, bars := range svg.all(byClass("stall")) {
				// Bars are "Mx y" followed by relative moves: every
				// start is on the strip's bottom, and no bar is taller.
				for _, m := range regexp.MustCompile(`M([0-9.]+) ([0-9.]+)h([0-9.]+)v(-[0-9.]+)`).FindAllStringSubmatch(bars.attrs["d"], -1) {
					x, _ := strconv.ParseFloat(m[1], 64)
					y, _ := strconv.ParseFloat(m[2], 64)
					w, _ := strconv.ParseFloat(m[3], 64)
					h, _ := strconv.ParseFloat(m[4], 64)
					if x < x0 || x+w > x1+0.05 || y != sy1 || y+h < sy0-0.05 {
						t.Errorf("%s: stall bar %s outside the strip %v-%v", name, m[0], sy0, sy1)
					}
				}
			}
		}
	}
}

// Nothing a capture holds reaches the page as markup: process names,
// cgroup paths, pod names and verdicts with HTML in them are text, and
// read back exactly as the report escaped them.
func TestEscaping(t *testing.T) {
	page := render(t, writeLog(t, "hostile.log", hostile()))
	for _, bad := range []string{"<script", "<img", "<svg onload"} {
		if bytes.Contains(bytes.ToLower(page), []byte(bad)) {
			t.Errorf("page holds %q", bad)
		}
	}
	root := parse(t, page)
	for _, n := range root.all(func(*node) bool { return true }) {
		if n.name == "script" || n.name == "img" {
			t.Errorf("a %s element", n.name)
		}
		for a := range n.attrs {
			if strings.HasPrefix(strings.ToLower(a), "on") {
				t.Errorf("<%s %s=%q>", n.name, a, n.attrs[a])
			}
		}
	}
	lane := root.first(func(n *node) bool { return n.attrs["id"] == "t0-l0" })
	wantName := "pod ns/" + hostilePod + " container " + hostileComm
	if got := squash(lane.first(byClass("lane-name")).allText()); got != wantName+" "+hostileCgroup {
		t.Errorf("lane name %q, want %q", got, wantName+" "+hostileCgroup)
	}
	if got := lane.first(byName("svg")).attrs["aria-label"]; got != wantName {
		t.Errorf("aria-label %q", got)
	}
	title := lane.first(byClass("kill")).first(byName("title")).allText()
	if !strings.Contains(title, output.Escape(hostileComm+` & "`+hostileCgroup+`"`)) || !strings.Contains(title, "66 "+hostileComm) {
		t.Errorf("kill marker title %q", title)
	}
	why := root.first(byClass("why")).allText()
	if why != output.Escape(hostileComm+` & "`+hostileCgroup+`"`) {
		t.Errorf("why cell %q", why)
	}
}

// Fifty lanes: the busiest open, the rest folded, the killed ones first.
func TestFoldsLanes(t *testing.T) {
	root := parse(t, render(t, writeLog(t, "lanes50.log", manyLanes())))
	tl := root.first(byClass("timeline"))
	var open []*node
	for _, c := range tl.children {
		if c.class("lane") && !c.class("node") {
			open = append(open, c)
		}
	}
	details := tl.first(byName("details"))
	if len(open) != OpenLanes || details == nil || len(details.all(byClass("lane"))) != 50-OpenLanes {
		t.Fatalf("%d open lanes, folded %v", len(open), details)
	}
	if _, isOpen := details.attrs["open"]; isOpen {
		t.Error("the folded lanes are open")
	}
	if s := squash(details.first(byName("summary")).allText()); s != fmt.Sprintf("%d more cgroups, less busy", 50-OpenLanes) {
		t.Errorf("summary %q", s)
	}
	// The five killed, most reclaim first.
	for i, want := range []string{"/load/c40", "/load/c30", "/load/c20", "/load/c10", "/load/c00"} {
		if got := squash(open[i].first(byClass("lane-name")).allText()); got != want {
			t.Errorf("lane %d is %s, want %s", i, got, want)
		}
		if n := len(open[i].all(byClass("kill-marker"))); n != 1 {
			t.Errorf("%s: %d kill markers", want, n)
		}
	}
}

// The page's summary says what the kernel did not hand over: records lost
// always, runs of the programs skipped where there were any.
func TestSummaryLostAndSkipped(t *testing.T) {
	if got := summary(&report.Report{}); !strings.HasSuffix(got, " · 0 events lost") {
		t.Errorf("nothing lost: %q", got)
	}
	got := summary(&report.Report{Lost: report.Lost{Total: 1, SkippedRuns: 2},
		Captures: []report.Capture{{SkippedRuns: 2, SkippedByProgram: "process_exit:2"}}})
	if !strings.HasSuffix(got, " · 1 events lost · 2 runs of oomtrace's programs skipped by the kernel: signals and exits may be missing") {
		t.Errorf("lost and skipped: %q", got)
	}
}
