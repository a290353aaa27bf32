package memcg

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Usage returns the group's current memory usage in bytes (memory.current
// on cgroup v2, memory.usage_in_bytes on v1).
func (g *Group) Usage() (int64, error) {
	file := "memory.usage_in_bytes"
	if g.h.Version == 2 {
		file = "memory.current"
	}
	b, err := os.ReadFile(filepath.Join(g.dir, file))
	if err != nil {
		return 0, fmt.Errorf("read memory usage of %s: %w", g.dir, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read memory usage of %s: %w", g.dir, err)
	}
	return n, nil
}
