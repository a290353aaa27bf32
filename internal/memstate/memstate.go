// Package memstate reads the memory state of a cgroup from user space, right
// after an OOM kill: its event counters, the main lines of memory.stat, its
// soft and swap limits, and memory pressure (PSI) in the cgroup and on the
// node. On cgroup v1 and v2 alike, and never for longer than its caller
// allows: the cgroup of a killed container is often being removed while it
// is read.
//
// The values come from github.com/containerd/cgroups/v3 where it has them.
// On v2, cgroup2's Manager.StatFiltered with only the memory and
// memory-events stats: memory.events, memory.stat's anon, file, slab and
// shmem, memory.swap.current and memory.swap.max, and memory.pressure. On
// v1, the Stat of cgroup1's memory controller: memory.oom_control,
// memory.failcnt, memory.stat's total_rss and total_cache, the kmem usage,
// and the memory and memory+swap limits. The library takes no deadline:
// Read runs it in a goroutine of its own, a bounded number at a time, and
// stops waiting at the caller's deadline.
//
// The rest is read from the files directly, because the library (v3.1.3)
// has no field for it: memory.high; v2 memory.stat's kernel,
// workingset_refault_anon and workingset_refault_file lines (it maps only
// workingset_refault, the one line kernels before 5.9 had); v1 memory.stat's
// total_shmem, total_swap and total_workingset_refault_* lines; and the
// node's /proc/pressure/memory. memory.stat is therefore read twice, once
// by the library and once here, microseconds apart.
//
// The library also gives 0 for a file or line it could not read, where a
// snapshot must leave the value out, so whether each value is there is
// decided here (see event.Snapshot.Has). And it opens files by path and, on v2,
// takes a file a removed cgroup lost for 0 without an error: every snapshot
// ends by checking that the path still names the directory that was read.
package memstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/oomtrace/oomtrace/internal/event"
	"golang.org/x/sys/unix"
)

// NodePressurePath is where the kernel reports the node's memory pressure.
const NodePressurePath = "/proc/pressure/memory"

// maxReaders bounds the reads in flight: a read stuck in the kernel keeps
// its slot until it returns, and later snapshots time out instead of piling
// up goroutines.
const maxReaders = 2

// Reader takes snapshots of the cgroups of one hierarchy. It is safe for
// concurrent use.
type Reader struct {
	version      int
	nodePressure string
	slots        chan struct{}
}

// NewReader returns a Reader for cgroups of the given version (1 or 2) that
// reads the node's pressure from nodePressure ("" for none; usually
// NodePressurePath).
func NewReader(version int, nodePressure string) *Reader {
	return &Reader{version: version, nodePressure: nodePressure, slots: make(chan struct{}, maxReaders)}
}

// Read takes a snapshot of the memory cgroup in the directory dir, waiting
// no longer than ctx allows. cgroupID, when not 0, is the cgroup's id as
// the kernel reported it (its directory's inode number): a directory with
// another inode is a newer cgroup that reuses the path, and the one asked
// for counts as removed. With dir "" only the node's pressure is read.
func (r *Reader) Read(ctx context.Context, dir string, cgroupID uint64) event.Snapshot {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return event.Snapshot{Status: event.SnapshotTimedOut, Version: r.version}
	}
	done := make(chan event.Snapshot, 1)
	go func() {
		defer func() { <-r.slots }()
		done <- r.read(dir, cgroupID)
	}()
	select {
	case s := <-done:
		return s
	case <-ctx.Done():
		return event.Snapshot{Status: event.SnapshotTimedOut, Version: r.version}
	}
}

// read takes the snapshot, however long the kernel takes.
func (r *Reader) read(dir string, cgroupID uint64) event.Snapshot {
	s := event.Snapshot{Version: r.version}
	if dir != "" {
		r.readCgroup(&s, dir, cgroupID)
	}
	if r.nodePressure != "" {
		if b, err := readCapped(r.nodePressure); err == nil {
			if p, ok := ParsePressure(b); ok {
				s.NodePressure = p
				s.Fields |= event.SnapNodePressure
			}
		}
	}
	return s
}

func (r *Reader) readCgroup(s *event.Snapshot, dir string, cgroupID uint64) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		s.Status = event.SnapshotRemoved
		return
	}
	if err != nil {
		s.Status, s.Reason = event.SnapshotFailed, fmt.Sprintf("open %s: %v", dir, err)
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		s.Status, s.Reason = event.SnapshotFailed, fmt.Sprintf("stat %s: %v", dir, err)
		return
	}
	if cgroupID != 0 && st.Ino != cgroupID {
		s.Status = event.SnapshotRemoved
		return
	}
	c := cgroupFiles{dir: dir, fd: fd}
	if r.version == 2 {
		readV2(s, &c)
	} else {
		readV1(s, &c)
	}
	// Files vanish, or fail with ENODEV, when the cgroup is removed under
	// the reader, and the library may have read them as zeros; a directory
	// that is still there and lacks them is not a memory cgroup.
	if c.removed || !sameDir(dir, st.Ino) {
		*s = event.Snapshot{Status: event.SnapshotRemoved, Version: s.Version}
		return
	}
	if c.err != nil {
		*s = event.Snapshot{Status: event.SnapshotFailed, Version: s.Version, Reason: fmt.Sprintf("read %s: %v", dir, c.err)}
	}
}

