package output

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"testing"
	"time"
	"unsafe"

	"github.com/oomtrace/oomtrace/internal/event"
)

// formats are the two formats, with their writers and parsers.
var formats = []struct {
	name     string
	append   func([]byte, *event.Event, Options) []byte
	parse    func(*Parser, []byte, *event.Event) error
	parseNew func([]byte) (event.Event, error)
}{
	{"text", AppendText, (*Parser).ParseText, ParseText},
	{"json", AppendJSON, (*Parser).ParseJSON, ParseJSON},
}

// Parsing a line into an event that held another, of any kind, gives the
// event parsing it into a zero event gives: nothing of the other is left.
// After a bad line the event is zero.
func TestParserOverwritesEvent(t *testing.T) {
	cases := goldenCases()
	for _, f := range formats {
		p := NewParser()
		for _, before := range cases {
			for _, tc := range cases {
				line := f.append(nil, &tc.ev, Options{Stacks: true})
				want, err := f.parseNew(line)
				if err != nil {
					t.Fatal(err)
				}
				var ev event.Event
				if err := f.parse(p, f.append(nil, &before.ev, Options{Stacks: true}), &ev); err != nil {
					t.Fatal(err)
				}
				if err := f.parse(p, line, &ev); err != nil {
					t.Fatalf("%s: %s: %v", f.name, line, err)
				}
				if !sameEvent(ev, want) {
					t.Errorf("%s: %s after %s:\n got %+v\nwant %+v", f.name, tc.name, before.name, ev, want)
				}
				if err := f.parse(p, line[:len(line)/2], &ev); err == nil {
					t.Fatalf("%s: half a line parsed: %s", f.name, line[:len(line)/2])
				}
				if !sameEvent(ev, event.Event{}) {
					t.Errorf("%s: %s after a bad line: %+v", f.name, tc.name, ev)
				}
			}
		}
	}
}

// reclaimLine is a reclaim event as a busy host's log holds millions of.
func reclaimLine(path string) event.Event {
	return event.Event{
		Kind: event.KindReclaim, Time: time.Date(2026, 1, 1, 0, 0, 0, 100_000, time.UTC), KtimeNS: 1000_000100000, CPU: 1,
		Task: event.Task{PID: 2026, TGID: 2026, Comm: "worker"},
		Reclaim: event.Reclaim{Kind: event.ReclaimMemcg, Duration: 58943, NrReclaimed: 32, GFPMask: 0x100cca,
			Cgroup: event.Cgroup{Path: path, ID: 1026, UsageBytes: 1 << 30, LimitBytes: 1 << 30}},
	}
}

// A Parser reads a line like the ones before it without allocating: the
// names repeat, and its scratch space is reused.
func TestParserDoesNotAllocate(t *testing.T) {
	ev := reclaimLine("/kubepods/burstable/pod26/worker")
	for _, f := range formats {
		line := f.append(nil, &ev, Options{})
		p := NewParser()
		var got event.Event
		if err := f.parse(p, line, &got); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := f.parse(p, line, &got); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: a reclaim line allocates %.0f times", f.name, allocs)
		}
	}
}

