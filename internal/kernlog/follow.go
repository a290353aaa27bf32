package kernlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// idleFlush is how long the followed log must be quiet before the report
// being read is handed out: the lines of one report come within
// milliseconds, the oom_reaper's within about a second at most.
const idleFlush = 500 * time.Millisecond

// ReadAll reads the log from where the Tail is: every record already
// there, and then, with follow, every new one until ctx is done. Each item
// goes to fn as soon as it is complete; an error from fn stops the reading
// and is returned. Records overwritten before they were read are counted
// in lost (a report cut by them is handed out as far as it went).
func (t *Tail) ReadAll(ctx context.Context, follow bool, fn func(Item) error) (lost int, err error) {
	lastRead := time.Now()
	flushed := true
	for {
		if err := ctx.Err(); err != nil {
			t.asm.Flush()
			return t.lost, errors.Join(t.emit(fn), err)
		}
		n, err := t.Read(fn)
		switch {
		case err != nil:
			return t.lost, err
		case n > 0:
			lastRead, flushed = time.Now(), false
			continue
		case !follow:
			t.asm.Flush()
			return t.lost, t.emit(fn)
		case !flushed && time.Since(lastRead) >= idleFlush:
			t.asm.Flush()
			flushed = true
			if err := t.emit(fn); err != nil {
				return t.lost, err
			}
		}
		// Wait for a record, or for the idle flush, or to notice ctx.
		if err := t.waitRecord(idleFlush / 2); err != nil {
			return t.lost, err
		}
	}
}

// waitRecord waits until a record can be read, or at most d.
func (t *Tail) waitRecord(d time.Duration) error {
	pfd := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd, int(d/time.Millisecond)); err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("poll kernel log: %w", err)
	}
	return nil
}

// Tail reads this machine's kernel log from /dev/kmsg on demand: each Read
// reads what was logged since the last one, without waiting for more, and
// the Tail keeps the reports not complete yet. A Tail is for one
// goroutine at a time.
type Tail struct {
	fd   int
	read func([]byte) (int, error) // one record per call, as read(2) of fd
	buf  []byte
	asm  Assembler
	lost int // records overwritten before they were read
	// next is the sequence number the next record should carry, once a
	// record was read; skipped says the kernel reported records
	// overwritten since the last one read.
	next    Opt[uint64]
	skipped bool
	// opened is the sequence number of the first record logged after the
	// Tail was opened, where it opened at the first record.
	opened Opt[uint64]
}

// TailStart says where a Tail begins to read the log.
type TailStart int

const (
	// FromNow reads only what the kernel logs from now on.
	FromNow TailStart = iota
	// FromBoot reads every record the log still holds, then what follows.
	FromBoot
	// FromBootMarked is FromBoot, and the Tail knows which records were
	// logged before it opened (LoggedBefore). It reads the whole log once
	// more to learn that as it opens.
	FromBootMarked
)

// OpenTail opens /dev/kmsg to read from start. Needs root, or CAP_SYSLOG
// where kernel.dmesg_restrict is set.
func OpenTail(start TailStart) (*Tail, error) {
	fd, err := unix.Open(KmsgPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open kernel log %s: %w (needs root, or CAP_SYSLOG with kernel.dmesg_restrict=1)", KmsgPath, err)
	}
	t := newTail(fd, func(b []byte) (int, error) { return unix.Read(fd, b) })
	switch start {
	case FromNow:
		if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("seek to the end of %s: %w", KmsgPath, err)
		}
	case FromBootMarked:
		if err := t.markOpening(func() error {
			_, err := unix.Seek(fd, 0, io.SeekStart)
			return err
		}); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return t, nil
}

