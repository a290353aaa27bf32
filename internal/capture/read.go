// Package capture writes the event logs of oomtrace record and reads logs
// back one event at a time: oomtrace's own, in text or JSON; the output of
// perf script for the kernel's oom and vmscan tracepoints; and system logs,
// the kernel's OOM reports and the kubelet's evictions (dmesg, journalctl,
// kern.log, /dev/kmsg records). The format is told from the first line, a
// gzip-compressed log from its first bytes.
package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/perfscript"
)

// Format is the format of a log.
type Format uint8

const (
	FormatUnknown   Format = iota // nothing read yet, or no line at all
	FormatText                    // oomtrace's text lines
	FormatJSON                    // oomtrace's JSON Lines
	FormatPerf                    // perf script output
	FormatSystemLog               // the kernel's log, and the kubelet's
)

func (f Format) String() string {
	switch f {
	case FormatText:
		return "text"
	case FormatJSON:
		return "json"
	case FormatPerf:
		return "perf script"
	case FormatSystemLog:
		return "kernel log"
	}
	return "unknown"
}

// MaxLineBytes bounds a line, and so the memory a reader needs: the longest
// line oomtrace writes, an oom_kill with a deep stack of long frame names,
// is a few KiB.
const MaxLineBytes = 1 << 20

// Info is what a reader learned of a log besides its events.
type Info struct {
	Name   string
	Format Format
	Start  *output.LogStart // the start line; nil if the log has none
	End    *output.LogEnd   // the end line; nil if the log has none
	Lines  int              // lines read
	Events uint64           // events read
	// Warnings says what was wrong but could be read past: a last line cut
	// short, an end line whose count does not match, a line of a system
	// log that did not read as its format says. At most maxWarnings are
	// kept; MoreWarnings counts the rest.
	Warnings     []string
	MoreWarnings int
}

// LineError is an error in one line of a log.
type LineError struct {
	Name string
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads the events of one log. Its memory does not grow with the
// log: one line at a time, at most MaxLineBytes.
type Reader struct {
	br    *bufio.Reader
	info  Info
	lines *output.Parser // oomtrace's lines
	perf  *perfscript.Parser
	sys   *systemLog
	long  []byte // a line longer than the bufio buffer, gathered
	ended bool   // the end line was read: only comments may follow
	// commented: comments came before the format was known.
	commented bool
	err       error // from opening the input: a gzip stream that is none
	// gzipped: the input is read through gzip.
	gzipped bool
}

// NewReader returns a reader of the log in r; name is for messages. A
// gzip-compressed log is read uncompressed.
func NewReader(r io.Reader, name string) *Reader {
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10), info: Info{Name: name}, lines: output.NewParser()}
	if magic, _ := rd.br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(rd.br)
		if err != nil {
			rd.err = &LineError{Name: name, Line: 1, Err: fmt.Errorf("starts as gzip does, but holds no gzip stream: %w", err)}
			return rd
		}
		rd.br, rd.gzipped = bufio.NewReaderSize(zr, 64<<10), true
	}
	return rd
}

var (
	gzipMagic     = []byte{0x1f, 0x8b}
	byteOrderMark = []byte("\xef\xbb\xbf")
)

// lineFormat is the format of a capture that line is a line of, told from
// it alone: FormatUnknown for what is none of oomtrace's or perf script's
// (a system log's line, or anything else).
func lineFormat(line []byte) Format {
	switch kind := output.ClassifyLine(line); {
	// oomtrace's JSON starts with one of its keys; the journal's otherwise.
	case bytes.HasPrefix(line, []byte(`{"event":`)) || bytes.HasPrefix(line, []byte(`{"oomtrace_log":`)):
		return FormatJSON
	case kind == output.LineStart || kind == output.LineEnd:
		return FormatText
	case perfscript.LooksLikePerf(line):
		return FormatPerf
	}
	if _, err := output.ParseText(line); err == nil {
		return FormatText
	}
	return FormatUnknown
}

// Info returns what the reader learned so far; all of it after Next
// returned io.EOF.
func (r *Reader) Info() Info { return r.info }

// Next reads the next event into ev. It returns io.EOF at the end of the
// log, and a *LineError for a line that is not what its format allows.
func (r *Reader) Next(ev *event.Event) error {
	if r.err != nil {
		return r.err
	}
	for {
		if r.sys != nil {
			ok, err := r.sys.next(ev)
			switch {
			case err != nil:
				return err
			case !ok:
				return io.EOF
			}
			r.info.Events++
			return nil
		}
		line, err := r.readLine()
		if err != nil {
			return err
		}
		// A log copied through a system that ends lines with CRLF: no
		// line of oomtrace's ends in a carriage return of its own (a
		// value's is escaped).
		line = bytes.TrimSuffix(line, []byte{'\r'})
		ok, err := r.parse(line, ev)
		if lineErr := (*LineError)(nil); errors.As(err, &lineErr) {
			return err // about another line
		}
		if err != nil {
			return &LineError{Name: r.info.Name, Line: r.info.Lines, Err: err}
		}
		if ok {
			r.info.Events++
			return nil
		}
	}
}

