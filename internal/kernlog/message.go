package kernlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Opt is a value a log may or may not show: OK says it was there. A zero
// that the log printed and a value the log did not print are told apart.
type Opt[T any] struct {
	V  T
	OK bool
}

func some[T any](v T) Opt[T] { return Opt[T]{V: v, OK: true} }

// Format is the form of one line of a saved kernel log. It is recognised
// from each line's own prefix, so concatenated logs of several forms read
// as well as one.
type Format uint8

const (
	FormatBare             Format = iota // no prefix: dmesg -t, or a message alone
	FormatKmsg                           // a /dev/kmsg record: PRIO,SEQ,USEC,FLAGS;TEXT
	FormatDmesg                          // dmesg: [  123.456789] TEXT
	FormatDmesgRaw                       // dmesg -r: <PRIO>[  123.456789] TEXT
	FormatDmesgDecoded                   // dmesg -x: kern  :err   : [  123.456789] TEXT
	FormatDmesgCtime                     // dmesg -T: [Wed Dec  2 23:07:50 2026] TEXT (in any locale)
	FormatDmesgISO                       // dmesg --time-format iso: 2026-12-02T23:07:50,428153+00:00 TEXT
	FormatSyslog                         // kern.log, messages, journalctl -o short/short-precise: Dec  2 23:07:51 HOST TAG: TEXT
	FormatSyslogISO                      // rsyslog's RFC 3339 files, journalctl -o short-iso: 2026-12-02T23:07:51.003790+00:00 HOST TAG: TEXT
	FormatJournalMonotonic               // journalctl -o short-monotonic: [ 2880.428153] HOST TAG: TEXT
	FormatJournalJSON                    // journalctl -o json: one JSON object a line
)