// sameDir reports whether dir still exists as the directory with inode ino.
func sameDir(dir string, ino uint64) bool {
	var st unix.Stat_t
	return unix.Stat(dir, &st) == nil && st.Ino == ino
}

// cgroupFiles reads the control files of one open cgroup directory, through
// the library and directly, and remembers the first error that is more than
// a file this kernel lacks.
type cgroupFiles struct {
	dir     string // for the library, which opens files by path
	fd      int    // the same directory, for the files read directly
	removed bool   // a file failed as files of a removed cgroup do
	err     error  // the first other error of a required file
}

// fail records the error of a required read.
func (c *cgroupFiles) fail(err error) {
	switch {
	case errors.Is(err, unix.ENODEV):
		c.removed = true
	case c.err == nil:
		// ENOENT too: the cgroup was removed, or this is not a memory
		// cgroup; the final check of the directory tells.
		c.err = err
	}
}

// read returns the contents of the control file name, or nil when it
// cannot be read. A file the kernel does not have (no swap accounting, PSI
// off) is not an error; for a required one, anything but removal is.
func (c *cgroupFiles) read(name string, required bool) []byte {
	b, err := c.readFile(name)
	switch {
	case err == nil:
		return b
	case required || errors.Is(err, unix.ENODEV):
		c.fail(fmt.Errorf("%s: %w", name, err))
	}
	return nil
}

// has reports whether the control file name exists.
func (c *cgroupFiles) has(name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(c.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// fromLibrary runs stat, a read through the library, records its error
// and reports whether it succeeded. The library's parsers trust the
// kernel's format: v3.1.3's cgroup2 indexes the first word of every line of
// memory.pressure, and an empty line panics (index out of range). A
// snapshot is not worth the tracer, so a panic fails the snapshot instead.
func (c *cgroupFiles) fromLibrary(stat func() error) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.fail(fmt.Errorf("containerd/cgroups: %v", p))
		}
	}()
	if err := stat(); err != nil {
		c.fail(err)
		return false
	}
	return true
}

// maxControlFile caps what is read of one control file; memory.stat, the
// longest, is a few kilobytes.
const maxControlFile = 64 << 10

