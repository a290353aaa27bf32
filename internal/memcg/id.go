package memcg

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Dir returns the directory of the memory cgroup at cgroupPath, as the
// kernel prints it (e.g. "/kubepods/burstable"), below this hierarchy's
// mount point. It does not check that the cgroup exists.
func (h Hierarchy) Dir(cgroupPath string) (string, error) {
	clean := path.Clean("/" + cgroupPath)
	rel, ok := strings.CutPrefix(clean, strings.TrimSuffix(h.Root, "/"))
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return "", fmt.Errorf("cgroup %s is outside the memory hierarchy mounted at %s (root %s)", clean, h.Mountpoint, h.Root)
	}
	return filepath.Join(h.Mountpoint, rel), nil
}

// ID returns the kernel's id of the memory cgroup at cgroupPath: the inode
// number of its directory, which is what the BPF side compares with
// kernfs ids.
func (h Hierarchy) ID(cgroupPath string) (uint64, error) {
	dir, err := h.Dir(cgroupPath)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("memory cgroup %s does not exist (no %s)", cgroupPath, dir)
	}
	if err != nil {
		return 0, fmt.Errorf("look up memory cgroup %s: %w", cgroupPath, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.IsDir() {
		return 0, fmt.Errorf("memory cgroup %s: %s is not a cgroup directory", cgroupPath, dir)
	}
	return st.Ino, nil
}

// Removed reports whether the memory cgroup that had id at cgroupPath is
// gone: nothing is at its directory any more, or another cgroup is (one
// created since under the same name). False whenever that cannot be told:
// a path outside this hierarchy, or any error but a missing directory.
func (h Hierarchy) Removed(cgroupPath string, id uint64) bool {
	dir, err := h.Dir(cgroupPath)
	if err != nil {
		return false
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Ino != id
}
