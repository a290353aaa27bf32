package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/output"
)

// runBin runs the binary under test, as cred when not nil, and returns
// stdout, stderr and the exit status.
func runBin(t *testing.T, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(oomtraceBin, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return runCmd(t, cmd)
}

// runCmd runs cmd and returns stdout, stderr and the exit status.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("run %v: %v", cmd.Args, err)
	return "", "", 0
}

// The README's first command: a real OOM kill, traced and explained, and
// the temporary cgroup gone afterwards.
func TestDemo(t *testing.T) {
	h := requireRoot(t)
	stdout, stderr, status := runBin(t, nil, "demo", "--mode", modeUnderTest())
	if status != 0 {
		t.Fatalf("oomtrace demo exited %d\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	var kills []event.Event
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		ev, err := output.ParseText([]byte(line + "\n"))
		if err != nil {
			t.Fatalf("demo output line %q: %v", line, err)
		}
		if ev.Kind == event.KindOOMKill {
			kills = append(kills, ev)
		}
	}
	if len(kills) != 1 {
		t.Fatalf("demo printed %d oom_kill events, want 1:\n%s", len(kills), stdout)
	}
	k := kills[0].OOMKill
	if k.Class != event.ClassMemcg || k.Victim.Comm != "oomtrace-hog" || !strings.HasPrefix(k.OOMCgroup.Path, "/oomtrace-demo-") ||
		k.OOMCgroup.LimitBytes != 32<<20 {
		t.Errorf("demo kill: class %s victim %q oom cgroup %q limit %d", k.Class, k.Victim.Comm, k.OOMCgroup.Path, k.OOMCgroup.LimitBytes)
	}
	if !strings.Contains(stderr, "demo: the kernel killed pid") {
		t.Errorf("no account of the kill on stderr:\n%s", stderr)
	}
	left, err := filepath.Glob(filepath.Join(h.Mountpoint, strings.TrimPrefix(k.OOMCgroup.Path, "/")))
	if err != nil || len(left) != 0 {
		t.Errorf("demo cgroup %s left behind: %v %v", k.OOMCgroup.Path, left, err)
	}
}

// serve's interval is its own, 15 s by default, and -h says so: it said
// 10 s, and rewrote a 10 s given to 15 s.
func TestServeInterval(t *testing.T) {
	stdout, stderr, _ := runBin(t, nil, "serve", "-h")
	if help := stdout + stderr; !strings.Contains(help, "reclaim histograms and loss counts to the metrics (default 15s)") {
		t.Errorf("serve -h:\n%s", help)
	}
}

// In kmsg mode the demo has no kernel side to filter by cgroup: the kills
// of another cgroup, going on all through it, are not the demo's.
func TestDemoKmsgOnlyItsKill(t *testing.T) {
	h := requireRoot(t)
	other := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 16)
	// The kernel prints ten OOM reports in five seconds: the other
	// cgroup's kills are spaced and few, and the tests after this one
	// find the budget whole again.
	const maxOther, spacing = 5, 250 * time.Millisecond
	start := time.Now()
	t.Cleanup(func() { time.Sleep(time.Until(start.Add(5 * time.Second))) })
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		kills := 0
		for kills < maxOther {
			cmd, err := memcg.StartHog(other, 32, memcg.HogOptions{Comm: "otherhog"})
			if err != nil {
				done <- -1
				return
			}
			cmd.Wait()
			kills++
			select {
			case <-stop:
				done <- kills
				return
			case <-time.After(spacing):
			}
		}
		<-stop
		done <- kills
	}()
	stdout, stderr, status := runBin(t, nil, "demo", "--mode", "kmsg")
	close(stop)
	if n := <-done; n < 1 {
		t.Fatalf("the other cgroup's hogs: %d kills", n)
	}
	if status != 0 {
		t.Fatalf("oomtrace demo --mode kmsg exited %d\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	// The kills of the other cgroup whose reports the kernel held back
	// name no cgroup, and pass a filter that cannot place them; those it
	// can place are not the demo's.
	own := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		ev, err := output.ParseText([]byte(line + "\n"))
		if err != nil {
			t.Fatalf("demo output line %q: %v", line, err)
		}
		if ev.Kind != event.KindOOMKill {
			continue
		}
		if c := ev.OOMKill.Victim.Cgroup.Path; c == other.Path() {
			t.Errorf("demo printed a kill in the other cgroup: %s", line)
		}
		if ev.OOMKill.Victim.Comm == "oomtrace-hog" {
			own++
		}
	}
	if own != 1 || !strings.Contains(stderr, `demo: the kernel killed pid`) || !strings.Contains(stderr, `("oomtrace-hog")`) {
		t.Errorf("demo printed %d kills of its hog, and this account:\n%s", own, stderr)
	}
}

