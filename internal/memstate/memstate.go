// Package memstate reads the memory state of a cgroup from user space, right
// after an OOM kill: its event counters, the main lines of memory.stat, its
// soft and swap limits, and memory pressure (PSI) in the cgroup and on the
// node. On cgroup v1 and v2 alike, and never for longer than its caller
// allows: the cgroup of a killed container is often being removed while it
// is read.
//
// The files are read directly rather than through containerd/cgroups: its
// Stat reads every controller and fails as a whole when one file is missing,
// takes no deadline, and the module's dependencies (protobuf, dbus, systemd)
// are not needed for a few text files.
package memstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Status says whether a snapshot could be taken.
type Status uint8

const (
	StatusOK       Status = iota
	StatusRemoved         // the cgroup is gone (or its path now names a newer cgroup)
	StatusTimedOut        // the files were not read before the deadline
	StatusFailed          // another error; Snapshot.Reason says which
)

var statusNames = [...]string{
	StatusOK:       "ok",
	StatusRemoved:  "cgroup removed",
	StatusTimedOut: "timed out",
	StatusFailed:   "failed",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Field names one value of a Snapshot, for Snapshot.Has.
type Field uint32

const (
	// memory.events (v2)
	FieldEventsLow Field = 1 << iota
	FieldEventsHigh
	FieldEventsMax
	FieldEventsOOM
	FieldEventsOOMKill // also v1, from memory.oom_control
	FieldEventsOOMGroupKill
	// v1
	FieldFailcnt
	FieldUnderOOM
	FieldOOMKillDisable
	// memory.stat
	FieldAnon
	FieldFile
	FieldKernel
	FieldSlab
	FieldShmem
	FieldWorkingsetRefaultAnon
	FieldWorkingsetRefaultFile
	// limits and swap
	FieldHigh
	FieldSwapLimit
	FieldSwap
	// pressure
	FieldPressure
	FieldNodePressure
)

// Snapshot is a cgroup's memory state as read from user space. Which values
// were read depends on the cgroup version and the kernel: Has says.
type Snapshot struct {
	Status Status
	Reason string // why, when Status is StatusFailed
	// Version is the cgroup version the values come from (1 or 2).
	Version int
	Fields  Field // which values below were read: see Has

	// Counts from memory.events (v2; hierarchical unless the hierarchy is
	// mounted with memory_localevents): times the cgroup went over
	// memory.low, memory.high and memory.max, OOMs, tasks OOM-killed, and
	// memory.oom.group kills. On v1 EventsOOMKill is memory.oom_control's
	// oom_kill, which counts only tasks whose own cgroup this is.
	EventsLow, EventsHigh, EventsMax, EventsOOM, EventsOOMKill, EventsOOMGroupKill uint64
	// Failcnt is v1's memory.failcnt: times a charge hit the memory limit.
	// A charge refused by the memory+swap limit first is not counted (on
	// 6.18 in neither memory.failcnt nor memory.memsw.failcnt).
	Failcnt uint64
	// UnderOOM and OOMKillDisable are v1's memory.oom_control: the cgroup is
	// in OOM now, and its tasks are paused rather than killed.
	UnderOOM, OOMKillDisable bool

	// Bytes from memory.stat, for the cgroup and its descendants (v1: the
	// total_ lines). File includes Shmem on both versions. Kernel is v1's
	// memory.kmem.usage_in_bytes; v1 has no Slab.
	Anon, File, Kernel, Slab, Shmem uint64
	// Pages refaulted after reclaim evicted them (memory.stat
	// workingset_refault_anon and _file): a sign of thrashing.
	WorkingsetRefaultAnon, WorkingsetRefaultFile uint64

	// HighBytes is memory.high (v2), NoLimit when "max".
	HighBytes uint64
	// SwapLimitBytes is how much swap the cgroup may use: memory.swap.max
	// on v2; on v1 the memory+swap limit less the memory limit (or the
	// memory+swap limit alone when memory has no limit). NoLimit when
	// unlimited.
	SwapLimitBytes uint64
	// SwapBytes is the swap in use: memory.swap.current (v2), memory.stat
	// total_swap (v1).
	SwapBytes uint64

	// Pressure is the cgroup's memory.pressure (v2 only).
	Pressure Pressure
	// NodePressure is the whole node's, from /proc/pressure/memory.
	NodePressure Pressure
}

// Has reports whether the value f was read.
func (s *Snapshot) Has(f Field) bool { return s.Fields&f != 0 }

// Pressure is a PSI file: the share of time some task, and all tasks at
// once ("full"), stalled waiting for memory.
type Pressure struct {
	Some, Full PressureLine
}

// PressureLine is one line of a PSI file: averages over 10, 60 and 300
// seconds in percent, and the total stall time.
type PressureLine struct {
	Avg10, Avg60, Avg300 float64
	TotalMicros          uint64
}

// NoLimit is a limit that is not set ("max"). It has the value of
// event.NoLimit, which this package does not import so that the event model
// can hold a Snapshot.
const NoLimit = ^uint64(0)

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
func (r *Reader) Read(ctx context.Context, dir string, cgroupID uint64) Snapshot {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return Snapshot{Status: StatusTimedOut, Version: r.version}
	}
	done := make(chan Snapshot, 1)
	go func() {
		defer func() { <-r.slots }()
		done <- r.read(dir, cgroupID)
	}()
	select {
	case s := <-done:
		return s
	case <-ctx.Done():
		return Snapshot{Status: StatusTimedOut, Version: r.version}
	}
}

