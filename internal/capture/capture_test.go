package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

var start = output.LogStart{
	Version: output.LogVersion, Host: "h", Kernel: "6.18", Mode: event.ModeTracepoint,
	Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), StartKtimeNS: 1000 * uint64(time.Second),
	ReclaimMin: time.Millisecond,
}

func testEvents() []event.Event {
	kill := event.Event{Kind: event.KindOOMKill, KtimeNS: 1001 * uint64(time.Second), Task: event.Task{PID: 7, TGID: 7, Comm: "hog"},
		OOMKill: event.OOMKill{Class: event.ClassMemcg, Victim: event.Victim{Task: event.Task{PID: 7, TGID: 7, Comm: "hog"}}, Trigger: event.Task{PID: 7, TGID: 7, Comm: "hog"},
			Stack: slices.Repeat([]string{"a_kernel_function_with_a_long_name+0x1f"}, 64)}}
	reclaim := event.Event{Kind: event.KindReclaim, KtimeNS: 1000*uint64(time.Second) + 500_000, Task: event.Task{PID: 7, TGID: 7, Comm: "hog"},
		Reclaim: event.Reclaim{Kind: event.ReclaimMemcg, Duration: 2 * time.Millisecond}}
	lost := event.Event{Kind: event.KindLost, KtimeNS: 1002 * uint64(time.Second), Lost: event.Lost{Count: 1, Total: 1}}
	return []event.Event{reclaim, kill, lost}
}

// writeLog records events to a file the way oomtrace record does.
func writeLog(t *testing.T, format output.Format, events []event.Event) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "log")
	f, err := Create(name, format)
	if err != nil {
		t.Fatal(err)
	}
	h := start
	if err := f.WriteStart(&h); err != nil {
		t.Fatal(err)
	}
	w := output.NewWriter(f, output.Options{Format: format})
	for i := range events {
		if err := w.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	end := output.LogEnd{End: start.Start.Add(3 * time.Second), EndKtimeNS: 1003 * uint64(time.Second), Events: uint64(len(events)), Lost: 1}
	if err := f.Finish(&end); err != nil {
		t.Fatal(err)
	}
	return name
}

// readAll reads a whole log.
func readAll(name string, data []byte) ([]event.Event, Info, error) {
	r := NewReader(bytes.NewReader(data), name)
	var events []event.Event
	for {
		var ev event.Event
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			return events, r.Info(), nil
		}
		if err != nil {
			return events, r.Info(), err
		}
		events = append(events, ev)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, format := range []output.Format{output.Text, output.JSON} {
		want := testEvents()
		name := writeLog(t, format, want)
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, info, err := readAll("x.log", data)
		if err != nil {
			t.Fatalf("%v: %v", format, err)
		}
		if info.Format.String() != format.String() || info.Start == nil || info.Start.Host != "h" || info.End == nil ||
			info.End.Events != 3 || info.End.Lost != 1 || info.Events != 3 || info.Lines != 5 || len(info.Warnings) != 0 {
			t.Errorf("%v: info %+v", format, info)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d events, want %d", format, len(got), len(want))
		}
		// Text events get their wall-clock time from the start line.
		if wantTime := start.Start.Add(time.Second); !got[1].Time.Equal(wantTime) {
			t.Errorf("%v: kill at %v, want %v", format, got[1].Time, wantTime)
		}
		for i := range want {
			if got[i].Kind != want[i].Kind || got[i].KtimeNS != want[i].KtimeNS || got[i].Reclaim != want[i].Reclaim {
				t.Errorf("%v: event %d: %+v, want %+v", format, i, got[i], want[i])
			}
		}
	}
}

