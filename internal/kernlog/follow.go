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

// KmsgOptions says which records ReadKmsg reads.
type KmsgOptions struct {
	// Follow keeps reading new records until the context is done.
	Follow bool
	// FromNow skips the records already in the kernel's buffer: only what
	// the kernel logs from now on is read.
	FromNow bool
}

// ReadKmsg reads this machine's kernel log from /dev/kmsg: every record
// still in the kernel's buffer (since boot, unless it was overwritten), and
// then, with opts.Follow, every new one until ctx is done. Each item goes to
// fn as soon as it is complete; an error from fn stops the reading and is
// returned. Records overwritten before they were read are counted in lost
// (a report cut by them is handed out as far as it went). Needs root, or
// CAP_SYSLOG where kernel.dmesg_restrict is set.
func ReadKmsg(ctx context.Context, opts KmsgOptions, fn func(Item) error) (lost int, err error) {
	fd, err := unix.Open(KmsgPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open kernel log: %w", err)
	}
	defer unix.Close(fd)
	if opts.FromNow {
		if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
			return 0, fmt.Errorf("seek to the end of %s: %w", KmsgPath, err)
		}
	}
	follow := opts.Follow
	var asm Assembler
	emit := func() error {
		for {
			it, ok := asm.Pop()
			if !ok {
				return nil
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	buf := make([]byte, kmsgRecordMax)
	lastRead := time.Now()
	flushed := true
	for {
		if err := ctx.Err(); err != nil {
			asm.Flush()
			return lost, errors.Join(emit(), err)
		}
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if !follow {
				asm.Flush()
				return lost, emit()
			}
			if !flushed && time.Since(lastRead) >= idleFlush {
				asm.Flush()
				flushed = true
				if err := emit(); err != nil {
					return lost, err
				}
			}
			// Wait for a record, or for the idle flush, or to notice ctx.
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, int(idleFlush/time.Millisecond)/2); err != nil && !errors.Is(err, unix.EINTR) {
				return lost, fmt.Errorf("poll kernel log: %w", err)
			}
			continue
		case errors.Is(err, unix.EPIPE):
			lost++
			asm.Flush()
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return lost, fmt.Errorf("read kernel log: %w", err)
		}
		lastRead, flushed = time.Now(), false
		m, err := kmsgMessage(buf[:n])
		if err != nil {
			continue
		}
		asm.Add(&m)
		if err := emit(); err != nil {
			return lost, err
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
