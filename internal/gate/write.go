package gate

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// WriteText writes one line per rule, PASS or FAIL, with the events that
// broke each failed rule indented below it, then a one-line verdict.
func WriteText(w io.Writer, results []Result) error {
	bw := bufio.NewWriter(w)
	for _, r := range results {
		verdict := "PASS"
		if !r.Passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(bw, "%s  %s: %s (limit %s)\n", verdict, r.Rule, r.Measured, r.Limit)
		for _, d := range r.Details {
			fmt.Fprintf(bw, "        %s\n", d)
		}
	}
	if n := Failed(results); n > 0 {
		fmt.Fprintf(bw, "gate: %d of %d rules failed\n", n, len(results))
	} else {
		fmt.Fprintf(bw, "gate: all %d rules passed\n", len(results))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write gate results: %w", err)
	}
	return nil
}

// JUnit XML, as CI systems read it: one test case per rule.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

const junitClass = "oomtrace.gate"

// WriteJUnit writes results as a JUnit XML report for the captures named
// in suite. A non-nil inputErr (the captures could not be read, or the
// rules not applied to them) is written as a single test case in error
// instead: a CI system shows the gate broken, never passed.
func WriteJUnit(w io.Writer, suite string, results []Result, inputErr error) error {
	s := junitSuite{Name: "oomtrace gate " + suite}
	if inputErr != nil {
		s.Cases = []junitCase{{Name: "read captures and rules", ClassName: junitClass,
			Error: &junitProblem{Message: inputErr.Error(), Type: "input", Text: inputErr.Error()}}}
		s.Errors = 1
	}
	for _, r := range results {
		c := junitCase{Name: r.Rule, ClassName: junitClass, SystemOut: fmt.Sprintf("%s (limit %s)", r.Measured, r.Limit)}
		if !r.Passed {
			c.Failure = &junitProblem{
				Message: fmt.Sprintf("%s, limit %s", r.Measured, r.Limit),
				Type:    "limit",
				Text:    strings.Join(r.Details, "\n"),
			}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "oomtrace gate", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Suites: []junitSuite{s}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s%s\n", xml.Header, out); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	return nil
}
