// Package e2e runs the oomtrace binary against real memcg OOM kills and
// holds every event against the kernel's own report in the kernel log.
//
// These tests need root and a memory cgroup hierarchy; they fail, not skip,
// without them. `go test -short` skips them (make test-unit).
package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/gfp"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memcg/memcgtest"
	"github.com/oomtrace/oomtrace/internal/output"
)

// oomtraceBin is the binary under test, built once by TestMain.
var oomtraceBin string

// helperRoles are the helper processes the test binary plays when it is
// run again with one of these variables set, whose value is the role's
// argument: it then does that and exits, 0 on success.
var helperRoles = map[string]func(arg string) error{
	fakeKubeletEnv: runFakeKubelet,
	segfaultEnv:    segfault,
	selfHogDirEnv:  runSelfHog,
	readInEachEnv:  readInEach,
}

// playHelperRole runs the role the environment asks for, if any.
func playHelperRole() {
	for env, role := range helperRoles {
		if arg, ok := os.LookupEnv(env); ok {
			if err := role(arg); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", env, err)
				os.Exit(3)
			}
			os.Exit(0)
		}
	}
}

func TestMain(m *testing.M) {
	playHelperRole()
	memcg.HogMain() // the memory hogs are this test binary, re-executed
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	// In a VM there is no Go toolchain: the binary comes prebuilt.
	if bin := os.Getenv("OOMTRACE_BIN"); bin != "" {
		oomtraceBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "oomtrace-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by all: one test runs the binary as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	oomtraceBin = filepath.Join(dir, "oomtrace")
	build := exec.Command("go", "build", "-o", oomtraceBin, "../cmd/oomtrace")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build oomtrace:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireRoot skips under -short and fails without root: a run as root that
// skipped these tests would report green without testing anything.
func requireRoot(t *testing.T) memcg.Hierarchy {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs root and causes real memcg OOMs; skipped by -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end tests need root: run them with sudo, or use -short (make test-unit) to leave them out")
	}
	h, err := memcg.Detect()
	if err != nil {
		t.Fatalf("no memory cgroup hierarchy: %v", err)
	}
	return h
}

// createGroup makes a test cgroup that is removed when the test ends.
func createGroup(t *testing.T, h memcg.Hierarchy, rel string, limitMiB int64) *memcg.Group {
	t.Helper()
	return memcgtest.Create(t, h, rel, limitMiB<<20)
}

// namesWait lets a kill or an exit wait for the names of a pod seen for the
// first time as long as a guest under software emulation, two at once, may
// need: the default (200 ms) is for real hosts, where the lookups end in
// milliseconds and this bound is never reached.
const namesWait = "--names-wait=5s"

// tracer is a running `oomtrace trace`.
type tracer struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}

	mu     sync.Mutex
	lines  [][]byte
	events []event.Event
	errs   []error
	wake   chan struct{}
}

// modeUnderTest is the attach mode the tests run in: OOMTRACE_MODE, or
// auto when unset.
func modeUnderTest() string {
	if m := os.Getenv("OOMTRACE_MODE"); m != "" {
		return m
	}
	return "auto"
}

// readyTimeout bounds how long oomtrace may take to attach.
const readyTimeout = 2 * time.Minute

// startTracer runs oomtrace trace in the mode under test with args and
// waits until it is attached.
func startTracer(t *testing.T, args ...string) *tracer {
	t.Helper()
	return startTracerUnder(t, nil, args...)
}

// startTracerUnder is startTracer with oomtrace run by the command
// wrapper, which it ends with.
func startTracerUnder(t *testing.T, wrapper []string, args ...string) *tracer {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	args = append([]string{oomtraceBin, "trace", "--mode", modeUnderTest(), "--ready-file", ready}, args...)
	args = append(wrapper, args...)
	tr := &tracer{cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	stdout, err := tr.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tr.cmd.Stderr = &tr.stderr
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go tr.collect(stdout)
	t.Cleanup(func() {
		if tr.cmd.ProcessState == nil {
			tr.cmd.Process.Kill()
			<-tr.done
			tr.cmd.Wait()
		}
	})

	// Verifying the BPF programs takes seconds on a real machine and up to a
	// minute on a 5.10 kernel emulated without KVM (vmtest.sh).
	deadline := time.Now().Add(readyTimeout)
	for {
		if _, err := os.Stat(ready); err == nil {
			return tr
		}
		select {
		case <-tr.done:
			tr.cmd.Wait()
			t.Fatalf("oomtrace exited before it was ready: %v\nstderr:\n%s", tr.cmd.ProcessState, tr.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("oomtrace not ready after %s\nstderr:\n%s", readyTimeout, tr.stderr.String())
		}
	}
}

func (tr *tracer) collect(stdout io.Reader) {
	defer close(tr.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		ev, err := output.Parse(line)
		tr.mu.Lock()
		tr.lines = append(tr.lines, line)
		if err != nil {
			tr.errs = append(tr.errs, fmt.Errorf("%w in line %q", err, line))
		} else {
			tr.events = append(tr.events, ev)
		}
		tr.mu.Unlock()
		select {
		case tr.wake <- struct{}{}:
		default:
		}
	}
	if err := sc.Err(); err != nil {
		tr.mu.Lock()
		tr.errs = append(tr.errs, fmt.Errorf("read the tracer's output: %w", err))
		tr.mu.Unlock()
	}
}

// waitKills waits until the tracer has reported an oom_kill of each pid.
func (tr *tracer) waitKills(t *testing.T, pids ...int) map[int]event.Event {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		found := make(map[int]event.Event)
		tr.mu.Lock()
		for _, ev := range tr.events {
			for _, pid := range pids {
				if ev.Kind == event.KindOOMKill && int(ev.OOMKill.Victim.PID) == pid {
					found[pid] = ev
				}
			}
		}
		tr.mu.Unlock()
		if len(found) == len(pids) {
			return found
		}
		select {
		case <-tr.wake:
		case <-tr.done:
			t.Fatalf("oomtrace exited while waiting for kills of %v\nstderr:\n%s", pids, tr.stderr.String())
		case <-deadline:
			t.Fatalf("no oom_kill event for all of %v within 15s; got %d events\nstderr:\n%s", pids, len(tr.events), tr.stderr.String())
		}
	}
}

// waitFor waits up to timeout until the tracer has reported an event that
// match accepts, and returns the first; what names it in failures.
func (tr *tracer) waitFor(t *testing.T, what string, timeout time.Duration, match func(*event.Event) bool) event.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		tr.mu.Lock()
		for i := range tr.events {
			if match(&tr.events[i]) {
				ev := tr.events[i]
				tr.mu.Unlock()
				return ev
			}
		}
		n := len(tr.events)
		tr.mu.Unlock()
		select {
		case <-tr.wake:
		case <-tr.done:
			t.Fatalf("oomtrace exited while waiting for %s\nstderr:\n%s", what, tr.stderr.String())
		case <-deadline:
			t.Fatalf("no %s within %v; got %d events\nstderr:\n%s", what, timeout, n, tr.stderr.String())
		}
	}
}

