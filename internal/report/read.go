package report

import (
	"io"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/pipeline"
)

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

// ReadFile reads one log as a capture of its own; capture.Stdin is
// standard input.
func (a *Aggregator) ReadFile(name string, through pipeline.Options) error {
	f, display, err := capture.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return a.Read(f, display, through)
}

// Read reads one log from r as a capture of its own.
func (a *Aggregator) Read(r io.Reader, name string, through pipeline.Options) error {
	cr := capture.NewReader(r, name)
	if err := cr.Each(pipeline.New(through, a).Process); err != nil {
		return err
	}
	a.EndCapture(cr.Info())
	return nil
}
