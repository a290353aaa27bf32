package memcg

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestID(t *testing.T) {
	mnt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mnt, "pods", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(mnt, "pods", "a"))
	if err != nil {
		t.Fatal(err)
	}
	want := fi.Sys().(*syscall.Stat_t).Ino

	h := Hierarchy{Version: 2, Mountpoint: mnt, Root: "/"}
	for _, p := range []string{"/pods/a", "pods/a", "/pods/a/", "/pods/x/../a"} {
		got, err := h.ID(p)
		if err != nil || got != want {
			t.Errorf("ID(%q) = %d, %v; want %d", p, got, err, want)
		}
	}
	if _, err := h.ID("/pods/missing"); err == nil {
		t.Error("ID of a missing cgroup: no error")
	}

	// A hierarchy whose mount shows only the subtree /pods.
	sub := Hierarchy{Version: 2, Mountpoint: filepath.Join(mnt, "pods"), Root: "/pods"}
	if got, err := sub.ID("/pods/a"); err != nil || got != want {
		t.Errorf("subtree ID(/pods/a) = %d, %v; want %d", got, err, want)
	}
	for _, p := range []string{"/podsX/a", "/other"} {
		if _, err := sub.ID(p); err == nil {
			t.Errorf("subtree ID(%q): no error for a path outside the mount", p)
		}
	}
}

// Only a cgroup known to be gone is removed: a reclaim histogram freed for
// a cgroup that still exists would lose its counts.
func TestRemoved(t *testing.T) {
	mnt := t.TempDir()
	dir := filepath.Join(mnt, "pods", "a")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := Hierarchy{Version: 2, Mountpoint: mnt, Root: "/"}
	id, err := h.ID("/pods/a")
	if err != nil {
		t.Fatal(err)
	}
	if h.Removed("/pods/a", id) {
		t.Error("a cgroup that exists is removed")
	}
	if !h.Removed("/pods/a", id+1) {
		t.Error("a cgroup whose directory is another cgroup's (created since under its name) is not removed")
	}
	if !h.Removed("/pods/missing", id) {
		t.Error("a cgroup without a directory is not removed")
	}
	sub := Hierarchy{Version: 2, Mountpoint: filepath.Join(mnt, "pods"), Root: "/pods"}
	if sub.Removed("/other/a", id) {
		t.Error("a cgroup outside the mounted subtree, which cannot be looked at, is removed")
	}
	// A directory that cannot be looked into tells nothing either.
	if err := os.WriteFile(filepath.Join(mnt, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if h.Removed("/file/a", id) {
		t.Error("a path that cannot be looked up (ENOTDIR) is removed")
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if !h.Removed("/pods/a", id) {
		t.Error("a cgroup whose directory was removed is not removed")
	}
}
