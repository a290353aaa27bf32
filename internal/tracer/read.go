package tracer

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// wakeupWindow is how long a reclaim or kswapd record may wait in the ring
// buffer without waking the reader (submit_event in bpf/oomtrace.bpf.c).
const wakeupWindow = 25 * time.Millisecond

// Read blocks for the next record and returns its bytes, valid until the
// next Read. After Close it returns an error wrapping ringbuf.ErrClosed.
//
// The kernel submits some records without waking the reader, but only
// within wakeupWindow of a record that did. So once Read has emptied the
// ring buffer it waits at most wakeupWindow before looking again, and only
// after that without a deadline, until a record wakes it.
func (t *Tracer) Read() ([]byte, error) {
	for {
		err := t.reader.ReadInto(&t.record)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.reader.SetDeadline(time.Time{})
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.reader.AvailableBytes() == 0 {
			t.reader.SetDeadline(time.Now().Add(wakeupWindow))
		}
		return t.record.RawSample, nil
	}
}

// RingBuffer returns the ring buffer's size and the bytes the kernel has
// written that are not read yet. Both are cheap to read (no system call).
func (t *Tracer) RingBuffer() (size, pending int) {
	return t.reader.BufferSize(), t.reader.AvailableBytes()
}

// Lost returns the number of records the kernel could not put in the ring
// buffer since the tracer started, summed over CPUs.
func (t *Tracer) Lost() (uint64, error) {
	var perCPU []uint64
	if err := t.base.Maps["lost_events"].Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read lost-event counters: %w", err)
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
		value oomtraceReclaimStats
	)
	iter := t.base.Maps["reclaim_histograms"].Iterate()
	for iter.Next(&key, &value) {
		s := event.ReclaimStats{
			Kind:  event.ReclaimKind(key.ReclaimKind),
			Count: value.Count,
			Total: time.Duration(value.TotalNs),
			Max:   time.Duration(value.MaxNs),
		}
		fillCgroup(&s.Cgroup, &value.Cgroup, func(c *oomtraceCgroupInfo) string { return string(kernelString(c.Path[:])) })
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
	return t.reader.Flush()
}
