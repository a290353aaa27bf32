// Package attribute is the pipeline's attribute stage: it tells whose every
// cgroup of an event is (container, pod, systemd unit), looks up the names
// people use for them, and reads the OOM cgroup's memory state and the
// victim's container's main process right after a kill. It writes each
// Cgroup.Owner, OOMKill.Snapshot and OOMKill.VictimMain, and nothing else.
//
// Names are looked up by IDs that are unique (pod UIDs, 64-digit container
// IDs), so a lookup on another node than the event's finds nothing rather
// than something wrong. A kill or a fatal exit waits, up to Options.Wait, for
// the names not cached yet, because its verdict is what people read; every
// other event is served from the cache and never waits. The wait happens in
// the caller's goroutine, before the pipeline takes its sinks' lock.
package attribute

import (
	"context"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
)

// Options configures a Stage.
type Options struct {
	// HostRoot is where the host's root directory is seen ("" or "/" on
	// the host): the kubelet's and runtimes' state is read below it.
	HostRoot string
	// Snapshot, when true, reads the OOM cgroup's memory state right after
	// each kill, found in Hierarchy. Only for kills happening now: a
	// snapshot of a kill read from a log would describe another moment.
	Snapshot  bool
	Hierarchy memcg.Hierarchy
	// Wait bounds what one kill or fatal exit may wait for names (and a
	// kill for the snapshot).
	Wait time.Duration
}

// Stage is the attribute stage. It is safe for concurrent use.
type Stage struct {
	resolver  *container.Resolver
	snapshots *memstate.Reader // nil: no snapshot
	hierarchy memcg.Hierarchy
	wait      time.Duration

	mu sync.Mutex
	// parsed caches Parse by cgroup id; the path is kept because a removed
	// cgroup's id (an inode number) can come back for a new one.
	parsed map[uint64]parsedCgroup
}

type parsedCgroup struct {
	path  string
	owner event.Owner
}

// maxParsed bounds the cache of parsed paths.
const maxParsed = 4096

// New returns an attribute stage.
func New(opts Options) *Stage {
	root := opts.HostRoot
	if root == "" {
		root = "/"
	}
	s := &Stage{
		resolver:  container.NewResolver(container.HostPaths(root)),
		hierarchy: opts.Hierarchy,
		wait:      opts.Wait,
		parsed:    make(map[uint64]parsedCgroup),
	}
	if opts.Snapshot {
		s.snapshots = memstate.NewReader(opts.Hierarchy.Version, memstate.NodePressurePath)
	}
	return s
}

// Process attributes every cgroup of ev. Events read back from oomtrace's
// own log keep the owners the recording found.
func (s *Stage) Process(ev *event.Event) (bool, error) {
	if ev.Restored {
		return true, nil
	}
	for _, c := range ev.Cgroups() {
		s.parse(c)
	}
	switch ev.Kind {
	case event.KindOOMKill:
		s.kill(ev)
	case event.KindExit:
		s.resolve(&ev.Exit.Cgroup, &ev.Exit.SenderCgroup)
	case event.KindMemcgOOM, event.KindSignal:
		// A kill or an exit usually follows: start the name lookups now.
		for _, c := range ev.Cgroups() {
			s.prefetch(c.Owner)
		}
	}
	return true, nil
}

// parse sets c.Owner from c's path and the names cached for it.
func (s *Stage) parse(c *event.Cgroup) {
	if !c.Valid() {
		return
	}
	s.mu.Lock()
	p, ok := s.parsed[c.ID]
	if !ok || p.path != c.Path || c.ID == 0 {
		p = parsedCgroup{path: c.Path}
		if c.Truncated {
			p.owner = container.ParseTruncated(c.Path)
		} else {
			p.owner = container.Parse(c.Path)
		}
		if c.ID != 0 {
			if len(s.parsed) >= maxParsed {
				clear(s.parsed)
			}
			s.parsed[c.ID] = p
		}
	}
	s.mu.Unlock()
	c.Owner = s.resolver.Cached(p.owner)
}

// resolve completes the names of cgroups, waiting up to s.wait for those
// not cached yet.
func (s *Stage) resolve(cgroups ...*event.Cgroup) {
	ctx, cancel := context.WithTimeout(context.Background(), s.wait)
	defer cancel()
	s.resolveUntil(ctx, cgroups...)
}

func (s *Stage) resolveUntil(ctx context.Context, cgroups ...*event.Cgroup) {
	for _, c := range cgroups {
		if c.Valid() && !c.Owner.IsZero() {
			c.Owner = s.resolver.Resolve(ctx, c.Owner)
		}
	}
}

func (s *Stage) prefetch(owner event.Owner) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	s.resolver.Resolve(done, owner)
}

// kill names the kill's cgroups and takes the OOM cgroup's snapshot; the
// two wait on the disk in parallel.
func (s *Stage) kill(ev *event.Event) {
	k := &ev.OOMKill
	ctx, cancel := context.WithTimeout(context.Background(), s.wait)
	defer cancel()
	snapshot := s.snapshots != nil && !k.Replayed
	taken := make(chan event.Snapshot, 1)
	if snapshot {
		go func() { taken <- s.takeSnapshot(ctx, &k.OOMCgroup) }()
	}
	// Whether the victim was its container's main process, while the
	// container's other processes are still there to ask; only of a kill
	// happening now.
	if v := &k.Victim.Cgroup; !k.Replayed && v.Valid() && v.Owner.ID != "" && s.hierarchy.Mountpoint != "" {
		if dir, err := s.hierarchy.Dir(v.Path); err == nil {
			if p, ok := container.MainProcess(dir, "/proc"); ok {
				k.VictimMain = event.Task{PID: uint32(p.PID), TGID: uint32(p.PID), Comm: p.Comm}
			}
		}
	}
	s.resolveUntil(ctx, &k.Victim.Cgroup, &k.TriggerCgroup, &k.OOMCgroup)
	if snapshot {
		k.Snapshot, k.HasSnapshot = <-taken, true
	}
}

// takeSnapshot reads the OOM cgroup's state, or only the node's pressure
// when there is no OOM cgroup (a global OOM).
func (s *Stage) takeSnapshot(ctx context.Context, oom *event.Cgroup) event.Snapshot {
	if !oom.Valid() {
		return s.snapshots.Read(ctx, "", 0)
	}
	dir, err := s.hierarchy.Dir(oom.Path)
	if err != nil {
		return s.snapshots.Read(ctx, "", 0)
	}
	return s.snapshots.Read(ctx, dir, oom.ID)
}
