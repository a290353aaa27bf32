// Package tracer loads oomtrace's BPF programs, attaches them in the best
// mode the kernel allows, and hands over the kernel's records.
package tracer

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Config says what to trace.
type Config struct {
	// Mode is the attach mode; nil means auto: the best one that works.
	Mode *event.Mode
	// FilterTGID keeps only events of this process (victim or trigger).
	FilterTGID uint32
	// FilterCgroupID keeps only events in this memory cgroup's subtree
	// (the kernfs id: the cgroup directory's inode number).
	FilterCgroupID uint64
	// ReclaimMin is the shortest reclaim episode reported as an event;
	// shorter ones are only counted in the reclaim histograms.
	ReclaimMin time.Duration
	// Events is the event groups to attach; zero means all of them.
	Events EventGroup
	// RingBufferBytes sizes the ring buffer the kernel side writes events
	// to (CheckRingBufferBytes says which sizes do); zero means
	// DefaultRingBufferBytes.
	RingBufferBytes int
	// Logger receives the mode decision and warnings; nil discards them.
	Logger *slog.Logger
	// Preload is what Open needs that can be read before it, started
	// early; nil: Open reads it all itself.
	Preload *Preload
}

// Preload carries what Open reads before it loads anything, from the
// moment a command knows it will trace: the kernel's BTF, which readers
// before Open (the GFP flag names) decode once for Open too, and
// oomtrace's own BPF object, parsed in the background meanwhile. Each
// costs tens of milliseconds of the start on one CPU. Open takes them and
// lets go of the types once the programs are loaded, so that no copy of a
// Config keeps the decoded types (and the mapped BTF file) alive.
type Preload struct {
	cache  *btf.Cache
	object func() (*ebpf.CollectionSpec, error)
}

// NewPreload starts parsing the BPF object and returns it with the kernel's
// types, not decoded yet.
func NewPreload() *Preload {
	object := sync.OnceValues(loadOomtrace)
	go object() // Open takes the result
	return &Preload{btf.NewCache(), object}
}

// Cache returns the types for reading before Open; nil once Open took them.
func (p *Preload) Cache() *btf.Cache { return p.cache }

// take returns the types and the object, and leaves p empty; or new ones
// if p has none.
func (p *Preload) take() (*btf.Cache, func() (*ebpf.CollectionSpec, error)) {
	if p == nil || p.cache == nil {
		return btf.NewCache(), loadOomtrace
	}
	c, object := p.cache, p.object
	p.cache, p.object = nil, nil
	return c, object
}

// Tracer holds the loaded programs, their links and the ring-buffer reader.
type Tracer struct {
	mode       event.Mode
	markVictim markVictimForm
	reclaim    reclaimVariant
	base       *ebpf.Collection
	hooks      *ebpf.Collection
	links      []link.Link // the base programs'
	hookLinks  []link.Link // the function hooks' of the mode
	reader     *ringbuf.Reader
	record     ringbuf.Record
	// types is the kernel's BTF while Open loads programs, dropped once
	// it has: nothing after the start needs it.
	types *btf.Cache
	// deadline is the reader's deadline as Read last set it; lookAgain,
	// when not zero, is when a waiting Read looks for records that were
	// submitted without a wakeup, which it does until lookUntil, the end
	// of the kernel side's WakeupWindow after its last read.
	deadline, lookAgain, lookUntil time.Time
	// ringWait is where a waiting Read waits, nil where the runtime cannot
	// poll the ring buffer. ownWait hands waiting over to the reader's own
	// blocking wait, which knows how a flush and a close end: Flush sets
	// it, and so does a Read whose poll failed.
	ringWait *ringWait
	ownWait  atomic.Bool
	// ringMu keeps Close from unmapping the ring buffer while unread looks
	// into it; ringClosed says Close has.
	ringMu     sync.RWMutex
	ringClosed bool
	// readerLook is the kernel side's last_wakeup_ns, where Read says
	// when it will look again (holdWakeups); nil where it cannot be
	// written without a system call.
	readerLook variable
}

// variable is a BPF global as ebpf.Variable reads and writes it, through
// the memory it shares with the kernel.
type variable interface {
	Get(out any) error
	Set(in any) error
}

