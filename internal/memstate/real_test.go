package memstate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memcg/memcgtest"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

func TestMain(m *testing.M) {
	memcg.HogMain()
	os.Exit(m.Run())
}

const mib = 1 << 20

// create makes a cgroup for the test and returns it with its id.
func create(t *testing.T, h memcg.Hierarchy, rel string, limit int64) (*memcg.Group, uint64) {
	t.Helper()
	g := memcgtest.Create(t, h, rel, limit)
	return g, memcgtest.ID(t, h, g)
}

// oomKill runs a hog of 64 MiB in g, over its (or its parent's) 32 MiB
// limit, and waits for the kernel to kill it.
func oomKill(t *testing.T, g *memcg.Group) {
	t.Helper()
	cmd, err := memcg.StartHog(g, 64, memcg.HogOptions{Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("hog %d still running after 30s", cmd.Process.Pid)
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("hog ended with %v, want SIGKILL", cmd.ProcessState)
	}
}

// snapshot reads g with the short deadline the tracer uses.
func snapshot(t *testing.T, r *memstate.Reader, dir string, id uint64) event.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s := r.Read(ctx, dir, id)
	t.Logf("snapshot of %s: %+v", dir, s)
	return s
}

func nodePressurePath(t *testing.T) string {
	_, err := os.Stat(memstate.NodePressurePath)
	if errors.Is(err, os.ErrNotExist) {
		return "" // CONFIG_PSI off: nothing to test against
	}
	if err != nil {
		t.Fatal(err)
	}
	return memstate.NodePressurePath
}

func TestRealSnapshotBeforeAndAfterOOM(t *testing.T) {
	h := memcgtest.Require(t)
	psi := nodePressurePath(t)
	r := memstate.NewReader(h.Version, psi)
	g, id := create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)

	s := snapshot(t, r, g.Dir(), id)
	if s.Status != event.SnapshotOK || s.Version != h.Version {
		t.Fatalf("status %q (%s), version %d", s.Status, s.Reason, s.Version)
	}
	for _, f := range []event.SnapshotField{event.SnapAnon, event.SnapFile, event.SnapShmem, event.SnapEventsOOMKill} {
		if !s.Has(f) {
			t.Errorf("field %#x missing", f)
		}
	}
	if psi != "" && !s.Has(event.SnapNodePressure) {
		t.Errorf("%s exists but the node's pressure is missing", psi)
	}
	if s.EventsOOMKill != 0 {
		t.Errorf("a new cgroup has %d OOM kills", s.EventsOOMKill)
	}
	if h.Version == 1 && s.Has(event.SnapSwapLimit) && s.SwapLimitBytes != 0 {
		t.Errorf("swap limit %d; memcg ties memory+swap to the memory limit, so want 0", s.SwapLimitBytes)
	}

	oomKill(t, g)
	s = snapshot(t, r, g.Dir(), id)
	if s.Status != event.SnapshotOK {
		t.Fatalf("after the kill: status %q (%s)", s.Status, s.Reason)
	}
	if s.EventsOOMKill != 1 {
		t.Errorf("after the kill: %d OOM kills, want 1", s.EventsOOMKill)
	}
	// failcnt is not checked: memcg ties the memory+swap limit to the
	// memory limit, and a charge refused by the memory+swap limit is counted
	// in neither failcnt (6.18).
	if h.Version == 1 && !s.Has(event.SnapFailcnt) {
		t.Error("after the kill: failcnt not read")
	}
	if h.Version == 2 && (s.EventsMax == 0 || s.EventsOOM == 0) {
		t.Errorf("after the kill: max %d, oom %d; want both counted", s.EventsMax, s.EventsOOM)
	}
}

// TestRealValuesOfALiveCgroup holds 8 MiB in a cgroup and checks the
// snapshot against the cgroup's own files, read after it: the values the
// library delivers, and the ones read beside it.
func TestRealValuesOfALiveCgroup(t *testing.T) {
	h := memcgtest.Require(t)
	r := memstate.NewReader(h.Version, "")
	g, id := create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	cmd, err := memcg.StartHog(g, 8, memcg.HogOptions{Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// The hog's runtime holds memory of its own before it touches its
	// 8 MiB: it is done once its anon memory is past 8 MiB and has stopped
	// growing between two snapshots.
	var s, before event.Snapshot
	for deadline := time.Now().Add(10 * time.Second); s.Anon < 8*mib || s.Anon != before.Anon; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hog's 8 MiB never showed, or never stopped growing: %+v", s)
		}
		before = s
		if s = snapshot(t, r, g.Dir(), id); s.Status != event.SnapshotOK {
			t.Fatalf("status %q (%s)", s.Status, s.Reason)
		}
	}
	stat := readKeyed(t, filepath.Join(g.Dir(), "memory.stat"))
	anon, file := stat["anon"], stat["file"]
	if h.Version == 1 {
		anon, file = stat["total_rss"], stat["total_cache"]
	}
	// The hog sleeps: its memory moves by a few pages at most.
	if !near(s.Anon, anon) || !near(s.File, file) {
		t.Errorf("anon %d, file %d; memory.stat says %d, %d", s.Anon, s.File, anon, file)
	}
	if !s.Has(event.SnapKernel) || s.Kernel == 0 {
		t.Errorf("kernel memory of a live process: read %v, %d bytes", s.Has(event.SnapKernel), s.Kernel)
	}
	if h.Version == 1 {
		oom := readKeyed(t, filepath.Join(g.Dir(), "memory.oom_control"))
		if !s.Has(event.SnapUnderOOM) || s.UnderOOM || s.OOMKillDisable != (oom["oom_kill_disable"] != 0) || !s.Has(event.SnapFailcnt) {
			t.Errorf("oom_control %v: got %+v", oom, s)
		}
		if _, err := os.Stat(filepath.Join(g.Dir(), "memory.memsw.limit_in_bytes")); err == nil && (!s.Has(event.SnapSwapLimit) || s.SwapLimitBytes != 0) {
			t.Errorf("swap limit read %v, %d bytes; memcg ties memory+swap to the memory limit, so want 0", s.Has(event.SnapSwapLimit), s.SwapLimitBytes)
		}
	}
}