var formatNames = [...]string{"bare", "kmsg", "dmesg", "dmesg -r", "dmesg -x", "dmesg -T", "dmesg iso",
	"syslog", "syslog iso", "journal monotonic", "journal json"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// Message is one kernel log message and what its format showed about it.
// Text is the message without any prefix; it holds newlines where the
// kernel printed one record of several lines (the memory state, a v2
// memory.stat before 6.4) or a process name held one.
type Message struct {
	Text   string
	Format Format
	// Line is the input line (from 1) where the message starts.
	Line int
	// Mono is the time since boot the kernel stamped the record with.
	Mono Opt[time.Duration]
	// Wall is the wall-clock time the format printed. When the format
	// prints no time zone (dmesg -T, kern.log) it is that clock reading in
	// UTC; when it prints no year (kern.log), Wall is absent and only
	// TimeText has it. dmesg -T's clock is computed from the boot time and
	// can be off by seconds, more after a suspend.
	Wall Opt[time.Time]
	// TimeText is the wall-clock time as printed, whatever its form.
	TimeText string
	Host     string // syslog and journal formats
	// Transport is the journal's _TRANSPORT: "kernel" for what journald
	// read from /dev/kmsg.
	Transport string
	Tag       string // the syslog tag or journal identifier, without a pid: "kernel", "kubelet"
	TagPID    Opt[int]
	// Facility and Level are the syslog ones (facility 0 is the kernel),
	// where the format shows them.
	Facility Opt[int]
	Level    Opt[int]
	Seq      Opt[uint64] // /dev/kmsg sequence number
	// Cont marks a /dev/kmsg record flagged as continued by the next one.
	Cont bool
}

// FromKernel reports whether the message can be the kernel's own. Messages
// written to /dev/kmsg from user space never have facility 0 (the kernel
// makes them LOG_USER), which /dev/kmsg records, dmesg -x and journal JSON
// show. Syslog and journal lines of another tag than "kernel" are other
// programs'. Where the format shows neither (dmesg, dmesg -T, -t and --time-format
// iso), a forged line cannot be told from the kernel's.
func (m *Message) FromKernel() bool {
	if m.Transport != "" && m.Transport != "kernel" {
		return false
	}
	if m.Facility.OK && m.Facility.V != kernFacility {
		return false
	}
	switch m.Format {
	case FormatSyslog, FormatSyslogISO, FormatJournalMonotonic:
		// A syslog line's <PRI> is anyone's to write, over the network:
		// the tag must be the kernel's too.
		return m.Tag == "kernel"
	}
	return true
}

// SaysKernel reports whether the line's own prefix says the message is the
// kernel's: a kernel log's (dmesg, /dev/kmsg) that shows no other facility,
// or a syslog or journal line of the kernel's. A line that says nothing
// (a message alone) is not. Another program's lines, a kubelet's, are
// looked for among the others only: a kernel line holds what its tasks and
// cgroups are named, which anyone can make read like them.
func (m *Message) SaysKernel() bool {
	return m.Format != FormatBare && m.FromKernel()
}

// Warning is a line that could not be read as its format says, or an OOM
// report line that did not parse. Reading goes on after it.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string {
	if w.File == "" {
		return fmt.Sprintf("line %d: %s", w.Line, w.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
}

// MaxLine is the longest input line read whole; the rest of a longer one is
// dropped with a warning. A /dev/kmsg record escapes at most 1 KiB of text
// (the kernel's limit per record; 8 KiB on some) to 4 times that, and a
// journal JSON object adds a few hundred bytes of fields.
const MaxLine = 64 << 10

// maxJoined bounds a message rejoined from continuation lines.
const maxJoined = 64 << 10

// Scanner reads kernel log messages from a saved log: dmesg output in every
// form, /dev/kmsg records, journalctl's short, short-iso, short-precise,
// short-monotonic and json outputs, kern.log and messages files, each
// possibly gzip-compressed (recognised by its magic number). Memory use is
// bounded by MaxLine whatever the input.
type Scanner struct {
	name string
	br   *bufio.Reader
	src  io.Reader
	// Warn receives every warning; if nil, warnings are kept (the first
	// 100, see Warnings) and counted.
	warnings
	line    int
	err     error
	started bool

	// pending is a message read but not handed out yet: its continuation
	// lines may follow.
	pending    Message
	have       bool
	indent     int // width of pending's prefix; continuation lines are indented by it
	joinedSize int
	cur        Message
	// journalHost is the host of the last journal short-monotonic line,
	// which tells later lines of that form from dmesg lines.
	journalHost string
}

// NewScanner reads the log in r; name (a file name, or "-") is used in
// warnings.
func NewScanner(r io.Reader, name string) *Scanner {
	return &Scanner{name: name, src: r}
}

const maxKeptWarnings = 100

// warnings hands each warning to Warn or, when Warn is nil, keeps the first
// maxKeptWarnings; it counts them all.
type warnings struct {
	Warn func(Warning)
	kept []Warning
	n    int
}

func (ws *warnings) add(w Warning) {
	ws.n++
	if ws.Warn != nil {
		ws.Warn(w)
		return
	}
	if len(ws.kept) < maxKeptWarnings {
		ws.kept = append(ws.kept, w)
	}
}

// Warnings returns the warnings kept (when Warn is nil) and how many there
// were in all.
func (ws *warnings) Warnings() ([]Warning, int) { return ws.kept, ws.n }

func (s *Scanner) warn(line int, format string, args ...any) {
	s.add(Warning{File: s.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (s *Scanner) start() error {
	s.started = true
	br := bufio.NewReaderSize(s.src, 64<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("read gzip header of %s: %w", s.name, err)
		}
		s.br = bufio.NewReaderSize(zr, 64<<10)
		return nil
	}
	s.br = br
	return nil
}

// readLine returns the next line without its newline, cut at MaxLine.
func (s *Scanner) readLine() (string, bool) {
	chunk, err := s.br.ReadSlice('\n')
	if err == nil {
		// The common case: a whole line in the buffer.
		s.line++
		return string(trimEOL(chunk)), true
	}
	buf := append([]byte(nil), chunk...)
	cut := len(buf) > MaxLine
	if cut {
		buf = buf[:MaxLine]
	}
	for errors.Is(err, bufio.ErrBufferFull) {
		chunk, err = s.br.ReadSlice('\n')
		if len(buf)+len(chunk) <= MaxLine {
			buf = append(buf, chunk...)
		} else if !cut {
			buf = append(buf, chunk[:MaxLine-len(buf)]...)
			cut = true
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = fmt.Errorf("read %s: %w", s.name, err)
	}
	if err != nil && len(buf) == 0 {
		return "", false
	}
	s.line++
	if cut {
		s.warn(s.line, "line longer than %d bytes, cut", MaxLine)
	}
	return string(trimEOL(buf)), true
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// Scan advances to the next message. It returns false at the end of the
// input or on a read error (see Err).
func (s *Scanner) Scan() bool {
	if !s.started {
		if err := s.start(); err != nil {
			s.err = err
			return false
		}
	}
	for {
		line, ok := s.readLine()
		if !ok {
			if s.have {
				s.cur, s.have = s.pending, false
				return true
			}
			return false
		}
		if s.have && s.isContinuation(line) {
			rest := trimIndent(line, s.indent)
			if s.joinedSize+len(rest) < maxJoined {
				s.pending.Text += "\n" + rest
				s.joinedSize += len(rest) + 1
			} else {
				s.warn(s.line, "message continued past %d bytes, rest dropped", maxJoined)
			}
			continue
		}
		if line == "" {
			// printk strips a message's last newline: nothing continues
			// over an empty line.
			if s.have {
				s.cur, s.have = s.pending, false
				return true
			}
			continue
		}
		m, indent, ok := s.parseLine(line)
		if !ok {
			continue
		}
		m.Line = s.line
		prev, had := s.pending, s.have
		s.pending, s.have, s.indent, s.joinedSize = m, true, indent, len(m.Text)
		if had {
			s.cur = prev
			return true
		}
	}
}

// Message returns the message Scan found.
func (s *Scanner) Message() Message { return s.cur }

// Err returns the first error reading the input, not counting its end.
func (s *Scanner) Err() error { return s.err }

// isContinuation reports whether line continues the pending message: dmesg
// and journalctl print the lines after a newline in a message indented by
// the width of their prefix, with no prefix of their own.
func (s *Scanner) isContinuation(line string) bool {
	if s.indent == 0 || line == "" || line[0] != ' ' {
		return false
	}
	switch s.pending.Format {
	case FormatKmsg, FormatJournalJSON:
		return false // dictionary lines, handled there
	}
	return !hasPrefix(line)
}

var (
	kmsgPrefix  = regexp.MustCompile(`^([0-9]+),([0-9]+),([0-9]+),([^;]*);`)
	callerStamp = regexp.MustCompile(`^ ?\[ *[TC][0-9]+\]`)
	decodedPrio = regexp.MustCompile(`^([a-z0-9]+) *:([a-z]+) *: `)
	rawPrio     = regexp.MustCompile(`^<([0-9]+)>`)
	ctimeStamp  = regexp.MustCompile(`^\[([^\]]{8,48} [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4})\] `)
	dmesgISO    = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}),([0-9]+)([+-][0-9]{2}:?[0-9]{2}) `)
	isoStamp    = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})) `)
	// A host as journalctl prints it: a host name, which has none of the
	// ':', '=', '/', ',' and brackets that the first word of the kernel's
	// OOM lines has where a cgroup's name is in it ("oom-kill:…,
	// oom_memcg=/x kernel: …").
	hostTag      = regexp.MustCompile(`^([^\s:=/,()\[\]"]+) ([^\s:\[]+)(?:\[([0-9]+)\])?: ?`)
	journalFirst = regexp.MustCompile(`^ ([^\s:=/,()\[\]"]+) kernel: `)
)

// hasPrefix reports whether line starts with a prefix of a known form.
func hasPrefix(line string) bool {
	if line[0] == ' ' {
		return false
	}
	_, _, n := matchMono(line)
	return n > 0 || kmsgPrefix.MatchString(line) || decodedPrio.MatchString(line) ||
		rawPrio.MatchString(line) || ctimeStamp.MatchString(line) || dmesgISO.MatchString(line) ||
		matchSyslogStamp(line) > 0 || isoStamp.MatchString(line) || line[0] == '{'
}

var levelNames = map[string]int{"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}

var facilityNames = map[string]int{"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
	"news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18,
	"local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}

// parseLine reads one line's prefix. indent is the prefix's width when
// continuation lines of the message would be indented by it, else 0.
func (s *Scanner) parseLine(line string) (m Message, indent int, ok bool) {
	switch {
	case line[0] == '{':
		return s.parseJSON(line)
	case isDigit(line[0]) && kmsgPrefix.MatchString(line):
		return s.parseKmsg(line)
	}
	m.Format = FormatBare
	rest := line
	if c := rest[0]; c >= 'a' && c <= 'z' {
		if g := decodedPrio.FindStringSubmatch(rest); g != nil {
			fac, fok := facilityNames[g[1]]
			lvl, lok := levelNames[g[2]]
			if fok && lok {
				m.Format, m.Facility, m.Level = FormatDmesgDecoded, some(fac), some(lvl)
				rest = rest[len(g[0]):]
			}
		}
	} else if g := findRawPrio(rest); g != nil {
		if p, err := strconv.Atoi(g[1]); err == nil && p < 1<<10 {
			if sm, indent, ok := s.parsePrioSyslog(rest[len(g[0]):], p); ok {
				return sm, indent + len(g[0]), true
			}
			m.Format, m.Level = FormatDmesgRaw, some(p&7)
			// util-linux dmesg -r prints the level alone for kernel
			// messages; a facility above 0 is shown, 0 is not proof.
			if p>>3 != 0 {
				m.Facility = some(p >> 3)
			}
			rest = rest[len(g[0]):]
		}
	}
	if sec, frac, n := matchMono(rest); n > 0 {
		m.Mono = parseMono(sec, frac)
		rest = rest[n:]
		if c := findCaller(rest); c != "" {
			rest = rest[len(c):]
		}
		if m.Format == FormatBare {
			m.Format = FormatDmesg
			// journalctl -o short-monotonic: "[ 2880.428153] HOST TAG: TEXT",
			// each line by its own: the file may start with another
			// program's line, or follow a dmesg. A line of the kernel's, one
			// whose tag has a process id (no kernel line has "WORD
			// WORD[PID]: "), or one of the host already seen is.
			if h := hostTag.FindStringSubmatch(strings.TrimPrefix(rest, " ")); h != nil &&
				(journalFirst.MatchString(rest) || h[3] != "" || s.journalHost != "" && h[1] == s.journalHost) {
				s.journalHost = h[1]
				m.Format = FormatJournalMonotonic
				m.Host, m.Tag = h[1], h[2]
				if h[3] != "" {
					if pid, err := strconv.Atoi(h[3]); err == nil {
						m.TagPID = some(pid)
					}
				}
				rest = strings.TrimPrefix(rest, " ")[len(h[0]):]
				m.Text = rest
				return m, len(line) - len(rest), true
			}
		}
		rest = strings.TrimPrefix(rest, " ")
		m.Text = rest
		return m, len(line) - len(rest), true
	}
	if m.Format != FormatBare {
		m.Text = rest
		return m, len(line) - len(rest), true
	}
	if g := findCtime(rest); g != nil {
		m.Format, m.TimeText = FormatDmesgCtime, g[1]
		if t, err := time.Parse("Mon Jan _2 15:04:05 2006", g[1]); err == nil {
			m.Wall = some(t)
		}
		rest = rest[len(g[0]):]
		m.Text = rest
		return m, len(line) - len(rest), true
	}
	if g := findDmesgISO(rest); g != nil {
		m.Format, m.TimeText = FormatDmesgISO, g[0][:len(g[0])-1]
		if t, err := time.Parse("2006-01-02T15:04:05.999999999-07:00", g[1]+"."+g[2]+fixZone(g[3])); err == nil {
			m.Wall = some(t)
		}
		rest = rest[len(g[0]):]
		m.Text = rest
		return m, len(line) - len(rest), true
	}
	var stamp string
	if n := matchSyslogStamp(rest); n > 0 {
		m.Format, stamp = FormatSyslog, rest[:n]
		m.TimeText = stamp
	} else if g := findISO(rest); g != nil {
		m.Format, stamp = FormatSyslogISO, g[1]
		m.TimeText = stamp
		if t, err := time.Parse(time.RFC3339Nano, fixISOZone(stamp)); err == nil {
			m.Wall = some(t)
		}
	}
	if stamp != "" {
		after := rest[len(stamp)+1:]
		host, tag, pid, n := splitHostTag(after)
		if n < 0 {
			s.warn(s.line, "syslog line without HOST TAG: after its time")
			m.Text = after
			return m, 0, true
		}
		m.Host, m.Tag = host, tag
		if pid != "" {
			if v, err := strconv.Atoi(pid); err == nil {
				m.TagPID = some(v)
			}
		}
		m.Mono, rest = kernelStamp(after[n:])
		m.Text = rest
		return m, len(line) - len(rest), true
	}
	m.Text = line
	return m, 0, true
}

// rfc5424Header is what follows the PRI of an RFC 5424 line: VERSION,
// TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID and STRUCTURED-DATA.
var rfc5424Header = regexp.MustCompile(`^1 (\S+) (\S+) (\S+) (\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: |$)`)

// parsePrioSyslog reads rest, a line after its <PRI>, as a syslog line
// where it is one: RFC 5424, or RFC 3164 as syslog daemons send and some
// store it ("<4>Dec  2 23:07:36 HOST TAG: TEXT"). Not the <PRI> of
// dmesg -r, which a monotonic stamp or the text follows.
func (s *Scanner) parsePrioSyslog(rest string, prio int) (m Message, indent int, ok bool) {
	// Each line of dmesg -r comes here: the regular expression only for
	// a line that starts as RFC 5424's do.
	if g := findRFC5424(rest); g != nil {
		m.Format, m.Host, m.Tag = FormatSyslogISO, nilValue(g[2]), nilValue(g[3])
		if stamp := nilValue(g[1]); stamp != "" {
			m.TimeText = stamp
			if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
				m.Wall = some(t)
			}
		}
		if pid, err := strconv.Atoi(g[4]); err == nil {
			m.TagPID = some(pid)
		}
		m.Mono, m.Text = kernelStamp(strings.TrimPrefix(rest[len(g[0]):], "\ufeff"))
		indent = len(rest) - len(m.Text)
	} else if matchSyslogStamp(rest) > 0 || findISO(rest) != nil {
		if m, indent, ok = s.parseLine(rest); !ok || m.Format != FormatSyslog && m.Format != FormatSyslogISO {
			return Message{}, 0, false
		}
	} else {
		return Message{}, 0, false
	}
	// A syslog PRI names the facility, the kernel's (0) included.
	m.Facility, m.Level = some(prio>>3), some(prio&7)
	return m, indent, true
}

// kernelStamp takes the kernel's own time since boot, and the caller id
// after it, from the start of a syslog message, as rsyslog's imklog and
// syslog-ng keep them there.
func kernelStamp(text string) (mono Opt[time.Duration], rest string) {
	sec, frac, n := matchMono(text)
	if n == 0 {
		return mono, text
	}
	rest = strings.TrimPrefix(text[n:], " ")
	if c := findCaller(rest); c != "" {
		rest = strings.TrimPrefix(rest[len(c):], " ")
	}
	return parseMono(sec, frac), rest
}

func findRFC5424(s string) []string {
	if !strings.HasPrefix(s, "1 ") {
		return nil
	}
	return rfc5424Header.FindStringSubmatch(s)
}

// nilValue is an RFC 5424 header field, "" for its NILVALUE "-".
func nilValue(field string) string {
	if field == "-" {
		return ""
	}
	return field
}

func fixZone(z string) string {
	if len(z) == 5 { // +0000
		return z[:3] + ":" + z[3:]
	}
	return z
}

func fixISOZone(s string) string {
	if strings.HasSuffix(s, "Z") {
		return s
	}
	if i := len(s) - 5; i > 0 && (s[i] == '+' || s[i] == '-') {
		return s[:i] + fixZone(s[i:])
	}
	return s
}

func parseMono(sec, frac string) Opt[time.Duration] {
	if len(sec) > 10 || len(sec) == 0 || len(frac) == 0 {
		return Opt[time.Duration]{}
	}
	var secs, ns int64
	for i := 0; i < len(sec); i++ {
		secs = secs*10 + int64(sec[i]-'0')
	}
	for i := 0; i < 9; i++ {
		ns *= 10
		if i < len(frac) {
			ns += int64(frac[i] - '0')
		}
	}
	return some(time.Duration(secs)*time.Second + time.Duration(ns))
}

func (s *Scanner) parseKmsg(line string) (Message, int, bool) {
	rec, err := parseRecord([]byte(line))
	if err != nil {
		s.warn(s.line, "%v", err)
		return Message{}, 0, false
	}
	m := Message{Format: FormatKmsg, Text: rec.message, Facility: some(rec.facility), Level: some(rec.level),
		Seq: some(rec.seq), Mono: some(time.Duration(rec.usec) * time.Microsecond), Cont: rec.cont}
	// Dictionary lines follow, indented by one space: skip them.
	for {
		b, err := s.br.Peek(1)
		if err != nil || b[0] != ' ' {
			break
		}
		if _, ok := s.readLine(); !ok {
			break
		}
	}
	return m, 0, true
}

// journalEntry holds the fields of a journalctl -o json entry this package
// reads. MESSAGE is a string, or an array of bytes when it is not valid
// UTF-8 (or has control characters).
type journalEntry struct {
	Message       json.RawMessage `json:"MESSAGE"`
	Transport     string          `json:"_TRANSPORT"`
	Facility      string          `json:"SYSLOG_FACILITY"`
	Priority      string          `json:"PRIORITY"`
	Identifier    string          `json:"SYSLOG_IDENTIFIER"`
	PID           string          `json:"SYSLOG_PID"`
	Hostname      string          `json:"_HOSTNAME"`
	SourceMono    string          `json:"_SOURCE_MONOTONIC_TIMESTAMP"`
	Realtime      string          `json:"__REALTIME_TIMESTAMP"`
	SourceRealtim string          `json:"_SOURCE_REALTIME_TIMESTAMP"`
	Unit          string          `json:"_SYSTEMD_UNIT"`
}

func (s *Scanner) parseJSON(line string) (Message, int, bool) {
	var e journalEntry
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		s.warn(s.line, "journal JSON entry: %v", err)
		return Message{}, 0, false
	}
	m := Message{Format: FormatJournalJSON, Host: e.Hostname, Tag: e.Identifier, Transport: e.Transport}
	switch {
	case len(e.Message) > 0 && e.Message[0] == '"':
		if err := json.Unmarshal(e.Message, &m.Text); err != nil {
			s.warn(s.line, "journal MESSAGE: %v", err)
			return Message{}, 0, false
		}
	case len(e.Message) > 0 && e.Message[0] == '[':
		var b []byte
		var ints []int
		if err := json.Unmarshal(e.Message, &ints); err != nil {
			s.warn(s.line, "journal MESSAGE bytes: %v", err)
			return Message{}, 0, false
		}
		for _, v := range ints {
			b = append(b, byte(v))
		}
		m.Text = string(b)
	default:
		s.warn(s.line, "journal entry without MESSAGE")
		return Message{}, 0, false
	}
	if v, err := strconv.Atoi(e.Facility); err == nil {
		m.Facility = some(v)
	}
	if v, err := strconv.Atoi(e.Priority); err == nil {
		m.Level = some(v)
	}
	if v, err := strconv.Atoi(e.PID); err == nil {
		m.TagPID = some(v)
	}
	if v, err := strconv.ParseInt(e.SourceMono, 10, 64); err == nil {
		m.Mono = some(time.Duration(v) * time.Microsecond)
	}
	rt := e.SourceRealtim
	if rt == "" {
		rt = e.Realtime
	}
	if v, err := strconv.ParseInt(rt, 10, 64); err == nil {
		m.Wall = some(time.UnixMicro(v).UTC())
		m.TimeText = rt
	}
	return m, 0, true
}

// trimIndent removes up to n leading spaces: dmesg indents the lines after a
// newline in a message by the width of the prefix.
func trimIndent(line string, n int) string {
	i := 0
	for i < n && i < len(line) && line[i] == ' ' {
		i++
	}
	return line[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// matchMono matches "[  123.456789]" at the start of s and returns its
// seconds, fraction and length; n is 0 if s does not start with one.
func matchMono(s string) (sec, frac string, n int) {
	if len(s) < 4 || s[0] != '[' {
		return "", "", 0
	}
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i || j >= len(s) || s[j] != '.' {
		return "", "", 0
	}
	k := j + 1
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	if k == j+1 || k >= len(s) || s[k] != ']' {
		return "", "", 0
	}
	return s[i:j], s[j+1 : k], k + 1
}

// matchSyslogStamp matches "Dec  2 23:07:51" or "Dec 02 23:07:51.003790"
// followed by a space, and returns the stamp's length (0 if none).
func matchSyslogStamp(s string) int {
	if len(s) < 16 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'a' || s[1] > 'z' || s[2] < 'a' || s[2] > 'z' || s[3] != ' ' {
		return 0
	}
	i := 4
	switch {
	case s[4] == ' ' && isDigit(s[5]):
		i = 6
	case isDigit(s[4]) && isDigit(s[5]):
		i = 6
	case isDigit(s[4]) && s[5] == ' ':
		i = 5
	default:
		return 0
	}
	if i+9 > len(s) || s[i] != ' ' {
		return 0
	}
	t := s[i+1:]
	if !isDigit(t[0]) || !isDigit(t[1]) || t[2] != ':' || !isDigit(t[3]) || !isDigit(t[4]) || t[5] != ':' || !isDigit(t[6]) || !isDigit(t[7]) {
		return 0
	}
	n := i + 9
	if n < len(s) && s[n] == '.' {
		n++
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	if n >= len(s) || s[n] != ' ' {
		return 0
	}
	return n
}

// looksISO is a quick test for "2026-12-02T".
func looksISO(s string) bool {
	return len(s) > 20 && isDigit(s[0]) && s[4] == '-' && s[7] == '-' && s[10] == 'T'
}

// splitHostTag reads "HOST TAG[PID]: " or "HOST TAG: " and returns its
// parts and length, or n < 0.
func splitHostTag(s string) (host, tag, pid string, n int) {
	sp := strings.IndexByte(s, ' ')
	if sp <= 0 {
		return "", "", "", -1
	}
	host = s[:sp]
	i := sp + 1
	j := i
	for j < len(s) && s[j] != ':' && s[j] != '[' && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	if j == i || j >= len(s) {
		return "", "", "", -1
	}
	tag = s[i:j]
	if s[j] == '[' {
		k := j + 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j+1 || k >= len(s) || s[k] != ']' {
			return "", "", "", -1
		}
		pid, j = s[j+1:k], k+1
	}
	if j >= len(s) || s[j] != ':' {
		return "", "", "", -1
	}
	j++
	if j < len(s) && s[j] == ' ' {
		j++
	}
	return host, tag, pid, j
}

func hasCaller(s string) bool {
	return len(s) > 3 && (s[0] == '[' || s[0] == ' ' && s[1] == '[')
}

func findCaller(s string) string {
	if !hasCaller(s) {
		return ""
	}
	return callerStamp.FindString(s)
}

func findRawPrio(s string) []string {
	if s[0] != '<' {
		return nil
	}
	return rawPrio.FindStringSubmatch(s)
}

func findCtime(s string) []string {
	if s[0] != '[' || len(s) < 2 || s[1] == ' ' || isDigit(s[1]) {
		return nil
	}
	return ctimeStamp.FindStringSubmatch(s)
}

func findDmesgISO(s string) []string {
	if !looksISO(s) {
		return nil
	}
	return dmesgISO.FindStringSubmatch(s)
}

func findISO(s string) []string {
	if !looksISO(s) {
		return nil
	}
	return isoStamp.FindStringSubmatch(s)
}
