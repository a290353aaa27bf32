package tracer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/oomtrace/oomtrace/internal/event"
)

// ErrNoRecord is Read's error when it is not to wait and the ring buffer
// holds no record.
var ErrNoRecord = errors.New("no record in the ring buffer")

// noWaitDeadline, in the past, makes the reader's wait for the ring buffer
// return at once.
var noWaitDeadline = time.Unix(1, 0)

// LookInterval is how long the reader waits before it looks in the ring
// buffer again by itself, once it has emptied it: the longest a reclaim or
// kswapd record, submitted without waking it, waits to be read. Each look
// costs far more than reading the records it finds: in a reclaim storm
// here, the tracer's threads were switched out seven to eight times a look,
// about half of them the runtime's monitor thread, which the look's first
// system call wakes from its deep sleep. Looks 50 ms apart rather than
// 25 ms took about 40% less CPU for the same records, and 100 ms rather
// than 50 ms about 35% less again. Kills and the other records that
// matter at once wake the reader: only reclaim and kswapd lines wait this
// long.
const LookInterval = 100 * time.Millisecond

// WakeupWindow is how long after a wakeup, or after a record the reader
// read, the kernel side submits reclaim and kswapd records without waking
// the reader (submit_event in bpf/oomtrace.bpf.c). The reader keeps looking
// until it has passed, so no record is left behind. It is two looks long so
// that a reader a little late to look again, as it is on busy CPUs, costs
// no wakeup: in a reclaim storm the kernel side woke it when it was under a
// millisecond late, and each wakeup raises an interrupt on the CPU of the
// reclaiming task.
const WakeupWindow = 2 * LookInterval

// Read returns the next record's bytes, valid until the next Read. When
// the ring buffer holds none, it waits for one if wait is set, and else
// returns ErrNoRecord at once: a caller that holds output for a batch
// writes it out before it waits. After Flush it returns the records in the
// buffer and then an error wrapping ringbuf.ErrFlushed, after Close one
// wrapping ringbuf.ErrClosed.
//
// The kernel submits some records without waking the reader, but only
// within WakeupWindow of a record that woke it or that it read. So once
// Read has emptied the ring buffer, a wait lasts at most LookInterval
// before it looks again; once a look that found nothing is past
// WakeupWindow, it is without a deadline, until a record wakes it.
func (t *Tracer) Read(wait bool) ([]byte, error) {
	for {
		poll := wait && t.ringWait != nil && !t.ownWait.Load()
		rec, err := t.read(wait && !poll)
		if !poll || !errors.Is(err, ErrNoRecord) {
			return rec, err
		}
		err = t.ringWait.wait(t.lookAgain, t.recordPending)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if !t.lookAgain.IsZero() && !time.Now().Before(t.lookAgain) {
				t.lookedAgain()
			}
		case err != nil:
			// Closed under the wait: the reader's own wait says how.
			t.ownWait.Store(true)
		}
	}
}

// recordPending is ringWait's ready: a record to read, or a flush that
// hands over to the reader's own wait.
func (t *Tracer) recordPending() bool {
	unread, open := t.unread()
	return t.ownWait.Load() || !open || unread > 0
}

// unread returns the bytes the kernel has written that the reader has not
// read yet, which it reads in the ring buffer's mapped pages, and false
// once Close has unmapped them. A waiting Read and the metrics ask from
// goroutines of their own, and Close may come at any time.
func (t *Tracer) unread() (int, bool) {
	t.ringMu.RLock()
	defer t.ringMu.RUnlock()
	if t.ringClosed {
		return 0, false
	}
	return t.reader.AvailableBytes(), true
}

