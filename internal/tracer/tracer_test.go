package tracer

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memcg/memcgtest"
	"golang.org/x/sys/unix"
)

// requireBPF skips under -short and fails without root: every kernel
// oomtrace supports can run tracepoint mode, so a run as root must not
// pass by skipping.
func requireBPF(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("loads BPF programs; skipped by -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("BPF tests need root: run them with sudo, or use -short")
	}
}

func TestOpenTracepointMode(t *testing.T) {
	requireBPF(t)
	mode := event.ModeTracepoint
	tr, err := Open(Config{Mode: &mode})
	if err != nil {
		t.Fatalf("tracepoint mode must work on every kernel with BTF: %v", err)
	}
	defer tr.Close()
	if tr.Mode() != event.ModeTracepoint {
		t.Errorf("mode %s", tr.Mode())
	}
	if _, err := tr.Lost(); err != nil {
		t.Error(err)
	}
	// Far fewer cgroups than histograms have reclaimed here.
	if n, err := tr.UncountedReclaim(); err != nil || n != 0 {
		t.Errorf("uncounted reclaim episodes: %d, %v", n, err)
	}
	// Other tests may be reclaiming right now: whatever is counted must be
	// consistent: the total goes up before the maximum, so no maximum is
	// above it.
	stats, err := tr.ReclaimStats(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Max > s.Total {
			t.Errorf("inconsistent reclaim histogram: %+v", s)
		}
	}
}

// Open loads against the types decoded before it and the object parsed
// before it, and takes them: neither the caller's Config nor the open
// tracer keeps the types, so their memory goes back once the programs are
// loaded, and a second Open parses an object of its own.
func TestOpenTakesPreload(t *testing.T) {
	requireBPF(t)
	pre := NewPreload()
	before, err := pre.Cache().Kernel()
	if err != nil {
		t.Fatal(err)
	}
	mode := event.ModeTracepoint
	cfg := Config{Mode: &mode, Preload: pre}
	tr, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if cfg.Preload.Cache() != nil || cfg.Preload.object != nil {
		t.Error("the Config still holds the preloaded types or object after Open")
	}
	if tr.types != nil {
		t.Error("the open tracer still holds the kernel's types")
	}
	// A second Open with nothing left to take reads its own.
	tr2, err := Open(Config{Mode: &mode, Preload: pre})
	if err != nil {
		t.Fatal(err)
	}
	tr2.Close()
	if before == nil {
		t.Error("no kernel types were decoded")
	}
}

// Auto picks the first mode that works, and a mode that was asked for and
// cannot run is an error naming it, never a silent fallback.
func TestModesAgreeWithAuto(t *testing.T) {
	requireBPF(t)
	features := ProbeFeatures()
	if features.BTF != nil {
		t.Fatalf("kernel BTF: %v", features.BTF)
	}
	want, _, err := features.AutoMode()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := tr.Mode()
	tr.Close()
	if got != want {
		t.Errorf("auto picked %s, probing says %s", got, want)
	}
	for _, mode := range autoOrder {
		modeErr := features.Modes[mode]
		if modeErr == nil {
			continue
		}
		var me *ModeError
		if !errors.As(modeErr, &me) || me.Mode != mode {
			t.Errorf("%s mode failed with %v, want a ModeError for it", mode, modeErr)
		}
		t.Logf("%s mode unavailable here: %v", mode, modeErr)
	}
}

// The programs for the old mark_victim(int pid) form only run on kernels
// older than any here. Loaded as raw tracepoints, whose arguments are plain
// numbers on every kernel, the verifier checks their code all the same (as
// tp_btf here it would see this kernel's task pointer where they expect a pid).
func TestOldMarkVictimProgramsVerify(t *testing.T) {
	requireBPF(t)
	spec, err := loadOomtrace()
	if err != nil {
		t.Fatal(err)
	}
	coll, err := loadHooks(asRawTracepoints(reclaimCompat.spec(spec)), markVictimPidHooks, nil, nil)
	if err != nil {
		t.Fatalf("old-form programs rejected: %v", explain(err))
	}
	coll.Close()
}