// read takes the snapshot, however long the kernel takes.
func (r *Reader) read(dir string, cgroupID uint64) Snapshot {
	s := Snapshot{Version: r.version}
	if dir != "" {
		r.readCgroup(&s, dir, cgroupID)
	}
	if r.nodePressure != "" {
		if b, err := readCapped(r.nodePressure); err == nil {
			if p, ok := ParsePressure(b); ok {
				s.NodePressure = p
				s.Fields |= FieldNodePressure
			}
		}
	}
	return s
}

func (r *Reader) readCgroup(s *Snapshot, dir string, cgroupID uint64) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		s.Status = StatusRemoved
		return
	}
	if err != nil {
		s.Status, s.Reason = StatusFailed, fmt.Sprintf("open %s: %v", dir, err)
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		s.Status, s.Reason = StatusFailed, fmt.Sprintf("stat %s: %v", dir, err)
		return
	}
	if cgroupID != 0 && st.Ino != cgroupID {
		s.Status = StatusRemoved
		return
	}
	c := cgroupFiles{fd: fd}
	if r.version == 2 {
		readV2(s, &c)
	} else {
		readV1(s, &c)
	}
	if !c.removed && c.err == nil {
		return
	}
	// Files vanish, or fail with ENODEV, when the cgroup is removed under
	// the reader; a directory that is still there and lacks them is not a
	// memory cgroup.
	if c.removed || !sameDir(dir, st.Ino) {
		*s = Snapshot{Status: StatusRemoved, Version: s.Version}
		return
	}
	*s = Snapshot{Status: StatusFailed, Version: s.Version, Reason: fmt.Sprintf("read %s: %v", dir, c.err)}
}

// sameDir reports whether dir still exists as the directory with inode ino.
func sameDir(dir string, ino uint64) bool {
	var st unix.Stat_t
	return unix.Stat(dir, &st) == nil && st.Ino == ino
}

// cgroupFiles reads the control files of one open cgroup directory and
// remembers the first error that is more than a file this kernel lacks.
type cgroupFiles struct {
	fd      int
	removed bool  // a file failed as files of a removed cgroup do
	err     error // the first other error of a required file
}