// A recording that never starts removes only a log it made: an earlier log
// at the same name, or a device such as /dev/null, stays as it was. One that
// starts replaces an earlier log whole.
func TestCreateKeepsWhatWasThere(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.log")
	f, err := Create(fresh, output.Text)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a log Create made and nothing started in: %v, want it removed", err)
	}

	earlier := filepath.Join(dir, "earlier.log")
	const before = "# an earlier recording\nits lines\n"
	if err := os.WriteFile(earlier, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err = Create(earlier, output.Text); err != nil {
		t.Fatal(err)
	}
	if err := f.Discard(); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(earlier); err != nil || string(data) != before {
		t.Errorf("an earlier log after a recording that did not start: %q, %v; want it unchanged", data, err)
	}

	if f, err = Create(earlier, output.Text); err != nil {
		t.Fatal(err)
	}
	h := start
	if err := f.WriteStart(&h); err != nil {
		t.Fatal(err)
	}
	if err := f.Finish(&output.LogEnd{End: start.Start, EndKtimeNS: start.StartKtimeNS}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(earlier)
	if err != nil || !bytes.HasPrefix(data, []byte("# oomtrace-log ")) || bytes.Contains(data, []byte("earlier recording")) {
		t.Errorf("an earlier log after a recording: %q, %v; want only the new one", data, err)
	}

	// A character device is neither emptied nor removed, nor refused for
	// what it cannot do (sync). The device is a null device of the test's
	// own, so that a fault here cannot take the machine's /dev/null.
	t.Run("device", func(t *testing.T) {
		null := filepath.Join(dir, "null")
		if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("make a null device: %v (CI runs as root)", err)
			}
			t.Skipf("make a null device (needs CAP_MKNOD): %v; with CI=true this fails", err)
		}
		for _, started := range []bool{false, true} {
			if f, err = Create(null, output.Text); err != nil {
				t.Fatal(err)
			}
			if started {
				h := start
				if err := f.WriteStart(&h); err != nil {
					t.Errorf("start a log on a null device: %v", err)
				}
				err = f.Finish(&output.LogEnd{End: start.Start})
			} else {
				err = f.Discard()
			}
			if err != nil {
				t.Errorf("end a recording on a null device (started %v): %v", started, err)
			}
			if info, serr := os.Stat(null); serr != nil || info.Mode()&os.ModeCharDevice == 0 {
				t.Errorf("the null device after a recording (started %v): %v, %v", started, info, serr)
			}
		}
	})
}

