package verdict

import "github.com/oomtrace/oomtrace/internal/event"

// Stage is the pipeline's explain stage, the one writer of the sentences
// people read: the Why of kills, exits, evictions, snapshots and kernel
// reports. It comes after the classify and attribute stages, whose fields
// the sentences are made of.
type Stage struct{}

// Process explains ev once. Events read back from oomtrace's own log keep
// the recording's sentences.
func (Stage) Process(ev *event.Event) (bool, error) {
	if ev.Restored {
		return true, nil
	}
	switch ev.Kind {
	case event.KindOOMKill:
		ev.OOMKill.Why = Explain(ev)
	case event.KindExit:
		ev.Exit.Why = ExplainExit(ev)
	case event.KindEviction:
		ev.Eviction.Why = ExplainEviction(ev)
	case event.KindOOMSnapshot:
		ev.OOMSnapshot.Why = ExplainSnapshot(ev)
	case event.KindOOMReport:
		ev.OOMReport.Why = ExplainReport(ev)
	}
	return true, nil
}