// The programs are loaded in groups side by side, and every group must use
// the maps the collection holds: a group with maps of its own would write
// records into a ring buffer nobody reads. Loaded in four groups (more
// than this machine may have CPUs), each program's maps are among them.
func TestLoadedGroupsShareMaps(t *testing.T) {
	requireBPF(t)
	spec, err := loadOomtrace()
	if err != nil {
		t.Fatal(err)
	}
	variant := reclaimTaskLocal
	if err := probeTaskLocal(markVictimHook.target, nil); err != nil {
		variant = reclaimCompat
	}
	spec = variant.spec(spec)
	hooks := variant.hooks(append([]hook{markVictimHook}, tracepointHooks...))
	groups := verifierGroups(spec, hooks, 4)
	if len(groups) != 4 {
		t.Fatalf("%d hooks in %d groups, want 4", len(hooks), len(groups))
	}
	coll, err := loadGroups(spec, groups, nil, nil)
	if err != nil {
		t.Fatalf("load: %v", explain(err))
	}
	defer coll.Close()
	ids := make(map[ebpf.MapID]string)
	for name, m := range coll.Maps {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		ids[id] = name
	}
	if len(coll.Programs) != len(hooks) {
		t.Errorf("%d programs loaded for %d hooks", len(coll.Programs), len(hooks))
	}
	events, _ := coll.Maps["events"].Info()
	eventsID, _ := events.ID()
	usesEvents := 0
	for name, prog := range coll.Programs {
		info, err := prog.Info()
		if err != nil {
			t.Fatal(err)
		}
		used, ok := info.MapIDs()
		if !ok {
			t.Fatalf("%s: the kernel does not say which maps a program uses", name)
		}
		for _, id := range used {
			if _, ok := ids[id]; !ok {
				t.Errorf("%s uses map %d, which is not one of the collection's", name, id)
			}
			if id == eventsID {
				usesEvents++
			}
		}
	}
	if usesEvents < 2 {
		t.Errorf("%d programs write to the collection's ring buffer", usesEvents)
	}
}

// verifierGroups puts every program in exactly one group, and the groups'
// sizes differ by no more than the largest program's.
func TestVerifierGroups(t *testing.T) {
	spec, err := loadOomtrace()
	if err != nil {
		t.Fatal(err)
	}
	hooks := reclaimCompat.hooks(append([]hook{markVictimHook}, tracepointHooks...))
	for _, n := range []int{1, 2, 3, len(hooks), len(hooks) + 5} {
		groups := verifierGroups(spec, hooks, n)
		if want := min(n, len(hooks)); len(groups) != want {
			t.Errorf("n=%d: %d groups, want %d", n, len(groups), want)
		}
		seen := make(map[string]int)
		for _, g := range groups {
			if len(g) == 0 {
				t.Errorf("n=%d: an empty group", n)
			}
			for _, name := range g {
				seen[name]++
			}
		}
		for _, h := range hooks {
			if seen[h.program] != 1 {
				t.Errorf("n=%d: %s in %d groups", n, h.program, seen[h.program])
			}
		}
		var sizes []int
		largest := 0
		for _, g := range groups {
			total := 0
			for _, name := range g {
				size := len(spec.Programs[name].Instructions)
				total += size
				largest = max(largest, size)
			}
			sizes = append(sizes, total)
		}
		if spread := slices.Max(sizes) - slices.Min(sizes); spread > largest {
			t.Errorf("n=%d: group sizes %v differ by %d, more than the largest program's %d", n, sizes, spread, largest)
		}
	}
}