// The recorder writes a batch of whole lines with one write(2): the lines
// of the events drained together when the pipeline is flushed, a kill's
// line at once, the start and end lines each with what came before them.
// A recorder killed at any moment then loses at most the batch it had not
// written, and leaves at most the last line of a write cut short.
func TestOneWritePerBatch(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log")
	f, err := Create(name, output.Text)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.FcntlInt(f.f.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_APPEND == 0 {
		t.Errorf("log not opened for appending: flags %#x, %v", flags, err)
	}
	pipe := pipeline.Of(nil, output.NewWriter(f, output.Options{Stacks: true}))
	events := testEvents() // reclaim, kill, lost
	reclaim, kill := events[0], events[1]
	writes := func(what string, want uint64, do func() error) {
		t.Helper()
		before := writeSyscalls(t)
		if err := do(); err != nil {
			t.Fatal(err)
		}
		if n := writeSyscalls(t) - before; n != want {
			t.Errorf("%s: %d write system calls, want %d", what, n, want)
		}
	}
	h := start
	writes("start line", 1, func() error { return f.WriteStart(&h) })
	const burst = 100
	writes("events of a burst", 0, func() error {
		for range burst {
			if err := pipe.ProcessBuffered(&reclaim); err != nil {
				return err
			}
		}
		return nil
	})
	writes("the burst drained", 1, pipe.Flush)
	writes("a kill in a burst", 1, func() error {
		if err := pipe.ProcessBuffered(&reclaim); err != nil {
			return err
		}
		return pipe.ProcessBuffered(&kill)
	})
	writes("nothing held", 0, pipe.Flush)
	end := output.LogEnd{Events: burst + 2}
	writes("end line", 1, func() error { return f.Finish(&end) })

	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	got, info, err := readAll("x.log", data)
	if err != nil || len(got) != burst+2 || got[burst+1].Kind != event.KindOOMKill || info.End == nil || len(info.Warnings) != 0 {
		t.Errorf("log read back: %d events, end %v, warnings %q, %v", len(got), info.End, info.Warnings, err)
	}
}

// writeSyscalls is the number of write system calls this process made.
func writeSyscalls(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var n uint64
		if _, err := fmt.Sscanf(line, "syscw: %d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no syscw in /proc/self/io:\n%s", b)
	return 0
}

func TestCutShortLastLine(t *testing.T) {
	name := writeLog(t, output.Text, testEvents())
	data, _ := os.ReadFile(name)
	// A recorder killed while writing the end line.
	cut := data[:len(data)-10]
	events, info, err := readAll("x.log", cut)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || info.End != nil || len(info.Warnings) != 2 || !strings.Contains(info.Warnings[0], "x.log:5: last line has no newline") ||
		!strings.Contains(info.Warnings[1], "no end line: the recording did not stop cleanly") {
		t.Errorf("%d events, end %v, warnings %q", len(events), info.End, info.Warnings)
	}
	// Even a last line that would parse is left out without its newline.
	lines := bytes.SplitAfter(data, []byte{'\n'})
	noEnd := bytes.Join(lines[:3], nil)
	noEnd = noEnd[:len(noEnd)-1]
	events, info, err = readAll("x.log", noEnd)
	if err != nil || len(events) != 1 || len(info.Warnings) != 2 {
		t.Errorf("%d events, warnings %q, %v", len(events), info.Warnings, err)
	}
}

func TestBadLines(t *testing.T) {
	name := writeLog(t, output.Text, testEvents())
	data, _ := os.ReadFile(name)
	lines := strings.SplitAfter(string(data), "\n")
	jsonName := writeLog(t, output.JSON, testEvents())
	jsonData, _ := os.ReadFile(jsonName)
	jsonLines := strings.SplitAfter(string(jsonData), "\n")
	join := func(parts ...string) string { return strings.Join(parts, "") }
	for _, tc := range []struct{ name, log, want string }{
		{"malformed event", join(lines[0], lines[1], "  hog 7/7 [000] 1.000000: oomtrace:lost count=x total=1\n", lines[2]),
			"x.log:3: column 47: key count: invalid number"},
		{"newer version", strings.Replace(string(data), "version=1", "version=2", 1), "x.log:1: log format version 2 is not supported"},
		{"start line later", join(lines[1], lines[0]), "x.log:2: a start line is allowed only as the first line"},
		{"event after end", join(lines[0], lines[4], lines[1]), "x.log:3: nothing but comments may follow the end line"},
		{"JSON in a text log", join(lines[0], lines[1], jsonLines[2]), "x.log:3: a line not in the text format"},
		{"text in a JSON log", join(jsonLines[0], lines[1]), "x.log:2: a line not in the json format"},
		{"blank line in a log", join(lines[0], "\n", lines[1]), "x.log:2: column 1: missing comm"},
		{"long line", join(lines[0], strings.Repeat("x", MaxLineBytes+10), "\n"), "x.log:2: line longer than"},
	} {
		_, _, err := readAll("x.log", []byte(tc.log))
		var lerr *LineError
		if !errors.As(err, &lerr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a line error containing %q", tc.name, err, tc.want)
		}
	}
}

// What is no oomtrace log nor perf script output is read as a system log;
// one without a single line of a kernel log's forms says so.
func TestNotALog(t *testing.T) {
	events, info, err := readAll("x.log", []byte("hello world\nsecond line\n"))
	if err != nil || len(events) != 0 || info.Format != FormatSystemLog {
		t.Fatalf("%d events, format %v, error %v; want none, read as a kernel log", len(events), info.Format, err)
	}
	if len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "x.log:2: not one line of it is oomtrace's, perf script's or a kernel log's") {
		t.Errorf("warnings %q", info.Warnings)
	}
}

func TestWarnings(t *testing.T) {
	name := writeLog(t, output.Text, testEvents())
	data, _ := os.ReadFile(name)
	lines := strings.SplitAfter(string(data), "\n")
	// An event lost from the middle of the log: the end line's count says so.
	_, info, err := readAll("x.log", []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")))
	if err != nil || len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "the end line counts 3 events, the log holds 2") {
		t.Errorf("warnings %q, %v", info.Warnings, err)
	}
}

