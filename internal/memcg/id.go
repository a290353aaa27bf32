package memcg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// CleanPath returns the cgroup path p, as a user may type it, in the form
// the kernel writes it and events carry it: from the hierarchy's root,
// with one leading slash and none trailing ("kubepods/" is "/kubepods").
// A directory under the hierarchy's mount point
// ("/sys/fs/cgroup/memory/kubepods") is refused, naming the cgroup path it
// is the directory of: taken as a cgroup path, it names no cgroup.
func (h Hierarchy) CleanPath(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("an empty cgroup path: give one from the hierarchy's root, like /kubepods")
	}
	clean := path.Clean("/" + p)
	if mnt := path.Clean(h.Mountpoint); h.Mountpoint != "" && mnt != "/" {
		if rel, ok := strings.CutPrefix(clean, mnt); ok && (rel == "" || rel[0] == '/') {
			return "", fmt.Errorf("%s is the directory of a memory cgroup, not its path: give the path from the hierarchy's root, %s",
				p, path.Join("/", h.Root, rel))
		}
	}
	return clean, nil
}

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

// Removed reports whether the memory cgroup of id, last seen at
// cgroupPath ("" when its path was not captured whole), is gone. The
// kernel is asked by id where it can be (removedByID): that is exact, and
// works for any path. Otherwise the cgroup is gone when nothing is at its
// directory any more, or another cgroup is (one created since under the
// same name). False whenever that cannot be told: a path outside this
// hierarchy, a path not known whole, or any error but a missing directory.
func (h Hierarchy) Removed(cgroupPath string, id uint64) bool {
	if removed, err := h.removedByID(id); err == nil {
		return removed
	}
	if cgroupPath == "" {
		return false
	}
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

// fileIDKernfs is the type of a kernfs file handle, whose bytes are the
// node's 64-bit id (FILEID_KERNFS in the kernel's
// include/linux/exportfs.h). A cgroup's id is its kernfs node's id.
const fileIDKernfs = 0xfe

// removedByID asks the kernel whether the cgroup of id is gone, by opening
// its directory from a file handle made of the id (open_by_handle_at(2)):
// the kernel looks the id up, and answers ESTALE for a cgroup that is no
// more. Ids are not reused: their high 32 bits count the times the low
// ones wrapped. An error says it cannot tell: the hierarchy is not a
// cgroup filesystem, the process lacks CAP_DAC_READ_SEARCH (which
// open_by_handle_at needs), or the cgroup lies outside the mounted
// subtree.
//
// Before Linux 6.1 the kernel's lookup by id (kernfs_find_and_get_node_by_id)
// finds a removed cgroup for as long as its directory's inode lives, for
// instance while any process holds the directory open. Such a directory
// opens, but it is empty: removal took its files away. Every cgroup
// directory, in either version of the hierarchy, has a cgroup.procs.
func (h Hierarchy) removedByID(id uint64) (bool, error) {
	if id == 0 {
		return false, errors.New("no cgroup id")
	}
	mount, err := unix.Open(h.Mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", h.Mountpoint, err)
	}
	defer unix.Close(mount)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(mount, &fs); err != nil {
		return false, fmt.Errorf("statfs %s: %w", h.Mountpoint, err)
	}
	if fs.Type != unix.CGROUP_SUPER_MAGIC && fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return false, fmt.Errorf("%s is not a cgroup filesystem", h.Mountpoint)
	}
	handle := make([]byte, 8)
	binary.NativeEndian.PutUint64(handle, id)
	fd, err := unix.OpenByHandleAt(mount, unix.NewFileHandle(fileIDKernfs, handle), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	switch {
	case err == nil:
		defer unix.Close(fd)
		err := unix.Faccessat(fd, "cgroup.procs", unix.F_OK, 0)
		if errors.Is(err, unix.ENOENT) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("look in cgroup %d, opened by its id: %w", id, err)
		}
		return false, nil
	case errors.Is(err, unix.ESTALE):
		return true, nil
	}
	return false, fmt.Errorf("open cgroup %d by its id: %w", id, err)
}
