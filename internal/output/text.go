package output

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/oomtrace/oomtrace/internal/event"
)

const (
	commWidth = 16 // perf right-aligns the comm to 16 columns
	emptyComm = `""`
	// unseen stands for a value of the line's header that the source did
	// not see (event.Missing): the task, its process id, the CPU, the time.
	// A comm of "-" is the task's own name unless pid/tid is "-/-".
	unseen      = "-"
	eventPrefix = "oomtrace:"
	nsPerSec    = 1_000_000_000
	nsPerUsec   = 1_000
)

// AppendText appends ev to dst as one line of the text format, newline
// included, and returns the extended buffer. It does not allocate beyond
// growing dst (and what opts.GFPNames does). An event of a kind this package
// does not know is written without keys (and does not parse back).
func AppendText(dst []byte, ev *event.Event, opts Options) []byte {
	noTask := ev.Missing.Lacks(event.MissingTask)
	if noTask {
		dst = appendComm(dst, unseen)
	} else {
		dst = appendComm(dst, ev.Task.Comm)
	}
	dst = append(dst, ' ')
	if noTask || ev.Missing.Lacks(event.MissingTGID) {
		dst = append(dst, unseen...)
	} else {
		dst = strconv.AppendUint(dst, uint64(ev.Task.TGID), 10)
	}
	dst = append(dst, '/')
	if noTask {
		dst = append(dst, unseen...)
	} else {
		dst = strconv.AppendUint(dst, uint64(ev.Task.PID), 10)
	}
	dst = append(dst, ' ', '[')
	if ev.Missing.Lacks(event.MissingCPU) {
		dst = append(dst, unseen...)
	} else {
		dst = appendZeroPadded(dst, uint64(ev.CPU), 3)
	}
	dst = append(dst, ']', ' ')
	if ev.Missing.Lacks(event.MissingKtime) {
		dst = append(dst, unseen...)
	} else {
		dst = strconv.AppendUint(dst, ev.KtimeNS/nsPerSec, 10)
		dst = append(dst, '.')
		dst = appendZeroPadded(dst, ev.KtimeNS%nsPerSec/nsPerUsec, 6)
	}
	dst = append(dst, ':', ' ')
	dst = append(dst, eventPrefix...)
	dst = append(dst, ev.Kind.String()...)
	fields := fieldsOf(ev.Kind)
	for i := nextWritten(fields, 0, ev, &opts); i < len(fields); i = nextWritten(fields, i+1, ev, &opts) {
		f := &fields[i]
		dst = append(dst, f.textPrefix...)
		dst = f.codec.appendText(dst, ev, opts)
	}
	return append(dst, '\n')
}

// appendComm appends the line's leading comm: escaped like a quoted value
// but without quotes and with spaces escaped too, so that it is one token,
// and right-aligned to commWidth columns.
func appendComm(dst []byte, comm string) []byte {
	start := len(dst)
	if comm == "" {
		dst = append(dst, emptyComm...)
	} else {
		dst = appendEscaped(dst, comm, ' ')
	}
	if n := len(dst) - start; n < commWidth {
		pad := commWidth - n
		dst = append(dst, make([]byte, pad)...)
		copy(dst[start+pad:], dst[start:start+n])
		for i := start; i < start+pad; i++ {
			dst[i] = ' '
		}
	}
	return dst
}

func appendZeroPadded(dst []byte, n uint64, width int) []byte {
	var digits [20]byte
	b := strconv.AppendUint(digits[:0], n, 10)
	for i := len(b); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}

// textParser reads one text line from left to right.
type textParser struct {
	line    []byte
	pos     int
	strings *stringTable // makes the strings of the values
	// next is the index of the field after the last key read: keys come in
	// the order of their fields, so it is where the next key is found.
	next int
}

func (p *textParser) fail(col int, key string, err error) error {
	return &ParseError{Column: col, Key: key, Err: err}
}

func (p *textParser) failf(col int, format string, args ...any) error {
	return p.fail(col, "", fmt.Errorf(format, args...))
}

// token returns the bytes up to the next space or the end of the line and
// the column they start at; what names the token for the error when it is
// empty.
func (p *textParser) token(what string) ([]byte, int, error) {
	start := p.pos
	for p.pos < len(p.line) && p.line[p.pos] != ' ' {
		p.pos++
	}
	if p.pos == start {
		return nil, start + 1, p.failf(start+1, "missing %s", what)
	}
	return p.line[start:p.pos], start + 1, nil
}