// waitSnapshot waits for the oom_snapshot that follows the kill of pid.
func (tr *tracer) waitSnapshot(t *testing.T, pid int) event.Event {
	t.Helper()
	return tr.waitFor(t, fmt.Sprintf("oom_snapshot after the kill of %d", pid), 15*time.Second, func(ev *event.Event) bool {
		return ev.Kind == event.KindOOMSnapshot && int(ev.OOMSnapshot.Victim.PID) == pid
	})
}

// checkKernelReport checks the oom_report that follows the kill ev against
// the kernel's report of it, k, as the test read it from the log: the same
// memory state and failed allocation, and a sentence that says where the
// memory was.
func checkKernelReport(t *testing.T, tr *tracer, ev event.Event, k kernlog.Kill) {
	t.Helper()
	if k.Header == nil {
		t.Logf("kernel header line of pid %d was rate limited: its report adds nothing to the kill, no oom_report compared", k.PID)
		return
	}
	pid := ev.OOMKill.Victim.PID
	rep := tr.waitFor(t, fmt.Sprintf("oom_report after the kill of %d", pid), 15*time.Second, func(e *event.Event) bool {
		return e.Kind == event.KindOOMReport && e.OOMReport.Victim.PID == pid
	}).OOMReport
	var logged *event.OOMKill
	for _, e := range k.Report.Events(nil, kernlog.EventOptions{}) {
		if e.OOMKill.Victim.PID == pid {
			logged = &e.OOMKill
		}
	}
	if logged == nil {
		t.Fatalf("the test's reading of the kernel log has no kill of %d", pid)
	}
	if rep.KillKtimeNS != ev.KtimeNS || rep.Class != ev.OOMKill.Class {
		t.Errorf("oom_report follows the kill at %d of class %s, want %d of %s", rep.KillKtimeNS, rep.Class, ev.KtimeNS, ev.OOMKill.Class)
	}
	if rep.Report != logged.Report || rep.HasGFP != logged.HasGFP || rep.GFPMask != logged.GFPMask || rep.Order != logged.Order {
		t.Errorf("oom_report %+v\nwant, from the kernel log: gfp %v %#x order %d, %+v", rep, logged.HasGFP, logged.GFPMask, logged.Order, logged.Report)
	}
	wantWhy := "node: "
	if ev.OOMKill.Class == event.ClassMemcg {
		wantWhy = "in the cgroup at the kill: anon "
	}
	if !strings.Contains(rep.Why, wantWhy) || !rep.Report.Has() {
		t.Errorf("oom_report of a %s kill: why %q, want it to say %q", ev.OOMKill.Class, rep.Why, wantWhy)
	}
	t.Logf("oom_report: why=%q", rep.Why)
}