// markOpening reads to the last record to learn where the log is as the
// Tail opens, then rewinds to the first. /dev/kmsg tells no position but
// by the records read, and the time a record carries cannot place it
// against a clock of user space: printk stamps it with the scheduler's
// clock, which NTP does not slew, so it drifts from CLOCK_MONOTONIC with
// uptime, and starts apart from it (35 ms ahead on an x86-64 machine
// after 9 hours up).
func (t *Tail) markOpening(rewind func() error) error {
	for {
		n, err := t.read(t.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if err := rewind(); err != nil {
				return fmt.Errorf("seek to the start of %s: %w", KmsgPath, err)
			}
			return nil
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read kernel log: %w", err)
		}
		if rec, err := parseRecord(t.buf[:n]); err == nil {
			t.opened = some(rec.seq + 1)
		}
	}
}

// LoggedBefore reports whether the Tail's first reading had the record
// stamped at: whether it was logged before the Tail opened. It knows
// only for a Tail opened FromBootMarked; it says false for the others.
func (t *Tail) LoggedBefore(at Stamp) bool {
	return at.Seq.OK && t.opened.OK && at.Seq.V < t.opened.V
}

func newTail(fd int, read func([]byte) (int, error)) *Tail {
	return &Tail{fd: fd, read: read, buf: make([]byte, kmsgRecordMax)}
}

// Read reads the records logged since the last Read, hands fn each item
// they complete, and returns how many records it read. An error from fn
// stops the reading and is returned.
func (t *Tail) Read(fn func(Item) error) (records int, err error) {
	for {
		n, err := t.read(t.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return records, nil
		case errors.Is(err, unix.EPIPE):
			// The ring buffer overwrote records before they were read; the
			// next read returns the oldest one left, and its sequence
			// number says how many are gone.
			t.skipped = true
			t.asm.Flush()
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return records, fmt.Errorf("read kernel log: %w", err)
		}
		records++
		m, err := kmsgMessage(t.buf[:n])
		if err != nil {
			continue
		}
		t.count(m.Seq.V)
		t.asm.Add(&m)
		if err := t.emit(fn); err != nil {
			return records, err
		}
	}
}

// count counts the records between the last one read and the one
// numbered seq as lost. Before the first record read, where the reading
// began is not known: the kernel's report of records overwritten counts
// as one then, the least it can mean.
func (t *Tail) count(seq uint64) {
	switch {
	case t.next.OK && seq > t.next.V:
		t.lost += int(seq - t.next.V)
	case !t.next.OK && t.skipped:
		t.lost++
	}
	t.next, t.skipped = some(seq+1), false
}

// Pending returns copies of the items read but not complete yet: the
// report being read shows a kill as soon as its "Killed process" line is
// logged, long before the report is complete.
func (t *Tail) Pending() []Item { return t.asm.Pending() }

// Close closes the log device.
func (t *Tail) Close() error { return unix.Close(t.fd) }

// emit hands fn every item complete.
func (t *Tail) emit(fn func(Item) error) error {
	for {
		it, ok := t.asm.Pop()
		if !ok {
			return nil
		}
		if err := fn(it); err != nil {
			return err
		}
	}
}

// CanRead reports, as an error, why this process cannot read /dev/kmsg:
// it needs root, or CAP_SYSLOG where kernel.dmesg_restrict is set.
func CanRead() error {
	fd, err := unix.Open(KmsgPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("read the kernel log %s: %w (needs root, or CAP_SYSLOG with kernel.dmesg_restrict=1)", KmsgPath, err)
	}
	unix.Close(fd)
	return nil
}

// StandsIn is what auto mode does where no BPF mode loads (bpfErr): nil
// when the kernel log can stand in, then read as StandInGives says;
// else the error that says why neither works.
func StandsIn(bpfErr error) error {
	if err := CanRead(); err != nil {
		return fmt.Errorf("%w; and the kernel log cannot stand in: %w", bpfErr, err)
	}
	return nil
}

// StandInGives says what the kernel log gives where it stands in for BPF.
const StandInGives = "the kills are read from the kernel log instead (mode kmsg: the fields its reports hold; no reclaim, signals or exits)"
