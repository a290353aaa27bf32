package memcg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// owned is every cgroup directory this process created and has not removed
// yet. All writes go through writeOwned, which refuses any other directory.
var owned = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: map[string]bool{}}

func own(dir string) {
	owned.Lock()
	owned.dirs[dir] = true
	owned.Unlock()
}

func disown(dir string) {
	owned.Lock()
	delete(owned.dirs, dir)
	owned.Unlock()
}

func isOwned(dir string) bool {
	owned.Lock()
	defer owned.Unlock()
	return owned.dirs[dir]
}

// ownedWithin lists the owned directories at or below top, deepest first.
func ownedWithin(top string) []string {
	owned.Lock()
	defer owned.Unlock()
	var dirs []string
	for d := range owned.dirs {
		if d == top || strings.HasPrefix(d, top+"/") {
			dirs = append(dirs, d)
		}
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	return dirs
}

// errNotOwned is returned for a write to a cgroup this process did not
// create.
var errNotOwned = errors.New("cgroup not created by this process")

// writeOwned writes value to a control file of a cgroup this process
// created, and nowhere else. It never creates the file.
func writeOwned(dir, file, value string) error {
	name := filepath.Join(dir, file)
	if !isOwned(dir) {
		return fmt.Errorf("write %s: %w", name, errNotOwned)
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, name, err)
	}
	return nil
}

// Group is a memory cgroup made by Create.
type Group struct {
	h   Hierarchy
	rel string // below the mount point, e.g. "oomtrace-test-1-2/child"
	dir string
	// top is the outermost directory Create made for this group: the group
	// itself, or an ancestor that did not exist before.
	top string
}

// UniqueName returns prefix followed by this process's pid and a random
// number, a cgroup name parallel runs do not share.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%08x", prefix, os.Getpid(), rand.Uint32())
}

// Create makes the memory cgroup at path (relative to the hierarchy's mount
// point, e.g. "oomtrace-test-1234/child"), with the parents it lacks, and
// sets its limit when limitBytes > 0. The cgroup itself must not exist yet:
// an existing cgroup is never adopted. Swap is not allowed in the group, so
// that going over the limit means an OOM kill, not swapping.
//
// On cgroup v2 the memory controller must reach the new cgroups: the nearest
// existing parent must already have "memory" in its cgroup.subtree_control,
// unless this process created it.
func (h Hierarchy) Create(rel string, limitBytes int64) (*Group, error) {
	if rel == "" || !filepath.IsLocal(rel) || path.Clean(rel) != rel || strings.ContainsRune(rel, '\n') {
		return nil, fmt.Errorf("create cgroup %q: want a clean relative path below %s", rel, h.Mountpoint)
	}
	g := &Group{h: h, rel: rel, dir: filepath.Join(h.Mountpoint, rel)}
	if _, err := os.Lstat(g.dir); err == nil {
		return nil, fmt.Errorf("create cgroup %s: %w", g.dir, fs.ErrExist)
	}
	if err := g.makeDirs(); err != nil {
		if g.top != "" {
			err = errors.Join(err, g.Remove())
		}
		return nil, fmt.Errorf("create cgroup %s: %w", g.dir, err)
	}
	if err := g.disallowSwap(); err != nil {
		return nil, errors.Join(fmt.Errorf("create cgroup %s: %w", g.dir, err), g.Remove())
	}
	if limitBytes > 0 {
		if err := g.SetLimit(limitBytes); err != nil {
			return nil, errors.Join(fmt.Errorf("create cgroup %s: %w", g.dir, err), g.Remove())
		}
	}
	return g, nil
}

// makeDirs creates the missing directories of g.rel, outermost first.
func (g *Group) makeDirs() error {
	parent := g.h.Mountpoint
	for _, name := range strings.Split(g.rel, "/") {
		dir := filepath.Join(parent, name)
		if _, err := os.Lstat(dir); err == nil && dir != g.dir {
			parent = dir
			continue
		}
		if g.h.Version == 2 {
			if err := g.delegateMemory(parent); err != nil {
				return err
			}
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		own(dir)
		if g.top == "" {
			g.top = dir
		}
		parent = dir
	}
	return nil
}

// delegateMemory makes sure cgroup v2 gives children of parent the memory
// controller: by enabling it if this process created parent, else by
// checking that whoever did enabled it.
func (g *Group) delegateMemory(parent string) error {
	if isOwned(parent) {
		return writeOwned(parent, "cgroup.subtree_control", "+memory")
	}
	b, err := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Fields(string(b)), "memory") {
		return fmt.Errorf("cgroup %s does not give its children the memory controller; enable it with: echo +memory > %s",
			parent, filepath.Join(parent, "cgroup.subtree_control"))
	}
	return nil
}