func TestOtherFormats(t *testing.T) {
	// oomtrace trace output: no start or end line.
	var buf bytes.Buffer
	w := output.NewWriter(&buf, output.Options{})
	events := testEvents()
	for i := range events {
		if err := w.Write(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, info, err := readAll("trace.txt", append([]byte("\n\n"), buf.Bytes()...))
	if err != nil || len(got) != 3 || info.Format != FormatText || info.Start != nil || !got[1].Time.IsZero() {
		t.Errorf("trace output: %d events, %+v, %v", len(got), info, err)
	}

	perf, err := os.ReadFile(filepath.Join("..", "..", "testdata", "perfscript", "lost.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, info, err = readAll("perf.txt", perf)
	if err != nil || info.Format != FormatPerf || len(got) != 3 {
		t.Errorf("perf script output: %d events, %+v, %v", len(got), info, err)
	}
	if _, _, err := readAll("perf.txt", append(perf, "  app 7 [000] 5.3: oom:mark_victim: pid=x\n"...)); err == nil || !strings.Contains(err.Error(), "perf.txt:20: oom:mark_victim: field pid") {
		t.Errorf("bad perf line: %v", err)
	}
}

// FuzzReader: whatever a file holds, the reader never panics and every
// error names the line.
func FuzzReader(f *testing.F) {
	f.Add([]byte("# oomtrace-log version=1 host=\"h\" kernel=\"k\" mode=fentry start=2026-01-01T00:00:00Z start_ktime_ns=1 reclaim_min_ns=0\n  hog 1/1 [000] 1.000000: oomtrace:lost count=1 total=1\n# oomtrace-log-end end=2026-01-01T00:00:00Z end_ktime_ns=2 events=1 lost=1\n"))
	f.Add([]byte(`{"oomtrace_log":"start","version":1}` + "\n" + `{"event":"lost","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","count":1,"total":1}` + "\n"))
	f.Add([]byte("  app 7 [000] 5.3: oom:mark_victim: pid=9\n  app 7 [000] 5.3: PERF_RECORD_LOST lost 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), "f")
		for range 10000 {
			var ev event.Event
			err := r.Next(&ev)
			if errors.Is(err, io.EOF) {
				return
			}
			var lerr *LineError
			if err != nil {
				if !errors.As(err, &lerr) || lerr.Line < 1 {
					t.Fatalf("error without a line: %v", err)
				}
				return
			}
		}
	})
}

// A compressed log that ends early, as one compressed or copied while it
// was still written does, is read up to where it ends, with a warning: the
// kills before the cut are not lost to an error.
func TestGzipCutShort(t *testing.T) {
	kernel, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "6.18-v1-rec-memcg.journal-short"))
	if err != nil {
		t.Fatal(err)
	}
	kubelet, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kubeletlog", "1.2x-structured.journal"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(writeLog(t, output.Text, slices.Repeat(testEvents(), 100)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		kills int // in the part before the cut
	}{
		// Two kills at the start, then the kubelet's messages.
		{"kern.log.gz", append(slices.Clone(kernel), bytes.Repeat(kubelet, 20)...), 2},
		{"oomtrace.log.gz", own, 90},
	} {
		var zipped bytes.Buffer
		zw := gzip.NewWriter(&zipped)
		zw.Write(tc.data)
		zw.Close()
		cut := zipped.Bytes()[:zipped.Len()*9/10]
		events, info, err := readAll(tc.name, cut)
		kills := 0
		for _, ev := range events {
			if ev.Kind == event.KindOOMKill {
				kills++
			}
		}
		if err != nil || kills < tc.kills {
			t.Errorf("%s cut short: %d kills, error %v; want at least %d and no error", tc.name, kills, err, tc.kills)
		}
		if !slices.ContainsFunc(info.Warnings, func(w string) bool { return strings.Contains(w, "gzip stream ends early") }) {
			t.Errorf("%s cut short: no warning says so: %q", tc.name, info.Warnings)
		}
	}
	// The first bytes of gzip without a stream after them: an error at
	// line 1.
	_, _, err = readAll("x.gz", []byte("\x1f\x8b0"))
	var lerr *LineError
	if !errors.As(err, &lerr) || lerr.Line != 1 || !strings.Contains(err.Error(), "no gzip stream") {
		t.Errorf("gzip's first bytes alone: %v", err)
	}
}

// A syslog file holds the kernel's and the kubelet's messages: the kills
// and the evictions come out in the order the log has them, gzip or not.
func TestSystemLog(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kubelet := read("kubeletlog/1.2x-structured.journal")
	// Two kills: the end of an earlier report (pid 9467), then pid 14614.
	kernel := read("kernlog/6.18-v1-rec-memcg.journal-short")
	mixed := append(append(append([]byte(nil), kubelet...), kernel...), kubelet...)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(mixed)
	zw.Close()
	for name, data := range map[string][]byte{"syslog": mixed, "syslog.gz": zipped.Bytes()} {
		events, info, err := readAll(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var kinds []string
		for _, ev := range events {
			kinds = append(kinds, ev.Kind.String())
		}
		if info.Format != FormatSystemLog {
			t.Errorf("%s: format %v", name, info.Format)
		}
		var kills []uint32
		for i, ev := range events {
			if ev.Kind == event.KindOOMKill {
				kills = append(kills, ev.OOMKill.Victim.PID)
				if ev.OOMKill.Mode != event.ModeKmsg || ev.Restored {
					t.Errorf("%s: kill %+v", name, ev.OOMKill.Victim)
				}
				// Between the first file's evictions and the second's.
				if i == 0 || i == len(events)-1 {
					t.Errorf("%s: kill at %d of %v", name, i, kinds)
				}
			}
		}
		if len(kills) != 2 || kills[0] != 9467 || kills[1] != 14614 || len(events) != 6 {
			t.Errorf("%s: %v, want the evictions of the kubelet, the kill, the evictions again", name, kinds)
		}
		if ev := events[0]; ev.Kind != event.KindEviction || ev.Eviction.Pod.PodName == "" || ev.Task.Comm != "kubelet" {
			t.Errorf("%s: first event %+v", name, ev)
		}
	}
}

// A directory given for a log is named as such, before anything is read.
func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	f, _, err := Open(dir)
	if err == nil {
		f.Close()
		t.Fatal("Open of a directory: no error")
	}
	if !strings.Contains(err.Error(), dir+" is a directory") {
		t.Errorf("Open of a directory: %v", err)
	}
}

// A comm of 16 bytes or more is not padded, so a text line can start with
// '{' (a name anyone can give their process): it is still a text line, and
// the log reads whole.
func TestTextLineStartingWithBrace(t *testing.T) {
	events := testEvents()
	events[0].Task.Comm = "{\x01\x01\x01\x01" // escaped, 17 bytes: unpadded
	events[1].OOMKill.Victim.Comm = `{"x":1}`
	name := writeLog(t, output.Text, events)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("\n{\\x01")) {
		t.Fatalf("no line starts with the comm's '{':\n%s", data)
	}
	got, info, err := readAll("brace.log", data)
	if err != nil || len(got) != len(events) || info.Format != FormatText {
		t.Fatalf("%d events, format %v, %v; want %d text events", len(got), info.Format, err, len(events))
	}
	if got[0].Task.Comm != events[0].Task.Comm || got[1].OOMKill.Victim.Comm != events[1].OOMKill.Victim.Comm {
		t.Errorf("comms %q, %q; want %q, %q", got[0].Task.Comm, got[1].OOMKill.Victim.Comm, events[0].Task.Comm, events[1].OOMKill.Victim.Comm)
	}
}

