package gate

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/report"
)

// capture describes a synthetic capture.
type captureSpec struct {
	kills []event.Class
	lost  uint64
	// skipped are runs the kernel skipped, of the programs skippedBy
	// names.
	skipped   uint64
	skippedBy string
	reclaims  map[event.ReclaimKind][]time.Duration
}

func build(spec captureSpec) *report.Report {
	a := report.New(report.Options{})
	at := uint64(1e9)
	for kind, durations := range spec.reclaims {
		for _, d := range durations {
			at += 1e6
			ev := event.Event{Kind: event.KindReclaim, KtimeNS: at, Task: event.Task{PID: 5, TGID: 5, Comm: "db"},
				Reclaim: event.Reclaim{Kind: kind, Duration: d, Cgroup: event.Cgroup{Path: "/db", ID: 2}}}
			a.Add(&ev)
		}
	}
	for i, class := range spec.kills {
		at += 1e6
		ev := event.Event{Kind: event.KindOOMKill, KtimeNS: at, OOMKill: event.OOMKill{Class: class,
			Victim:    event.Victim{Task: event.Task{PID: uint32(100 + i), TGID: uint32(100 + i), Comm: "worker"}},
			OOMCgroup: event.Cgroup{Path: "/pod", ID: 3}}}
		a.Add(&ev)
	}
	if spec.lost > 0 {
		ev := event.Event{Kind: event.KindLost, KtimeNS: at, Lost: event.Lost{Count: spec.lost, Total: spec.lost}}
		a.Add(&ev)
	}
	if spec.skipped > 0 {
		ev := event.Event{Kind: event.KindLost, KtimeNS: at + 1, Lost: event.Lost{Total: spec.lost,
			SkippedRuns: spec.skipped, SkippedRunsTotal: spec.skipped, SkippedByProgram: spec.skippedBy}}
		a.Add(&ev)
	}
	a.EndCapture(capture.Info{Name: "run.log", Format: capture.FormatPerf})
	return a.Report()
}

func ms(n ...int) []time.Duration {
	var out []time.Duration
	for _, v := range n {
		out = append(out, time.Duration(v)*time.Millisecond)
	}
	return out
}

// rules builds Rules from "name value" pairs, as a rules file has them.
func rules(t *testing.T, lines ...string) Rules {
	t.Helper()
	var r Rules
	if err := r.Read(strings.NewReader(strings.Join(lines, "\n")), "rules"); err != nil {
		t.Fatal(err)
	}
	return r
}

func check(t *testing.T, r Rules, cur, base *report.Report) []Result {
	t.Helper()
	results, err := Check(r, cur, base)
	if err != nil {
		t.Fatal(err)
	}
	return results
}

func find(t *testing.T, results []Result, rule string) Result {
	t.Helper()
	for _, r := range results {
		if r.Rule == rule {
			return r
		}
	}
	t.Fatalf("no result for %q in %+v", rule, results)
	return Result{}
}

