package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/verdict"
)

// Deaths are the processes a signal ended (exit events), by cause.
type Deaths struct {
	Total    uint64            `json:"total"`
	ByCause  map[string]uint64 `json:"by_cause"`
	List     []Death           `json:"list"`
	Unlisted uint64            `json:"unlisted"` // past Options.KillsShown
}

// Death is one process a signal ended, with the evidence for its cause.
// Kernel strings are escaped with output.Escape.
type Death struct {
	Capture  int        `json:"capture"` // index into Captures
	Time     *time.Time `json:"time,omitempty"`
	KtimeNS  uint64     `json:"ktime_ns"`
	Process  Task       `json:"process"`
	Owner    Owner      `json:"owner"`
	ExitCode uint32     `json:"exit_code"` // wait(2) status
	Signal   string     `json:"signal"`    // "SIGKILL"
	Cause    string     `json:"cause"`     // oom_kill, signal, fault, unknown
	// Evidence is what the cause rests on, in a few words: the OOM class,
	// or the sender, its class and the SIGTERM before.
	Evidence string `json:"evidence"`
	Sender   *Task  `json:"sender,omitempty"`
	// SenderClass is the sender's class: kubelet, runtime, user, ...
	SenderClass string `json:"sender_class,omitempty"`
	// GraceNS is the time from a SIGTERM to the SIGKILL that ended the
	// process, when one was seen.
	GraceNS int64  `json:"grace_ns,omitempty"`
	Why     string `json:"why,omitempty"`
}

func (a *Aggregator) addDeath(ev *event.Event) {
	x := &ev.Exit
	d := &a.rep.Deaths
	d.Total++
	d.ByCause[x.Cause.String()]++
	if len(d.List) >= a.opts.KillsShown {
		d.Unlisted++
		return
	}
	death := Death{
		Capture: a.cur.index,
		Time:    timeOf(ev),
		KtimeNS: ev.KtimeNS,
		Process: Task{PID: ev.Task.PID, TGID: ev.Task.TGID, Comm: output.Escape(ev.Task.Comm),
			Cgroup: output.Escape(x.Cgroup.Path)},
		Owner:    ownerOf(x.Cgroup.Owner),
		ExitCode: x.ExitCode,
		Signal:   verdict.SignalName(x.Signal()),
		Cause:    x.Cause.String(),
		Evidence: evidenceOf(x),
		Why:      output.Escape(x.Why),
	}
	if x.Cause == event.CauseSignal || x.Cause == event.CauseFault && x.EvidenceKtimeNS != 0 {
		death.Sender = &Task{PID: x.Sender.PID, TGID: x.Sender.TGID, Comm: output.Escape(x.Sender.Comm),
			Cgroup: output.Escape(x.SenderCgroup.Path)}
		death.SenderClass = x.SenderClass.String()
	}
	if x.TermSender.TGID != 0 {
		death.GraceNS = x.TermBefore.Nanoseconds()
	}
	d.List = append(d.List, death)
}

// evidenceOf sums up what an exit's cause rests on.
func evidenceOf(x *event.Exit) string {
	switch x.Cause {
	case event.CauseOOMKill:
		return "oom_kill, class " + x.OOMClass.String()
	case event.CauseFault:
		if x.EvidenceKtimeNS == 0 {
			return "no signal seen; a fault signal"
		}
		return fmt.Sprintf("raised by the kernel, si_code %d", x.Code)
	case event.CauseSignal:
		var b strings.Builder
		fmt.Fprintf(&b, "from %s %d %s", x.SenderClass, x.Sender.TGID, output.Escape(x.Sender.Comm))
		if x.TermSender.TGID != 0 {
			fmt.Fprintf(&b, ", SIGTERM %s before", FormatDuration(x.TermBefore))
		}
		return b.String()
	}
	return "no signal seen"
}

func (t *textWriter) deaths(opts TextOptions) {
	d := t.rep.Deaths
	if d.Total == 0 && t.rep.Events[event.KindExit.String()] == 0 {
		return // no exit tracing in these captures: say nothing rather than "0"
	}
	fmt.Fprintf(t.w, "deaths: %d", d.Total)
	if d.Total > 0 {
		fmt.Fprintf(t.w, " (%s)", countsByName(d.ByCause))
	}
	fmt.Fprintln(t.w)
	if len(d.List) == 0 {
		fmt.Fprintln(t.w)
		return
	}
	header := []string{"TIME", "PROCESS", "OWNER", "SIGNAL", "CAUSE", "EVIDENCE"}
	several := len(t.rep.Captures) > 1
	if several {
		header = append([]string{"FILE"}, header...)
	}
	tw := t.table(header...)
	shown := d.List
	if opts.Short && len(shown) > shortKills {
		shown = shown[:shortKills]
	}
	for _, death := range shown {
		owner := nameCell(death.Process.Cgroup)
		if o := death.Owner; o != (Owner{}) {
			var names []string
			for _, name := range []string{o.Pod, o.Container, o.Unit} {
				if name != "" {
					names = append(names, nameCell(name))
				}
			}
			owner = strings.Join(names, " ")
		}
		cells := []string{FormatTime(death.Time, death.KtimeNS), fmt.Sprintf("%d %s", death.Process.TGID, nameCell(death.Process.Comm)), owner,
			death.Signal, death.Cause, death.Evidence}
		if several {
			cells = append([]string{escapeFile(t.rep.Captures[death.Capture].File)}, cells...)
		}
		addRow(tw, cells...)
	}
	tw.Flush()
	if more := d.Total - uint64(len(shown)); more > 0 {
		fmt.Fprintf(t.w, "  ... and %d more\n", more)
	}
	fmt.Fprintln(t.w)
}

// countsByName is "a 1, b 2": counts by name, in name order.
func countsByName(counts map[string]uint64) string {
	items := make([]string, 0, len(counts))
	for name, n := range counts {
		items = append(items, fmt.Sprintf("%s %d", name, n))
	}
	slices.Sort(items)
	return strings.Join(items, ", ")
}
