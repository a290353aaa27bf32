package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// codec writes and parses the value of one key, in both formats. The parse
// methods store what they read into ev; the caller names the key in errors.
type codec interface {
	appendText(dst []byte, ev *event.Event, opts Options) []byte
	appendJSON(dst []byte, ev *event.Event, opts Options) []byte
	parseText(ev *event.Event, v textValue) error
	parseJSON(ev *event.Event, v jsonValue) error
}

// textValue is a value as it appears in a text line.
type textValue struct {
	raw     []byte // for a quoted value the bytes between the quotes, still escaped
	quoted  bool
	strings *stringTable // makes the strings of the value
}

// jsonValue is a value as it appears in a JSON line: undecoded.
type jsonValue struct {
	raw     []byte
	strings *stringTable // makes the strings of the value
}

var (
	errWantBare   = errors.New("want an unquoted value, not a quoted string")
	errWantQuoted = errors.New("want a quoted string")
)

// bare returns the value of a key whose values are never quoted.
func (v textValue) bare() ([]byte, error) {
	if v.quoted {
		return nil, errWantBare
	}
	return v.raw, nil
}

// quote renders a value for an error message: escaped, and cut short so that
// one bad line cannot flood the log it is reported to.
func quote(raw []byte) string {
	const limit = 64
	if len(raw) > limit {
		return strconv.QuoteToASCII(string(raw[:limit])) + "..."
	}
	return strconv.QuoteToASCII(string(raw))
}

func numberError(raw []byte, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("number %s out of range", quote(raw))
	}
	return fmt.Errorf("invalid number %s", quote(raw))
}

// integer is every fixed-size integer type an event has.
type integer interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64 | ~int | ~int8 | ~int16 | ~int32 | ~int64
}

func isSigned[T integer]() bool { return ^T(0) < 0 }

// parseInteger reads a decimal number that must fit T.
func parseInteger[T integer](raw []byte) (T, error) {
	var (
		v   T
		err error
	)
	if isSigned[T]() {
		var n int64
		n, err = strconv.ParseInt(string(raw), 10, 64)
		if v = T(n); err == nil && int64(v) != n {
			err = strconv.ErrRange
		}
	} else {
		var n uint64
		n, err = strconv.ParseUint(string(raw), 10, 64)
		if v = T(n); err == nil && uint64(v) != n {
			err = strconv.ErrRange
		}
	}
	if err != nil {
		return 0, numberError(raw, err)
	}
	return v, nil
}

func appendInteger[T integer](dst []byte, v T) []byte {
	if isSigned[T]() {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendUint(dst, uint64(v), 10)
}

// jsonString decodes a JSON string literal, making the string with strs
// (nil: anew).
func jsonString(raw []byte, strs *stringTable) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("want a string, not %s", quote(raw))
	}
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && plainASCII(raw[1:len(raw)-1]) {
		return strs.get(raw[1 : len(raw)-1]), nil // nearly every string: no escapes to decode
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("invalid string %s: %w", quote(raw), err)
	}
	return s, nil
}

// kernelString decodes a JSON string written by appendJSONString, making
// the string with strs (nil: anew).
func kernelString(raw []byte, strs *stringTable) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && plainASCII(raw[1:len(raw)-1]) {
		return strs.get(raw[1 : len(raw)-1]), nil // nearly every string: no escapes to decode
	}
	return decodeJSONString(raw, strs)
}

// integerCodec is a decimal number; durations are written in ns.
type integerCodec[T integer] struct{ value at[T] }

func (c integerCodec[T]) appendValue(dst []byte, ev *event.Event) []byte {
	return appendInteger(dst, *c.value.in(ev))
}

func (c integerCodec[T]) parseValue(ev *event.Event, raw []byte) (err error) {
	*c.value.in(ev), err = parseInteger[T](raw)
	return err
}

// enumCodec is one of the event package's named values: a bare word in text,
// a string in JSON.
type enumCodec[T fmt.Stringer] struct {
	value at[T]
	parse func(string) (T, error)
}

func (c enumCodec[T]) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	return append(dst, (*c.value.in(ev)).String()...)
}

func (c enumCodec[T]) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	return appendJSONString(dst, (*c.value.in(ev)).String())
}

func (c enumCodec[T]) parseText(ev *event.Event, v textValue) (err error) {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	*c.value.in(ev), err = c.parse(v.strings.get(raw))
	return err
}

func (c enumCodec[T]) parseJSON(ev *event.Event, v jsonValue) error {
	s, err := jsonString(v.raw, v.strings)
	if err != nil {
		return err
	}
	*c.value.in(ev), err = c.parse(s)
	return err
}

