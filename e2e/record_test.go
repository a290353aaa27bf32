package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
)

// The command oomtrace record runs in these tests is this test binary
// again, in the role of a load test that gets OOM-killed in its own
// cgroup: it names itself, moves itself into the memory cgroup in
// selfHogDirEnv, writes its pid to selfHogPIDEnv and allocates
// selfHogMiBEnv MiB, at once or, with selfHogStepEnv, one MiB per step of
// that duration. It exits 0 if that fits.
const (
	selfHogDirEnv  = "OOMTRACE_E2E_SELFHOG_CGROUP_DIR"
	selfHogMiBEnv  = "OOMTRACE_E2E_SELFHOG_MIB"
	selfHogPIDEnv  = "OOMTRACE_E2E_SELFHOG_PIDFILE"
	selfHogStepEnv = "OOMTRACE_E2E_SELFHOG_STEP"
	selfHogComm    = "recordhog"
)

func runSelfHog(dir string) error {
	mib, err := strconv.Atoi(os.Getenv(selfHogMiBEnv))
	if err != nil {
		return err
	}
	// The main thread's name is the victim's name in the kernel's report.
	if err := os.WriteFile("/proc/self/comm", []byte(selfHogComm), 0); err != nil {
		return err
	}
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0); err != nil {
		return err
	}
	if err := os.WriteFile(os.Getenv(selfHogPIDEnv), []byte(pid), 0o644); err != nil {
		return err
	}
	var step time.Duration
	if text, ok := os.LookupEnv(selfHogStepEnv); ok {
		if step, err = time.ParseDuration(text); err != nil {
			return err
		}
	}
	mem, err := unix.Mmap(-1, 0, mib<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	for i := 0; i < len(mem); i += os.Getpagesize() {
		mem[i] = 1
		if step > 0 && (i+os.Getpagesize())%(1<<20) == 0 {
			time.Sleep(step)
		}
	}
	return nil
}

// selfHog is the command and environment that make this test binary a
// self hog allocating mib MiB in g; the pid goes to pidFile.
func selfHog(t *testing.T, g *memcg.Group, mib int, pidFile string) (string, []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return self, append(os.Environ(), selfHogDirEnv+"="+g.Dir(), selfHogMiBEnv+"="+strconv.Itoa(mib), selfHogPIDEnv+"="+pidFile)
}

func readPID(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("the command did not write its pid: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// runEnv runs the binary under test with env and returns stdout, stderr
// and the exit status.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(oomtraceBin, args...)
	cmd.Env = env
	return runCmd(t, cmd)
}

// readLog reads a log with the reader oomtrace report uses.
func readLog(t *testing.T, name string) ([]event.Event, capture.Info) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := capture.NewReader(f, name)
	var events []event.Event
	for {
		var ev event.Event
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			return events, r.Info()
		}
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		events = append(events, ev)
	}
}

// readAll is a file's text, to show in a failure what oomtrace wrote.
func readAll(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", name, err)
	}
	return string(b)
}

func killsIn(events []event.Event) []event.Event {
	var kills []event.Event
	for _, ev := range events {
		if ev.Kind == event.KindOOMKill {
			kills = append(kills, ev)
		}
	}
	return kills
}

// checkComplete checks a log that oomtrace record finished cleanly.
func checkComplete(t *testing.T, events []event.Event, info capture.Info) {
	t.Helper()
	if info.Start == nil || info.Start.Version != output.LogVersion || info.Start.Host == "" || info.Start.Kernel == "" {
		t.Errorf("start line %+v", info.Start)
	}
	if info.End == nil || info.End.Events != uint64(len(events)) || info.End.Lost != 0 {
		t.Errorf("end line %+v for %d events", info.End, len(events))
	}
	if len(info.Warnings) > 0 {
		t.Errorf("warnings reading the log: %q", info.Warnings)
	}
}

