package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/filter"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memstate"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// fakeSource hands out records queued by the test; a record is one byte,
// the event.Class of an oom_kill (0xff: undecodable).
type fakeSource struct {
	mu        sync.Mutex
	records   chan []byte
	flushed   chan struct{}
	lost      uint64
	uncounted uint64
	skipped   map[string]uint64
	stats     []event.ReclaimStats
	freed     []statsKey // histograms given back, in order
	freeErr   error      // FreeReclaimHistogram's error
	detach    bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{records: make(chan []byte, 100), flushed: make(chan struct{})}
}

func (f *fakeSource) Mode() event.Mode { return event.ModeTracepoint }

func (f *fakeSource) Read(wait bool) ([]byte, error) {
	if !wait {
		select {
		case r := <-f.records:
			return r, nil
		default:
			return nil, tracer.ErrNoRecord
		}
	}
	select {
	case r := <-f.records:
		return r, nil
	case <-f.flushed:
		// Flush hands over what is queued, then ErrFlushed.
		select {
		case r := <-f.records:
			return r, nil
		default:
			return nil, fmt.Errorf("fake: %w", ringbuf.ErrFlushed)
		}
	}
}

// fakeRecordBytes is what a queued record counts as in the ring buffer.
const fakeRecordBytes = 8

func (f *fakeSource) RingBuffer() (size, pending int) {
	return 4096, len(f.records) * fakeRecordBytes
}

func (f *fakeSource) Lost() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost, nil
}

func (f *fakeSource) SkippedRuns() (map[string]uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.skipped), nil
}

func (f *fakeSource) SawKill(uint32) (bool, error) { return false, nil }

func (f *fakeSource) UncountedReclaim() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uncounted, nil
}

func (f *fakeSource) ReclaimStats(dst []event.ReclaimStats) ([]event.ReclaimStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append(dst, f.stats...), nil
}

// FreeReclaimHistogram takes the histogram out of the stats, as the
// kernel side's slot is gone.
func (f *fakeSource) FreeReclaimHistogram(cgroupID uint64, kind event.ReclaimKind) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.freeErr != nil {
		return f.freeErr
	}
	f.freed = append(f.freed, statsKey{cgroupID, kind})
	f.stats = slices.DeleteFunc(f.stats, func(s event.ReclaimStats) bool {
		return s.Cgroup.ID == cgroupID && s.Kind == kind
	})
	return nil
}

func (f *fakeSource) Detach() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.detach = true
	return nil
}

func (f *fakeSource) Flush() error { close(f.flushed); return nil }

// Records of fakeDecode besides kills.
const (
	fakeReclaim = 0xfe
	fakeBad     = 0xff
)

func fakeDecode(raw []byte, ev *event.Event) error {
	if len(raw) != 1 || raw[0] == fakeBad {
		return errors.New("bad record")
	}
	if raw[0] == fakeReclaim {
		*ev = event.Event{Kind: event.KindReclaim}
		return nil
	}
	*ev = event.Event{Kind: event.KindOOMKill}
	ev.OOMKill.Class = event.Class(raw[0])
	return nil
}

type collect struct{ events []event.Event }

func (c *collect) Write(ev *event.Event) error {
	c.events = append(c.events, *ev)
	return nil
}

