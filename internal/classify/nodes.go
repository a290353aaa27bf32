package classify

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
	"golang.org/x/sys/unix"
)

// MemoryNodesPath lists the NUMA nodes that have memory. It exists only on
// kernels built with NUMA, the only ones where an OOM can be confined to
// some of the nodes.
const MemoryNodesPath = "/sys/devices/system/node/has_memory"

// Refine tells a cpuset or mempolicy OOM from a global one, as the kernel
// does when it picks the constraint: a policy that binds the allocation to
// fewer than all the nodes with memory makes it mempolicy; else a cpuset
// that allows fewer of them makes it cpuset; else it is global.
// memoryNodes are the nodes with memory; without them (0) nothing can be
// refined and the class stays global, which is exact on a machine without
// NUMA.
func Refine(memoryNodes uint64, l event.NodeLimits) event.Class {
	if memoryNodes == 0 {
		return event.ClassGlobal
	}
	if l.HavePolicy && l.PolicyMode == unix.MPOL_BIND && memoryNodes&^l.PolicyNodes != 0 {
		return event.ClassMempolicy
	}
	if l.HaveMemsAllowed && memoryNodes&^l.MemsAllowed != 0 {
		return event.ClassCpuset
	}
	return event.ClassGlobal
}

// ReadMemoryNodes reads the nodes with memory from MemoryNodesPath. It
// returns 0 and no error on a kernel without NUMA, and an error for a node
// list it cannot hold (a node above 63).
func ReadMemoryNodes() (uint64, error) {
	b, err := os.ReadFile(MemoryNodesPath)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read NUMA nodes with memory: %w", err)
	}
	mask, err := ParseNodeList(string(b))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", MemoryNodesPath, err)
	}
	return mask, nil
}

// ParseNodeList parses the kernel's list format ("0", "0-1,3") into a mask
// of nodes 0 to 63.
func ParseNodeList(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	var mask uint64
	if s == "" {
		return 0, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		first, last, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseUint(first, 10, 8)
		if err != nil {
			return 0, fmt.Errorf("bad node list %q", s)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(last, 10, 8); err != nil || hi < lo {
				return 0, fmt.Errorf("bad node list %q", s)
			}
		}
		if hi > 63 {
			return 0, fmt.Errorf("node %d is past the 64 nodes oomtrace reads", hi)
		}
		for n := lo; n <= hi; n++ {
			mask |= 1 << n
		}
	}
	return mask, nil
}
