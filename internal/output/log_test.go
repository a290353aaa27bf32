package output

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

func fullStart() LogStart {
	return LogStart{
		Version:      LogVersion,
		Host:         "web-1 \"a\"\n",
		Kernel:       "6.18.44-fc-v657",
		Mode:         event.ModeTracepoint,
		Start:        time.Date(2026, 11, 24, 4, 11, 54, 835703786, time.UTC),
		StartKtimeNS: 1288200321414,
		ReclaimMin:   time.Millisecond,
		Cgroup:       "/kubepods/pod 1",
		PID:          4242,
		Classes:      []event.Class{event.ClassMemcg, event.ClassGlobal},
	}
}

func TestLogStartText(t *testing.T) {
	h := fullStart()
	line := AppendLogStart(nil, &h, Text)
	want := `# oomtrace-log version=1 host="web-1 \"a\"\x0a" kernel="6.18.44-fc-v657" mode=tracepoint start=2026-11-24T04:11:54.835703786Z start_ktime_ns=1288200321414 reclaim_min_ns=1000000 cgroup="/kubepods/pod 1" pid=4242 class=memcg,global` + "\n"
	if string(line) != want {
		t.Fatalf("start line:\n got %s\nwant %s", line, want)
	}
	checkLine(t, line)
}

func TestLogStartJSON(t *testing.T) {
	h := fullStart()
	line := AppendLogStart(nil, &h, JSON)
	want := `{"oomtrace_log":"start","version":1,"host":"web-1 \"a\"\n","kernel":"6.18.44-fc-v657","mode":"tracepoint","start":"2026-11-24T04:11:54.835703786Z","start_ktime_ns":1288200321414,"reclaim_min_ns":1000000,"cgroup":"/kubepods/pod 1","pid":4242,"class":["memcg","global"]}` + "\n"
	if string(line) != want {
		t.Fatalf("start line:\n got %s\nwant %s", line, want)
	}
}

func TestLogMetaRoundTrip(t *testing.T) {
	minimal := LogStart{Version: LogVersion, Host: "h", Kernel: "k", Mode: event.ModeFentry, Start: time.Unix(1, 0).UTC()}
	end := LogEnd{End: time.Unix(100, 5).UTC(), EndKtimeNS: 99, Events: 12, Lost: 3}
	skipped := end
	skipped.SkippedRuns, skipped.SkippedByProgram = 4, "mark_victim:1,process_exit:3"
	for _, f := range []Format{Text, JSON} {
		for _, h := range []LogStart{fullStart(), minimal} {
			line := AppendLogStart(nil, &h, f)
			if k := ClassifyLine(line); k != LineStart {
				t.Errorf("%v: ClassifyLine(%s) = %v, want start", f, line, k)
			}
			got, err := ParseLogStart(line)
			if err != nil {
				t.Fatalf("%v: ParseLogStart(%s): %v", f, line, err)
			}
			if !reflect.DeepEqual(got, h) {
				t.Errorf("%v: ParseLogStart(%s):\n got %+v\nwant %+v", f, line, got, h)
			}
		}
		for _, end := range []LogEnd{end, skipped} {
			line := AppendLogEnd(nil, &end, f)
			if k := ClassifyLine(line); k != LineEnd {
				t.Errorf("%v: ClassifyLine(%s) = %v, want end", f, line, k)
			}
			got, err := ParseLogEnd(line)
			if err != nil || got != end {
				t.Errorf("%v: ParseLogEnd(%s) = %+v, %v; want %+v", f, line, got, err, end)
			}
			// Written only when the kernel skipped runs: the end line of a
			// recording without is as it was.
			if has := bytes.Contains(line, []byte("skipped_runs")); has != (end.SkippedRuns > 0) {
				t.Errorf("%v: end line %s: skipped_runs written %v, want %v", f, line, has, end.SkippedRuns > 0)
			}
		}
	}
}

func TestLogVersion(t *testing.T) {
	for _, line := range []string{
		`# oomtrace-log version=2 host="h" kernel="k" mode=fentry start=2026-01-01T00:00:00Z start_ktime_ns=1 reclaim_min_ns=0`,
		// A newer version may change what follows the version.
		`# oomtrace-log version=7 anything=goes`,
		`{"oomtrace_log":"start","version":2,"something":"new"}`,
	} {
		_, err := ParseLogStart([]byte(line))
		var verr *VersionError
		if !errors.As(err, &verr) || verr.Version == LogVersion {
			t.Errorf("ParseLogStart(%s): %v, want a version error", line, err)
			continue
		}
		if !strings.Contains(err.Error(), "version") || !strings.Contains(err.Error(), "reads version 1") {
			t.Errorf("version error does not explain itself: %v", err)
		}
	}
}