// Each reads every event of the log, handing each to fn in turn, until
// the end of the log (nil), a line that is not what its format allows (a
// *LineError), or an error of fn.
func (r *Reader) Each(fn func(*event.Event) error) error {
	var ev event.Event
	for {
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(&ev); err != nil {
			return fmt.Errorf("%s: %w", r.info.Name, err)
		}
	}
}

// Stdin is the file name that stands for standard input.
const Stdin = "-"

// Open opens the log name for NewReader, standard input for Stdin, and
// returns the name to show for it.
func Open(name string) (io.ReadCloser, string, error) {
	if name == Stdin {
		return io.NopCloser(os.Stdin), "(stdin)", nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", fmt.Errorf("read log: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, "", fmt.Errorf("read log: %s is a directory: name a log file in it", name)
	}
	return f, name, nil
}

// readLine returns the next complete line, without its newline. A last
// line without a newline was cut short by a writer that died mid-line: it is
// left out, with a warning.
func (r *Reader) readLine() ([]byte, error) {
	r.long = r.long[:0]
	holed := 0 // NUL bytes before the line
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.long) == 0 && len(chunk) > 0 && chunk[0] == 0 {
			// A hole of NUL bytes, as logrotate's copytruncate leaves
			// where the writer went on at its offset: no line of the log.
			// (It is at the start of the file, where the lines that tell
			// the format are read here; a kernel log's later lines are
			// its scanner's.)
			rest := bytes.TrimLeft(chunk, "\x00")
			holed += len(chunk) - len(rest)
			chunk = rest
		}
		if holed > 0 && (err == nil || !errors.Is(err, bufio.ErrBufferFull)) {
			r.warn(r.info.Lines+1, fmt.Sprintf("%d NUL bytes left out (a hole, as logrotate's copytruncate leaves)", holed))
			holed = 0
		}
		switch {
		case err == nil:
			r.info.Lines++
			if len(r.long) == 0 {
				return chunk[:len(chunk)-1], nil
			}
			r.long = append(r.long, chunk[:len(chunk)-1]...)
			return r.long, r.checkLength()
		case errors.Is(err, bufio.ErrBufferFull):
			r.long = append(r.long, chunk...)
			if len(r.long) > MaxLineBytes {
				r.info.Lines++
				return nil, r.checkLength()
			}
		case errors.Is(err, io.EOF):
			if len(r.long)+len(chunk) > 0 {
				r.info.Lines++
				r.warn(r.info.Lines, "last line has no newline: cut short when the log was written, left out")
			}
			r.finish()
			return nil, io.EOF
		default:
			if err := r.readError(r.info.Lines, err); err != nil {
				return nil, err
			}
			r.finish()
			return nil, io.EOF
		}
	}
}

// readError is what reading the input on after line, which failed with
// err, comes to: a compressed log that ends early (compressed or copied
// while it was still written) is read up to there, with a warning; any
// other error is the next line's.
func (r *Reader) readError(line int, err error) error {
	if r.gzipped && errors.Is(err, io.ErrUnexpectedEOF) {
		r.warn(line+1, "the gzip stream ends early (the log was cut short when it was compressed or copied): read up to here")
		return nil
	}
	// After the stream's last member, gzip reads what follows as the
	// next member's header: padding (a tape's or a disk image's zeros) or
	// other bytes appended, which gzip -d passes over too.
	if r.gzipped && errors.Is(err, gzip.ErrHeader) {
		r.warn(line+1, "bytes that are not gzip follow the gzip stream (zero padding, or something appended): read up to them")
		return nil
	}
	return &LineError{Name: r.info.Name, Line: line + 1, Err: fmt.Errorf("read: %w", err)}
}

// checkLength checks the length of the line just counted.
func (r *Reader) checkLength() error {
	if len(r.long) > MaxLineBytes {
		return &LineError{Name: r.info.Name, Line: r.info.Lines, Err: fmt.Errorf("line longer than %d bytes", MaxLineBytes)}
	}
	return nil
}

func (r *Reader) warn(line int, msg string) {
	if len(r.info.Warnings) >= maxWarnings {
		r.info.MoreWarnings++
		return
	}
	r.info.Warnings = append(r.info.Warnings, fmt.Sprintf("%s:%d: %s", r.info.Name, line, msg))
}