// The raw_tp fallback for kernels that cannot load tp_btf runs the same
// code, with the compat variant of the reclaim programs: it must pass the
// verifier and attach as raw tracepoints too. A perf tracepoint's program
// is no tp_btf one; its tp_btf fallback is.
func TestRawTracepointFallbackVerifies(t *testing.T) {
	requireBPF(t)
	spec, err := loadOomtrace()
	if err != nil {
		t.Fatal(err)
	}
	spec = asRawTracepoints(reclaimCompat.spec(spec))
	hooks := reclaimCompat.hooks(append([]hook{markVictimHook}, tracepointHooks...))
	for i, h := range hooks {
		if h.fallback != "" {
			hooks[i].program = h.fallback
		}
	}
	coll, err := loadHooks(spec, hooks, nil, nil)
	if err != nil {
		t.Fatalf("raw_tp programs rejected: %v", explain(err))
	}
	defer coll.Close()
	for _, h := range hooks {
		prog := coll.Programs[h.program]
		if prog.Type() != ebpf.RawTracepoint {
			t.Errorf("%s loaded as %s, want a raw tracepoint", h.program, prog.Type())
		}
		l, err := attach(prog, spec.Programs[h.program], h.target)
		if err != nil {
			t.Errorf("attach %s as raw tracepoint %s: %v", h.program, h.target, err)
			continue
		}
		l.Close()
	}
}

// openTracepoints opens a tracer in tracepoint mode with the defaults of
// Config (ReclaimMin 0: every reclaim episode is a record), closed when t
// ends.
func openTracepoints(t *testing.T) *Tracer {
	t.Helper()
	mode := event.ModeTracepoint
	tr, err := Open(Config{Mode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// sparseFile returns a file of 64 MiB, all a hole: reading it fills the
// page cache without I/O, so a cgroup limited below its size reclaims, and
// nothing is OOM-killed.
func sparseFile(t *testing.T) string {
	t.Helper()
	sparse := filepath.Join(t.TempDir(), "sparse")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 64<<20); err != nil {
		t.Fatal(err)
	}
	return sparse
}

// reader is a process that moves itself into the cgroup g, then reads
// sparse (as cat, one thread) and exits.
func reader(g *memcg.Group, sparse string) *exec.Cmd {
	script := `echo $$ > "$1/cgroup.procs" && exec cat "$2" > /dev/null`
	return exec.Command("sh", "-c", script, "sh", g.Dir(), sparse)
}

// reclaimIn reads sparse in the cgroup g, and returns g's id.
func reclaimIn(t *testing.T, h memcg.Hierarchy, g *memcg.Group, sparse string) uint64 {
	t.Helper()
	if out, err := reader(g, sparse).CombinedOutput(); err != nil {
		t.Fatalf("read in %s: %v: %s", g.Path(), err, out)
	}
	return memcgtest.ID(t, h, g)
}

// reclaimCount is the number of memcg reclaim episodes of the cgroup id
// that the kernel side's histograms counted.
func reclaimCount(t *testing.T, tr *Tracer, id uint64) uint64 {
	t.Helper()
	stats, err := tr.ReclaimStats(nil)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, s := range stats {
		if s.Cgroup.ID == id && s.Kind == event.ReclaimMemcg {
			n += s.Count
		}
	}
	return n
}

// TestLazyRecordsAllRead reads every reclaim episode of a cgroup as a
// record, with records submitted without a wakeup while the reader says
// when it looks again: once the reclaim is over, nothing wakes the reader,
// and a record left behind would never be read.
func TestLazyRecordsAllRead(t *testing.T) {
	requireBPF(t)
	h := memcgtest.Require(t)
	tr := openTracepoints(t)
	if tr.readerLook == nil {
		t.Fatal("the reader cannot write last_wakeup_ns")
	}
	decoder, err := NewDecoder(nil, tr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		read = map[uint64]uint64{} // reclaim records by cgroup id
		// What the records of each cgroup id say of their task and
		// cgroup (all but a task's first take the cgroup's path from its
		// histogram), and the span of their stamps.
		described          = map[uint64]map[string]uint64{}
		earliest, latest   uint64
		startBoot, endBoot = bootNow(t), uint64(0)
	)
	done := make(chan error, 1)
	go func() {
		var ev event.Event
		for {
			raw, err := tr.Read(true)
			if err != nil {
				done <- err
				return
			}
			if err := decoder.Decode(raw, &ev); err != nil {
				done <- err
				return
			}
			if ev.Kind == event.KindReclaim && ev.Reclaim.Kind == event.ReclaimMemcg {
				c := ev.Reclaim.Cgroup
				mu.Lock()
				read[c.ID]++
				if described[c.ID] == nil {
					described[c.ID] = map[string]uint64{}
				}
				described[c.ID][describeRecord(ev.Task, c.Path, c.LimitBytes, c.UsageBytes)]++
				if earliest == 0 || ev.KtimeNS < earliest {
					earliest = ev.KtimeNS
				}
				latest = max(latest, ev.KtimeNS)
				mu.Unlock()
			}
		}
	}()

	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 16<<20)
	id := reclaimIn(t, h, g, sparseFile(t))
	counted := reclaimCount(t, tr, id)
	if counted == 0 {
		t.Fatalf("cgroup %d reclaimed nothing", id)
	}
	var got uint64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got = read[id]
		mu.Unlock()
		if got >= counted {
			break
		}
	}
	if got != counted {
		t.Errorf("read %d reclaim records of cgroup %d, 2 s after its reclaim ended; its histogram counts %d episodes", got, id, counted)
	}
	endBoot = bootNow(t)
	mu.Lock()
	cat := event.Task{PID: 1, TGID: 1, Comm: "cat"}
	if want := describeRecord(cat, g.Path(), 16<<20, 1); len(described[id]) != 1 || described[id][want] != got {
		t.Errorf("the %d records of cgroup %d say %v, want all %q", got, id, described[id], want)
	}
	if earliest < startBoot || latest > endBoot {
		t.Errorf("records stamped %d to %d, outside the test's %d to %d (CLOCK_BOOTTIME)", earliest, latest, startBoot, endBoot)
	}
	mu.Unlock()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ringbuf.ErrFlushed) {
		t.Errorf("reader ended with %v, want ErrFlushed", err)
	}
	if lost, err := tr.Lost(); err != nil || lost != 0 {
		t.Errorf("lost %d records (%v)", lost, err)
	}
}