// doctor tells the truth about this kernel: the modes it calls ok are the
// ones trace can run, and auto is the first of them.
func TestDoctorAgreesWithTrace(t *testing.T) {
	requireRoot(t)
	stdout, stderr, status := runBin(t, nil, "doctor")
	if status != 0 {
		t.Fatalf("doctor exited %d\n%s%s", status, stdout, stderr)
	}
	autoLine := regexp.MustCompile(`(?m)^auto mode: (\w+),`).FindStringSubmatch(stdout)
	if autoLine == nil {
		t.Fatalf("no auto mode line in:\n%s", stdout)
	}
	for _, mode := range []string{"fentry", "kprobe", "tracepoint"} {
		line := regexp.MustCompile(`(?m)^  (ok|FAIL)\s+` + mode + ` mode\s`).FindStringSubmatch(stdout)
		if line == nil {
			t.Fatalf("doctor says nothing of %s mode:\n%s", mode, stdout)
		}
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(oomtraceBin, "trace", "--mode", mode, "--ready-file", ready)
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		works := waitReadyOrExit(cmd, ready)
		if works != (line[1] == "ok") {
			t.Errorf("doctor says %s for %s mode, but trace --mode %s works=%v\n%s", line[1], mode, mode, works, errBuf.String())
		}
	}
	// Root reads the kernel log: kmsg mode and the kills' oom_report.
	if !regexp.MustCompile(`(?m)^  ok\s+kernel log\s+/dev/kmsg readable`).MatchString(stdout) {
		t.Errorf("doctor does not say root reads the kernel log:\n%s", stdout)
	}
}