func (g *Group) disallowSwap() error {
	if g.h.Version != 2 {
		return nil // v1 ties the memory+swap limit to the memory limit in SetLimit
	}
	err := writeOwned(g.dir, "memory.swap.max", "0")
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no swap accounting: nothing to disallow
	}
	return err
}

// Path is the cgroup's path as the kernel prints it in its OOM report, e.g.
// "/oomtrace-test-1234/child".
func (g *Group) Path() string {
	return path.Join("/", g.h.Root, g.rel)
}

// Dir is the cgroup's directory.
func (g *Group) Dir() string {
	return g.dir
}

// AddProcess moves the process pid (all its threads) into the group.
func (g *Group) AddProcess(pid int) error {
	return writeOwned(g.dir, "cgroup.procs", strconv.Itoa(pid))
}

// SetLimit sets the group's hard memory limit; bytes <= 0 removes it. On
// cgroup v1 the memory+swap limit follows it, so the group cannot swap.
func (g *Group) SetLimit(bytes int64) error {
	if g.h.Version == 2 {
		v := "max"
		if bytes > 0 {
			v = strconv.FormatInt(bytes, 10)
		}
		return writeOwned(g.dir, "memory.max", v)
	}
	v := "-1"
	if bytes > 0 {
		v = strconv.FormatInt(bytes, 10)
	}
	const mem, memsw = "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
	if _, err := os.Stat(filepath.Join(g.dir, memsw)); err != nil {
		return writeOwned(g.dir, mem, v) // no swap accounting
	}
	// The memory+swap limit may never be below the memory limit: lower the
	// memory limit first, raise it last.
	if err := writeOwned(g.dir, mem, v); err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
		if err := writeOwned(g.dir, memsw, v); err != nil {
			return err
		}
		return writeOwned(g.dir, mem, v)
	}
	return writeOwned(g.dir, memsw, v)
}

// SetOOMGroup sets memory.oom.group: whether an OOM kill in the group kills
// every process in it. Only cgroup v2 has it.
func (g *Group) SetOOMGroup(on bool) error {
	if g.h.Version != 2 {
		return fmt.Errorf("set memory.oom.group on %s: needs cgroup v2, this is v%d", g.dir, g.h.Version)
	}
	v := "0"
	if on {
		v = "1"
	}
	return writeOwned(g.dir, "memory.oom.group", v)
}

// removeTimeout bounds how long Remove waits for killed processes to leave.
const removeTimeout = 10 * time.Second

// Remove kills the processes left in the group and in every cgroup this
// process made inside it, waits for them to leave, and removes those cgroups,
// children first, together with the parents Create made for the group.
// Removing a group twice is not an error.
func (g *Group) Remove() error {
	if g.top == "" {
		return nil // Create made nothing
	}
	var errs []error
	for _, dir := range ownedWithin(g.top) {
		if err := g.removeDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", g.dir, err)
	}
	return nil
}

func (g *Group) removeDir(dir string) error {
	deadline := time.Now().Add(removeTimeout)
	kernelPath := path.Join("/", g.h.Root, strings.TrimPrefix(dir, g.h.Mountpoint))
	for {
		pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			disown(dir) // removed by someone else
			return nil
		}
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if err := g.kill(pid, kernelPath); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in %s after %v", pids, dir, removeTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// An exiting task can keep a cgroup busy for a moment after it left
	// cgroup.procs.
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			disown(dir)
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(5 * time.Millisecond)
		default:
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
}

// kill sends SIGKILL to pid if it is still in the cgroup at kernelPath. The
// pidfd pins the process, so the pid cannot be reused by an unrelated
// process between the check and the signal.
func (g *Group) kill(pid int, kernelPath string) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	in, err := g.processIn(pid, kernelPath)
	if err != nil || !in {
		return err
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}

// processIn reports whether pid is in the memory cgroup at kernelPath, from
// /proc/PID/cgroup ("4:memory:/a/b" on v1, "0::/a/b" on v2).
func (g *Group) processIn(pid int, kernelPath string) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return false, nil // exited
	}
	if err != nil {
		return false, err
	}
	for line := range strings.Lines(string(b)) {
		parts := strings.SplitN(strings.TrimSuffix(line, "\n"), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var match bool
		if g.h.Version == 2 {
			match = parts[0] == "0" && parts[1] == ""
		} else {
			match = slices.Contains(strings.Split(parts[1], ","), "memory")
		}
		if match {
			return parts[2] == kernelPath, nil
		}
	}
	return false, nil
}

func readPids(name string) ([]int, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var pids []int
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		pid, err := strconv.Atoi(s.Text())
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}