// What is added before a log decides nothing: comments and an editor's
// byte-order mark are passed over, and other lines before an oomtrace log
// or perf script's output are an error that names the first of its lines,
// where they were read as a kernel log and a gate found no kill.
func TestLinesBeforeTheLog(t *testing.T) {
	log, err := os.ReadFile(writeLog(t, output.Text, testEvents()))
	if err != nil {
		t.Fatal(err)
	}
	jsonLog, err := os.ReadFile(writeLog(t, output.JSON, testEvents()))
	if err != nil {
		t.Fatal(err)
	}
	events := log[bytes.IndexByte(log, '\n')+1:] // without its start line
	perf, err := os.ReadFile(filepath.Join("..", "..", "testdata", "perfscript", "memcg-oom.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		format Format
		err    string
	}{
		{"a comment", append([]byte("# run 3 of the load test\n\n"), log...), FormatText, ""},
		{"a byte-order mark", append([]byte("\xef\xbb\xbf"), log...), FormatText, ""},
		{"a comment before events", append([]byte("# run 3\n"), events...), FormatText, ""},
		{"a line before the start line", append([]byte("Script started on 2026-12-07\n"), log...), FormatSystemLog,
			"x.log:2: this is a line of an oomtrace log (text), but line 1 is not: were lines added before the log? Remove them"},
		{"a line before events", append([]byte("THIS IS NOT A LOG\n"), events...), FormatSystemLog,
			"x.log:2: this is a line of an oomtrace log (text), but line 1 is not"},
		{"a line before JSON", append([]byte("output:\n"), jsonLog[bytes.IndexByte(jsonLog, '\n')+1:]...), FormatSystemLog,
			"x.log:2: this is a line of an oomtrace log (json), but line 1 is not"},
		{"lines before a JSON log", append([]byte("run 3\noutput:\n\n"), jsonLog...), FormatSystemLog,
			"x.log:4: this is a line of an oomtrace log (json), but line 1 is not"},
		{"a line before perf script", append([]byte("perf script output follows\n"), perf...), FormatSystemLog,
			"this is a line of perf script's output, but line 1 is not"},
	} {
		got, info, err := readAll("x.log", tc.data)
		switch {
		case tc.err == "" && (err != nil || len(got) != 3 || info.Format != tc.format):
			t.Errorf("%s: %d events, format %v, %v; want 3 events, format %v", tc.name, len(got), info.Format, err, tc.format)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %d events, %v; want the error %q", tc.name, len(got), err, tc.err)
		}
	}
}

// A log copied through a system that ends lines with CRLF reads as it was
// written, start and end lines included.
func TestCRLFLineEnds(t *testing.T) {
	for _, format := range []output.Format{output.Text, output.JSON} {
		log, err := os.ReadFile(writeLog(t, format, testEvents()))
		if err != nil {
			t.Fatal(err)
		}
		for _, data := range [][]byte{log, log[bytes.IndexByte(log, '\n')+1:]} {
			got, info, err := readAll("x.log", bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")))
			if err != nil || len(got) != 3 || info.End == nil || got[1].OOMKill.Victim.Comm != "hog" {
				t.Errorf("%v log with CRLF: %d events, end %v, %v", format, len(got), info.End, err)
			}
		}
	}
}

// A hole of NUL bytes (logrotate's copytruncate, the writer going on at
// its offset) is no line: a log after one reads whole, with a warning,
// however long the hole, and a capture too.
func TestNULHole(t *testing.T) {
	kernel, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "5.10-global.dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	capture, err := os.ReadFile(writeLog(t, output.Text, testEvents()))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		log    []byte
		format Format
		events int
	}{
		"kernel log": {kernel, FormatSystemLog, 1},
		"capture":    {capture, FormatText, 3},
	} {
		for _, hole := range []int{30_000, 3 * MaxLineBytes} {
			got, info, err := readAll("x.log", append(make([]byte, hole), tc.log...))
			if err != nil || info.Format != tc.format || len(got) != tc.events {
				t.Errorf("%s after a hole of %d NUL bytes: %d events, format %v, %v", name, hole, len(got), info.Format, err)
				continue
			}
			if len(info.Warnings) == 0 || !strings.Contains(info.Warnings[0], fmt.Sprintf("%d NUL bytes left out", hole)) {
				t.Errorf("%s after a hole of %d NUL bytes: warnings %q", name, hole, info.Warnings)
			}
		}
	}
}

// The first line of a kernel log is read like every other, though the
// reader looks past it to tell the format: here it is the head of the
// OOM report, which names the task that triggered the kill.
func TestKernelLogFirstLine(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "5.10-global.dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data[:bytes.IndexByte(data, '\n')], []byte("invoked oom-killer")) {
		t.Fatalf("the log does not start with the report's head:\n%.200s", data)
	}
	got, info, err := readAll("5.10-global.dmesg", data)
	if err != nil || info.Format != FormatSystemLog || len(got) == 0 {
		t.Fatalf("%d events, format %v, %v", len(got), info.Format, err)
	}
	if k := got[0].OOMKill; got[0].Kind != event.KindOOMKill || k.Trigger.PID != 87 || k.Trigger.Comm != "hog" {
		t.Errorf("first event %v, trigger %+v; want the kill triggered by 87 (hog)", got[0].Kind, k.Trigger)
	}
}

