package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/oomtrace/oomtrace/internal/gate"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/report"
)

func runGate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	var sel selection
	sel.register(fs)
	var rules gate.Rules
	for _, name := range []string{gate.RuleMaxKills, gate.RuleMaxKillsClass, gate.RuleMaxDeathsCause, gate.RuleMaxLost, gate.RuleMaxSkippedRuns,
		gate.RuleMaxReclaimP99, gate.RuleMaxReclaimTotal, gate.RuleMaxRegression} {
		fs.Func(name, gate.Usage[name], func(v string) error { return rules.Set(name, v) })
	}
	fs.Func("rules", "read rules from `FILE`: one per line, NAME VALUE with the names of these flags", rules.ReadFile)
	var baseline []string
	fs.Func("baseline", "compare with the capture in `FILE` (repeatable: summed), for --max-regression", func(v string) error {
		baseline = append(baseline, v)
		return nil
	})
	junit := fs.String("junit", "", "also write a JUnit XML report, one test case per rule, to `FILE`")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: oomtrace gate FILE... [rules]

Hold captures (as oomtrace report reads them) to limits. Prints every rule
with the measured value and the limit, and for a failed rule the events that
broke it. Exits 0 when every rule passes, 1 when one fails, 2 when a capture
cannot be read or the rules are wrong. Lost events and the runs of
oomtrace's programs the kernel skipped are always checked (--max-lost 0 and
--max-skipped-runs 0 unless given): a capture that lacks what the kernel did
not hand over cannot pass silently. Skipped runs count when their program
records what the other rules read (kills, deaths, reclaim), and every
program counts when there are no other rules.

Rules and flags:
`)
		printDefaults(fs)
	}
	files, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "oomtrace gate: want at least one FILE")
		return errUsage
	}
	through, err := sel.stages()
	if err != nil {
		return err
	}
	if *junit != "" {
		if err := checkOutput("--junit", *junit, append(files, baseline...)); err != nil {
			return err
		}
	}
	results, err := checkGate(rules, files, baseline, through, stderr)
	if *junit != "" {
		var inputErr error
		if errors.As(err, new(*exitError)) {
			inputErr = err
		}
		if jerr := writeJUnit(*junit, strings.Join(files, " "), results, inputErr); jerr != nil {
			return &exitError{status: 2, err: jerr}
		}
	}
	if err != nil {
		return err
	}
	if err := gate.WriteText(stdout, results); err != nil {
		return &exitError{status: 2, err: err}
	}
	if gate.Failed(results) > 0 {
		return &exitError{status: 1}
	}
	return nil
}

// checkGate reads the captures and checks them; errors end oomtrace with
// status 2.
func checkGate(rules gate.Rules, files, baseline []string, through pipeline.Options, stderr io.Writer) ([]gate.Result, error) {
	cur, err := readReport(files, report.Options{}, through, stderr)
	if err != nil {
		return nil, err
	}
	var base *report.Report
	if len(baseline) > 0 {
		if base, err = readReport(baseline, report.Options{}, through, stderr); err != nil {
			return nil, err
		}
	}
	results, err := gate.Check(rules, cur, base)
	if err != nil {
		return nil, &exitError{status: 2, err: fmt.Errorf("gate: %w", err)}
	}
	return results, nil
}

func writeJUnit(name, suite string, results []gate.Result, readErr error) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	err = gate.WriteJUnit(f, suite, results, readErr)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write JUnit report: %w", cerr)
	}
	return err
}