func (c *collect) kinds(kind event.Kind) []event.Event {
	var out []event.Event
	for _, ev := range c.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func TestRunDrainsOnStop(t *testing.T) {
	src := newFakeSource()
	sink := &collect{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	var summary Summary
	go func() {
		var err error
		classes := filter.NewStage(filter.Filter{Classes: []event.Class{event.ClassMemcg, event.ClassSysrq}})
		summary, err = run(ctx, src, fakeDecode, output{pipe: pipeline.Of([]pipeline.Stage{classes}, sink)}, Options{
			OnReady: func(event.Mode) error { close(ready); return nil },
		}, discard(), nil)
		done <- err
	}()
	<-ready
	// Records still queued when the stop comes are written, not lost.
	for _, r := range []byte{byte(event.ClassMemcg), byte(event.ClassGlobal), 0xff, byte(event.ClassSysrq)} {
		src.records <- []byte{r}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !src.detach {
		t.Error("programs not detached before the drain")
	}
	kills := sink.kinds(event.KindOOMKill)
	if len(kills) != 2 || kills[0].OOMKill.Class != event.ClassMemcg || kills[1].OOMKill.Class != event.ClassSysrq {
		t.Errorf("kills written: %+v, want memcg then sysrq (global filtered out)", kills)
	}
	if summary.DecodeErrors != 1 || summary.Events[event.KindOOMKill] != 2 {
		t.Errorf("summary %+v", summary)
	}
}

// batchSink holds what it is given until Flush, as a buffered writer does,
// and keeps each batch flushed.
type batchSink struct {
	mu      sync.Mutex
	held    []event.Kind
	batches [][]event.Kind
}

func (s *batchSink) Write(ev *event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = append(s.held, ev.Kind)
	return nil
}

func (s *batchSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.held) > 0 {
		s.batches = append(s.batches, s.held)
		s.held = nil
	}
	return nil
}

// waitFor polls until cond holds, and fails the test if it never does.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// What the ring buffer holds is written out as one batch, before the
// reader waits for more; a kill's line goes out at once; nothing is held
// back at the end.
func TestRunWritesBatchesBeforeWaiting(t *testing.T) {
	src := newFakeSource()
	for range 3 {
		src.records <- []byte{fakeReclaim}
	}
	sink := &batchSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, src, fakeDecode, output{pipe: pipeline.Of(nil, sink)}, Options{}, discard(), nil)
		done <- err
	}()
	batches := func() [][]event.Kind {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return slices.Clone(sink.batches)
	}
	// The reader drains the three records, then waits: they are out.
	waitFor(t, "the three records written out while the reader waits", func() bool { return len(batches()) == 1 })
	if b := batches(); len(b[0]) != 3 {
		t.Errorf("first batch %v, want the three reclaim events together", b[0])
	}
	src.records <- []byte{byte(event.ClassMemcg)}
	waitFor(t, "the kill written out", func() bool { return len(batches()) == 2 })
	src.records <- []byte{fakeReclaim}
	src.records <- []byte{fakeReclaim}
	waitFor(t, "the next records written out while the reader waits", func() bool {
		n := 0
		for _, b := range batches() {
			n += len(b)
		}
		return n == 6
	})
	src.records <- []byte{fakeReclaim}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var all []event.Kind
	for _, b := range batches() {
		all = append(all, b...)
	}
	want := []event.Kind{event.KindReclaim, event.KindReclaim, event.KindReclaim, event.KindOOMKill,
		event.KindReclaim, event.KindReclaim, event.KindReclaim}
	if !slices.Equal(all, want) {
		t.Errorf("written %v, want %v", all, want)
	}
}