// stop sends SIGINT, checks a clean exit, and returns every event.
func (tr *tracer) stop(t *testing.T) []event.Event {
	t.Helper()
	if err := tr.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-tr.done
	if err := tr.cmd.Wait(); err != nil {
		t.Fatalf("oomtrace did not exit cleanly on SIGINT: %v\nstderr:\n%s", err, tr.stderr.String())
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, err := range tr.errs {
		t.Errorf("unparsable output: %v", err)
	}
	return tr.events
}

// hog starts a memory hog in g, allocating mib MiB.
func hog(t *testing.T, g *memcg.Group, mib int, opts memcg.HogOptions) *exec.Cmd {
	t.Helper()
	opts.Stderr = os.Stderr
	cmd, err := memcg.StartHog(g, mib, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// waitSIGKILL waits for cmd and fails unless it died of SIGKILL.
func waitSIGKILL(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("pid %d: want death by SIGKILL, got %v", cmd.Process.Pid, err)
	}
	if ws := exit.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("pid %d: want death by SIGKILL, got %v", cmd.Process.Pid, err)
	}
}

func openKmsg(t *testing.T) *kernlog.Reader {
	t.Helper()
	r, err := kernlog.OpenKmsg()
	if err != nil {
		t.Fatalf("open kernel log: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func kernelKill(t *testing.T, kmsg *kernlog.Reader, pid int) kernlog.Kill {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := kmsg.WaitKill(ctx, pid)
	if err != nil {
		t.Fatalf("kernel report of the kill of pid %d: %v", pid, err)
	}
	return k
}

// want is what a test knows independently of both oomtrace and the kernel
// log: the cgroups it created and the process it started.
type want struct {
	class       event.Class // the zero value, unknown, stands for memcg
	pid         int
	comm        string
	victimCg    string
	oomCg       string
	oomLimitMiB int64
	oomScoreAdj int16
	// groupMember marks an extra victim of memory.oom.group: its OOM
	// cgroup's usage is read after the chosen victim began to free memory.
	groupMember bool
}

// Both read the victim's counters a few microseconds apart, while the victim
// is stopped in the kernel; page tables and total VM stay within a page. The
// RSS counters are further apart, for two reasons. Before 6.2 each thread
// caches up to 64 updates (SPLIT_RSS_COUNTING) and folds them into the mm's
// counters as it exits, which the victim's other threads do in between (seen
// on 5.10: up to 43 pages). From 6.2 on they are per-CPU counters: the
// tracer reads their shared part, as get_mm_counter() does, while kernels
// with "mm: fix the inaccurate memory statistics issue for users" (7.2 and
// 7.3 here) print the exact sum, which is up to batch × CPUs pages more (64
// pages on a 2-CPU guest). Allow 256 pages, enough for both.
const pageKB, rssSlackKB = 4, 4 * 64 * 4

// checkKill holds an oom_kill event against the kernel's report and against
// what the test itself set up.
func checkKill(t *testing.T, ev event.Event, k kernlog.Kill, w want) {
	t.Helper()
	kill := ev.OOMKill
	v := kill.Victim
	wantClass := cmp.Or(w.class, event.ClassMemcg)
	if kill.Class != wantClass || kernelClass(k) != wantClass {
		t.Errorf("class: oomtrace %s, kernel %s, want %s", kill.Class, kernelClass(k), wantClass)
	}
	if int(v.PID) != w.pid || k.PID != w.pid || int(v.TGID) != w.pid {
		t.Errorf("victim pid: oomtrace %d (tgid %d), kernel %d, want %d", v.PID, v.TGID, k.PID, w.pid)
	}
	if v.Comm != w.comm || k.Comm != w.comm {
		t.Errorf("victim comm: oomtrace %q, kernel %q, want %q", v.Comm, k.Comm, w.comm)
	}
	if v.Cgroup.Path != w.victimCg || kill.OOMCgroup.Path != w.oomCg {
		t.Errorf("cgroups: oomtrace victim %q oom %q, want victim %q oom %q", v.Cgroup.Path, kill.OOMCgroup.Path, w.victimCg, w.oomCg)
	}
	// The summary line is rate limited with the header; the "Killed
	// process" line never is.
	if s := k.Summary; s != nil {
		if s.TaskMemcg != v.Cgroup.Path || s.OOMMemcg != kill.OOMCgroup.Path {
			t.Errorf("cgroups: oomtrace victim %q oom %q, kernel task_memcg %q oom_memcg %q",
				v.Cgroup.Path, kill.OOMCgroup.Path, s.TaskMemcg, s.OOMMemcg)
		}
		if s.UID != v.UID {
			t.Errorf("uid in summary: oomtrace %d, kernel %d", v.UID, s.UID)
		}
	} else {
		t.Logf("kernel summary line of pid %d was rate limited; compared paths with the test's own", w.pid)
	}
	if !v.HasUID || v.UID != k.UID {
		t.Errorf("uid: oomtrace %d (has %v), kernel %d", v.UID, v.HasUID, k.UID)
	}
	if v.OOMScoreAdj != w.oomScoreAdj || k.OOMScoreAdj != int(w.oomScoreAdj) {
		t.Errorf("oom_score_adj: oomtrace %d, kernel %d, want %d", v.OOMScoreAdj, k.OOMScoreAdj, w.oomScoreAdj)
	}
	if !v.HasMM {
		t.Errorf("victim memory not reported")
	}
	near := func(name string, got, kernel, slackKB uint64) {
		if diff := int64(got) - int64(kernel); diff < -int64(slackKB) || diff > int64(slackKB) {
			t.Errorf("%s: oomtrace %d kB, kernel %d kB", name, got, kernel)
		}
	}
	near("total-vm", v.TotalVMKB, k.TotalVMKB, pageKB)
	near("anon-rss", v.RSSAnonKB, k.AnonRSSKB, rssSlackKB)
	near("file-rss", v.RSSFileKB, k.FileRSSKB, rssSlackKB)
	near("shmem-rss", v.RSSShmemKB, k.ShmemRSSKB, rssSlackKB)
	near("pgtables", v.PgtablesKB, k.PgtablesKB, pageKB)

	if kill.OOMCgroup.LimitBytes != uint64(w.oomLimitMiB<<20) {
		t.Errorf("oom cgroup limit: %d bytes, want %d MiB", kill.OOMCgroup.LimitBytes, w.oomLimitMiB)
	}
	// The charge that failed would have gone over the limit.
	if !w.groupMember && kill.OOMCgroup.UsageBytes+(2<<20) < kill.OOMCgroup.LimitBytes {
		t.Errorf("oom cgroup usage %d bytes is far below its limit %d", kill.OOMCgroup.UsageBytes, kill.OOMCgroup.LimitBytes)
	}
	if kill.VictimExiting {
		t.Errorf("victim reported as already exiting, but it was killed")
	}
	if ev.Time.IsZero() || time.Since(ev.Time) > time.Minute || time.Since(ev.Time) < 0 {
		t.Errorf("event time %v is not within the last minute", ev.Time)
	}
	recordFacts(t, ev)
	checkExplained(t, ev)
}

// checkControl checks what the mode read of struct oom_control: nothing in
// tracepoint mode, the kernel's gfp mask and order and the limit in pages
// as totalpages in the others.
func checkControl(t *testing.T, ev event.Event, k kernlog.Kill, limitPages uint64) {
	t.Helper()
	kill := ev.OOMKill
	mode := modeUnderTest()
	if mode == "auto" {
		mode = kill.Mode.String()
	}
	if kill.Mode.String() != mode {
		t.Errorf("kill reported by %s mode, want %s", kill.Mode, mode)
	}
	if kill.Mode == event.ModeTracepoint {
		if kill.HasControl {
			t.Error("tracepoint mode cannot read oom_control, yet reported it")
		}
		return
	}
	if !kill.HasControl {
		t.Fatalf("%s mode did not read oom_control", kill.Mode)
	}
	if kill.TotalPages != limitPages {
		t.Errorf("totalpages %d, want the memcg limit of %d pages", kill.TotalPages, limitPages)
	}
	if kill.Points <= 0 {
		t.Errorf("points %d of the chosen victim, want > 0", kill.Points)
	}
	if h := k.Header; h != nil {
		if uint64(kill.GFPMask) != h.GFPMask || int(kill.Order) != h.Order {
			t.Errorf("gfp %#x order %d, kernel gfp %#x order %d", kill.GFPMask, kill.Order, h.GFPMask, h.Order)
		}
	} else {
		t.Logf("kernel header line of pid %d was rate limited; gfp and order not compared", k.PID)
	}
}

func TestPlainKill(t *testing.T) {
	h := requireRoot(t)
	top := memcg.UniqueName("oomtrace-e2e")
	g := createGroup(t, h, top, 32)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path())
	kmsg := openKmsg(t)

	cmd := hog(t, g, 64, memcg.HogOptions{Comm: "plainhog"})
	waitSIGKILL(t, cmd)
	pid := cmd.Process.Pid
	ev := tr.waitKills(t, pid)[pid]
	k := kernelKill(t, kmsg, pid)
	checkKill(t, ev, k, want{
		pid: pid, comm: "plainhog", victimCg: g.Path(), oomCg: g.Path(), oomLimitMiB: 32,
	})
	checkControl(t, ev, k, 32<<20/4096)
	// The allocating task ran into the limit itself.
	if int(ev.OOMKill.Trigger.TGID) != pid || ev.OOMKill.TriggerCgroup.Path != g.Path() {
		t.Errorf("trigger %d in %q, want %d in %q", ev.OOMKill.Trigger.TGID, ev.OOMKill.TriggerCgroup.Path, pid, g.Path())
	}
	checkKernelReport(t, tr, ev, k)
	tr.stop(t)
}

// --cgroup takes the path as users type it: without its leading slash,
// with a trailing one. The kernel side filters by the cgroup's id, and the
// filter stage compares paths: both must find the kill.
func TestCgroupFlagAsTyped(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	tr := startTracer(t, "--output", "json", "--cgroup", strings.TrimPrefix(g.Path(), "/")+"/", "--events", "oom", "--no-snapshot", "--no-kernel-report")
	cmd := hog(t, g, 64, memcg.HogOptions{Comm: "typedhog"})
	waitSIGKILL(t, cmd)
	pid := cmd.Process.Pid
	if ev := tr.waitKills(t, pid)[pid]; ev.OOMKill.Victim.Cgroup.Path != g.Path() {
		t.Errorf("victim cgroup %q, want %q", ev.OOMKill.Victim.Cgroup.Path, g.Path())
	}
	tr.stop(t)
}

// A process the OOM killer killed is one kill, however many of its threads
// the kernel marks as victims: kernels that let dying tasks into the memcg
// OOM killer mark each thread still charging memory on its way out, with no
// SIGKILL and no line in the kernel log of its own.
func TestOneKillPerKilledProcess(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path(), "--events", "oom", "--no-snapshot", "--no-kernel-report")
	kmsg := openKmsg(t)

	const hogs = 12
	var pids []int
	for range hogs {
		cmd := hog(t, g, 64, memcg.HogOptions{Comm: "threadhog", Threads: 8})
		waitSIGKILL(t, cmd)
		pid := cmd.Process.Pid
		kernelKill(t, kmsg, pid) // the kernel logged the kill
		pids = append(pids, pid)
	}
	tr.waitKills(t, pids...)
	// The threads each process's oom_kill events name, by process.
	kills := make(map[int][]string)
	for _, ev := range tr.stop(t) {
		if k := &ev.OOMKill; ev.Kind == event.KindOOMKill {
			thread := fmt.Sprintf("thread %d (victim_exiting %t)", k.Victim.PID, k.VictimExiting)
			kills[int(k.Victim.TGID)] = append(kills[int(k.Victim.TGID)], thread)
		}
	}
	for _, pid := range pids {
		if n := len(kills[pid]); n != 1 {
			t.Errorf("%d oom_kill events for process %d, killed once: %s", n, pid, strings.Join(kills[pid], ", "))
		}
		delete(kills, pid)
	}
	for tgid, threads := range kills {
		t.Errorf("oom_kill of process %d, which no test hog was: %s", tgid, strings.Join(threads, ", "))
	}
}

func TestOOMScoreAdj(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path())
	kmsg := openKmsg(t)

	adj := 737
	cmd := hog(t, g, 64, memcg.HogOptions{Comm: "adjhog", OOMScoreAdj: &adj})
	waitSIGKILL(t, cmd)
	pid := cmd.Process.Pid
	ev := tr.waitKills(t, pid)[pid]
	checkKill(t, ev, kernelKill(t, kmsg, pid), want{
		pid: pid, comm: "adjhog", victimCg: g.Path(), oomCg: g.Path(), oomLimitMiB: 32, oomScoreAdj: 737,
	})
	tr.stop(t)
}

