// Package selfprotect keeps the tracer alive under the memory pressure it
// reports: the OOM killer should pick anything but the process telling users
// who it killed.
package selfprotect

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// MinOOMScoreAdj is the kernel's OOM_SCORE_ADJ_MIN: never chosen.
const MinOOMScoreAdj = -1000

// LowerOOMScoreAdj sets the process's oom_score_adj as close to target as
// its privileges allow and returns the value in force. Lowering needs
// CAP_SYS_RESOURCE (root has it, unless a container or lockdown took it
// away); without it the current value stays.
func LowerOOMScoreAdj(target int) (int, error) {
	return lowerOOMScoreAdj("/proc/self/oom_score_adj", target)
}

func lowerOOMScoreAdj(file string, target int) (int, error) {
	current, err := readAdj(file)
	if err != nil {
		return 0, err
	}
	if current <= target {
		return current, nil
	}
	if err := os.WriteFile(file, []byte(strconv.Itoa(target)), 0); err != nil {
		return current, fmt.Errorf("lower oom_score_adj from %d to %d (needs CAP_SYS_RESOURCE): %w", current, target, err)
	}
	return readAdj(file)
}

func readAdj(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read oom_score_adj: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read oom_score_adj: %q is not a number", b)
	}
	return v, nil
}