// hexCodec is a gfp mask: 0x-prefixed hex, a string in JSON so that it reads
// the same in both formats and as in the kernel's log.
type hexCodec struct{ value at[uint32] }

func (c hexCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	dst = append(dst, '0', 'x')
	return strconv.AppendUint(dst, uint64(*c.value.in(ev)), 16)
}

func (c hexCodec) appendJSON(dst []byte, ev *event.Event, opts Options) []byte {
	dst = append(dst, '"')
	dst = c.appendText(dst, ev, opts)
	return append(dst, '"')
}

func (c hexCodec) parseText(ev *event.Event, v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	return c.parse(ev, v.strings.get(raw))
}

func (c hexCodec) parseJSON(ev *event.Event, v jsonValue) error {
	s, err := jsonString(v.raw, v.strings)
	if err != nil {
		return err
	}
	return c.parse(ev, s)
}

func (c hexCodec) parse(ev *event.Event, s string) error {
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return fmt.Errorf("want 0x followed by hex digits, not %q", s)
	}
	n, err := strconv.ParseUint(digits, 16, 32)
	if err != nil {
		return numberError([]byte(s), err)
	}
	*c.value.in(ev) = uint32(n)
	return nil
}

// limitCodec is a cgroup limit in bytes: event.NoLimit is "max" in text (as
// in memory.max) and null in JSON.
type limitCodec struct{ value at[uint64] }

func (c limitCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	if n := *c.value.in(ev); n != event.NoLimit {
		return strconv.AppendUint(dst, n, 10)
	}
	return append(dst, "max"...)
}

func (c limitCodec) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	if n := *c.value.in(ev); n != event.NoLimit {
		return strconv.AppendUint(dst, n, 10)
	}
	return append(dst, "null"...)
}

func (c limitCodec) parseText(ev *event.Event, v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	return c.parse(ev, raw, "max")
}

func (c limitCodec) parseJSON(ev *event.Event, v jsonValue) error {
	return c.parse(ev, v.raw, "null")
}

func (c limitCodec) parse(ev *event.Event, raw []byte, unlimited string) (err error) {
	if string(raw) == unlimited {
		*c.value.in(ev) = event.NoLimit
		return nil
	}
	*c.value.in(ev), err = parseInteger[uint64](raw)
	return err
}

// boolCodec is true or false, in both formats.
type boolCodec struct{ value at[bool] }

func (c boolCodec) appendValue(dst []byte, ev *event.Event) []byte {
	return strconv.AppendBool(dst, *c.value.in(ev))
}

func (c boolCodec) parseValue(ev *event.Event, raw []byte) error {
	switch string(raw) {
	case "true":
		*c.value.in(ev) = true
	case "false":
		*c.value.in(ev) = false
	default:
		return fmt.Errorf("want true or false, not %s", quote(raw))
	}
	return nil
}

// stringCodec is a string from the kernel (a comm, a cgroup path): always
// quoted and escaped.
type stringCodec struct{ value at[string] }

func (c stringCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	return appendQuoted(dst, *c.value.in(ev))
}

func (c stringCodec) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	return appendJSONString(dst, *c.value.in(ev))
}

func (c stringCodec) parseText(ev *event.Event, v textValue) (err error) {
	if !v.quoted {
		return errWantQuoted
	}
	*c.value.in(ev), err = unescape(v.raw, v.strings)
	return err
}

func (c stringCodec) parseJSON(ev *event.Event, v jsonValue) (err error) {
	*c.value.in(ev), err = kernelString(v.raw, v.strings)
	return err
}

// gfpNamesCodec writes the names of a gfp mask's flags, as the Options'
// GFPNames function spells them. The event does not hold them (they follow
// from the mask), so parsing only checks the value is well formed.
//
// The names are appended to the line where they go and checked there: they
// are a bare word (text) or need no escape (JSON) on every kernel, and only
// names that do not are copied out to be written again, quoted or escaped.
type gfpNamesCodec struct{ mask at[uint32] }

func (c gfpNamesCodec) appendText(dst []byte, ev *event.Event, opts Options) []byte {
	mask := *c.mask.in(ev)
	if opts.spellings != nil {
		return append(dst, opts.spellings.of(mask, opts.GFPNames).text...)
	}
	return appendGFPText(dst, mask, opts.GFPNames)
}

func (c gfpNamesCodec) appendJSON(dst []byte, ev *event.Event, opts Options) []byte {
	mask := *c.mask.in(ev)
	if opts.spellings != nil {
		return append(dst, opts.spellings.of(mask, opts.GFPNames).json...)
	}
	return appendGFPJSON(dst, mask, opts.GFPNames)
}

