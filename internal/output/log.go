package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// LogVersion is the version of the log format oomtrace record writes: the
// events in the formats above, between a start line and an end line. A
// reader refuses a log of any other version.
const LogVersion = 1

// LogStart is the first line of a log written by oomtrace record: what was
// traced, where and when.
type LogStart struct {
	Version uint32
	Host    string
	Kernel  string // the kernel release, as uname -r prints it
	Mode    event.Mode
	Start   time.Time // wall clock when tracing began
	// StartKtimeNS is CLOCK_BOOTTIME at Start, so that a reader can give
	// text events, which carry boot time only, their wall-clock time.
	StartKtimeNS uint64
	// ReclaimMin is the threshold of reclaim events: every episode at least
	// this long is an event; reclaim_stats count all of them.
	ReclaimMin time.Duration
	// The filters of the recording; zero values when not set.
	Cgroup  string
	PID     uint32
	Classes []event.Class
}

// LogEnd is the last line of a log written by oomtrace record, written only
// when the recording stopped cleanly: a log without it was cut short.
type LogEnd struct {
	End        time.Time
	EndKtimeNS uint64
	Events     uint64 // event lines in the log
	Lost       uint64 // ring-buffer records lost over the whole recording
	// SkippedRuns are the runs of the tracer's programs the kernel skipped
	// over the whole recording, and SkippedByProgram names their programs
	// as the lost event does (event.Lost).
	SkippedRuns      uint64
	SkippedByProgram string
}

// LineKind says what a line of a log holds.
type LineKind uint8

const (
	LineEvent   LineKind = iota // an event: Parse
	LineStart                   // the start line: ParseLogStart
	LineEnd                     // the end line: ParseLogEnd
	LineComment                 // a text line starting with "# ": readers skip it
)

// The prefixes that mark the start and end lines. An event line can start
// with '#' only as part of a comm longer than the 16 columns it is padded
// to, so never with "# ".
const (
	textStartPrefix = "# oomtrace-log "
	textEndPrefix   = "# oomtrace-log-end "
	jsonTagKey      = "oomtrace_log"
	jsonStartPrefix = `{"` + jsonTagKey + `":"start"`
	jsonEndPrefix   = `{"` + jsonTagKey + `":"end"`
)

// ClassifyLine says what kind of line line is, from its first bytes only;
// the parser of that kind checks the rest.
func ClassifyLine(line []byte) LineKind {
	switch {
	case bytes.HasPrefix(line, []byte(textStartPrefix)), bytes.HasPrefix(line, []byte(jsonStartPrefix)):
		return LineStart
	case bytes.HasPrefix(line, []byte(textEndPrefix)), bytes.HasPrefix(line, []byte(jsonEndPrefix)):
		return LineEnd
	case bytes.HasPrefix(line, []byte("# ")), string(bytes.TrimRight(line, "\n")) == "#":
		return LineComment
	}
	return LineEvent
}

// VersionError is the error for a log whose start line names a version
// this oomtrace does not read.
type VersionError struct{ Version uint32 }

func (e *VersionError) Error() string {
	return fmt.Sprintf("log format version %d is not supported: this oomtrace reads version %d (a newer oomtrace wrote this log?)", e.Version, LogVersion)
}

// metaValue writes and parses one value of a start or end line, in both
// formats, the way codec does for events.
type metaValue interface {
	appendText(dst []byte) []byte
	appendJSON(dst []byte) []byte
	parseText(v textValue) error
	parseJSON(raw []byte) error
	isSet() bool // optional keys are written only when set
}

type metaKey struct {
	name     string
	value    metaValue
	optional bool
}

func startKeys(h *LogStart) []metaKey {
	return []metaKey{
		{name: "version", value: metaInt[uint32]{&h.Version}},
		{name: "host", value: metaString{&h.Host}},
		{name: "kernel", value: metaString{&h.Kernel}},
		{name: "mode", value: metaMode{&h.Mode}},
		{name: "start", value: metaTime{&h.Start}},
		{name: "start_ktime_ns", value: metaInt[uint64]{&h.StartKtimeNS}},
		{name: "reclaim_min_ns", value: metaInt[time.Duration]{&h.ReclaimMin}},
		{name: "cgroup", value: metaString{&h.Cgroup}, optional: true},
		{name: "pid", value: metaInt[uint32]{&h.PID}, optional: true},
		{name: "class", value: metaClasses{&h.Classes}, optional: true},
	}
}

func endKeys(e *LogEnd) []metaKey {
	return []metaKey{
		{name: "end", value: metaTime{&e.End}},
		{name: "end_ktime_ns", value: metaInt[uint64]{&e.EndKtimeNS}},
		{name: "events", value: metaInt[uint64]{&e.Events}},
		{name: "lost", value: metaInt[uint64]{&e.Lost}},
		{name: "skipped_runs", value: metaInt[uint64]{&e.SkippedRuns}, optional: true},
		{name: "skipped_by_program", value: metaString{&e.SkippedByProgram}, optional: true},
	}
}