// A pod-level limit over a container: the parent's limit is hit, the
// victim sits in the child.
func TestParentLimit(t *testing.T) {
	h := requireRoot(t)
	top := memcg.UniqueName("oomtrace-e2e")
	parent := createGroup(t, h, top, 40)
	child := createGroup(t, h, top+"/container", 0)
	tr := startTracer(t, "--output", "json", "--cgroup", parent.Path())
	kmsg := openKmsg(t)

	cmd := hog(t, child, 80, memcg.HogOptions{Comm: "childhog"})
	waitSIGKILL(t, cmd)
	pid := cmd.Process.Pid
	ev := tr.waitKills(t, pid)[pid]
	checkKill(t, ev, kernelKill(t, kmsg, pid), want{
		pid: pid, comm: "childhog", victimCg: child.Path(), oomCg: parent.Path(), oomLimitMiB: 40,
	})
	if ev.OOMKill.Victim.Cgroup.LimitBytes != event.NoLimit {
		t.Errorf("child cgroup has no limit of its own, got %d", ev.OOMKill.Victim.Cgroup.LimitBytes)
	}
	tr.stop(t)
}

// The task that runs into the limit is not the one killed: a sleeping
// process with a high oom_score_adj is chosen instead.
func TestVictimIsNotTrigger(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 64)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path())
	kmsg := openKmsg(t)

	adj := 1000
	sleeper := hog(t, g, 24, memcg.HogOptions{Comm: "sleeper", OOMScoreAdj: &adj})
	waitUsage(t, g, 24<<20)
	allocator := hog(t, g, 56, memcg.HogOptions{Comm: "allocator"})
	waitSIGKILL(t, sleeper)
	pid := sleeper.Process.Pid
	ev := tr.waitKills(t, pid)[pid]
	checkKill(t, ev, kernelKill(t, kmsg, pid), want{
		pid: pid, comm: "sleeper", victimCg: g.Path(), oomCg: g.Path(), oomLimitMiB: 64, oomScoreAdj: 1000,
	})
	trig := ev.OOMKill.Trigger
	if int(trig.TGID) != allocator.Process.Pid || trig.Comm != "allocator" {
		t.Errorf("trigger: %d %q, want the allocator %d", trig.TGID, trig.Comm, allocator.Process.Pid)
	}
	if ev.OOMKill.TriggerCgroup.Path != g.Path() {
		t.Errorf("trigger cgroup %q, want %q", ev.OOMKill.TriggerCgroup.Path, g.Path())
	}
	tr.stop(t)
}