// read returns the contents of the control file name, or nil when it
// cannot be read. A file the kernel does not have (no swap accounting, PSI
// off) is not an error; for a required one, anything but removal is.
func (c *cgroupFiles) read(name string, required bool) []byte {
	b, err := c.readFile(name)
	if err == nil {
		return b
	}
	switch {
	case errors.Is(err, unix.ENODEV):
		c.removed = true
	case errors.Is(err, unix.ENOENT) && required:
		// The cgroup was removed, or this is not a memory cgroup: the
		// final check of the directory tells.
		if c.err == nil {
			c.err = fmt.Errorf("%s: %w", name, err)
		}
	case required && c.err == nil:
		c.err = fmt.Errorf("%s: %w", name, err)
	}
	return nil
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
func readV2(s *Snapshot, c *cgroupFiles) {
	if b := c.read("memory.events", true); b != nil {
		setKeyed(s, b, []keyed{
			{"low", FieldEventsLow, &s.EventsLow},
			{"high", FieldEventsHigh, &s.EventsHigh},
			{"max", FieldEventsMax, &s.EventsMax},
			{"oom", FieldEventsOOM, &s.EventsOOM},
			{"oom_kill", FieldEventsOOMKill, &s.EventsOOMKill},
			{"oom_group_kill", FieldEventsOOMGroupKill, &s.EventsOOMGroupKill},
		})
	}
	if b := c.read("memory.stat", true); b != nil {
		setKeyed(s, b, []keyed{
			{"anon", FieldAnon, &s.Anon},
			{"file", FieldFile, &s.File},
			{"kernel", FieldKernel, &s.Kernel},
			{"slab", FieldSlab, &s.Slab},
			{"shmem", FieldShmem, &s.Shmem},
			{"workingset_refault_anon", FieldWorkingsetRefaultAnon, &s.WorkingsetRefaultAnon},
			{"workingset_refault_file", FieldWorkingsetRefaultFile, &s.WorkingsetRefaultFile},
		})
	}
	setLimit(s, c.read("memory.high", false), FieldHigh, &s.HighBytes)
	setLimit(s, c.read("memory.swap.max", false), FieldSwapLimit, &s.SwapLimitBytes)
	setCount(s, c.read("memory.swap.current", false), FieldSwap, &s.SwapBytes)
	if p, ok := ParsePressure(c.read("memory.pressure", false)); ok {
		s.Pressure = p
		s.Fields |= FieldPressure
	}
}

// readV1 reads a cgroup v1 memory cgroup.
func readV1(s *Snapshot, c *cgroupFiles) {
	if b := c.read("memory.oom_control", true); b != nil {
		var disable, under uint64
		setKeyed(s, b, []keyed{
			{"oom_kill_disable", FieldOOMKillDisable, &disable},
			{"under_oom", FieldUnderOOM, &under},
			{"oom_kill", FieldEventsOOMKill, &s.EventsOOMKill},
		})
		s.OOMKillDisable, s.UnderOOM = disable != 0, under != 0
	}
	setCount(s, c.read("memory.failcnt", true), FieldFailcnt, &s.Failcnt)
	if b := c.read("memory.stat", true); b != nil {
		setKeyed(s, b, []keyed{
			{"total_rss", FieldAnon, &s.Anon},
			{"total_cache", FieldFile, &s.File},
			{"total_shmem", FieldShmem, &s.Shmem},
			{"total_swap", FieldSwap, &s.SwapBytes},
			{"total_workingset_refault_anon", FieldWorkingsetRefaultAnon, &s.WorkingsetRefaultAnon},
			{"total_workingset_refault_file", FieldWorkingsetRefaultFile, &s.WorkingsetRefaultFile},
		})
	}
	setCount(s, c.read("memory.kmem.usage_in_bytes", false), FieldKernel, &s.Kernel)

	limit, okLimit := parseLimit(c.read("memory.limit_in_bytes", true))
	memsw, okMemsw := parseLimit(c.read("memory.memsw.limit_in_bytes", false))
	if okLimit && okMemsw {
		s.Fields |= FieldSwapLimit
		switch {
		case memsw == NoLimit:
			s.SwapLimitBytes = NoLimit
		case limit == NoLimit:
			s.SwapLimitBytes = memsw
		default:
			s.SwapLimitBytes = memsw - min(memsw, limit)
		}
	}
}

// keyed is a line of a flat keyed file ("key value") to read into a field.
type keyed struct {
	key   string
	field Field
	dst   *uint64
}

// setKeyed reads the lines of a flat keyed file into the fields that want
// them; lines with other keys, or values that are not numbers, are skipped.
func setKeyed(s *Snapshot, b []byte, want []keyed) {
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
func setLimit(s *Snapshot, b []byte, f Field, dst *uint64) {
	if n, ok := parseLimit(b); ok {
		*dst = n
		s.Fields |= f
	}
}

// setCount reads a file of one number into dst.
func setCount(s *Snapshot, b []byte, f Field, dst *uint64) {
	if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
		*dst = n
		s.Fields |= f
	}
}

// v1Unlimited is the smallest value v1 shows for "no limit": the largest
// page counter, LONG_MAX rounded down to the page size, for pages of up to
// 64 KiB.
const v1Unlimited = (1<<63 - 1) &^ (64<<10 - 1)

// parseLimit parses a number of bytes, or "max" (v2) and v1's huge value
// for no limit as NoLimit. It fails on nil.
func parseLimit(b []byte) (uint64, bool) {
	text := strings.TrimSpace(string(b))
	if text == "max" {
		return NoLimit, true
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, false
	}
	if n >= v1Unlimited {
		return NoLimit, true
	}
	return n, true
}

// ParsePressure parses a PSI file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// Both lines, with all four values, must be there.
func ParsePressure(b []byte) (Pressure, bool) {
	var p Pressure
	var seen int
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) != 5 {
			return Pressure{}, false
		}
		var dst *PressureLine
		switch fields[0] {
		case "some":
			dst, seen = &p.Some, seen|1
		case "full":
			dst, seen = &p.Full, seen|2
		default:
			return Pressure{}, false
		}
		if !parsePressureLine(fields[1:], dst) {
			return Pressure{}, false
		}
	}
	return p, seen == 3
}

func parsePressureLine(fields []string, dst *PressureLine) bool {
	avgs := [...]*float64{&dst.Avg10, &dst.Avg60, &dst.Avg300}
	for i, key := range [...]string{"avg10=", "avg60=", "avg300="} {
		text, ok := strings.CutPrefix(fields[i], key)
		if !ok {
			return false
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || !(v >= 0 && v <= 100) { // NaN too
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