func (c *cgroupFiles) readFile(name string) ([]byte, error) {
	fd, err := unix.Openat(c.fd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return readAllCapped(f)
}

func readCapped(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllCapped(f)
}

func readAllCapped(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxControlFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxControlFile {
		return nil, fmt.Errorf("larger than %d bytes", maxControlFile)
	}
	return b, nil
}

// readV2 reads a cgroup v2 memory cgroup.
func readV2(s *event.Snapshot, c *cgroupFiles) {
	var m *v2stats.Metrics
	if !c.fromLibrary(func() error {
		// The group "/" below a mount point of dir is dir itself.
		g, err := cgroup2.Load("/", cgroup2.WithMountpoint(c.dir))
		if err != nil {
			return err
		}
		m, err = g.StatFiltered(cgroup2.StatMemory | cgroup2.StatMemoryEvents)
		return err
	}) {
		return
	}
	// The library leaves MemoryEvents nil, without an error, when
	// memory.events cannot be opened.
	events := m.MemoryEvents
	if events == nil {
		c.fail(errors.New("no memory.events"))
		return
	}
	s.EventsLow, s.EventsHigh, s.EventsMax = events.Low, events.High, events.Max
	s.EventsOOM, s.EventsOOMKill = events.Oom, events.OomKill
	s.Fields |= event.SnapEventsLow | event.SnapEventsHigh | event.SnapEventsMax | event.SnapEventsOOM | event.SnapEventsOOMKill
	// It also reads a missing oom_group_kill line as 0: kernels before 5.17
	// have no such line, and 0 would claim that no group kill happened.
	if b := c.read("memory.events", false); b != nil {
		setKeyed(s, b, []keyed{{"oom_group_kill", event.SnapEventsOOMGroupKill, &s.EventsOOMGroupKill}})
	}

	// A missing memory.stat is all zeros to the library: reading it here
	// for the lines the library lacks also tells that it is there.
	stat := c.read("memory.stat", true)
	if stat == nil {
		return
	}
	mem := m.Memory
	s.Anon, s.File, s.Slab, s.Shmem = mem.Anon, mem.File, mem.Slab, mem.Shmem
	s.Fields |= event.SnapAnon | event.SnapFile | event.SnapSlab | event.SnapShmem
	setKeyed(s, stat, []keyed{
		{"kernel", event.SnapKernel, &s.Kernel},
		{"workingset_refault_anon", event.SnapWorkingsetRefaultAnon, &s.WorkingsetRefaultAnon},
		{"workingset_refault_file", event.SnapWorkingsetRefaultFile, &s.WorkingsetRefaultFile},
	})

	// Without swap accounting there are no memory.swap.* files, and the
	// library's 0 for them would read as "no swap allowed".
	if c.has("memory.swap.current") {
		s.SwapBytes = mem.SwapUsage
		s.Fields |= event.SnapSwap
	}
	if c.has("memory.swap.max") {
		s.SwapLimitBytes = mem.SwapLimit // "max" is math.MaxUint64, event.NoLimit
		s.Fields |= event.SnapSwapLimit
	}
	if p, ok := pressureOf(mem.PSI); ok {
		s.Pressure = p
		s.Fields |= event.SnapPressure
	}
	setLimit(s, c.read("memory.high", false), event.SnapHigh, &s.HighBytes)
}

// hasModule reports whether the four files of a v1 module ("memsw",
// "kmem") that the library's Stat reads are there: its usage, max usage,
// failcnt and limit.
func (c *cgroupFiles) hasModule(module string) bool {
	for _, name := range [...]string{"usage_in_bytes", "max_usage_in_bytes", "failcnt", "limit_in_bytes"} {
		if !c.has("memory." + module + "." + name) {
			return false
		}
	}
	return true
}

// readV1 reads a cgroup v1 memory cgroup.
func readV1(s *event.Snapshot, c *cgroupFiles) {
	// The library's Stat reads memory.stat, memory.oom_control and four
	// files of each module, and fails as a whole on the first one missing.
	// The memsw files exist only with swap accounting, and stable kernels
	// dropped memory.kmem.limit_in_bytes for a while (6.1.54, reported in
	// kubernetes/kubernetes#120813; this 6.18 has it), so a module is read
	// only when its files are there. kmem.tcp is not needed.
	ignored := []string{"kmem.tcp"}
	readModule := map[string]bool{}
	for _, module := range [...]string{"memsw", "kmem"} {
		readModule[module] = c.hasModule(module)
		if !readModule[module] {
			ignored = append(ignored, module)
		}
	}
	var m v1stats.Metrics
	if !c.fromLibrary(func() error {
		// NewMemory takes the directory that holds the memory hierarchy
		// and appends "memory"; Stat takes a cgroup below that, and ".."
		// names dir itself (the library joins with filepath.Join, which
		// cleans).
		return cgroup1.NewMemory(c.dir, cgroup1.IgnoreModules(ignored...)).Stat("..", &m)
	}) {
		return
	}
	oom := m.MemoryOomControl
	s.OOMKillDisable, s.UnderOOM, s.EventsOOMKill = oom.OomKillDisable != 0, oom.UnderOom != 0, oom.OomKill
	s.Fields |= event.SnapOOMKillDisable | event.SnapUnderOOM | event.SnapEventsOOMKill
	mem := m.Memory
	s.Failcnt = mem.Usage.Failcnt
	s.Anon, s.File = mem.TotalRSS, mem.TotalCache
	s.Fields |= event.SnapFailcnt | event.SnapAnon | event.SnapFile
	if readModule["kmem"] {
		s.Kernel = mem.Kernel.Usage
		s.Fields |= event.SnapKernel
	}
	if readModule["memsw"] {
		limit, memsw := limitOf(mem.Usage.Limit), limitOf(mem.Swap.Limit)
		switch {
		case memsw == event.NoLimit:
			s.SwapLimitBytes = event.NoLimit
		case limit == event.NoLimit:
			s.SwapLimitBytes = memsw
		default:
			s.SwapLimitBytes = memsw - min(memsw, limit)
		}
		s.Fields |= event.SnapSwapLimit
	}
	if b := c.read("memory.stat", true); b != nil {
		setKeyed(s, b, []keyed{
			{"total_shmem", event.SnapShmem, &s.Shmem},
			{"total_swap", event.SnapSwap, &s.SwapBytes},
			{"total_workingset_refault_anon", event.SnapWorkingsetRefaultAnon, &s.WorkingsetRefaultAnon},
			{"total_workingset_refault_file", event.SnapWorkingsetRefaultFile, &s.WorkingsetRefaultFile},
		})
	}
}

// keyed is a line of a flat keyed file ("key value") to read into a field.
type keyed struct {
	key   string
	field event.SnapshotField
	dst   *uint64
}

// setKeyed reads the lines of a flat keyed file into the fields that want
// them; lines with other keys, or values that are not numbers, are skipped.
func setKeyed(s *event.Snapshot, b []byte, want []keyed) {
	for line := range strings.Lines(string(b)) {
		key, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if !ok {
			continue
		}
		for _, w := range want {
			if w.key != key {
				continue
			}
			if n, err := strconv.ParseUint(value, 10, 64); err == nil {
				*w.dst = n
				s.Fields |= w.field
			}
		}
	}
}

// setLimit reads a file of one limit into dst.
func setLimit(s *event.Snapshot, b []byte, f event.SnapshotField, dst *uint64) {
	if n, ok := ParseLimit(b); ok {
		*dst = n
		s.Fields |= f
	}
}

// v1Unlimited is the smallest value v1 shows for "no limit": the largest
// page counter, LONG_MAX rounded down to the page size, for pages of up to
// 64 KiB.
const v1Unlimited = (1<<63 - 1) &^ (64<<10 - 1)

// limitOf is a limit in bytes, with v1's huge value for no limit as
// event.NoLimit.
func limitOf(n uint64) uint64 {
	if n >= v1Unlimited {
		return event.NoLimit
	}
	return n
}

// ParseLimit parses a limit file: a number of bytes, or "max" (v2) and
// v1's huge value for no limit, which are event.NoLimit. It fails on nil, and
// allocates nothing: the sampler calls it for every cgroup every round.
func ParseLimit(b []byte) (uint64, bool) {
	if string(trimSpace(b)) == "max" {
		return event.NoLimit, true
	}
	n, ok := ParseCount(b)
	if !ok {
		return 0, false
	}
	return limitOf(n), true
}

// MeminfoKB finds the line "key   12345 kB" in the text of /proc/meminfo
// and returns the number, in KiB.
func MeminfoKB(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		value, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		digits, ok := bytes.CutSuffix(bytes.TrimLeft(value, " "), []byte(" kB"))
		if !ok {
			return 0, false
		}
		return ParseCount(digits)
	}
	return 0, false
}

