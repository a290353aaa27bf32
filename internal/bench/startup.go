package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// startupIdle is how long a tool runs idle before its peak RSS is read.
const startupIdle = time.Second

// startupSubject is a tool started with some arguments.
type startupSubject struct {
	label string
	tool  tool
	args  []string
}

// startupSubjects are oomtrace as users run it, oomtrace without trying
// the other modes first, oomtrace on the same tracepoints as the bpftrace
// script where it can leave the others out, the bpftrace script and perf
// record.
func (ts tools) startupSubjects() []startupSubject {
	subjects := []startupSubject{{"oomtrace", toolOomtrace, nil}}
	if ts.oomtraceHas("mode") {
		subjects = append(subjects, startupSubject{"oomtrace --mode tracepoint", toolOomtrace, []string{"--mode", "tracepoint"}})
	}
	if ts.oomtraceHas("events") {
		subjects = append(subjects, startupSubject{"oomtrace --events oom,reclaim,reaper", toolOomtrace, []string{"--events", "oom,reclaim,reaper"}})
	}
	return append(subjects, startupSubject{"bpftrace", toolBpftrace, nil}, startupSubject{"perf record", toolPerf, nil})
}

type startupTrial struct {
	subject     startupSubject
	startup     time.Duration
	idlePeakRSS uint64
	programs    progStats // oomtrace's, as loaded
}

type startupResults struct {
	rounds   int
	mode     string // oomtrace's attach mode
	subjects []startupSubject
	trials   []startupTrial
}

// startupScenario starts each subject in turn, times it from exec to
// attached and reads its peak RSS after a second of idling.
func (b *bencher) startupScenario(ctx context.Context) (*startupResults, error) {
	res := &startupResults{rounds: b.cfg.Rounds, subjects: b.tools.startupSubjects()}
	for round := range res.rounds {
		for _, s := range rotate(res.subjects, round) {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			tr, err := b.tools.startTracer(s.tool, s.args, nil)
			if err != nil {
				return res, err
			}
			time.Sleep(startupIdle)
			rss, rssErr := peakRSS(tr.pid())
			var programs progStats
			var progErr error
			if s.tool == toolOomtrace {
				programs, progErr = programsOf(tr.pid())
			}
			_, stopErr := b.stopTool(tr)
			if err := errors.Join(rssErr, progErr, stopErr); err != nil {
				return res, fmt.Errorf("start-up round %d, %s: %w", round+1, s.label, err)
			}
			if s.tool == toolOomtrace {
				res.mode = tr.mode
			}
			res.trials = append(res.trials, startupTrial{subject: s, startup: tr.startup, idlePeakRSS: rss, programs: programs})
			b.logf("start-up round %d/%d  %-38s %v  peak RSS %.1f MiB", round+1, res.rounds, s.label, tr.startup.Round(time.Millisecond), float64(rss)/(1<<20))
		}
	}
	return res, nil
}
