package output

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// fuzzKinds are the kinds fuzzEvent builds: the round trips check every
// field of the first roundTripKinds, FuzzHostileStrings the strings of all.
var fuzzKinds = [...]event.Kind{event.KindOOMKill, event.KindMemcgOOM, event.KindReclaim, event.KindKswapdWake,
	event.KindReaper, event.KindReclaimStats, event.KindLost, event.KindSample,
	event.KindSignal, event.KindExit, event.KindEviction, event.KindOOMSnapshot, event.KindOOMReport}

const roundTripKinds = 8

// fuzzEvent builds an event of any kind from fuzzer input. Every field is
// filled, including those the writer omits (a UID without HasUID, a cgroup
// id without a path), so that the round trip also checks what is left out.
func fuzzEvent(kind uint8, comm, path string, a uint64, b int64, flags uint16) event.Event {
	cgroup := func(path string, salt uint64) event.Cgroup {
		c := event.Cgroup{Path: path, ID: a ^ salt, UsageBytes: a >> (salt % 13), LimitBytes: a << (salt % 7), Truncated: flags&(1<<(salt%16)) != 0}
		if (a>>salt)&1 != 0 {
			c.LimitBytes = event.NoLimit
		}
		// Who owns it: names from runtimes and the kubelet, as hostile
		// as the kernel's. Owners are found from a cgroup's path, so only
		// a cgroup with one has an owner.
		if (a>>(salt+20))&1 != 0 && path != "" {
			c.Owner = event.Owner{Runtime: event.Runtime(comm), ID: path, Name: comm, PodUID: path, PodName: comm,
				Namespace: path, QoS: event.QoS(comm), Level: event.Level(path), Unit: comm, User: path}
		}
		return c
	}
	bit := func(n uint) bool { return flags&(1<<n) != 0 }
	ev := event.Event{
		Kind:    fuzzKinds[int(kind)%len(fuzzKinds)],
		KtimeNS: a,
		CPU:     uint32(b),
		Task:    event.Task{PID: uint32(a >> 32), TGID: uint32(a), Comm: comm},
	}
	if bit(0) {
		ev.Time = time.Unix(0, b).UTC()
	}
	switch ev.Kind {
	case event.KindOOMKill:
		half := path[:len(path)/2]
		ev.OOMKill = event.OOMKill{
			Class: event.Class(a % 6),
			Mode:  event.Mode(uint64(b) % 4),
			Victim: event.Victim{
				Task:        event.Task{PID: uint32(a >> 7), TGID: uint32(b), Comm: path},
				UID:         uint32(a >> 3),
				HasUID:      bit(1),
				OOMScoreAdj: int16(b),
				HasMM:       bit(2),
				RSSAnonKB:   a >> 1,
				RSSFileKB:   a >> 2,
				RSSShmemKB:  a >> 3,
				TotalVMKB:   a >> 4,
				PgtablesKB:  a >> 5,
				Cgroup:      cgroup(path, 1),
			},
			Trigger:       event.Task{PID: uint32(b >> 32), TGID: uint32(b >> 16), Comm: half},
			TriggerCgroup: cgroup(half, 2),
			OOMCgroup:     cgroup(comm, 3),
			HasControl:    bit(3),
			HasGFP:        bit(3) || bit(13),
			GFPMask:       uint32(a >> 11),
			Order:         int32(b >> 3),
			Points:        b,
			TotalPages:    a ^ uint64(b),
			VictimExiting: bit(4),
		}
		if bit(5) {
			ev.OOMKill.Stack = strings.Split(path, "/")
		}
		// What a kernel log may not show.
		ev.Missing = event.Missing(a>>17) & (event.MissingCgroupIDs<<1 - 1)
		if bit(8) {
			ev.OOMKill.Replayed = true
			ev.OOMKill.Group = event.Cgroup{Path: half}
		}
	case event.KindMemcgOOM:
		ev.MemcgOOM = event.MemcgOOM{Cgroup: cgroup(path, 4), GFPMask: uint32(b), Order: int32(a)}
	case event.KindReclaim:
		ev.Reclaim = event.Reclaim{
			Kind: event.ReclaimKind(a % 3), Duration: time.Duration(b), NrReclaimed: a >> 9,
			GFPMask: uint32(a), Order: int32(b >> 40), Cgroup: cgroup(path, 5),
		}
	case event.KindKswapdWake:
		ev.KswapdWake = event.KswapdWake{Node: int32(a), Zone: int32(b), Order: int32(a >> 32)}
	case event.KindReaper:
		ev.Reaper = event.Reaper{Step: event.ReaperStep(a % 4), VictimPID: uint32(b)}
	case event.KindReclaimStats:
		st := event.ReclaimStats{
			Kind: event.ReclaimKind(uint64(b) % 3), Cgroup: cgroup(path, 6),
			Interval: time.Duration(b), Count: a, Total: time.Duration(a), Max: time.Duration(-b),
		}
		for i := range st.Buckets {
			if bit(uint(i % 16)) {
				st.Buckets[i] = a >> i
			}
		}
		ev.ReclaimStats = st
	case event.KindLost:
		ev.Lost = event.Lost{Count: a, Total: uint64(b)}
		if bit(6) {
			ev.Lost.SkippedRuns, ev.Lost.SkippedRunsTotal, ev.Lost.SkippedByProgram = a>>1, a|1, comm
		}
	case event.KindSignal:
		ev.Signal = event.Signal{
			Sender: event.Task{PID: uint32(a), TGID: uint32(a >> 8), Comm: comm}, SenderCgroup: cgroup(path, 8),
			Target: event.Task{PID: uint32(b), TGID: uint32(b >> 8), Comm: path}, TargetCgroup: cgroup(comm, 9),
			Signal: int32(a % 65), Code: int32(b), Group: bit(1), SenderClass: event.SenderClass(a % 7),
		}
	case event.KindExit:
		ev.Exit = event.Exit{
			Cgroup: cgroup(path, 10), ExitCode: uint32(a), Cause: event.Cause(a % 4), EvidenceKtimeNS: uint64(b),
			OOMClass: event.Class(uint64(b) % 6), Sender: event.Task{PID: uint32(b), TGID: uint32(a), Comm: comm},
			SenderCgroup: cgroup(comm, 11), SenderClass: event.SenderClass(uint64(b) % 7), Code: int32(a >> 3),
			TermSender: event.Task{PID: uint32(a >> 5), Comm: path}, TermBefore: time.Duration(b), Why: path + comm,
		}
	case event.KindEviction:
		owner := cgroup(path, 12).Owner
		owner.PodName, owner.Namespace = comm, path
		ev.Eviction = event.Eviction{Pod: owner, Resource: comm, Threshold: path, Available: comm, Message: path,
			Succeeded: bit(1), Why: comm + path}
	case event.KindOOMSnapshot:
		ev.OOMSnapshot = event.OOMSnapshot{KillKtimeNS: uint64(b), Victim: event.Task{PID: uint32(a), TGID: uint32(b), Comm: comm},
			VictimCgroup: cgroup(path, 13), Class: event.Class(a % 6), OOMCgroup: cgroup(comm, 14), Why: path}
	case event.KindOOMReport:
		ev.OOMReport = event.OOMReport{KillKtimeNS: uint64(b), Victim: event.Task{PID: uint32(a), TGID: uint32(b), Comm: path},
			VictimCgroup: cgroup(comm, 15), Class: event.Class(uint64(b) % 6), OOMCgroup: cgroup(path, 16),
			HasGFP: bit(1), GFPMask: uint32(a), Order: int32(b), Why: comm}
	case event.KindSample:
		ev.Sample = event.Sample{
			HighBytes: a >> 3, HasHigh: bit(1),
			MemTotalBytes: a, MemAvailableBytes: uint64(b),
			HasPressure: bit(2),
			SomeAvg10:   float64(a%10001) / 100, FullAvg10: float64(uint64(b)%10001) / 100,
			SomeTotal: time.Duration(b), FullTotal: time.Duration(a >> 1),
		}
		if bit(3) {
			ev.Sample.Cgroup = cgroup(path, 7)
		}
	}
	return ev
}