// appendGFPText appends the names of mask's flags as a text value.
func appendGFPText(dst []byte, mask uint32, names func([]byte, uint32) []byte) []byte {
	start := len(dst)
	dst = names(dst, mask)
	if names := dst[start:]; !isBareWord(names) {
		return appendQuoted(dst[:start], string(names))
	}
	return dst
}

// appendGFPJSON appends the names of mask's flags as a JSON string.
func appendGFPJSON(dst []byte, mask uint32, names func([]byte, uint32) []byte) []byte {
	start := len(dst)
	dst = append(dst, '"')
	dst = names(dst, mask)
	if names := dst[start+1:]; !plainASCII(names) {
		return appendJSONString(dst[:start], string(names))
	}
	return append(dst, '"')
}

func (c gfpNamesCodec) parseText(_ *event.Event, v textValue) error {
	if !v.quoted {
		return nil // the tokenizer only lets well-formed bare words through
	}
	_, err := unescape(v.raw, v.strings)
	return err
}

func (c gfpNamesCodec) parseJSON(_ *event.Event, v jsonValue) error {
	_, err := kernelString(v.raw, v.strings)
	return err
}

// isBareWord reports whether s can be written unquoted: the flag names are
// normally identifiers joined by '|', which read better bare, but they come
// from another package, so anything else is quoted.
func isBareWord(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if !bareByte(c) {
			return false
		}
	}
	return true
}

// bareByte reports whether c may appear in an unquoted value.
func bareByte(c byte) bool {
	return printable(c) && c != ' ' && c != '"' && c != '\\'
}

// stackCodec is a kernel stack, innermost frame first: one quoted string of
// comma-separated frames in text, an array of strings in JSON.
type stackCodec struct{ value at[[]string] }

func (c stackCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	dst = append(dst, '"')
	for i, frame := range *c.value.in(ev) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, frame, ',')
	}
	return append(dst, '"')
}

func (c stackCodec) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	dst = append(dst, '[')
	for i, frame := range *c.value.in(ev) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, frame)
	}
	return append(dst, ']')
}

func (c stackCodec) parseText(ev *event.Event, v textValue) error {
	if !v.quoted {
		return errWantQuoted
	}
	var stack []string
	for i, frame := range bytes.Split(v.raw, []byte{','}) {
		s, err := unescape(frame, v.strings)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		stack = append(stack, s)
	}
	*c.value.in(ev) = stack
	return nil
}

func (c stackCodec) parseJSON(ev *event.Event, v jsonValue) error {
	var frames []json.RawMessage
	if err := json.Unmarshal(v.raw, &frames); err != nil {
		return fmt.Errorf("want an array of strings, not %s", quote(v.raw))
	}
	var stack []string
	for i, frame := range frames {
		s, err := kernelString(frame, v.strings)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		stack = append(stack, s)
	}
	*c.value.in(ev) = stack
	return nil
}

// histCodec is a histogram of fixed buckets (a log2 latency histogram, free
// memory by block order): only the non-zero buckets, as index:count pairs
// in text ("0:3,1:10") and an object in JSON ({"0":3,"1":10}), in
// increasing index order. get returns the event's buckets.
type histCodec struct {
	get func(*event.Event) []uint64
}

func (c histCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	first := true
	for i, n := range c.get(ev) {
		if n == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, n, 10)
	}
	return dst
}

func (c histCodec) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	dst = append(dst, '{')
	first := true
	for i, n := range c.get(ev) {
		if n == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, '"', ':')
		dst = strconv.AppendUint(dst, n, 10)
	}
	return append(dst, '}')
}

func (c histCodec) parseText(ev *event.Event, v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	var buckets []bucket
	for _, pair := range bytes.Split(raw, []byte{','}) {
		index, count, ok := bytes.Cut(pair, []byte{':'})
		if !ok {
			return fmt.Errorf("want index:count, not %s", quote(pair))
		}
		buckets = append(buckets, bucket{index, count})
	}
	return c.set(ev, buckets)
}

func (c histCodec) parseJSON(ev *event.Event, v jsonValue) error {
	members, err := decodeObject(nil, v.raw)
	if err != nil {
		return err
	}
	buckets := make([]bucket, len(members))
	for i, m := range members {
		buckets[i] = bucket{m.key, m.value}
	}
	return c.set(ev, buckets)
}

// bucket is one index:count pair of a histogram as read, not yet checked.
type bucket struct{ index, count []byte }