// The README's use: a load test wrapped in oomtrace record, killed in its
// own cgroup; the log holds the kill as the kernel reported it, record
// exits as the command did, and gate judges the log.
func TestRecordCommand(t *testing.T) {
	h := requireRoot(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
			dir := t.TempDir()
			log, pidFile := filepath.Join(dir, "capture.log"), filepath.Join(dir, "pid")
			kmsg := openKmsg(t)
			command, env := selfHog(t, g, 64, pidFile)
			_, stderr, status := runEnv(t, env, "record", "--mode", modeUnderTest(), "-o", log, "--output", format,
				"--cgroup", g.Path(), "--", command)
			if status != 128+int(syscall.SIGKILL) {
				t.Fatalf("record exited %d, want 137 as the SIGKILLed command\nstderr:\n%s", status, stderr)
			}
			pid := readPID(t, pidFile)
			events, info := readLog(t, log)
			checkComplete(t, events, info)
			if info.Format.String() != format {
				t.Errorf("log format %s, want %s", info.Format, format)
			}
			kills := killsIn(events)
			if len(kills) != 1 {
				t.Fatalf("%d oom_kill events in the log, want 1; the log:\n%s", len(kills), readAll(t, log))
			}
			checkKill(t, kills[0], kernelKill(t, kmsg, pid), want{
				pid: pid, comm: selfHogComm, victimCg: g.Path(), oomCg: g.Path(), oomLimitMiB: 32,
			})
			// The summary at exit is the report of the capture.
			if !strings.Contains(stderr, "kills: 1 (memcg 1)") || !strings.Contains(stderr, fmt.Sprintf("%d %s", pid, selfHogComm)) {
				t.Errorf("no summary of the kill on stderr:\n%s", stderr)
			}
			if strings.Contains(stderr, "\x1b") {
				t.Errorf("live status written to a stderr that is not a terminal:\n%q", stderr)
			}

			stdout, stderr, status := runBin(t, nil, "gate", log, "--max-kills", "0")
			if status != 1 || !strings.Contains(stdout, "FAIL  max-kills 0: 1 kill (limit 0)") ||
				!strings.Contains(stdout, fmt.Sprintf("killed %d (%s), memcg, oom cgroup %s", pid, selfHogComm, g.Path())) {
				t.Errorf("gate --max-kills 0: status %d\n%s%s", status, stdout, stderr)
			}
			junit := filepath.Join(dir, "junit.xml")
			stdout, stderr, status = runBin(t, nil, append([]string{"gate", "--max-kills", "1", "--junit", junit, log}, allowSkipped(t, log)...)...)
			if status != 0 || !strings.Contains(stdout, "gate: all 3 rules passed") {
				t.Errorf("gate --max-kills 1: status %d\n%s%s", status, stdout, stderr)
			}
			if b, err := os.ReadFile(junit); err != nil || !bytes.Contains(b, []byte(`<testcase name="max-kills 1"`)) || bytes.Contains(b, []byte("<failure")) {
				t.Errorf("JUnit report: %v\n%s", err, b)
			}

			stdout, stderr, status = runBin(t, nil, "report", "--output", "json", log)
			var rep struct {
				Kills struct {
					Total uint64
					List  []struct {
						Class  string
						Victim struct{ PID int }
					}
				}
				Lost struct{ Total uint64 }
			}
			if err := json.Unmarshal([]byte(stdout), &rep); status != 0 || err != nil {
				t.Fatalf("report --output json: status %d, %v\n%s%s", status, err, stdout, stderr)
			}
			if rep.Kills.Total != 1 || rep.Kills.List[0].Victim.PID != pid || rep.Kills.List[0].Class != "memcg" || rep.Lost.Total != 0 {
				t.Errorf("report: %+v", rep)
			}
		})
	}
}

