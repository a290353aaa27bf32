package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
)

// runJSON runs oomtrace with args and parses its standard output as JSON
// Lines.
func runJSON(t *testing.T, args ...string) []event.Event {
	t.Helper()
	events, _ := runJSONWarning(t, args...)
	return events
}

// runJSONWarning is runJSON, also returning what oomtrace printed on its
// standard error: its warnings.
func runJSONWarning(t *testing.T, args ...string) ([]event.Event, string) {
	t.Helper()
	out, stderr, status := runBin(t, nil, args...)
	if status != 0 {
		t.Fatalf("oomtrace %v: exit status %d\nstderr:\n%s", args, status, stderr)
	}
	var events []event.Event
	for line := range strings.Lines(out) {
		ev, err := output.ParseJSON([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil {
			t.Fatalf("oomtrace %v: %v in %s", args, err, line)
		}
		events = append(events, ev)
	}
	return events, stderr
}

// killsOf picks the oom_kill events of pids from events, by victim pid.
func killsOf(events []event.Event, pids ...int) map[int]event.Event {
	found := map[int]event.Event{}
	for _, ev := range events {
		for _, pid := range pids {
			if ev.Kind == event.KindOOMKill && int(ev.OOMKill.Victim.PID) == pid {
				found[pid] = ev
			}
		}
	}
	return found
}

// causeKills causes n memcg OOM kills in g, one after the other, the i-th
// hog with oom_score_adj adjs[i], and returns their pids.
func causeKills(t *testing.T, g *memcg.Group, adjs ...int) []int {
	t.Helper()
	var pids []int
	for i, adj := range adjs {
		cmd := hog(t, g, 64, memcg.HogOptions{Comm: fmt.Sprintf("explain-%d", i), OOMScoreAdj: &adj})
		waitSIGKILL(t, cmd)
		pids = append(pids, cmd.Process.Pid)
	}
	return pids
}

// sameKill holds a kill read from the kernel log against the same kill as
// the live tracer saw it: the kernel's facts the log holds must agree, and
// the verdict too, but for what the log cannot say.
func sameKill(t *testing.T, logged, live event.Event) {
	t.Helper()
	lk, k := logged.OOMKill, live.OOMKill
	if lk.Mode != event.ModeKmsg {
		t.Errorf("pid %d: mode %s from the kernel log", k.Victim.PID, lk.Mode)
	}
	lv, v := lk.Victim, k.Victim
	if lv.PID != v.PID || lv.Comm != v.Comm || lv.UID != v.UID || lv.OOMScoreAdj != v.OOMScoreAdj {
		t.Errorf("victim: kernel log %+v, live %+v", lv.Task, v.Task)
	}
	if lv.TotalVMKB != v.TotalVMKB {
		t.Errorf("pid %d: total-vm %d in the log, %d live", v.PID, lv.TotalVMKB, v.TotalVMKB)
	}
	for _, c := range []struct {
		name         string
		logged, live uint64
	}{{"anon-rss", lv.RSSAnonKB, v.RSSAnonKB}, {"file-rss", lv.RSSFileKB, v.RSSFileKB}, {"shmem-rss", lv.RSSShmemKB, v.RSSShmemKB}, {"pgtables", lv.PgtablesKB, v.PgtablesKB}} {
		if d := int64(c.logged) - int64(c.live); d < -rssSlackKB || d > rssSlackKB {
			t.Errorf("pid %d: %s %d kB in the log, %d kB live", v.PID, c.name, c.logged, c.live)
		}
	}
	// The summary with the cgroups is rate limited with the header; the
	// "Killed process" line alone tells memcg OOMs from the others only.
	if lk.Constraint == event.ConstraintUnseen && (k.Class == event.ClassCpuset || k.Class == event.ClassMempolicy) && lk.Class == event.ClassGlobal {
		t.Logf("pid %d: the kernel's summary line was rate limited: a %s OOM reads as global from the log", v.PID, k.Class)
	} else if lk.Class != k.Class {
		t.Errorf("pid %d: class %s in the log, %s live", v.PID, lk.Class, k.Class)
	}
	if lv.Cgroup.Valid() && (lv.Cgroup.Path != v.Cgroup.Path || lk.OOMCgroup.Path != k.OOMCgroup.Path) {
		t.Errorf("pid %d: cgroups in the log victim %q oom %q, live %q %q", v.PID, lv.Cgroup.Path, lk.OOMCgroup.Path, v.Cgroup.Path, k.OOMCgroup.Path)
	}
	if lk.OOMCgroup.Valid() && lk.OOMCgroup.LimitBytes != k.OOMCgroup.LimitBytes {
		t.Errorf("pid %d: limit %d in the log, %d live", v.PID, lk.OOMCgroup.LimitBytes, k.OOMCgroup.LimitBytes)
	}
	if lk.Why == "" || !strings.Contains(lk.Why, fmt.Sprintf("(pid %d)", v.PID)) {
		t.Errorf("pid %d: verdict from the log %q", v.PID, lk.Why)
	}
	if lk.Class == event.ClassMemcg && !strings.Contains(lk.Why, "; memcg OOM") {
		t.Errorf("pid %d: verdict of a memcg OOM from the log %q", v.PID, lk.Why)
	}
}

// checkExplained holds what oomtrace explain finds of a kill in this
// machine's kernel log against the kill as the live tracer reported it:
// every kill the end-to-end tests check, on this machine and in every
// vmtest guest, is also explained after the fact.
func checkExplained(t *testing.T, live event.Event) {
	t.Helper()
	pid := live.OOMKill.Victim.PID
	var logged *event.Event
	// The same task can be killed twice (memory.oom.group names the
	// chosen victim again): the report nearest in time is this kill's.
	// A later OOM may also choose a victim of this one while it exits: the
	// kernel logs "is already exiting. Skip killing the task", and
	// oom:mark_victim does not fire again for a task it marked (seen on
	// 6.1 with memory.oom.group). Such a line is not this kill.
	explained, warnings := runJSONWarning(t, "explain", "--output", "json")
	var kills, ofPid []string
	for _, ev := range explained {
		if ev.Kind != event.KindOOMKill {
			continue
		}
		kills = append(kills, fmt.Sprintf("pid %d at %d", ev.OOMKill.Victim.PID, ev.KtimeNS))
		if ev.OOMKill.Victim.PID != pid {
			continue
		}
		ofPid = append(ofPid, fmt.Sprintf("at %d exiting %v missing %#x", ev.KtimeNS, ev.OOMKill.VictimExiting, ev.Missing))
		if ev.Missing.Lacks(event.MissingKtime) || ev.OOMKill.VictimExiting != live.OOMKill.VictimExiting {
			continue
		}
		if logged == nil || distance(ev.KtimeNS, live.KtimeNS) < distance(logged.KtimeNS, live.KtimeNS) {
			e := ev
			logged = &e
		}
	}
	if logged == nil {
		t.Errorf("oomtrace explain of the kernel log has no kill of pid %d (live at %d, exiting %v); its kills of that pid: %v; all its %d kills: %v; its warnings: %q",
			pid, live.KtimeNS, live.OOMKill.VictimExiting, ofPid, len(kills), kills, warnings)
		return
	}
	if d := distance(logged.KtimeNS, live.KtimeNS); d > uint64(time.Second) {
		t.Errorf("pid %d: the kill in the kernel log is %v from the live one", pid, time.Duration(d))
	}
	sameKill(t, *logged, live)
}

func distance(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// The kernel log read after the fact gives the kills the live tracer saw,
// with the same facts and class.
func TestExplainAgreesWithTrace(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, fmt.Sprintf("oomtrace-explain-%d", os.Getpid()), 32)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path())
	pids := causeKills(t, g, 0, 500)
	live := tr.waitKills(t, pids...)
	tr.stop(t)

	for _, args := range [][]string{
		{"explain", "--output", "json"}, // this machine's log, since boot
		{"explain", "--output", "json", "--class", "memcg"},
	} {
		logged := killsOf(runJSON(t, args...), pids...)
		if len(logged) != len(pids) {
			t.Fatalf("oomtrace %v found %d of the kills %v", args, len(logged), pids)
		}
		for _, pid := range pids {
			sameKill(t, logged[pid], live[pid])
		}
	}

	// The same from the log saved as files of two forms.
	dmesgX, err := exec.Command("dmesg", "-x").Output()
	if err != nil {
		t.Fatalf("dmesg -x: %v", err)
	}
	saved := filepath.Join(t.TempDir(), "dmesg-x.log")
	if err := os.WriteFile(saved, dmesgX, 0o644); err != nil {
		t.Fatal(err)
	}
	logged := killsOf(runJSON(t, "explain", "--output", "json", saved), pids...)
	if len(logged) != len(pids) {
		t.Fatalf("explain of dmesg -x output found %d of the kills %v", len(logged), pids)
	}
	for _, pid := range pids {
		sameKill(t, logged[pid], live[pid])
	}
}

// Without BPF the kernel log is the source, live: the kill arrives with
// the fields its report holds.
func TestTraceKmsgMode(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, fmt.Sprintf("oomtrace-kmsg-%d", os.Getpid()), 32)
	tr := startTracerMode(t, "kmsg", "--output", "json", "--cgroup", g.Path())
	pids := causeKills(t, g, 0)
	logged := tr.waitKills(t, pids...)
	snap := tr.waitSnapshot(t, pids[0]).OOMSnapshot
	events := tr.stop(t)
	k := logged[pids[0]].OOMKill
	if k.Mode != event.ModeKmsg || k.Class != event.ClassMemcg || k.Replayed || k.Victim.Comm != "explain-0" {
		t.Errorf("kill %+v", k)
	}
	if k.OOMCgroup.Path != g.Path() || k.OOMCgroup.LimitBytes != 32<<20 {
		t.Errorf("oom cgroup %+v, want %s with 32 MiB", k.OOMCgroup, g.Path())
	}
	if snap.Snapshot.Status != event.SnapshotOK || snap.OOMCgroup.Path != g.Path() {
		t.Errorf("a live kill read from the kernel log has no snapshot of its cgroup: %+v", snap)
	}
	for _, ev := range events {
		if ev.Kind == event.KindOOMKill && ev.OOMKill.Victim.PID == uint32(pids[0]) && ev.OOMKill.Replayed {
			t.Errorf("a kill seen live was also replayed")
		}
		if ev.Kind == event.KindOOMReport {
			t.Errorf("an oom_report in kmsg mode, whose kills carry their report: %+v", ev.OOMReport)
		}
	}
}

