package container

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// ResolverOptions says where a Resolver looks for names and how long it
// remembers them. A directory left empty is not looked in.
type ResolverOptions struct {
	// PodLogDir is the kubelet's pod log directory, with one directory
	// <namespace>_<pod>_<uid> per pod: pod names.
	PodLogDir string
	// ContainerLogDir holds the kubelet's links
	// <pod>_<namespace>_<container>-<id>.log into PodLogDir: container names.
	ContainerLogDir string
	// DockerDir is Docker's data root: containers/<id>/config.v2.json.
	DockerDir string
	// StorageDir is the root of containers/storage, Podman's (rootful)
	// store: <driver>-containers/containers.json.
	StorageDir string

	// CacheSize bounds the number of lookups remembered (default 4096).
	CacheSize int
	// HitTTL is how long a name found is trusted (default 10 minutes: IDs
	// are never reused, but Docker containers can be renamed).
	HitTTL time.Duration
	// MissTTL is how long a lookup that found nothing is remembered before
	// it is tried again (default 10 seconds).
	MissTTL time.Duration
	// MaxLookups bounds the lookups running at once (default 8); beyond it
	// a name is not looked up until one finishes.
	MaxLookups int
}

// HostPaths returns the options that look where the kubelet, Docker and
// Podman keep their state on a host whose root directory is root: "/" on
// the host itself, or where the host's root is mounted (and a temporary
// directory in tests).
func HostPaths(root string) ResolverOptions {
	return ResolverOptions{
		PodLogDir:       filepath.Join(root, "var/log/pods"),
		ContainerLogDir: filepath.Join(root, "var/log/containers"),
		DockerDir:       filepath.Join(root, "var/lib/docker"),
		StorageDir:      filepath.Join(root, "var/lib/containers/storage"),
	}
}

// Resolver finds the names of pods and containers, from the files the
// kubelet and the container runtimes leave on the host, and caches them.
// Only the runtimes' files are read: no API is called, so nothing can hang
// on a daemon.
//
// The event path must never wait on a disk, so there are two calls. Cached
// answers from the cache alone. Resolve also starts the lookups the cache
// cannot answer, each on its own goroutine, and waits for them only until
// its context is done; a lookup that takes longer still fills the cache for
// the next event. A name that is not found leaves the IDs, never an error.
//
// It is safe for concurrent use.
type Resolver struct {
	opts  ResolverOptions
	cache *cache
	now   func() time.Time
	// look does one lookup; the files by default, replaced in tests.
	look func(lookupKey) lookupResult

	mu       sync.Mutex
	inflight map[lookupKey]*pendingLookup
	// freed is closed, and replaced, each time a lookup finishes: a
	// Resolve that found MaxLookups running waits on it for a slot.
	freed chan struct{}
}

// lookupKey is one thing to look up: the names of a pod, or of a container.
type lookupKey struct {
	kind   lookupKind
	podUID string
	id     string
}

type lookupKind uint8

const (
	lookupPod           lookupKind = iota + 1 // pod name and namespace by UID
	lookupKubeContainer                       // container name by pod UID and ID
	lookupDocker                              // container name by ID
	lookupPodman                              // container name by ID
)

// lookupResult is what a lookup found: names, or found false. runtime is
// the runtime whose state knew the container, for a container whose path
// does not say.
type lookupResult struct {
	names   Names
	runtime event.Runtime
	found   bool
}

type pendingLookup struct {
	done   chan struct{} // closed once result is set and in the cache
	result lookupResult
}

// apply returns info with the names res found.
func (res lookupResult) apply(info event.Owner) event.Owner {
	if !res.found {
		return info
	}
	if info.Runtime == "" && info.PodUID == "" {
		info.Runtime = res.runtime
	}
	return WithNames(info, res.names)
}

// NewResolver returns a resolver that looks where opts says.
func NewResolver(opts ResolverOptions) *Resolver {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	if opts.HitTTL <= 0 {
		opts.HitTTL = 10 * time.Minute
	}
	if opts.MissTTL <= 0 {
		opts.MissTTL = 10 * time.Second
	}
	if opts.MaxLookups <= 0 {
		opts.MaxLookups = 8
	}
	r := &Resolver{
		opts:     opts,
		cache:    newCache(opts.CacheSize),
		now:      time.Now,
		inflight: map[lookupKey]*pendingLookup{},
		freed:    make(chan struct{}),
	}
	r.look = r.lookOnDisk
	return r
}

