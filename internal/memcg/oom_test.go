package memcg_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memcg/memcgtest"
)

func TestMain(m *testing.M) {
	memcg.HogMain()
	os.Exit(m.Run())
}

const mib = 1 << 20

func openKmsg(t *testing.T) *kernlog.Reader {
	t.Helper()
	r, err := kernlog.OpenKmsg()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func startHog(t *testing.T, g *memcg.Group, mib int, opts memcg.HogOptions) *exec.Cmd {
	t.Helper()
	opts.Stderr = os.Stderr
	cmd, err := memcg.StartHog(g, mib, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// waitKilled waits for the hog to die and checks it died of SIGKILL.
func waitKilled(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("hog %d still running after 30s", cmd.Process.Pid)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("hog %d ended with %v, want SIGKILL", cmd.Process.Pid, cmd.ProcessState)
	}
}

// oomKill starts a hog of hogMiB in g, checks that it dies of SIGKILL and
// returns the kernel's report of the kill. The summary of the report is rate
// limited for the whole machine (10 reports in 5 s), and other tests may be
// causing OOMs too: when it is missing, the kill is caused once more after
// the rate limit's interval.
func oomKill(t *testing.T, g *memcg.Group, hogMiB int, opts memcg.HogOptions) (kernlog.Kill, int) {
	t.Helper()
	for try := 1; ; try++ {
		r := openKmsg(t)
		cmd := startHog(t, g, hogMiB, opts)
		pid := cmd.Process.Pid
		waitKilled(t, cmd)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		k, err := r.WaitKill(ctx, pid)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if k.Summary != nil {
			return k, pid
		}
		if try == 2 {
			t.Fatalf("kernel report of pid %d has no oom-kill summary twice (rate limited?): %+v", pid, k)
		}
		t.Logf("kernel report of pid %d has no oom-kill summary, rate limited; trying again", pid)
		time.Sleep(5500 * time.Millisecond)
	}
}

func TestHogIsOOMKilled(t *testing.T) {
	h := memcgtest.Require(t)
	// Names with a newline, a control byte, parentheses, a literal \x41,
	// and the text that follows the name in the kernel's "Killed process".
	for _, comm := range []string{"oomtrace-hog", "a (b)\nc)\x01\\x41", ") total-vm:1kB"} {
		t.Run(strconv.Quote(comm), func(t *testing.T) {
			g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
			k, pid := oomKill(t, g, 64, memcg.HogOptions{Comm: comm})
			if k.Comm != comm || k.Summary.Task != comm {
				t.Errorf("kernel named the victim %q (summary %q), want %q", k.Comm, k.Summary.Task, comm)
			}
			if k.Reason != kernlog.ReasonMemcg || kernelClass(k) != event.ClassMemcg {
				t.Errorf("reason %q, class %v; want a memcg OOM", k.Reason, kernelClass(k))
			}
			if k.Summary.OOMMemcg != g.Path() || k.Summary.TaskMemcg != g.Path() {
				t.Errorf("oom_memcg %q, task_memcg %q; want both %q", k.Summary.OOMMemcg, k.Summary.TaskMemcg, g.Path())
			}
			if k.Summary.PID != pid {
				t.Errorf("summary names pid %d, want %d", k.Summary.PID, pid)
			}
			if k.Header != nil && k.Header.Comm != comm {
				t.Errorf("header names %q as invoking the OOM killer, want %q", k.Header.Comm, comm)
			}
			// The hog had filled most of the limit; the rest of its rss was
			// charged before it moved in.
			if k.AnonRSSKB*1024 < 16*mib || k.TotalVMKB < k.AnonRSSKB {
				t.Errorf("victim anon-rss %d kB, total-vm %d kB; want at least 16 MiB anonymous", k.AnonRSSKB, k.TotalVMKB)
			}
		})
	}
}

// A hog of several threads touches all its memory, each thread its share,
// and keeps its threads, each of which carries its name. Twelve is more
// threads than the Go runtime of a one-thread hog starts.
func TestHogInThreads(t *testing.T) {
	h := memcgtest.Require(t)
	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 128*mib)
	const threads, size = 12, 48
	cmd := startHog(t, g, size, memcg.HogOptions{Comm: "threadedhog", Threads: threads})
	deadline := time.Now().Add(30 * time.Second)
	for {
		usage, err := g.Usage()
		if err != nil {
			t.Fatal(err)
		}
		if usage >= size*mib {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hog's cgroup holds %d bytes after 30s, want %d MiB", usage, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < threads {
		t.Errorf("the hog has %d threads, want at least %d", len(tasks), threads)
	}
	for _, task := range tasks {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/comm", cmd.Process.Pid, task.Name()))
		if err == nil && string(comm) != "threadedhog\n" {
			t.Errorf("thread %s is named %q, want threadedhog", task.Name(), comm)
		}
	}
}

func TestParentLimitKillsInChild(t *testing.T) {
	h := memcgtest.Require(t)
	parent := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	child := memcgtest.Create(t, h, filepath.Join(filepath.Base(parent.Dir()), "child"), 0)
	k, _ := oomKill(t, child, 64, memcg.HogOptions{Comm: "child-hog"})
	if k.Summary.OOMMemcg != parent.Path() {
		t.Errorf("oom_memcg %q, want the parent %q", k.Summary.OOMMemcg, parent.Path())
	}
	if k.Summary.TaskMemcg != child.Path() {
		t.Errorf("task_memcg %q, want the child %q", k.Summary.TaskMemcg, child.Path())
	}
	if k.Comm != "child-hog" {
		t.Errorf("victim %q, want child-hog", k.Comm)
	}
}

func TestOOMScoreAdjReachesReport(t *testing.T) {
	h := memcgtest.Require(t)
	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	adj := 500
	if k, _ := oomKill(t, g, 64, memcg.HogOptions{OOMScoreAdj: &adj}); k.OOMScoreAdj != adj {
		t.Errorf("kernel report says oom_score_adj %d, want %d", k.OOMScoreAdj, adj)
	}
}

func TestRemoveKillsLeftoverProcesses(t *testing.T) {
	h := memcgtest.Require(t)
	g, err := h.Create(memcg.UniqueName("oomtrace-test")+"/a/b", 64*mib)
	if err != nil {
		t.Fatal(err)
	}
	top := filepath.Dir(filepath.Dir(g.Dir()))
	t.Cleanup(func() { g.Remove() })
	cmd := startHog(t, g, 1, memcg.HogOptions{})
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	waitKilled(t, cmd)
	if _, err := os.Stat(top); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s, made by Create as a parent, still exists after Remove: %v", top, err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if err := g.AddProcess(os.Getpid()); err == nil {
		t.Error("AddProcess to a removed group succeeded")
	}
}

// rmdir removes a cgroup the test made itself, waiting out the moment a
// killed process keeps it busy.
func rmdir(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			t.Errorf("rmdir %s: %v", dir, err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// controlFiles are the settings a cgroup's owner makes; this package must
// never change them in a cgroup it did not create.
var controlFiles = []string{
	"cgroup.procs", "cgroup.subtree_control",
	"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
	"memory.max", "memory.high", "memory.low", "memory.min", "memory.swap.max", "memory.oom.group",
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, f := range controlFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			s[f] = string(b)
		}
	}
	return s
}

func checkUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshot(t, dir)
	for f, v := range before {
		if after[f] != v {
			t.Errorf("%s/%s changed from %q to %q", dir, f, v, after[f])
		}
	}
}

