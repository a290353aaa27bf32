package container

import (
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

// A container Docker started with --cgroup-parent has a bare ID for a
// cgroup: Docker's state names it and says it is Docker's; an ID no
// runtime knows stays a container of unknown runtime.
func TestResolveParentedContainer(t *testing.T) {
	k := newKubeletTree(t)
	k.writeFile("var/lib/docker/containers/"+testID1+"/config.v2.json", `{"ID":"`+testID1+`","Name":"/limited"}`)
	r := NewResolver(HostPaths(k.root))

	info := Parse("/oomtrace-limited/" + testID1)
	want := event.Owner{Runtime: event.RuntimeDocker, ID: testID1, Name: "limited", Level: event.LevelContainer}
	if got := resolve(r, info); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := r.Cached(info); got != want {
		t.Errorf("cached: got %+v, want %+v", got, want)
	}
	unknown := Parse("/oomtrace-limited/" + testID2)
	if got := resolve(r, unknown); got != (event.Owner{ID: testID2, Level: event.LevelContainer}) {
		t.Errorf("unknown ID: got %+v", got)
	}
}