// Cached returns info with the names the cache holds for it. It never
// blocks on I/O and starts nothing. It runs for every event, so what needs
// no lookup (a cgroup outside containers) costs neither the clock nor an
// allocation.
func (r *Resolver) Cached(info event.Owner) event.Owner {
	var keys [maxLookups]lookupKey
	lookups := lookupsFor(keys[:0], info)
	if len(lookups) == 0 {
		return info
	}
	now := r.now()
	for _, k := range lookups {
		if res, ok := r.cache.get(k, now); ok {
			info = res.apply(info)
		}
	}
	return info
}

// Resolve returns info with the names of its container and pod: from the
// cache, else from lookups it starts in the background and waits for until
// ctx is done (also for a lookup to finish when MaxLookups are running).
// With a context that is already done it only starts the lookups: a
// prefetch.
func (r *Resolver) Resolve(ctx context.Context, info event.Owner) event.Owner {
	now := r.now()
	var waits []*pendingLookup
	var keys [maxLookups]lookupKey
	for _, k := range lookupsFor(keys[:0], info) {
		if res, ok := r.cache.get(k, now); ok {
			info = res.apply(info)
			continue
		}
		// With MaxLookups running, wait for one to finish (within ctx):
		// many kills at once in new containers all need names.
		for {
			p, freed := r.start(k)
			if p != nil {
				waits = append(waits, p)
				break
			}
			select {
			case <-freed:
				continue
			case <-ctx.Done():
			}
			break
		}
	}
	for _, p := range waits {
		select {
		case <-p.done:
		case <-ctx.Done():
		}
		select {
		case <-p.done:
			// Taken from the lookup itself, not the cache: with many
			// lookups at once the cache may already have evicted it.
			info = p.result.apply(info)
		default:
		}
	}
	return info
}

// start runs the lookup for k unless one is already running, and returns
// it; nil when MaxLookups are running already, with a channel that is
// closed when one of them finishes.
func (r *Resolver) start(k lookupKey) (*pendingLookup, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.inflight[k]; ok {
		return p, nil
	}
	if len(r.inflight) >= r.opts.MaxLookups {
		return nil, r.freed
	}
	p := &pendingLookup{done: make(chan struct{})}
	r.inflight[k] = p
	go func() {
		p.result = r.look(k)
		ttl := r.opts.MissTTL
		if p.result.found {
			ttl = r.opts.HitTTL
		}
		r.cache.put(k, p.result, r.now().Add(ttl))
		r.mu.Lock()
		delete(r.inflight, k)
		close(r.freed)
		r.freed = make(chan struct{})
		r.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// lookupsFor lists what must be looked up to name info. Containers in a
// user's own cgroups (rootless runtimes) are not looked up: the system's
// runtime state does not describe them, and a user could name a cgroup
// after a system container's ID. An Owner that Parse could not have made
// (IDs of the wrong form) is not looked up either: the IDs become file
// names. The keys are appended to dst, which has room for maxLookups.
func lookupsFor(dst []lookupKey, info event.Owner) []lookupKey {
	if info.User != "" || info.ID != "" && !isContainerID(info.ID) {
		return dst
	}
	if _, ok := podUID(info.PodUID, '-'); info.PodUID != "" && !ok {
		return dst
	}
	if info.PodUID != "" {
		dst = append(dst, lookupKey{kind: lookupPod, podUID: info.PodUID})
		if info.ID != "" {
			dst = append(dst, lookupKey{kind: lookupKubeContainer, podUID: info.PodUID, id: info.ID})
		}
		return dst
	}
	if info.ID == "" {
		return dst
	}
	switch info.Runtime {
	case event.RuntimeDocker, "": // a bare ID: Docker's --cgroup-parent
		return append(dst, lookupKey{kind: lookupDocker, id: info.ID})
	case event.RuntimePodman:
		return append(dst, lookupKey{kind: lookupPodman, id: info.ID})
	}
	return dst
}

// maxLookups is the most keys lookupsFor gives: a pod and its container.
const maxLookups = 2

// lookOnDisk does one lookup in the files opts names.
func (r *Resolver) lookOnDisk(k lookupKey) lookupResult {
	switch k.kind {
	case lookupPod:
		return podNames(r.opts.PodLogDir, k.podUID)
	case lookupKubeContainer:
		return kubeContainerNames(r.opts.ContainerLogDir, k.podUID, k.id)
	case lookupDocker:
		return dockerName(r.opts.DockerDir, k.id)
	case lookupPodman:
		return podmanName(r.opts.StorageDir, k.id)
	}
	return lookupResult{}
}