// Bytes after the end of a gzip stream (a disk image's zero padding,
// something appended) are passed over with a warning, as gzip -d does:
// the log before them is whole.
func TestGzipTrailingBytes(t *testing.T) {
	kernel, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "6.18-v1-rec-memcg.dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(kernel)
	zw.Close()
	for name, tail := range map[string][]byte{"zeros": make([]byte, 512), "text": []byte("appended after the stream\n")} {
		events, info, err := readAll("k.gz", append(slices.Clone(zipped.Bytes()), tail...))
		if err != nil || len(events) != 2 || events[1].Kind != event.KindOOMKill {
			t.Errorf("%s after the stream: %d events, %v; want both kills", name, len(events), err)
		}
		if !slices.ContainsFunc(info.Warnings, func(w string) bool { return strings.Contains(w, "bytes that are not gzip follow the gzip stream") }) {
			t.Errorf("%s after the stream: no warning says so: %q", name, info.Warnings)
		}
	}
}

// perf script --header's output of a recording without a sample is
// comments alone: a perf script capture with no event.
func TestOnlyComments(t *testing.T) {
	events, info, err := readAll("perf.txt", []byte("# ========\n# captured on    : Mon Dec  7 04:00:00 2026\n# ========\n#\n"))
	if err != nil || len(events) != 0 || info.Format != FormatPerf {
		t.Errorf("%d events, format %v, %v; want none, perf script", len(events), info.Format, err)
	}
}
