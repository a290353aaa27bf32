// Package gate holds a capture to limits: kills, lost events, reclaim stall,
// and regressions against a baseline capture of the same test. It says
// which limits failed, with the measured value, the limit and the events
// that broke it, as text and as JUnit XML for CI systems.
package gate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Rule names, as flags (--max-kills) and in a rules file (max-kills 0).
const (
	RuleMaxKills        = "max-kills"
	RuleMaxKillsClass   = "max-kills-class"
	RuleMaxDeathsCause  = "max-deaths-cause"
	RuleMaxLost         = "max-lost"
	RuleMaxSkippedRuns  = "max-skipped-runs"
	RuleMaxReclaimP99   = "max-reclaim-p99"
	RuleMaxReclaimTotal = "max-reclaim-total"
	RuleMaxRegression   = "max-regression"
)

// AllKinds names every reclaim kind together in the reclaim rules.
const AllKinds = "all"

// Rules are the limits a capture is held to. The zero value checks nothing
// but lost events and skipped runs: a capture that lacks what the kernel
// did not hand over cannot pass silently.
type Rules struct {
	MaxKills      *uint64
	MaxKillsClass map[event.Class]uint64
	// MaxDeathsCause limits the processes a signal ended, by cause.
	MaxDeathsCause map[event.Cause]uint64
	MaxLost        uint64
	// MaxSkippedRuns limits the runs of oomtrace's programs the kernel
	// skipped: each may be a kill, an exit or a reclaim episode missing.
	// Only the programs that record what the other rules read count
	// (see reads).
	MaxSkippedRuns uint64
	// Reclaim limits by kind name, or AllKinds.
	MaxReclaimP99   map[string]time.Duration
	MaxReclaimTotal map[string]time.Duration
	// MaxRegression, in percent, applies to kills, reclaim p99 and total
	// stall against a baseline.
	MaxRegression *float64
}

// Usage describes each rule for flag help; the back-quoted word names the
// value.
var Usage = map[string]string{
	RuleMaxKills:        "fail if there are more than `N` OOM kills",
	RuleMaxKillsClass:   "fail if there are more than N kills of CLASS (memcg, global, cpuset, mempolicy, sysrq, unknown): `CLASS=N`; repeatable",
	RuleMaxDeathsCause:  "fail if more than N processes died from a signal of CAUSE (oom_kill, signal, fault, unknown): `CAUSE=N`; repeatable",
	RuleMaxLost:         "fail if more than `N` events were lost (default 0)",
	RuleMaxSkippedRuns:  "fail if the kernel skipped more than `N` runs of oomtrace's programs, each a kill, exit or reclaim episode that may be missing; only the programs that record what the other rules read count, every program when there are none (default 0)",
	RuleMaxReclaimP99:   "fail if the p99 of reclaim episodes of KIND (direct, memcg, softlimit; all kinds together without KIND=) is longer: `[KIND=]DURATION`; repeatable",
	RuleMaxReclaimTotal: "fail if the total reclaim stall of KIND (all kinds together without KIND=) is longer: `[KIND=]DURATION`; repeatable",
	RuleMaxRegression:   "with --baseline, fail if kills, reclaim p99 or total stall grew by more than `PCT` percent",
}