// --since-boot reports the kills from before tracing began once, marked
// replayed, then the new ones once, in BPF mode and in kmsg mode alike.
func TestSinceBoot(t *testing.T) {
	h := requireRoot(t)
	for _, mode := range []string{modeUnderTest(), "kmsg"} {
		t.Run(mode, func(t *testing.T) {
			g := createGroup(t, h, fmt.Sprintf("oomtrace-since-%s-%d", mode, os.Getpid()), 32)
			before := causeKills(t, g, 0)
			// No --cgroup: in the kernel log, which --since-boot replays
			// in every mode, a kill names its cgroup only in the report's
			// summary, which the kernel rate-limits with the rest of the
			// report. With the other tests causing OOMs at the same time,
			// the filter would drop these kills; they are told by their
			// pids anyway.
			tr := startTracerMode(t, mode, "--output", "json", "--since-boot")
			after := causeKills(t, g, 0)
			tr.waitKills(t, append(before, after...)...)
			// A kill logged just before the stop would still be in flight.
			time.Sleep(time.Second)
			events := tr.stop(t)
			count := map[int]int{}
			for _, ev := range events {
				k := ev.OOMKill
				if ev.Kind != event.KindOOMKill {
					continue
				}
				pid := int(k.Victim.PID)
				count[pid]++
				if pid == before[0] && (!k.Replayed || k.Mode != event.ModeKmsg) {
					t.Errorf("the kill before tracing: replayed %v mode %s", k.Replayed, k.Mode)
				}
				if pid == after[0] && k.Replayed {
					t.Errorf("the kill after tracing began is marked replayed")
				}
			}
			if count[before[0]] != 1 || count[after[0]] != 1 {
				t.Errorf("kills reported %v times (before %d, after %d): want once each", count, before[0], after[0])
			}
		})
	}
}