// startRecord runs oomtrace record without a command and waits until it
// is tracing.
func startRecord(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin, append([]string{"record", "--mode", modeUnderTest(), "--ready-file", ready}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitReady(t, ready, stderr.String)
	return cmd, &stderr
}

// SIGINT right after a kill: the kill, still in the ring buffer, is in the
// log, and so are the final reclaim_stats and the end line.
func TestRecordSIGINTLosesNothing(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	log := filepath.Join(t.TempDir(), "capture.log")
	rec, stderr := startRecord(t, "-o", log, "--cgroup", g.Path(), "--interval", "0")
	victim := hog(t, g, 64, memcg.HogOptions{Comm: "drainhog"})
	waitSIGKILL(t, victim)
	if err := rec.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := rec.Wait(); err != nil {
		t.Fatalf("record after SIGINT: %v\nstderr:\n%s", err, stderr.String())
	}
	events, info := readLog(t, log)
	checkComplete(t, events, info)
	kills := killsIn(events)
	if len(kills) != 1 || int(kills[0].OOMKill.Victim.TGID) != victim.Process.Pid {
		t.Errorf("%d kills in the log, want the one of pid %d; the log:\n%s", len(kills), victim.Process.Pid, readAll(t, log))
	}
	var stats int
	for _, ev := range events {
		if ev.Kind == event.KindReclaimStats {
			stats++
		}
	}
	if stats == 0 {
		t.Error("no reclaim_stats at exit")
	}
}

// SIGTERM with a command: the command gets SIGTERM, the log is finished,
// and record exits as the command did.
func TestRecordSIGTERMStopsCommand(t *testing.T) {
	requireRoot(t)
	defaultSIGHUP(t)
	// SIGHUP too: the terminal that started it closed. The log ends whole,
	// and the command is not left running.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		log := filepath.Join(t.TempDir(), "capture.log")
		ready := filepath.Join(t.TempDir(), "ready")
		rec := startAttached(t, exec.Command(oomtraceBin, "record", "--mode", modeUnderTest(), "--ready-file", ready, "-o", log, "--", "sleep", "60"), ready)
		time.Sleep(100 * time.Millisecond) // let the command start
		if err := rec.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := <-rec.exited
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGTERM) {
			t.Fatalf("record after %v: %v, want exit status 143 as the SIGTERMed command\nstderr:\n%s", sig, err, rec.stderr.String())
		}
		events, info := readLog(t, log)
		checkComplete(t, events, info)
	}
}

// --duration ends a recording, and the command it runs.
func TestRecordDuration(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{nil, 0},
		{[]string{"--", "sleep", "60"}, 128 + int(syscall.SIGTERM)},
	} {
		log := filepath.Join(dir, fmt.Sprintf("capture-%d.log", tc.status))
		began := time.Now()
		_, stderr, status := runBin(t, nil, append([]string{"record", "--mode", modeUnderTest(), "-o", log, "--duration", "500ms"}, tc.args...)...)
		if status != tc.status || time.Since(began) > 20*time.Second {
			t.Errorf("record --duration 500ms %v: status %d after %v, want %d\n%s", tc.args, status, time.Since(began), tc.status, stderr)
		}
		events, info := readLog(t, log)
		checkComplete(t, events, info)
		if d := info.End.End.Sub(info.Start.Start); d < 500*time.Millisecond {
			t.Errorf("recorded for %v, want at least 500ms", d)
		}
	}
}

// Without privileges: one sentence, status 1, and no empty log left.
func TestRecordUnprivileged(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "capture.log")
	_, stderr, status := runBin(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "record", "-o", log, "--", "true")
	if status != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "oomtrace: ") {
		t.Errorf("record as nobody: status %d\n%s", status, stderr)
	}
	if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log left behind: %v", err)
	}
}