// Open loads and attaches everything. The caller must Close the Tracer.
func Open(cfg Config) (*Tracer, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t, spec, err := openBase(cfg, logger)
	if err != nil {
		return nil, err
	}

	switch {
	case cfg.Mode != nil:
		t.mode = *cfg.Mode
		if err := t.attachFunctionHooks(spec, t.mode); err != nil {
			t.Close()
			return nil, &ModeError{t.mode, err}
		}
		logger.Info("attached", "mode", t.mode, "reason", "requested with --mode")
	default:
		var failures []string
		for _, mode := range autoOrder {
			err := t.attachFunctionHooks(spec, mode)
			if err == nil {
				t.mode = mode
				break
			}
			failures = append(failures, (&ModeError{mode, err}).Error())
		}
		reason := "the best mode available"
		if len(failures) > 0 {
			reason = strings.Join(failures, "; ")
		}
		logger.Info("attached", "mode", t.mode, "reason", reason)
	}

	t.types = nil
	if err := t.openReader(); err != nil {
		t.Close()
		return nil, err
	}
	if w, err := newRingWait(t.base.Maps["events"].FD()); err != nil {
		logger.Info("the ring buffer is waited for in a system call, at some CPU cost", "reason", err)
	} else {
		t.ringWait = w
	}
	if v, err := sharedVariable(t.base, "last_wakeup_ns"); err != nil {
		logger.Info("the reader cannot tell the kernel side when it looks again", "reason", err)
	} else {
		t.readerLook = v
	}
	return t, nil
}

// sharedVariable returns the 8-byte global name of c, once it has read it
// through the memory the kernel shares with user space.
func sharedVariable(c *ebpf.Collection, name string) (*ebpf.Variable, error) {
	v := c.Variables[name]
	if v == nil {
		return nil, fmt.Errorf("BPF object has no variable %s", name)
	}
	var probe uint64
	return v, v.Get(&probe)
}

// openBase loads the programs every mode runs and attaches them: the first
// half of Open, which ProbeFeatures shares.
func openBase(cfg Config, logger *slog.Logger) (*Tracer, *ebpf.CollectionSpec, error) {
	if err := checkPrivileges(); err != nil {
		return nil, nil, err
	}
	// Kernels before 5.11 account BPF memory against RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, nil, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w", err)
	}

	types, object := cfg.Preload.take()
	kernel, err := types.Kernel()
	if err != nil {
		return nil, nil, fmt.Errorf("read kernel BTF: %w: oomtrace needs a kernel built with CONFIG_DEBUG_INFO_BTF (/sys/kernel/btf/vmlinux)", err)
	}
	form, err := detectMarkVictim(kernel)
	if err != nil {
		return nil, nil, err
	}

	spec, err := object()
	if err != nil {
		return nil, nil, err
	}
	if err := setVariables(spec, cfg); err != nil {
		return nil, nil, err
	}

	t := &Tracer{markVictim: form, types: types}
	if spec, err = t.attachBase(spec, kernel, cfg.Events.orAll(), logger); err != nil {
		t.Close()
		return nil, nil, err
	}
	return t, spec, nil
}

func (t *Tracer) openReader() error {
	r, err := ringbuf.NewReader(t.base.Maps["events"])
	if err != nil {
		return fmt.Errorf("open ring buffer: %w", err)
	}
	t.reader = r
	return nil
}

func setVariables(spec *ebpf.CollectionSpec, cfg Config) error {
	events, ok := spec.Maps["events"]
	if !ok {
		return errors.New("BPF object has no events map")
	}
	if cfg.RingBufferBytes != 0 {
		if err := CheckRingBufferBytes(cfg.RingBufferBytes); err != nil {
			return err
		}
		events.MaxEntries = uint32(cfg.RingBufferBytes)
	}
	values := map[string]any{
		"filter_tgid":        cfg.FilterTGID,
		"filter_cgroup_id":   cfg.FilterCgroupID,
		"reclaim_min_ns":     uint64(cfg.ReclaimMin.Nanoseconds()),
		"wakeup_window_ns":   uint64(WakeupWindow.Nanoseconds()),
		"ringbuf_wake_bytes": uint64(events.MaxEntries / 8),
	}
	for name, v := range values {
		variable, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("BPF object has no variable %s", name)
		}
		if err := variable.Set(v); err != nil {
			return fmt.Errorf("set BPF variable %s: %w", name, err)
		}
	}
	return nil
}

