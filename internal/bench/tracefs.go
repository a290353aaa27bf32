package bench

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// tracefsMount is where the benchmark mounts tracefs when the machine has
// not: bpftrace and perf look the kernel's tracepoints up there, and the
// floor reader reads the layout of oom:mark_victim's record from it.
const tracefsMount = "/sys/kernel/tracing"

// tracefsEvents are the places, new and old, where tracefs lists the
// tracepoints when it is mounted.
var tracefsEvents = []string{tracefsMount + "/events", "/sys/kernel/debug/tracing/events"}

// mountTracefs mounts tracefs unless it is mounted already. unmount undoes
// what it did, and nothing when it did nothing.
func mountTracefs() (mounted bool, unmount func() error, err error) {
	for _, dir := range tracefsEvents {
		if _, err := os.Stat(dir); err == nil {
			return false, func() error { return nil }, nil
		}
	}
	if err := unix.Mount("tracefs", tracefsMount, "tracefs", 0, ""); err != nil {
		return false, nil, fmt.Errorf("mount tracefs on %s (bpftrace and perf find tracepoints there): %w; "+
			"mount it by hand with: mount -t tracefs tracefs %s", tracefsMount, err, tracefsMount)
	}
	if _, err := os.Stat(tracefsEvents[0]); err != nil {
		return true, nil, errors.Join(fmt.Errorf("tracefs mounted on %s lists no tracepoints: %w", tracefsMount, err),
			unix.Unmount(tracefsMount, 0))
	}
	return true, func() error { return unix.Unmount(tracefsMount, 0) }, nil
}
