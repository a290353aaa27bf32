package report

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

// Stdin is the file name that stands for standard input.
const Stdin = "-"

// ReadFiles reads the logs in names, one after the other, into one report.
// Each log is a source of its own: its events take a pipeline configured
// by through into the report. A log that cannot be read is an error; a
// *capture.LineError names the line.
func ReadFiles(names []string, opts Options, through pipeline.Options) (*Report, error) {
	a := New(opts)
	for _, name := range names {
		if err := a.ReadFile(name, through); err != nil {
			return nil, err
		}
	}
	return a.Report(), nil
}

// ReadFile reads one log as a capture of its own.
func (a *Aggregator) ReadFile(name string, through pipeline.Options) error {
	if name == Stdin {
		return a.Read(os.Stdin, "(stdin)", through)
	}
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	return a.Read(f, name, through)
}

// Read reads one log from r as a capture of its own.
func (a *Aggregator) Read(r io.Reader, name string, through pipeline.Options) error {
	cr := capture.NewReader(r, name)
	pipe := pipeline.New(through, a)
	var ev event.Event
	for {
		err := cr.Next(&ev)
		if errors.Is(err, io.EOF) {
			a.EndCapture(cr.Info())
			return nil
		}
		if err != nil {
			return err
		}
		if err := pipe.Process(&ev); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}