func TestLogMetaErrors(t *testing.T) {
	ok := `# oomtrace-log version=1 host="h" kernel="k" mode=fentry start=2026-01-01T00:00:00Z start_ktime_ns=1 reclaim_min_ns=0`
	if _, err := ParseLogStart([]byte(ok)); err != nil {
		t.Fatalf("ParseLogStart(%s): %v", ok, err)
	}
	for _, tc := range []struct{ line, want string }{
		{strings.Replace(ok, "version=1 host", "host", 1) + " version=1", "version must be the first key"},
		{strings.Replace(ok, ` kernel="k"`, "", 1), "key kernel: missing"},
		{ok + ` host="x"`, "key host: given twice"},
		{ok + ` colour=blue`, "key colour: unknown key"},
		{ok + ` pid=0`, "key pid: written only when set"},
		{ok + ` class=memcg,huge`, "unknown OOM class"},
		{strings.Replace(ok, `host="h"`, `host=h`, 1), "want a quoted string"},
		{strings.Replace(ok, `start=2026-01-01T00:00:00Z`, `start=yesterday`, 1), "RFC 3339"},
		{strings.Replace(ok, `version=1`, `version=-1`, 1), "invalid number"},
		{ok + " ", "want key=value"},
		{ok + " x", "want key=value"},
		{`{"oomtrace_log":"start","version":1,"host":"h"}`, "key kernel: missing"},
		{`{"oomtrace_log":"startle","version":1}`, "want a line starting"},
		{`{"oomtrace_log":"start","version":1,"host":"h","kernel":"k","mode":"fentry","start":"2026-01-01T00:00:00Z","start_ktime_ns":1,"reclaim_min_ns":0,"class":"memcg"}`, "want an array"},
		{`{"oomtrace_log":"start",`, "truncated JSON object"},
	} {
		_, err := ParseLogStart([]byte(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLogStart(%s): %v, want an error containing %q", tc.line, err, tc.want)
		}
	}
	if _, err := ParseLogEnd([]byte(`# oomtrace-log-end end=2026-01-01T00:00:00Z end_ktime_ns=1 events=1`)); err == nil || !strings.Contains(err.Error(), "key lost: missing") {
		t.Errorf("end line without lost: %v", err)
	}
}

func TestClassifyLine(t *testing.T) {
	ev := event.Event{Kind: event.KindLost, Task: event.Task{Comm: "#\n\n\n\n\n\n"}}
	eventLine := AppendText(nil, &ev, Options{})
	if eventLine[0] != '#' {
		t.Fatalf("test needs an event line starting with '#': %s", eventLine)
	}
	for line, want := range map[string]LineKind{
		string(eventLine):                   LineEvent,
		`{"event":"lost"}`:                  LineEvent,
		"# ========":                        LineComment,
		"#\n":                               LineComment,
		"# oomtrace-log version=1":          LineStart,
		"# oomtrace-log-end lost=0":         LineEnd,
		`{"oomtrace_log":"start","version"`: LineStart,
		`{"oomtrace_log":"end"}`:            LineEnd,
	} {
		if got := ClassifyLine([]byte(line)); got != want {
			t.Errorf("ClassifyLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"hog":           "hog",
		`a"b`:           `a"b`,
		`a\b`:           `a\\b`,
		"x\n\x1b[31m":   `x\x0a\x1b[31m`,
		"\xc3\xa9 café": `\xc3\xa9 caf\xc3\xa9`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLogMeta: the start and end parsers never panic, and every line they
// accept means one thing: written again and parsed again, it is the same.
func FuzzLogMeta(f *testing.F) {
	h := fullStart()
	e := LogEnd{End: time.Unix(5, 0), EndKtimeNS: 1, Events: 2, Lost: 3, SkippedRuns: 1, SkippedByProgram: "mark_victim:1"}
	for _, format := range []Format{Text, JSON} {
		f.Add(AppendLogStart(nil, &h, format))
		f.Add(AppendLogEnd(nil, &e, format))
	}
	f.Add([]byte(`# oomtrace-log version=1 host="\x" kernel=`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if h, err := ParseLogStart(line); err == nil {
			for _, format := range []Format{Text, JSON} {
				again, err := ParseLogStart(AppendLogStart(nil, &h, format))
				if err != nil || !reflect.DeepEqual(again, h) {
					t.Fatalf("ParseLogStart(%q) = %+v; in %v again: %+v, %v", line, h, format, again, err)
				}
			}
		}
		if e, err := ParseLogEnd(line); err == nil {
			for _, format := range []Format{Text, JSON} {
				again, err := ParseLogEnd(AppendLogEnd(nil, &e, format))
				if err != nil || again != e {
					t.Fatalf("ParseLogEnd(%q) = %+v; in %v again: %+v, %v", line, e, format, again, err)
				}
			}
		}
		_ = ClassifyLine(line)
	})
}

func TestWriterLogLines(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{Format: JSON})
	h := fullStart()
	if err := w.WriteLogStart(&h); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteLogEnd(&LogEnd{Events: 1}); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	if len(lines) != 3 || ClassifyLine([]byte(lines[0])) != LineStart || ClassifyLine([]byte(lines[1])) != LineEnd {
		t.Errorf("writer wrote %q", buf.String())
	}
}
