// Package sampler reads, at each tick of oomtrace record's sampling
// interval, the memory usage, limits and pressure of the memory cgroups
// that matter and of the node, as sample events: how close each cgroup
// came to its limit before the kill, which the events alone cannot show.
//
// The cgroups that matter are those named to watch, and those the events
// name as reclaiming or OOMing (Write): at most Config.MaxCgroups at a
// time. A sample reads a few small files per cgroup, kept open and read
// again from offset 0 into one reused buffer, so a round costs a handful of
// system calls per cgroup and (on cgroup v1) no allocation. It runs on the
// caller's goroutine, never on the event path: Write, which the event
// path calls, only looks a cgroup id up in a map.
//
// Like package memstate, the files are read directly rather than through
// containerd/cgroups, whose Stat reads every controller's files at each
// call.
package sampler

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

// DefaultMaxCgroups bounds the cgroups sampled at once when Config says
// nothing: with four files each, a round stays well under a millisecond.
const DefaultMaxCgroups = 64

// Where the kernel reports the node's memory.
const (
	MemInfoPath      = "/proc/meminfo"
	NodePressurePath = memstate.NodePressurePath
)

// maxSeen bounds the cgroup ids remembered as sampled or gone; past it the
// gone ones are forgotten (an event that names one again then costs a
// failed open).
const maxSeen = 4096

// bufSize holds the longest file read: /proc/meminfo, about 1.5 KiB.
const bufSize = 8 << 10

// Config configures a Sampler.
type Config struct {
	// Hierarchy is the memory cgroup hierarchy: where the paths events
	// name are on disk, and which files to read. The zero Hierarchy (none
	// mounted) samples the node alone.
	Hierarchy memcg.Hierarchy
	// MaxCgroups bounds the cgroups sampled at once (watched ones
	// included); 0 means DefaultMaxCgroups. Cgroups noticed past it are
	// not sampled until a sampled one is removed.
	MaxCgroups int
	// MemInfo and NodePressure are the node's files; "" means MemInfoPath
	// and NodePressurePath.
	MemInfo, NodePressure string
	// Clock returns the wall clock and CLOCK_BOOTTIME in nanoseconds,
	// stamped on each sample.
	Clock func() (time.Time, uint64)
	// Logger receives the warnings: a cap reached, node files unreadable.
	Logger *slog.Logger
}

// Sampler takes samples. Write may be called from any goroutine; Sample
// and Close from one at a time.
type Sampler struct {
	cfg Config

	mu      sync.Mutex
	seen    map[uint64]bool // cgroup id: sampled (true) or gone (false)
	queue   []target        // noticed, not yet opened
	used    int             // slots taken: watched paths, queued and sampled cgroups
	skipped uint64          // cgroups noticed past the cap
	warned  bool

	// Owned by Sample.
	cgroups []*cgroupFiles
	waiting []string // watched paths whose cgroup does not exist now
	node    nodeFiles
	buf     []byte
}

// target is a cgroup to sample: its path as events name it, and its id.
type target struct {
	path    string
	id      uint64 // 0 for a watched path: whatever cgroup is there
	watched bool
}