// Every episode of a task is its own: however its begin and end fall on
// the CPUs, no episode of a task starts before its previous one ended. Four
// readers share a cgroup and two CPUs, and are switched out in the middle
// of their episodes; then one reader alone is moved from CPU to CPU as it
// reads, so that its begins and ends land on different CPUs, and no other
// task's episode comes between them on either. A start kept anywhere but
// with the task (a CPU's entry taken back after the task left that CPU and
// came back) gives an episode that reaches back into the one before it.
func TestReclaimEpisodesOfATaskFollowEachOther(t *testing.T) {
	requireBPF(t)
	h := memcgtest.Require(t)
	if runtime.NumCPU() < 2 {
		t.Skip("moving a reader between CPUs needs two of them")
	}
	tr := openTracepoints(t)
	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 16<<20)
	startBoot := bootNow(t)
	start := func(sparse string) *exec.Cmd {
		r := reader(g, sparse)
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var four []*exec.Cmd
	for range 4 {
		four = append(four, start(sparseFile(t)))
	}
	for _, r := range four {
		if err := r.Wait(); err != nil {
			t.Fatalf("read in %s: %v", g.Path(), err)
		}
	}
	lone := start(sparseFile(t))
	exited := make(chan error, 1)
	go func() { exited <- lone.Wait() }()
	moves := 0
moving:
	for ; ; moves++ {
		var cpu unix.CPUSet
		cpu.Set(moves % 2)
		err := unix.SchedSetaffinity(lone.Process.Pid, &cpu)
		if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: exited and reaped
			t.Fatalf("move the lone reader to CPU %d: %v", moves%2, err)
		}
		var wait <-chan time.Time
		if err == nil {
			wait = time.After(100 * time.Microsecond)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("read in %s: %v", g.Path(), err)
			}
			break moving
		case <-wait:
		}
	}
	if moves < 2 {
		t.Fatalf("the lone reader was moved %d times", moves)
	}
	t.Logf("the lone reader was moved %d times", moves)

	id := memcgtest.ID(t, h, g)
	type episode struct{ start, end uint64 }
	episodes := map[uint32][]episode{} // by thread
	readHeld(t, tr, func(_ []byte, ev *event.Event) {
		if ev.Kind == event.KindReclaim && ev.Reclaim.Kind == event.ReclaimMemcg && ev.Reclaim.Cgroup.ID == id {
			end := ev.KtimeNS
			episodes[ev.Task.PID] = append(episodes[ev.Task.PID], episode{end - uint64(ev.Reclaim.Duration), end})
		}
	})
	if lost, err := tr.Lost(); err != nil || lost != 0 {
		t.Fatalf("lost %d records (%v)", lost, err)
	}
	var total uint64
	for tid, eps := range episodes {
		total += uint64(len(eps))
		slices.SortFunc(eps, func(a, b episode) int { return cmp.Compare(a.end, b.end) })
		if eps[0].start < startBoot {
			t.Errorf("thread %d's first episode starts at %d, before the readers (%d)", tid, eps[0].start, startBoot)
		}
		for i := 1; i < len(eps); i++ {
			if eps[i].start < eps[i-1].end {
				t.Errorf("thread %d's episode %d of %d starts at %d, %d ns before the one before it ended (%d)",
					tid, i, len(eps), eps[i].start, eps[i-1].end-eps[i].start, eps[i-1].end)
			}
		}
	}
	if len(episodes) != 5 {
		t.Errorf("episodes of %d threads, want the 5 readers'", len(episodes))
	}
	if counted := reclaimCount(t, tr, id); total != counted {
		t.Errorf("read %d episodes of cgroup %d; its histogram counts %d", total, id, counted)
	}
}

