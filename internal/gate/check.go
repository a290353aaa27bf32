package gate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/report"
)

// maxDetails bounds the events listed under one failed rule.
const maxDetails = 20

// Result is the verdict of one rule.
type Result struct {
	Rule     string   // the rule as given: "max-kills 0"
	Passed   bool     //
	Measured string   // "2 kills"
	Limit    string   // "0"
	Details  []string // on failure, the events that broke the rule
}

// Check holds the capture cur to rules, and to baseline when rules have a
// regression limit. It returns one result per rule, lost events and
// skipped runs first.
func Check(rules Rules, cur, baseline *report.Report) ([]Result, error) {
	if (rules.MaxRegression != nil) != (baseline != nil) {
		return nil, errNoBaseline
	}
	results := []Result{checkLost(rules.MaxLost, cur), checkSkippedRuns(rules.MaxSkippedRuns, rules.reads(), cur)}
	if rules.MaxKills != nil {
		results = append(results, checkKills(fmt.Sprintf("%s %d", RuleMaxKills, *rules.MaxKills), *rules.MaxKills, cur, nil))
	}
	for _, class := range []event.Class{event.ClassMemcg, event.ClassGlobal, event.ClassCpuset, event.ClassMempolicy, event.ClassSysrq, event.ClassUnknown} {
		limit, ok := rules.MaxKillsClass[class]
		if !ok {
			continue
		}
		name := fmt.Sprintf("%s %s=%d", RuleMaxKillsClass, class, limit)
		results = append(results, checkKills(name, limit, cur, &class))
	}
	for _, cause := range []event.Cause{event.CauseOOMKill, event.CauseSignal, event.CauseFault, event.CauseUnknown} {
		if limit, ok := rules.MaxDeathsCause[cause]; ok {
			results = append(results, checkDeaths(limit, cur, cause))
		}
	}
	for _, kind := range sortedKinds(rules.MaxReclaimP99) {
		results = append(results, checkReclaim(RuleMaxReclaimP99, kind, rules.MaxReclaimP99[kind], cur, p99))
	}
	for _, kind := range sortedKinds(rules.MaxReclaimTotal) {
		results = append(results, checkReclaim(RuleMaxReclaimTotal, kind, rules.MaxReclaimTotal[kind], cur, total))
	}
	if baseline != nil {
		results = append(results, checkRegressions(*rules.MaxRegression, cur, baseline)...)
	}
	return results, nil
}

// Failed counts the results that failed.
func Failed(results []Result) int {
	n := 0
	for _, r := range results {
		if !r.Passed {
			n++
		}
	}
	return n
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatUint(n, 10) + " " + many
}

func checkLost(limit uint64, rep *report.Report) Result {
	res := Result{
		Rule:     fmt.Sprintf("%s %d", RuleMaxLost, limit),
		Passed:   rep.Lost.Total <= limit,
		Measured: plural(rep.Lost.Total, "event lost", "events lost"),
		Limit:    strconv.FormatUint(limit, 10),
	}
	if !res.Passed {
		for _, l := range rep.Lost.List {
			res.Details = append(res.Details, fmt.Sprintf("%s: %d lost (%s)", report.FormatTime(l.Time, l.KtimeNS), l.Count, rep.Captures[l.Capture].File))
		}
		if rep.Lost.Unlisted > 0 {
			res.Details = append(res.Details, fmt.Sprintf("... and %d more lost events", rep.Lost.Unlisted))
		}
		for _, c := range rep.Captures {
			if c.Lost > 0 {
				res.Details = append(res.Details, fmt.Sprintf("%s: %d lost in all", c.File, c.Lost))
			}
		}
	}
	return res
}

// checkSkippedRuns holds the runs the kernel skipped of the programs that
// record what the rules read to limit. It names the other programs with
// skipped runs without counting them, and on failure each capture's
// programs that missed runs: a kill's program is not a signal's.
func checkSkippedRuns(limit uint64, reads event.Records, rep *report.Report) Result {
	var counted uint64
	notRead := make(event.SkippedRuns)
	var details []string
	for _, c := range rep.Captures {
		if c.SkippedRuns == 0 {
			continue
		}
		n, detail := splitSkipped(c, reads, notRead)
		if n > 0 {
			counted += n
			details = append(details, fmt.Sprintf("%s: %d skipped (%s)", c.File, n, detail))
		}
	}
	res := Result{
		Rule:     fmt.Sprintf("%s %d", RuleMaxSkippedRuns, limit),
		Passed:   counted <= limit,
		Measured: plural(counted, "run skipped", "runs skipped"),
		Limit:    strconv.FormatUint(limit, 10),
	}
	if len(notRead) > 0 {
		res.Measured += fmt.Sprintf(", not counting %s, whose records no rule reads", notRead)
	}
	if !res.Passed {
		res.Details = details
	}
	return res
}