func (c histCodec) set(ev *event.Event, buckets []bucket) error {
	hist := c.get(ev)
	clear(hist)
	var seen [64]bool // more than any histogram has buckets
	for _, b := range buckets {
		i, err := parseInteger[uint8](b.index)
		if err != nil || int(i) >= len(hist) {
			return fmt.Errorf("invalid bucket index %s (want 0 to %d)", quote(b.index), len(hist)-1)
		}
		if seen[i] {
			return fmt.Errorf("bucket %d given twice", i)
		}
		seen[i] = true
		if hist[i], err = parseInteger[uint64](b.count); err != nil {
			return fmt.Errorf("bucket %d: %w", i, err)
		}
	}
	return nil
}

// tasksCodec is a report's largest tasks. In text one quoted string of
// comma-separated tasks, each pid:tgid:uid:rss_bytes:swap_bytes:
// oom_score_adj:comm, the comm last and escaped with commas as \x2c; in
// JSON an array of objects.
type tasksCodec struct {
	value at[event.KernelReport]
}

func (c tasksCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	r := c.value.in(ev)
	dst = append(dst, '"')
	for i, t := range r.Tasks[:r.NumTasks] {
		if i > 0 {
			dst = append(dst, ',')
		}
		for _, n := range [...]uint64{uint64(t.PID), uint64(t.TGID), uint64(t.UID), t.RSSBytes, t.SwapBytes} {
			dst = strconv.AppendUint(dst, n, 10)
			dst = append(dst, ':')
		}
		dst = strconv.AppendInt(dst, int64(t.OOMScoreAdj), 10)
		dst = append(dst, ':')
		dst = appendEscaped(dst, t.Comm, ',')
	}
	return append(dst, '"')
}