// waitUsage waits until g's memory usage reaches bytes.
func waitUsage(t *testing.T, g *memcg.Group, bytes int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		usage, err := g.Usage()
		if err != nil {
			t.Fatal(err)
		}
		if usage >= bytes {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("memory usage of %s did not reach %d bytes", g.Path(), bytes)
}

func TestTwoCgroupsAtOnce(t *testing.T) {
	h := requireRoot(t)
	top := memcg.UniqueName("oomtrace-e2e")
	createGroup(t, h, top, 0)
	a := createGroup(t, h, top+"/a", 32)
	b := createGroup(t, h, top+"/b", 48)
	tr := startTracer(t, "--output", "json", "--cgroup", "/"+top)
	kmsg := openKmsg(t)

	ha := hog(t, a, 64, memcg.HogOptions{Comm: "hog-a"})
	hb := hog(t, b, 96, memcg.HogOptions{Comm: "hog-b"})
	waitSIGKILL(t, ha)
	waitSIGKILL(t, hb)
	kills := tr.waitKills(t, ha.Process.Pid, hb.Process.Pid)
	checkKill(t, kills[ha.Process.Pid], kernelKill(t, kmsg, ha.Process.Pid), want{
		pid: ha.Process.Pid, comm: "hog-a", victimCg: a.Path(), oomCg: a.Path(), oomLimitMiB: 32,
	})
	checkKill(t, kills[hb.Process.Pid], kernelKill(t, kmsg, hb.Process.Pid), want{
		pid: hb.Process.Pid, comm: "hog-b", victimCg: b.Path(), oomCg: b.Path(), oomLimitMiB: 48,
	})
	tr.stop(t)
}

// A SIGKILL from someone is not an OOM kill.
func TestKill9IsNotAnOOMKill(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 64)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path())

	cmd := hog(t, g, 8, memcg.HogOptions{Comm: "victim9"})
	waitUsage(t, g, 8<<20)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitSIGKILL(t, cmd)
	// Prove the tracer is live and filtered to g: a real OOM in g after the
	// kill -9 is reported, and the kill -9 before it is not.
	if err := g.SetLimit(16 << 20); err != nil {
		t.Fatal(err)
	}
	oom := hog(t, g, 32, memcg.HogOptions{Comm: "after9"})
	waitSIGKILL(t, oom)
	tr.waitKills(t, oom.Process.Pid)
	for _, ev := range tr.stop(t) {
		if ev.Kind == event.KindOOMKill && int(ev.OOMKill.Victim.TGID) == cmd.Process.Pid {
			t.Errorf("kill -9 of pid %d reported as an OOM kill: %+v", cmd.Process.Pid, ev.OOMKill)
		}
	}
}

