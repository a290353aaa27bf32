package kernlog

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
)

// fileEvents reads a fixture and turns its reports into events, classified
// as the pipeline's classify stage does next.
func fileEvents(t *testing.T, name string) []event.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytesEvents(t, b, name)
}

func bytesEvents(t *testing.T, b []byte, name string) []event.Event {
	t.Helper()
	items, _ := decodeBytes(t, b, name)
	var events []event.Event
	for _, r := range reports(items) {
		events = r.Events(events, EventOptions{})
	}
	stage := classify.New(classify.Options{})
	for i := range events {
		if _, err := stage.Process(&events[i]); err != nil {
			t.Fatal(err)
		}
	}
	return events
}

const kb = 1 << 10

// The kernel's facts of each kill, field by field, against the values in
// the fixtures as read by hand.
func TestEventsOldMemcgReport(t *testing.T) {
	// 3.13: "Task in /mem2 killed as a result of limit of /mem2", no
	// summary, the reason on the "Kill process" line, three sizes on the
	// "Killed process" line, uid and oom_score_adj only in the task table.
	events := fileEvents(t, "3.13-v1-memcg.txt")
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	ev := events[0]
	k := ev.OOMKill
	if k.Class != event.ClassMemcg || k.Mode != event.ModeKmsg {
		t.Errorf("class %s mode %s, want memcg kmsg", k.Class, k.Mode)
	}
	wantVictim := event.Victim{
		Task: event.Task{PID: 13536, TGID: 13536, Comm: "memorymonster"}, UID: 275858, HasUID: true, HasMM: true,
		TotalVMKB: 33558652, RSSAnonKB: 920, RSSFileKB: 452,
		Cgroup: event.Cgroup{Path: "/mem2", UsageBytes: 980 * kb, LimitBytes: 980 * kb},
	}
	if k.Victim != wantVictim {
		t.Errorf("victim\n got %+v\nwant %+v", k.Victim, wantVictim)
	}
	// The fixture is the messages alone, without times.
	wantMissing := event.MissingKtime | event.MissingTGID | event.MissingTriggerTGID | event.MissingCgroupIDs | event.MissingVictimShmem | event.MissingVictimPgtables
	if ev.Missing != wantMissing {
		t.Errorf("missing %#x, want %#x (a 3.13 log lacks shmem and pgtables, and process ids of the trigger)", ev.Missing, wantMissing)
	}
	if ev.Task != (event.Task{PID: 13536, Comm: "memorymonster"}) || ev.CPU != 5 || k.Trigger != ev.Task {
		t.Errorf("task %+v on cpu %d, trigger %+v", ev.Task, ev.CPU, k.Trigger)
	}
	if !k.HasGFP || k.GFPMask != 0xd0 || k.Order != 0 {
		t.Errorf("gfp %v %#x order %d", k.HasGFP, k.GFPMask, k.Order)
	}
	if k.OOMCgroup != (event.Cgroup{Path: "/mem2", UsageBytes: 980 * kb, LimitBytes: 980 * kb}) {
		t.Errorf("oom cgroup %+v", k.OOMCgroup)
	}
	r := k.Report
	if !r.HasMemcg || r.MemcgAnonBytes != 980*kb || r.MemcgFileBytes != 0 || r.HasNode || r.TaskCount != 1 || r.NumTasks != 1 {
		t.Errorf("report %+v", r)
	}
	if task := r.Tasks[0]; task.PID != 13536 || task.RSSBytes != 343*pageBytes || task.SwapBytes != 8324326*pageBytes {
		t.Errorf("largest task %+v", task)
	}
}

