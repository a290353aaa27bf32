package verdict

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/container"
	"github.com/oomtrace/oomtrace/internal/event"
)

var update = flag.Bool("update", false, "rewrite testdata/verdict/verdicts.golden")

const (
	mib = 1 << 20
	kib = 1 << 10

	id1  = "0dc1822c4f1e5f3c7b4a2e9d8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b"
	id2  = "7f3a9e1b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f"
	id3  = "e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"
	uid1 = "0f5eb28f-3c1a-4e2b-9d7c-6a5b4c3d2e1f"

	podPath     = "/kubepods/burstable/pod" + uid1
	apiPath     = podPath + "/" + id1
	sidecarPath = podPath + "/" + id2
)

var shopNames = container.Names{PodName: "api-7d9", Namespace: "shop"}

// attribute parses path and adds names, as the tracer will.
func attribute(path string, n container.Names) event.Owner {
	return container.WithNames(container.Parse(path), n)
}

func withName(n container.Names, name string) container.Names {
	n.Name = name
	return n
}

// javaKill is a memcg kill of java in the api container.
func javaKill() event.Event {
	return event.Event{
		Kind: event.KindOOMKill,
		OOMKill: event.OOMKill{
			Class: event.ClassMemcg,
			Victim: event.Victim{
				Task:        event.Task{PID: 4242, TGID: 4242, Comm: "java"},
				OOMScoreAdj: 1000,
				HasMM:       true,
				RSSAnonKB:   470 * mib / kib,
				RSSFileKB:   3788,
				Cgroup:      event.Cgroup{Path: apiPath, ID: 11, UsageBytes: 256 * mib, LimitBytes: 256 * mib},
			},
			Trigger:       event.Task{PID: 4250, TGID: 4242, Comm: "GC Thread#0"},
			TriggerCgroup: event.Cgroup{Path: apiPath, ID: 11},
			OOMCgroup:     event.Cgroup{Path: apiPath, ID: 11, UsageBytes: 256 * mib, LimitBytes: 256 * mib},
		},
	}
}

// podLimitKill is javaKill under a 512 MiB pod limit, hit by the sidecar's
// nginx.
func podLimitKill() event.Event {
	ev := javaKill()
	k := &ev.OOMKill
	k.Victim.Cgroup.UsageBytes, k.Victim.Cgroup.LimitBytes = 498*mib, event.NoLimit
	k.OOMCgroup = event.Cgroup{Path: podPath, ID: 10, UsageBytes: 512 * mib, LimitBytes: 512 * mib}
	k.Trigger = event.Task{PID: 77, TGID: 77, Comm: "nginx"}
	k.TriggerCgroup = event.Cgroup{Path: sidecarPath, ID: 12}
	return ev
}

func v2Snapshot(oomKills uint64) *event.Snapshot {
	return &event.Snapshot{Status: event.SnapshotOK, Version: 2,
		Fields:        event.SnapEventsOOMKill | event.SnapAnon | event.SnapFile | event.SnapShmem | event.SnapKernel | event.SnapSwap | event.SnapSwapLimit | event.SnapPressure,
		EventsOOMKill: oomKills, Anon: 470 * mib, File: 30 * mib, Shmem: 2 * mib, Kernel: 12 * mib, SwapBytes: 0, SwapLimitBytes: 0,
		Pressure: event.Pressure{Some: event.PressureLine{Avg10: 12.25}, Full: event.PressureLine{Avg10: 8}}}
}

// input is an oom_kill event and what the attribute stage found for it:
// the owners of the victim's, the trigger's and the OOM cgroup, and the
// snapshot.
type input struct {
	Event                *event.Event
	Victim, Trigger, OOM event.Owner
	Snapshot             *event.Snapshot
}

// attributed is the event as the attribute stage hands it on.
func (in input) attributed() *event.Event {
	k := &in.Event.OOMKill
	k.Victim.Cgroup.Owner, k.TriggerCgroup.Owner, k.OOMCgroup.Owner = in.Victim, in.Trigger, in.OOM
	return in.Event
}