// splitSkipped adds the capture's skipped runs of programs that record
// nothing of reads to notRead, and returns the others' count with their
// programs. Runs of an unknown program, or that no program accounts for,
// count: they may be anything.
func splitSkipped(c report.Capture, reads event.Records, notRead event.SkippedRuns) (uint64, string) {
	named, unnamed, err := event.SplitSkipped(c.SkippedByProgram, c.SkippedRuns)
	if err != nil {
		return unnamed, err.Error()
	}
	read := make(event.SkippedRuns)
	for name, n := range named {
		if records, _ := event.ProgramRecords(name); records&reads != 0 {
			read[name] += n
		} else {
			notRead[name] += n
		}
	}
	detail := read.String()
	if unnamed > 0 {
		detail = strings.TrimPrefix(fmt.Sprintf("%s and %d of no named program", detail, unnamed), " and ")
	}
	return read.Total() + unnamed, detail
}

// checkKills counts the kills, of class when not nil.
func checkKills(name string, limit uint64, rep *report.Report, class *event.Class) Result {
	n := rep.Kills.Total
	what := "kill"
	if class != nil {
		n = rep.Kills.ByClass[class.String()]
		what = class.String() + " kill"
	}
	res := Result{Rule: name, Passed: n <= limit, Measured: plural(n, what, what+"s"), Limit: strconv.FormatUint(limit, 10)}
	if !res.Passed {
		res.Details = killDetails(rep, class)
	}
	return res
}

func killDetails(rep *report.Report, class *event.Class) []string {
	var details []string
	listed := uint64(0)
	for _, k := range rep.Kills.List {
		if class != nil && k.Class != class.String() {
			continue
		}
		listed++
		if len(details) == maxDetails {
			continue
		}
		where := ""
		if k.OOMCgroup != "" {
			where = ", oom cgroup " + k.OOMCgroup
		}
		details = append(details, fmt.Sprintf("%s: killed %d (%s), %s%s, in %s",
			k.When(), k.Victim.Process(), k.Victim.Comm, k.Class, where, rep.Captures[k.Capture].File))
	}
	total := rep.Kills.Total
	if class != nil {
		total = rep.Kills.ByClass[class.String()]
	}
	if more := total - uint64(len(details)); more > 0 {
		details = append(details, fmt.Sprintf("... and %d more", more))
	}
	return details
}

// measure picks one number of a reclaim row.
type measure struct {
	name string
	get  func(report.Row) time.Duration
}

var (
	p99   = measure{"p99", func(r report.Row) time.Duration { return r.P99 }}
	total = measure{"total stall", func(r report.Row) time.Duration { return r.Total }}
)

// reclaimRow finds the row of kind; an empty row when there was no such
// reclaim.
func reclaimRow(rep *report.Report, kind string) report.Row {
	if kind == AllKinds {
		return rep.Reclaim.All
	}
	for _, r := range rep.Reclaim.ByKind {
		if r.Kind == kind {
			return r
		}
	}
	return report.Row{Kind: kind, AllEpisodes: true}
}

func checkReclaim(rule, kind string, limit time.Duration, rep *report.Report, m measure) Result {
	r := reclaimRow(rep, kind)
	name := rule + " " + report.FormatDuration(limit)
	if kind != AllKinds {
		name = fmt.Sprintf("%s %s=%s", rule, kind, report.FormatDuration(limit))
	}
	got := m.get(r)
	res := Result{
		Rule:     name,
		Passed:   got <= limit,
		Measured: fmt.Sprintf("%s reclaim %s %s", kind, m.name, report.FormatDuration(got)),
		Limit:    report.FormatDuration(limit),
	}
	if !res.Passed {
		res.Details = reclaimDetails(rep, r)
	}
	return res
}

