package stream

import (
	"context"
	"time"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
	"github.com/oomtrace/oomtrace/internal/verdict"
)

// Attribution configures who a cgroup belongs to and how kills are
// explained.
type Attribution struct {
	// HostRoot is where the host's root directory is seen ("" or "/" on
	// the host): the kubelet's and runtimes' state is read below it.
	HostRoot string
	// Snapshot, when true, reads the OOM cgroup's memory state right after
	// each kill, for the explanation.
	Snapshot bool
	// Wait bounds what one kill or fatal exit may wait for names (and a
	// kill for the snapshot); the ring buffer holds the records that arrive
	// meanwhile.
	Wait time.Duration
}

// enricher attributes the cgroups of events to containers, pods and units,
// and explains kills and fatal exits. Everything else is served from caches
// and never waits.
type enricher struct {
	resolver  *container.Resolver
	snapshots *memstate.Reader // nil: no snapshot
	hierarchy memcg.Hierarchy  // where cgroup paths are on disk, for snapshots
	wait      time.Duration
	// parsed caches Parse by cgroup id; the path is kept because a removed
	// cgroup's id (an inode number) can come back for a new one.
	parsed map[uint64]parsedCgroup
}

type parsedCgroup struct {
	path string
	info container.Info
}

const maxParsed = 4096

func newEnricher(a Attribution, hierarchy memcg.Hierarchy, haveHierarchy bool) *enricher {
	root := a.HostRoot
	if root == "" {
		root = "/"
	}
	e := &enricher{
		resolver:  container.NewResolver(container.HostPaths(root)),
		hierarchy: hierarchy,
		wait:      a.Wait,
		parsed:    make(map[uint64]parsedCgroup),
	}
	if a.Snapshot && haveHierarchy {
		e.snapshots = memstate.NewReader(hierarchy.Version, memstate.NodePressurePath)
	}
	return e
}

// attribute sets c.Container from c's path and the names cached for it.
func (e *enricher) attribute(c *event.Cgroup) {
	if !c.Valid() {
		return
	}
	p, ok := e.parsed[c.ID]
	if !ok || p.path != c.Path {
		p = parsedCgroup{path: c.Path}
		if c.Truncated {
			p.info = container.ParseTruncated(c.Path)
		} else {
			p.info = container.Parse(c.Path)
		}
		if len(e.parsed) >= maxParsed {
			clear(e.parsed)
		}
		e.parsed[c.ID] = p
	}
	c.Container = e.resolver.Cached(p.info)
}

// enrich attributes every cgroup of ev; an oom_kill also gets the names
// looked up (waiting up to e.wait) and its explanation. A signal starts the
// lookups of its cgroups' names, for the exit that may follow; the exit
// itself is completed by finishExit, once its cause is known.
func (e *enricher) enrich(ev *event.Event) {
	switch ev.Kind {
	case event.KindOOMKill:
		e.explainKill(ev)
	case event.KindMemcgOOM:
		e.attribute(&ev.MemcgOOM.Cgroup)
		// A kill usually follows: start the name lookups now.
		e.prefetch(ev.MemcgOOM.Cgroup.Container)
	case event.KindReclaim:
		e.attribute(&ev.Reclaim.Cgroup)
	case event.KindReclaimStats:
		e.attribute(&ev.ReclaimStats.Cgroup)
	case event.KindSample:
		e.attribute(&ev.Sample.Cgroup)
	case event.KindSignal:
		for _, c := range ev.Cgroups() {
			e.attribute(c)
			e.prefetch(c.Container)
		}
	case event.KindExit:
		e.attribute(&ev.Exit.Cgroup)
	}
}

// finishExit names the containers of an exit whose cause the death
// correlator has set (waiting up to e.wait for names not cached yet, as for
// a kill: the verdict is what the user reads) and explains it again with
// them.
func (e *enricher) finishExit(ev *event.Event) {
	x := &ev.Exit
	ctx, cancel := context.WithTimeout(context.Background(), e.wait)
	defer cancel()
	for _, c := range []*event.Cgroup{&x.Cgroup, &x.SenderCgroup} {
		if c.Valid() && !c.Container.IsZero() {
			c.Container = e.resolver.Resolve(ctx, c.Container)
		}
	}
	x.Why = verdict.ExplainExit(ev)
}

func (e *enricher) prefetch(info container.Info) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	e.resolver.Resolve(done, info)
}

func (e *enricher) explainKill(ev *event.Event) {
	k := &ev.OOMKill
	cgroups := []*event.Cgroup{&k.Victim.Cgroup, &k.TriggerCgroup, &k.OOMCgroup}
	for _, c := range cgroups {
		e.attribute(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.wait)
	defer cancel()

	// The snapshot and the name lookups wait on the disk in parallel.
	var snapshot *memstate.Snapshot
	taken := make(chan memstate.Snapshot, 1)
	if e.snapshots != nil {
		go func() { taken <- e.takeSnapshot(ctx, &k.OOMCgroup) }()
	}
	// Whether the victim was its container's main process, while the
	// container's other processes are still there to ask.
	var main *container.Process
	if v := &k.Victim.Cgroup; v.Valid() && v.Container.ID != "" {
		if dir, err := e.hierarchy.Dir(v.Path); err == nil {
			if p, ok := container.MainProcess(dir, "/proc"); ok {
				main = &p
			}
		}
	}
	for _, c := range cgroups {
		if c.Valid() && !c.Container.IsZero() {
			c.Container = e.resolver.Resolve(ctx, c.Container)
		}
	}
	if e.snapshots != nil {
		k.Snapshot, k.HasSnapshot = <-taken, true
		snapshot = &k.Snapshot
	}
	k.Why = verdict.Explain(verdict.Input{
		Event:    ev,
		Victim:   k.Victim.Cgroup.Container,
		Trigger:  k.TriggerCgroup.Container,
		OOM:      k.OOMCgroup.Container,
		Snapshot: snapshot,
		Main:     main,
	})
}

// takeSnapshot reads the OOM cgroup's state, or only the node's pressure
// when there is no OOM cgroup (a global OOM).
func (e *enricher) takeSnapshot(ctx context.Context, oom *event.Cgroup) memstate.Snapshot {
	if !oom.Valid() {
		return e.snapshots.Read(ctx, "", 0)
	}
	dir, err := e.hierarchy.Dir(oom.Path)
	if err != nil {
		return e.snapshots.Read(ctx, "", 0)
	}
	return e.snapshots.Read(ctx, dir, oom.ID)
}