// space consumes the single space that separates tokens.
func (p *textParser) space() error {
	if p.pos >= len(p.line) || p.line[p.pos] != ' ' {
		return p.failf(p.pos+1, "want a space")
	}
	p.pos++
	return nil
}

// ParseText parses one line written by AppendText, with or without its
// newline. The text format has no wall-clock time, so Time is left zero,
// and it has KtimeNS to the microsecond only.
func ParseText(line []byte) (event.Event, error) {
	var (
		p  Parser
		ev event.Event
	)
	if err := p.ParseText(line, &ev); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

// ParseText is the package's ParseText into ev, which it overwrites; after
// an error ev is the zero Event.
func (p *Parser) ParseText(line []byte, ev *event.Event) error {
	ev.Reset()
	if err := p.parseText(line, ev); err != nil {
		ev.Reset()
		return err
	}
	return nil
}

func (p *Parser) parseText(line []byte, ev *event.Event) error {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	tp := textParser{line: line, strings: p.strings}
	if err := tp.header(ev); err != nil {
		return err
	}
	fields := fieldsOf(ev.Kind)
	seen := p.seenFor(len(fields))
	for tp.pos < len(tp.line) {
		if err := tp.space(); err != nil {
			return err
		}
		if err := tp.pair(ev, fields, seen); err != nil {
			return err
		}
	}
	return checkKeys(ev, fields, seen, func(f *field) string { return f.text })
}

// header parses everything before the first key: comm, pid/tid, cpu, time
// and event name.
func (p *textParser) header(ev *event.Event) error {
	for p.pos < len(p.line) && p.line[p.pos] == ' ' {
		p.pos++
	}
	tok, col, err := p.token("comm")
	if err != nil {
		return err
	}
	if string(tok) != emptyComm {
		if ev.Task.Comm, err = unescape(tok, p.strings); err != nil {
			return p.fail(col, "", fmt.Errorf("comm: %w", err))
		}
	}

	if err := p.space(); err != nil {
		return err
	}
	if tok, col, err = p.token("pid/tid"); err != nil {
		return err
	}
	pid, tid, ok := bytes.Cut(tok, []byte{'/'})
	if !ok {
		return p.failf(col, "want pid/tid, not %s", quote(tok))
	}
	switch {
	case string(tid) == unseen:
		if string(pid) != unseen || ev.Task.Comm != unseen {
			return p.failf(col, "an unseen task is written - -/-, not %s %s", quote([]byte(ev.Task.Comm)), quote(tok))
		}
		ev.Task.Comm = ""
		ev.Missing |= event.MissingTask
	case string(pid) == unseen:
		ev.Missing |= event.MissingTGID
	default:
		if ev.Task.TGID, err = parseInteger[uint32](pid); err != nil {
			return p.fail(col, "", fmt.Errorf("pid: %w", err))
		}
	}
	if !ev.Missing.Lacks(event.MissingTask) {
		if ev.Task.PID, err = parseInteger[uint32](tid); err != nil {
			return p.fail(col+len(pid)+1, "", fmt.Errorf("tid: %w", err))
		}
	}

	if err := p.space(); err != nil {
		return err
	}
	if tok, col, err = p.token("[cpu]"); err != nil {
		return err
	}
	cpu, open := bytes.CutPrefix(tok, []byte{'['})
	cpu, closed := bytes.CutSuffix(cpu, []byte{']'})
	if !open || !closed {
		return p.failf(col, "want [cpu], not %s", quote(tok))
	}
	if string(cpu) == unseen {
		ev.Missing |= event.MissingCPU
	} else if ev.CPU, err = parseInteger[uint32](cpu); err != nil {
		return p.fail(col+1, "", fmt.Errorf("cpu: %w", err))
	}

	if err := p.space(); err != nil {
		return err
	}
	if tok, col, err = p.token("time"); err != nil {
		return err
	}
	if string(tok) == unseen+":" {
		ev.Missing |= event.MissingKtime
	} else if ev.KtimeNS, err = parseSeconds(tok); err != nil {
		return p.fail(col, "", err)
	}

	if err := p.space(); err != nil {
		return err
	}
	if tok, col, err = p.token("event name"); err != nil {
		return err
	}
	name, ok := bytes.CutPrefix(tok, []byte(eventPrefix))
	if !ok {
		return p.failf(col, "want %sEVENT, not %s", eventPrefix, quote(tok))
	}
	if ev.Kind, err = event.ParseKind(p.strings.get(name)); err != nil {
		return p.fail(col+len(eventPrefix), "", err)
	}
	if ev.Missing.Lacks(event.MissingHeader) && !event.MayMissHeader(ev.Kind) {
		return p.failf(1, "%s events have every value of the header", ev.Kind)
	}
	ev.Missing |= mayMissOf(ev.Kind)
	return nil
}

var errSeconds = errors.New("want SECONDS.MICROSECONDS: with six digits after the point")

// parseSeconds parses the "%d.%06d:" time token back into nanoseconds.
func parseSeconds(tok []byte) (uint64, error) {
	tok, ok := bytes.CutSuffix(tok, []byte{':'})
	if !ok {
		return 0, errSeconds
	}
	whole, frac, ok := bytes.Cut(tok, []byte{'.'})
	if !ok || len(frac) != 6 {
		return 0, errSeconds
	}
	sec, err := parseInteger[uint64](whole)
	if err != nil {
		return 0, fmt.Errorf("time: %w", err)
	}
	usec, err := parseInteger[uint64](frac)
	if err != nil {
		return 0, fmt.Errorf("time: %w", err)
	}
	if sec > (math.MaxUint64-usec*nsPerUsec)/nsPerSec {
		return 0, fmt.Errorf("time %s out of range", quote(tok))
	}
	return sec*nsPerSec + usec*nsPerUsec, nil
}

// keyByte reports whether c may appear in a key.
func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// pair parses one key=value and stores the value into ev.
func (p *textParser) pair(ev *event.Event, fields []field, seen []bool) error {
	keyCol := p.pos + 1
	start := p.pos
	for p.pos < len(p.line) && p.line[p.pos] != '=' && p.line[p.pos] != ' ' {
		if c := p.line[p.pos]; !keyByte(c) {
			return p.failf(p.pos+1, "byte %q not allowed in a key", c)
		}
		p.pos++
	}
	key := p.line[start:p.pos]
	if len(key) == 0 {
		return p.failf(keyCol, "missing key")
	}
	if p.pos == len(p.line) || p.line[p.pos] != '=' {
		return p.fail(keyCol, string(key), errors.New("missing '=' and value"))
	}
	p.pos++ // '='

	valueCol := p.pos + 1
	v, err := p.value()
	if err != nil {
		return p.fail(valueCol, string(key), err)
	}
	i := indexField(fields, p.next, func(f *field) bool { return f.text == string(key) })
	if i < 0 {
		return p.fail(keyCol, string(key), errors.New("unknown key"))
	}
	if seen[i] {
		return p.fail(keyCol, string(key), errors.New("given twice"))
	}
	seen[i] = true
	p.next = i + 1
	f := &fields[i]
	if err := f.codec.parseText(ev, v); err != nil {
		return p.fail(valueCol, f.text, err)
	}
	f.parsed(ev)
	return nil
}

// value reads a quoted or bare value.
func (p *textParser) value() (textValue, error) {
	if p.pos < len(p.line) && p.line[p.pos] == '"' {
		p.pos++
		start := p.pos
		for p.pos < len(p.line) && p.line[p.pos] != '"' {
			if p.line[p.pos] == '\\' {
				p.pos++ // the escaped byte cannot end the value
			}
			p.pos++
		}
		if p.pos >= len(p.line) {
			return textValue{}, errors.New("unterminated quoted value")
		}
		v := textValue{raw: p.line[start:p.pos], quoted: true, strings: p.strings}
		p.pos++ // closing quote
		if p.pos < len(p.line) && p.line[p.pos] != ' ' {
			return textValue{}, errors.New("want a space after the closing quote")
		}
		return v, nil
	}
	start := p.pos
	for p.pos < len(p.line) && p.line[p.pos] != ' ' {
		if c := p.line[p.pos]; !bareByte(c) {
			return textValue{}, fmt.Errorf("byte %q not allowed in an unquoted value", c)
		}
		p.pos++
	}
	if p.pos == start {
		return textValue{}, errors.New("missing value")
	}
	return textValue{raw: p.line[start:p.pos], strings: p.strings}, nil
}