// read is Read with the reader's own wait, a blocking system call, when
// wait is set.
func (t *Tracer) read(wait bool) ([]byte, error) {
	for {
		deadline := noWaitDeadline
		if wait {
			deadline = t.lookAgain
			if !deadline.IsZero() {
				// The reader's wait is in whole milliseconds, rounded
				// down: without the margin it may end before lookAgain.
				deadline = deadline.Add(time.Millisecond)
			}
		}
		if deadline != t.deadline {
			t.reader.SetDeadline(deadline)
			t.deadline = deadline
		}
		err := t.reader.ReadInto(&t.record)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if !wait {
				return nil, ErrNoRecord
			}
			// The reader keeps a timeout that came while records were
			// still to be read and returns it once they are: that one is
			// not the look again of this wait.
			if !t.lookAgain.IsZero() && time.Now().Before(t.lookAgain) {
				continue
			}
			t.lookedAgain()
			continue
		}
		if err != nil {
			return nil, err
		}
		if unread, _ := t.unread(); unread == 0 {
			now := time.Now()
			t.lookAgain, t.lookUntil = now.Add(LookInterval), now.Add(WakeupWindow)
			t.holdWakeups(t.record.RawSample)
		}
		return t.record.RawSample, nil
	}
}

// lookedAgain follows a look again that found no record: the wait looks
// once more LookInterval later while WakeupWindow since the last read has
// not passed, and then waits for a wakeup.
func (t *Tracer) lookedAgain() {
	if now := time.Now(); now.Before(t.lookUntil) {
		t.lookAgain = now.Add(LookInterval)
		return
	}
	t.lookAgain = time.Time{}
}

// lookMargin is how long before the time of the record it read the reader
// says it read: records the kernel side submits without a wakeup end at
// least that long before the look again, so that one still being written
// as the reader looks is not left behind.
const lookMargin = time.Millisecond

// holdWakeups tells the kernel side that the reader, which has just read
// the record raw and emptied the ring buffer, looks again until
// WakeupWindow has passed: records submitted until then need not wake it. The
// kernel side counts from its last_wakeup_ns (submit_event in
// bpf/oomtrace.bpf.c), which only its own wakeups set before. In a
// reclaim storm it then woke the reader shortly before each look again,
// and the reader woke twice in every window where once does. A later
// wakeup of the kernel's is kept: an earlier time only wakes the reader
// sooner.
func (t *Tracer) holdWakeups(raw []byte) {
	var hdr oomtraceEventHeader
	if t.readerLook == nil || len(raw) < int(unsafe.Sizeof(hdr)) {
		return
	}
	off := unsafe.Offsetof(hdr.KtimeNs)
	ktime := binary.NativeEndian.Uint64(raw[off : off+8])
	if ktime < uint64(lookMargin) {
		return
	}
	read := ktime - uint64(lookMargin)
	var last uint64
	if err := t.readerLook.Get(&last); err != nil || read <= last {
		return
	}
	// Get worked: Set writes the same memory and cannot fail.
	_ = t.readerLook.Set(read)
}

// ReclaimRecordBytes is the size of a reclaim record, the record a storm
// fills the ring buffer with, without the ring buffer's own header.
const ReclaimRecordBytes = int(unsafe.Sizeof(oomtraceReclaimEvent{}))

// DefaultRingBufferBytes is the size of the ring buffer as the kernel side
// declares it, read from the object without loading it.
func DefaultRingBufferBytes() (int, error) {
	spec, err := loadOomtrace()
	if err != nil {
		return 0, err
	}
	events, ok := spec.Maps["events"]
	if !ok {
		return 0, errors.New("the BPF object has no events map")
	}
	return int(events.MaxEntries), nil
}

// The sizes a ring buffer may have: the kernel takes a power of two
// pages; 64 KiB is a page of any size it has and holds dozens of the
// largest records, and 1 GiB of memory the kernel cannot reclaim is more
// than any trace needs.
const (
	MinRingBufferBytes = 64 << 10
	MaxRingBufferBytes = 1 << 30
)

// CheckRingBufferBytes says why n bytes cannot be the ring buffer's size,
// or nil if they can.
func CheckRingBufferBytes(n int) error {
	if n < MinRingBufferBytes || n > MaxRingBufferBytes {
		return fmt.Errorf("a ring buffer of %s: want 64KiB to 1GiB", sizeText(n))
	}
	if n&(n-1) != 0 {
		return fmt.Errorf("a ring buffer of %s: the kernel needs a power of two, such as %s or %s",
			sizeText(n), sizeText(1<<(bits.Len(uint(n))-1)), sizeText(1<<bits.Len(uint(n))))
	}
	return nil
}