// Without the privileges BPF needs, doctor says what trace does: auto
// falls back to the kernel log, which root still reads.
func TestDoctorWithoutBPF(t *testing.T) {
	requireRoot(t)
	setpriv := requireTool(t, "setpriv", "util-linux")
	noBPF := []string{"--bounding-set=-bpf,-perfmon,-sys_admin", oomtraceBin}
	out, err := exec.Command(setpriv, append(noBPF, "doctor")...).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^auto mode: kmsg, because no BPF mode loads`).Match(out) {
		t.Errorf("doctor without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: %v\n%s", err, out)
	}
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(setpriv, append(noBPF, "trace", "--ready-file", ready)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitReadyOrExit(cmd, ready) || !strings.Contains(stderr.String(), "mode=kmsg") {
		t.Errorf("trace without them did not attach in kmsg mode:\n%s", stderr.String())
	}
}

// waitReadyOrExit reports whether the tracer got attached; it stops it.
// It looks every 20 ms, as startTracer does: a loop that never sleeps
// takes a CPU from the tracer it waits for (one of two in the vmtest
// guests, where loading the programs takes seconds).
func waitReadyOrExit(cmd *exec.Cmd, ready string) bool {
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		if _, err := os.Stat(ready); err == nil {
			cmd.Process.Signal(syscall.SIGINT)
			<-exited
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Without privileges: one sentence and status 1, never a Go stack trace.
func TestUnprivileged(t *testing.T) {
	requireRoot(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, args := range [][]string{{"trace"}, {"demo"}} {
		stdout, stderr, status := runBin(t, nobody, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if status != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "oomtrace: ") || strings.Contains(stderr, "goroutine") {
			t.Errorf("oomtrace %v as nobody: status %d, stderr:\n%s", args, status, stderr)
		}
		if stdout != "" {
			t.Errorf("oomtrace %v as nobody wrote to stdout: %q", args, stdout)
		}
	}
}

// The first SIGTERM asks oomtrace to finish what it holds; a second ends
// it at once, also where the first cannot be acted on: here, opening a
// FIFO for its log that no one reads.
func TestSecondSignalEnds(t *testing.T) {
	requireRoot(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(oomtraceBin, "record", "-o", fifo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		t.Fatalf("record stopped on the first SIGTERM while opening a FIFO no one reads (%v): the test shows nothing", err)
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("after the second SIGTERM: %v, want death by SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("record still runs 5 s after a second SIGTERM")
	}
}

// A recording that cannot start leaves the file it was to write as it
// was: an earlier log keeps its lines, and nothing is made where there was
// nothing.
func TestRecordThatCannotStart(t *testing.T) {
	dir := t.TempDir()
	earlier, fresh := filepath.Join(dir, "earlier.log"), filepath.Join(dir, "fresh.log")
	const before = "an earlier recording\n"
	if err := os.WriteFile(earlier, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{earlier, fresh} {
		_, stderr, status := runBin(t, nil, "record", "--mode", "kmsg", "--events", "reclaim,exit", "-o", out, "--", "true")
		if want := "cannot honour --events reclaim,exit (the log has only the OOM kills, which it leaves out): leave them out, or choose a BPF mode"; status != 1 || !strings.Contains(stderr, want) {
			t.Errorf("record -o %s with nothing to trace: status %d, want 1 and %q\n%s", out, status, want, stderr)
		}
	}
	if data, err := os.ReadFile(earlier); err != nil || string(data) != before {
		t.Errorf("the earlier log: %q, %v; want it as it was", data, err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the log of a recording that did not start: %v, want none", err)
	}
}

func TestUsageErrors(t *testing.T) {
	requireRoot(t)
	for _, args := range [][]string{
		{"frobnicate"},
		{"trace", "--mode", "ebpf"},
		{"trace", "--output", "xml"},
		{"trace", "--class", "memcg,huge"},
		{"trace", "--cgroup", "/no/such/cgroup/here"},
		{"trace", "--cgroup", "/sys/fs/cgroup/memory/"},
		{"record", "-o", filepath.Join(t.TempDir(), "log"), "--watch-cgroup", "/sys/fs/cgroup/memory/x", "--", "true"},
		{"trace", "--bogus-flag"},
		{"trace", "--ring-buffer", "3MiB"},
		{"trace", "--ring-buffer", "lots"},
		{"trace", "--mode", "kmsg", "--ring-buffer", "8MiB"},
		{"trace", "extra-argument"},
		{"serve", "--interval", "0"},
	} {
		_, stderr, status := runBin(t, nil, args...)
		if status == 0 || strings.Contains(stderr, "goroutine") || !strings.Contains(stderr, "oomtrace") {
			t.Errorf("oomtrace %v: status %d, stderr:\n%s", args, status, stderr)
		}
	}
}

// gate --junit records rules that cannot be applied as an error, so that a
// CI system shows the gate broken rather than passed with no test.
func TestGateJUnitOfBadRules(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "gate.xml")
	capture := filepath.Join("..", "testdata", "capture", "memcg-oom.log")
	_, stderr, status := runBin(t, nil, "gate", "--max-regression", "10", "--junit", junit, capture)
	data, err := os.ReadFile(junit)
	if status != 2 || !strings.Contains(stderr, "--max-regression needs --baseline") || err != nil ||
		!strings.Contains(string(data), `errors="1"`) || !strings.Contains(string(data), `<error message="gate: --max-regression needs --baseline`) {
		t.Errorf("gate with a regression limit and no baseline: status %d, stderr %q; JUnit %v:\n%s", status, stderr, err, data)
	}
}

