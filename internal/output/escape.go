package output

import (
	"errors"
	"fmt"
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
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case !printable(c) || c == sep:
			dst = appendHexEscape(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendQuoted appends s as a quoted text-format value.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s, 0)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string whose decoded value is s in the
// JSON escaped form: printable ASCII as itself except `\`, which is doubled,
// and every other byte as the four characters \xHH. encoding/json cannot
// carry bytes that are not UTF-8, so a lossless form has to live in the
// decoded value; keeping it printable ASCII also means a consumer that prints
// the decoded value (jq -r) cannot be fed a terminal escape. The output is
// printable ASCII.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			// The value's `\\`, each backslash escaped for JSON.
			dst = append(dst, '\\', '\\', '\\', '\\')
		case c == '"':
			dst = append(dst, '\\', '"')
		case !printable(c):
			// The value's \xHH, its backslash escaped for JSON.
			dst = append(dst, '\\')
			dst = appendHexEscape(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// Escape forms accepted by unescape.
const (
	textForm = iota // text format: `\"` is an escape, a bare `"` is not allowed
	jsonForm        // decoded JSON value: `"` stands for itself, `\"` is not an escape
)

var errTruncatedEscape = errors.New(`truncated escape at end of value`)

// unescape reverses appendEscaped (form textForm) or the decoded-value form
// of appendJSONString (form jsonForm), making the string with strs (nil:
// anew). Besides what the writer produces it only accepts \xHH for bytes
// the writer writes as themselves and upper-case hex digits; every input
// still has exactly one meaning.
func unescape(raw []byte, form int, strs *stringTable) (string, error) {
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
		case c == '"' && form == textForm:
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
		case next == '\\' || (next == '"' && form == textForm):
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

// Escape returns s in the escaped form of a decoded JSON value: printable
// ASCII as itself except `\`, which is doubled, and every other byte as
// \xHH. It is for showing kernel strings anywhere else (report tables,
// report JSON): the result is printable ASCII, cannot reach a terminal as an
// escape sequence, and unescapes to s by the rules of the JSON format.
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
