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
  oomtrace doctor           what this kernel and these privileges allow
  oomtrace demo [flags]     cause a small memcg OOM and trace it
  oomtrace version          print the version

Run "oomtrace COMMAND -h" for a command's flags.
`

func main() {
	// The demo's memory hog is this same binary, re-executed: HogMain
	// returns at once unless this process is one.
	memcg.HogMain()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var err error
	switch args[0] {
	case "trace":
		err = runTrace(ctx, args[1:], stdout, stderr, logger)
	case "doctor":
		err = runDoctor(ctx, args[1:], stdout, stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr, logger)
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
	fmt.Fprintf(stderr, "oomtrace: %v\n", err)
	return 1
}

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
