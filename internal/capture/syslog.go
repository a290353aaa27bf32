package capture

import (
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/kubeletlog"
)

// maxWarnings bounds the warnings a reader keeps; the rest are counted.
const maxWarnings = 100

// systemLog reads a saved system log: the kernel's (dmesg, journalctl -k,
// kern.log, /dev/kmsg records) and the kubelet's (journalctl -u kubelet, a
// syslog file holding both). One pass over its messages feeds the kernel's
// OOM reports and the kubelet's evictions, which come out in log order.
type systemLog struct {
	sc        *kernlog.Scanner
	reports   kernlog.Assembler
	evictions kubeletlog.Tracker
	eof       bool
	// kills are the events of the reports handed out, not yet read;
	// killLine is the log line of their report.
	kills    []event.Event
	killLine int
	// eviction is the next eviction to read, when hasEviction.
	eviction    kubeletlog.Eviction
	hasEviction bool
	events      []event.Event // scratch for Report.Events
	// recognised counts the lines whose prefix a system log's form has;
	// lines counts them all. A log of bare messages with an OOM report in
	// it is a kernel log all the same.
	recognised, lines int
	r                 *Reader
}

func newSystemLog(r *Reader, sc *kernlog.Scanner) *systemLog {
	s := &systemLog{sc: sc, r: r}
	sc.Warn = func(w kernlog.Warning) { r.warn(w.Line, w.Msg) }
	s.reports.Warn = func(at kernlog.Stamp, _ string, err error) { r.warn(at.Line, err.Error()) }
	return s
}

// next reads the next event into ev; false at the end of the log.
func (s *systemLog) next(ev *event.Event) (bool, error) {
	for {
		if len(s.kills) == 0 {
			if it, ok := s.reports.Pop(); ok {
				if it.Report != nil {
					s.kills = it.Report.Events(s.events[:0], kernlog.EventOptions{})
					s.events = s.kills
					s.killLine = it.Report.Start.Line
				}
				continue
			}
		}
		if !s.hasEviction {
			s.eviction, s.hasEviction = s.evictions.Pop()
		}
		// The earlier of a report's kills and an eviction goes first, once
		// nothing still being read can come before it.
		if len(s.kills) > 0 && (!s.hasEviction || s.killLine <= s.eviction.Line) {
			if line, ok := s.evictions.Pending(); !ok || s.killLine <= line || s.eof {
				*ev = s.kills[0]
				s.kills = s.kills[1:]
				return true, nil
			}
		}
		if s.hasEviction && (len(s.kills) == 0 || s.eviction.Line < s.killLine) {
			if line, ok := s.reports.Oldest(); !ok || s.eviction.Line < line || s.eof {
				*ev = s.eviction.Event()
				s.hasEviction = false
				return true, nil
			}
		}
		if s.eof {
			if len(s.kills) == 0 && !s.hasEviction {
				return false, nil
			}
			continue
		}
		if !s.sc.Scan() {
			s.eof = true
			s.reports.Flush()
			s.evictions.Flush()
			if err := s.sc.Err(); err != nil {
				if err := s.r.readError(s.lines, err); err != nil {
					return false, err
				}
			}
			s.r.info.Lines += s.lines
			if s.recognised == 0 && s.lines > 0 && s.r.info.Events == 0 {
				s.r.warn(s.lines, "not one line of it is oomtrace's, perf script's or a kernel log's (dmesg, journalctl, syslog, /dev/kmsg): read as bare kernel messages")
			}
			continue
		}
		m := s.sc.Message()
		s.lines = m.Line
		if m.Format != kernlog.FormatBare {
			s.recognised++
		}
		s.reports.Add(&m)
		s.evictions.Add(&m)
	}
}