// attachBase loads the tracepoint programs every mode runs, with the maps
// the function hooks share, and attaches them. It returns the spec they
// were loaded from, which the function hooks must be loaded from too: it
// holds the maps of the reclaim programs' variant only.
func (t *Tracer) attachBase(spec *ebpf.CollectionSpec, kernel *btf.Spec, groups EventGroup, logger *slog.Logger) (*ebpf.CollectionSpec, error) {
	candidates := []hook{markVictimHook}
	if t.markVictim == markVictimPidOnly {
		candidates = markVictimPidHooks
	}
	var hooks []hook
	for _, h := range slices.Concat(candidates, tracepointHooks) {
		if groups&h.group == 0 {
			continue
		}
		if h.optional && !hasTracepoint(kernel, h.target) {
			logger.Warn("tracepoint missing on this kernel, not traced", "tracepoint", h.target)
			continue
		}
		if h.optional && h.known != nil {
			if params, _ := tracepointParams(kernel, h.target); !h.known(params) {
				logger.Warn("tracepoint has arguments this oomtrace cannot read, not traced", "tracepoint", h.target, "prototype", prototype(params))
				continue
			}
		}
		hooks = append(hooks, h)
	}

	variant := reclaimTaskLocal
	if groups&EventsReclaim == 0 {
		variant = reclaimCompat // nothing to probe for: no reclaim program loads
	} else if err := probeTaskLocal(markVictimHook.target, t.types); err != nil {
		variant = reclaimCompat
		logger.Info("reclaim episodes kept in a hash map", "reason", explain(err))
	}
	loaded := variant.spec(spec)
	coll, err := loadHooks(loaded, variant.hooks(hooks), nil, t.types)
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
		// Kernels that cannot load tp_btf programs may still run the same
		// code as raw tracepoints: every access of the compat variant goes
		// through CO-RE reads.
		logger.Warn("tp_btf programs did not load, retrying as raw tracepoints", "error", err)
		variant = reclaimCompat
		loaded = asRawTracepoints(variant.spec(spec))
		coll, err = loadHooks(loaded, variant.hooks(hooks), nil, t.types)
	}
	if err != nil {
		return nil, fmt.Errorf("load tracepoint programs: %w", explain(err))
	}
	t.base = coll
	t.reclaim = variant
	for _, h := range variant.hooks(hooks) {
		l, err := t.attachHook(coll, loaded, h, logger)
		if err != nil {
			return nil, fmt.Errorf("attach %s to tracepoint %s: %w", h.program, h.target, err)
		}
		t.links = append(t.links, l)
	}
	return loaded, nil
}

// attachHook attaches the program of h, loaded in coll from spec; where
// it is a perf tracepoint's that cannot attach, it loads and attaches its
// tp_btf fallback instead.
func (t *Tracer) attachHook(coll *ebpf.Collection, spec *ebpf.CollectionSpec, h hook, logger *slog.Logger) (link.Link, error) {
	l, err := attach(coll.Programs[h.program], spec.Programs[h.program], h.target)
	if err == nil || h.fallback == "" {
		return l, err
	}
	logger.Warn("perf tracepoint not attached, its tp_btf program instead: from Linux 7.0 on, the kernel skips that for tasks that reach it "+
		"while another task is preempted inside it on the same CPU; mount tracefs at /sys/kernel/tracing",
		"tracepoint", h.target, "error", err)
	progs, loadErr := loadPrograms(spec, []string{h.fallback}, coll.Maps, t.types)
	if loadErr != nil {
		return nil, errors.Join(err, loadErr)
	}
	coll.Programs[h.fallback] = progs[h.fallback]
	return attach(progs[h.fallback], spec.Programs[h.fallback], h.target)
}

