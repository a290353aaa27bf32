package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/oomtrace/oomtrace/internal/attribute"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/filter"
	"github.com/oomtrace/oomtrace/internal/htmlreport"
	"github.com/oomtrace/oomtrace/internal/pipeline"
	"github.com/oomtrace/oomtrace/internal/report"
)

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	format := fs.String("output", "text", "report format: text (tables) or json (one document)")
	htmlFile := fs.String("html", "", "instead, write the report as one self-contained HTML `FILE` (- for standard output): a timeline per capture, the kills, reclaim latency histograms")
	window := fs.Duration("window", report.DefaultWindow, "sum the reclaim stall in this window before each kill")
	var sel selection
	sel.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: oomtrace report [flags] FILE...

Sum up logs of oomtrace record or trace (text or JSON) and perf script output
of the oom and vmscan tracepoints (perf record -e 'oom:*' -e 'vmscan:*'):
kills by class, by pod and container, and one by one, reclaim stall per
kind, pod, container and cgroup with its percentiles, the stall before each
kill, lost events, and sparklines of memory usage and reclaim over time per
cgroup. --html draws the same as a picture. FILE - is standard input.
Several FILEs are summed together. Exits 2 if a file cannot be read.

Flags:
`)
		printDefaults(fs)
	}
	files, err := parseInterspersed(fs, args, stderr)
	if err != nil {
		return err
	}
	if given(fs, "html") && *htmlFile == "" {
		fmt.Fprintln(stderr, "oomtrace report: --html wants a FILE, or - for standard output")
		return errUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "oomtrace report: --output %q: want text or json\n", *format)
		return errUsage
	}
	if len(files) == 0 || *window <= 0 {
		fmt.Fprintln(stderr, "oomtrace report: want at least one FILE, and a --window above 0")
		return errUsage
	}
	through, err := sel.stages()
	if err != nil {
		return err
	}
	if err := checkOutput("--html", *htmlFile, files); err != nil {
		return err
	}
	// The timelines are for people: drawn as sparklines or a picture.
	rep, err := readReport(files, report.Options{Window: *window, Timeline: *format == "text" || *htmlFile != ""}, through, stderr)
	if err != nil {
		return err
	}
	if *htmlFile != "" {
		return writeHTML(*htmlFile, rep, files, stdout)
	}
	if *format == "json" {
		return report.WriteJSON(stdout, rep)
	}
	return report.WriteText(stdout, rep, report.TextOptions{})
}

// given says whether the flag name was on the command line.
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// writeHTML writes the HTML report to name (checkOutput has passed it),
// or to stdout for "-". A regular file (or a new one) is written whole or
// not at all. A device, a pipe or a socket, or a link to one
// (/dev/stdout), is written through, since renaming over it would replace
// it.
func writeHTML(name string, rep *report.Report, files []string, stdout io.Writer) error {
	opts := htmlreport.Options{Title: strings.Join(files, ", "), Generator: "oomtrace " + version}
	if name == "-" {
		return htmlreport.Write(stdout, rep, opts)
	}
	write := func(f *os.File) error {
		bw := bufio.NewWriter(f)
		if err := htmlreport.Write(bw, rep, opts); err != nil {
			return err
		}
		return bw.Flush()
	}
	var err error
	if target, statErr := os.Stat(name); statErr == nil && !target.Mode().IsRegular() && !target.IsDir() {
		err = writeInPlace(name, write)
	} else {
		err = replaceWhole(name, write)
	}
	if err != nil {
		return fmt.Errorf("write HTML report %s: %w", name, err)
	}
	return nil
}

// replaceWhole writes a file beside name and renames it to name once
// written: a reader never sees half of it.
func replaceWhole(name string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails once renamed
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	return err
}

// writeInPlace writes to what name is, through it.
func writeInPlace(name string, write func(*os.File) error) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	err = write(f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// readReport reads files into a report, through the stages, printing their
// warnings; a file that cannot be read ends oomtrace with status 2.
func readReport(files []string, opts report.Options, through pipeline.Options, stderr io.Writer) (*report.Report, error) {
	rep, err := report.ReadFiles(files, opts, through)
	if err != nil {
		return nil, &exitError{status: 2, err: err}
	}
	for _, c := range rep.Captures {
		for _, w := range c.Warnings {
			fmt.Fprintf(stderr, "oomtrace: warning: %s\n", w)
		}
		if c.MoreWarnings > 0 {
			fmt.Fprintf(stderr, "oomtrace: warning: %s: %d more warnings\n", c.File, c.MoreWarnings)
		}
	}
	return rep, nil
}

// parseInterspersed parses flags that may come before, between and after
// the positional arguments, which it returns; after "--" everything is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if stopped := len(args) - len(rest); stopped > 0 && args[stopped-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// selection is the flags of the commands that read captures: --class,
// --filter-pod and --filter-container, and where the names of containers
// and pods are looked up.
type selection struct{ classes, pods, containers, hostRoot string }

func (s *selection) register(fs *flag.FlagSet) {
	fs.StringVar(&s.classes, "class", "", "only OOM kills of these classes, comma-separated")
	fs.StringVar(&s.pods, "filter-pod", "", "only events of these pods, comma-separated: name, namespace/name or UID")
	fs.StringVar(&s.containers, "filter-container", "", "only events of these containers, comma-separated: name or ID (12 digits or more)")
	fs.StringVar(&s.hostRoot, "host-root", "/", "where this host's root directory is seen, for the kubelet's and runtimes' names of the pods and containers a log names by ID")
}

// stages configures the pipeline the events of a capture take: no memory
// snapshot (the kills are past), names looked up by the IDs in the log
// (unique, so a log of another node gets none rather than wrong ones).
func (s *selection) stages() (pipeline.Options, error) {
	opts := pipeline.Options{
		Attribute: attribute.Options{HostRoot: s.hostRoot, Wait: killEnrichWait},
		Filter:    filter.Filter{Pods: splitList(s.pods), Containers: splitList(s.containers)},
	}
	for _, name := range splitList(s.classes) {
		c, err := event.ParseClass(name)
		if err != nil {
			return opts, &exitError{status: 2, err: fmt.Errorf("--class: %w", err)} // a usage error
		}
		opts.Filter.Classes = append(opts.Filter.Classes, c)
	}
	return opts, nil
}
