package kernlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// record is one /dev/kmsg record:
//
//	PRIO,SEQ,USEC,FLAGS[,MORE...];MESSAGE\n[ KEY=VALUE\n]...
//
// PRIO holds the syslog facility and level; FLAGS is "c" for a fragment
// continued by the next record, "-" otherwise; kernels with
// CONFIG_PRINTK_CALLER add ",caller=T123". MESSAGE and the dictionary lines
// after it have every byte below 0x20, above 0x7e and the backslash escaped
// as \xHH.
type record struct {
	facility int
	level    int
	seq      uint64
	usec     uint64
	cont     bool
	message  string
}

// kernFacility is LOG_KERN. The kernel refuses it to user space writers of
// /dev/kmsg, so it tells the kernel's own messages from forged ones.
const kernFacility = 0

func parseRecord(b []byte) (record, error) {
	s := string(b)
	first, _, _ := strings.Cut(s, "\n") // the rest are dictionary lines
	prefix, escaped, ok := strings.Cut(first, ";")
	fields := strings.Split(prefix, ",")
	if !ok || len(fields) < 4 {
		return record{}, fmt.Errorf("parse kmsg record %q: no PRIO,SEQ,USEC,FLAGS; prefix", first)
	}
	prio, err1 := strconv.ParseUint(fields[0], 10, 16)
	seq, err2 := strconv.ParseUint(fields[1], 10, 64)
	usec, err3 := strconv.ParseUint(fields[2], 10, 63)
	if err := errors.Join(err1, err2, err3); err != nil {
		return record{}, fmt.Errorf("parse kmsg record %q: %w", first, err)
	}
	return record{facility: int(prio >> 3), level: int(prio & 7), seq: seq, usec: usec,
		cont: strings.HasPrefix(fields[3], "c"), message: unescape(escaped)}, nil
}

// unescape undoes the kernel's \xHH escaping. The kernel escapes every
// backslash, so the result is exact; a malformed escape is kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// KmsgPath is the kernel log device.
const KmsgPath = "/dev/kmsg"

// kmsgRecordMax is larger than any record read(2) of /dev/kmsg returns
// (a 1 KiB message escaped to 4 KiB, plus the prefix and dictionary); a
// smaller buffer makes read fail with EINVAL.
const kmsgRecordMax = 16 << 10

// Reader follows the kernel log from /dev/kmsg and collects the OOM reports
// in it. It reads each record as soon as the kernel logs it, not when a
// wait asks: the kernel's buffer holds 128 KiB on common configurations,
// and an OOM that finds nothing left to kill logs a whole report on every
// retry of the allocation, so a reader that waited for a question could
// find the kill it is asked about already overwritten. Its methods may be
// called from several goroutines.
type Reader struct {
	t    *Tail
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the reading has ended

	mu      sync.Mutex
	col     *collector    // of t's assembler
	err     error         // why the reading ended, if it did
	changed chan struct{} // closed, and replaced, when col or err changes
}

// OpenKmsg opens /dev/kmsg positioned after its last record, so the Reader
// sees only what the kernel logs from now on (and perhaps the last few
// records before: the kernel counts a record in only once it is complete).
// Reading it needs root (or CAP_SYSLOG where kernel.dmesg_restrict is set).
func OpenKmsg() (*Reader, error) {
	t, err := OpenTail(FromNow)
	if err != nil {
		return nil, err
	}
	return newReader(t), nil
}

func newReader(t *Tail) *Reader {
	r := &Reader{t: t, col: collectorOf(&t.asm), stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{})}
	go r.follow()
	return r
}

// Close stops the reading and closes the log device.
func (r *Reader) Close() error {
	close(r.stop)
	<-r.done
	return r.t.Close()
}

// follow reads records as the kernel logs them until Close, or until the
// log cannot be read.
func (r *Reader) follow() {
	defer close(r.done)
	collect := func(it Item) error {
		r.col.done.addItem(it)
		return nil
	}
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		r.mu.Lock()
		n, err := r.t.Read(collect)
		r.mu.Unlock()
		if n == 0 && err == nil {
			if err = r.t.waitRecord(waitPoll); err == nil {
				continue
			}
		}
		r.publish(err)
		if err != nil {
			return
		}
	}
}

// publish wakes the waits after a reading: what they wait for may have
// come, or the reading ended with err.
func (r *Reader) publish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	close(r.changed)
	r.changed = make(chan struct{})
}

// WaitKill waits for the kernel's first report, since the Reader was
// opened, of killing pid, and returns it. It fails when ctx is done first.
func (r *Reader) WaitKill(ctx context.Context, pid int) (Kill, error) {
	return r.WaitNthKill(ctx, pid, 1)
}

// WaitNthKill waits for the n-th (from 1) report of killing pid since the
// Reader was opened. The kernel reports a task more than once when OOMs in
// quick succession pick it again before it has exited.
func (r *Reader) WaitNthKill(ctx context.Context, pid, n int) (Kill, error) {
	var found Kill
	err := r.wait(ctx, func(l *Log) bool {
		seen := 0
		for _, k := range l.Kills {
			if k.PID == pid {
				if seen++; seen == n {
					found = k
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return Kill{}, fmt.Errorf("wait for kernel report #%d of killing pid %d: %w", n, pid, err)
	}
	return found, nil
}

// WaitReaped waits for the OOM reaper's report on pid. The reaper reports
// only when it got to the memory before the victim freed it itself, so it
// may never come.
func (r *Reader) WaitReaped(ctx context.Context, pid int) (Reaped, error) {
	var found Reaped
	err := r.wait(ctx, func(l *Log) bool {
		for _, rp := range l.Reaped {
			if rp.PID == pid {
				found = rp
				return true
			}
		}
		return false
	})
	if err != nil {
		return Reaped{}, fmt.Errorf("wait for oom_reaper report on pid %d: %w", pid, err)
	}
	return found, nil
}

// Log returns a copy of everything collected so far, without waiting for
// more.
func (r *Reader) Log() Log {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.col.snapshot()
}

// waitPoll bounds each wait for a record, so that the reading notices
// Close.
const waitPoll = 50 * time.Millisecond

// wait waits until done reports true for what was collected, or ctx is
// done, or the reading ended.
func (r *Reader) wait(ctx context.Context, done func(*Log) bool) error {
	for {
		r.mu.Lock()
		l, err, changed := r.col.snapshot(), r.err, r.changed
		r.mu.Unlock()
		switch {
		case done(&l):
			return nil
		case err != nil:
			return err
		}
		select {
		case <-ctx.Done():
			return r.waitError(ctx.Err())
		case <-changed:
		}
	}
}

func (r *Reader) waitError(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.col.snapshot()
	return fmt.Errorf("%w (saw %d kills, %d malformed OOM lines, %d records lost)",
		err, len(l.Kills), len(l.Malformed), r.t.lost)
}

// kmsgMessage reads one record as read(2) of /dev/kmsg returns it.
func kmsgMessage(b []byte) (Message, error) {
	rec, err := parseRecord(b)
	if err != nil {
		return Message{}, err
	}
	return Message{Format: FormatKmsg, Text: rec.message, Facility: some(rec.facility), Level: some(rec.level),
		Seq: some(rec.seq), Mono: some(time.Duration(rec.usec) * time.Microsecond), Cont: rec.cont}, nil
}