func TestEventsOldGlobalReport(t *testing.T) {
	// 3.13: "Out of memory: Kill process", Mem-Info with DMA32 under its
	// min watermark, a 28-row task table.
	events := fileEvents(t, "3.13-global.txt")
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	k := events[0].OOMKill
	if k.Class != event.ClassGlobal || k.OOMCgroup.Valid() || k.Victim.Cgroup.Valid() {
		t.Errorf("class %s, oom cgroup %q, victim cgroup %q; want global without cgroups", k.Class, k.OOMCgroup.Path, k.Victim.Cgroup.Path)
	}
	if v := k.Victim; v.PID != 1532 || v.Comm != "badsysprogram" || v.TotalVMKB != 1641388 || v.RSSAnonKB != 1595164 || v.RSSFileKB != 76 {
		t.Errorf("victim %+v", v)
	}
	if k.GFPMask != 0x280da || events[0].CPU != 0 || k.Trigger.PID != 1532 {
		t.Errorf("gfp %#x cpu %d trigger %+v", k.GFPMask, events[0].CPU, k.Trigger)
	}
	r := k.Report
	if !r.HasNode || r.AnonBytes != (405991+57)*pageBytes || r.FreeBytes != 12929*pageBytes ||
		r.SlabReclaimableBytes != 1635*pageBytes || r.SlabUnreclaimBytes != 1919*pageBytes {
		t.Errorf("node memory %+v", r)
	}
	if r.MinFreeBytes != (412+44640)*kb {
		t.Errorf("min watermarks %d, want the DMA and DMA32 zones' 412+44640 kB", r.MinFreeBytes)
	}
	if !r.HasSwap || r.SwapTotalBytes != 0 || r.TaskCount != 28 || r.NumTasks != event.ReportedTasks || r.Tasks[0].PID != 1532 {
		t.Errorf("swap %v %d, tasks %d kept of %d, largest %+v", r.HasSwap, r.SwapTotalBytes, r.NumTasks, r.TaskCount, r.Tasks[0])
	}
	if !r.HasFreeLists || r.FreeByOrder[0] == 0 {
		t.Errorf("free lists %v %v", r.HasFreeLists, r.FreeByOrder)
	}
}

// 6.12 on arm64 (Debian's cloud kernel under qemu, two NUMA nodes): the
// free lists of both nodes' DMA zones, summed by order.
func TestEventsArm64GlobalFreeLists(t *testing.T) {
	const name = "6.12-arm64-global.kmsg"
	events := fileEvents(t, name)
	if len(events) != 1 || events[0].OOMKill.Class != event.ClassGlobal || events[0].OOMKill.Victim.PID != 272 {
		t.Fatalf("events %+v, want the global kill of pid 272", events)
	}
	r := events[0].OOMKill.Report
	// Node 0 DMA: 1*4kB 3*8kB 1*16kB 3*32kB 1*64kB 1*128kB 1*256kB = 588kB
	// Node 1 DMA: 1*4kB 1*16kB 2*64kB 2*512kB = 1172kB
	want := [event.MaxOrder]uint64{0: 8 * kb, 1: 24 * kb, 2: 32 * kb, 3: 96 * kb, 4: 192 * kb, 5: 128 * kb, 6: 256 * kb, 7: 1024 * kb}
	if !r.HasFreeLists || r.FreeByOrder != want {
		t.Errorf("free lists %v %v, want %v", r.HasFreeLists, r.FreeByOrder, want)
	}
	if !r.HasNode || r.FreeBytes != 447*pageBytes || r.MinFreeBytes != (940+1340)*kb || r.TaskCount != 4 {
		t.Errorf("report %+v", r)
	}

	// The same report with every list empty, as a zone whose free pages
	// all sit on the per-CPU lists prints them: no free block is no free
	// list to tell of (output could not write one), the rest unchanged.
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", name))
	if err != nil {
		t.Fatal(err)
	}
	freeList := regexp.MustCompile(`(?m)^(4,[0-9]+,[0-9]+,-;Node [0-9] DMA: ).*$`)
	emptied := freeList.ReplaceAll(b, []byte("${1}0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 0*1024kB 0*2048kB 0*4096kB = 0kB"))
	if n := len(freeList.FindAll(b, -1)); n != 2 {
		t.Fatalf("%d free list records in %s, want 2", n, name)
	}
	events = bytesEvents(t, emptied, name)
	if len(events) != 1 {
		t.Fatalf("%d events of the emptied report, want 1", len(events))
	}
	empty := events[0].OOMKill.Report
	if empty.HasFreeLists || empty.FreeByOrder != ([event.MaxOrder]uint64{}) {
		t.Errorf("empty free lists read as %v %v, want none", empty.HasFreeLists, empty.FreeByOrder)
	}
	r.HasFreeLists, r.FreeByOrder = false, [event.MaxOrder]uint64{}
	if empty != r {
		t.Errorf("emptying the free lists changed more:\n%+v\nwant\n%+v", empty, r)
	}
}