// Four names that hash to the same set of the table are all kept: with one
// slot per hash, two names of one line that hashed alike made every line of
// it allocate both again.
func TestStringTableKeepsNamesThatHashAlike(t *testing.T) {
	table := &stringTable{seed: maphash.MakeSeed()}
	setOf := func(b []byte) uint64 { return maphash.Bytes(table.seed, b) % (stringSlots / stringWays) }
	var names [][]byte
	for i := 0; len(names) < 4; i++ {
		b := fmt.Appendf(nil, "name-%d", i)
		if setOf(b) == setOf([]byte("name-0")) {
			names = append(names, b)
		}
	}
	for _, b := range names {
		table.get(b)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range names {
			if got := table.get(b); got != string(b) {
				t.Fatalf("got %q for %q", got, b)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%d names of one set allocate %.0f times a round", len(names), allocs)
	}
	// One more pushes the oldest out, and every name still comes back right.
	extra := []byte("name-extra")
	for i := 0; setOf(extra) != setOf(names[0]); i++ {
		extra = fmt.Appendf(nil, "name-extra-%d", i)
	}
	for _, b := range append(names, extra) {
		if got := table.get(b); got != string(b) {
			t.Errorf("got %q for %q", got, b)
		}
	}
}

// A Parser hands out one string for the same name, and the right one for
// many more names than it keeps.
func TestParserKeepsStrings(t *testing.T) {
	for _, f := range formats {
		p := NewParser()
		var first, again event.Event
		line := f.append(nil, new(reclaimLine("/kubepods/pod1")), Options{})
		if err := f.parse(p, line, &first); err != nil {
			t.Fatal(err)
		}
		if err := f.parse(p, line, &again); err != nil {
			t.Fatal(err)
		}
		if unsafe.StringData(first.Reclaim.Cgroup.Path) != unsafe.StringData(again.Reclaim.Cgroup.Path) {
			t.Errorf("%s: the same path made twice", f.name)
		}
		for round := range 2 {
			for i := range 3 * stringSlots {
				path := fmt.Sprintf("/kubepods/pod%d", i)
				var ev event.Event
				if err := f.parse(p, f.append(nil, new(reclaimLine(path)), Options{}), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Reclaim.Cgroup.Path != path {
					t.Fatalf("%s: round %d: path %q, want %q", f.name, round, ev.Reclaim.Cgroup.Path, path)
				}
			}
		}
	}
}

// BenchmarkParser reads reclaim lines as a capture reader does, one Event
// and one Parser for all of them.
func BenchmarkParser(b *testing.B) {
	ev := reclaimLine("/kubepods/burstable/pod26/worker")
	for _, f := range formats {
		b.Run(f.name, func(b *testing.B) {
			line := f.append(nil, &ev, Options{})
			p := NewParser()
			var got event.Event
			b.ReportAllocs()
			for b.Loop() {
				if err := f.parse(p, line, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzParseUTCTime holds the fast reader of JSON times to time.Parse:
// wherever it answers, it answers the same.
func FuzzParseUTCTime(f *testing.F) {
	for _, s := range []string{
		`"2026-01-01T00:00:00Z"`, `"2026-01-01T00:00:00.0001Z"`, `"2024-02-29T23:59:59.999999999Z"`,
		`"2025-02-29T00:00:00Z"`, `"2026-13-01T00:00:00Z"`, `"2026-01-01T24:00:00Z"`, `"2026-01-01T00:00:60Z"`,
		`"0000-01-01T00:00:00Z"`, `"2026-01-01T00:00:00.Z"`, `"2026-01-01T00:00:00.1234567890Z"`,
		`"2026-01-01T00:00:00+01:00"`, `"2026-01-01t00:00:00z"`, `"2026-1-01T00:00:00Z"`, `"+026-01-01T00:00:00Z"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := parseUTCTime(raw)
		if !ok {
			return
		}
		if len(raw) < 2 {
			t.Fatalf("parseUTCTime(%q) = %v from no string", raw, fast)
		}
		slow, err := time.Parse(time.RFC3339Nano, string(raw[1:len(raw)-1]))
		if err != nil {
			t.Fatalf("parseUTCTime(%q) = %v, time.Parse: %v", raw, fast, err)
		}
		if slow = slow.UTC(); fast != slow {
			t.Fatalf("parseUTCTime(%q) = %v, time.Parse %v", raw, fast, slow)
		}
	})
}

func TestParseUTCTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{`"2026-01-01T00:00:00Z"`, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{`"2026-01-01T00:00:00.0001Z"`, time.Date(2026, 1, 1, 0, 0, 0, 100_000, time.UTC), true},
		{`"2024-02-29T23:59:59.123456789Z"`, time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC), true},
		{`"2025-02-29T00:00:00Z"`, time.Time{}, false}, // no such day: time.Parse says so
		{`"2026-01-01T00:00:00+01:00"`, time.Time{}, false},
		{`"2026-01-01T00:00:00.Z"`, time.Time{}, false},
	} {
		got, ok := parseUTCTime([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseUTCTime(%s) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParserReuse holds one Parser reading line after line into one Event
// to the parsers reading each line alone: the same event, or the same
// error.
func FuzzParserReuse(f *testing.F) {
	for _, tc := range goldenCases() {
		var lines []byte
		for _, c := range goldenCases()[:3] {
			lines = AppendText(lines, &c.ev, tc.opts)
		}
		f.Add(AppendText(lines, &tc.ev, tc.opts))
		f.Add(AppendJSON(AppendJSON(nil, &tc.ev, tc.opts), &tc.ev, Options{}))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParser()
		var ev event.Event
		for line := range bytes.Lines(data) {
			parse, parseNew := p.ParseText, ParseText
			if IsJSON(line) {
				parse, parseNew = p.ParseJSON, ParseJSON
			}
			err := parse(line, &ev)
			want, wantErr := parseNew(line)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !sameEvent(ev, want) {
				t.Fatalf("%q: reused parser %+v, %v\nalone %+v, %v", line, ev, err, want, wantErr)
			}
		}
	})
}