// A process name is anyone's to choose: one with a newline and a terminal
// escape must not break a line, forge a field, or reach the terminal, and
// must parse back to the same bytes.
func TestHostileProcessName(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			tr := startTracer(t, "--output", format, "--cgroup", g.Path())
			kmsg := openKmsg(t)
			comm := "x\n\x1b[31m y=1\"\\"
			cmd := hog(t, g, 64, memcg.HogOptions{Comm: comm})
			waitSIGKILL(t, cmd)
			pid := cmd.Process.Pid
			ev := tr.waitKills(t, pid)[pid]
			if ev.OOMKill.Victim.Comm != comm || ev.Task.Comm != comm {
				t.Errorf("comm parsed back as %q (task %q), want %q", ev.OOMKill.Victim.Comm, ev.Task.Comm, comm)
			}
			// The kernel's own log is split by the newline; its "Killed
			// process" line still names the pid.
			if k := kernelKill(t, kmsg, pid); k.PID != pid {
				t.Errorf("kernel report pid %d, want %d", k.PID, pid)
			}
			tr.stop(t)
			tr.mu.Lock()
			defer tr.mu.Unlock()
			for _, line := range tr.lines {
				for _, c := range line {
					if c < 0x20 || c == 0x7f {
						t.Fatalf("output line holds control byte %#x: %q", c, line)
					}
				}
			}
		})
	}
}

// Memcg reclaim before the kill is timed in the kernel: episodes above
// --reclaim-min are events, and every episode is in reclaim_stats.
func TestReclaimEvents(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path(), "--reclaim-min", "1us", "--interval", "0")

	names, err := gfp.ForKernel(btf.NewCache())
	if err != nil {
		t.Fatal(err)
	}
	cmd := hog(t, g, 64, memcg.HogOptions{Comm: "reclaimer"})
	waitSIGKILL(t, cmd)
	tr.waitKills(t, cmd.Process.Pid)
	events := tr.stop(t)

	var reclaims, statsCount, bucketSum uint64
	var eventBuckets, statsBuckets [event.ReclaimBuckets]uint64
	for _, ev := range events {
		switch ev.Kind {
		case event.KindReclaim:
			r := ev.Reclaim
			if r.Kind != event.ReclaimMemcg || r.Cgroup.Path != g.Path() || r.Duration < time.Microsecond {
				t.Errorf("reclaim event: kind %s cgroup %q duration %s; want memcg in %s, at least 1us", r.Kind, r.Cgroup.Path, r.Duration, g.Path())
			}
			// Memory cgroup reclaim has no order (the kernel traces 0), and
			// its gfp mask is GFP_HIGHUSER_MOVABLE's placement bits with the
			// charge's reclaim bits: for the hog's page faults and page
			// tables, GFP_HIGHUSER_MOVABLE. Read from the wrong tracepoint
			// arguments (Linux 7.1 put gfp_flags before order) the two come
			// out swapped.
			if flags := names.String(r.GFPMask); r.Order != 0 || !strings.HasPrefix(flags, "GFP_HIGHUSER_MOVABLE") {
				t.Errorf("memcg reclaim with order %d and gfp mask %#x (%s), want order 0 and GFP_HIGHUSER_MOVABLE", r.Order, r.GFPMask, flags)
			}
			if int(ev.Task.TGID) != cmd.Process.Pid {
				t.Errorf("reclaim by pid %d, want the hog %d", ev.Task.TGID, cmd.Process.Pid)
			}
			reclaims++
			if us := uint64(r.Duration / time.Microsecond); us >= 2 {
				eventBuckets[min(bits.Len64(us)-1, event.ReclaimBuckets-1)]++
			}
		case event.KindReclaimStats:
			s := ev.ReclaimStats
			if s.Kind != event.ReclaimMemcg || s.Cgroup.Path != g.Path() {
				t.Errorf("reclaim_stats for %s %q, want memcg %s", s.Kind, s.Cgroup.Path, g.Path())
			}
			statsCount += s.Count
			for i, n := range s.Buckets {
				bucketSum += n
				statsBuckets[i] += n
			}
		}
	}
	if reclaims == 0 {
		t.Fatal("no reclaim event before the OOM kill")
	}
	if statsCount < reclaims || bucketSum != statsCount {
		t.Errorf("reclaim_stats count %d (buckets %d) for %d reclaim events above the threshold", statsCount, bucketSum, reclaims)
	}
	// With --reclaim-min 1us every episode of 2 us or more is an event too:
	// the kernel's buckets from the second on ([2^i, 2^(i+1)) us) must hold
	// exactly the events of those durations.
	if !slices.Equal(eventBuckets[1:], statsBuckets[1:]) {
		t.Errorf("kernel histogram %v, events' durations give %v (from bucket 1 on)", statsBuckets[1:], eventBuckets[1:])
	}
}

// readInEachEnv makes the test binary readInEach: its value is a file to
// read, then the cgroup directories to read it in, joined by newlines.
const readInEachEnv = "OOMTRACE_E2E_READ_IN_EACH"