func TestEventsRHELGlobal(t *testing.T) {
	// 5.14 (RHEL 9): a global OOM under a systemd unit, dmesg -T in a
	// French locale.
	events := fileEvents(t, "5.14-el9-global.dmesg-T")
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	ev := events[0]
	k := ev.OOMKill
	if k.Class != event.ClassGlobal || k.Constraint != event.ConstraintNone {
		t.Errorf("class %s constraint %d", k.Class, k.Constraint)
	}
	wantVictim := event.Victim{
		Task: event.Task{PID: 3499662, TGID: 3499662, Comm: "postmaster"}, UID: 26, HasUID: true, HasMM: true,
		TotalVMKB: 5083036, RSSAnonKB: 854636, RSSShmemKB: 3445804, PgtablesKB: 9004,
		Cgroup: event.Cgroup{Path: "/system.slice/postgresql-15.service"},
	}
	if k.Victim != wantVictim {
		t.Errorf("victim\n got %+v\nwant %+v", k.Victim, wantVictim)
	}
	if ev.Missing.Lacks(event.MissingVictimAdj | event.MissingVictimShmem | event.MissingVictimPgtables | event.MissingVictimTGID) {
		t.Errorf("missing %#x: a 5.14 log has all of the victim", ev.Missing)
	}
	if ev.Task.PID != 3240780 || ev.CPU != 7 || !ev.Missing.Lacks(event.MissingKtime) {
		t.Errorf("task %+v cpu %d, ktime missing %v (dmesg -T shows none)", ev.Task, ev.CPU, ev.Missing.Lacks(event.MissingKtime))
	}
	// dmesg -T prints the time in the machine's locale: French names of
	// days and months are not read as a time, and none is made up.
	if !ev.Time.IsZero() {
		t.Errorf("time %v from a French dmesg -T", ev.Time)
	}
	r := k.Report
	if !r.HasSwap || r.SwapFreeBytes != 1694460*kb || r.SwapTotalBytes != 2097148*kb ||
		r.MinFreeBytes != (64+11660+55852)*kb || r.ShmemBytes != 1127599*pageBytes {
		t.Errorf("report %+v", r)
	}
}

func TestEventsOOMGroup(t *testing.T) {
	events := fileEvents(t, "6.12-v2-oom-group.dmesg")
	var pids []uint32
	for i, ev := range events {
		k := ev.OOMKill
		pids = append(pids, k.Victim.PID)
		if k.Class != event.ClassMemcg || k.Group.Path != "/grp" || k.OOMCgroup.Path != "/grp" {
			t.Errorf("kill %d: class %s group %q oom cgroup %q", i, k.Class, k.Group.Path, k.OOMCgroup.Path)
		}
		if (i == 0) != k.Victim.Cgroup.Valid() || (i == 0) != k.Report.Has() {
			t.Errorf("kill %d: victim cgroup %q, report %v: only the chosen victim's are printed", i, k.Victim.Cgroup.Path, k.Report.Has())
		}
	}
	// The log says 131 was killed twice, as the chosen victim and as a
	// member of the group: one task, one kill.
	if len(pids) != 3 || pids[0] != 131 || pids[1] != 128 || pids[2] != 129 {
		t.Errorf("victims %v, want 131 then the group's others 128 129", pids)
	}
}