// sizeText writes n bytes in the largest unit that holds them whole, as
// ParseRingBufferSize reads them.
func sizeText(n int) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// ParseRingBufferSize reads a ring buffer's size as --ring-buffer takes
// it: a number of bytes, or of KiB, MiB or GiB with that suffix (K, M and
// G are read the same), and checks it (CheckRingBufferBytes).
func ParseRingBufferSize(s string) (int, error) {
	digits := strings.TrimRightFunc(s, unicode.IsLetter)
	shift, ok := map[string]uint{"": 0, "k": 10, "kib": 10, "m": 20, "mib": 20, "g": 30, "gib": 30}[strings.ToLower(s[len(digits):])]
	n, err := strconv.ParseUint(digits, 10, 64)
	if !ok || err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q is not a size: want bytes, or a number with KiB, MiB or GiB (e.g. 16MiB)", s)
	}
	if err != nil || n > MaxRingBufferBytes>>shift {
		return 0, fmt.Errorf("a ring buffer of %s: want 64KiB to 1GiB", s)
	}
	size := int(n << shift)
	if err := CheckRingBufferBytes(size); err != nil {
		return 0, err
	}
	return size, nil
}

// RingBuffer returns the ring buffer's size and the bytes the kernel has
// written that are not read yet. Both are cheap to read (no system call).
func (t *Tracer) RingBuffer() (size, pending int) {
	pending, _ = t.unread()
	return t.reader.BufferSize(), pending
}

// Lost returns the number of records the kernel could not put in the ring
// buffer since the tracer started, summed over CPUs.
func (t *Tracer) Lost() (uint64, error) {
	return sumPerCPU(t.base.Maps["lost_events"], "lost-event counters")
}

// UncountedReclaim returns how many reclaim episodes found no histogram
// since the tracer started: their cgroups came after the kernel side's
// histograms were all taken.
func (t *Tracer) UncountedReclaim() (uint64, error) {
	return sumPerCPU(t.base.Maps["reclaim_uncounted"], "uncounted reclaim episodes")
}

// SawKill reports whether the kernel side saw the OOM kill of process
// tgid since it attached (of the last 1,024 processes killed), whether or
// not the filter let it be reported.
func (t *Tracer) SawKill(tgid uint32) (bool, error) {
	var (
		key  oomtraceProcessKey
		seen uint8
	)
	m := t.base.Maps["seen_victims"]
	if m == nil {
		return false, nil // not tracing kills (--events without oom)
	}
	entries := m.Iterate()
	for entries.Next(&key, &seen) {
		if key.Tgid == tgid {
			return true, nil
		}
	}
	if err := entries.Err(); err != nil {
		return false, fmt.Errorf("read the kills seen: %w", err)
	}
	return false, nil
}

// SkippedRuns returns, by program name, the runs of oomtrace's programs
// that the kernel skipped since they were loaded; programs it skipped no
// run of are left out. The kernel does not start a program on a
// CPU where the same program is still running, and where it can preempt a
// program while it runs (seen on Linux 7.3), the program stays running on
// that CPU until it resumes: every other task that reaches the tracepoint
// there meanwhile goes unseen. A reclaim episode whose begin or end was
// skipped is neither reported nor counted; a kill or an exit goes
// unreported. Most skipped runs of the signal and exit programs would have
// recorded nothing. Always 0 before Linux 5.12, which does not count them.
func (t *Tracer) SkippedRuns() (map[string]uint64, error) {
	skipped := make(map[string]uint64)
	for _, c := range []*ebpf.Collection{t.base, t.hooks} {
		if c == nil {
			continue
		}
		for name, p := range c.Programs {
			stats, err := p.Stats()
			if err != nil {
				return nil, fmt.Errorf("read statistics of program %s: %w", name, err)
			}
			if stats.RecursionMisses > 0 {
				skipped[name] += stats.RecursionMisses
			}
		}
	}
	return skipped, nil
}

// sumPerCPU sums the per-CPU counter of a one-element per-CPU array, what.
func sumPerCPU(m *ebpf.Map, what string) (uint64, error) {
	var perCPU []uint64
	if err := m.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read %s: %w", what, err)
	}
	var total uint64
	for _, n := range perCPU {
		total += n
	}
	return total, nil
}