// describeRecord is what a reclaim record says of its task and cgroup that
// must be the same in all the records of cat, a process of one thread, in
// one cgroup: the usage changes, but is never 0.
func describeRecord(task event.Task, path string, limit, usage uint64) string {
	return fmt.Sprintf("task %s, one thread: %v, path %s, limit %d, usage above 0: %v",
		task.Comm, task.PID != 0 && task.PID == task.TGID, path, limit, usage > 0)
}

// bootNow is CLOCK_BOOTTIME, the clock of the records' stamps.
func bootNow(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// A removed cgroup's histogram, freed, is gone from the kernel side: its
// key, its slot's claim and its counts; its cgroup stays, for records
// still unread. The next cgroup to reclaim claims a slot and is counted
// from zero.
func TestFreeReclaimHistogram(t *testing.T) {
	requireBPF(t)
	h := memcgtest.Require(t)
	tr := openTracepoints(t)
	sparse := sparseFile(t)
	reclaimIn := func(g *memcg.Group) uint64 { return reclaimIn(t, h, g, sparse) }
	slots, owners, histograms := tr.base.Maps["reclaim_slots"], tr.base.Maps["reclaim_slot_owners"], tr.base.Maps["reclaim_histograms"]
	countOf := func(id uint64) uint64 { return reclaimCount(t, tr, id) }

	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 16<<20)
	id := reclaimIn(g)
	key := oomtraceReclaimStatsKey{CgroupId: id, ReclaimKind: uint32(event.ReclaimMemcg)}
	var slot uint32
	if err := slots.Lookup(&key, &slot); err != nil {
		t.Fatalf("no histogram for cgroup %d after it reclaimed: %v", id, err)
	}
	if n := countOf(id); n == 0 {
		t.Fatalf("cgroup %d's histogram counts nothing", id)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := tr.FreeReclaimHistogram(id, event.ReclaimMemcg); err != nil {
		t.Fatal(err)
	}
	if err := slots.Lookup(&key, &slot); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Errorf("the freed histogram is still published: %v", err)
	}
	var owned uint8
	if err := owners.Lookup(slot, &owned); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Errorf("slot %d is still claimed: %v", slot, err)
	}
	// Cleared of its counts, but keeping its cgroup, for the records of it
	// still unread.
	var left oomtraceReclaimStats
	if err := histograms.Lookup(slot, &left); err != nil {
		t.Fatal(err)
	}
	if kept := left.Cgroup; kept.Id != id || !valid(kept.Flags) || (left != oomtraceReclaimStats{Cgroup: kept}) {
		t.Errorf("slot %d: counts not cleared, or its cgroup (id %d, want %d) not kept: %+v", slot, kept.Id, id, left)
	}
	if n := countOf(id); n != 0 {
		t.Errorf("ReclaimStats still has %d episodes of the removed cgroup", n)
	}
	if err := tr.FreeReclaimHistogram(id, event.ReclaimMemcg); err != nil {
		t.Errorf("freeing a histogram again: %v", err)
	}

	next := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 16<<20)
	nextID := reclaimIn(next)
	if n := countOf(nextID); n == 0 {
		t.Errorf("the cgroup after the freed one is not counted")
	}
}