// A real Kubernetes kill on cgroup v2: the pod's limit, the victim in a
// container below it whose memory.oom.group is set, the victim logged
// killed twice.
func TestEventsEKSPodOOMGroup(t *testing.T) {
	events := fileEvents(t, "6.x-eks-v2-pod-oom-group.dmesg-grep")
	if len(events) != 1 {
		t.Fatalf("%d kills, want one: the victim is logged twice, killed once", len(events))
	}
	const pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod94eb36cd_29e1_478b_b365_4cb5dfc7d6fb.slice"
	const ctr = pod + "/cri-containerd-46b3e0a4df44b752b841aecca454e6e78995d567912a84950390bae6f6777a63.scope"
	k := events[0].OOMKill
	if k.Class != event.ClassMemcg || k.Victim.PID != 22609 || k.Victim.Comm != "node" || k.OOMCgroup.Path != pod ||
		k.OOMCgroup.LimitBytes != 4<<30 || k.Victim.Cgroup.Path != ctr || k.Victim.Cgroup.Measured() || k.Group.Path != ctr {
		t.Errorf("kill %+v", k)
	}
}

// Kernels from 5.x to 6.3 print a v2 memcg's memory.stat as one record
// of many lines, after its "Memory cgroup stats for" line.
func TestEventsV2StatsInOneRecord(t *testing.T) {
	events := fileEvents(t, "6.1-v2-parent-child.kmsg")
	if len(events) != 1 {
		t.Fatalf("%d kills", len(events))
	}
	r := events[0].OOMKill.Report
	if !r.HasMemcg || r.MemcgAnonBytes != 33173504 || r.MemcgFileBytes != 0 || r.MemcgKernelBytes != 360448 {
		t.Errorf("memcg statistics %+v", r)
	}
}

func TestEventsSysrq(t *testing.T) {
	events := fileEvents(t, "6.12-sysrq.dmesg")
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	k := events[0].OOMKill
	if k.Class != event.ClassSysrq || k.Order != -1 || k.Victim.PID != 140 || k.Victim.OOMScoreAdj != 1000 {
		t.Errorf("class %s order %d victim %+v", k.Class, k.Order, k.Victim)
	}
}

func TestEventsRateLimited(t *testing.T) {
	// Kills whose header and summary the rate limit kept out: the
	// "Killed process" line alone still says memcg, and nothing of the
	// allocating task is made up.
	events := fileEvents(t, "6.18-v1-rec-ratelimit.kmsg")
	headerless := 0
	for _, ev := range events {
		k := ev.OOMKill
		if k.Victim.PID == 1 {
			t.Errorf("a kill forged from user space was read: %+v", k.Victim)
		}
		if k.Class != event.ClassMemcg {
			t.Errorf("victim %d: class %s", k.Victim.PID, k.Class)
		}
		if !k.HasGFP {
			headerless++
			if !ev.Missing.Lacks(event.MissingTask|event.MissingTrigger) || ev.Task != (event.Task{}) {
				t.Errorf("victim %d without a header names a task: %+v, missing %#x", k.Victim.PID, ev.Task, ev.Missing)
			}
		}
	}
	if headerless < 4 {
		t.Errorf("%d kills without a header, want the last four of the burst", headerless)
	}
}

