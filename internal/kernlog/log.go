package kernlog

import "strings"

// Log is what a stretch of kernel log says about OOM kills, in log order.
type Log struct {
	Kills  []Kill
	Reaped []Reaped
	// Malformed holds messages that started like an OOM report line but did
	// not parse: truncated, or not written by the kernel's format.
	Malformed []string
}

// maxMessage bounds a summary being rejoined from fragments. A record holds
// at most 1 KiB of text, so a summary has a few pieces of at most that.
const maxMessage = 16 << 10

// assembler turns messages, in log order, into a Log: it pairs each
// "Killed process" line with the summary and header printed just before it.
type assembler struct {
	log Log
	// header waits for the summary of the same report.
	header *Header
	// summary waits for the "Killed process" line of its victim. It is kept
	// unparsed until then, because the victim's name, which only the
	// "Killed process" line gives unambiguously, settles how to split it.
	summary       string
	summaryHeader *Header
	// fragment is the start of a summary whose pr_cont pieces landed in
	// separate records because another CPU printed in between: the rest
	// follows, later, as messages that start with ",".
	fragment string
}

func (a *assembler) add(msg string) {
	if a.fragment != "" && strings.HasPrefix(msg, ",") && len(a.fragment)+len(msg) <= maxMessage {
		msg, a.fragment = a.fragment+msg, ""
	}
	if strings.HasPrefix(msg, summaryPrefix) && !summaryEnd.MatchString(msg) {
		a.flush()
		a.fragment = msg
		return
	}
	line, err := ParseLine(msg)
	if err != nil {
		a.log.Malformed = append(a.log.Malformed, msg)
		return
	}
	if line.Kind != LineOther {
		// The summary's pieces come before any other line of its report.
		a.flush()
	}
	switch line.Kind {
	case LineHeader:
		// A new report starts: anything still pending belonged to one
		// that killed nobody.
		h := line.Header
		a.header, a.summary, a.summaryHeader = &h, "", nil
	case LineSummary:
		a.summary, a.summaryHeader, a.header = msg, a.header, nil
	case LineKilled:
		k := Kill{Killed: line.Killed}
		if a.summary != "" {
			// The summary names the victim chosen; the line after it is that
			// victim's kill (possibly printed with the pid of another of its
			// threads, so the pids are not compared).
			if s, err := parseSummary(a.summary, k.Comm, true); err == nil {
				k.Summary, k.Header = &s, a.summaryHeader
			}
			a.summary, a.summaryHeader = "", nil
		}
		a.log.Kills = append(a.log.Kills, k)
	case LineSkipped:
		a.summary, a.summaryHeader = "", nil
	case LineReaped:
		a.log.Reaped = append(a.log.Reaped, line.Reaped)
	}
}

// flush gives up on a summary fragment that was never completed.
func (a *assembler) flush() {
	if a.fragment != "" {
		a.log.Malformed = append(a.log.Malformed, a.fragment)
		a.fragment = ""
	}
}

// lost forgets every half-seen report: records were lost in between, so
// what comes next cannot be paired with what came before.
func (a *assembler) lost() {
	a.header, a.summary, a.summaryHeader, a.fragment = nil, "", nil, ""
}
