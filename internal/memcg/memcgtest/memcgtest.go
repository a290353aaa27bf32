// Package memcgtest holds what the tests that make real memory cgroups
// share: the hierarchy, and cgroups removed when the test ends.
package memcgtest

import (
	"errors"
	"os"
	"testing"

	"github.com/oomtrace/oomtrace/internal/memcg"
)

// Require returns the memory hierarchy. It skips only when not root: as
// root, a machine without a usable memory controller fails the test.
func Require(t testing.TB) memcg.Hierarchy {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create memory cgroups")
	}
	h, err := memcg.Detect()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Create makes the cgroup rel with a limit of limitBytes (0: none). When
// the test ends, failed or not, it is removed (unless the test removed it
// first) and must be gone.
func Create(t testing.TB, h memcg.Hierarchy, rel string, limitBytes int64) *memcg.Group {
	t.Helper()
	g, err := h.Create(rel, limitBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Errorf("remove %s: %v", g.Path(), err)
		}
		if _, err := os.Stat(g.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Remove: %v", g.Dir(), err)
		}
	})
	return g
}

// ID returns g's cgroup id, as the kernel reports it in events.
func ID(t testing.TB, h memcg.Hierarchy, g *memcg.Group) uint64 {
	t.Helper()
	id, err := h.ID(g.Path())
	if err != nil {
		t.Fatal(err)
	}
	return id
}