// AppendLogStart appends h as a start line, newline included. The version
// written is h.Version, or LogVersion when it is zero.
func AppendLogStart(dst []byte, h *LogStart, f Format) []byte {
	c := *h
	if c.Version == 0 {
		c.Version = LogVersion
	}
	return appendMeta(dst, f, textStartPrefix, jsonStartPrefix, startKeys(&c))
}

// AppendLogEnd appends e as an end line, newline included.
func AppendLogEnd(dst []byte, e *LogEnd, f Format) []byte {
	return appendMeta(dst, f, textEndPrefix, jsonEndPrefix, endKeys(e))
}

func appendMeta(dst []byte, f Format, textPrefix, jsonPrefix string, keys []metaKey) []byte {
	if f == JSON {
		dst = append(dst, jsonPrefix...)
		for _, k := range keys {
			if k.optional && !k.value.isSet() {
				continue
			}
			dst = append(dst, ',', '"')
			dst = append(dst, k.name...)
			dst = append(dst, '"', ':')
			dst = k.value.appendJSON(dst)
		}
		return append(dst, '}', '\n')
	}
	dst = append(dst, strings.TrimSuffix(textPrefix, " ")...)
	for _, k := range keys {
		if k.optional && !k.value.isSet() {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, k.name...)
		dst = append(dst, '=')
		dst = k.value.appendText(dst)
	}
	return append(dst, '\n')
}

// WriteLogStart writes h as a start line, after the lines held, in one call
// to the underlying Write.
func (w *Writer) WriteLogStart(h *LogStart) error {
	w.buf = AppendLogStart(w.buf, h, w.opts.Format)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write log start: %w", err)
	}
	return nil
}

// WriteLogEnd writes e as an end line, after the lines held, in one call to
// the underlying Write.
func (w *Writer) WriteLogEnd(e *LogEnd) error {
	w.buf = AppendLogEnd(w.buf, e, w.opts.Format)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write log end: %w", err)
	}
	return nil
}

// ParseLogStart parses a start line in either format. A version other than
// LogVersion is a *VersionError, whatever else the line holds: version is
// always the first key, so that a newer format can change everything after
// it.
func ParseLogStart(line []byte) (LogStart, error) {
	var h LogStart
	keys := startKeys(&h)
	err := parseMeta(line, textStartPrefix, jsonStartPrefix, keys, func() error {
		if h.Version != LogVersion {
			return &VersionError{Version: h.Version}
		}
		return nil
	})
	if err != nil {
		return LogStart{}, err
	}
	return h, nil
}

// ParseLogEnd parses an end line in either format.
func ParseLogEnd(line []byte) (LogEnd, error) {
	var e LogEnd
	if err := parseMeta(line, textEndPrefix, jsonEndPrefix, endKeys(&e), nil); err != nil {
		return LogEnd{}, err
	}
	return e, nil
}

// parseMeta parses the keys of a start or end line into keys. afterFirst,
// when set, is called once the first key is parsed.
func parseMeta(line []byte, textPrefix, jsonPrefix string, keys []metaKey, afterFirst func() error) error {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	seen := make([]bool, len(keys))
	// store parses the value of key name at position pos (0-based) with
	// parse; it keeps the order of the first key and rejects repeats and
	// strangers.
	store := func(pos int, name string, parse func(metaValue) error) error {
		i := indexMetaKey(keys, name)
		switch {
		case i < 0:
			return &ParseError{Key: name, Err: errors.New("unknown key")}
		case seen[i]:
			return &ParseError{Key: name, Err: errors.New("given twice")}
		case (pos == 0) != (i == 0):
			return &ParseError{Key: name, Err: fmt.Errorf("%s must be the first key", keys[0].name)}
		}
		seen[i] = true
		if err := parse(keys[i].value); err != nil {
			return &ParseError{Key: name, Err: err}
		}
		if pos == 0 && afterFirst != nil {
			return afterFirst()
		}
		return nil
	}

	if IsJSON(line) {
		if !bytes.HasPrefix(line, []byte(jsonPrefix)) {
			return &ParseError{Err: fmt.Errorf("want a line starting %s", jsonPrefix)}
		}
		members, err := decodeObject(nil, line)
		if err != nil {
			return objectError(err)
		}
		// The prefix is the first member, the oomtrace_log tag, whole.
		for pos, m := range members[1:] {
			if err := store(pos, string(m.key), func(v metaValue) error { return v.parseJSON(m.value) }); err != nil {
				return err
			}
		}
	} else {
		rest, ok := bytes.CutPrefix(line, []byte(textPrefix))
		if !ok {
			return &ParseError{Err: fmt.Errorf("want a line starting %q", textPrefix)}
		}
		p := textParser{line: line, pos: len(line) - len(rest) - 1}
		for pos := 0; p.pos < len(p.line); pos++ {
			if err := p.space(); err != nil {
				return err
			}
			keyCol := p.pos + 1
			start := p.pos
			for p.pos < len(p.line) && keyByte(p.line[p.pos]) {
				p.pos++
			}
			if p.pos == start || p.pos == len(p.line) || p.line[p.pos] != '=' {
				return p.failf(keyCol, "want key=value")
			}
			name := string(p.line[start:p.pos])
			p.pos++ // '='
			valueCol := p.pos + 1
			v, err := p.value()
			if err != nil {
				return p.fail(valueCol, name, err)
			}
			if err := store(pos, name, func(mv metaValue) error { return mv.parseText(v) }); err != nil {
				var perr *ParseError
				if errors.As(err, &perr) && perr.Column == 0 {
					perr.Column = keyCol
				}
				return err
			}
		}
	}
	for i, k := range keys {
		if !seen[i] && !k.optional {
			return &ParseError{Key: k.name, Err: errMissing}
		}
		if seen[i] && k.optional && !k.value.isSet() {
			return &ParseError{Key: k.name, Err: errors.New("written only when set")}
		}
	}
	return nil
}

