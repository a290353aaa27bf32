package main

import (
	"fmt"
	"os"
)

// checkOutput refuses an output file, given with flag, that oomtrace must
// not write: a link to a regular file or to nothing, since whoever can make
// links where root writes would choose the file written; or one of the
// inputs, since writing it would destroy what is read. A link to a device
// or a pipe (/dev/stdout) is written through.
func checkOutput(flag, output string, inputs []string) error {
	if output == "" || output == "-" {
		return nil
	}
	if link, err := os.Lstat(output); err == nil && link.Mode()&os.ModeSymlink != 0 {
		if target, err := os.Stat(output); err != nil || target.Mode().IsRegular() {
			return &exitError{status: 2, err: fmt.Errorf("%s %s is a link to a file, or to nothing: give the file's own path", flag, output)}
		}
	}
	out, err := os.Stat(output)
	if err != nil {
		return nil // not there yet: no input either
	}
	for _, in := range inputs {
		if info, err := os.Stat(in); err == nil && in != "-" && os.SameFile(out, info) {
			return &exitError{status: 2, err: fmt.Errorf("%s %s is also a file to read: writing it would destroy it; choose another name", flag, output)}
		}
	}
	return nil
}
