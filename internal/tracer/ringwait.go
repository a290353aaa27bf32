package tracer

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ringWait waits for the ring buffer in the Go runtime's network poller
// instead of in a blocking epoll_wait(2). A goroutine blocked in a system
// call makes the runtime's monitor thread take its processor away after
// 20 µs and keeps that thread polling every 20 µs to 1 ms for a while
// after: with the reader woken 40 times a second by a reclaim storm, that
// monitor took about a third of the tracer's CPU. A goroutine parked in
// the poller costs nothing until the ring buffer wakes it.
type ringWait struct {
	file *os.File // a non-blocking duplicate of the ring buffer's descriptor
	conn syscall.RawConn
}

// newRingWait returns a ringWait for the ring buffer map whose descriptor
// is fd; an error when the runtime cannot poll it.
func newRingWait(fd int) (*ringWait, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate ring buffer descriptor: %w", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("ring buffer descriptor: %w", err)
	}
	file := os.NewFile(uintptr(dup), "ring buffer")
	// Only a descriptor the poller took has deadlines.
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		file.Close()
		return nil, fmt.Errorf("poll ring buffer: %w", err)
	}
	conn, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("poll ring buffer: %w", err)
	}
	return &ringWait{file, conn}, nil
}

// wait returns once ready reports true, checked before parking and at
// each wakeup of the ring buffer; at deadline (none if zero) with
// os.ErrDeadlineExceeded; at once when interrupt was called meanwhile, as
// ready must then report.
func (w *ringWait) wait(deadline time.Time, ready func() bool) error {
	if err := w.file.SetReadDeadline(deadline); err != nil {
		return err
	}
	return w.conn.Read(func(uintptr) bool { return ready() })
}

// interrupt ends a wait in progress, which then finds ready true or comes
// back with os.ErrDeadlineExceeded. The caller makes ready true first: a
// wait that sets its deadline after this call still sees it.
func (w *ringWait) interrupt() {
	w.file.SetReadDeadline(noWaitDeadline)
}

func (w *ringWait) close() error { return w.file.Close() }
