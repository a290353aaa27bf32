package output

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// printable reports whether c may appear in output as itself. Everything else
// (control bytes, DEL, bytes >= 0x80) is written as \xHH, so that no kernel
// string can end a line, inject a terminal escape sequence or smuggle in
// bytes a reader might decode differently.
func printable(c byte) bool { return c >= 0x20 && c < 0x7f }

func appendHexEscape(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendEscaped appends s in the text format's escaped form: printable ASCII
// as itself, `"` and `\` preceded by a backslash, every other byte as \xHH.
// sep is the byte that delimits s where it is written (a space for the
// unquoted comm, a comma for a stack frame); it is written as \xHH too so that
// the reader can split on it before unescaping. Pass 0 when there is none.
func appendEscaped(dst []byte, s string, sep byte) []byte {
	// Runs of bytes written as themselves, nearly all of a name, are
	// copied whole.
	plain := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte[c] && c != sep {
			continue
		}
		dst = append(dst, s[plain:i]...)
		plain = i + 1
		if c == '"' || c == '\\' {
			dst = append(dst, '\\', c)
		} else {
			dst = appendHexEscape(dst, c)
		}
	}
	return append(dst, s[plain:]...)
}

// plainByte marks the bytes both formats write as themselves inside a
// quoted string: printable ASCII but '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := range t {
		t[c] = printable(byte(c)) && c != '"' && c != '\\'
	}
	return t
}()

// appendQuoted appends s as a quoted text-format value.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s, 0)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string that decodes to s itself:
// JSON's own escapes for `"`, `\` and control bytes, \uXXXX for DEL and
// every character outside ASCII (a pair of them past U+FFFF), so that the
// line stays printable ASCII. A byte that is not part of valid UTF-8 has no
// character to stand for; it is written \udcXX, XX the byte: a lone low
// surrogate, the escape Python's "surrogateescape" uses. oomtrace reads it
// back as the byte; other JSON readers decode it as U+FFFD, the replacement
// character, as they would the raw byte. So jq -r prints a name as the
// kernel has it (with U+FFFD for what is not UTF-8), and every name still
// comes back exactly when oomtrace parses the line.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	plain := 0 // s[plain:i] is written as itself, copied whole
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			i++
			continue
		}
		dst = append(dst, s[plain:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\r':
				dst = append(dst, '\\', 'r')
			default: // a control byte or DEL
				dst = appendUnicodeEscape(dst, rune(c))
			}
			i++
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = appendUnicodeEscape(dst, surrogateEscape+rune(c))
			case r > 0xffff:
				hi, lo := utf16.EncodeRune(r)
				dst = appendUnicodeEscape(appendUnicodeEscape(dst, hi), lo)
			default:
				dst = appendUnicodeEscape(dst, r)
			}
			i += size
		}
		plain = i
	}
	dst = append(dst, s[plain:]...)
	return append(dst, '"')
}

// controlEscapes are the bytes of JSON's one-letter escapes, by letter.
var controlEscapes = [256]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// surrogateEscape + b is the \uXXXX escape of byte b (0x80 to 0xff) that is
// not part of valid UTF-8.
const surrogateEscape = 0xdc00

func appendUnicodeEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// decodeJSONString decodes the JSON string literal raw as appendJSONString
// wrote it, with its lone low surrogates \udc80 to \udcff read back as the
// bytes 0x80 to 0xff. Any other lone surrogate is an error: no writer of
// oomtrace's makes one, and it would stand for nothing.
func decodeJSONString(raw []byte, strs *stringTable) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("want a string, not %s", quote(raw))
	}
	body := raw[1 : len(raw)-1]
	out := strs.scratch(len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '"' || c < 0x20:
			return "", fmt.Errorf("invalid string %s: unescaped byte 0x%02x", quote(raw), c)
		case c >= utf8.RuneSelf:
			// JSON is UTF-8: raw bytes that are not are no JSON.
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				return "", fmt.Errorf("invalid string %s: byte 0x%02x is not UTF-8 (write it \\udc%02x)", quote(raw), c, c)
			}
			out = append(out, body[i:i+size]...)
			i += size
			continue
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(body) {
			return "", fmt.Errorf("invalid string %s: %w", quote(raw), errTruncatedEscape)
		}
		switch e := body[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
			i += 2
		case 'b', 'f', 'n', 'r', 't':
			out = append(out, controlEscapes[e])
			i += 2
		case 'u':
			r, n, err := unicodeEscape(body[i:])
			if err != nil {
				return "", fmt.Errorf("invalid string %s: %w", quote(raw), err)
			}
			if r >= surrogateEscape+0x80 && r <= surrogateEscape+0xff {
				out = append(out, byte(r-surrogateEscape))
			} else {
				out = utf8.AppendRune(out, r)
			}
			i += n
		default:
			return "", fmt.Errorf("invalid string %s: invalid escape %q", quote(raw), body[i:i+2])
		}
	}
	return strs.get(out), nil
}

// unicodeEscape reads the \uXXXX escape at the start of b, and the low
// surrogate after it when it is a high one; it returns the character (or
// the lone low surrogate of an escaped byte) and the bytes read.
func unicodeEscape(b []byte) (rune, int, error) {
	r, ok := hex4(b)
	if !ok {
		return 0, 0, errors.New(`want \u and four hex digits`)
	}
	switch {
	case utf16.IsSurrogate(r) && r < 0xdc00:
		lo, ok := hex4(b[6:])
		if !ok || lo < 0xdc00 || lo > 0xdfff {
			return 0, 0, fmt.Errorf("high surrogate \\u%04x without its low one", r)
		}
		return utf16.DecodeRune(r, lo), 12, nil
	case utf16.IsSurrogate(r) && (r < surrogateEscape+0x80 || r > surrogateEscape+0xff):
		return 0, 0, fmt.Errorf("lone surrogate \\u%04x", r)
	}
	return r, 6, nil
}

// hex4 reads "\uXXXX" at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		v, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

var errTruncatedEscape = errors.New(`truncated escape at end of value`)

// unescape reverses appendEscaped, making the string with strs (nil: anew).
// Besides what the writer produces it only accepts \xHH for bytes the
// writer writes as themselves and upper-case hex digits; every input still
// has exactly one meaning.
func unescape(raw []byte, strs *stringTable) (string, error) {
	plain := true
	for _, c := range raw {
		if c == '\\' || c == '"' || !printable(c) {
			plain = false
			break
		}
	}
	if plain {
		return strs.get(raw), nil
	}
	out := strs.scratch(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"':
			return "", fmt.Errorf(`unescaped '"' at byte %d`, i+1)
		case !printable(c):
			return "", fmt.Errorf("unescaped byte 0x%02x at byte %d", c, i+1)
		case c != '\\':
			out = append(out, c)
			continue
		}
		if i+1 >= len(raw) {
			return "", errTruncatedEscape
		}
		switch next := raw[i+1]; {
		case next == '\\' || next == '"':
			out = append(out, next)
			i++
		case next == 'x':
			if i+3 >= len(raw) {
				return "", errTruncatedEscape
			}
			hi, okHi := unhex(raw[i+2])
			lo, okLo := unhex(raw[i+3])
			if !okHi || !okLo {
				return "", fmt.Errorf("invalid escape %q at byte %d", raw[i:i+4], i+1)
			}
			out = append(out, hi<<4|lo)
			i += 3
		default:
			return "", fmt.Errorf("invalid escape %q at byte %d", raw[i:i+2], i+1)
		}
	}
	return strs.get(out), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Escape returns s for showing where only printable text may go (report
// tables, the HTML report): printable ASCII as itself except `\`, which is
// doubled, and every other byte as \xHH. The result cannot reach a
// terminal as an escape sequence, and reads back to s one way only.
func Escape(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || !printable(c) {
			return string(appendEscapedValue(make([]byte, 0, len(s)+8), s))
		}
	}
	return s
}

func appendEscapedValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case !printable(c):
			dst = appendHexEscape(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
