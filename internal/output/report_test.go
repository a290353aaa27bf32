package output

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
)

// freeListLine is a zone's free lists in a kernel report, "Node 0 DMA:
// 1*4kB (U) 3*8kB (U) ... = 588kB", and freeCount one count of it.
var (
	freeListLine = regexp.MustCompile(`Node [0-9]+ [A-Za-z0-9]+: .* = [0-9]+kB`)
	freeCount    = regexp.MustCompile(`[0-9]+(\*[0-9]+kB)`)
	freeTotal    = regexp.MustCompile(`= [0-9]+kB$`)
)

// emptyFreeLists returns log with every zone's free lists printed empty, as
// the kernel prints them when the zone's free pages all sit on the per-CPU
// lists.
func emptyFreeLists(log []byte) []byte {
	return freeListLine.ReplaceAllFunc(log, func(line []byte) []byte {
		line = freeCount.ReplaceAll(line, []byte("0$1"))
		return freeTotal.ReplaceAll(line, []byte("= 0kB"))
	})
}

// What the tracer writes of a kernel's report, an oom_report event, and a
// kill read from a kernel log read back as they were, in text and JSON:
// every real report of the fixtures, and each again with its free lists
// empty.
func TestKernelReportsReadBack(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "kernlog")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	reports, emptied := 0, 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		log, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		empty := emptyFreeLists(log)
		if !bytes.Equal(empty, log) {
			emptied++
		}
		for _, variant := range []struct {
			name string
			log  []byte
		}{{e.Name(), log}, {e.Name() + " with empty free lists", empty}} {
			for _, kill := range logKills(t, variant.name, variant.log) {
				if !kill.OOMKill.Report.Has() {
					continue
				}
				reports++
				report := event.Event{Kind: event.KindOOMReport, KtimeNS: kill.KtimeNS + 20_000_000, Task: event.Task{PID: 1, TGID: 1, Comm: "oomtrace"},
					OOMReport: event.ReportAfter(&kill, &kill.OOMKill)}
				for _, ev := range []event.Event{kill, report} {
					checkReportReadBack(t, variant.name, &ev)
				}
			}
		}
	}
	// 3.13-global, 5.14-el9-global and 6.12-arm64-global print free lists.
	if reports < 80 || emptied < 3 {
		t.Errorf("%d reports read back, %d logs with free lists emptied; the fixtures hold more", reports, emptied)
	}
}

// logKills returns the kills of a kernel log, each with its report.
func logKills(t *testing.T, name string, log []byte) []event.Event {
	t.Helper()
	l, err := kernlog.ParseText(bytes.NewReader(log))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var events []event.Event
	for _, r := range l.Reports {
		events = r.Events(events, kernlog.EventOptions{})
	}
	return events
}

func checkReportReadBack(t *testing.T, name string, ev *event.Event) {
	t.Helper()
	text, err := ParseText(AppendText(nil, ev, Options{}))
	if err != nil {
		t.Fatalf("%s: %s: ParseText: %v", name, ev.Kind, err)
	}
	js, err := ParseJSON(AppendJSON(nil, ev, Options{}))
	if err != nil {
		t.Fatalf("%s: %s: ParseJSON: %v", name, ev.Kind, err)
	}
	want := reportOf(ev)
	for _, got := range []struct {
		format string
		ev     *event.Event
	}{{"text", &text}, {"JSON", &js}} {
		if r := reportOf(got.ev); *r != *want {
			t.Errorf("%s: %s read back from %s:\n%+v\nwant\n%+v", name, ev.Kind, got.format, *r, *want)
		}
	}
}

func reportOf(ev *event.Event) *event.KernelReport {
	if ev.Kind == event.KindOOMReport {
		return &ev.OOMReport.Report
	}
	return &ev.OOMKill.Report
}