// Set sets one rule from its name and value; a later value of the same
// rule (and kind or class) replaces an earlier one.
func (r *Rules) Set(name, value string) error {
	value = strings.TrimSpace(value)
	var err error
	switch name {
	case RuleMaxKills:
		var n uint64
		n, err = parseCount(value)
		r.MaxKills = &n
	case RuleMaxKillsClass:
		err = setCountOf(&r.MaxKillsClass, value, "CLASS", event.ParseClass)
	case RuleMaxDeathsCause:
		err = setCountOf(&r.MaxDeathsCause, value, "CAUSE", event.ParseCause)
	case RuleMaxLost:
		r.MaxLost, err = parseCount(value)
	case RuleMaxSkippedRuns:
		r.MaxSkippedRuns, err = parseCount(value)
	case RuleMaxReclaimP99:
		err = setKindLimit(&r.MaxReclaimP99, value)
	case RuleMaxReclaimTotal:
		err = setKindLimit(&r.MaxReclaimTotal, value)
	case RuleMaxRegression:
		var pct float64
		pct, err = strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64)
		if err != nil || pct < 0 || pct != pct {
			err = fmt.Errorf("want a percentage of at least 0, not %q", value)
		}
		r.MaxRegression = &pct
	default:
		return fmt.Errorf("unknown rule %q", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func parseCount(value string) (uint64, error) {
	n, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a count, not %q", value)
	}
	return n, nil
}

// setCountOf sets limits[key] from "KEY=N", the key parsed by parse; what
// names the key in errors.
func setCountOf[K comparable](limits *map[K]uint64, value, what string, parse func(string) (K, error)) error {
	name, count, ok := strings.Cut(value, "=")
	if !ok {
		return fmt.Errorf("want %s=N, not %q", what, value)
	}
	key, err := parse(name)
	if err != nil {
		return err
	}
	n, err := parseCount(count)
	if err != nil {
		return err
	}
	if *limits == nil {
		*limits = make(map[K]uint64)
	}
	(*limits)[key] = n
	return nil
}

func setKindLimit(limits *map[string]time.Duration, value string) error {
	kind, text := AllKinds, value
	if k, d, ok := strings.Cut(value, "="); ok {
		kind, text = k, d
		if kind != AllKinds {
			if _, err := event.ParseReclaimKind(kind); err != nil {
				return fmt.Errorf("%w, or %s", err, AllKinds)
			}
		}
	}
	d, err := time.ParseDuration(text)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 50ms, not %q", text)
	}
	if *limits == nil {
		*limits = make(map[string]time.Duration)
	}
	(*limits)[kind] = d
	return nil
}

// ReadFile reads rules from a file: one per line, "NAME VALUE" or
// "NAME=VALUE" with the names of the flags (without dashes); blank lines
// and lines starting with '#' are skipped.
func (r *Rules) ReadFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read rules: %w", err)
	}
	defer f.Close()
	return r.Read(f, name)
}

// Read reads rules as ReadFile does; name is for errors.
func (r *Rules) Read(in io.Reader, name string) error {
	sc := bufio.NewScanner(in)
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rule, value, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(rule, '='); i >= 0 {
			rule, value, ok = line[:i], line[i+1:], true
		}
		if !ok {
			return fmt.Errorf("%s:%d: want NAME VALUE, not %q", name, n, line)
		}
		if err := r.Set(strings.TrimPrefix(rule, "--"), value); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read rules %s:%d: %w", name, n, err)
	}
	return nil
}

// reads is what the rules read of a capture. A skipped run of a program
// that records none of it cannot change a verdict: an exit the kernel did
// not show is no kill missing. Rules that read nothing but the lost events
// and skipped runs check that the capture is whole, and read everything.
func (r Rules) reads() event.Records {
	var reads event.Records
	if r.MaxKills != nil || len(r.MaxKillsClass) > 0 {
		reads |= event.RecordsKills
	}
	if len(r.MaxDeathsCause) > 0 {
		// A death's cause is an OOM kill's or a signal's.
		reads |= event.RecordsDeaths | event.RecordsKills
	}
	if len(r.MaxReclaimP99) > 0 || len(r.MaxReclaimTotal) > 0 {
		reads |= event.RecordsReclaim
	}
	if r.MaxRegression != nil {
		reads |= event.RecordsKills | event.RecordsReclaim
	}
	if reads == 0 {
		return event.RecordsAll
	}
	return reads
}

// errNoBaseline is a regression limit without a baseline to compare with.
var errNoBaseline = errors.New("--max-regression needs --baseline, and --baseline needs --max-regression")

// sortedKinds lists the kinds of limits in a fixed order: all first, then
// direct, memcg, softlimit.
func sortedKinds(limits map[string]time.Duration) []string {
	kinds := make([]string, 0, len(limits))
	for k := range limits {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return kindOrder(a) - kindOrder(b) })
	return kinds
}

func kindOrder(kind string) int {
	if kind == AllKinds {
		return -1
	}
	k, _ := event.ParseReclaimKind(kind)
	return int(k)
}