// An output file that is also an input is refused before anything is
// written: report --html or gate --junit would destroy the capture.
func TestOutputIsNotAnInput(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "run.log")
	original, err := os.ReadFile(filepath.Join("..", "testdata", "capture", "memcg-oom.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(capture, original, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.log")
	if err := os.Link(capture, other); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"report", "--html", capture, capture},
		{"report", "--html", other, capture}, // the same file by another name
		{"gate", "--junit", filepath.Join(dir, ".", "run.log"), capture},
		{"gate", "--junit", capture, "--baseline", capture, "--max-regression", "10", filepath.Join("..", "testdata", "capture", "memcg-oom.log")},
	} {
		_, stderr, status := runBin(t, nil, args...)
		if status != 2 || !strings.Contains(stderr, "is also a file to read: writing it would destroy it") {
			t.Errorf("oomtrace %v: status %d, want 2 and a refusal\n%s", args, status, stderr)
		}
		if data, err := os.ReadFile(capture); err != nil || !bytes.Equal(data, original) {
			t.Fatalf("oomtrace %v changed the capture (%v)", args, err)
		}
	}
}

// The commands that read captures give a command-line mistake status 2,
// as their usage says, whichever flag it is.
func TestReadingCommandsUsageErrors(t *testing.T) {
	capture := filepath.Join("..", "testdata", "capture", "memcg-oom.log")
	for _, args := range [][]string{
		{"report", "--class", "bogus", capture},
		{"explain", "--class", "bogus", capture},
		{"gate", "--class", "bogus", capture},
		{"report", "--html", "", capture},
		{"report", "--output", "xml", capture},
		{"gate", "--max-kills", "-1", capture},
	} {
		_, stderr, status := runBin(t, nil, args...)
		if status != 2 || !strings.Contains(stderr, "oomtrace") || strings.Contains(stderr, "goroutine") {
			t.Errorf("oomtrace %q: status %d, want 2\n%s", args, status, stderr)
		}
	}
}

// plantLinks makes in dir a regular file holding content, a link to it,
// and a link to nothing: what someone else could leave where root writes.
func plantLinks(t *testing.T, dir, content string) (target, link, dangling string) {
	t.Helper()
	target, link, dangling = filepath.Join(dir, "someone-elses"), filepath.Join(dir, "link"), filepath.Join(dir, "dangling")
	if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nothing"), dangling); err != nil {
		t.Fatal(err)
	}
	return target, link, dangling
}

// An output that is a link to a regular file, or to nothing, is refused
// by every command that writes one: whoever can make links where root
// writes would choose the file written.
func TestOutputLinksRefused(t *testing.T) {
	dir := t.TempDir()
	target, link, dangling := plantLinks(t, dir, "keep me")
	capture := filepath.Join("..", "testdata", "capture", "memcg-oom.log")
	for _, out := range []string{link, dangling} {
		for _, args := range [][]string{
			{"record", "-o", out, "--", "true"},
			{"gate", "--junit", out, capture},
			{"report", "--html", out, capture},
		} {
			_, stderr, status := runBin(t, nil, args...)
			if status != 2 || !strings.Contains(stderr, out+" is a link to a file, or to nothing: give the file's own path") {
				t.Errorf("oomtrace %q: status %d, want 2 and a refusal\n%s", args, status, stderr)
			}
		}
	}
	if data, err := os.ReadFile(target); err != nil || string(data) != "keep me" {
		t.Errorf("the link's target: %q, %v; want it untouched", data, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dangling link's target was made: %v", err)
	}
}
