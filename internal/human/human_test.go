package human

import (
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

const podUID = "0f5eb28f-3c1a-4e2b-9d7c-6a5b4c3d2e1f"

func TestWriter(t *testing.T) {
	at := time.Date(2026, 12, 2, 23, 7, 36, 0, time.UTC)
	kill := event.Event{Kind: event.KindOOMKill, Time: at}
	kill.OOMKill = event.OOMKill{Class: event.ClassMemcg, Why: "the verdict",
		Victim: event.Victim{Task: event.Task{PID: 131, TGID: 131, Comm: "hog"},
			Cgroup: event.Cgroup{Path: "/kubepods/pod" + podUID + "/c", Owner: event.Owner{PodUID: podUID, ID: strings.Repeat("ab", 32), Level: event.LevelContainer}}},
		Group:  event.Cgroup{Path: "/grp"},
		Report: event.KernelReport{HasMemcg: true}}
	member := kill
	member.OOMKill.Report = event.KernelReport{}
	member.OOMKill.Victim = event.Victim{Task: event.Task{PID: 128, Comm: "hog\n"}}
	member.Missing = event.MissingKtime
	member.Time = time.Time{}
	// The time a log wrote without a year, the only one it gave.
	member.OOMKill.LogTime = "Dec  2 23:07:36\x1b[2J"
	docker := event.Event{Kind: event.KindOOMKill, KtimeNS: 5_500_000_000, Missing: event.MissingTask}
	docker.OOMKill = event.OOMKill{Class: event.ClassGlobal, Replayed: true, Why: "with\x1b[31m a control byte",
		Victim: event.Victim{Cgroup: event.Cgroup{Path: "/docker/x", Owner: event.Owner{Runtime: event.RuntimeDocker, ID: strings.Repeat("cd", 32)}}}}
	eviction := event.Event{Kind: event.KindEviction, Time: at, Eviction: event.Eviction{Why: "pod a/b was evicted"}}
	exit := event.Event{Kind: event.KindExit, Time: at, Exit: event.Exit{Cause: event.CauseSignal, Why: "exited 137: SIGKILL from sh"}}
	oomExit := event.Event{Kind: event.KindExit, Time: at, Exit: event.Exit{Cause: event.CauseOOMKill, Why: "said by the kill"}}
	stats := event.Event{Kind: event.KindReclaimStats, Time: at, ReclaimStats: event.ReclaimStats{Kind: event.ReclaimMemcg,
		Cgroup: event.Cgroup{Path: "/t"}, Interval: 10 * time.Second, Count: 41, Total: 3271767, Max: 2097745}}
	lost := event.Event{Kind: event.KindLost, Time: at, Lost: event.Lost{Count: 3, Total: 5}}
	// Then runs skipped and nothing more lost; a program's name in a log
	// is anyone's to write.
	skipped := event.Event{Kind: event.KindLost, Time: at, Lost: event.Lost{Total: 5, SkippedRuns: 1, SkippedRunsTotal: 2, SkippedByProgram: "mark_victim:2\x1b[2J"}}
	sample := event.Event{Kind: event.KindSample, Time: at}
	snapshot := event.Event{Kind: event.KindOOMSnapshot, Time: at, OOMSnapshot: event.OOMSnapshot{Why: "right after the kill: held\x1b[2J"}}
	report := event.Event{Kind: event.KindOOMReport, Time: at, OOMReport: event.OOMReport{Why: "the kernel's report of the kill\x1b[2J"}}

	var out strings.Builder
	w := NewWriter(&out, time.UTC)
	for _, ev := range []event.Event{kill, member, docker, snapshot, report, eviction, exit, oomExit, stats, lost, skipped, sample} {
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Summary("kern.log", 1); err != nil {
		t.Fatal(err)
	}
	want := `2026-12-02 23:07:36  OOM kill  [memcg OOM] the verdict
    memory.oom.group of "/grp": every task in it is killed with it
    pod UID ` + podUID + `: kubectl get pods -A -o custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name,UID:.metadata.uid | grep ` + podUID + `
    container abababababab: crictl ps -a --id ` + strings.Repeat("ab", 32) + `
Dec  2 23:07:36\x1b[2J (as logged)    + killed with its memory.oom.group "/grp": "hog\n" (pid 128)
boot+5.500s  OOM kill  [global OOM, before tracing] with\x1b[31m a control byte
    docker ps -a --no-trunc --filter id=` + strings.Repeat("cd", 32) + `
    right after the kill: held\x1b[2J
    the kernel's report of the kill\x1b[2J
2026-12-02 23:07:36  eviction  pod a/b was evicted
2026-12-02 23:07:36  exit      exited 137: SIGKILL from sh
2026-12-02 23:07:36  reclaim   memcg in "/t": 41 episodes over 10s, 3.272ms stalled, longest 2.098ms
2026-12-02 23:07:36  LOST      3 events the kernel could not hand over (5 in all)
2026-12-02 23:07:36  SKIPPED   1 run of oomtrace's programs the kernel did not start (2 in all: mark_victim:2\x1b[2J): kills, signals and exits, reclaim episodes or the reaper's steps and kswapd's wake-ups may be missing

3 OOM kills in kern.log (global 1, memcg 2), 1 eviction
1 process ended by a signal other than the OOM killer's
5 events lost: the kernel could not hand them over
2 runs of oomtrace's programs skipped by the kernel (mark_victim:2\x1b[2J): kills, signals and exits, reclaim episodes or the reaper's steps and kswapd's wake-ups may be missing
1 warning on the log: lines that could not be read, reports cut short (on stderr)
`
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestNothing(t *testing.T) {
	var out strings.Builder
	if err := NewWriter(&out, time.UTC).Summary("this machine's kernel log", 0); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "\nno OOM kill and no eviction in this machine's kernel log\n" {
		t.Errorf("%q", got)
	}
}

// What a terminal would act on, or cannot show as one character, is
// escaped wherever a sentence holds it; other characters are shown.
func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain /kubepods/pod1":          "plain /kubepods/pod1",
		"µs → 2 GiB, ünïcödé, 日本":       "µs → 2 GiB, ünïcödé, 日本",
		"replacement \ufffd stays":      "replacement \ufffd stays",
		"esc\x1b[2J tab\t nl\n del\x7f": `esc\x1b[2J tab\x09 nl\x0a del\x7f`,
		"c1 csi\u009b2J nel\u0085":      `c1 csi\u009b2J nel\u0085`,
		"bidi \u202egnp.exe":            `bidi \u202egnp.exe`,
		"sep\u2028line \u2029para":      `sep\u2028line \u2029para`,
		"zero\u200bwidth \U000e0041":    `zero\u200bwidth \U000e0041`,
		"not utf-8 \xff\xc3(":           `not utf-8 \xff\xc3(`,
	} {
		if got := safe(in); got != want {
			t.Errorf("safe(%q) = %q, want %q", in, got, want)
		}
	}
}