// finish checks what can only be checked at the end.
func (r *Reader) finish() {
	if r.info.Format == FormatUnknown && r.commented {
		// Nothing but comments: perf script --header's of a recording
		// without a sample.
		r.info.Format = FormatPerf
	}
	switch end := r.info.End; {
	case end != nil && end.Events != r.info.Events:
		r.warn(r.info.Lines, fmt.Sprintf("the end line counts %d events, the log holds %d", end.Events, r.info.Events))
	case end == nil && r.info.Start != nil:
		r.warn(r.info.Lines, "no end line: the recording did not stop cleanly (was it killed?); the last events and the final lost count may be missing")
	}
}

var (
	errStartNotFirst = errors.New("a start line is allowed only as the first line")
	errAfterEnd      = errors.New("nothing but comments may follow the end line")
)

// parse reads one line; false when it holds no event.
func (r *Reader) parse(line []byte, ev *event.Event) (bool, error) {
	if r.info.Format == FormatUnknown {
		// Blank lines and comments (perf script --header's, or a note
		// added to a log) say nothing of the format: the first other line
		// does. A byte-order mark an editor wrote is no part of it.
		line = bytes.TrimPrefix(line, byteOrderMark)
		if len(bytes.TrimSpace(line)) == 0 {
			return false, nil
		}
		if output.ClassifyLine(line) == output.LineComment {
			r.commented = true
			return false, nil
		}
		// detect looks ahead in the buffer line is in: a copy outlives it.
		line = bytes.Clone(line)
		if err := r.detect(line); err != nil {
			return false, err
		}
		if r.info.Format == FormatSystemLog {
			// The system log reader reads from this line on, counting its
			// lines itself.
			rest := io.MultiReader(bytes.NewReader(append(line, '\n')), r.br)
			r.info.Lines--
			r.sys = newSystemLog(r, kernlog.NewScanner(rest, r.info.Name))
			return false, nil
		}
	}
	if r.info.Format == FormatPerf {
		return r.perf.Parse(line, ev)
	}

	kind := output.ClassifyLine(line)
	if r.ended && kind != output.LineComment {
		return false, errAfterEnd
	}
	if isJSON := output.IsJSON(line); kind != output.LineComment && isJSON != (r.info.Format == FormatJSON) {
		return false, fmt.Errorf("a line not in the %s format of the lines before it", r.info.Format)
	}
	switch kind {
	case output.LineComment:
		return false, nil
	case output.LineStart:
		if r.info.Start != nil || r.info.Events > 0 {
			return false, errStartNotFirst
		}
		h, err := output.ParseLogStart(line)
		if err != nil {
			return false, err
		}
		r.info.Start = &h
		return false, nil
	case output.LineEnd:
		e, err := output.ParseLogEnd(line)
		if err != nil {
			return false, err
		}
		r.info.End, r.ended = &e, true
		return false, nil
	}

	var err error
	if r.info.Format == FormatJSON {
		err = r.lines.ParseJSON(line, ev)
	} else {
		err = r.lines.ParseText(line, ev)
	}
	if err != nil {
		return false, err
	}
	// The recording's stages derived the rest of the line already.
	ev.Restored = true
	if h := r.info.Start; h != nil && ev.Time.IsZero() {
		// Text lines carry boot time only; the start line ties it to the
		// wall clock.
		ev.Time = h.Start.Add(time.Duration(ev.KtimeNS - h.StartKtimeNS))
	}
	return true, nil
}

// detect tells the format from the first line that is neither blank nor a
// comment. What is neither oomtrace's nor perf script's is read as a
// system log: its forms are many, and its reader tells them apart line by
// line. But if a line of oomtrace's or perf script's follows (in what is
// buffered, 64 KiB), lines were added before a capture: read as a kernel
// log, it would hold no kill, and a gate would pass it.
func (r *Reader) detect(line []byte) error {
	r.info.Format = lineFormat(line)
	switch r.info.Format {
	case FormatPerf:
		r.perf = perfscript.NewParser()
	case FormatUnknown:
		r.info.Format = FormatSystemLog
		ahead, _ := r.br.Peek(r.br.Size())
		for i := 1; ; i++ {
			next, rest, whole := bytes.Cut(ahead, []byte{'\n'})
			if !whole {
				return nil
			}
			if f := lineFormat(bytes.TrimSuffix(next, []byte{'\r'})); f != FormatUnknown { // as Next trims it
				return &LineError{Name: r.info.Name, Line: r.info.Lines + i, Err: fmt.Errorf(
					"this is a line of %s, but line %d is not: were lines added before the log? Remove them", f.what(), r.info.Lines)}
			}
			ahead = rest
		}
	}
	return nil
}

// what names a format in a sentence.
func (f Format) what() string {
	if f == FormatPerf {
		return "perf script's output"
	}
	return "an oomtrace log (" + f.String() + ")"
}