// readHeld decodes every record tr's ring buffer holds, and gives each to
// fn, raw and decoded.
func readHeld(t *testing.T, tr *Tracer, fn func(raw []byte, ev *event.Event)) {
	t.Helper()
	decoder, err := NewDecoder(nil, tr)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	for {
		raw, err := tr.Read(false)
		if errors.Is(err, ErrNoRecord) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := decoder.Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		fn(raw, &ev)
	}
}

// A cgroup that finds every histogram taken is not counted, and said to be
// uncounted; its reclaim records carry its path, where others name their
// histogram for it.
func TestReclaimWithoutHistogram(t *testing.T) {
	requireBPF(t)
	h := memcgtest.Require(t)
	tr := openTracepoints(t)
	owners := tr.base.Maps["reclaim_slot_owners"]
	for slot := range uint32(reclaimHistograms) {
		if err := owners.Update(slot, uint8(1), ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			t.Fatalf("claim slot %d: %v", slot, err)
		}
	}

	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 16<<20)
	id := reclaimIn(t, h, g, sparseFile(t))
	var records, withPath uint64
	readHeld(t, tr, func(raw []byte, ev *event.Event) {
		if ev.Kind != event.KindReclaim || ev.Reclaim.Kind != event.ReclaimMemcg || ev.Reclaim.Cgroup.ID != id {
			return
		}
		records++
		if len(raw) >= int(unsafe.Sizeof(oomtraceReclaimPathEvent{})) {
			withPath++
		}
		if c := ev.Reclaim.Cgroup; c.Path != g.Path() || c.LimitBytes != 16<<20 || c.UsageBytes == 0 {
			t.Fatalf("a reclaim record of cgroup %d says %+v, want path %s, limit 16 MiB", id, c, g.Path())
		}
	})
	if records == 0 || withPath != records {
		t.Errorf("read %d reclaim records of cgroup %d, %d of them with the path: want some, all with it", records, id, withPath)
	}
	if n := reclaimCount(t, tr, id); n != 0 {
		t.Errorf("cgroup %d counted %d episodes without a histogram", id, n)
	}
	if uncounted, err := tr.UncountedReclaim(); err != nil || uncounted < records {
		t.Errorf("%d episodes said to be uncounted (%v), fewer than the %d records read", uncounted, err, records)
	}
}