// New returns a Sampler of the node alone until Watch or Write adds
// cgroups. It opens the node's files.
func New(cfg Config) *Sampler {
	if cfg.MaxCgroups <= 0 {
		cfg.MaxCgroups = DefaultMaxCgroups
	}
	if cfg.MemInfo == "" {
		cfg.MemInfo = MemInfoPath
	}
	if cfg.NodePressure == "" {
		cfg.NodePressure = NodePressurePath
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sampler{cfg: cfg, seen: make(map[uint64]bool), buf: make([]byte, bufSize)}
	s.node.meminfo = openFile(cfg.MemInfo)
	if s.node.meminfo < 0 {
		cfg.Logger.Warn("no samples of the node's memory", "file", cfg.MemInfo)
	}
	s.node.pressure = openFile(cfg.NodePressure) // absent with PSI off: no pressure
	return s
}

// Watch samples the cgroup at path (as events name it, e.g.
// "/kubepods/burstable") from now on: whichever cgroup is there, also one
// created later or created again.
func (s *Sampler) Watch(cgroupPath string) error {
	if !strings.HasPrefix(cgroupPath, "/") || path.Clean(cgroupPath) != cgroupPath {
		return fmt.Errorf("watch cgroup %q: want a clean path from the hierarchy's root, like /kubepods/burstable", cgroupPath)
	}
	if s.cfg.Hierarchy.Mountpoint == "" {
		return fmt.Errorf("watch cgroup %s: no memory cgroup hierarchy", cgroupPath)
	}
	if _, err := s.cfg.Hierarchy.Dir(cgroupPath); err != nil {
		return fmt.Errorf("watch cgroup: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used >= s.cfg.MaxCgroups {
		return fmt.Errorf("watch cgroup %s: at most %d cgroups are sampled", cgroupPath, s.cfg.MaxCgroups)
	}
	s.used++
	s.queue = append(s.queue, target{path: cgroupPath, watched: true})
	return nil
}

// Write is the sampler as a sink of the pipeline: it notices the cgroups
// an event written names as reclaiming or running out of memory, to be
// sampled from the next round on. It does no I/O and never fails.
func (s *Sampler) Write(ev *event.Event) error {
	switch ev.Kind {
	case event.KindReclaim:
		s.notice(&ev.Reclaim.Cgroup)
	case event.KindReclaimStats:
		s.notice(&ev.ReclaimStats.Cgroup)
	case event.KindMemcgOOM:
		s.notice(&ev.MemcgOOM.Cgroup)
	case event.KindOOMKill:
		s.notice(&ev.OOMKill.Victim.Cgroup)
		s.notice(&ev.OOMKill.OOMCgroup)
	}
	return nil
}

func (s *Sampler) notice(c *event.Cgroup) {
	// A truncated path does not lead to the cgroup's directory.
	if !c.Valid() || c.Truncated || c.ID == 0 || s.cfg.Hierarchy.Mountpoint == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[c.ID]; ok {
		return
	}
	if s.used >= s.cfg.MaxCgroups {
		s.skipped++
		if !s.warned {
			s.warned = true
			s.cfg.Logger.Warn("more cgroups than are sampled at once: the others wait for a sampled one to be removed",
				"max", s.cfg.MaxCgroups, "first_skipped", c.Path)
		}
		return
	}
	s.seen[c.ID] = true
	s.used++
	s.queue = append(s.queue, target{path: c.Path, id: c.ID})
}

// Skipped is the number of times a cgroup was noticed while the cap was
// reached.
func (s *Sampler) Skipped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Sample appends to dst one sample event of the node (when its memory can
// be read), then one per sampled cgroup, each stamped with the time it was
// read, and returns the extended slice. The caller sets the events' Task.
// Cgroups that were removed are left out, and no longer sampled.
func (s *Sampler) Sample(dst []event.Event) []event.Event {
	s.openNew()
	if ev, ok := s.sampleNode(); ok {
		dst = append(dst, ev)
	}
	kept := s.cgroups[:0]
	for _, c := range s.cgroups {
		now, ktime := s.cfg.Clock()
		ev := event.Event{Kind: event.KindSample, Time: now, KtimeNS: ktime}
		if !c.read(&ev.Sample, s.buf) {
			s.drop(c)
			continue
		}
		ev.Sample.Cgroup.Path, ev.Sample.Cgroup.ID = c.path, c.id
		dst = append(dst, ev)
		kept = append(kept, c)
	}
	clear(s.cgroups[len(kept):])
	s.cgroups = kept
	return dst
}

// openNew opens the cgroups noticed since the last round, and the watched
// paths that had no cgroup then.
func (s *Sampler) openNew() {
	s.mu.Lock()
	queue := s.queue
	s.queue = nil
	s.mu.Unlock()
	stillWaiting := s.waiting[:0]
	for _, p := range s.waiting {
		if c := s.open(target{path: p, watched: true}); c != nil {
			s.add(c)
		} else {
			stillWaiting = append(stillWaiting, p)
		}
	}
	s.waiting = stillWaiting
	for _, t := range queue {
		c := s.open(t)
		switch {
		case c != nil:
			s.add(c)
		case t.watched:
			s.waiting = append(s.waiting, t.path)
		default:
			s.forget(t.id)
		}
	}
}

// add starts sampling c, unless the same cgroup is sampled already (a
// watched path whose cgroup an event named before it was opened): then
// one entry is kept, watched if either was, and c's slot is freed.
func (s *Sampler) add(c *cgroupFiles) {
	for _, other := range s.cgroups {
		if other.id == c.id {
			other.watched = other.watched || c.watched
			c.close()
			s.mu.Lock()
			s.used--
			s.mu.Unlock()
			return
		}
	}
	s.cgroups = append(s.cgroups, c)
}

// open opens t's files; nil when there is no such memory cgroup (any
// more). A cgroup whose directory has another id than the event named is
// a newer one at the same path, and not the one asked for.
func (s *Sampler) open(t target) *cgroupFiles {
	dir, err := s.cfg.Hierarchy.Dir(t.path)
	if err != nil {
		return nil
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || t.id != 0 && st.Ino != t.id {
		return nil
	}
	c := &cgroupFiles{path: t.path, id: st.Ino, watched: t.watched, usage: -1, limit: -1, high: -1, pressure: -1}
	if s.cfg.Hierarchy.Version == 2 {
		c.usage, c.limit = openAt(fd, "memory.current"), openAt(fd, "memory.max")
		c.high, c.pressure = openAt(fd, "memory.high"), openAt(fd, "memory.pressure")
	} else {
		c.usage, c.limit = openAt(fd, "memory.usage_in_bytes"), openAt(fd, "memory.limit_in_bytes")
	}
	// The root of a v2 hierarchy has neither file, nor has a directory that
	// is no memory cgroup.
	if c.usage < 0 || c.limit < 0 {
		c.close()
		return nil
	}
	if t.watched {
		s.mu.Lock()
		s.seen[c.id] = true
		s.mu.Unlock()
	}
	return c
}

// drop stops sampling a removed cgroup; a watched path waits for a cgroup
// to appear there again.
func (s *Sampler) drop(c *cgroupFiles) {
	c.close()
	if c.watched {
		s.waiting = append(s.waiting, c.path)
		s.mu.Lock()
		s.seen[c.id] = false
		s.mu.Unlock()
		return
	}
	s.forget(c.id)
}

// forget frees the slot of a cgroup that is gone, remembering its id so
// that the events still naming it do not bring it back.
func (s *Sampler) forget(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	s.seen[id] = false
	if len(s.seen) > maxSeen {
		for id, live := range s.seen {
			if !live {
				delete(s.seen, id)
			}
		}
	}
}

// Close closes every file.
func (s *Sampler) Close() {
	for _, c := range s.cgroups {
		c.close()
	}
	s.cgroups = nil
	closeFile(&s.node.meminfo)
	closeFile(&s.node.pressure)
}

// nodeFiles are the node's open files; -1 when not open.
type nodeFiles struct {
	meminfo, pressure int
}

func (s *Sampler) sampleNode() (event.Event, bool) {
	n := &s.node
	if n.meminfo < 0 {
		return event.Event{}, false
	}
	now, ktime := s.cfg.Clock()
	ev := event.Event{Kind: event.KindSample, Time: now, KtimeNS: ktime}
	b, err := readAt0(n.meminfo, s.buf)
	if err != nil {
		return event.Event{}, false
	}
	total, okTotal := memstate.MeminfoKB(b, "MemTotal:")
	avail, okAvail := memstate.MeminfoKB(b, "MemAvailable:")
	if !okTotal || !okAvail {
		return event.Event{}, false
	}
	ev.Sample.MemTotalBytes, ev.Sample.MemAvailableBytes = total<<10, avail<<10
	if n.pressure >= 0 {
		if b, err := readAt0(n.pressure, s.buf); err == nil {
			setPressure(&ev.Sample, b)
		}
	}
	return ev, true
}

// cgroupFiles are one cgroup's open control files; -1 for one not open.
type cgroupFiles struct {
	path    string
	id      uint64
	watched bool
	// usage and limit: v1 memory.usage_in_bytes and memory.limit_in_bytes,
	// v2 memory.current and memory.max. high and pressure: v2 only.
	usage, limit, high, pressure int
}

// read fills s from the files; false when the cgroup is gone (reads of a
// removed cgroup's files fail with ENODEV) or its files make no sense.
func (c *cgroupFiles) read(s *event.Sample, buf []byte) bool {
	b, err := readAt0(c.usage, buf)
	if err != nil {
		return false
	}
	usage, ok := memstate.ParseCount(b)
	if !ok {
		return false
	}
	if b, err = readAt0(c.limit, buf); err != nil {
		return false
	}
	limit, ok := memstate.ParseLimit(b)
	if !ok {
		return false
	}
	s.Cgroup.UsageBytes, s.Cgroup.LimitBytes = usage, limit
	if c.high >= 0 {
		if b, err := readAt0(c.high, buf); err == nil {
			if high, ok := memstate.ParseLimit(b); ok && high != event.NoLimit {
				s.HighBytes, s.HasHigh = high, true
			}
		}
	}
	if c.pressure >= 0 {
		if b, err := readAt0(c.pressure, buf); err == nil {
			setPressure(s, b)
		}
	}
	return true
}

func (c *cgroupFiles) close() {
	closeFile(&c.usage)
	closeFile(&c.limit)
	closeFile(&c.high)
	closeFile(&c.pressure)
}

func setPressure(s *event.Sample, b []byte) {
	p, ok := memstate.ParsePressure(b)
	if !ok {
		return
	}
	s.HasPressure = true
	s.SomeAvg10, s.FullAvg10 = p.Some.Avg10, p.Full.Avg10
	s.SomeTotal = time.Duration(p.Some.TotalMicros) * time.Microsecond
	s.FullTotal = time.Duration(p.Full.TotalMicros) * time.Microsecond
}

func openFile(name string) int {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func openAt(dirfd int, name string) int {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1
	}
	return fd
}

func closeFile(fd *int) {
	if *fd >= 0 {
		unix.Close(*fd)
		*fd = -1
	}
}

// errTooLong is a control file that does not fit the buffer: not one the
// kernel writes.
var errTooLong = errors.New("control file longer than expected")

// readAt0 reads the whole file from offset 0: cgroup, /proc and PSI files
// produce their contents afresh at each read from the start.
func readAt0(fd int, buf []byte) ([]byte, error) {
	n, err := unix.Pread(fd, buf, 0)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Pread(fd, buf, 0)
	}
	if err != nil {
		return nil, err
	}
	if n == len(buf) {
		return nil, errTooLong
	}
	return buf[:n], nil
}
