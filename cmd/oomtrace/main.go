// Command oomtrace watches the kernel's out-of-memory killer live and says
// who was killed, why, and by which limit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/oomtrace/oomtrace/internal/memcg"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `oomtrace watches the kernel's OOM killer and says who was killed, why,
and by which limit.

Usage:
  oomtrace trace [flags]    trace OOM kills, memcg OOMs and reclaim live
  oomtrace record -o FILE [flags] [-- COMMAND ARGS...]
                            trace into a log file, while COMMAND runs or until stopped
  oomtrace explain [FILE...]
                            explain the OOM kills (and evictions) of a kernel log after the fact;
                            without FILE, this machine's since boot
  oomtrace report FILE...   kills, reclaim stall and lost events of logs (oomtrace's, perf script's, kernel logs)
  oomtrace gate FILE... [rules]
                            exit 1 if a capture breaks a limit (kills, lost, reclaim, regression)
  oomtrace doctor           what this kernel and these privileges allow
  oomtrace demo [flags]     cause a small memcg OOM and trace it
  oomtrace serve [flags]    node agent: Prometheus metrics on 127.0.0.1:9789
  oomtrace version          print the version

Run "oomtrace COMMAND -h" for a command's flags.
`

func main() {
	// The demo's memory hog is this same binary, re-executed: HogMain
	// returns at once unless this process is one.
	memcg.HogMain()
	// So is the command oomtrace record runs: recordChildMain returns at
	// once unless this process is that command, not yet executed.
	recordChildMain()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// stopSignals are the signals that stop a command cleanly: SIGINT,
// SIGTERM, and SIGHUP, so that a terminal closed on trace or record ends
// them with their output whole rather than in the middle of a line;
// unless SIGHUP is ignored (nohup), which the command then leaves so.
func stopSignals() []os.Signal {
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

func run(args []string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	// The first signal asks the command to finish what it holds; a second
	// ends the process at once. Writing out can hang (a full pipe that
	// nobody reads any more), and SIGKILL must not be the only way out.
	context.AfterFunc(ctx, stop)

	var err error
	switch args[0] {
	case "trace":
		err = runTrace(ctx, args[1:], stdout, stderr, logger)
	case "record":
		err = runRecord(ctx, args[1:], stderr, logger)
	case "explain":
		err = runExplain(ctx, args[1:], stdout, stderr)
	case "report":
		err = runReport(args[1:], stdout, stderr)
	case "gate":
		err = runGate(args[1:], stdout, stderr)
	case "doctor":
		err = runDoctor(ctx, args[1:], stdout, stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr, logger)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr, logger)
	case "version", "--version":
		fmt.Fprintf(stdout, "oomtrace %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "oomtrace: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	status := 1
	var exit *exitError
	if errors.As(err, &exit) {
		status, err = exit.status, exit.err
	}
	if err != nil {
		fmt.Fprintf(stderr, "oomtrace: %v\n", err)
	}
	return status
}

// exitError ends oomtrace with its status, after printing err if it is
// not nil.
type exitError struct {
	status int
	err    error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.status)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// errUsage marks a command-line mistake already reported by the flag set.
var errUsage = errors.New("usage")

// parseFlags parses args with fs, reporting mistakes on stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "oomtrace %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}