// A ring buffer sized by the caller is the one the kernel side writes to:
// unread, it holds no more records than fit in it, the rest are counted
// as lost, and the reader is woken from an eighth of it.
func TestRingBufferSize(t *testing.T) {
	requireBPF(t)
	h := memcgtest.Require(t)
	mode := event.ModeTracepoint
	tr, err := Open(Config{Mode: &mode, Events: EventsReclaim, RingBufferBytes: MinRingBufferBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if size, _ := tr.RingBuffer(); size != MinRingBufferBytes {
		t.Errorf("ring buffer of %d bytes, want %d", size, MinRingBufferBytes)
	}
	var wake uint64
	if err := tr.base.Variables["ringbuf_wake_bytes"].Get(&wake); err != nil || wake != MinRingBufferBytes/8 {
		t.Errorf("the kernel side wakes the reader from %d unread bytes (%v), want %d", wake, err, MinRingBufferBytes/8)
	}

	// Nobody reads while the cgroup reclaims, until it has reclaimed more
	// often than the ring buffer holds records.
	g := memcgtest.Create(t, h, memcg.UniqueName("oomtrace-test"), 16<<20)
	sparse := sparseFile(t)
	capacity := uint64(MinRingBufferBytes / (ReclaimRecordBytes + 8)) // each record has an 8-byte header
	var id uint64
	for range 8 {
		if id = reclaimIn(t, h, g, sparse); reclaimCount(t, tr, id) > 2*capacity {
			break
		}
	}
	counted := reclaimCount(t, tr, id)
	if counted <= capacity {
		t.Fatalf("cgroup %d reclaimed %d times, not more than the %d records the ring buffer holds", id, counted, capacity)
	}
	var held, read uint64
	readHeld(t, tr, func(_ []byte, ev *event.Event) {
		read++
		if ev.Kind == event.KindReclaim && ev.Reclaim.Kind == event.ReclaimMemcg && ev.Reclaim.Cgroup.ID == id {
			held++
		}
	})
	lost, err := tr.Lost()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup %d reclaimed %d times; the ring buffer held %d records, %d of them the cgroup's; lost %d", id, counted, read, held, lost)
	// Other cgroups of the host may reclaim meanwhile: their records share
	// the buffer, and their losses the count.
	if read > capacity || held == 0 || held+lost < counted {
		t.Errorf("the ring buffer held %d records (%d of cgroup %d, which reclaimed %d times), lost %d: want at most %d, some of the cgroup's, and the rest lost",
			read, held, id, counted, lost, capacity)
	}
}

// The kernel side remembers the processes whose OOM kill it saw, also
// those the filter left out: what a replay of the kernel log from before
// the tracer attached must not report again.
func TestSawKill(t *testing.T) {
	requireBPF(t)
	h := memcgtest.Require(t)
	name := memcg.UniqueName("oomtrace-sawkill")
	g := memcgtest.Create(t, h, name, 16<<20)
	elsewhere := memcgtest.Create(t, h, name+"-elsewhere", 0)
	mode := event.ModeTracepoint
	all := openTracepoints(t)
	filtered, err := Open(Config{Mode: &mode, FilterCgroupID: memcgtest.ID(t, h, elsewhere)})
	if err != nil {
		t.Fatal(err)
	}
	defer filtered.Close()
	// tail keeps the last lines of what it reads: /dev/zero has no line
	// end, so it keeps all of it, until the limit.
	hog := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && exec tail /dev/zero`, "sh", g.Dir())
	if err := hog.Run(); err == nil {
		t.Fatal("tail of /dev/zero ended without being killed")
	}
	if ws, ok := hog.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("tail of /dev/zero ended with %v, want killed by the OOM killer", hog.ProcessState)
	}
	pid := uint32(hog.Process.Pid)
	for _, tc := range []struct {
		name string
		tr   *Tracer
	}{{"unfiltered", all}, {"filtered out", filtered}} {
		if seen, err := tc.tr.SawKill(pid); err != nil || !seen {
			t.Errorf("%s: saw the kill of %d: %v, %v", tc.name, pid, seen, err)
		}
		if seen, err := tc.tr.SawKill(uint32(os.Getpid())); err != nil || seen {
			t.Errorf("%s: saw a kill of this test: %v, %v", tc.name, seen, err)
		}
	}
}
