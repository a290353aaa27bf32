package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// AppendJSON appends ev to dst as one JSON object on one line, newline
// included, and returns the extended buffer. Like AppendText it does not
// allocate beyond growing dst. The output is printable ASCII.
func AppendJSON(dst []byte, ev *event.Event, opts Options) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, ev.Kind.String())
	if !ev.Time.IsZero() {
		dst = append(dst, `,"time":"`...)
		dst = appendUTCTime(dst, ev.Time)
		dst = append(dst, '"')
	}
	// A header value the source did not see is left out (event.Missing).
	if !ev.Missing.Lacks(event.MissingKtime) {
		dst = append(dst, `,"ktime_ns":`...)
		dst = strconv.AppendUint(dst, ev.KtimeNS, 10)
	}
	if !ev.Missing.Lacks(event.MissingCPU) {
		dst = append(dst, `,"cpu":`...)
		dst = strconv.AppendUint(dst, uint64(ev.CPU), 10)
	}
	if !ev.Missing.Lacks(event.MissingTask | event.MissingTGID) {
		dst = append(dst, `,"pid":`...)
		dst = strconv.AppendUint(dst, uint64(ev.Task.TGID), 10)
	}
	if !ev.Missing.Lacks(event.MissingTask) {
		dst = append(dst, `,"tid":`...)
		dst = strconv.AppendUint(dst, uint64(ev.Task.PID), 10)
		dst = append(dst, `,"comm":`...)
		dst = appendJSONString(dst, ev.Task.Comm)
	}

	// A kind's keys in one object are listed together, so each object is
	// opened once, at its first key the event has.
	open := ""
	needComma := true
	fields := fieldsOf(ev.Kind)
	for i := nextWritten(fields, 0, ev, &opts); i < len(fields); i = nextWritten(fields, i+1, ev, &opts) {
		f := &fields[i]
		if f.jsonObject != open {
			if open != "" {
				dst = append(dst, '}')
			}
			if f.jsonObject != "" {
				dst = append(dst, f.jsonOpen...)
				needComma = false
			}
			open = f.jsonObject
		}
		if needComma {
			dst = append(dst, ',')
		}
		needComma = true
		dst = append(dst, f.jsonPrefix...)
		dst = f.codec.appendJSON(dst, ev, opts)
	}
	if open != "" {
		dst = append(dst, '}')
	}
	return append(dst, '}', '\n')
}

// appendUTCTime appends t in UTC as time.RFC3339Nano formats it
// ("2006-01-02T15:04:05.999999999Z", the fraction without its trailing
// zeros) in a fraction of the time: every JSON line has a time. Years
// outside 0 to 9999 are left to AppendFormat.
func appendUTCTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	if nsec := t.Nanosecond(); nsec != 0 {
		digits := 9
		for nsec%10 == 0 {
			nsec /= 10
			digits--
		}
		dst = append(dst, '.')
		dst = appendDigits(dst, nsec, digits)
	}
	return append(dst, 'Z')
}

// appendDigits appends n, which is at least 0, as exactly width decimal
// digits, zero-padded.
func appendDigits(dst []byte, n, width int) []byte {
	dst = append(dst, "000000000"[:width]...)
	for i := len(dst) - 1; n > 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
	return dst
}

// member is one key and its undecoded value, in the order of the object.
type member struct {
	key   []byte
	value json.RawMessage
}

// decodeObject splits a JSON object into its members, appended to
// dst[:0]. Unlike encoding/json it rejects a key given twice instead of
// keeping the last.
func decodeObject(dst []member, data []byte) ([]member, error) {
	if members, ok := splitObject(dst, data); ok {
		return members, nil
	}
	return decodeObjectSlowly(data)
}