// near reports whether two readings of a sleeping cgroup's memory agree
// within 1 MiB.
func near(a, b uint64) bool {
	return max(a, b)-min(a, b) <= mib
}

func readKeyed(t *testing.T, name string) map[string]uint64 {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]uint64{}
	for line := range strings.Lines(string(b)) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			t.Fatalf("%s: line %q", name, line)
		}
		values[key] = n
	}
	return values
}

// TestRealParentLimit pins what the OOM killer's counters say when a
// parent's limit kills in a child, as with a pod-level limit: v1 counts the
// kill only in the victim's own cgroup, v2 in its ancestors too.
func TestRealParentLimit(t *testing.T) {
	h := memcgtest.Require(t)
	r := memstate.NewReader(h.Version, "")
	parent, parentID := create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	child, childID := create(t, h, filepath.Join(filepath.Base(parent.Dir()), "child"), 0)
	oomKill(t, child)

	p := snapshot(t, r, parent.Dir(), parentID)
	c := snapshot(t, r, child.Dir(), childID)
	if p.Status != event.SnapshotOK || c.Status != event.SnapshotOK {
		t.Fatalf("status parent %q, child %q", p.Status, c.Status)
	}
	if c.EventsOOMKill != 1 {
		t.Errorf("child: %d OOM kills, want 1", c.EventsOOMKill)
	}
	wantParent := uint64(0)
	if h.Version == 2 {
		wantParent = 1
	}
	if p.EventsOOMKill != wantParent {
		t.Errorf("parent on v%d: %d OOM kills, want %d", h.Version, p.EventsOOMKill, wantParent)
	}
}

func TestRealRemovedAndReplaced(t *testing.T) {
	h := memcgtest.Require(t)
	r := memstate.NewReader(h.Version, "")
	rel := memcg.UniqueName("oomtrace-test")
	g, err := h.Create(rel, 32*mib)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.ID(g.Path())
	if err != nil {
		g.Remove()
		t.Fatal(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if s := snapshot(t, r, g.Dir(), id); s.Status != event.SnapshotRemoved {
		t.Errorf("removed cgroup: status %q (%s), want %q", s.Status, s.Reason, event.SnapshotRemoved)
	}

	// A new cgroup at the same path is not the one that was asked for.
	again, againID := create(t, h, rel, 32*mib)
	if againID == id {
		t.Skipf("the new cgroup got the old one's id %d", id)
	}
	if s := snapshot(t, r, again.Dir(), id); s.Status != event.SnapshotRemoved {
		t.Errorf("replaced cgroup: status %q, want %q", s.Status, event.SnapshotRemoved)
	}
	if s := snapshot(t, r, again.Dir(), againID); s.Status != event.SnapshotOK {
		t.Errorf("new cgroup: status %q (%s)", s.Status, s.Reason)
	}
}

// TestRealRemovedWhileOpen removes the cgroup between opening its
// directory and reading its files, the race a snapshot of a dying
// container runs: the files fail as a removed cgroup's do.
func TestRealRemovedWhileOpen(t *testing.T) {
	h := memcgtest.Require(t)
	g, _ := create(t, h, memcg.UniqueName("oomtrace-test"), 32*mib)
	dir, err := os.Open(g.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	stat, err := os.Open(filepath.Join(g.Dir(), "memory.stat"))
	if err != nil {
		t.Fatal(err)
	}
	defer stat.Close()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := stat.Read(make([]byte, 4096)); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("read of an open file of a removed cgroup: %v, want ENODEV", err)
	}
	if _, err := syscall.Openat(int(dir.Fd()), "memory.stat", syscall.O_RDONLY, 0); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("open in a removed cgroup's directory: %v, want ENOENT", err)
	}
}

// BenchmarkRealRead times one snapshot of a real memory cgroup with the
// node's pressure.
func BenchmarkRealRead(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to create memory cgroups")
	}
	h, err := memcg.Detect()
	if err != nil {
		b.Fatal(err)
	}
	g, err := h.Create(memcg.UniqueName("oomtrace-bench"), 32*mib)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Remove()
	id, err := h.ID(g.Path())
	if err != nil {
		b.Fatal(err)
	}
	r := memstate.NewReader(h.Version, memstate.NodePressurePath)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if s := r.Read(ctx, g.Dir(), id); s.Status != event.SnapshotOK {
			b.Fatalf("status %v (%s)", s.Status, s.Reason)
		}
	}
}