func indexMetaKey(keys []metaKey, name string) int {
	for i := range keys {
		if keys[i].name == name {
			return i
		}
	}
	return -1
}

// metaInt is a decimal number; durations in ns.
type metaInt[T integer] struct{ p *T }

func (m metaInt[T]) appendText(dst []byte) []byte { return appendInteger(dst, *m.p) }
func (m metaInt[T]) appendJSON(dst []byte) []byte { return appendInteger(dst, *m.p) }
func (m metaInt[T]) isSet() bool                  { return *m.p != 0 }
func (m metaInt[T]) parseJSON(raw []byte) (err error) {
	*m.p, err = parseInteger[T](raw)
	return err
}

func (m metaInt[T]) parseText(v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	return m.parseJSON(raw)
}

// metaString is a string escaped like a kernel string: quoted in text.
type metaString struct{ p *string }

func (m metaString) appendText(dst []byte) []byte { return appendQuoted(dst, *m.p) }
func (m metaString) appendJSON(dst []byte) []byte { return appendJSONString(dst, *m.p) }
func (m metaString) isSet() bool                  { return *m.p != "" }
func (m metaString) parseJSON(raw []byte) (err error) {
	*m.p, err = kernelString(raw, nil)
	return err
}

func (m metaString) parseText(v textValue) (err error) {
	if !v.quoted {
		return errWantQuoted
	}
	*m.p, err = unescape(v.raw, nil)
	return err
}

// metaTime is a wall-clock time, RFC 3339 with nanoseconds in UTC; a bare
// word in text, a string in JSON.
type metaTime struct{ p *time.Time }

func (m metaTime) appendText(dst []byte) []byte { return appendUTCTime(dst, *m.p) }
func (m metaTime) isSet() bool                  { return !m.p.IsZero() }
func (m metaTime) appendJSON(dst []byte) []byte {
	dst = append(dst, '"')
	dst = m.appendText(dst)
	return append(dst, '"')
}

func (m metaTime) parseJSON(raw []byte) (err error) {
	*m.p, err = parseTime(raw)
	return err
}

func (m metaTime) parseText(v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw))
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time, not %s", quote(raw))
	}
	*m.p = t.UTC()
	return nil
}

type metaMode struct{ p *event.Mode }

func (m metaMode) appendText(dst []byte) []byte { return append(dst, m.p.String()...) }
func (m metaMode) appendJSON(dst []byte) []byte { return appendJSONString(dst, m.p.String()) }
func (m metaMode) isSet() bool                  { return true }
func (m metaMode) parseJSON(raw []byte) error {
	s, err := jsonString(raw, nil)
	if err == nil {
		*m.p, err = event.ParseMode(s)
	}
	return err
}

func (m metaMode) parseText(v textValue) error {
	raw, err := v.bare()
	if err == nil {
		*m.p, err = event.ParseMode(string(raw))
	}
	return err
}

// metaClasses is a list of OOM classes: comma-separated in text, an array
// of strings in JSON.
type metaClasses struct{ p *[]event.Class }

func (m metaClasses) isSet() bool { return len(*m.p) > 0 }
func (m metaClasses) appendText(dst []byte) []byte {
	for i, c := range *m.p {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c.String()...)
	}
	return dst
}

func (m metaClasses) appendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	for i, c := range *m.p {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, c.String())
	}
	return append(dst, ']')
}

func (m metaClasses) parseText(v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	return m.parse(strings.Split(string(raw), ","))
}

func (m metaClasses) parseJSON(raw []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("want an array of strings, not %s", quote(raw))
	}
	names := make([]string, 0, len(items))
	for _, item := range items {
		s, err := jsonString(item, nil)
		if err != nil {
			return err
		}
		names = append(names, s)
	}
	return m.parse(names)
}

func (m metaClasses) parse(names []string) error {
	classes := make([]event.Class, 0, len(names))
	for _, name := range names {
		c, err := event.ParseClass(name)
		if err != nil {
			return err
		}
		classes = append(classes, c)
	}
	*m.p = classes
	return nil
}