// ParseCount parses a decimal number followed by optional white space, the
// way the cgroup files write one, without allocating.
func ParseCount(b []byte) (uint64, bool) {
	b = trimSpace(b)
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func trimSpace(b []byte) []byte { return bytes.TrimRight(b, " \n") }

// pressureOf takes the library's reading of a PSI file, which keeps a
// file without its full line and averages outside 0-100 (NaN too): both
// lines, with averages that are percentages, must be there.
func pressureOf(psi *v2stats.PSIStats) (event.Pressure, bool) {
	if psi == nil || psi.Some == nil || psi.Full == nil {
		return event.Pressure{}, false
	}
	p := event.Pressure{
		Some: event.PressureLine{Avg10: psi.Some.Avg10, Avg60: psi.Some.Avg60, Avg300: psi.Some.Avg300, TotalMicros: psi.Some.Total},
		Full: event.PressureLine{Avg10: psi.Full.Avg10, Avg60: psi.Full.Avg60, Avg300: psi.Full.Avg300, TotalMicros: psi.Full.Total},
	}
	for _, v := range [...]float64{p.Some.Avg10, p.Some.Avg60, p.Some.Avg300, p.Full.Avg10, p.Full.Avg60, p.Full.Avg300} {
		if !isPercent(v) {
			return event.Pressure{}, false
		}
	}
	return p, true
}

func isPercent(v float64) bool { return v >= 0 && v <= 100 } // false for NaN

// ParsePressure parses a PSI file, such as /proc/pressure/memory:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// Both lines, with all four values, must be there. The library has no
// reader for the node's files (its PSI parser is internal to cgroup2's
// Stat), so this one is kept for them.
func ParsePressure(b []byte) (event.Pressure, bool) {
	var p event.Pressure
	var seen int
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) != 5 {
			return event.Pressure{}, false
		}
		var dst *event.PressureLine
		switch fields[0] {
		case "some":
			dst, seen = &p.Some, seen|1
		case "full":
			dst, seen = &p.Full, seen|2
		default:
			return event.Pressure{}, false
		}
		if !parsePressureLine(fields[1:], dst) {
			return event.Pressure{}, false
		}
	}
	return p, seen == 3
}

func parsePressureLine(fields []string, dst *event.PressureLine) bool {
	avgs := [...]*float64{&dst.Avg10, &dst.Avg60, &dst.Avg300}
	for i, key := range [...]string{"avg10=", "avg60=", "avg300="} {
		text, ok := strings.CutPrefix(fields[i], key)
		if !ok {
			return false
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || !isPercent(v) {
			return false
		}
		*avgs[i] = v
	}
	text, ok := strings.CutPrefix(fields[3], "total=")
	if !ok {
		return false
	}
	total, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return false
	}
	dst.TotalMicros = total
	return true
}