// Every rule, passing on one capture and failing on another.
func TestEveryRule(t *testing.T) {
	quiet := build(captureSpec{kills: []event.Class{event.ClassMemcg},
		reclaims: map[event.ReclaimKind][]time.Duration{event.ReclaimMemcg: ms(1, 1, 2), event.ReclaimDirect: ms(1)}})
	busy := build(captureSpec{kills: []event.Class{event.ClassMemcg, event.ClassGlobal, event.ClassGlobal}, lost: 3,
		skipped: 5, skippedBy: "direct_reclaim_end:4,mark_victim:1",
		reclaims: map[event.ReclaimKind][]time.Duration{event.ReclaimMemcg: ms(1, 1, 40), event.ReclaimDirect: ms(90, 100)}})
	for _, tc := range []struct {
		rule, name   string
		measuredFail string
		detailFail   string
	}{
		{"max-lost 0", "max-lost 0", "3 events lost", "3 lost"},
		{"max-skipped-runs 4", "max-skipped-runs 4", "5 runs skipped", "run.log: 5 skipped (direct_reclaim_end:4,mark_victim:1)"},
		{"max-kills 1", "max-kills 1", "3 kills", "killed 101 (worker), global, oom cgroup /pod, in run.log"},
		{"max-kills-class global=0", "max-kills-class global=0", "2 global kills", "killed 102 (worker), global"},
		{"max-reclaim-p99 memcg=10ms", "max-reclaim-p99 memcg=10ms", "memcg reclaim p99 40ms", "memcg reclaim of 40ms by 5 (db) in /db, in run.log"},
		{"max-reclaim-p99 50ms", "max-reclaim-p99 50ms", "all reclaim p99 100ms", "direct reclaim of 100ms"},
		{"max-reclaim-total direct=10ms", "max-reclaim-total direct=10ms", "direct reclaim total stall 190ms", "direct reclaim of 90ms"},
		{"max-reclaim-total 100ms", "max-reclaim-total 100ms", "all reclaim total stall 232ms", "5 episodes, total 232ms"},
	} {
		r := rules(t, tc.rule)
		pass := find(t, check(t, r, quiet, nil), tc.name)
		if !pass.Passed || len(pass.Details) != 0 {
			t.Errorf("%s on the quiet capture: %+v", tc.rule, pass)
		}
		fail := find(t, check(t, r, busy, nil), tc.name)
		if fail.Passed || fail.Measured != tc.measuredFail || !strings.Contains(strings.Join(fail.Details, "\n"), tc.detailFail) {
			t.Errorf("%s on the busy capture: %+v, want measured %q and a detail with %q", tc.rule, fail, tc.measuredFail, tc.detailFail)
		}
	}
}

// max-skipped-runs counts the skipped runs of the programs that record
// what the other rules read, and names the others without counting them.
func TestSkippedRunsTheRulesRead(t *testing.T) {
	for _, tc := range []struct {
		rule      string
		skipped   uint64
		skippedBy string
		measured  string
		detail    string // of the failure; "" when it passes
	}{
		{"max-kills 0", 5, "process_exit:5", "0 runs skipped, not counting process_exit:5, whose records no rule reads", ""},
		{"max-kills 0", 6, "mark_victim:1,process_exit:5", "1 run skipped, not counting process_exit:5, whose records no rule reads",
			"run.log: 1 skipped (mark_victim:1)"},
		{"max-kills-class memcg=0", 3, "fexit_oom_kill_process:1,kswapd_wake:2", "1 run skipped, not counting kswapd_wake:2, whose records no rule reads",
			"run.log: 1 skipped (fexit_oom_kill_process:1)"},
		{"max-reclaim-p99 1s", 5, "direct_reclaim_end:4,mark_victim:1", "4 runs skipped, not counting mark_victim:1, whose records no rule reads",
			"run.log: 4 skipped (direct_reclaim_end:4)"},
		{"max-reclaim-total memcg=1s", 2, "signal_generate:2", "0 runs skipped, not counting signal_generate:2, whose records no rule reads", ""},
		// A death's cause is a kill's or a signal's.
		{"max-deaths-cause signal=5", 4, "mark_victim:1,memcg_reclaim_end:2,process_exit:1", "2 runs skipped, not counting memcg_reclaim_end:2, whose records no rule reads",
			"run.log: 2 skipped (mark_victim:1,process_exit:1)"},
		// Without rules that read events, the capture must be whole.
		{"max-lost 0", 5, "process_exit:4,wake_reaper:1", "5 runs skipped", "run.log: 5 skipped (process_exit:4,wake_reaper:1)"},
		// A program this oomtrace does not know may have recorded anything.
		{"max-kills 0", 3, "a_later_program:2,process_exit:1", "2 runs skipped, not counting process_exit:1, whose records no rule reads",
			"run.log: 2 skipped (a_later_program:2)"},
		// Runs no program accounts for count too.
		{"max-kills 0", 7, "process_exit:5", "2 runs skipped, not counting process_exit:5, whose records no rule reads",
			"run.log: 2 skipped (2 of no named program)"},
		{"max-kills 0", 7, "mark_victim:1,process_exit:5", "2 runs skipped, not counting process_exit:5, whose records no rule reads",
			"run.log: 2 skipped (mark_victim:1 and 1 of no named program)"},
		// An unreadable list counts every run, and says why.
		{"max-kills 0", 4, "process_exit=4", "4 runs skipped",
			`run.log: 4 skipped (skipped runs by program: want NAME:COUNT, not "process_exit=4")`},
	} {
		name := tc.rule + " with " + tc.skippedBy
		rep := build(captureSpec{skipped: tc.skipped, skippedBy: tc.skippedBy})
		got := find(t, check(t, rules(t, tc.rule), rep, nil), "max-skipped-runs 0")
		if got.Measured != tc.measured || got.Passed != (tc.detail == "") || strings.Join(got.Details, "\n") != tc.detail {
			t.Errorf("%s: %+v\nwant measured %q, details %q", name, got, tc.measured, tc.detail)
		}
	}
	// A limit allows what it says of the counted runs.
	rep := build(captureSpec{skipped: 6, skippedBy: "mark_victim:1,process_exit:5"})
	if got := find(t, check(t, rules(t, "max-kills 0", "max-skipped-runs 1"), rep, nil), "max-skipped-runs 1"); !got.Passed {
		t.Errorf("max-skipped-runs 1 with one counted run: %+v", got)
	}
	// A regression reads kills and reclaim.
	base := build(captureSpec{})
	r := rules(t, "max-regression 10")
	if got := find(t, check(t, r, rep, base), "max-skipped-runs 0"); got.Passed || got.Measured != "1 run skipped, not counting process_exit:5, whose records no rule reads" {
		t.Errorf("max-regression: %+v", got)
	}
}