// ReclaimStats appends the kernel's cumulative reclaim histograms, one per
// cgroup and reclaim kind, to dst.
func (t *Tracer) ReclaimStats(dst []event.ReclaimStats) ([]event.ReclaimStats, error) {
	var (
		key   oomtraceReclaimStatsKey
		slot  uint32
		value oomtraceReclaimStats
	)
	histograms := t.base.Maps["reclaim_histograms"]
	// A histogram is read through its published slot: a slot claimed
	// but not (yet) published holds nothing counted.
	iter := t.base.Maps["reclaim_slots"].Iterate()
	for iter.Next(&key, &slot) {
		if err := histograms.Lookup(slot, &value); err != nil {
			return dst, fmt.Errorf("read reclaim histogram %d: %w", slot, err)
		}
		s := event.ReclaimStats{
			Kind:  event.ReclaimKind(key.ReclaimKind),
			Total: time.Duration(value.TotalNs),
			Max:   time.Duration(value.MaxNs),
		}
		// The kernel side keeps no count apart from the buckets.
		for _, n := range value.Buckets {
			s.Count += n
		}
		if c := &value.Cgroup; valid(c.Flags) {
			fillCgroup(&s.Cgroup, c.Id, c.UsagePages, c.LimitPages, c.Flags, string(kernelString(c.Path[:])))
		}
		s.Cgroup.ID = key.CgroupId
		s.Cgroup.UsageBytes, s.Cgroup.LimitBytes = 0, 0 // as first seen: stale
		copy(s.Buckets[:], value.Buckets[:])
		dst = append(dst, s)
	}
	if err := iter.Err(); err != nil {
		return dst, fmt.Errorf("read reclaim histograms: %w", err)
	}
	return dst, nil
}

// readHistogram reads the reclaim histogram in slot into dst.
func (t *Tracer) readHistogram(slot uint32, dst *oomtraceReclaimStats) error {
	return t.base.Maps["reclaim_histograms"].Lookup(slot, dst)
}

// FreeReclaimHistogram gives the kernel side back the histogram of the
// cgroup cgroupID for kind, whose cgroup was removed and whose counts were
// read for the last time: a cgroup that comes later takes its slot. A node
// that creates and removes cgroups for weeks would otherwise take every
// slot, and count no new cgroup's episodes. Freeing a histogram that is
// not there is no error.
func (t *Tracer) FreeReclaimHistogram(cgroupID uint64, kind event.ReclaimKind) error {
	key := oomtraceReclaimStatsKey{CgroupId: cgroupID, ReclaimKind: uint32(kind)}
	var slot uint32
	slots := t.base.Maps["reclaim_slots"]
	err := slots.Lookup(&key, &slot)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the reclaim histogram of cgroup %d: %w", cgroupID, err)
	}
	// Unpublished first, so that no program finds the slot; then its
	// counts zeroed, as the next claim expects them; then given back. No
	// program counts in it meanwhile: a removed cgroup has no task left to
	// reclaim in it. The cgroup stays until the next claim: records of it
	// still unread name this slot for its path.
	if err := slots.Delete(&key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("free the reclaim histogram of cgroup %d: %w", cgroupID, err)
	}
	histograms := t.base.Maps["reclaim_histograms"]
	var stats oomtraceReclaimStats
	if err := histograms.Lookup(slot, &stats); err != nil {
		return fmt.Errorf("read reclaim histogram %d: %w", slot, err)
	}
	if err := histograms.Update(slot, &oomtraceReclaimStats{Cgroup: stats.Cgroup}, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("clear reclaim histogram %d: %w", slot, err)
	}
	if err := t.base.Maps["reclaim_slot_owners"].Delete(slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("free reclaim histogram %d: %w", slot, err)
	}
	return nil
}

// Detach stops the kernel from producing records; those already in the ring
// buffer can still be read.
func (t *Tracer) Detach() error {
	var errs []error
	for _, l := range t.hookLinks {
		errs = append(errs, l.Close())
	}
	t.hookLinks = nil
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	return errors.Join(errs...)
}

// Flush makes Read return the records now in the ring buffer and then an
// error wrapping ringbuf.ErrFlushed, instead of blocking.
func (t *Tracer) Flush() error {
	t.ownWait.Store(true)
	err := t.reader.Flush()
	if t.ringWait != nil {
		t.ringWait.interrupt()
	}
	return err
}
