// Package memcg makes temporary memory cgroups, on cgroup v1 or v2
// (whichever holds the memory controller), and runs memory hogs in them: a
// small, safe way to make the kernel's OOM killer act for oomtrace's demo and
// tests.
//
// The package writes only to cgroups it created itself, in this process:
// limits, the processes it moves in, and (on v2) "+memory" in the
// cgroup.subtree_control of its own cgroups that have children. A cgroup
// that already exists is never adopted, and Remove kills only processes that
// are in the package's own cgroups.
//
// containerd/cgroups is not used: its cgroup2 manager enables controllers in
// every ancestor from the mount point down, which writes to cgroups this
// package did not create, and its mode detection looks only at
// /sys/fs/cgroup, where /proc/self/mountinfo says where the memory
// controller really is.
package memcg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Hierarchy is the mounted cgroup hierarchy that holds the memory
// controller.
type Hierarchy struct {
	Version    int    // 1 or 2
	Mountpoint string // e.g. /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2)
	// Root is the cgroup mounted at Mountpoint as the kernel names it: "/"
	// unless only a subtree of the hierarchy is mounted there.
	Root string
}

// Detect finds the hierarchy that holds the memory controller, from
// /proc/cgroups and /proc/self/mountinfo.
func Detect() (Hierarchy, error) {
	cgroups, err := os.ReadFile("/proc/cgroups")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Hierarchy{}, fmt.Errorf("detect memory cgroup: %w", err)
	}
	mountinfo, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Hierarchy{}, fmt.Errorf("detect memory cgroup: %w", err)
	}
	defer mountinfo.Close()
	h, err := detect(string(cgroups), mountinfo, func(mountpoint string) (string, error) {
		b, err := os.ReadFile(filepath.Join(mountpoint, "cgroup.controllers"))
		return string(b), err
	})
	if err != nil {
		return Hierarchy{}, fmt.Errorf("detect memory cgroup: %w", err)
	}
	return h, nil
}

// detect does Detect's work on the contents of /proc/cgroups ("" if it is
// missing) and /proc/self/mountinfo; controllers reads a cgroup2 mount's
// cgroup.controllers.
func detect(procCgroups string, mountinfo io.Reader, controllers func(mountpoint string) (string, error)) (Hierarchy, error) {
	listed, err := checkEnabled(procCgroups)
	if err != nil {
		return Hierarchy{}, err
	}
	mounts, err := parseMountinfo(mountinfo)
	if err != nil {
		return Hierarchy{}, err
	}
	var v1 []mount
	var v2 []mount
	for _, m := range mounts {
		switch {
		case m.fstype == "cgroup" && slices.Contains(strings.Split(m.superOptions, ","), "memory"):
			v1 = append(v1, m)
		case m.fstype == "cgroup2":
			v2 = append(v2, m)
		}
	}
	// The memory controller is bound to one hierarchy: a v1 mount of it means
	// v2 cannot have it. Prefer a mount of the whole hierarchy.
	if len(v1) > 0 {
		m := v1[0]
		for _, c := range v1 {
			if c.root == "/" {
				m = c
				break
			}
		}
		return Hierarchy{Version: 1, Mountpoint: m.mountpoint, Root: m.root}, nil
	}
	var without []string
	for _, m := range v2 {
		list, err := controllers(m.mountpoint)
		if err != nil {
			return Hierarchy{}, fmt.Errorf("read controllers of cgroup2 mount %s: %w", m.mountpoint, err)
		}
		if slices.Contains(strings.Fields(list), "memory") {
			return Hierarchy{Version: 2, Mountpoint: m.mountpoint, Root: m.root}, nil
		}
		without = append(without, m.mountpoint)
	}
	notListed := ""
	if procCgroups != "" && !listed {
		notListed = "; /proc/cgroups has no memory line either: a kernel without CONFIG_MEMCG?"
	}
	if len(without) > 0 {
		return Hierarchy{}, fmt.Errorf("no cgroup v1 hierarchy has the memory controller and the cgroup2 mount at %s does not list it in cgroup.controllers%s", strings.Join(without, ", "), notListed)
	}
	return Hierarchy{}, fmt.Errorf("no cgroup hierarchy with the memory controller is mounted (none in /proc/self/mountinfo)%s", notListed)
}

// checkEnabled reads /proc/cgroups ("#subsys_name hierarchy num_cgroups
// enabled" lines) for the memory controller: whether it is listed, and an
// error if it is listed as disabled. A missing line proves nothing: since
// Linux 6.12 (af000ce85293, "cgroup: Do not report unavailable v1
// controllers in /proc/cgroups") the file lists only controllers with
// cgroup v1 support built in, and without CONFIG_MEMCG_V1 the memory
// controller exists on cgroup v2 alone (Debian's 6.12 still lists it, its
// 6.19 and 7.x kernels do not; cgroup_v1_proc=1 on the kernel command line,
// from 646faf36d727, brings the line back). The mounts decide.
func checkEnabled(procCgroups string) (listed bool, err error) {
	for line := range strings.Lines(procCgroups) {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "memory" {
			if f[3] != "1" {
				return true, errors.New("the memory controller is disabled (/proc/cgroups; cgroup_disable=memory on the kernel command line?)")
			}
			return true, nil
		}
	}
	return false, nil
}

type mount struct {
	root, mountpoint, fstype, superOptions string
}

// parseMountinfo reads the lines of /proc/self/mountinfo:
//
//	36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// with optional fields up to the "-" separator.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var mounts []mount
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			return nil, fmt.Errorf("parse mountinfo line %q: unexpected form", s.Text())
		}
		mounts = append(mounts, mount{
			root:         unescapeOctal(f[3]),
			mountpoint:   unescapeOctal(f[4]),
			fstype:       f[sep+1],
			superOptions: f[sep+3],
		})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeOctal undoes mountinfo's escaping of space, tab, newline and
// backslash as \NNN.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