// kill -9 of the recorder: the log keeps every line written, and report
// reads it with a warning; a line cut short at the end is left out with
// another, and a broken line in the middle is an error naming it.
func TestRecordKill9(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	log := filepath.Join(t.TempDir(), "capture.log")
	rec, _ := startRecord(t, "-o", log, "--cgroup", g.Path())
	victim := hog(t, g, 64, memcg.HogOptions{Comm: "hog9"})
	waitSIGKILL(t, victim)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(log); bytes.Contains(b, []byte("oomtrace:oom_kill")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the kill never reached the log")
		}
	}
	rec.Process.Kill()
	rec.Wait()

	stdout, stderr, status := runBin(t, nil, "report", log)
	if status != 0 || !strings.Contains(stdout, "kills: 1 (memcg 1)") || !strings.Contains(stdout, "cut short") ||
		!strings.Contains(stderr, "no end line: the recording did not stop cleanly") {
		t.Errorf("report of a log whose recorder was killed: status %d\n%s%s", status, stdout, stderr)
	}

	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("        hog9 12/12 [000] 1.0"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	stdout, stderr, status = runBin(t, nil, "report", log)
	if status != 0 || !strings.Contains(stdout, "kills: 1 (memcg 1)") || !strings.Contains(stderr, "last line has no newline") {
		t.Errorf("report of a log cut mid-line: status %d\n%s%s", status, stdout, stderr)
	}

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte{'\n'})
	broken := append(bytes.Join(lines[:2], nil), []byte("this is not an event\n")...)
	broken = append(broken, bytes.Join(lines[2:], nil)...)
	if err := os.WriteFile(log, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"report", "gate"} {
		_, stderr, status = runBin(t, nil, cmd, log)
		if status != 2 || !strings.Contains(stderr, log+":3: ") {
			t.Errorf("%s of a log with a broken line 3: status %d\n%s", cmd, status, stderr)
		}
	}
}

// A capture with more reclaim stall than its baseline fails the gate; the
// same capture against itself passes.
func TestGateBaseline(t *testing.T) {
	h := requireRoot(t)
	dir := t.TempDir()
	record := func(name string, limitMiB int64, mib int) string {
		g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), limitMiB)
		log := filepath.Join(dir, name)
		command, env := selfHog(t, g, mib, filepath.Join(dir, name+".pid"))
		if _, stderr, status := runEnv(t, env, "record", "--mode", modeUnderTest(), "-o", log, "--cgroup", g.Path(), "--", command); status != 0 && status != 137 {
			t.Fatalf("record %s: status %d\n%s", name, status, stderr)
		}
		return log
	}
	base := record("baseline.log", 64, 8) // fits: no reclaim, no kill
	cur := record("current.log", 32, 64)  // reclaims, then is killed

	stdout, stderr, status := runBin(t, nil, "gate", "--baseline", base, "--max-regression", "50", cur)
	if status != 1 || !strings.Contains(stdout, "FAIL  max-regression 50%: all reclaim total stall") ||
		!strings.Contains(stdout, "FAIL  max-regression 50%: kills: 1, baseline 0") {
		t.Errorf("gate against a baseline without stall: status %d\n%s%s", status, stdout, stderr)
	}
	stdout, stderr, status = runBin(t, nil, append([]string{"gate", "--baseline", cur, "--max-regression", "50", cur}, allowSkipped(t, cur)...)...)
	if status != 0 {
		t.Errorf("gate of a capture against itself: status %d\n%s%s", status, stdout, stderr)
	}
}

