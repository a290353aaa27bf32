package kernlog

import (
	"fmt"
	"io"
	"os"
)

// ParseText parses a saved kernel log in any form Scanner reads and
// collects the OOM reports in it. Lines known to come from user space
// (facility other than kern, where the format says) are ignored. The error
// is only ever one reading r.
func ParseText(r io.Reader) (Log, error) {
	sc := NewScanner(r, "")
	c := newCollector()
	for sc.Scan() {
		m := sc.Message()
		c.add(&m)
	}
	c.flush()
	if err := sc.Err(); err != nil {
		return Log{}, fmt.Errorf("read kernel log text: %w", err)
	}
	return c.done, nil
}

// Decoder reads the OOM reports of a saved kernel log, one at a time,
// without holding more of the log than one report.
type Decoder struct {
	sc  *Scanner
	asm Assembler
	eof bool
	// Warn receives warnings: lines of the input that do not read as their
	// format says, and OOM report lines that do not parse. If nil, they
	// are kept (see Warnings).
	warnings
}

// NewDecoder reads the log in r; name is the file name shown in warnings.
func NewDecoder(r io.Reader, name string) *Decoder {
	d := &Decoder{sc: NewScanner(r, name)}
	d.sc.Warn = d.add
	d.asm.Warn = func(at Stamp, _ string, err error) { d.add(Warning{File: name, Line: at.Line, Msg: err.Error()}) }
	return d
}

// Next returns the next report, or an oom_reaper line of no report read. It
// returns io.EOF after the last.
func (d *Decoder) Next() (Item, error) {
	for {
		if it, ok := d.asm.Pop(); ok {
			return it, nil
		}
		if d.eof {
			return Item{}, io.EOF
		}
		if !d.sc.Scan() {
			d.eof = true
			d.asm.Flush()
			if err := d.sc.Err(); err != nil {
				return Item{}, err
			}
			continue
		}
		m := d.sc.Message()
		d.asm.Add(&m)
	}
}

// Open opens a saved kernel log for a Decoder; "-" is standard input.
func Open(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open kernel log: %w", err)
	}
	return f, nil
}