// snapshot is the oom_snapshot event that follows the kill, when the case
// has a snapshot.
func (in input) snapshot() *event.Event {
	if in.Snapshot == nil {
		return nil
	}
	return &event.Event{Kind: event.KindOOMSnapshot, OOMSnapshot: event.SnapshotAfter(in.attributed(), *in.Snapshot)}
}

// report is the oom_report event that would follow the kill, were it seen
// live, when the case's kill is from a kernel log with a report: what the
// log says beyond the kill then comes in an event of its own.
func (in input) report() *event.Event {
	k := &in.Event.OOMKill
	if !k.Report.Has() && !k.HasGFP {
		return nil
	}
	live := *in.attributed()
	live.OOMKill.Report, live.OOMKill.HasGFP, live.OOMKill.GFPMask, live.OOMKill.Order = event.KernelReport{}, false, 0, 0
	return &event.Event{Kind: event.KindOOMReport, OOMReport: event.ReportAfter(&live, k)}
}

type verdictCase struct {
	name string
	in   input
}

func cases() []verdictCase {
	var cs []verdictCase
	add := func(name string, ev event.Event, in input) {
		in.Event = &ev
		cs = append(cs, verdictCase{name, in})
	}
	api := attribute(apiPath, withName(shopNames, "api"))
	pod := attribute(podPath, shopNames)
	proxy := attribute(sidecarPath, withName(shopNames, "proxy"))

	add("memcg, container level", javaKill(), input{Victim: api, Trigger: api, OOM: api, Snapshot: v2Snapshot(1)})
	add("memcg, pod level, hit by another container", podLimitKill(), input{Victim: api, Trigger: proxy, OOM: pod, Snapshot: v2Snapshot(3)})
	add("memcg, pod level, no names found", podLimitKill(), input{
		Victim: container.Parse(apiPath), Trigger: container.Parse(sidecarPath), OOM: container.Parse(podPath),
		Snapshot: &event.Snapshot{Status: event.SnapshotRemoved, Version: 2},
	})
	add("memcg, pod level, v1 counter is the pod's own", podLimitKill(), input{Victim: api, Trigger: proxy, OOM: pod,
		Snapshot: &event.Snapshot{Status: event.SnapshotOK, Version: 1, Fields: event.SnapEventsOOMKill, EventsOOMKill: 5}})

	ev := javaKill()
	ev.OOMKill.VictimExiting = true
	add("memcg, victim already exiting", ev, input{Victim: api, Trigger: api, OOM: api})

	ev = javaKill()
	ev.OOMKill.Victim.HasMM = false
	add("memcg, victim without memory", ev, input{Victim: api, Trigger: api, OOM: api})

	// Whether the container lives on after the kill.
	ev = javaKill()
	ev.OOMKill.VictimMain = ev.OOMKill.Victim.Task
	add("memcg, the container's main process", ev, input{Victim: api, Trigger: api, OOM: api})
	ev = javaKill()
	ev.OOMKill.VictimMain = event.Task{PID: 4100, TGID: 4100, Comm: "tini"}
	add("memcg, a child of the container's main process", ev, input{Victim: api, Trigger: api, OOM: api})

	ev = javaKill()
	ev.OOMKill.OOMCgroup = event.Cgroup{}
	add("memcg, OOM cgroup unknown", ev, input{Victim: api, Trigger: api})

	// The container has a limit of its own, and was at it too or not.
	ev = podLimitKill()
	ev.OOMKill.Victim.Cgroup.UsageBytes, ev.OOMKill.Victim.Cgroup.LimitBytes = 499*mib, 500*mib
	add("memcg, pod level, container at its own limit too", ev, input{Victim: api, Trigger: proxy, OOM: pod})
	ev = podLimitKill()
	ev.OOMKill.Victim.Cgroup.LimitBytes = 1024 * mib
	add("memcg, pod level, container below its own limit", ev, input{Victim: api, Trigger: proxy, OOM: pod})

	ev = podLimitKill()
	ev.OOMKill.OOMCgroup = event.Cgroup{Path: "/kubepods", ID: 2, UsageBytes: 7680 * mib, LimitBytes: 7680 * mib}
	add("memcg, node allocatable", ev, input{Victim: api, Trigger: proxy, OOM: container.Parse("/kubepods")})

	ev = podLimitKill()
	ev.OOMKill.OOMCgroup = event.Cgroup{Path: "/kubepods/burstable", ID: 3, UsageBytes: 3 * 1024 * mib, LimitBytes: 3 * 1024 * mib}
	add("memcg, QoS class limit", ev, input{Victim: api, Trigger: proxy, OOM: container.Parse("/kubepods/burstable")})

	// On cgroup v2 a container's cgroup without the memory controller is
	// charged to its pod's.
	ev = podLimitKill()
	ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: podPath, ID: 10, UsageBytes: 512 * mib, LimitBytes: 512 * mib}
	ev.OOMKill.TriggerCgroup = ev.OOMKill.Victim.Cgroup
	add("memcg, victim's memcg is its pod's", ev, input{Victim: pod, Trigger: pod, OOM: pod})

	ev = javaKill()
	sub := apiPath + "/workers"
	ev.OOMKill.Victim.Cgroup.Path, ev.OOMKill.TriggerCgroup.Path = sub, sub
	ev.OOMKill.Victim.Cgroup.LimitBytes = event.NoLimit
	add("memcg, container limit over a sub-cgroup", ev, input{Victim: attribute(sub, withName(shopNames, "api")), Trigger: attribute(sub, withName(shopNames, "api")), OOM: api})

	hog := event.Event{Kind: event.KindOOMKill, OOMKill: event.OOMKill{
		Class: event.ClassMemcg,
		Victim: event.Victim{Task: event.Task{PID: 21680, TGID: 21680, Comm: "oomtrace-hog"}, HasMM: true, RSSAnonKB: 33536, RSSFileKB: 3848,
			Cgroup: event.Cgroup{Path: "/oomtrace-demo-21671-9fa76cfc", ID: 6998, UsageBytes: 32 * mib, LimitBytes: 32 * mib}},
		Trigger:       event.Task{PID: 21680, TGID: 21680, Comm: "oomtrace-hog"},
		TriggerCgroup: event.Cgroup{Path: "/oomtrace-demo-21671-9fa76cfc", ID: 6998},
		OOMCgroup:     event.Cgroup{Path: "/oomtrace-demo-21671-9fa76cfc", ID: 6998, UsageBytes: 32 * mib, LimitBytes: 32 * mib},
	}}
	add("memcg, plain cgroup", hog, input{Snapshot: &event.Snapshot{Status: event.SnapshotOK, Version: 1, Fields: event.SnapEventsOOMKill, EventsOOMKill: 2}})

	ev = hog
	ev.OOMKill.Victim.Cgroup.Path, ev.OOMKill.TriggerCgroup.Path = "/oomtrace-test/child", "/oomtrace-test/child"
	ev.OOMKill.Victim.Cgroup.LimitBytes = event.NoLimit
	ev.OOMKill.OOMCgroup.Path = "/oomtrace-test"
	add("memcg, plain parent cgroup", ev, input{})

	ev = hog
	docker := "/system.slice/docker-" + id3 + ".scope"
	ev.OOMKill.Victim.Cgroup.Path, ev.OOMKill.TriggerCgroup.Path, ev.OOMKill.OOMCgroup.Path = docker, docker, docker
	web := attribute(docker, container.Names{Name: "web"})
	add("memcg, docker container", ev, input{Victim: web, Trigger: web, OOM: web})

	ev = hog
	conmon := "/machine.slice/libpod-conmon-" + id3 + ".scope"
	ev.OOMKill.Victim.Cgroup.Path, ev.OOMKill.TriggerCgroup.Path, ev.OOMKill.OOMCgroup.Path = conmon, conmon, conmon
	add("memcg, podman monitor", ev, input{Victim: container.Parse(conmon), Trigger: container.Parse(conmon), OOM: container.Parse(conmon)})

	ev = hog
	svc := "/system.slice/nginx.service"
	ev.OOMKill.Victim.Cgroup.Path, ev.OOMKill.TriggerCgroup.Path, ev.OOMKill.OOMCgroup.Path = svc, svc, svc
	ev.OOMKill.OOMCgroup.LimitBytes = 1536 * mib
	add("memcg, systemd service", ev, input{Victim: container.Parse(svc), Trigger: container.Parse(svc), OOM: container.Parse(svc)})

	ev = hog
	user := "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-1234.scope"
	ev.OOMKill.Victim.Cgroup.Path, ev.OOMKill.TriggerCgroup.Path = user, user
	ev.OOMKill.Victim.Cgroup.LimitBytes = event.NoLimit
	ev.OOMKill.OOMCgroup.Path, ev.OOMKill.OOMCgroup.LimitBytes = "/user.slice/user-1000.slice", 4*1024*mib
	add("memcg, user slice limit", ev, input{Victim: container.Parse(user), Trigger: container.Parse(user), OOM: container.Parse("/user.slice/user-1000.slice")})

	ev = hog
	ev.OOMKill.Victim.Comm = "x\" in pod a/b\n"
	ev.OOMKill.Victim.Cgroup.Path = "/evil\npath"
	ev.OOMKill.OOMCgroup.Path = "/evil\npath"
	add("memcg, hostile names", ev, input{})

	ev = javaKill()
	cut := podPath + "/" + id1[:30]
	ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: cut, ID: 11, UsageBytes: 498 * mib, LimitBytes: event.NoLimit, Truncated: true}
	ev.OOMKill.OOMCgroup = event.Cgroup{Path: podPath, ID: 10, UsageBytes: 512 * mib, LimitBytes: 512 * mib}
	cutInfo := container.WithNames(container.ParseTruncated(cut), shopNames)
	add("memcg, truncated victim path", ev, input{Victim: cutInfo, Trigger: cutInfo, OOM: pod})

	global := podLimitKill()
	global.OOMKill.Class = event.ClassGlobal
	global.OOMKill.OOMCgroup = event.Cgroup{}
	global.OOMKill.HasControl, global.OOMKill.Points, global.OOMKill.TotalPages = true, 120000, 4194304
	global.OOMKill.Trigger = event.Task{PID: 900, TGID: 900, Comm: "postgres"}
	global.OOMKill.TriggerCgroup = event.Cgroup{Path: "/system.slice/postgresql.service", ID: 40}
	pressure := &event.Snapshot{Status: event.SnapshotOK, Version: 2, Fields: event.SnapNodePressure,
		NodePressure: event.Pressure{Some: event.PressureLine{Avg10: 80.51}, Full: event.PressureLine{Avg10: 35.2}}}
	add("global, with oom_control and pressure", global, input{Victim: api, Trigger: container.Parse("/system.slice/postgresql.service"), Snapshot: pressure})

	ev = global
	ev.OOMKill.VictimExiting = true
	add("global, victim already exiting", ev, input{Victim: api, Trigger: container.Parse("/system.slice/postgresql.service")})

	ev = global
	ev.Missing |= event.MissingVictimAdj
	add("global, oom_control but no oom_score_adj", ev, input{Victim: api, Trigger: container.Parse("/system.slice/postgresql.service")})

	old := event.Event{Kind: event.KindOOMKill, OOMKill: event.OOMKill{
		Class:  event.ClassGlobal,
		Victim: event.Victim{Task: event.Task{PID: 10, TGID: 10, Comm: "hog"}, HasMM: true, RSSAnonKB: 3 * 1024 * 1024, RSSFileKB: 100},
	}}
	add("global, old tracepoint: no cgroup, no trigger", old, input{})

	ev = global
	ev.OOMKill.Class = event.ClassSysrq
	ev.OOMKill.Trigger = event.Task{PID: 31, TGID: 31, Comm: "kworker/0:1"}
	ev.OOMKill.TriggerCgroup = event.Cgroup{Path: "/", ID: 1}
	add("sysrq", ev, input{Victim: api})

	ev = global
	ev.OOMKill.Class = event.ClassCpuset
	add("cpuset", ev, input{Victim: api, Trigger: container.Parse("/system.slice/postgresql.service")})

	ev = global
	ev.OOMKill.Class = event.ClassMempolicy
	ev.OOMKill.HasControl = false
	add("mempolicy", ev, input{Victim: api, Trigger: container.Parse("/system.slice/postgresql.service")})

	ev = global
	ev.OOMKill.Class = event.ClassUnknown
	ev.OOMKill.HasControl = false
	add("unknown class", ev, input{Victim: api, Trigger: container.Parse("/system.slice/postgresql.service")})

	// Read from a kernel log: no oom_score_adj (before 5.10), the
	// allocating thread but not its process, the report's memory state,
	// an order-3 allocation with little free in blocks that large.
	kmsg := event.Event{Kind: event.KindOOMKill, Missing: event.MissingVictimAdj | event.MissingTriggerTGID, OOMKill: event.OOMKill{
		Class: event.ClassGlobal, Mode: event.ModeKmsg,
		Victim:  event.Victim{Task: event.Task{PID: 1200, TGID: 1200, Comm: "postgres"}, HasMM: true, RSSAnonKB: 3 << 20, RSSFileKB: 2048},
		Trigger: event.Task{PID: 2001, Comm: "java"},
		HasGFP:  true, GFPMask: 0x40dc0, Order: 3,
		Report: event.KernelReport{
			HasNode: true, AnonBytes: 7 << 30, FileBytes: 40 * mib, ShmemBytes: mib, SlabUnreclaimBytes: 200 * mib,
			FreeBytes: 120 * mib, MinFreeBytes: 60 * mib, HasSwap: true,
			HasFreeLists: true, FreeByOrder: [event.MaxOrder]uint64{0: 90 * mib, 1: 18 * mib, 3: 12 * mib},
			Tasks: [event.ReportedTasks]event.ReportedTask{
				{PID: 1200, TGID: 1200, Comm: "postgres", RSSBytes: 3 << 30},
				{PID: 2001, TGID: 2000, Comm: "java", RSSBytes: 2 << 30},
				{PID: 7, TGID: 7, Comm: "x\n", RSSBytes: mib},
				{PID: 8, TGID: 8, Comm: "small", RSSBytes: kib},
			},
			NumTasks: 4, TaskCount: 212,
		},
	}}
	add("global, from the kernel log, fragmented", kmsg, input{})

	// vm.oom_kill_allocating_task: the task that ran into the OOM is
	// killed, no score compared.
	ev = kmsg
	ev.OOMKill.Reason = event.ReasonAllocatingTask
	ev.OOMKill.Victim.Task = event.Task{PID: 2001, TGID: 2000, Comm: "java"}
	add("global, from the kernel log, allocating task killed", ev, input{})

	ev = hog
	ev.OOMKill.Mode = event.ModeKmsg
	ev.OOMKill.OOMCgroup.UsageBytes, ev.OOMKill.OOMCgroup.LimitBytes = 20*mib, 32*mib
	ev.OOMKill.Victim.Cgroup.UsageBytes, ev.OOMKill.Victim.Cgroup.LimitBytes = 20*mib, 32*mib
	ev.OOMKill.Report = event.KernelReport{HasMemcg: true, MemcgAnonBytes: 19 * mib, MemcgFileBytes: mib, MemcgKernelBytes: 512 * kib,
		HasMemcgSwap: true, MemcgSwapUsageBytes: 64 * mib, MemcgSwapLimitBytes: 64 * mib,
		Tasks: [event.ReportedTasks]event.ReportedTask{{PID: 21680, TGID: 21680, Comm: "oomtrace-hog", RSSBytes: 19 * mib}}, NumTasks: 1, TaskCount: 1}
	add("memcg, from the kernel log, memory+swap limit", ev, input{})

	// A kernel log gives the OOM cgroup's usage and limit, never those of
	// the victim's cgroup below it.
	ev = podLimitKill()
	ev.Missing |= event.MissingCgroupIDs
	ev.OOMKill.Mode = event.ModeKmsg
	ev.OOMKill.Victim.Cgroup = event.Cgroup{Path: apiPath}
	ev.OOMKill.TriggerCgroup = event.Cgroup{Path: sidecarPath}
	ev.OOMKill.OOMCgroup.ID = 0
	add("memcg, from the kernel log, pod level", ev, input{Victim: api, Trigger: proxy, OOM: pod})

	// Before 5.0 the kernel could kill a child of the process it chose.
	ev = hog
	ev.Missing |= event.MissingCgroupIDs | event.MissingVictimAdj
	ev.OOMKill.Mode = event.ModeKmsg
	ev.OOMKill.Victim.Task = event.Task{PID: 18177, TGID: 18177, Comm: "palo_be"}
	ev.OOMKill.ChosenParent, ev.OOMKill.ChosenScore = event.Task{TGID: 24984, Comm: "palo_be"}, 968
	add("memcg, from an old kernel's log, a child killed for its parent", ev, input{})
	return cs
}