// Lost events and skipped runs are always checked, against 0 unless told
// otherwise.
func TestLostAlwaysChecked(t *testing.T) {
	lossy := build(captureSpec{lost: 2, skipped: 1, skippedBy: "process_exit:1"})
	results := check(t, Rules{}, lossy, nil)
	if len(results) != 2 || results[0].Passed || results[0].Rule != "max-lost 0" || results[1].Passed || results[1].Rule != "max-skipped-runs 0" {
		t.Errorf("results %+v", results)
	}
	if results := check(t, rules(t, "max-lost 2", "max-skipped-runs 1"), lossy, nil); !results[0].Passed || !results[1].Passed {
		t.Errorf("max-lost 2 with 2 lost, max-skipped-runs 1 with 1 skipped: %+v", results)
	}
}

func TestRegression(t *testing.T) {
	base := build(captureSpec{kills: []event.Class{event.ClassMemcg},
		reclaims: map[event.ReclaimKind][]time.Duration{event.ReclaimMemcg: ms(10, 10, 20)}})
	same := build(captureSpec{kills: []event.Class{event.ClassMemcg},
		reclaims: map[event.ReclaimKind][]time.Duration{event.ReclaimMemcg: ms(10, 11, 21)}})
	worse := build(captureSpec{kills: []event.Class{event.ClassMemcg, event.ClassMemcg},
		reclaims: map[event.ReclaimKind][]time.Duration{event.ReclaimMemcg: ms(10, 10, 30), event.ReclaimDirect: ms(1)}})
	r := rules(t, "max-regression 10")

	for _, res := range check(t, r, same, base) {
		if !res.Passed {
			t.Errorf("a capture within 10%% of its baseline failed: %+v", res)
		}
	}
	results := check(t, r, worse, base)
	for rule, want := range map[string]string{
		"max-regression 10%: kills":                      "2, baseline 1 (+100.0%)",
		"max-regression 10%: all reclaim p99":            "30ms, baseline 20ms (+50.0%)",
		"max-regression 10%: all reclaim total stall":    "51ms, baseline 40ms (+27.5%)",
		"max-regression 10%: memcg reclaim p99":          "30ms, baseline 20ms (+50.0%)",
		"max-regression 10%: direct reclaim p99":         "1ms, baseline 0ns (new: none in the baseline)",
		"max-regression 10%: direct reclaim total stall": "1ms, baseline 0ns (new: none in the baseline)",
	} {
		res := find(t, results, rule)
		if res.Passed || res.Measured != want || len(res.Details) == 0 {
			t.Errorf("%s: %+v, want a failure measuring %q", rule, res, want)
		}
	}
	if res := find(t, results, "max-regression 10%: memcg reclaim total stall"); res.Passed {
		t.Errorf("memcg total 50ms against 40ms passed a 10%% limit: %+v", res)
	}
	if _, err := Check(r, worse, nil); !errors.Is(err, errNoBaseline) {
		t.Errorf("regression limit without a baseline: %v", err)
	}
	if _, err := Check(Rules{}, worse, base); !errors.Is(err, errNoBaseline) {
		t.Errorf("baseline without a regression limit: %v", err)
	}
}

