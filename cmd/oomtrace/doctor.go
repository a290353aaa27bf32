package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/oomtrace/oomtrace/internal/doctor"
)

func runDoctor(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: oomtrace doctor\n\nSay what this kernel and these privileges allow: BTF, each attach mode\n(loaded and attached for real), each tracepoint, kallsyms, the memory\ncgroup hierarchy, the kernel log, and which mode auto would pick. Exits 1\nwhen no mode works.\n")
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	report := doctor.Run()
	if err := report.Write(stdout); err != nil {
		return err
	}
	if !report.Usable {
		return errors.New("no attach mode works on this machine (see above)")
	}
	return nil
}
