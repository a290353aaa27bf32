package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/output"
)

// File is a log being recorded, opened for appending. The events go to it
// through an output.Writer, a sink of the pipeline, which holds their lines
// and writes a batch of whole lines with one call to File.Write, one
// write(2): when the tracer has drained the ring buffer, before it waits
// for more; right after an OOM kill's line; once output.BufferSize bytes
// are held; and at the end, before the end line.
//
// So a recorder killed with SIGKILL loses the lines it held: at most
// output.BufferSize bytes and one line, all of events read in the burst it
// was draining, never a kill that was written; besides, as always, the
// records still in the ring buffer. A write the kill cuts short (the kernel
// stops a write between pages) leaves the last line in the file
// unfinished, which a Reader then leaves out. SIGINT and SIGTERM lose
// nothing: the recorder drains the ring buffer, writes out every line and
// the end line.
type File struct {
	f       *os.File
	created bool           // by Create: Discard removes it
	meta    *output.Writer // the start and end lines
}

// Create opens the log file name for lines in format, creating it if it
// does not exist. An existing file is left as it is until the recording
// starts (WriteStart empties it), so that a recording that never starts
// leaves an earlier log, or a device such as /dev/null, as it was (see
// Discard).
func Create(name string, format output.Format) (*File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	created := err == nil
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	return &File{f: f, created: created, meta: output.NewWriter(f, output.Options{Format: format})}, nil
}

// Discard closes a log the recording never started, and removes it if
// Create made it: it holds nothing, not even its start line. A file that
// was there before is left untouched.
func (f *File) Discard() error {
	err := f.Close()
	if f.created {
		if rerr := os.Remove(f.f.Name()); rerr != nil && err == nil {
			err = fmt.Errorf("remove unstarted log: %w", rerr)
		}
	}
	return err
}

// Write writes p, whole lines, in one write(2).
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// WriteStart writes the start line; it must come first. An earlier log in
// the file is emptied first: a device or a pipe is written as it is.
func (f *File) WriteStart(h *output.LogStart) error {
	if !f.created {
		info, err := f.f.Stat()
		if err != nil {
			return fmt.Errorf("log: %w", err)
		}
		if info.Mode().IsRegular() {
			if err := f.f.Truncate(0); err != nil {
				return fmt.Errorf("empty the earlier log: %w", err)
			}
		}
	}
	return f.meta.WriteLogStart(h)
}

// Finish writes the end line and closes the file once its contents are on
// disk.
func (f *File) Finish(end *output.LogEnd) error {
	err := f.meta.WriteLogEnd(end)
	if err == nil {
		// A device or a pipe cannot be synced (EINVAL): it holds nothing
		// to put on a disk.
		if err = f.f.Sync(); errors.Is(err, unix.EINVAL) {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("sync log: %w", err)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the file without an end line: the log then says that the
// recording did not stop cleanly.
func (f *File) Close() error {
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("close log: %w", err)
	}
	return nil
}
