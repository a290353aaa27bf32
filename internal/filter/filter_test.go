package filter

import (
	"strings"
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

// The cgroup and process filters the BPF programs apply in the kernel,
// applied again for sources without BPF.
func TestCgroupAndPID(t *testing.T) {
	kill := &event.Event{Kind: event.KindOOMKill, Task: event.Task{PID: 7, TGID: 7}}
	kill.OOMKill.Victim = event.Victim{Task: event.Task{PID: 42, TGID: 42}, Cgroup: event.Cgroup{Path: "/kubepods/pod1/c1"}}
	kill.OOMKill.OOMCgroup = event.Cgroup{Path: "/kubepods/pod1"}
	kill.OOMKill.Trigger = event.Task{PID: 7, TGID: 7}
	kmsgKill := &event.Event{Kind: event.KindOOMKill}
	kmsgKill.OOMKill.Victim = event.Victim{Task: event.Task{PID: 42}}
	lost := &event.Event{Kind: event.KindLost}
	for _, tc := range []struct {
		f    Filter
		ev   *event.Event
		want bool
	}{
		{Filter{Cgroup: "/kubepods"}, kill, true},
		{Filter{Cgroup: "/kubepods/pod1"}, kill, true},
		{Filter{Cgroup: "/kubepods/pod"}, kill, false},
		{Filter{Cgroup: "/"}, kill, true},
		{Filter{Cgroup: "/other"}, kill, false},
		{Filter{Cgroup: "/other"}, lost, true},
		{Filter{PID: 42}, kill, true},
		{Filter{PID: 7}, kill, true},
		{Filter{PID: 8}, kill, false},
		{Filter{PID: 42}, kmsgKill, true}, // the thread is all a kernel log may name
		{Filter{PID: 42, Cgroup: "/other"}, kill, false},
		// A kill from a log whose report the kernel held back names no
		// cgroup: no cgroup, pod or container filter can place it.
		{Filter{Cgroup: "/other"}, kmsgKill, true},
		{Filter{Pods: []string{"shop/api"}, Containers: []string{"api"}}, kmsgKill, true},
		{Filter{Cgroup: "/other", PID: 8}, kmsgKill, false},
		{Filter{Cgroup: "/other", Classes: []event.Class{event.ClassGlobal}}, kmsgKill, false},
		// Any other event without a cgroup is left out.
		{Filter{Cgroup: "/other"}, &event.Event{Kind: event.KindExit}, false},
		{Filter{Pods: []string{"shop/api"}}, &event.Event{Kind: event.KindSignal}, false},
	} {
		if got := tc.f.Match(tc.ev); got != tc.want {
			t.Errorf("%+v on %+v: %v, want %v", tc.f, tc.ev.OOMKill.Victim, got, tc.want)
		}
	}
}

// A cgroup whose path the BPF side cut short, and which the kernel already
// kept by its id, is kept unless what is left of its path rules it out.
func TestCgroupCutShort(t *testing.T) {
	reclaimIn := func(c event.Cgroup) *event.Event {
		return &event.Event{Kind: event.KindReclaim, Reclaim: event.Reclaim{Cgroup: c}}
	}
	long := "/runtime/" + strings.Repeat("n", 250)
	leafCut := reclaimIn(event.Cgroup{Path: long, Truncated: true})         // the path's head
	topMissing := reclaimIn(event.Cgroup{Path: "pod1/c1", Truncated: true}) // its deepest components
	for _, tc := range []struct {
		dir  string
		ev   *event.Event
		want bool
	}{
		{long + "/" + strings.Repeat("m", 250), leafCut, true}, // the cgroup asked for, cut short
		{long, leafCut, true},
		{"/runtime", leafCut, true},
		{"/runtime/other", leafCut, false},
		{long + "x/leaf", leafCut, false},
		{"/other", leafCut, false},
		{"/anywhere", topMissing, true},
		{long, reclaimIn(event.Cgroup{Path: "/runtime"}), false}, // whole: an ancestor of dir is not within it
	} {
		if got := (&Filter{Cgroup: tc.dir}).Match(tc.ev); got != tc.want {
			t.Errorf("%s in %s: %v, want %v", tc.ev.Reclaim.Cgroup.Path, tc.dir, got, tc.want)
		}
	}
}

// An oom_snapshot and an oom_report go where their kill went, whatever the
// filter: they name neither the kill's trigger nor its task.
func TestFollowersGoWhereTheirKillWent(t *testing.T) {
	ctr := event.Owner{ID: id, Name: "api", PodUID: "uid-1", PodName: "api-7d9", Namespace: "shop", Level: event.LevelContainer}
	kept := kill(event.ClassMemcg, ctr, event.Owner{})
	kept.KtimeNS, kept.OOMKill.Victim.Task = 100, event.Task{PID: 7, TGID: 7}
	kept.OOMKill.Trigger = event.Task{PID: 9, TGID: 9}
	dropped := kill(event.ClassMemcg, event.Owner{}, event.Owner{})
	dropped.KtimeNS, dropped.OOMKill.Victim.Task = 200, event.Task{PID: 8, TGID: 8}
	oomtrace := event.Task{PID: 1, TGID: 1, Comm: "oomtrace"}
	snapshotOf := func(k *event.Event) *event.Event {
		return &event.Event{Kind: event.KindOOMSnapshot, KtimeNS: k.KtimeNS + 1, Task: oomtrace,
			OOMSnapshot: event.SnapshotAfter(k, event.Snapshot{})}
	}
	reportOf := func(k *event.Event) *event.Event {
		return &event.Event{Kind: event.KindOOMReport, KtimeNS: k.KtimeNS + 2, Task: oomtrace,
			OOMReport: event.ReportAfter(k, &event.OOMKill{})}
	}
	for _, f := range []Filter{{Containers: []string{"api"}}, {PID: 9}, {Classes: []event.Class{event.ClassMemcg}, Pods: []string{"shop/api-7d9"}}} {
		s := NewStage(f)
		process := func(ev *event.Event) bool {
			keep, err := s.Process(ev)
			if err != nil {
				t.Fatal(err)
			}
			return keep
		}
		if !process(kept) || process(dropped) {
			t.Fatalf("%+v: the kills are not filtered as the test wants", f)
		}
		for _, follower := range []func(*event.Event) *event.Event{snapshotOf, reportOf} {
			kind := follower(kept).Kind
			if !process(follower(kept)) {
				t.Errorf("%+v: the %s of a kept kill was dropped", f, kind)
			}
			if process(follower(dropped)) {
				t.Errorf("%+v: the %s of a dropped kill was kept", f, kind)
			}
			if process(follower(kept)) {
				t.Errorf("%+v: a second %s of one kill was kept", f, kind)
			}
		}
		// The kill is remembered while maxKept more are kept.
		late := kill(event.ClassMemcg, ctr, event.Owner{})
		late.KtimeNS, late.OOMKill.Victim.Task, late.OOMKill.Trigger = 300, event.Task{PID: 10, TGID: 10}, kept.OOMKill.Trigger
		process(late)
		for i := range maxKept {
			other := kill(event.ClassMemcg, ctr, event.Owner{})
			other.KtimeNS, other.OOMKill.Victim.Task, other.OOMKill.Trigger = 1000+uint64(i), event.Task{PID: 11, TGID: 11}, kept.OOMKill.Trigger
			process(other)
		}
		if !process(snapshotOf(late)) {
			t.Errorf("%+v: the snapshot of a kill %d kills back was dropped", f, maxKept)
		}
	}
	if keep, _ := NewStage(Filter{}).Process(snapshotOf(dropped)); !keep {
		t.Error("no filter dropped a snapshot")
	}
}