// startTracerMode is startTracer in another mode than the one under test.
func startTracerMode(t *testing.T, mode string, args ...string) *tracer {
	t.Helper()
	t.Setenv("OOMTRACE_MODE", mode)
	return startTracer(t, args...)
}

// explain reads the kernel logs people keep, in every form, and the
// kubelet's: the fixtures hold kills of 3.10 to 6.18 kernels.
func TestExplainLogs(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join("..", "testdata", "kernlog")
	files := []string{"3.10-el7-uid.messages", "3.13-v1-memcg.txt", "3.13-global.txt", "4.8-docker-v1.txt",
		"5.14-el9-global.dmesg-T", "6.12-v2-oom-group.dmesg", "6.12-sysrq.dmesg", "6.18-v1-rec-memcg.journal-json",
		"6.x-eks-v2-pod-oom-group.dmesg-grep"}
	var args []string
	for _, f := range files {
		args = append(args, filepath.Join(dir, f))
	}
	args = append(args, filepath.Join("..", "testdata", "kubeletlog", "1.2x-structured.journal"))
	events := runJSON(t, append([]string{"explain", "--output", "json"}, args...)...)
	classes := map[event.Class]int{}
	evictions := 0
	for _, ev := range events {
		switch ev.Kind {
		case event.KindOOMKill:
			classes[ev.OOMKill.Class]++
			if ev.OOMKill.Why == "" || ev.OOMKill.Mode != event.ModeKmsg {
				t.Errorf("kill without a verdict: %+v", ev.OOMKill)
			}
		case event.KindEviction:
			evictions++
		}
	}
	// memory.oom.group's chosen victims are logged killed twice, and are
	// one kill each (6.12's group of three, EKS's group of one).
	want := map[event.Class]int{event.ClassMemcg: 1 + 1 + 2 + 3 + 2 + 1, event.ClassGlobal: 2, event.ClassSysrq: 1}
	if fmt.Sprint(classes) != fmt.Sprint(want) || evictions != 2 {
		t.Errorf("kills by class %v and %d evictions, want %v and 2", classes, evictions, want)
	}

	// For people: one verdict a kill, the summary last.
	out, err := exec.Command(oomtraceBin, append([]string{"explain"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, s := range []string{"OOM kill  [sysrq OOM] manual OOM kill (sysrq-f)", "in docker container 2e088fe462e2",
		"docker ps -a --no-trunc --filter id=2e088fe462e2", "+ killed with its memory.oom.group \"/grp\"",
		"eviction  pod shop/api-7d9 was evicted by the kubelet", "13 OOM kills in ",
		// The log gives the pod's usage, not the container's below it.
		`"node" (pid 22609) in container 46b3e0a4df44 of pod 94eb36cd-29e1-478b-b365-4cb5dfc7d6fb was killed because the pod-level limit of 4 GiB was reached (victim anon 3.9 GiB`} {
		if !strings.Contains(text, s) {
			t.Errorf("human output lacks %q:\n%s", s, text)
		}
	}
}

// report, gate and report --html take kernel logs like any capture.
func TestReportAndGateOfKernelLog(t *testing.T) {
	requireRoot(t)
	log := filepath.Join("..", "testdata", "kernlog", "4.8-docker-v1.txt")
	cmd := exec.Command(oomtraceBin, "gate", log, "--max-kills", "0")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "2 kills") {
		t.Errorf("gate --max-kills 0 of a log with two kills: status %d (%v), output:\n%s", code, err, out)
	}
	if out, err := exec.Command(oomtraceBin, "gate", log, "--max-kills", "2").CombinedOutput(); err != nil {
		t.Errorf("gate --max-kills 2: %v\n%s", err, out)
	}
	out, err = exec.Command(oomtraceBin, "report", "--output", "json", log).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"format": "kernel log"`) || !strings.Contains(string(out), `"memcg": 2`) ||
		!strings.Contains(string(out), "in docker container 2e088fe462e2 was killed because the container's own limit of 20 MiB was reached") {
		t.Errorf("report of a kernel log:\n%s", out)
	}
	html := filepath.Join(t.TempDir(), "r.html")
	if out, err := exec.Command(oomtraceBin, "report", "--html", html, log).CombinedOutput(); err != nil {
		t.Fatalf("report --html: %v\n%s", err, out)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "memcg OOM kill of 1381 gunpowder-memho"); n == 0 {
		t.Errorf("the HTML report of a kernel log draws no kill of pid 1381")
	}
}

// The agent keeps counting kills by pod without BPF, from the kernel log.
func TestServeKmsgMode(t *testing.T) {
	t.Setenv("OOMTRACE_MODE", "kmsg")
	s := startServedPod(t)
	if code := httpStatus(t, "http://"+s.addr+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	s.kill(t, 2)
	var got float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && got < 2; time.Sleep(100 * time.Millisecond) {
		got = 0
		if f := scrape(t, s.addr)["oomtrace_oom_kills_total"]; f != nil {
			for _, m := range f.GetMetric() {
				if l := labelsOf(m); l["class"] == "memcg" && l["pod"] == "api-7d9" && l["container"] == "api" {
					got += m.GetCounter().GetValue()
				}
			}
		}
	}
	if got != 2 {
		t.Errorf("oomtrace_oom_kills_total in kmsg mode: %v, want 2", got)
	}
	info := scrape(t, s.addr)["oomtrace_build_info"]
	if info == nil || labelsOf(info.GetMetric()[0])["mode"] != "kmsg" {
		t.Errorf("build info %v, want mode kmsg", info)
	}
}

// A kill whose report the kernel rate-limited away names no cgroup, and a
// pod filter cannot place it: explain keeps it, and leaves out the kills
// whose reports name a cgroup of no such pod. The log is a real one, with
// fourteen kills in half a second.
func TestFilterKeepsKillsWithoutCgroup(t *testing.T) {
	requireRoot(t) // the binary under test is built only without -short
	log := filepath.Join("..", "testdata", "kernlog", "6.18-v1-rec-ratelimit.kmsg")
	all := runJSON(t, "explain", "--output", "json", log)
	var unplaced []uint32
	for _, ev := range all {
		if ev.Kind == event.KindOOMKill && !ev.OOMKill.Victim.Cgroup.Valid() && !ev.OOMKill.OOMCgroup.Valid() {
			unplaced = append(unplaced, ev.OOMKill.Victim.PID)
		}
	}
	if len(unplaced) == 0 || len(unplaced) == len(all) {
		t.Fatalf("%d of the log's %d events are kills without a cgroup: the log no longer tests this", len(unplaced), len(all))
	}
	var kept []uint32
	for _, ev := range runJSON(t, "explain", "--output", "json", "--filter-pod", "shop/api", log) {
		if ev.Kind != event.KindOOMKill || ev.OOMKill.Victim.Cgroup.Valid() {
			t.Errorf("the pod filter let through a %s event of cgroup %q", ev.Kind, ev.OOMKill.Victim.Cgroup.Path)
			continue
		}
		kept = append(kept, ev.OOMKill.Victim.PID)
	}
	if !slices.Equal(kept, unplaced) {
		t.Errorf("the pod filter kept the kills of %v, want those without a cgroup, %v", kept, unplaced)
	}
}

// explain without FILE reads /dev/kmsg: where kernel.dmesg_restrict keeps
// it from the user, one line says what it needs, and what to give instead.
func TestExplainKmsgUnprivileged(t *testing.T) {
	requireRoot(t)
	restrict, err := os.ReadFile("/proc/sys/kernel/dmesg_restrict")
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, status := runBin(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "explain")
	if strings.TrimSpace(string(restrict)) == "0" {
		if status != 0 {
			t.Errorf("explain as nobody, with the log readable by all: status %d\n%s", status, stderr)
		}
		return
	}
	if status != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "needs root, or CAP_SYSLOG") || !strings.Contains(stderr, "or give a saved kernel log as FILE") {
		t.Errorf("explain as nobody: status %d\n%s", status, stderr)
	}
}
