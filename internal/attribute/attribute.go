// Package attribute is the pipeline's attribute stage: it tells whose every
// cgroup of an event is (container, pod, systemd unit), looks up the names
// people use for them, and finds the victim's container's main process
// right after a kill. It writes each Cgroup.Owner and OOMKill.VictimMain,
// and nothing else.
//
// Names are looked up by IDs that are unique (pod UIDs, 64-digit container
// IDs), so a lookup on another node than the event's finds nothing rather
// than something wrong. A kill or a fatal exit waits, up to Options.Wait, for
// the names not cached yet, because its verdict is what people read; every
// other event is served from the cache and never waits. The wait happens in
// the caller's goroutine, before the pipeline takes its sinks' lock. What a
// kill's line need not wait for, the OOM cgroup's memory state, is read
// after the line is written (see package stream).
package attribute

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
)

// Options configures a Stage.
type Options struct {
	// HostRoot is where the host's root directory is seen ("" or "/" on
	// the host): the kubelet's and runtimes' state is read below it.
	HostRoot string
	// Hierarchy is the memory cgroup hierarchy of this machine, where a
	// live kill's container is looked into for its main process; the zero
	// Hierarchy for none.
	Hierarchy memcg.Hierarchy
	// Wait bounds what one kill or fatal exit may wait for names.
	Wait time.Duration
}

// Stage is the attribute stage. It is safe for concurrent use.
type Stage struct {
	resolver  *container.Resolver
	hierarchy memcg.Hierarchy
	wait      time.Duration

	mu sync.Mutex
	// parsed caches Parse by cgroup id; the path is kept because a removed
	// cgroup's id (an inode number) can come back for a new one. Entries
	// are pointers: a reclaim storm looks one up for every event, and an
	// Owner is ten strings to copy.
	parsed map[uint64]*parsedCgroup
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
		parsed:    make(map[uint64]*parsedCgroup),
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
		p = &parsedCgroup{path: c.Path}
		switch {
		case c.TopMissing():
			// No owner: the pod tree the path seems to hold could be
			// nested in anyone's delegated subtree.
		case c.Truncated:
			p.owner = container.ParseTruncated(c.Path)
		default:
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
	// p is not changed once in the map. A cgroup of no one's (most of a
	// host's, all of a storm's) has no names to look up.
	if p.owner.IsZero() {
		c.Owner = event.Owner{}
		return
	}
	c.Owner = s.resolver.Cached(p.owner)
}

// resolve completes the names of cgroups, waiting up to s.wait for those
// not cached yet. Cgroups of no one's, a host's own kills and exits, have
// no names to wait for, and cost no timer: on a kill's way out, its
// setting and stopping took tens of microseconds here.
func (s *Stage) resolve(cgroups ...*event.Cgroup) {
	if !slices.ContainsFunc(cgroups, hasOwner) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.wait)
	defer cancel()
	s.resolveUntil(ctx, cgroups...)
}

func (s *Stage) resolveUntil(ctx context.Context, cgroups ...*event.Cgroup) {
	for _, c := range cgroups {
		if hasOwner(c) {
			c.Owner = s.resolver.Resolve(ctx, c.Owner)
		}
	}
}

// hasOwner reports whether c is someone's, whose names can be looked up.
func hasOwner(c *event.Cgroup) bool { return c.Valid() && !c.Owner.IsZero() }

func (s *Stage) prefetch(owner event.Owner) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	s.resolver.Resolve(done, owner)
}

// kill names the kill's cgroups and, for a kill happening now, finds the
// main process of the victim's container.
func (s *Stage) kill(ev *event.Event) {
	k := &ev.OOMKill
	// Whether the victim was its container's main process, while the
	// container's other processes are still there to ask.
	if v := &k.Victim.Cgroup; !k.Replayed && v.Valid() && v.Owner.ID != "" && s.hierarchy.Mountpoint != "" {
		if dir, err := s.hierarchy.Dir(v.Path); err == nil {
			if p, ok := container.MainProcess(dir, "/proc"); ok {
				k.VictimMain = event.Task{PID: uint32(p.PID), TGID: uint32(p.PID), Comm: p.Comm}
			}
		}
	}
	s.resolve(&k.Victim.Cgroup, &k.TriggerCgroup, &k.OOMCgroup)
}