// attachFunctionHooks loads and attaches the programs that read struct
// oom_control in the given mode; tracepoint mode has none. On failure
// nothing of the mode stays attached.
func (t *Tracer) attachFunctionHooks(spec *ebpf.CollectionSpec, mode event.Mode) error {
	hooks := functionHooks[mode]
	if len(hooks) == 0 {
		return nil
	}
	shared := make(map[string]*ebpf.Map)
	for name, m := range t.base.Maps {
		if !strings.HasPrefix(name, ".") { // .rodata and .bss are per collection
			shared[name] = m
		}
	}
	coll, err := loadHooks(spec, hooks, shared, t.types)
	if err != nil {
		return fmt.Errorf("load: %w", explain(err))
	}
	var links []link.Link
	for _, h := range hooks {
		l, err := attach(coll.Programs[h.program], spec.Programs[h.program], h.target)
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			coll.Close()
			return fmt.Errorf("attach %s to %s: %w", h.program, h.target, err)
		}
		links = append(links, l)
	}
	t.hooks = coll
	t.hookLinks = links
	return nil
}

// detachFunctionHooks detaches and unloads the function hooks of the mode.
func (t *Tracer) detachFunctionHooks() error {
	var errs []error
	for _, l := range t.hookLinks {
		errs = append(errs, l.Close())
	}
	t.hookLinks = nil
	if t.hooks != nil {
		t.hooks.Close()
		t.hooks = nil
	}
	return errors.Join(errs...)
}

// loadHooks loads the programs of hooks, and the maps but those in shared,
// from spec, against the kernel types decoded in types.
//
// Verifying the programs is most of a start, and the kernel verifies a
// program in the thread that loads it: the maps are created first, and the
// programs are then loaded in groups side by side, one per CPU, each group
// against those same maps. Loading copies what it changes of a spec, so the
// groups share spec's parts without copying them.
func loadHooks(spec *ebpf.CollectionSpec, hooks []hook, shared map[string]*ebpf.Map, types *btf.Cache) (*ebpf.Collection, error) {
	return loadGroups(spec, verifierGroups(spec, hooks, runtime.GOMAXPROCS(0)), shared, types)
}

// loadGroups creates the maps of spec but those in shared, and then loads
// each group of its programs in a goroutine of its own.
func loadGroups(spec *ebpf.CollectionSpec, groups [][]string, shared map[string]*ebpf.Map, types *btf.Cache) (*ebpf.Collection, error) {
	maps := *spec
	maps.Programs = nil
	coll, err := ebpf.NewCollectionWithOptions(&maps, ebpf.CollectionOptions{MapReplacements: shared, Cache: types})
	if err != nil {
		return nil, err
	}
	loaded := make([]map[string]*ebpf.Program, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, group := range groups {
		wg.Go(func() { loaded[i], errs[i] = loadPrograms(spec, group, coll.Maps, types) })
	}
	wg.Wait()

	coll.Programs = make(map[string]*ebpf.Program)
	for _, progs := range loaded {
		for name, p := range progs {
			coll.Programs[name] = p
		}
	}
	for _, err := range errs {
		if err != nil {
			coll.Close()
			return nil, err
		}
	}
	return coll, nil
}

// verifierGroups splits the programs of hooks into at most n groups of
// about the same size, the largest programs first: the verifier's work
// grows with a program's length.
func verifierGroups(spec *ebpf.CollectionSpec, hooks []hook, n int) [][]string {
	names := make([]string, 0, len(hooks))
	for _, h := range hooks {
		names = append(names, h.program)
	}
	size := func(name string) int { return len(spec.Programs[name].Instructions) }
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(size(b), size(a)), strings.Compare(a, b))
	})
	groups := make([][]string, min(n, len(names)))
	sizes := make([]int, len(groups))
	for _, name := range names {
		smallest := 0
		for i := range sizes {
			if sizes[i] < sizes[smallest] {
				smallest = i
			}
		}
		groups[smallest] = append(groups[smallest], name)
		sizes[smallest] += size(name)
	}
	return groups
}

// loadPrograms loads the named programs of spec against maps, which hold
// every map of spec.
func loadPrograms(spec *ebpf.CollectionSpec, names []string, maps map[string]*ebpf.Map, types *btf.Cache) (map[string]*ebpf.Program, error) {
	s := *spec
	s.Programs = make(map[string]*ebpf.ProgramSpec, len(names))
	for _, name := range names {
		s.Programs[name] = spec.Programs[name]
	}
	coll, err := ebpf.NewCollectionWithOptions(&s, ebpf.CollectionOptions{MapReplacements: maps, Cache: types})
	if err != nil {
		return nil, err
	}
	// The collection holds its own handles of maps; the programs keep the
	// maps they use alive in the kernel.
	progs := coll.Programs
	coll.Programs = nil
	coll.Close()
	return progs, nil
}

