package bench

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSample(t *testing.T) {
	s := sample{5, 1, math.NaN(), 3, 2, 4}
	if got := s.median(); got != 3 {
		t.Errorf("median of %v = %v, want 3", s, got)
	}
	if got := (sample{4, 1, 3, 2}).median(); got != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", got)
	}
	if got := s.min(); got != 1 {
		t.Errorf("min = %v, want 1", got)
	}
	if got := s.max(); got != 5 {
		t.Errorf("max = %v, want 5", got)
	}
	if got := s.spread(); got != 4.0/3 {
		t.Errorf("spread = %v, want 4/3", got)
	}
	if !math.IsNaN(sample{}.median()) || !math.IsNaN(sample{math.NaN()}.percentile(99)) {
		t.Error("an empty sample has a median or percentile")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var s sample
	for i := 1; i <= 200; i++ {
		s = append(s, float64(i))
	}
	for _, c := range []struct{ p, want float64 }{{50, 100}, {99, 198}, {100, 200}, {0.1, 1}} {
		if got := s.percentile(c.p); got != c.want {
			t.Errorf("p%v of 1..200 = %v, want %v", c.p, got, c.want)
		}
	}
	// Fewer than 100 values: p99 is the largest.
	if got := (sample{3, 1, 2}).percentile(99); got != 3 {
		t.Errorf("p99 of 3 values = %v, want the largest", got)
	}
}

func TestMedianInterval(t *testing.T) {
	// Binomial tables of the median's order-statistic interval at 95%.
	for _, c := range []struct {
		n, k     int
		coverage float64
	}{
		{1, 1, 0}, {5, 1, 1 - 2.0/32}, {6, 1, 1 - 2.0/64}, {10, 2, 1 - 2*11.0/1024},
		{15, 4, 1 - 2*576.0/32768}, {20, 6, 1 - 2*21700.0/1048576},
	} {
		var s sample
		for i := c.n; i >= 1; i-- { // unsorted, and a NaN that does not count
			s = append(s, float64(i))
		}
		s = append(s, math.NaN())
		lo, hi, coverage := s.medianInterval(0.95)
		if lo != float64(c.k) || hi != float64(c.n-c.k+1) || math.Abs(coverage-c.coverage) > 1e-12 {
			t.Errorf("n=%d: interval %v – %v covering %v, want %d – %d covering %v", c.n, lo, hi, coverage, c.k, c.n-c.k+1, c.coverage)
		}
	}
	if lo, hi, c := (sample{}).medianInterval(0.95); !math.IsNaN(lo) || !math.IsNaN(hi) || !math.IsNaN(c) {
		t.Error("an empty sample has an interval")
	}
	// Asked for more than a few values can give, the interval is their
	// range, with the confidence rangeCoverage says: five values, 1 - 2/32.
	for n := 1; n <= 8; n++ {
		s := make(sample, n)
		for i := range s {
			s[i] = float64(i)
		}
		lo, hi, coverage := s.medianInterval(0.999)
		if lo != 0 || hi != float64(n-1) || coverage != rangeCoverage(n) {
			t.Errorf("n=%d at 99.9%%: %v – %v covering %v, want the range covering %v", n, lo, hi, coverage, rangeCoverage(n))
		}
	}
	if got := rangeCoverage(5); got != 1-2.0/32 {
		t.Errorf("five values' range covers %v, want %v", got, 1-2.0/32)
	}
}

func TestRotate(t *testing.T) {
	xs := []int{1, 2, 3}
	for r, want := range [][]int{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}} {
		got := rotate(xs, r)
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("rotate(%v, %d) = %v, want %v", xs, r, got, want)
		}
	}
	if xs[0] != 1 {
		t.Error("rotate changed its argument")
	}
}

