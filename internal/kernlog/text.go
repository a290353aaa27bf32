package kernlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// textPrefix matches what dmesg prints before a message: an optional raw
// priority ("<3>", dmesg -r) or decoded facility and level ("kern  :err   : ",
// dmesg -x), an optional timestamp (seconds since boot, or dmesg -T's
// ctime) and an optional caller id (CONFIG_PRINTK_CALLER).
var textPrefix = regexp.MustCompile(`^(?:<([0-9]+)>|([a-z]+) *:[a-z]+ *: )?` +
	`(\[ *[0-9]+\.[0-9]+\]|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}\])?` +
	`(?: ?\[ *[TC][0-9]+\])? ?`)

// kmsgLine matches a /dev/kmsg record as `cat /dev/kmsg` saves it.
var kmsgLine = regexp.MustCompile(`^[0-9]+,[0-9]+,[0-9]+,[^;]*;`)

// ParseText parses a saved kernel log: the output of dmesg (plain, -r, -x or
// -T) or of `cat /dev/kmsg`, one record per line. Lines that are no OOM
// report are skipped; lines known to come from user space (facility other
// than kern, where the format says) are ignored. An indented line with no
// prefix of its own after a timestamped line is the rest of the message
// before it: dmesg prints a newline inside a message (a process name can
// hold one) that way. The error is only ever one reading r.
func ParseText(r io.Reader) (Log, error) {
	var (
		asm      assembler
		pending  string // the message being continued over several lines
		have     bool   // pending holds a message
		fromKern bool   // pending is the kernel's, as far as its prefix says
		indent   int    // width of the prefix of pending's first line
		inKmsg   bool   // the last line was a /dev/kmsg record
	)
	emit := func() {
		if have && fromKern {
			asm.add(pending)
		}
		have = false
	}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				// printk strips a message's final newline, so no message
				// continues over an empty line.
				emit()
				inKmsg = false
			case kmsgLine.MatchString(line):
				emit()
				inKmsg = true
				if rec, perr := parseRecord([]byte(line)); perr == nil && rec.facility == kernFacility {
					asm.add(rec.message)
				}
			case inKmsg && strings.HasPrefix(line, " "):
				// A /dev/kmsg dictionary line (" SUBSYSTEM=...").
			case have && indent > 0 && !hasTimestamp(line):
				pending += "\n" + trimIndent(line, indent)
			default:
				emit()
				inKmsg = false
				pending, fromKern, indent = splitTextPrefix(line)
				have = true
			}
		}
		if errors.Is(err, io.EOF) {
			emit()
			asm.flush()
			return asm.log, nil
		}
		if err != nil {
			return Log{}, fmt.Errorf("read kernel log text: %w", err)
		}
	}
}

// splitTextPrefix splits a dmesg line into its message, whether the prefix
// allows it to be the kernel's, and the width of a prefix that carried a
// timestamp (0 if none: then no continuation can be recognised).
func splitTextPrefix(line string) (msg string, fromKern bool, indent int) {
	m := textPrefix.FindStringSubmatchIndex(line)
	// m is never nil: every part of the prefix is optional.
	fromKern = true
	if m[2] >= 0 {
		prio, err := strconv.Atoi(line[m[2]:m[3]])
		fromKern = err == nil && prio>>3 == kernFacility
	}
	if m[4] >= 0 {
		fromKern = line[m[4]:m[5]] == "kern"
	}
	if m[6] >= 0 {
		indent = m[1]
	}
	return line[m[1]:], fromKern, indent
}

func hasTimestamp(line string) bool {
	m := textPrefix.FindStringSubmatchIndex(line)
	return m[6] >= 0
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