// asRawTracepoints turns the tp_btf programs of spec into raw_tp ones.
func asRawTracepoints(spec *ebpf.CollectionSpec) *ebpf.CollectionSpec {
	s := spec.Copy()
	for _, p := range s.Programs {
		if p.Type == ebpf.Tracing && p.AttachType == ebpf.AttachTraceRawTp {
			p.Type = ebpf.RawTracepoint
			p.AttachType = ebpf.AttachNone
		}
	}
	return s
}

func attach(prog *ebpf.Program, ps *ebpf.ProgramSpec, target string) (link.Link, error) {
	switch prog.Type() {
	case ebpf.Tracing:
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		return l, explainIfErr(err)
	case ebpf.RawTracepoint:
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: target, Program: prog})
		return l, explainIfErr(err)
	case ebpf.TracePoint:
		group, name, _ := strings.Cut(strings.TrimPrefix(ps.SectionName, "tracepoint/"), "/")
		l, err := link.Tracepoint(group, name, prog, nil)
		return l, explainIfErr(err)
	case ebpf.Kprobe:
		probe := link.Kprobe
		if strings.HasPrefix(ps.SectionName, "kretprobe/") {
			probe = link.Kretprobe
		}
		l, err := probe(target, prog, nil)
		if err != nil {
			return nil, explainKprobe(target, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("no attach method for program type %s", prog.Type())
}

// explain turns the kernel's terse errors into what the user can do about
// them; the kernel's error stays reachable with errors.Is and errors.As.
func explain(err error) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.As(err, &verr):
		return fmt.Errorf("verifier rejected the program: %+v", verr)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return &kernelError{"kernel refused program (EPERM): lockdown or missing CAP_BPF/CAP_PERFMON", err}
	case errors.Is(err, ebpf.ErrNotSupported):
		return &kernelError{"not supported by this kernel", err}
	}
	return err
}

// explainKprobe says whether kprobes are missing altogether or only the
// function is.
func explainKprobe(target string, err error) error {
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, ebpf.ErrNotSupported) {
		return explain(err)
	}
	_, pmuErr := os.Stat("/sys/bus/event_source/devices/kprobe")
	_, tracefsErr := os.Stat("/sys/kernel/tracing/kprobe_events")
	if pmuErr != nil && tracefsErr != nil {
		return &kernelError{"kprobes unavailable: no kprobe PMU and no kprobe_events in tracefs (CONFIG_KPROBES off, or tracefs not mounted)", err}
	}
	return &kernelError{fmt.Sprintf("kernel function %s cannot be probed (missing, inlined or blacklisted)", target), err}
}

func explainIfErr(err error) error {
	if err == nil {
		return nil
	}
	return explain(err)
}

// kernelError is a kernel error with the explanation users need instead of
// the kernel's own words.
type kernelError struct {
	explanation string
	err         error
}

func (e *kernelError) Error() string { return e.explanation }
func (e *kernelError) Unwrap() error { return e.err }

// ModeError says why an attach mode cannot run.
type ModeError struct {
	Mode event.Mode
	Err  error
}

func (e *ModeError) Error() string { return fmt.Sprintf("%s mode: %v", e.Mode, e.Err) }
func (e *ModeError) Unwrap() error { return e.Err }

// Mode is the attach mode in use.
func (t *Tracer) Mode() event.Mode { return t.mode }

// Close detaches every program and frees the maps. It unblocks a Read in
// progress, which then returns ringbuf.ErrClosed.
func (t *Tracer) Close() error {
	errs := []error{t.Detach()}
	if t.reader != nil {
		t.ringMu.Lock()
		t.ringClosed = true
		errs = append(errs, t.reader.Close())
		t.ringMu.Unlock()
	}
	if t.ringWait != nil {
		errs = append(errs, t.ringWait.close())
	}
	if t.hooks != nil {
		t.hooks.Close()
	}
	if t.base != nil {
		t.base.Close()
	}
	return errors.Join(errs...)
}