func TestParseSchedstat(t *testing.T) {
	got, err := parseSchedstat("123456789 2000 17\n")
	if err != nil || got != 123456789*time.Nanosecond {
		t.Errorf("parseSchedstat = %v, %v", got, err)
	}
	if _, err := parseSchedstat(""); err == nil {
		t.Error("empty schedstat parsed")
	}
	if _, err := parseSchedstat("x 1 2"); err == nil {
		t.Error("non-numeric schedstat parsed")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\toomtrace\nVmPeak:\t 1000 kB\nVmHWM:\t   32768 kB\nVmRSS:\t 100 kB\n"
	got, err := parseStatusKB(status, "VmHWM")
	if err != nil || got != 32768<<10 {
		t.Errorf("VmHWM = %d, %v; want %d", got, err, 32768<<10)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("missing key found")
	}
	if _, err := parseStatusKB("VmHWM: 12 pages\n", "VmHWM"); err == nil {
		t.Error("value not in kB accepted")
	}
}

func TestParsePerfStats(t *testing.T) {
	out := `
Aggregated stats:
           TOTAL events:     205109
          SAMPLE events:     204594  (99.7%)
            LOST events:         12  ( 0.0%)
vmscan:mm_shrink_slab_end stats:
          SAMPLE events:      48200
            LOST events:          3
`
	samples, lost := parsePerfStats(out)
	if samples != 204594 || lost != 12 {
		t.Errorf("parsePerfStats = %d samples, %d lost; want the aggregated 204594 and 12", samples, lost)
	}
	if s, l := parsePerfStats("Aggregated stats:\n SAMPLE events: 7\n"); s != 7 || l != 0 {
		t.Errorf("without LOST: %d, %d", s, l)
	}
}

func TestParseOomtraceSummary(t *testing.T) {
	stderr := `time=2026-11-24T05:05:07Z level=INFO msg=attached mode=tracepoint
time=2026-11-24T05:05:10Z level=INFO msg=stopped mode=tracepoint oom_kills=1 lost=69260 decode_errors=2
`
	got, err := parseOomtraceSummary(stderr)
	if err != nil || got.Lost != 69260 || got.DecodeErrors != 2 {
		t.Errorf("parseOomtraceSummary = %+v, %v", got, err)
	}
	if _, err := parseOomtraceSummary("level=ERROR msg=boom\n"); err == nil {
		t.Error("a run without a summary parsed")
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkDecode/oom_kill-2         	 1291413	       849.7 ns/op	       0 B/op	       0 allocs/op
BenchmarkDecode/reclaim-2          	 4438257	       254.6 ns/op	       8 B/op	       1 allocs/op
BenchmarkDecode/oom_kill-2         	 1291413	       851.3 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/oomtrace/oomtrace/internal/tracer	5.1s
BenchmarkWriter/text               	  500000	      1950 ns/op	       0 B/op	       0 allocs/op
`
	benches, err := parseGoBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(benches) != 3 {
		t.Fatalf("got %d benchmarks, want 3: %+v", len(benches), benches)
	}
	kill := benches[0]
	if kill.name != "Decode/oom_kill" || len(kill.nsPerOp) != 2 || kill.nsPerOp.median() != 850.5 {
		t.Errorf("Decode/oom_kill = %+v", kill)
	}
	if r := benches[1]; r.name != "Decode/reclaim" || r.allocsPerOp.median() != 1 || r.bytesPerOp.median() != 8 {
		t.Errorf("Decode/reclaim = %+v", r)
	}
	if benches[2].name != "Writer/text" {
		t.Errorf("third benchmark %q, want Writer/text (no GOMAXPROCS suffix)", benches[2].name)
	}
	if _, err := parseGoBench("PASS\n"); err == nil {
		t.Error("output without results parsed")
	}
}

func TestParseWorkerResult(t *testing.T) {
	pages, d, err := parseWorkerResult("pages=1000 elapsed_ns=2000000000\n")
	if err != nil || pages != 1000 || d != 2*time.Second {
		t.Errorf("parseWorkerResult = %d, %v, %v", pages, d, err)
	}
	for _, bad := range []string{"", "storm worker: open: no such file", "pages=1 elapsed_ns=0"} {
		if _, _, err := parseWorkerResult(bad); err == nil {
			t.Errorf("parseWorkerResult(%q) succeeded", bad)
		}
	}
}

func TestTextKtime(t *testing.T) {
	line := []byte("    oomtrace-hog 5152/5152 [000] 1958.988142: oomtrace:reclaim reclaim=memcg")
	i := bytes.Index(line, textReclaimMarker)
	if i < 0 {
		t.Fatal("marker not found in a reclaim line")
	}
	got, ok := textKtime(line[:i])
	if !ok || got != 1958988142000 {
		t.Errorf("textKtime = %d, %v; want 1958988142000", got, ok)
	}
	for _, bad := range []string{"comm 1/1 [000] 1958", "comm 1/1 [000] x.5", "comm 1/1 [000] 1.1234567890"} {
		if _, ok := textKtime([]byte(bad)); ok {
			t.Errorf("textKtime(%q) parsed", bad)
		}
	}
}

func TestParseKmsgRecord(t *testing.T) {
	usec, msg, ok := parseKmsgRecord([]byte("3,1234,1958988142,-,caller=T5152;Memory cgroup out of memory: Killed process 5152 (hog)\n SUBSYSTEM=x\n"))
	if !ok || usec != 1958988142 || string(msg) != "Memory cgroup out of memory: Killed process 5152 (hog)" {
		t.Errorf("parseKmsgRecord = %d, %q, %v", usec, msg, ok)
	}
	for _, bad := range []string{"no prefix", "3,1;msg", "3,1,x,-;msg"} {
		if _, _, ok := parseKmsgRecord([]byte(bad)); ok {
			t.Errorf("parseKmsgRecord(%q) parsed", bad)
		}
	}
}

// The watcher's reader measures a real report of this machine's kernel
// from its header to its "Killed process" line, and keeps whether the kill
// line came without a wait for the log.
func TestReportReader(t *testing.T) {
	data, err := os.ReadFile("../../testdata/kernlog/6.18-v1-memcg.kmsg")
	if err != nil {
		t.Fatal(err)
	}
	var records [][]byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) > 0 && line[0] != ' ' { // continuation lines belong to the record above
			records = append(records, line)
		}
	}
	for _, awake := range []bool{true, false} {
		var r reportReader
		var reports []oomReport
		var pids []int
		for i, rec := range records {
			usec, msg, ok := parseKmsgRecord(rec)
			if !ok {
				t.Fatalf("record %d unparsed: %q", i, rec)
			}
			if pid, rep, ok := r.add(usec, msg, awake || !bytes.Contains(msg, []byte(killedMarker))); ok {
				pids, reports = append(pids, pid), append(reports, rep)
			}
		}
		want := oomReport{lines: 79, duration: 500 * time.Microsecond, awakeAtKill: awake}
		if len(reports) != 1 || pids[0] != 14533 || reports[0] != want {
			t.Errorf("awake %v: reports %+v of pids %v, want one %+v of 14533", awake, reports, pids, want)
		}
	}
}

func TestParseProcStatBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := parseProcStatBusy("cpu  100 20 30 5000 40 5 6 70 80 90")
	want := time.Duration(100+20+30+5+6) * 10 * time.Millisecond
	if err != nil || got != want {
		t.Errorf("parseProcStatBusy = %v, %v; want %v (no idle, iowait, steal or guest)", got, err, want)
	}
	if _, err := parseProcStatBusy("cpu0 1 2 3 4 5"); err == nil {
		t.Error("a per-CPU line parsed as the total")
	}
}

func TestFdinfoProgID(t *testing.T) {
	id, ok := fdinfoProgID([]byte("pos:\t0\nflags:\t02000002\nlink_type:\ttracing\nlink_id:\t9\nprog_id:\t5976\n"))
	if !ok || id != 5976 {
		t.Errorf("fdinfoProgID = %d, %v", id, ok)
	}
	if _, ok := fdinfoProgID([]byte("pos:\t0\nflags:\t02\nmnt_id:\t15\n")); ok {
		t.Error("a plain file has a program id")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{fmtNS(355), "355 ns"},
		{fmtNS(1190), "1.19 µs"},
		{fmtNS(37_000), "37 µs"},
		{fmtNS(4_550_000), "4.55 ms"},
		{fmtNS(15_000_000), "15 ms"},
		{fmtNS(2.5e9), "2.50 s"},
		{fmtNS(math.NaN()), missing},
		{fmtRate(24_300), "24.3 k/s"},
		{fmtRate(1_500_000), "1.50 M/s"},
		{fmtRate(17), "17 /s"},
		{fmtRatio(1.0 / 3), "0.33×"},
		{fmtPct(0.985), "98.5%"},
		{fmtCount(1234567), "1,234,567"},
		{fmtCount(999), "999"},
		{fmtMiB(32 << 20), "32.0 MiB"},
		// A figure held against its limit gets the decimals that put it
		// on the limit's right side, and no more.
		{fmtNSAgainst(1003, 1000), "1.003 µs"},
		{fmtNSAgainst(1000, 1000), "1.00 µs"},
		{fmtNSAgainst(1190, 1000), "1.19 µs"},
		{fmtNSAgainst(997, 1000), "997 ns"},
		{fmtNSAgainst(999.7, 1000), "999.7 ns"},
		{fmtNSAgainst(200.4, 200), "200.4 ns"},
		{fmtNSAgainst(200_400_000, 200e6), "200.4 ms"},
		{fmtNSAgainst(1_000_000+1e-9, 1e6), "1.00000000 ms"}, // closer than the decimals allowed: as if on it
		{fmtNSAgainst(math.NaN(), 1000), missing},
		{pctUnit.against(0.9796, 0.98), "97.96%"},
		{pctUnit.against(0.985, 0.98), "98.5%"},
		{fmtVsThroughputTarget(0.97996), "97.996%"},
		{rateUnit(999_960).against(999_960, 1e6), "999.96 k/s"},
		{mbUnit.against(40.04e6, 40e6), "40.04 MB"},
		{ratioUnit.against(0.5004, 0.5), "0.5004×"},
		{ratioUnit.against(0.46, 0.5), "0.46×"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestMarkdownTable(t *testing.T) {
	tb := &markdownTable{header: []string{"a", "b"}}
	tb.add("x|y", "1")
	want := "| a | b |\n| --- | --- |\n| x\\|y | 1 |\n"
	if got := tb.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// The signal hook's cost is the traced run less the untraced one, per
// signal, from the same go test output.
func TestSignalHookTable(t *testing.T) {
	benches, err := parseGoBench(`BenchmarkSignalHook/untraced/SIGUSR1-2   100000   1800 ns/op   0 B/op   0 allocs/op
BenchmarkSignalHook/untraced/SIGTERM-2   100000   2000 ns/op   0 B/op   0 allocs/op
BenchmarkSignalHook/traced/SIGUSR1-2     100000   1850 ns/op   0 B/op   0 allocs/op
BenchmarkSignalHook/traced/SIGTERM-2     100000   3000 ns/op   0 B/op   0 allocs/op
`)
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	writeSignalHook(&d, &goBenchResults{benches: benches})
	for _, row := range []string{"| SIGUSR1 | 1.80 µs | 1.85 µs | 50 ns | 1.03× |", "| SIGTERM | 2.00 µs | 3.00 µs | 1.00 µs | 1.50× |"} {
		if !strings.Contains(d.String(), row) {
			t.Errorf("no row %q in:\n%s", row, d.String())
		}
	}
	var none doc
	writeSignalHook(&none, &goBenchResults{benches: benches[:1]})
	if !strings.Contains(none.String(), "did not run") {
		t.Errorf("without both runs: %s", none.String())
	}
}

// The peak RSS wrapper passes its command's exit status on and reports a
// peak; a command it cannot start is an error of its own.
func TestRunForPeakRSS(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "kill -9 $$"}, 128 + 9},
		{[]string{"/nonexistent/command"}, 2},
	} {
		var report bytes.Buffer
		if got := runForPeakRSS(c.args, &report); got != c.code {
			t.Errorf("%v: status %d, want %d", c.args, got, c.code)
		}
		if c.code == 2 {
			if report.Len() != 0 {
				t.Errorf("%v: reported %q for a command that did not run", c.args, report.String())
			}
			continue
		}
		peak, err := strconv.ParseUint(strings.TrimSpace(report.String()), 10, 64)
		if err != nil || peak == 0 || peak > 1<<30 {
			t.Errorf("%v: peak RSS report %q (%v)", c.args, report.String(), err)
		}
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\toomtrace\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t56\n"
	if n, err := statusField(status, "voluntary_ctxt_switches"); err != nil || n != 1234 {
		t.Errorf("voluntary_ctxt_switches = %d, %v; want 1234", n, err)
	}
	if n, err := statusField(status, "nonvoluntary_ctxt_switches"); err != nil || n != 56 {
		t.Errorf("nonvoluntary_ctxt_switches = %d, %v; want 56", n, err)
	}
	if _, err := statusField(status, "VmHWM"); err == nil {
		t.Error("a field the status lacks: no error")
	}
	if n, err := wakeups(os.Getpid()); err != nil || n == 0 {
		t.Errorf("wakeups of this process = %d, %v", n, err)
	}
}

// The drain floor's lines are as long as oomtrace's, newline included,
// and the watch counts each of them.
func TestDrainFloorLine(t *testing.T) {
	padding := bytes.Repeat([]byte{' '}, 200)
	batch := appendFloorLine(nil, 123456789, padding)
	batch = appendFloorLine(batch, 18446744073709551615, padding)
	lines := bytes.SplitAfter(batch, []byte("\n"))
	if len(lines) != 3 || len(lines[2]) != 0 {
		t.Fatalf("two lines appended as %q", batch)
	}
	w := &drainFloorWatch{}
	w.countFrom(1)
	for i, want := range []string{"reclaim 123456789 ", "reclaim 18446744073709551615 "} {
		if line := lines[i]; len(line) != len(padding) || !bytes.HasPrefix(line, []byte(want)) || strings.TrimSpace(string(line)) != strings.TrimSpace(want) {
			t.Errorf("line %d = %q (%d bytes), want %q padded to %d bytes", i, line, len(line), want, len(padding))
		}
		w.onLine(bytes.TrimSuffix(lines[i], []byte("\n")), 2)
	}
	if n, last := w.counts(); n != 2 || last != 2 {
		t.Errorf("watch counted %d lines, the last at %d", n, last)
	}
	// A stamp longer than the padding is kept whole.
	if got := string(appendFloorLine(nil, 42, padding[:5])); got != "reclaim 42\n" {
		t.Errorf("short padding: %q", got)
	}
}