func (c tasksCodec) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	r := c.value.in(ev)
	dst = append(dst, '[')
	for i, t := range r.Tasks[:r.NumTasks] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"pid":`...)
		dst = strconv.AppendUint(dst, uint64(t.PID), 10)
		dst = append(dst, `,"tgid":`...)
		dst = strconv.AppendUint(dst, uint64(t.TGID), 10)
		dst = append(dst, `,"uid":`...)
		dst = strconv.AppendUint(dst, uint64(t.UID), 10)
		dst = append(dst, `,"rss_bytes":`...)
		dst = strconv.AppendUint(dst, t.RSSBytes, 10)
		dst = append(dst, `,"swap_bytes":`...)
		dst = strconv.AppendUint(dst, t.SwapBytes, 10)
		dst = append(dst, `,"oom_score_adj":`...)
		dst = strconv.AppendInt(dst, int64(t.OOMScoreAdj), 10)
		dst = append(dst, `,"comm":`...)
		dst = appendJSONString(dst, t.Comm)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func (c tasksCodec) parseText(ev *event.Event, v textValue) error {
	if !v.quoted {
		return errWantQuoted
	}
	r := c.value.in(ev)
	r.NumTasks = 0
	for i, entry := range bytes.Split(v.raw, []byte{','}) {
		parts := bytes.SplitN(entry, []byte{':'}, 7)
		if len(parts) != 7 {
			return fmt.Errorf("task %d: want pid:tgid:uid:rss_bytes:swap_bytes:oom_score_adj:comm, not %s", i, quote(entry))
		}
		var t event.ReportedTask
		var err error
		if t.PID, err = parseInteger[uint32](parts[0]); err == nil {
			if t.TGID, err = parseInteger[uint32](parts[1]); err == nil {
				if t.UID, err = parseInteger[uint32](parts[2]); err == nil {
					if t.RSSBytes, err = parseInteger[uint64](parts[3]); err == nil {
						if t.SwapBytes, err = parseInteger[uint64](parts[4]); err == nil {
							if t.OOMScoreAdj, err = parseInteger[int16](parts[5]); err == nil {
								t.Comm, err = unescape(parts[6], v.strings)
							}
						}
					}
				}
			}
		}
		if err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		if err := addTask(r, t); err != nil {
			return err
		}
	}
	return nil
}

func (c tasksCodec) parseJSON(ev *event.Event, v jsonValue) error {
	var tasks []json.RawMessage
	if err := json.Unmarshal(v.raw, &tasks); err != nil {
		return fmt.Errorf("want an array of objects, not %s", quote(v.raw))
	}
	r := c.value.in(ev)
	r.NumTasks = 0
	for i, raw := range tasks {
		members, err := decodeObject(nil, raw)
		if err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		var t event.ReportedTask
		keys := [...]string{"pid", "tgid", "uid", "rss_bytes", "swap_bytes", "oom_score_adj", "comm"}
		if len(members) != len(keys) {
			return fmt.Errorf("task %d: want the keys %s", i, strings.Join(keys[:], ", "))
		}
		for _, m := range members {
			switch string(m.key) {
			case "pid":
				t.PID, err = parseInteger[uint32](m.value)
			case "tgid":
				t.TGID, err = parseInteger[uint32](m.value)
			case "uid":
				t.UID, err = parseInteger[uint32](m.value)
			case "rss_bytes":
				t.RSSBytes, err = parseInteger[uint64](m.value)
			case "swap_bytes":
				t.SwapBytes, err = parseInteger[uint64](m.value)
			case "oom_score_adj":
				t.OOMScoreAdj, err = parseInteger[int16](m.value)
			case "comm":
				t.Comm, err = kernelString(m.value, v.strings)
			default:
				err = fmt.Errorf("unknown key %s", quote(m.key))
			}
			if err != nil {
				return fmt.Errorf("task %d: %w", i, err)
			}
		}
		if err := addTask(r, t); err != nil {
			return err
		}
	}
	return nil
}

func addTask(r *event.KernelReport, t event.ReportedTask) error {
	if r.NumTasks == len(r.Tasks) {
		return fmt.Errorf("more than %d tasks", len(r.Tasks))
	}
	r.Tasks[r.NumTasks] = t
	r.NumTasks++
	return nil
}

// floatCodec is a number with a fraction (PSI averages), in the shortest
// form that reads back to the same value.
type floatCodec struct{ value at[float64] }

func (c floatCodec) appendValue(dst []byte, ev *event.Event) []byte {
	return strconv.AppendFloat(dst, *c.value.in(ev), 'g', -1, 64)
}

func (c floatCodec) parseValue(ev *event.Event, raw []byte) error {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("invalid number %s", quote(raw))
	}
	*c.value.in(ev) = f
	return nil
}

// snapshotStatusCodec is a memory snapshot's status: "ok", "cgroup
// removed", "timed out" or "failed", always quoted.
type snapshotStatusCodec struct {
	value at[event.SnapshotStatus]
}

func (c snapshotStatusCodec) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	return appendQuoted(dst, c.value.in(ev).String())
}

func (c snapshotStatusCodec) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	return appendJSONString(dst, c.value.in(ev).String())
}

func (c snapshotStatusCodec) parseText(ev *event.Event, v textValue) error {
	if !v.quoted {
		return errWantQuoted
	}
	s, err := unescape(v.raw, v.strings)
	if err != nil {
		return err
	}
	return c.set(ev, s)
}

func (c snapshotStatusCodec) parseJSON(ev *event.Event, v jsonValue) error {
	s, err := jsonString(v.raw, v.strings)
	if err != nil {
		return err
	}
	return c.set(ev, s)
}

func (c snapshotStatusCodec) set(ev *event.Event, s string) error {
	for st := event.SnapshotOK; st <= event.SnapshotFailed; st++ {
		if st.String() == s {
			*c.value.in(ev) = st
			return nil
		}
	}
	return fmt.Errorf("unknown snapshot status %q", s)
}

// bitCodec is a value whose presence a bit of a mask records: parsing it
// sets the bit.
type bitCodec struct {
	codec
	mask at[event.SnapshotField]
	bit  event.SnapshotField
}

func (c bitCodec) parseText(ev *event.Event, v textValue) error {
	*c.mask.in(ev) |= c.bit
	return c.codec.parseText(ev, v)
}

func (c bitCodec) parseJSON(ev *event.Event, v jsonValue) error {
	*c.mask.in(ev) |= c.bit
	return c.codec.parseJSON(ev, v)
}

// bareValue is a value written the same in text and JSON, unquoted: a
// number or a boolean.
type bareValue interface {
	appendValue(dst []byte, ev *event.Event) []byte
	parseValue(ev *event.Event, raw []byte) error
}

// bare is the codec of a bareValue.
type bare[V bareValue] struct{ value V }

func (c bare[V]) appendText(dst []byte, ev *event.Event, _ Options) []byte {
	return c.value.appendValue(dst, ev)
}

func (c bare[V]) appendJSON(dst []byte, ev *event.Event, _ Options) []byte {
	return c.value.appendValue(dst, ev)
}

func (c bare[V]) parseText(ev *event.Event, v textValue) error {
	raw, err := v.bare()
	if err != nil {
		return err
	}
	return c.value.parseValue(ev, raw)
}

func (c bare[V]) parseJSON(ev *event.Event, v jsonValue) error {
	return c.value.parseValue(ev, v.raw)
}
