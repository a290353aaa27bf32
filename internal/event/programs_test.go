package event

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"
)

func TestSkippedRunsText(t *testing.T) {
	for _, c := range []struct {
		runs  SkippedRuns
		total uint64
		text  string
	}{
		{nil, 0, ""},
		{SkippedRuns{"signal_generate": 4, "direct_reclaim_end": 1, "mark_victim": 2}, 7, "direct_reclaim_end:1,mark_victim:2,signal_generate:4"},
	} {
		if got := c.runs.Total(); got != c.total {
			t.Errorf("%v: total %d, want %d", c.runs, got, c.total)
		}
		if got := c.runs.String(); got != c.text {
			t.Errorf("%v: text %q, want %q", c.runs, got, c.text)
		}
		back, err := ParseSkippedRuns(c.text)
		if err != nil || !maps.Equal(back, c.runs) {
			t.Errorf("ParseSkippedRuns(%q) = %v, %v; want %v", c.text, back, err, c.runs)
		}
	}
	// In a text log line the list stays one value, unquoted.
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("stopped", "skipped_by_program", SkippedRuns{"mark_victim": 2, "direct_reclaim_end": 1})
	if want := " skipped_by_program=direct_reclaim_end:1,mark_victim:2\n"; !strings.HasSuffix(log.String(), want) {
		t.Errorf("log line %q, want it to end in %q", log.String(), want)
	}
}

// A list from an edited capture is an error that names the bad entry.
func TestParseSkippedRunsErrors(t *testing.T) {
	for _, in := range []string{"mark_victim", "mark_victim:", ":3", "mark_victim:-1", "mark_victim:2,", "a:1,b:x", "mark_victim:99999999999999999999"} {
		if sr, err := ParseSkippedRuns(in); err == nil || !strings.Contains(err.Error(), "want NAME:COUNT") {
			t.Errorf("ParseSkippedRuns(%q) = %v, %v; want an error", in, sr, err)
		}
	}
	// The same program twice (a hand-joined list) sums.
	if sr, err := ParseSkippedRuns("process_exit:2,process_exit:3"); err != nil || sr["process_exit"] != 5 {
		t.Errorf("a program twice: %v, %v", sr, err)
	}
}

func TestProgramRecords(t *testing.T) {
	for name, want := range map[string]Records{"mark_victim": RecordsKills, "process_exit": RecordsDeaths,
		"memcg_reclaim_end_compat": RecordsReclaim, "wake_reaper": RecordsOther} {
		if got, ok := ProgramRecords(name); got != want || !ok {
			t.Errorf("ProgramRecords(%q) = %b, %v; want %b", name, got, ok, want)
		}
	}
	if got, ok := ProgramRecords("a_program_of_a_later_version"); got != RecordsAll || ok {
		t.Errorf("an unknown program records %b, %v; want all of them", got, ok)
	}
}

// What skipped runs may have left out, as people read it.
func TestMayMiss(t *testing.T) {
	const anything = "kills, signals and exits, reclaim episodes or the reaper's steps and kswapd's wake-ups"
	for _, tc := range []struct {
		list  string
		total uint64
		want  string
	}{
		{"process_exit:5", 5, "signals and exits"},
		{"mark_victim:1,process_exit:5", 6, "kills or signals and exits"},
		{"direct_reclaim_end:2,wake_reaper:1", 3, "reclaim episodes or the reaper's steps and kswapd's wake-ups"},
		{"fexit_oom_kill_process:1,kswapd_wake:0", 1, "kills"},
		{"a_later_program:1", 1, anything},
		{"process_exit:5", 7, anything}, // two runs of no named program
		{"", 1, anything},
		{"garbled", 1, anything},
	} {
		if got := MayMiss(tc.list, tc.total).String(); got != tc.want {
			t.Errorf("MayMiss(%q, %d) = %q, want %q", tc.list, tc.total, got, tc.want)
		}
	}
}
