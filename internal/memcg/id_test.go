package memcg

import (
	"os"
	"path/filepath"
	"strings"
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

// A path typed as users may type it is the path the kernel writes; the
// directory of a cgroup is refused, naming its path.
func TestCleanPath(t *testing.T) {
	v1 := Hierarchy{Version: 1, Mountpoint: "/sys/fs/cgroup/memory", Root: "/"}
	for in, want := range map[string]string{
		"/kubepods": "/kubepods", "kubepods/": "/kubepods", "//kubepods//burstable/": "/kubepods/burstable",
		"/a/../b": "/b", "/": "/", "/sys/fs/cgroupX/memory/a": "/sys/fs/cgroupX/memory/a",
	} {
		if got, err := v1.CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	sub := Hierarchy{Version: 2, Mountpoint: "/sys/fs/cgroup", Root: "/pods"}
	for h, cases := range map[*Hierarchy]map[string]string{
		&v1: {"/sys/fs/cgroup/memory/kubepods/": "give the path from the hierarchy's root, /kubepods", "sys/fs/cgroup/memory/a/b": "root, /a/b",
			"/sys/fs/cgroup/memory/": "root, /"},
		&sub: {"/sys/fs/cgroup/a": "root, /pods/a"},
	} {
		for in, want := range cases {
			if got, err := h.CleanPath(in); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CleanPath(%q) = %q, %v; want an error with %q", in, got, err, want)
			}
		}
	}
	for _, empty := range []string{"", "  "} {
		if got, err := v1.CleanPath(empty); err == nil {
			t.Errorf("CleanPath(%q) = %q, no error", empty, got)
		}
	}
	// Without a hierarchy, a path is only cleaned.
	if got, err := (Hierarchy{}).CleanPath("/sys/fs/cgroup/memory/a/"); err != nil || got != "/sys/fs/cgroup/memory/a" {
		t.Errorf("CleanPath without a hierarchy = %q, %v", got, err)
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