// splitObject is decodeObject for the lines oomtrace writes, several times
// faster: logs of millions of lines must read in seconds. It checks the
// JSON syntax as it goes, and gives up (false) on anything unusual: invalid
// JSON, escaped or non-ASCII keys, a key given twice, deep nesting. Those,
// with their exact errors, are left to decodeObjectSlowly.
func splitObject(dst []member, data []byte) ([]member, bool) {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return nil, false
	}
	members := dst[:0]
	if members == nil {
		members = make([]member, 0, 16) // room for the members of any line
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return members, skipSpace(data, i+1) == len(data)
	}
	for {
		if i == len(data) || data[i] != '"' {
			return nil, false
		}
		end, ok := scanString(data, i)
		key := data[i+1 : max(end-1, i+1)]
		if !ok || !plainASCII(key) {
			return nil, false
		}
		if i = skipSpace(data, end); i == len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		if end, ok = scanValue(data, i, 0); !ok || indexMember(members, string(key)) >= 0 {
			return nil, false
		}
		members = append(members, member{key, data[i:end]})
		switch i = skipSpace(data, end); {
		case i < len(data) && data[i] == ',':
			i = skipSpace(data, i+1)
		case i < len(data) && data[i] == '}':
			return members, skipSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// scanString checks the string literal at data[i] and returns the index
// just past it.
func scanString(data []byte, i int) (int, bool) {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if i++; i == len(data) {
				return 0, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return 0, false
				}
				for _, h := range data[i+1 : i+5] {
					if _, ok := unhex(h); !ok {
						return 0, false
					}
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// maxNesting bounds the recursion of scanValue; deeper values are left
// to encoding/json.
const maxNesting = 64

// scanValue checks the value at data[i] and returns the index just past
// it.
func scanValue(data []byte, i, depth int) (int, bool) {
	if i == len(data) || depth > maxNesting {
		return 0, false
	}
	switch data[i] {
	case '"':
		return scanString(data, i)
	case '{', '[':
		closing := byte('}')
		if data[i] == '[' {
			closing = ']'
		}
		if i = skipSpace(data, i+1); i < len(data) && data[i] == closing {
			return i + 1, true
		}
		for {
			if closing == '}' {
				if i == len(data) || data[i] != '"' {
					return 0, false
				}
				end, ok := scanString(data, i)
				if !ok {
					return 0, false
				}
				if i = skipSpace(data, end); i == len(data) || data[i] != ':' {
					return 0, false
				}
				i = skipSpace(data, i+1)
			}
			end, ok := scanValue(data, i, depth+1)
			if !ok {
				return 0, false
			}
			switch i = skipSpace(data, end); {
			case i < len(data) && data[i] == ',':
				i = skipSpace(data, i+1)
			case i < len(data) && data[i] == closing:
				return i + 1, true
			default:
				return 0, false
			}
		}
	case 't':
		return scanLiteral(data, i, "true")
	case 'f':
		return scanLiteral(data, i, "false")
	case 'n':
		return scanLiteral(data, i, "null")
	}
	return scanNumber(data, i)
}

func scanLiteral(data []byte, i int, literal string) (int, bool) {
	if !bytes.HasPrefix(data[i:], []byte(literal)) {
		return 0, false
	}
	return i + len(literal), true
}

// scanNumber checks -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at
// data[i].
func scanNumber(data []byte, i int) (int, bool) {
	digits := func() bool {
		start := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case !digits():
		return 0, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	return i, true
}

// plainASCII reports whether s is printable ASCII without '"' or '\\': the
// contents of a JSON string literal that decodes to itself.
func plainASCII(s []byte) bool {
	for _, c := range s {
		if !printable(c) || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// decodeObjectSlowly is decodeObject with encoding/json's decoder, which
// explains what is wrong with a line.
func decodeObjectSlowly(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("want a JSON object")
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a key, not %v", tok)
		}
		if indexMember(members, key) >= 0 {
			return nil, &ParseError{Key: key, Err: errors.New("given twice")}
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		members = append(members, member{[]byte(key), value})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return members, nil
}

// objectError turns an error of decodeObject into a *ParseError.
func objectError(err error) error {
	var perr *ParseError
	if errors.As(err, &perr) {
		return err
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return &ParseError{Column: int(syntax.Offset), Err: err}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("truncated JSON object")
	}
	return &ParseError{Err: err}
}

func indexMember(members []member, key string) int {
	for i := range members {
		if string(members[i].key) == key {
			return i
		}
	}
	return -1
}

// headerKeys are the keys of a JSON event's header besides event and
// time, and what the event lacks when one is left out.
var headerKeys = [...]struct {
	key     string
	missing event.Missing
}{
	{"ktime_ns", event.MissingKtime},
	{"cpu", event.MissingCPU},
	{"pid", event.MissingTGID},
	{"tid", event.MissingTask},
	{"comm", event.MissingTask},
}

// ParseJSON parses one line written by AppendJSON, with or without its
// newline. Time comes back in UTC.
func ParseJSON(line []byte) (event.Event, error) {
	var (
		p  Parser
		ev event.Event
	)
	if err := p.ParseJSON(line, &ev); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

// ParseJSON is the package's ParseJSON into ev, which it overwrites; after
// an error ev is the zero Event.
func (p *Parser) ParseJSON(line []byte, ev *event.Event) error {
	ev.Reset()
	if err := p.parseJSON(line, ev); err != nil {
		ev.Reset()
		return err
	}
	return nil
}

func (p *Parser) parseJSON(line []byte, ev *event.Event) error {
	members, err := decodeObject(p.members, line)
	if err != nil {
		return objectError(err)
	}
	p.members = members

	// The kind decides which other keys there are, so it comes first.
	i := indexMember(members, "event")
	if i < 0 {
		return &ParseError{Key: "event", Err: errMissing}
	}
	name, err := jsonString(members[i].value, p.strings)
	if err == nil {
		ev.Kind, err = event.ParseKind(name)
	}
	if err != nil {
		return &ParseError{Key: "event", Err: err}
	}
	if err := parseHeaderPresence(members, ev); err != nil {
		return err
	}
	ev.Missing |= mayMissOf(ev.Kind)

	fields := fieldsOf(ev.Kind)
	jp := jsonParser{Parser: p, ev: ev, fields: fields}
	p.seenFor(len(fields))
	for _, m := range members {
		if err := jp.member(m); err != nil {
			return err
		}
	}
	return checkKeys(ev, fields, p.seen, func(f *field) string { return f.json })
}

// parseHeaderPresence sets what ev lacks of its header from the keys the
// line leaves out, where its kind allows any to be left out. tid and comm
// name the task: both or neither, and a task's process can go unseen, not a
// process without its task.
func parseHeaderPresence(members []member, ev *event.Event) error {
	mayMiss := event.MayMissHeader(ev.Kind)
	for _, h := range headerKeys {
		if indexMember(members, h.key) >= 0 {
			continue
		}
		if !mayMiss {
			return &ParseError{Key: h.key, Err: errMissing}
		}
		ev.Missing |= h.missing
	}
	hasTID, hasComm := indexMember(members, "tid") >= 0, indexMember(members, "comm") >= 0
	switch {
	case hasTID && !hasComm:
		return &ParseError{Key: "comm", Err: errMissing}
	case hasComm && !hasTID:
		return &ParseError{Key: "tid", Err: errMissing}
	case !hasTID && indexMember(members, "pid") >= 0:
		return &ParseError{Key: "pid", Err: errUnexpected}
	case !hasTID:
		ev.Missing &^= event.MissingTGID // said by MissingTask
	}
	return nil
}

// jsonParser stores the members of one JSON line into its event.
type jsonParser struct {
	*Parser
	ev     *event.Event
	fields []field
	// next is the index of the field after the last key read: keys come in
	// the order of their fields, so it is where the next key is found.
	next int
}

// member stores one top-level member.
func (p *jsonParser) member(m member) error {
	var err error
	ev := p.ev
	switch string(m.key) {
	case "event":
		return nil // read first, by parseJSON
	case "time":
		ev.Time, err = parseTime(m.value)
	case "ktime_ns":
		ev.KtimeNS, err = parseInteger[uint64](m.value)
	case "cpu":
		ev.CPU, err = parseInteger[uint32](m.value)
	case "pid":
		ev.Task.TGID, err = parseInteger[uint32](m.value)
	case "tid":
		ev.Task.PID, err = parseInteger[uint32](m.value)
	case "comm":
		ev.Task.Comm, err = kernelString(m.value, p.strings)
	default:
		if !isObject(ev.Kind, m.key) {
			return p.field(nil, m.key, m.value)
		}
		inner, err := decodeObject(p.inner, m.value)
		if err != nil {
			return &ParseError{Key: string(m.key), Err: err}
		}
		p.inner = inner
		for _, im := range inner {
			if err := p.field(m.key, im.key, im.value); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return &ParseError{Key: string(m.key), Err: err}
	}
	return nil
}

func parseTime(raw []byte) (time.Time, error) {
	if t, ok := parseUTCTime(raw); ok {
		return t, nil
	}
	s, err := jsonString(raw, nil)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time, not %s", quote([]byte(s)))
	}
	return t.UTC(), nil
}

// parseUTCTime reads the times AppendJSON writes, quoted, several times
// faster than time.Parse: "2006-01-02T15:04:05.999999999Z", with 0 to 9
// digits of fraction. It gives up (false) on anything else, and on fields
// out of range, leaving those and their errors to time.Parse.
func parseUTCTime(raw []byte) (time.Time, bool) {
	const whole = len(`"2006-01-02T15:04:05Z"`)
	if len(raw) < whole || raw[0] != '"' || raw[len(raw)-2] != 'Z' || raw[len(raw)-1] != '"' {
		return time.Time{}, false
	}
	b := raw[1 : len(raw)-2]
	ok := true
	number := func(from, to int) int {
		n := 0
		for _, c := range b[from:to] {
			ok = ok && '0' <= c && c <= '9'
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := number(0, 4), number(5, 7), number(8, 10)
	hour, minute, sec := number(11, 13), number(14, 16), number(17, 19)
	ok = ok && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':'
	nsec := 0
	if frac := b[19:]; len(frac) > 0 {
		digits := len(frac) - 1
		ok = ok && frac[0] == '.' && digits >= 1 && digits <= 9
		if !ok {
			return time.Time{}, false
		}
		nsec = number(20, len(b))
		for range 9 - digits {
			nsec *= 10
		}
	}
	if !ok || year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t, t.Day() == day // a day past the month's end rolls over
}

// jsonObjects lists the objects each kind's keys are in, by kind: a line
// has a dozen members, and a kind's fields are many more to look through.
var jsonObjects = func() (objects [len(schemas)][]string) {
	for kind, fields := range schemas {
		for i := range fields {
			if object, _, ok := strings.Cut(fields[i].json, "."); ok && !slices.Contains(objects[kind], object) {
				objects[kind] = append(objects[kind], object)
			}
		}
	}
	return objects
}()

// isObject reports whether key names a JSON object of kind's keys.
func isObject(kind event.Kind, key []byte) bool {
	if int(kind) >= len(jsonObjects) {
		return false
	}
	for _, object := range jsonObjects[kind] {
		if object == string(key) {
			return true
		}
	}
	return false
}

// field stores the value of key name in object (or the top level, nil).
func (p *jsonParser) field(object, name []byte, value []byte) error {
	i := indexField(p.fields, p.next, func(f *field) bool {
		o, n := f.jsonName()
		return o == string(object) && n == string(name)
	})
	if i < 0 {
		return &ParseError{Key: jsonPath(object, name), Err: errors.New("unknown key")}
	}
	p.seen[i] = true // decodeObject has rejected a key given twice
	p.next = i + 1
	f := &p.fields[i]
	if err := f.codec.parseJSON(p.ev, jsonValue{raw: value, strings: p.strings}); err != nil {
		return &ParseError{Key: jsonPath(object, name), Err: err}
	}
	f.parsed(p.ev)
	return nil
}

// jsonPath names key name of object for errors: "victim.pid".
func jsonPath(object, name []byte) string {
	if len(object) == 0 {
		return string(name)
	}
	return string(object) + "." + string(name)
}
