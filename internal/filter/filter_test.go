package filter

import (
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func kill(class event.Class, victim, oom event.Owner) *event.Event {
	ev := &event.Event{Kind: event.KindOOMKill}
	ev.OOMKill.Class = class
	ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: "/v", Owner: victim}
	ev.OOMKill.OOMCgroup = event.Cgroup{Path: "/o", Owner: oom}
	return ev
}

func TestMatch(t *testing.T) {
	ctr := event.Owner{ID: id, Name: "api", PodUID: "uid-1", PodName: "api-7d9", Namespace: "shop", Level: event.LevelContainer}
	pod := event.Owner{PodUID: "uid-1", PodName: "api-7d9", Namespace: "shop", Level: event.LevelPod}
	memcgKill := kill(event.ClassMemcg, ctr, pod)
	plain := kill(event.ClassMemcg, event.Owner{}, event.Owner{})
	reclaim := &event.Event{Kind: event.KindReclaim, Reclaim: event.Reclaim{Cgroup: event.Cgroup{Path: "/r", Owner: pod}}}
	lost := &event.Event{Kind: event.KindLost}
	wake := &event.Event{Kind: event.KindKswapdWake}
	nodeSample := &event.Event{Kind: event.KindSample, Sample: event.Sample{MemTotalBytes: 1 << 30}}
	podSample := &event.Event{Kind: event.KindSample, Sample: event.Sample{Cgroup: event.Cgroup{Path: "/p", Owner: pod}}}
	otherSample := &event.Event{Kind: event.KindSample, Sample: event.Sample{Cgroup: event.Cgroup{Path: "/q"}}}

	for _, tc := range []struct {
		name string
		f    Filter
		ev   *event.Event
		want bool
	}{
		{"empty filter", Filter{}, plain, true},
		{"class match", Filter{Classes: []event.Class{event.ClassMemcg}}, memcgKill, true},
		{"class mismatch", Filter{Classes: []event.Class{event.ClassGlobal}}, memcgKill, false},
		{"class leaves reclaim alone", Filter{Classes: []event.Class{event.ClassGlobal}}, reclaim, true},
		{"pod by name", Filter{Pods: []string{"api-7d9"}}, memcgKill, true},
		{"pod by namespace/name", Filter{Pods: []string{"shop/api-7d9"}}, memcgKill, true},
		{"pod by uid", Filter{Pods: []string{"uid-1"}}, reclaim, true},
		{"pod in another namespace", Filter{Pods: []string{"prod/api-7d9"}}, memcgKill, false},
		{"pod of nothing", Filter{Pods: []string{"api-7d9"}}, plain, false},
		{"container by name", Filter{Containers: []string{"api"}}, memcgKill, true},
		{"container by short id", Filter{Containers: []string{id[:12]}}, memcgKill, true},
		{"container id too short", Filter{Containers: []string{id[:6]}}, memcgKill, false},
		{"container not in pod cgroup", Filter{Containers: []string{"api"}}, reclaim, false},
		{"pod and container both", Filter{Pods: []string{"api-7d9"}, Containers: []string{"api"}}, memcgKill, true},
		{"pod right container wrong", Filter{Pods: []string{"api-7d9"}, Containers: []string{"sidecar"}}, memcgKill, false},
		{"lost always passes", Filter{Pods: []string{"x"}, Classes: []event.Class{event.ClassGlobal}}, lost, true},
		{"no cgroup, pod filter", Filter{Pods: []string{"api-7d9"}}, wake, false},
		{"node sample always passes", Filter{Pods: []string{"x"}, Containers: []string{"y"}}, nodeSample, true},
		{"sample of the pod", Filter{Pods: []string{"api-7d9"}}, podSample, true},
		{"sample of another cgroup", Filter{Pods: []string{"api-7d9"}}, otherSample, false},
		{"empty pod name never matches empty", Filter{Pods: []string{""}}, plain, false},
	} {
		if got := tc.f.Match(tc.ev); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}