func TestHealth(t *testing.T) {
	src := newFakeSource()
	for _, r := range []byte{byte(event.ClassMemcg), 0xff, byte(event.ClassSysrq), byte(event.ClassGlobal)} {
		src.records <- []byte{r}
	}
	var h Health
	if rb := h.RingBuffer(); rb.Attached || rb.Records != 0 {
		t.Errorf("before the run: %+v", rb)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var during RingBuffer
	_, err := run(ctx, src, fakeDecode, output{pipe: pipeline.Of(nil, &collect{})}, Options{
		Health: &h,
		OnReady: func(event.Mode) error {
			during = h.RingBuffer()
			cancel()
			return nil
		},
	}, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !during.Attached || during.SizeBytes != 4096 || during.PendingBytes != 4*fakeRecordBytes {
		t.Errorf("while attached: %+v, want 4096 bytes with 4 records pending", during)
	}
	// Every record read counts, the undecodable one too; the fullest the
	// buffer was after a read is 3 records left behind the first.
	rb := h.RingBuffer()
	if rb.Attached || rb.Records != 4 || rb.MaxPendingBytes != 3*fakeRecordBytes {
		t.Errorf("after the run: %+v, want detached, 4 records, at most %d bytes pending", rb, 3*fakeRecordBytes)
	}
}

func TestPeriodicEvents(t *testing.T) {
	src := newFakeSource()
	sink := &collect{}
	s := &session{
		tracer: src, decode: fakeDecode, pipe: pipeline.Of(nil, sink), logger: discard(),
		lastStats: make(map[statsKey]event.ReclaimStats), lastStatsAt: time.Now(),
	}
	cg := event.Cgroup{Path: "/a", ID: 7}
	stats := event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: cg, Count: 3, Total: 30 * time.Microsecond, Max: 20 * time.Microsecond}
	stats.Buckets[3], stats.Buckets[4] = 2, 1
	src.stats = []event.ReclaimStats{stats}
	src.lost = 5
	if err := s.emitPeriodic(); err != nil {
		t.Fatal(err)
	}

	// Next interval: two more episodes, no new loss; then nothing at all.
	stats.Count, stats.Total, stats.Buckets[3] = 5, 50*time.Microsecond, 4
	src.stats = []event.ReclaimStats{stats}
	if err := s.emitPeriodic(); err != nil {
		t.Fatal(err)
	}
	if err := s.emitPeriodic(); err != nil {
		t.Fatal(err)
	}
	src.lost = 7
	if err := s.emitPeriodic(); err != nil {
		t.Fatal(err)
	}
	// Runs skipped and nothing lost: a lost event all the same, with the
	// runs since the last one; then nothing new, no event.
	src.skipped = map[string]uint64{"mark_victim": 1, "direct_reclaim_end": 2}
	if err := s.emitPeriodic(); err != nil {
		t.Fatal(err)
	}
	src.skipped = map[string]uint64{"mark_victim": 1, "direct_reclaim_end": 5}
	for range 2 {
		if err := s.emitPeriodic(); err != nil {
			t.Fatal(err)
		}
	}

	got := sink.kinds(event.KindReclaimStats)
	if len(got) != 2 {
		t.Fatalf("%d reclaim_stats events, want 2 (one per interval with reclaim)", len(got))
	}
	if first := got[0].ReclaimStats; first.Count != 3 || first.Buckets[3] != 2 || first.Buckets[4] != 1 || first.Total != 30*time.Microsecond {
		t.Errorf("first interval: %+v", first)
	}
	if second := got[1].ReclaimStats; second.Count != 2 || second.Buckets[3] != 2 || second.Buckets[4] != 0 || second.Total != 20*time.Microsecond || second.Interval <= 0 {
		t.Errorf("second interval, want the delta: %+v", second)
	}
	lost := sink.kinds(event.KindLost)
	want := []event.Lost{{Count: 5, Total: 5}, {Count: 2, Total: 7},
		{Total: 7, SkippedRuns: 3, SkippedRunsTotal: 3, SkippedByProgram: "direct_reclaim_end:2,mark_victim:1"},
		{Total: 7, SkippedRuns: 3, SkippedRunsTotal: 6, SkippedByProgram: "direct_reclaim_end:5,mark_victim:1"}}
	if len(lost) != len(want) {
		t.Fatalf("%d lost events, want %d: %+v", len(lost), len(want), lost)
	}
	for i := range want {
		if lost[i].Lost != want[i] {
			t.Errorf("lost event %d: %+v, want %+v", i, lost[i].Lost, want[i])
		}
	}
	for _, ev := range sink.events {
		if ev.Task.Comm != "oomtrace" || ev.KtimeNS == 0 || ev.Time.IsZero() {
			t.Errorf("periodic event without oomtrace's own header: %+v", ev)
		}
	}
}

// A removed cgroup's histogram is given back once everything it counted
// was written, and only then: not while it still counts, not for a cgroup
// that exists, not for one whose truncated path names no directory where
// the kernel cannot be asked by id (as on this test's stand-in hierarchy,
// a plain directory; TestRemovedByID asks the real one).
func TestRemovedCgroupsHistogramsFreed(t *testing.T) {
	mnt := t.TempDir()
	h := &memcg.Hierarchy{Version: 2, Mountpoint: mnt, Root: "/"}
	cgroup := func(name string) event.Cgroup {
		if err := os.Mkdir(filepath.Join(mnt, name), 0o755); err != nil {
			t.Fatal(err)
		}
		id, err := h.ID("/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return event.Cgroup{Path: "/" + name, ID: id}
	}
	alive, idleGone, busyGone := cgroup("alive"), cgroup("idle-gone"), cgroup("busy-gone")
	truncated := event.Cgroup{Path: "/long-name-cut", ID: 99, Truncated: true}
	histogram := func(c event.Cgroup, count uint64) event.ReclaimStats {
		s := event.ReclaimStats{Kind: event.ReclaimMemcg, Cgroup: c, Count: count}
		s.Buckets[0] = count
		return s
	}
	src := newFakeSource()
	sink := &collect{}
	var log bytes.Buffer
	s := &session{
		tracer: src, decode: fakeDecode, pipe: pipeline.Of(nil, sink), logger: slog.New(slog.NewTextHandler(&log, nil)),
		hierarchy: h, lastStats: make(map[statsKey]event.ReclaimStats), lastStatsAt: time.Now(),
	}
	interval := func(stats ...event.ReclaimStats) {
		t.Helper()
		src.mu.Lock()
		src.stats = stats
		src.mu.Unlock()
		if err := s.emitPeriodic(); err != nil {
			t.Fatal(err)
		}
	}
	keyOf := func(c event.Cgroup) statsKey { return statsKey{c.ID, event.ReclaimMemcg} }

	interval(histogram(alive, 1), histogram(idleGone, 2), histogram(busyGone, 1), histogram(truncated, 1))
	for _, c := range []event.Cgroup{idleGone, busyGone} {
		if err := os.Remove(filepath.Join(mnt, c.Path)); err != nil {
			t.Fatal(err)
		}
	}
	// busy-gone counted three more episodes before it went.
	interval(histogram(alive, 1), histogram(idleGone, 2), histogram(busyGone, 4), histogram(truncated, 1))
	if want := []statsKey{keyOf(idleGone)}; !slices.Equal(src.freed, want) {
		t.Fatalf("freed %v after the second interval, want %v: only the removed cgroup that counted nothing since", src.freed, want)
	}
	interval(src.stats...)
	if want := []statsKey{keyOf(idleGone), keyOf(busyGone)}; !slices.Equal(src.freed, want) {
		t.Fatalf("freed %v after the third interval, want %v", src.freed, want)
	}
	if _, ok := s.lastStats[keyOf(idleGone)]; ok || len(s.lastStats) != 2 {
		t.Errorf("the session still remembers freed histograms: %v", s.lastStats)
	}
	// Nothing counted was lost: busy-gone's last three episodes were
	// written before its histogram went.
	var counted uint64
	for _, ev := range sink.kinds(event.KindReclaimStats) {
		if ev.ReclaimStats.Cgroup.ID == busyGone.ID {
			counted += ev.ReclaimStats.Count
		}
	}
	if counted != 4 {
		t.Errorf("busy-gone: %d episodes written, want 4", counted)
	}

	// A failure to free is told of once, and the run goes on.
	gone := cgroup("gone-later")
	interval(append(src.stats, histogram(gone, 1))...)
	if err := os.Remove(filepath.Join(mnt, gone.Path)); err != nil {
		t.Fatal(err)
	}
	src.freeErr = errors.New("map delete failed")
	interval(src.stats...)
	interval(src.stats...)
	if n := strings.Count(log.String(), "cannot be freed"); n != 1 {
		t.Errorf("%d warnings of histograms not freed, want 1:\n%s", n, log.String())
	}
	src.freeErr = nil
	interval(src.stats...)
	if last := src.freed[len(src.freed)-1]; last != keyOf(gone) {
		t.Errorf("last freed %v, want %v once freeing works again", last, keyOf(gone))
	}
}

// Runs the kernel skipped, and episodes that found no histogram, are told
// of once, with the count first seen, and not again every interval; the
// summary has the last count of skipped runs.
func TestKernelCountsWarnOnce(t *testing.T) {
	for _, tc := range []struct {
		name, warning, first string
		set                  func(*fakeSource, uint64)
	}{
		// Runs skipped by two programs: the warning names both.
		{"skipped runs", "the kernel skipped runs", "skipped_runs=3 programs=direct_reclaim_end:2,mark_victim:1", func(f *fakeSource, n uint64) {
			f.skipped = nil
			if n > 0 {
				f.skipped = map[string]uint64{"mark_victim": n / 3, "direct_reclaim_end": n - n/3}
			}
		}},
		{"uncounted episodes", "reclaim histograms are full", "uncounted_episodes=3", func(f *fakeSource, n uint64) { f.uncounted = n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFakeSource()
			var log bytes.Buffer
			s := &session{
				tracer: src, decode: fakeDecode, pipe: pipeline.Of(nil, &collect{}), logger: slog.New(slog.NewTextHandler(&log, nil)),
				lastStats: make(map[statsKey]event.ReclaimStats), lastStatsAt: time.Now(),
			}
			for _, n := range []uint64{0, 3, 9} {
				tc.set(src, n)
				if err := s.emitPeriodic(); err != nil {
					t.Fatal(err)
				}
				if n == 0 && log.Len() != 0 {
					t.Fatalf("warned at 0: %s", log.String())
				}
			}
			if got := strings.Count(log.String(), tc.warning); got != 1 || !strings.Contains(log.String(), tc.first) {
				t.Errorf("warnings %d, want one with %s:\n%s", got, tc.first, log.String())
			}
			if sum := s.summary(event.ModeTracepoint); !maps.Equal(sum.SkippedRuns, src.skipped) {
				t.Errorf("summary's skipped runs %v, want the last count %v", sum.SkippedRuns, src.skipped)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// lockedCollect is collect for sinks written from several goroutines'
// events, read while they run.
type lockedCollect struct {
	mu sync.Mutex
	collect
}

func (c *lockedCollect) Write(ev *event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.collect.Write(ev)
}

func (c *lockedCollect) count(kind event.Kind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.kinds(kind))
}

// A kill's line is written while its snapshot is still being read; the
// snapshot follows, and the run ends only once it is out.
func TestKillLineWaitsForNoSnapshot(t *testing.T) {
	release := make(chan struct{})
	snaps := newFollowUps(snapshotAfter(func(oom *event.Cgroup) event.Snapshot {
		<-release
		return event.Snapshot{Status: event.SnapshotOK, Version: 2, Fields: event.SnapAnon, Anon: 1 << 20}
	}, selfTask()))
	sink := &lockedCollect{}
	out := output{pipe: pipeline.Of(nil, sink, snaps), followUps: snaps}
	snaps.pipe = out.pipe
	src := newFakeSource()
	src.records <- []byte{byte(event.ClassMemcg)}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, src, fakeDecode, out, Options{}, discard(), nil)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for sink.count(event.KindOOMKill) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the kill's line was not written while its snapshot was being read")
		}
		time.Sleep(time.Millisecond)
	}
	if n := sink.count(event.KindOOMSnapshot); n != 0 {
		t.Fatalf("%d snapshots before the read ended", n)
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("the run ended before its snapshot was out: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snapsOut := sink.kinds(event.KindOOMSnapshot)
	kills := sink.kinds(event.KindOOMKill)
	if len(snapsOut) != 1 || len(kills) != 1 {
		t.Fatalf("%d kills, %d snapshots", len(kills), len(snapsOut))
	}
	if s := snapsOut[0]; s.OOMSnapshot.KillKtimeNS != kills[0].KtimeNS || s.OOMSnapshot.Snapshot.Anon != 1<<20 || s.Task.Comm != "oomtrace" {
		t.Errorf("snapshot %+v after kill at %d", s, kills[0].KtimeNS)
	}
}

// A kill's snapshot is read only once the sinks before it wrote the
// kill's line out: given the kill, the snapshot sink holds it, and the
// pipeline's flush, which comes at once for a kill, starts the read after
// the line's write.
func TestSnapshotReadStartsAfterLineIsOut(t *testing.T) {
	lines := &batchSink{}
	linesAtRead := make(chan int, 1)
	snaps := newFollowUps(snapshotAfter(func(oom *event.Cgroup) event.Snapshot {
		lines.mu.Lock()
		linesAtRead <- len(lines.batches)
		lines.mu.Unlock()
		return event.Snapshot{Status: event.SnapshotOK}
	}, selfTask()))
	pipe := pipeline.Of(nil, lines, snaps)
	snaps.pipe = pipe

	kill := event.Event{Kind: event.KindOOMKill, KtimeNS: 7}
	kill.OOMKill.Stack = []string{"out_of_memory"}
	// Straight to the sink: held, not read, until the flush.
	if err := snaps.Write(&kill); err != nil {
		t.Fatal(err)
	}
	select {
	case <-linesAtRead:
		t.Fatal("a read started before the flush")
	case <-time.After(20 * time.Millisecond):
	}
	// Under the pipeline's lock, as the pipeline flushes its sinks: the
	// read's own event goes through them too.
	if err := pipe.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := <-linesAtRead; n != 0 {
		t.Fatalf("the lines sink was flushed %d times before this read, want 0 (it was never given a line)", n)
	}
	snaps.wait()

	// Through the pipeline: the line is out when the read starts. (The
	// first read's snapshot went out as a batch of its own.)
	lines.mu.Lock()
	before := len(lines.batches)
	lines.mu.Unlock()
	if err := pipe.ProcessBuffered(&kill); err != nil {
		t.Fatal(err)
	}
	if n := <-linesAtRead; n != before+1 {
		t.Fatalf("the read started with %d batches of lines out, want %d: the kill's too", n, before+1)
	}
	snaps.wait()
	if len(snaps.held) != 0 {
		t.Errorf("%d kills still held after their reads", len(snaps.held))
	}
	if kill.OOMKill.Stack == nil {
		t.Error("holding the kill cleared the caller's stack")
	}
}

// failingSink fails on the failOn-th event it is given.
type failingSink struct {
	batchSink
	failOn, seen int
}

func (s *failingSink) Write(ev *event.Event) error {
	if s.seen++; s.seen == s.failOn {
		return errors.New("disk full")
	}
	return s.batchSink.Write(ev)
}

// A sink's error ends the run, but what the sinks held until then is
// written out, not dropped with the batch.
func TestRunWritesOutWhatItHeldOnError(t *testing.T) {
	src := newFakeSource()
	for range 3 {
		src.records <- []byte{fakeReclaim}
	}
	sink := &failingSink{failOn: 3}
	_, err := run(context.Background(), src, fakeDecode, output{pipe: pipeline.Of(nil, sink)}, Options{}, discard(), nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("run: %v, want the sink's error", err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.held) != 0 || len(sink.batches) != 1 || len(sink.batches[0]) != 2 {
		t.Errorf("held %v, written %v; want the two events before the error written", sink.held, sink.batches)
	}
}

// What the kernel log cannot honour is named, each setting with why.
func TestKernelLogCannot(t *testing.T) {
	for _, tc := range []struct {
		cfg  tracer.Config
		want []string
	}{
		{tracer.Config{}, nil},
		{tracer.Config{Events: tracer.EventsOOM | tracer.EventsReclaim}, nil},
		{tracer.Config{RingBufferBytes: 8 << 20}, []string{"--ring-buffer (the log has no ring buffer)"}},
		{tracer.Config{Events: tracer.EventsReclaim | tracer.EventsExit, RingBufferBytes: 1 << 16}, []string{
			"--ring-buffer (the log has no ring buffer)", "--events reclaim,exit (the log has only the OOM kills, which it leaves out)"}},
	} {
		if got := kernelLogCannot(tc.cfg); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

// A kill's OOM cgroup whose path was cut is not read at the cut path,
// which holds another cgroup or none, and is not called removed: its
// snapshot says why it could not be read.
func TestSnapshotOfACutPath(t *testing.T) {
	mnt := t.TempDir()
	for _, dir := range []string{"l5/l6", "deep/l1"} {
		if err := os.MkdirAll(filepath.Join(mnt, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := memcg.Hierarchy{Version: 1, Mountpoint: mnt, Root: "/"}
	r := memstate.NewReader(h.Version, "")
	for _, path := range []string{"l5/l6", "/deep/l1"} {
		snap := take(r, h, &event.Cgroup{Path: path, ID: 12345, Truncated: true})
		if snap.Status != event.SnapshotFailed || !strings.Contains(snap.Reason, "not captured whole") {
			t.Errorf("snapshot of the cut path %q: %v %q", path, snap.Status, snap.Reason)
		}
	}
	// The same path not cut is looked up, and found gone.
	if snap := take(r, h, &event.Cgroup{Path: "/deep/l1", ID: 12345}); snap.Status != event.SnapshotRemoved {
		t.Errorf("snapshot of a cgroup whose directory is another's: %v", snap.Status)
	}
}
