// Package tracer loads oomtrace's BPF programs, attaches them in the best
// mode the kernel allows, and hands over the kernel's records.
package tracer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	// Logger receives the mode decision and warnings; nil discards them.
	Logger *slog.Logger
	// KernelTypes is the kernel's BTF as readers before Open (the GFP flag
	// names) decoded it, which Open takes over; nil: Open decodes it.
	KernelTypes *KernelTypes
}

// KernelTypes carries the kernel's BTF, decoded once, from the readers that
// come before Open to Open: each decoding and name index costs tens of
// milliseconds of the start. Open takes it and lets go of it once the
// programs are loaded, so that no copy of a Config keeps the decoded types
// (and the mapped BTF file) alive.
type KernelTypes struct{ cache *btf.Cache }

// NewKernelTypes returns types not decoded yet.
func NewKernelTypes() *KernelTypes { return &KernelTypes{btf.NewCache()} }

// Cache returns the types for reading before Open; nil once Open took them.
func (k *KernelTypes) Cache() *btf.Cache { return k.cache }

// take returns the types and leaves k empty, or new ones if k has none.
func (k *KernelTypes) take() *btf.Cache {
	if k == nil || k.cache == nil {
		return btf.NewCache()
	}
	c := k.cache
	k.cache = nil
	return c
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
	// of the kernel side's wakeupWindow after its last read.
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

	types := cfg.KernelTypes.take()
	kernel, err := types.Kernel()
	if err != nil {
		return nil, nil, fmt.Errorf("read kernel BTF: %w: oomtrace needs a kernel built with CONFIG_DEBUG_INFO_BTF (/sys/kernel/btf/vmlinux)", err)
	}
	form, err := detectMarkVictim(kernel)
	if err != nil {
		return nil, nil, err
	}

	spec, err := loadOomtrace()
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
	values := map[string]any{
		"filter_tgid":      cfg.FilterTGID,
		"filter_cgroup_id": cfg.FilterCgroupID,
		"reclaim_min_ns":   uint64(cfg.ReclaimMin.Nanoseconds()),
		"wakeup_window_ns": uint64(wakeupWindow.Nanoseconds()),
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
		l, err := attach(coll.Programs[h.program], loaded.Programs[h.program], h.target)
		if err != nil {
			return nil, fmt.Errorf("attach %s to tracepoint %s: %w", h.program, h.target, err)
		}
		t.links = append(t.links, l)
	}
	return loaded, nil
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

// loadHooks loads the programs of hooks, and the maps, from a copy of spec,
// against the kernel types decoded in types.
func loadHooks(spec *ebpf.CollectionSpec, hooks []hook, shared map[string]*ebpf.Map, types *btf.Cache) (*ebpf.Collection, error) {
	s := spec.Copy()
	s.Programs = make(map[string]*ebpf.ProgramSpec, len(hooks))
	for _, h := range hooks {
		s.Programs[h.program] = spec.Programs[h.program].Copy()
	}
	return ebpf.NewCollectionWithOptions(s, ebpf.CollectionOptions{MapReplacements: shared, Cache: types})
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
