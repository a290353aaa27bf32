package gate

import (
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/report"
)

// withDeaths is a capture of processes that died of the given causes.
func withDeaths(causes ...event.Cause) *report.Report {
	a := report.New(report.Options{})
	for i, cause := range causes {
		ev := event.Event{Kind: event.KindExit, KtimeNS: uint64(i+1) * 1e9,
			Task: event.Task{PID: uint32(200 + i), TGID: uint32(200 + i), Comm: "worker"},
			Exit: event.Exit{ExitCode: 9, Cause: cause, Sender: event.Task{PID: 9, TGID: 9, Comm: "kubelet"}, SenderClass: event.SenderKubelet}}
		a.Add(&ev)
	}
	a.EndCapture(capture.Info{Name: "run.log", Format: capture.FormatPerf})
	return a.Report()
}

func TestMaxDeathsCause(t *testing.T) {
	rep := withDeaths(event.CauseSignal, event.CauseSignal, event.CauseOOMKill)
	results, err := Check(rules(t, "max-deaths-cause signal=1", "max-deaths-cause oom_kill=1", "max-deaths-cause fault=0"), rep, nil)
	if err != nil {
		t.Fatal(err)
	}
	byRule := map[string]Result{}
	for _, r := range results {
		byRule[r.Rule] = r
	}
	failed := byRule["max-deaths-cause signal=1"]
	if failed.Passed || failed.Measured != "2 deaths by signal" || len(failed.Details) != 2 ||
		!strings.Contains(failed.Details[0], "200 worker SIGKILL, from kubelet 9 kubelet") {
		t.Errorf("signal=1: %+v", failed)
	}
	for _, name := range []string{"max-deaths-cause oom_kill=1", "max-deaths-cause fault=0"} {
		if r, ok := byRule[name]; !ok || !r.Passed {
			t.Errorf("%s: %+v (present %v)", name, r, ok)
		}
	}
	if Failed(results) != 1 {
		t.Errorf("%d rules failed, want 1", Failed(results))
	}
}

func TestMaxDeathsCauseErrors(t *testing.T) {
	for _, value := range []string{"signal", "crash=1", "signal=-1", "=1"} {
		var r Rules
		if err := r.Set(RuleMaxDeathsCause, value); err == nil {
			t.Errorf("%q accepted", value)
		}
	}
}