// readInEach joins each cgroup of arg in turn and reads the file there:
// the file's page cache fills the cgroup up to its limit, and its threads
// reclaim in one cgroup after the other.
func readInEach(arg string) error {
	lines := strings.Split(arg, "\n")
	buf := make([]byte, 1<<20)
	for _, dir := range lines[1:] {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return err
		}
		f, err := os.Open(lines[0])
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// A task that reclaims in one cgroup and then in another has each episode
// counted in the histogram of the cgroup it reclaimed in: the kernel side
// remembers a task's last histogram, and must not count there once the
// task has moved. Every episode is an event too (--reclaim-min 1us), so
// each cgroup's histogram must hold exactly its events' durations.
func TestReclaimHistogramsFollowATask(t *testing.T) {
	h := requireRoot(t)
	top := memcg.UniqueName("oomtrace-e2e")
	createGroup(t, h, top, 0)
	groups := []*memcg.Group{createGroup(t, h, top+"/first", 16), createGroup(t, h, top+"/second", 16)}
	// A sparse file on a disk: reading its holes allocates page cache
	// without I/O.
	file := filepath.Join(t.TempDir(), "sparse")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 96<<20); err != nil {
		t.Fatal(err)
	}
	tr := startTracer(t, "--output", "json", "--cgroup", "/"+top, "--reclaim-min", "1us", "--interval", "0")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), readInEachEnv+"="+strings.Join([]string{file, groups[0].Dir(), groups[1].Dir()}, "\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reader: %v\n%s", err, out)
	}
	events := tr.stop(t)

	type histogram [event.ReclaimBuckets]uint64
	fromEvents, fromStats := map[string]*histogram{}, map[string]*histogram{}
	of := func(m map[string]*histogram, path string) *histogram {
		if m[path] == nil {
			m[path] = new(histogram)
		}
		return m[path]
	}
	for _, ev := range events {
		switch ev.Kind {
		case event.KindReclaim:
			if int(ev.Task.TGID) != cmd.Process.Pid || ev.Reclaim.Kind != event.ReclaimMemcg {
				continue
			}
			if us := uint64(ev.Reclaim.Duration / time.Microsecond); us >= 2 {
				of(fromEvents, ev.Reclaim.Cgroup.Path)[min(bits.Len64(us)-1, event.ReclaimBuckets-1)]++
			}
		case event.KindReclaimStats:
			if s := ev.ReclaimStats; s.Kind == event.ReclaimMemcg {
				h := of(fromStats, s.Cgroup.Path)
				for i, n := range s.Buckets {
					h[i] += n
				}
			}
		}
	}
	for _, g := range groups {
		evs, stats := of(fromEvents, g.Path()), of(fromStats, g.Path())
		var n uint64
		for _, c := range evs[1:] {
			n += c
		}
		if n == 0 {
			t.Errorf("no reclaim event of the reader in %s: %v", g.Path(), events)
			continue
		}
		if !slices.Equal(evs[1:], stats[1:]) {
			t.Errorf("%s: kernel histogram %v, the events' durations give %v (from bucket 1 on)", g.Path(), stats[1:], evs[1:])
		}
	}
}

// A removed cgroup's reclaim histogram is given back to the kernel side
// once its counts were written: a node agent that sees cgroups come and go
// for weeks must not run out of histograms. The test looks in the kernel's
// own maps, those of every oomtrace running, for the cgroup's histogram.
// A cgroup whose path is too long for the kernel side to capture whole
// (nested runtimes make such paths) is found gone by its id. A cgroup whose
// directory some process still holds open is gone all the same: before
// Linux 6.1 the kernel still finds such a cgroup by its id.
func TestRemovedCgroupHistogramFreed(t *testing.T) {
	h := requireRoot(t)
	top := memcg.UniqueName("oomtrace-e2e")
	for _, tc := range []struct {
		name      string
		rel       string
		truncated bool
		heldOpen  bool
	}{
		{"whole path", top + "/whole", false, false},
		// The second name starts past the half of the path's 512 bytes
		// that a name may start in (CGROUP_NAME_MAX).
		{"truncated path", top + "/" + strings.Repeat("n", 250) + "/" + strings.Repeat("m", 250), true, false},
		{"directory held open", top + "/held", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := createGroup(t, h, tc.rel, 32)
			const interval = 200 * time.Millisecond
			tr := startTracer(t, "--output", "json", "--cgroup", g.Path(), "--interval", interval.String())
			// The hog reclaims at the limit before it is killed.
			waitSIGKILL(t, hog(t, g, 64, memcg.HogOptions{}))
			id, err := h.ID(g.Path())
			if err != nil {
				t.Fatal(err)
			}
			stats := tr.waitFor(t, "reclaim_stats of "+g.Path(), 15*time.Second, func(ev *event.Event) bool {
				return ev.Kind == event.KindReclaimStats && ev.ReclaimStats.Cgroup.ID == id
			})
			if got := stats.ReclaimStats.Cgroup.Truncated; got != tc.truncated {
				t.Fatalf("reclaim_stats of a %d-byte path: truncated %v, want %v (%q)", len(g.Path()), got, tc.truncated, stats.ReclaimStats.Cgroup.Path)
			}
			if n := histogramsOf(t, tr.cmd.Process.Pid, id); n != 1 {
				t.Fatalf("%d reclaim histograms of cgroup %d in the kernel's maps while it exists, want 1 (%+v)", n, id, stats.ReclaimStats)
			}
			if tc.heldOpen {
				dir, err := os.Open(g.Dir())
				if err != nil {
					t.Fatal(err)
				}
				defer dir.Close()
			}
			if err := g.Remove(); err != nil {
				t.Fatal(err)
			}
			// Freed one interval after its last counts were written: within a few.
			deadline := time.Now().Add(20 * interval)
			for histogramsOf(t, tr.cmd.Process.Pid, id) != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the histogram of removed cgroup %d is still in the kernel's maps after %s", id, 20*interval)
				}
				time.Sleep(interval / 4)
			}
			tr.stop(t)
		})
	}
}

