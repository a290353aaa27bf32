package memcg_test

import (
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/memcg/memcgtest"
)

// On the real hierarchy the kernel is asked by id: a cgroup whose path is
// not known whole, or whose path is wrong, is still told apart from one
// that is gone.
func TestRemovedByID(t *testing.T) {
	h := memcgtest.Require(t)
	rel := memcg.UniqueName("oomtrace-test") + "/" + strings.Repeat("n", 250)
	g := memcgtest.Create(t, h, rel, 0)
	id := memcgtest.ID(t, h, g)
	for _, path := range []string{"", g.Path(), "/no/such/cgroup"} {
		if h.Removed(path, id) {
			t.Errorf("Removed(%q, %d) of a cgroup that exists", path, id)
		}
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", g.Path()} {
		if !h.Removed(path, id) {
			t.Errorf("Removed(%q, %d) false for a cgroup removed", path, id)
		}
	}
	// Another cgroup made since at the same path has an id of its own.
	again := memcgtest.Create(t, h, rel, 0)
	if !h.Removed(again.Path(), id) || h.Removed(again.Path(), memcgtest.ID(t, h, again)) {
		t.Error("a cgroup made again at a removed one's path is taken for it")
	}
}