// A perf script log recorded here with real perf reports the same kill as
// the kernel does, its class inferred from the reclaim before it, and its
// pod and container named from the cgroup the victim was moved into while
// perf recorded.
func TestPerfScriptLog(t *testing.T) {
	h := requireRoot(t)
	perf, err := exec.LookPath("perf")
	if err != nil {
		t.Fatal("perf is not installed: apt-get install linux-perf (.ci/run installs it)")
	}
	p := newKubePod(t, "shop", "api-7d9", "api")
	top := memcg.UniqueName("oomtrace-e2e")
	podPath, ctrPath := p.cgroups(top, false)
	createGroup(t, h, top, 0)
	createGroup(t, h, podPath, 32)
	g := createGroup(t, h, ctrPath, 0)
	dir := t.TempDir()
	data, script, pidFile := filepath.Join(dir, "perf.data"), filepath.Join(dir, "perf.txt"), filepath.Join(dir, "pid")
	kmsg := openKmsg(t)
	command, env := selfHog(t, g, 64, pidFile)
	rec := exec.Command(perf, "record", "-q", "-o", data, "-e", "oom:*", "-e", "vmscan:*", "-e", "cgroup:cgroup_attach_task", "-a", "--", command)
	rec.Env = env
	if out, err := rec.CombinedOutput(); err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("perf record: %v\n%s", err, out)
	}
	pid := readPID(t, pidFile)
	k := kernelKill(t, kmsg, pid)
	out, err := exec.Command(perf, "script", "-i", data).Output()
	if err != nil {
		t.Fatalf("perf script: %v", err)
	}
	if err := os.WriteFile(script, out, 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, status := runBin(t, nil, "report", "--output", "json", "--host-root", p.hostRoot, script)
	var rep struct {
		Captures []struct{ Format string }
		Kills    struct {
			Total uint64
			List  []struct {
				Class  string
				Victim struct {
					PID    int
					Comm   string
					Cgroup string
				}
				Owner       struct{ Pod, Container string }
				Why         string
				RSSKB       struct{ Anon, File, Shmem uint64 } `json:"rss_kb"`
				OOMScoreAdj int                                `json:"oom_score_adj"`
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); status != 0 || err != nil {
		t.Fatalf("report of perf script output: status %d, %v\n%s%s", status, err, stdout, stderr)
	}
	if len(rep.Captures) != 1 || rep.Captures[0].Format != "perf script" || rep.Kills.Total != 1 {
		t.Fatalf("report: %+v", rep)
	}
	kill := rep.Kills.List[0]
	if kill.Victim.PID != k.PID || kill.Victim.Comm != k.Comm || kill.Class != kernelClass(k).String() || kill.OOMScoreAdj != k.OOMScoreAdj {
		t.Errorf("kill from perf: %+v\nkernel: %+v", kill, k)
	}
	if kill.Victim.Cgroup != "/"+ctrPath || kill.Owner.Pod != "shop/api-7d9" || kill.Owner.Container != "api" ||
		!strings.Contains(kill.Why, "pod shop/api-7d9") {
		t.Errorf("victim in cgroup %q, owner %+v, why %q; want %q, shop/api-7d9, api", kill.Victim.Cgroup, kill.Owner, kill.Why, "/"+ctrPath)
	}
	// The tracepoint and the kernel's report read the same counters a few
	// microseconds apart: allow a page of drift, as checkKill does.
	for _, c := range [][2]uint64{{kill.RSSKB.Anon, k.AnonRSSKB}, {kill.RSSKB.File, k.FileRSSKB}, {kill.RSSKB.Shmem, k.ShmemRSSKB}} {
		if diff := int64(c[0]) - int64(c[1]); diff < -4 || diff > 4 {
			t.Errorf("rss from perf %+v, kernel anon %d file %d shmem %d kB", kill.RSSKB, k.AnonRSSKB, k.FileRSSKB, k.ShmemRSSKB)
		}
	}
	if stdout, _, status := runBin(t, nil, "gate", "--max-kills", "0", script); status != 1 || !strings.Contains(stdout, fmt.Sprintf("killed %d (%s)", pid, selfHogComm)) {
		t.Errorf("gate --max-kills 0 of the perf log: status %d\n%s", status, stdout)
	}
}

// A gate counts the skipped runs of the programs whose records its rules
// read. skipped-exits.log is written by hand: a capture whose kernel
// skipped five runs of the exit program, as a Linux 7.3 guest's did under
// load, and nothing else.
func TestGateSkippedRunsTheRulesRead(t *testing.T) {
	capture := filepath.Join("..", "testdata", "capture", "skipped-exits.log")
	for _, tc := range []struct {
		rules  []string
		status int
		line   string
	}{
		{[]string{"--max-kills", "0"}, 0, "PASS  max-skipped-runs 0: 0 runs skipped, not counting process_exit:5, whose records no rule reads (limit 0)\n"},
		{[]string{"--max-reclaim-p99", "10ms"}, 0, "PASS  max-skipped-runs 0: 0 runs skipped, not counting process_exit:5, whose records no rule reads (limit 0)\n"},
		{[]string{"--max-deaths-cause", "signal=0"}, 1, "FAIL  max-skipped-runs 0: 5 runs skipped (limit 0)\n        " + capture + ": 5 skipped (process_exit:5)\n"},
		{nil, 1, "FAIL  max-skipped-runs 0: 5 runs skipped (limit 0)\n"},
		{[]string{"--max-skipped-runs", "5"}, 0, "PASS  max-skipped-runs 5: 5 runs skipped (limit 5)\n"},
	} {
		stdout, stderr, status := runBin(t, nil, append([]string{"gate", capture}, tc.rules...)...)
		if status != tc.status || !strings.Contains(stdout, tc.line) {
			t.Errorf("gate %v: status %d, want %d and %q\n%s%s", tc.rules, status, tc.status, tc.line, stdout, stderr)
		}
	}
}

// skippedRunsIn is how many runs of oomtrace's programs the kernel skipped
// while the capture at path was made, as report counts them. Where the
// kernel can preempt a BPF program (7.3), a kill or an exit elsewhere on
// the machine can find its program still running on its CPU and go unseen,
// and gate then fails the capture (max-skipped-runs, 0 unless given) if its
// rules read that program's records, or have no other rules. Tests about
// other rules allow what the capture skipped, and allowSkipped checks that
// a gate without other rules fails without it.
func skippedRunsIn(t *testing.T, path string) uint64 {
	t.Helper()
	stdout, stderr, status := runBin(t, nil, "report", "--output", "json", path)
	var rep struct {
		Lost struct {
			SkippedRuns *uint64 `json:"skipped_runs"`
		}
	}
	if status != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Lost.SkippedRuns == nil {
		t.Fatalf("report --output json %s: status %d, no lost.skipped_runs:\n%s%s", path, status, stdout, stderr)
	}
	return *rep.Lost.SkippedRuns
}

// allowSkipped is the gate flag that allows the capture's skipped runs,
// after checking that gate fails the capture without it when it has any.
func allowSkipped(t *testing.T, path string) []string {
	t.Helper()
	n := skippedRunsIn(t, path)
	if n > 0 {
		stdout, stderr, status := runBin(t, nil, "gate", path)
		runs := map[bool]string{true: "run", false: "runs"}[n == 1]
		if want := fmt.Sprintf("FAIL  max-skipped-runs 0: %d %s skipped (limit 0)", n, runs); status != 1 || !strings.Contains(stdout, want) {
			t.Errorf("gate of a capture with %d skipped runs: status %d, want 1 and %q\n%s%s", n, status, want, stdout, stderr)
		}
		t.Logf("%s: the kernel skipped %d runs of oomtrace's programs; gate allows them", path, n)
	}
	return []string{"--max-skipped-runs", strconv.FormatUint(n, 10)}
}

// A command that cannot be run gives the status a shell gives: 127 when it
// is not found, 126 when it is found but cannot be run.
func TestRecordCommandNotRun(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("not a program\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for command, want := range map[string]int{
		"oomtrace-no-such-command": 127, filepath.Join(dir, "missing"): 127,
		plain: 126, dir: 126,
	} {
		_, stderr, status := runBin(t, nil, "record", "-o", filepath.Join(dir, "log"), "--", command)
		if status != want || !strings.Contains(stderr, command) {
			t.Errorf("record -- %s: status %d, want %d; stderr:\n%s", command, status, want, stderr)
		}
	}
}

// Under nohup (SIGHUP ignored) a closed terminal does not end a
// recording: SIGHUP stops oomtrace only where it would have killed it.
func TestRecordUnderNohup(t *testing.T) {
	requireRoot(t)
	log := filepath.Join(t.TempDir(), "capture.log")
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command("sh", "-c", `trap "" HUP; exec "$0" "$@"`, oomtraceBin, "record", "--mode", modeUnderTest(), "--ready-file", ready, "-o", log, "--", "sleep", "60")
	rec := startAttached(t, cmd, ready)
	exited, stderr := rec.exited, &rec.stderr
	cmd.Process.Signal(syscall.SIGHUP)
	select {
	case err := <-exited:
		t.Fatalf("record under nohup ended on SIGHUP: %v\n%s", err, stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := <-exited
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("record after SIGTERM: %v, want exit status 143\n%s", err, stderr.String())
	}
	events, info := readLog(t, log)
	checkComplete(t, events, info)
}

// defaultSIGHUP has the commands the test starts find SIGHUP at its
// default, as a terminal's session has it, also where the test itself
// runs with it ignored (under nohup, which a child inherits): a signal
// this process catches is reset to its default in a child it executes.
func defaultSIGHUP(t *testing.T) {
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(caught) })
}
