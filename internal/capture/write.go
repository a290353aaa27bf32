package capture

import (
	"fmt"
	"os"

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
	f    *os.File
	meta *output.Writer // the start and end lines
}

// Create creates (or truncates) the log file name, for lines in format.
func Create(name string, format output.Format) (*File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	return &File{f: f, meta: output.NewWriter(f, output.Options{Format: format})}, nil
}

// Write writes p, whole lines, in one write(2).
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// WriteStart writes the start line; it must come first.
func (f *File) WriteStart(h *output.LogStart) error {
	return f.meta.WriteLogStart(h)
}

// Finish writes the end line and closes the file once its contents are on
// disk.
func (f *File) Finish(end *output.LogEnd) error {
	err := f.meta.WriteLogEnd(end)
	if err == nil {
		if err = f.f.Sync(); err != nil {
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