// histogramsOf counts the reclaim histograms of cgroup id published in the
// reclaim_slots map of the oomtrace process pid. Only its own maps count:
// other tracers running meanwhile (the tests of other packages, run at the
// same time) count the same cgroup's episodes in maps of their own.
func histogramsOf(t *testing.T, pid int, id uint64) int {
	t.Helper()
	n := 0
	for _, mapID := range mapsOf(t, pid) {
		m, err := ebpf.NewMapFromID(mapID)
		if errors.Is(err, os.ErrNotExist) {
			continue // gone since
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := m.Info()
		if err == nil && info.Name == "reclaim_slots" {
			key, slot := make([]byte, m.KeySize()), make([]byte, m.ValueSize())
			binary.NativeEndian.PutUint64(key, id) // struct reclaim_stats_key: the cgroup id, then the kind
			for kind := range 3 {
				binary.NativeEndian.PutUint32(key[8:], uint32(kind))
				if m.Lookup(key, slot) == nil {
					n++
				}
			}
		}
		m.Close()
	}
	return n
}

// mapsOf returns the ids of the BPF maps process pid holds open, each once,
// from the map_id lines of its descriptors' fdinfo: oomtrace holds some
// maps twice, as the function hooks of fentry and kprobe mode share the
// maps of the programs every mode runs.
func mapsOf(t *testing.T, pid int) []ebpf.MapID {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.MapID
	for _, e := range entries {
		info, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since
		}
		for line := range strings.Lines(string(info)) {
			if v, ok := strings.CutPrefix(line, "map_id:"); ok {
				id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
				if err != nil {
					t.Fatalf("%s/%s: %q: %v", dir, e.Name(), line, err)
				}
				if !slices.Contains(ids, ebpf.MapID(id)) {
					ids = append(ids, ebpf.MapID(id))
				}
			}
		}
	}
	if len(ids) == 0 {
		t.Fatalf("process %d holds no BPF map open", pid)
	}
	return ids
}

// --pid keeps the kills of one process, as victim or trigger, and nothing
// of other processes.
func TestPIDFilter(t *testing.T) {
	h := requireRoot(t)
	top := memcg.UniqueName("oomtrace-e2e")
	createGroup(t, h, top, 0)
	mine := createGroup(t, h, top+"/mine", 64)
	other := createGroup(t, h, top+"/other", 32)

	adj := 1000
	sleeper := hog(t, mine, 24, memcg.HogOptions{Comm: "sleeper", OOMScoreAdj: &adj})
	waitUsage(t, mine, 24<<20)
	tr := startTracer(t, "--output", "json", "--pid", fmt.Sprint(sleeper.Process.Pid))

	unrelated := hog(t, other, 64, memcg.HogOptions{Comm: "unrelated"})
	waitSIGKILL(t, unrelated)
	hog(t, mine, 56, memcg.HogOptions{Comm: "allocator"})
	waitSIGKILL(t, sleeper)
	tr.waitKills(t, sleeper.Process.Pid)
	for _, ev := range tr.stop(t) {
		if ev.Kind == event.KindOOMKill && int(ev.OOMKill.Victim.TGID) != sleeper.Process.Pid {
			t.Errorf("--pid %d let through the kill of %d (%q)", sleeper.Process.Pid, ev.OOMKill.Victim.TGID, ev.OOMKill.Victim.Comm)
		}
	}
}

// --class is applied after classification: a memcg kill is not a global
// one, while the rest of the stream goes on.
func TestClassFilter(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	global := startTracer(t, "--output", "json", "--cgroup", g.Path(), "--class", "global,sysrq", "--reclaim-min", "1us")
	memcgOnly := startTracer(t, "--output", "json", "--cgroup", g.Path(), "--class", "memcg")

	cmd := hog(t, g, 64, memcg.HogOptions{Comm: "classhog"})
	waitSIGKILL(t, cmd)
	memcgOnly.waitKills(t, cmd.Process.Pid)
	memcgOnly.stop(t)
	var reclaims int
	for _, ev := range global.stop(t) {
		switch ev.Kind {
		case event.KindOOMKill:
			t.Errorf("--class global,sysrq let through a %s kill", ev.OOMKill.Class)
		case event.KindReclaim:
			reclaims++
		}
	}
	if reclaims == 0 {
		t.Error("the --class global tracer saw no reclaim either: was it tracing at all?")
	}
}

// kernelClass is the class the kernel's own report gives a kill, as the
// pipeline's classify stage reads it.
func kernelClass(k kernlog.Kill) event.Class {
	ev := k.Event(kernlog.EventOptions{})
	class, _ := classify.Kill(&ev.OOMKill, classify.Options{})
	return class
}

// procNumber reads the number of key in /proc/pid/file, a file of
// "key: number" lines such as status (in kB there) and io.
func procNumber(t *testing.T, pid int, file, key string) int64 {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s in %s: %q: %v", key, path, rest, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %s", key, path)
	return 0
}