func TestEventsRedHatUID(t *testing.T) {
	events := fileEvents(t, "3.10-el7-uid.messages")
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	k := events[0].OOMKill
	if k.Class != event.ClassMemcg || k.Victim.PID != 18177 || !k.Victim.HasUID || k.Victim.UID != 0 || k.Victim.RSSAnonKB != 45563572 {
		t.Errorf("class %s victim %+v", k.Class, k.Victim)
	}
	// The OOM chose 24984 ("Kill process 24984 (palo_be) score 968 or
	// sacrifice child"); the kernel killed a child of it, 18177.
	if want := (event.Task{TGID: 24984, Comm: "palo_be"}); k.ChosenParent != want || k.ChosenScore != 968 {
		t.Errorf("chosen %+v score %d, want %+v score 968", k.ChosenParent, k.ChosenScore, want)
	}
	// Where the chosen process is the one killed, no parent is named.
	if old := fileEvents(t, "3.13-v1-memcg.txt")[0].OOMKill; old.ChosenParent != (event.Task{}) || old.ChosenScore != 0 {
		t.Errorf("3.13, victim %d chosen itself: chosen parent %+v", old.Victim.PID, old.ChosenParent)
	}
}

func TestEventsDocker(t *testing.T) {
	events := fileEvents(t, "4.8-docker-v1.txt")
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	k := events[1].OOMKill
	const id = "6c6fcab8562fd3150854986b78552c732f234fd405b624207b8843528a145e70"
	if k.Class != event.ClassMemcg || k.Victim.Cgroup.Path != "/docker/"+id || k.OOMCgroup.LimitBytes != 307200*kb {
		t.Errorf("class %s victim cgroup %q oom limit %d", k.Class, k.Victim.Cgroup.Path, k.OOMCgroup.LimitBytes)
	}
	if v := k.Victim; v.PID != 1667 || v.RSSShmemKB != 0 || events[1].Missing.Lacks(event.MissingVictimShmem) {
		t.Errorf("victim %+v, shmem missing %v (4.8 prints it)", v, events[1].Missing.Lacks(event.MissingVictimShmem))
	}
}

func TestEventsExiting(t *testing.T) {
	r := &Report{Skipped: &Skipped{Reason: ReasonMemcg, PID: 77, Comm: "dying"}, Summary: &Summary{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TaskMemcg: "/a/b"}}
	events := r.Events(nil, EventOptions{})
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	k := events[0].OOMKill
	if !k.VictimExiting || k.Victim.PID != 77 || k.Victim.HasMM || k.Victim.Cgroup.Path != "/a/b" {
		t.Errorf("%+v", k)
	}
}

// With vm.oom_kill_allocating_task the kernel kills the task that ran into
// the OOM and says so before "Killed process": a global OOM, no victim
// chosen by score.
func TestEventsAllocatingTask(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "5.10-global.dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("Out of memory: Killed process"), []byte("Out of memory (oom_kill_allocating_task): Killed process"), 1)
	events := bytesEvents(t, b, "alloctask")
	if len(events) != 1 || events[0].OOMKill.Reason != event.ReasonAllocatingTask || events[0].OOMKill.Class != event.ClassGlobal {
		t.Fatalf("events %+v, want one global kill of the allocating task", events)
	}
}

// A log whose lines have no year and no time since boot (journalctl -k by
// default) gives its kills no time, and the time as it wrote it.
func TestEventsLogTime(t *testing.T) {
	events := fileEvents(t, "6.18-v1-rec-memcg.journal-short")
	if len(events) != 2 {
		t.Fatalf("%d events", len(events))
	}
	for i, want := range []string{"Dec 02 23:07:03", "Dec 02 23:07:36"} {
		if ev := events[i]; ev.OOMKill.LogTime != want || !ev.Time.IsZero() || !ev.Missing.Lacks(event.MissingKtime) {
			t.Errorf("kill %d: log time %q, time %v, ktime missing %v; want %q and no other", i, ev.OOMKill.LogTime, ev.Time, ev.Missing.Lacks(event.MissingKtime), want)
		}
	}
	// A log with a time since boot has its kills placed by it.
	for _, ev := range fileEvents(t, "6.18-v1-rec-memcg.dmesg") {
		if ev.OOMKill.LogTime != "" {
			t.Errorf("a dmesg kill has a log time %q", ev.OOMKill.LogTime)
		}
	}
}
