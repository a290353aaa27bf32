// Package output writes oomtrace events as lines of text, shaped like perf
// script's output, or as JSON Lines, and parses both back.
//
// Every string that comes from the kernel (process names, cgroup paths,
// stack frames) is attacker-controlled. Both formats escape them so that a
// line is always printable ASCII ending in one newline: no name can split a
// line, forge a key or reach a terminal as an escape sequence, and the
// parsers get the original bytes back exactly. docs/output-format.md
// describes both formats.
package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Format is an output format.
type Format int

const (
	Text Format = iota // perf-script-like lines of key=value pairs
	JSON               // JSON Lines: one object per line
)

func (f Format) String() string {
	switch f {
	case Text:
		return "text"
	case JSON:
		return "json"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat is the inverse of Format.String.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "text":
		return Text, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("unknown output format %q (want text or json)", s)
}

// Options says how events are written.
type Options struct {
	Format Format
	// GFPNames, when set, appends the names of the flags of a gfp mask
	// ("GFP_HIGHUSER_MOVABLE|__GFP_COMP") to dst and returns the extended
	// buffer, as gfp.Names.Append does; the names are written as gfp_flags
	// beside gfp_mask. It is called once per gfp mask written, straight
	// into the line, so that naming flags costs no allocation.
	GFPNames func(dst []byte, mask uint32) []byte
	// Stacks writes the kernel stack of OOM kills.
	Stacks bool

	// spellings, set by NewWriter, remembers what GFPNames made of the
	// last masks written.
	spellings *spellings
}

// Writer writes events to an io.Writer, one line per event. It is not safe
// for concurrent use: the pipeline serialises its sinks.
//
// It gathers lines in a buffer and writes them out with one call to the
// underlying Write on Flush, or on its own once they reach BufferSize: a
// storm's lines cost one write(2) per batch instead of one each. A write
// holds whole lines only, never part of one, so that a process killed in
// the middle of a write leaves at most the last line of it unfinished,
// which the capture reader leaves out.
type Writer struct {
	w    io.Writer
	opts Options
	buf  []byte // lines not written yet
}

// BufferSize is how many bytes of lines a Writer holds before it writes
// them without waiting for Flush: about 250 reclaim lines, and what a
// pipe holds by default.
const BufferSize = 64 << 10

// NewWriter returns a Writer that writes to w; where w is a pipe or FIFO,
// it grows its buffer to PipeBytes first (GrowPipe).
func NewWriter(w io.Writer, opts Options) *Writer {
	if opts.GFPNames != nil {
		opts.spellings = new(spellings)
	}
	// A pipe that keeps its default buffer still works, only slower when
	// its reader falls behind: nothing to report.
	_, _ = GrowPipe(w)
	// Room for the line that crosses BufferSize, so that the buffer is
	// never grown while events are written.
	return &Writer{w: w, opts: opts, buf: make([]byte, 0, BufferSize+16<<10)}
}

// Write adds ev's line to the buffer, and writes the buffer out if it has
// reached BufferSize. It does not keep ev.
func (w *Writer) Write(ev *event.Event) error {
	if fieldsOf(ev.Kind) == nil {
		return fmt.Errorf("write %v event: unknown event kind", ev.Kind)
	}
	switch w.opts.Format {
	case Text:
		w.buf = AppendText(w.buf, ev, w.opts)
	case JSON:
		w.buf = AppendJSON(w.buf, ev, w.opts)
	default:
		return fmt.Errorf("write %v event: unknown output %v", ev.Kind, w.opts.Format)
	}
	if len(w.buf) >= BufferSize {
		return w.Flush()
	}
	return nil
}

// Flush writes the lines held, if any, with one call to the underlying
// Write. Lines a failed write did not take are dropped: the error says so.
func (w *Writer) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.w.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		err = fmt.Errorf("write events (%d lines not written): %w", bytes.Count(w.buf[min(max(n, 0), len(w.buf)):], []byte{'\n'}), err)
	}
	w.buf = w.buf[:0]
	return err
}

// Parse parses a line in either format (see IsJSON).
func Parse(line []byte) (event.Event, error) {
	if IsJSON(line) {
		return ParseJSON(line)
	}
	return ParseText(line)
}

// IsJSON says whether line is in the JSON format: it starts with '{'
// followed, after optional white space, by '"'. A text line can start with
// '{' (a comm of 16 bytes or more is not padded), but not with '{"':
// its comm has every '"' escaped.
func IsJSON(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte{'{'})
	rest = bytes.TrimLeft(rest, " \t\r\n")
	return ok && len(rest) > 0 && rest[0] == '"'
}

// ParseError says why a line is not a valid event.
type ParseError struct {
	Column int    // 1-based byte offset in the line of the problem; 0 if not known
	Key    string // the key whose value is wrong; "" when the problem is elsewhere
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	if e.Column > 0 {
		fmt.Fprintf(&b, "column %d: ", e.Column)
	}
	if e.Key != "" {
		key := e.Key
		if !isKey(key) { // a key read from JSON can hold anything
			key = strconv.QuoteToASCII(key)
		}
		fmt.Fprintf(&b, "key %s: ", key)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

func isKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if !keyByte(s[i]) {
			return false
		}
	}
	return s != ""
}

var (
	errMissing    = errors.New("missing")
	errUnexpected = errors.New("not allowed with the values of the other keys")
)

// checkKeys makes sure a parsed line had exactly the keys the writer writes
// for the event it describes, so that every accepted line has one meaning:
// no required key is missing, and no key is present that the other keys'
// values rule out (a cgroup id without its cgroup, victim_exiting=false).
// Keys that depend on the options (gfp_flags, stack) may be missing.
//
// It also forgets what the line said missing of values no key of it could
// hold (the id of a cgroup the event does not have), so that an event
// parsed back equals the event written.
func checkKeys(ev *event.Event, fields []field, seen []bool, name func(*field) string) error {
	var matter event.Missing
	for i := range fields {
		f := &fields[i]
		if f.missing != 0 && (f.flag == nil || *f.flag(ev)) && (f.has == nil || f.has(ev)) {
			matter |= f.missing
		}
	}
	ev.Missing = (ev.Missing &^ (mayMissOf(ev.Kind) &^ matter)).Canonical()
	for i := range fields {
		f := &fields[i]
		switch present := f.present(ev); {
		case seen[i] && !present:
			return &ParseError{Key: name(f), Err: errUnexpected}
		case !seen[i] && present && f.option == always:
			return &ParseError{Key: name(f), Err: errMissing}
		}
	}
	return nil
}

// indexField returns the index of the field that matches, searching from
// fields[start] on, then from the first: a line's keys come in the order of
// their fields, so the next key is nearly always right where the last one
// was found.
func indexField(fields []field, start int, match func(*field) bool) int {
	for n := range fields {
		i := (start + n) % len(fields)
		if match(&fields[i]) {
			return i
		}
	}
	return -1
}