const goldenFile = "verdicts.golden"

func goldenPath() string { return filepath.Join("..", "..", "testdata", "verdict", goldenFile) }

// The golden file holds, for each case, a line "== <name>" and the
// sentence on the next line.
func TestExplainGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString("# The verdict of each case in internal/verdict/verdict_test.go.\n# Regenerate with: go test ./internal/verdict -update\n")
	for _, c := range cases() {
		got := Explain(c.in.attributed())
		if got == "" || strings.ContainsAny(got, "\n\t") {
			t.Errorf("%s: verdict %q is empty or not one line", c.name, got)
		}
		b.WriteString("\n== " + c.name + "\n" + got + "\n")
		if snap := c.in.snapshot(); snap != nil {
			got := ExplainSnapshot(snap)
			if got == "" || strings.ContainsAny(got, "\n\t") {
				t.Errorf("%s: snapshot verdict %q is empty or not one line", c.name, got)
			}
			b.WriteString("\n== " + c.name + ", the snapshot after\n" + got + "\n")
		}
		if report := c.in.report(); report != nil {
			got := ExplainReport(report)
			if got == "" || strings.ContainsAny(got, "\n\t") {
				t.Errorf("%s: report verdict %q is empty or not one line", c.name, got)
			}
			b.WriteString("\n== " + c.name + ", the kernel's report after the live kill\n" + got + "\n")
		}
	}
	if *update {
		if err := os.WriteFile(goldenPath(), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath())
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, string(want), b.String())
}