func addRoundTripSeeds(f *testing.F) {
	f.Add(uint8(0), []byte("hog"), []byte("/t"), uint64(5123456789012), int64(12922), uint16(0xffff))
	f.Add(uint8(0), []byte("x\n victim.pid=1"), []byte("/a b/\"c\"/\xff"), uint64(1<<63), int64(-1), uint16(0x2f))
	f.Add(uint8(1), []byte("\x1b[31m"), []byte(`\x41\`), ^uint64(0), int64(-1<<63), uint16(1))
	f.Add(uint8(2), []byte(""), []byte(""), uint64(0), int64(0), uint16(0))
	f.Add(uint8(5), []byte(`""`), []byte("/,/,"), uint64(77), int64(3), uint16(0xaaaa))
	f.Add(uint8(6), []byte("{\"event\":\"lost\"}"), []byte("\x00"), uint64(9), int64(9), uint16(9))
	f.Add(uint8(7), []byte("oomtrace"), []byte("/<script>\"x\"</script>"), uint64(3<<30), int64(1<<20), uint16(0xe))
	f.Add(uint8(7), []byte("oomtrace"), []byte(""), uint64(24<<30), int64(-1), uint16(0x6))
}

func FuzzTextRoundTrip(f *testing.F) {
	addRoundTripSeeds(f)
	f.Fuzz(func(t *testing.T, kind uint8, comm, path []byte, a uint64, b int64, flags uint16) {
		ev := fuzzEvent(kind%roundTripKinds, string(comm), string(path), a, b, flags)
		opts := Options{Stacks: flags&(1<<6) != 0}
		if flags&(1<<7) != 0 {
			// Flag names come from elsewhere: hostile ones must not break
			// the line either.
			opts.GFPNames = gfpNamesOf(string(comm))
		}
		line := AppendText(nil, &ev, opts)
		checkLine(t, line)
		checkGates(t, &ev)
		got, err := ParseText(line)
		if err != nil {
			t.Fatalf("ParseText(%s): %v", line, err)
		}
		if want := textFields(ev, opts); !sameEvent(got, want) {
			t.Fatalf("ParseText(%s):\n got %+v\nwant %+v", line, got, want)
		}
	})
}

func FuzzJSONRoundTrip(f *testing.F) {
	addRoundTripSeeds(f)
	f.Fuzz(func(t *testing.T, kind uint8, comm, path []byte, a uint64, b int64, flags uint16) {
		ev := fuzzEvent(kind%roundTripKinds, string(comm), string(path), a, b, flags)
		opts := Options{Stacks: flags&(1<<6) != 0}
		if flags&(1<<7) != 0 {
			opts.GFPNames = gfpNamesOf(string(comm))
		}
		line := AppendJSON(nil, &ev, opts)
		checkLine(t, line)
		if !json.Valid(line) {
			t.Fatalf("invalid JSON: %s", line)
		}
		got, err := ParseJSON(line)
		if err != nil {
			t.Fatalf("ParseJSON(%s): %v", line, err)
		}
		if want := jsonFields(ev, opts); !sameEvent(got, want) {
			t.Fatalf("ParseJSON(%s):\n got %+v\nwant %+v", line, got, want)
		}
	})
}

// FuzzHostileStrings writes events of every kind whose names (comms,
// cgroup paths, pods, containers, sentences) are the fuzzer's, in both
// formats. Each line must be one line of printable ASCII that parses back,
// with the names that are always written as they were, and writing what
// was parsed must give the same line: no name can end a line, add a key
// or change another value.
func FuzzHostileStrings(f *testing.F) {
	addRoundTripSeeds(f)
	for kind := roundTripKinds; kind < len(fuzzKinds); kind++ {
		f.Add(uint8(kind), []byte("x\n why=\"forged\""), []byte("/a b/\"c\"/\xff\u202e"), ^uint64(0), int64(-1), uint16(0xffff))
	}
	f.Fuzz(func(t *testing.T, kind uint8, comm, path []byte, a uint64, b int64, flags uint16) {
		ev := fuzzEvent(kind, string(comm), string(path), a, b, flags)
		for _, format := range []struct {
			name   string
			append func([]byte, *event.Event, Options) []byte
			parse  func([]byte) (event.Event, error)
		}{{"text", AppendText, ParseText}, {"JSON", AppendJSON, ParseJSON}} {
			line := format.append(nil, &ev, Options{Stacks: true})
			checkLine(t, line)
			got, err := format.parse(line)
			if err != nil {
				t.Fatalf("%s: parse %s: %v", format.name, line, err)
			}
			sameComm := got.Task.Comm == ev.Task.Comm || ev.Missing.Lacks(event.MissingTask) // written "-"
			if !sameComm || whyOf(&got) != whyOf(&ev) {
				t.Fatalf("%s: %s parsed to comm %q, why %q; want %q, %q", format.name, line, got.Task.Comm, whyOf(&got), ev.Task.Comm, whyOf(&ev))
			}
			if again := format.append(nil, &got, Options{Stacks: true}); string(again) != string(line) {
				t.Fatalf("%s: written again differs:\n%s%s", format.name, line, again)
			}
		}
	})
}

// whyOf is the sentence of the kinds that have one.
func whyOf(ev *event.Event) string {
	switch ev.Kind {
	case event.KindExit:
		return ev.Exit.Why
	case event.KindEviction:
		return ev.Eviction.Why
	case event.KindOOMSnapshot:
		return ev.OOMSnapshot.Why
	case event.KindOOMReport:
		return ev.OOMReport.Why
	}
	return ""
}

// FuzzParse feeds the parsers arbitrary lines. They must not panic, and
// every line they accept must mean one event: writing that event and
// parsing it again gives the same event, in either format.
func FuzzParse(f *testing.F) {
	goldens, err := filepath.Glob(filepath.Join(goldenDir, "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range goldens {
		line, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(line)
	}
	f.Add([]byte(`hog 1/2 [000] 1.000000: oomtrace:lost count=1 total=2`))
	f.Add([]byte(`"" 1/2 [000] 1.000000: oomtrace:reaper step=wake victim.pid="1\x"`))
	f.Add([]byte(`{"event":"reaper","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"a","step":"wake","victim":{"pid":1}}`))
	f.Add([]byte(`{"event":"lost","time":"2025-01-01T00:00:00+01:00","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"\\xff","count":1,"total":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		opts := Options{Stacks: true}
		for name, parse := range map[string]func([]byte) (event.Event, error){"Parse": Parse, "ParseText": ParseText, "ParseJSON": ParseJSON} {
			ev, err := parse(line)
			if err != nil {
				if err.Error() == "" {
					t.Fatalf("%s: empty error", name)
				}
				continue
			}
			text := AppendText(nil, &ev, opts)
			checkLine(t, text)
			again, err := ParseText(text)
			if err != nil {
				t.Fatalf("%s(%q) then ParseText(%s): %v", name, line, text, err)
			}
			if want := textFields(ev, opts); !sameEvent(again, want) {
				t.Fatalf("%s(%q) then ParseText(%s):\n got %+v\nwant %+v", name, line, text, again, want)
			}
			jsonLine := AppendJSON(nil, &ev, opts)
			checkLine(t, jsonLine)
			again, err = ParseJSON(jsonLine)
			if err != nil {
				t.Fatalf("%s(%q) then ParseJSON(%s): %v", name, line, jsonLine, err)
			}
			if !sameEvent(again, ev) {
				t.Fatalf("%s(%q) then ParseJSON(%s):\n got %+v\nwant %+v", name, line, jsonLine, again, ev)
			}
		}
	})
}

// FuzzSplitObject holds the fast JSON object splitter to the decoder it
// stands in for: wherever it answers, it answers the same.
func FuzzSplitObject(f *testing.F) {
	f.Add([]byte(`{"event":"reaper","ktime_ns":1,"victim":{"pid":1},"stack":["a","b"]}`))
	f.Add([]byte(" { \"a\" : [ {\"}\":\"]\"} ] , \"b\":\"\\\"\" }\n"))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"\u0061":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := splitObject(nil, data)
		if !ok {
			return
		}
		slow, err := decodeObjectSlowly(data)
		if err != nil {
			t.Fatalf("splitObject(%q) = %q, decoder: %v", data, fast, err)
		}
		if len(fast) != len(slow) {
			t.Fatalf("splitObject(%q) = %q, decoder %q", data, fast, slow)
		}
		for i := range fast {
			if string(fast[i].key) != string(slow[i].key) || string(fast[i].value) != string(slow[i].value) {
				t.Fatalf("splitObject(%q) = %q, decoder %q", data, fast, slow)
			}
		}
	})
}