func reclaimDetails(rep *report.Report, r report.Row) []string {
	details := []string{fmt.Sprintf("%d episodes, total %s, p50 %s, p90 %s, p99 %s, max %s",
		r.Count, report.FormatDuration(r.Total), report.FormatDuration(r.P50), report.FormatDuration(r.P90),
		report.FormatDuration(r.P99), report.FormatDuration(r.Max))}
	if !r.AllEpisodes {
		details = append(details, "only the episodes at least --reclaim-min long are known: a capture had no reclaim_stats")
	}
	for _, e := range r.Slowest {
		where := ""
		if e.Cgroup != "" {
			where = " in " + e.Cgroup
		}
		details = append(details, fmt.Sprintf("%s: %s reclaim of %s by %d (%s)%s, in %s",
			report.FormatTime(e.Time, e.KtimeNS), e.Kind, report.FormatDuration(e.Duration), e.PID, e.Comm, where, rep.Captures[e.Capture].File))
	}
	return details
}

// checkRegressions compares kills, and p99 and total stall of all reclaim
// and of each kind either capture has, with the baseline.
func checkRegressions(maxPct float64, cur, base *report.Report) []Result {
	limit := strconv.FormatFloat(maxPct, 'f', -1, 64) + "%"
	regression := func(what string, now, before float64, show func(float64) string) Result {
		pct := 0.0
		switch {
		case now > before && before == 0:
			pct = math.Inf(1)
		case before > 0:
			pct = (now - before) / before * 100
		}
		return Result{
			Rule:     fmt.Sprintf("%s %s: %s", RuleMaxRegression, limit, what),
			Passed:   pct <= maxPct,
			Measured: fmt.Sprintf("%s, baseline %s (%s)", show(now), show(before), formatChange(pct)),
			Limit:    "+" + limit,
		}
	}
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	duration := func(v float64) string { return report.FormatDuration(time.Duration(v)) }

	kills := regression("kills", float64(cur.Kills.Total), float64(base.Kills.Total), count)
	if !kills.Passed {
		kills.Details = killDetails(cur, nil)
	}
	results := []Result{kills}
	kinds := []string{AllKinds}
	for _, kind := range []event.ReclaimKind{event.ReclaimDirect, event.ReclaimMemcg, event.ReclaimSoftlimit} {
		if reclaimRow(cur, kind.String()).Count > 0 || reclaimRow(base, kind.String()).Count > 0 {
			kinds = append(kinds, kind.String())
		}
	}
	for _, kind := range kinds {
		now, before := reclaimRow(cur, kind), reclaimRow(base, kind)
		for _, m := range []measure{p99, total} {
			res := regression(kind+" reclaim "+m.name, float64(m.get(now)), float64(m.get(before)), duration)
			if !res.Passed {
				res.Details = reclaimDetails(cur, now)
			}
			results = append(results, res)
		}
	}
	return results
}

func formatChange(pct float64) string {
	if math.IsInf(pct, 1) {
		return "new: none in the baseline"
	}
	return fmt.Sprintf("%+.1f%%", pct)
}

// checkDeaths counts the processes a signal ended with the given cause.
func checkDeaths(limit uint64, rep *report.Report, cause event.Cause) Result {
	n := rep.Deaths.ByCause[cause.String()]
	what := "death by " + cause.String()
	res := Result{
		Rule:     fmt.Sprintf("%s %s=%d", RuleMaxDeathsCause, cause, limit),
		Passed:   n <= limit,
		Measured: plural(n, what, "deaths by "+cause.String()),
		Limit:    strconv.FormatUint(limit, 10),
	}
	if res.Passed {
		return res
	}
	for _, d := range rep.Deaths.List {
		if d.Cause != cause.String() {
			continue
		}
		if len(res.Details) < maxDetails {
			res.Details = append(res.Details, fmt.Sprintf("%s: %d %s %s, %s (%s)", report.FormatTime(d.Time, d.KtimeNS),
				d.Process.TGID, d.Process.Comm, d.Signal, d.Evidence, rep.Captures[d.Capture].File))
		}
	}
	if more := n - min(n, uint64(len(res.Details))); more > 0 {
		res.Details = append(res.Details, fmt.Sprintf("... and %d more", more))
	}
	return res
}