// compareGolden reports the cases whose sentence differs.
func compareGolden(t *testing.T, want, got string) {
	t.Helper()
	parse := func(s string) map[string]string {
		m := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(s))
		var name string
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "== "); ok {
				name = n
			} else if name != "" && line != "" {
				m[name] = line
				name = ""
			}
		}
		return m
	}
	w, g := parse(want), parse(got)
	for name, sentence := range g {
		if w[name] != sentence {
			t.Errorf("%s:\n got %s\nwant %s", name, sentence, w[name])
		}
	}
	for name := range w {
		if _, ok := g[name]; !ok {
			t.Errorf("%s: in the golden file but not a case", name)
		}
	}
}

func TestExplainEviction(t *testing.T) {
	ev := event.Event{Kind: event.KindEviction, Eviction: event.Eviction{
		Pod:      event.Owner{Namespace: "shop", PodName: "api-7d9", PodUID: uid1},
		Resource: "memory", Threshold: "100Mi", Available: "92412Ki", Succeeded: true,
	}}
	want := `pod shop/api-7d9 was evicted by the kubelet: the node was low on "memory" (threshold "100Mi", available "92412Ki"); its containers got SIGTERM, then SIGKILL after the grace period (exit 137 without an OOM kill)`
	if got := ExplainEviction(&ev); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	ev.Eviction.Pod.PodName = "x\x1b[31m"
	ev.Eviction.Succeeded = false
	if got := ExplainEviction(&ev); !strings.HasPrefix(got, `pod "shop/x\x1b[31m" was chosen for eviction`) {
		t.Errorf("hostile pod name: %s", got)
	}
}

