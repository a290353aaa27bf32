package attribute

import (
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

// A path without its top names no owner, even when its deepest components
// are a pod's tree: the top that is missing could be a user's delegated
// subtree, where anyone can make cgroups that look like a pod. The same
// components from the root name the pod.
func TestNoOwnerForAPathWithoutItsTop(t *testing.T) {
	const uid = "0a1b2c3d-0000-4000-8000-00000000abcd"
	id := strings.Repeat("ab", 32)
	tree := "kubepods/burstable/pod" + uid + "/" + id
	for _, tc := range []struct {
		name      string
		cgroup    event.Cgroup
		wantOwned bool
	}{
		{"rooted", event.Cgroup{Path: "/" + tree, ID: 11}, true},
		{"top missing", event.Cgroup{Path: tree, ID: 12, Truncated: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{HostRoot: t.TempDir()})
			ev := event.Event{Kind: event.KindReclaim}
			ev.Reclaim.Cgroup = tc.cgroup
			if ok, err := s.Process(&ev); !ok || err != nil {
				t.Fatalf("Process: %v %v", ok, err)
			}
			got := ev.Reclaim.Cgroup.Owner
			if tc.wantOwned && (got.PodUID != uid || got.ID != id) {
				t.Errorf("owner %+v, want pod %s container %s", got, uid, id)
			}
			if !tc.wantOwned && !got.IsZero() {
				t.Errorf("owner %+v, want none", got)
			}
		})
	}
}