func TestRuleSyntax(t *testing.T) {
	r := rules(t,
		"# limits of the nightly load test",
		"",
		"max-kills 3",
		"max-kills=0",
		"--max-kills-class global=0",
		"max-reclaim-p99 memcg=5ms",
		"max-reclaim-p99 2ms",
		"max-regression 12.5%",
	)
	if *r.MaxKills != 0 || r.MaxKillsClass[event.ClassGlobal] != 0 || r.MaxReclaimP99["memcg"] != 5*time.Millisecond ||
		r.MaxReclaimP99[AllKinds] != 2*time.Millisecond || *r.MaxRegression != 12.5 {
		t.Errorf("rules %+v", r)
	}
	for _, tc := range []struct{ line, want string }{
		{"max-kills", "rules:1: want NAME VALUE"},
		{"max-kills -1", "rules:1: max-kills: want a count"},
		{"max-kills-class huge=1", "unknown OOM class"},
		{"max-kills-class memcg", "want CLASS=N"},
		{"max-reclaim-p99 kswapd=1ms", "unknown reclaim kind"},
		{"max-reclaim-total soon", "want a duration"},
		{"max-regression -5", "want a percentage"},
		{"min-kills 1", `unknown rule "min-kills"`},
	} {
		var r Rules
		err := r.Read(strings.NewReader(tc.line), "rules")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.line, err, tc.want)
		}
	}
}

func TestWriteText(t *testing.T) {
	busy := build(captureSpec{kills: []event.Class{event.ClassMemcg}})
	var buf bytes.Buffer
	if err := WriteText(&buf, check(t, rules(t, "max-kills 0"), busy, nil)); err != nil {
		t.Fatal(err)
	}
	want := "PASS  max-lost 0: 0 events lost (limit 0)\n" +
		"PASS  max-skipped-runs 0: 0 runs skipped (limit 0)\n" +
		"FAIL  max-kills 0: 1 kill (limit 0)\n" +
		"        boot+1.001000s: killed 100 (worker), memcg, oom cgroup /pod, in run.log\n" +
		"gate: 1 of 3 rules failed\n"
	if buf.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestJUnit(t *testing.T) {
	busy := build(captureSpec{kills: []event.Class{event.ClassMemcg}})
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "run.log", check(t, rules(t, "max-kills 0", "max-kills-class global=0"), busy, nil), nil); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit report is not XML: %v\n%s", err, buf.String())
	}
	s := doc.Suites[0]
	if doc.Tests != 4 || doc.Failures != 1 || s.Tests != 4 || s.Failures != 1 || len(s.Cases) != 4 {
		t.Fatalf("JUnit report %+v", doc)
	}
	failed := s.Cases[2]
	if failed.Name != "max-kills 0" || failed.Failure == nil || failed.Failure.Message != "1 kill, limit 0" ||
		!strings.Contains(failed.Failure.Text, "killed 100 (worker)") || s.Cases[0].Failure != nil || s.Cases[1].Failure != nil || s.Cases[3].Failure != nil {
		t.Errorf("test cases %+v", s.Cases)
	}

	buf.Reset()
	if err := WriteJUnit(&buf, "run.log", nil, errors.New("run.log:3: bad <line>")); err != nil {
		t.Fatal(err)
	}
	doc = junitSuites{}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil || doc.Errors != 1 || doc.Suites[0].Cases[0].Error == nil ||
		doc.Suites[0].Cases[0].Error.Message != "run.log:3: bad <line>" {
		t.Errorf("JUnit report of unreadable input: %v\n%s", err, buf.String())
	}
}

// A rules file that cannot be read names the line where it stopped.
func TestRulesLineTooLong(t *testing.T) {
	var r Rules
	in := "max-kills 0\n# " + strings.Repeat("x", 100_000) + "\n"
	if err := r.Read(strings.NewReader(in), "ci.rules"); err == nil || !strings.Contains(err.Error(), "ci.rules:2:") {
		t.Errorf("a line of 100 kB: %v, want an error at ci.rules:2", err)
	}
}