func TestNeverTouchesForeignCgroups(t *testing.T) {
	h := memcgtest.Require(t)
	// A cgroup made by "someone else", with a process of its own in a child.
	foreign := filepath.Join(h.Mountpoint, memcg.UniqueName("oomtrace-foreign"))
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rmdir(t, foreign) })
	if h.Version == 2 {
		if err := os.WriteFile(filepath.Join(foreign, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			t.Fatal(err)
		}
	}
	bystanderDir := filepath.Join(foreign, "bystander")
	if err := os.Mkdir(bystanderDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rmdir(t, bystanderDir) })
	bystander := exec.Command("sleep", "60")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		bystander.Process.Kill()
		bystander.Wait()
	})
	if err := os.WriteFile(filepath.Join(bystanderDir, "cgroup.procs"), []byte(strconv.Itoa(bystander.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	root := snapshot(t, h.Mountpoint)
	delete(root, "cgroup.procs") // every process of the machine may come and go there
	before := map[string]map[string]string{
		h.Mountpoint: root,
		foreign:      snapshot(t, foreign),
		bystanderDir: snapshot(t, bystanderDir),
	}

	// An existing cgroup is never adopted.
	if g, err := h.Create(filepath.Base(foreign), 32*mib); err == nil {
		g.Remove()
		t.Fatalf("Create adopted the existing %s", foreign)
	}
	g, err := h.Create(filepath.Join(filepath.Base(foreign), "ours"), 32*mib)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Remove() })
	cmd := startHog(t, g, 1, memcg.HogOptions{})
	if err := g.SetLimit(48 * mib); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	waitKilled(t, cmd)

	for dir, s := range before {
		checkUnchanged(t, dir, s)
	}
	if _, err := os.Stat(bystanderDir); err != nil {
		t.Errorf("foreign cgroup gone after Remove: %v", err)
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("process in a foreign cgroup was killed: %v", err)
	}
}

func TestSetOOMGroup(t *testing.T) {
	h := memcgtest.Require(t)
	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	err := g.SetOOMGroup(true)
	if h.Version == 1 {
		if err == nil {
			t.Error("SetOOMGroup on cgroup v1 succeeded")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(g.Dir(), "memory.oom.group")); err != nil || string(b) != "1\n" {
		t.Errorf("memory.oom.group = %q, %v; want 1", b, err)
	}
}

func TestLimitIsWritten(t *testing.T) {
	h := memcgtest.Require(t)
	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	file := "memory.max"
	if h.Version == 1 {
		file = "memory.limit_in_bytes"
	}
	read := func() string {
		b, err := os.ReadFile(filepath.Join(g.Dir(), file))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != strconv.Itoa(32*mib)+"\n" {
		t.Errorf("%s = %q after Create, want %d", file, got, 32*mib)
	}
	// Raising past the v1 memory+swap limit needs that limit raised first.
	if err := g.SetLimit(64 * mib); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != strconv.Itoa(64*mib)+"\n" {
		t.Errorf("%s = %q after SetLimit, want %d", file, got, 64*mib)
	}
	if err := g.SetLimit(0); err != nil {
		t.Fatal(err)
	}
	if got := read(); got == strconv.Itoa(64*mib)+"\n" {
		t.Errorf("%s = %q after SetLimit(0), want no limit", file, got)
	}
}

// kernelClass is the class the kernel's own report gives a kill, as the
// pipeline's classify stage reads it.
func kernelClass(k kernlog.Kill) event.Class {
	ev := k.Event(kernlog.EventOptions{})
	class, _ := classify.Kill(&ev.OOMKill, classify.Options{})
	return class
}