// A kernel report that adds nothing to a kill gets no sentence, and
// neither does any other event.
func TestExplainReportNeedsAReport(t *testing.T) {
	ev := event.Event{Kind: event.KindOOMReport, OOMReport: event.OOMReport{Class: event.ClassGlobal, Victim: event.Task{PID: 1, Comm: "a"}}}
	if got := ExplainReport(&ev); got != "" {
		t.Errorf("empty report: %q", got)
	}
	ev.OOMReport.HasGFP, ev.OOMReport.Order = true, 0
	if got := ExplainReport(&ev); got != "" {
		t.Errorf("an order-0 allocation and nothing else: %q", got)
	}
	ev.OOMReport.Order = 2
	if got, want := ExplainReport(&ev), `the kernel's report of the kill of "a" (pid 1): an order-2 allocation (16 KiB contiguous)`; got != want {
		t.Errorf("order-2 allocation:\n got %s\nwant %s", got, want)
	}
	for _, other := range []*event.Event{nil, {Kind: event.KindOOMKill}, {Kind: event.KindOOMSnapshot}} {
		if got := ExplainReport(other); got != "" {
			t.Errorf("%v: %q", other, got)
		}
	}
}

func TestExplainOnlyOOMKills(t *testing.T) {
	if got := Explain(nil); got != "" {
		t.Errorf("no event: %q", got)
	}
	ev := event.Event{Kind: event.KindMemcgOOM}
	if got := Explain(&ev); got != "" {
		t.Errorf("memcg_oom event: %q", got)
	}
}

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{0, "0 KiB"},
		{1000, "1.0 KiB"},
		{3788 * kib, "3.7 MiB"},
		{32 * mib, "32 MiB"},
		{33536 * kib, "33 MiB"},
		{498*mib + 700*kib, "499 MiB"},
		{7680 * mib, "7.5 GiB"},
		{3 << 30, "3 GiB"},
		{100 << 30, "100 GiB"},
	} {
		if got := bytes(c.n); got != c.want {
			t.Errorf("bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// BenchmarkExplain is the explain stage's work for a kill, which comes
// between the kill's record and its line.
func BenchmarkExplain(b *testing.B) {
	for _, c := range cases()[:2] { // the container's own limit; the pod's
		ev := c.in.attributed()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Explain(ev)
			}
		})
	}
}

// TestQuote checks quote against strconv.Quote for every byte alone and
// inside plain text, and for strings with more than one byte to escape.
func TestQuote(t *testing.T) {
	check := func(s string) {
		if got, want := quote(s), strconv.Quote(s); got != want {
			t.Errorf("quote(%q) = %s, want %s", s, got, want)
		}
	}
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("/kubepods/pod" + string([]byte{byte(c)}) + "/ctr")
	}
	for _, s := range []string{"", "java", "/system.slice/a b.service", "naïve", "\xff\xfe", "\u2028", `a\"b`, "tab\there"} {
		check(s)
	}
}
