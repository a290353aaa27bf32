package kernlog

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/classify"
	"github.com/oomtrace/oomtrace/internal/event"
)

func parseFixture(t *testing.T, name string) Log {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "kernlog", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ParseText(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// wantKill is what a test checks of one Kill.
type wantKill struct {
	pid        int
	comm       string
	class      event.Class
	oomMemcg   string
	taskMemcg  string
	noSummary  bool
	headerComm string // "" when the kill has no header
}

func checkKills(t *testing.T, got []Kill, want []wantKill) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d kills, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		k := got[i]
		if k.PID != w.pid || k.Comm != w.comm || kernelClass(k) != w.class {
			t.Errorf("kill %d: pid %d comm %q class %v; want %d %q %v", i, k.PID, k.Comm, kernelClass(k), w.pid, w.comm, w.class)
		}
		if (k.Summary == nil) != w.noSummary {
			t.Fatalf("kill %d: summary %+v, want one: %v", i, k.Summary, !w.noSummary)
		}
		if k.Summary != nil {
			s := k.Summary
			if s.PID != w.pid || s.Task != w.comm || s.OOMMemcg != w.oomMemcg || s.TaskMemcg != w.taskMemcg {
				t.Errorf("kill %d: summary pid %d task %q oom_memcg %q task_memcg %q; want %d %q %q %q",
					i, s.PID, s.Task, s.OOMMemcg, s.TaskMemcg, w.pid, w.comm, w.oomMemcg, w.taskMemcg)
			}
		}
		switch {
		case w.headerComm == "" && k.Header != nil:
			t.Errorf("kill %d: header %+v, want none", i, k.Header)
		case w.headerComm != "" && (k.Header == nil || k.Header.Comm != w.headerComm):
			t.Errorf("kill %d: header %+v, want one of %q", i, k.Header, w.headerComm)
		}
	}
}

func TestParseTextFixtures(t *testing.T) {
	const (
		memcgPath   = "/oomtrace-test-14527-af60a187"
		newlinePath = "/oomtrace-test-14527-2a344c9d"
		parentPath  = "/oomtrace-test-14527-2e08a30d"
		newlineComm = "a (b)\nc) d\\x01"
	)
	hog := wantKill{pid: 14533, comm: "oomtrace-hog", class: event.ClassMemcg,
		oomMemcg: memcgPath, taskMemcg: memcgPath, headerComm: "oomtrace-hog"}
	newline := wantKill{pid: 14538, comm: newlineComm, class: event.ClassMemcg,
		oomMemcg: newlinePath, taskMemcg: newlinePath, headerComm: newlineComm}
	child := wantKill{pid: 14548, comm: "child-hog", class: event.ClassMemcg,
		oomMemcg: parentPath, taskMemcg: parentPath + "/child", headerComm: "child-hog"}
	group := func(pid int) wantKill {
		return wantKill{pid: pid, comm: "hog", class: event.ClassMemcg, noSummary: true}
	}
	tests := []struct {
		file   string
		kills  []wantKill
		reaped []int
	}{
		{file: "6.18-v1-memcg.dmesg", kills: []wantKill{hog}},
		{file: "6.18-v1-memcg.kmsg", kills: []wantKill{hog}},
		{file: "6.18-v1-comm-newline.dmesg", kills: []wantKill{newline}},
		{file: "6.18-v1-comm-newline.dmesg-x", kills: []wantKill{newline}},
		{file: "6.18-v1-comm-newline.dmesg-r", kills: []wantKill{newline}},
		{file: "6.18-v1-comm-newline.kmsg", kills: []wantKill{newline}},
		// The record is exact; dmesg printed byte 0x01 as the text \x01.
		{file: "6.18-v1-comm-ctrl.kmsg", kills: []wantKill{{pid: 7434, comm: "a\nb) c\\x\x01", class: event.ClassMemcg,
			oomMemcg: "/oomprobe-4095", taskMemcg: "/oomprobe-4095", headerComm: "a\nb) c\\x\x01"}}},
		{file: "6.18-v1-comm-ctrl.dmesg", kills: []wantKill{{pid: 7434, comm: `a` + "\n" + `b) c\x\x01`, class: event.ClassMemcg,
			oomMemcg: "/oomprobe-4095", taskMemcg: "/oomprobe-4095", headerComm: `a` + "\n" + `b) c\x\x01`}}},
		{file: "6.18-v1-comm-tail.dmesg", kills: []wantKill{{pid: 14543, comm: ") total-vm:1kB", class: event.ClassMemcg,
			oomMemcg: "/oomtrace-test-14527-8a4a5be6", taskMemcg: "/oomtrace-test-14527-8a4a5be6", headerComm: ") total-vm:1kB"}}},
		{file: "6.18-v1-parent-child.dmesg", kills: []wantKill{child}},
		{file: "6.18-v1-parent-child.kmsg", kills: []wantKill{child}},
		{file: "6.18-forged-user.kmsg"},
		{file: "6.18-forged-user.dmesg-x"},
		{file: "5.10-global.dmesg", kills: []wantKill{{pid: 87, comm: "hog", class: event.ClassGlobal,
			taskMemcg: "/", headerComm: "hog"}}, reaped: []int{87}},
		{file: "6.1-v2-parent-child.kmsg", kills: []wantKill{{pid: 96, comm: "hog", class: event.ClassMemcg,
			oomMemcg: "/oomtest", taskMemcg: "/oomtest/child", headerComm: "hog"}}},
		{file: "6.12-v2-oom-group.dmesg", kills: []wantKill{
			{pid: 131, comm: "hog", class: event.ClassMemcg, oomMemcg: "/grp", taskMemcg: "/grp", headerComm: "hog"},
			group(128), group(129), group(131),
		}, reaped: []int{131}},
		{file: "6.12-sysrq.dmesg", kills: []wantKill{{pid: 140, comm: "sleep", class: event.ClassSysrq,
			taskMemcg: "/sleepers", headerComm: "kworker/0:2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			l := parseFixture(t, tt.file)
			checkKills(t, l.Kills, tt.kills)
			var reaped []int
			for _, r := range l.Reaped {
				reaped = append(reaped, r.PID)
			}
			if !reflect.DeepEqual(reaped, tt.reaped) {
				t.Errorf("reaped pids %v, want %v", reaped, tt.reaped)
			}
			if len(l.Malformed) > 0 {
				t.Errorf("malformed lines: %q", l.Malformed)
			}
		})
	}
}

// TestParseTextAllFields checks every field of one real report.
func TestParseTextAllFields(t *testing.T) {
	l := parseFixture(t, "6.18-v1-memcg.kmsg")
	if len(l.Kills) != 1 {
		t.Fatalf("got %d kills, want 1", len(l.Kills))
	}
	got := l.Kills[0]
	if !got.At.Mono.OK || got.At.Mono.V != 968942374*time.Microsecond || got.At.Seq.V != 1218 {
		t.Errorf("kill logged at %+v, want 968.942374 s, record 1218", got.At)
	}
	got.At, got.Report = Stamp{}, nil
	want := Kill{
		Killed: Killed{Reason: ReasonMemcg, PID: 14533, Comm: "oomtrace-hog", TotalVMKB: 1325392,
			AnonRSSKB: 33408, FileRSSKB: 2940, ShmemRSSKB: 0, UID: 0, PgtablesKB: 144, OOMScoreAdj: 0,
			HasShmemRSS: true, HasUID: true, HasPgtables: true, HasOOMScoreAdj: true},
		Summary: &Summary{Constraint: "CONSTRAINT_MEMCG", Nodemask: "(null)", Cpuset: "/", MemsAllowed: "0",
			OOMMemcg: "/oomtrace-test-14527-af60a187", TaskMemcg: "/oomtrace-test-14527-af60a187",
			Task: "oomtrace-hog", PID: 14533, UID: 0},
		Header: &Header{Comm: "oomtrace-hog", GFPMask: 0xcc0, GFPFlags: "GFP_KERNEL", Order: 0, OOMScoreAdj: 0, HasFlags: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v %+v %+v\nwant\n%+v %+v %+v", got.Killed, *got.Summary, *got.Header, want.Killed, *want.Summary, *want.Header)
	}
}

func TestParseTextPrefixes(t *testing.T) {
	killed := "Memory cgroup out of memory: Killed process 7 (a b) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:5 pgtables:6kB oom_score_adj:7"
	for _, in := range []string{
		killed,
		"[  968.968046] " + killed,
		"<3>[  968.968046] " + killed,
		"<3>" + killed,
		"kern  :err   : [  968.968046] " + killed,
		"[Tue Nov 24 03:57:19 2026] " + killed,
		"[    0.000000] [    T1] " + killed,
		"[    0.000000][  C1] " + killed,
	} {
		l, err := ParseText(strings.NewReader(in + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Kills) != 1 || l.Kills[0].Comm != "a b" || l.Kills[0].OOMScoreAdj != 7 {
			t.Errorf("%q: got %+v, want the kill of pid 7", in, l.Kills)
		}
	}
	// Facility user, where the prefix says so.
	for _, in := range []string{"<11>" + killed, "user  :err   : [  968.968046] " + killed, "11,1538,981955396,-;" + killed} {
		if l, _ := ParseText(strings.NewReader(in)); len(l.Kills) != 0 {
			t.Errorf("%q: user-space line taken for the kernel's: %+v", in, l.Kills)
		}
	}
}

// A cgroup whose name reads " kernel: " and a summary of its own after it
// does not make a dmesg line journalctl's, with the forged summary as its
// text: whoever names a delegated cgroup would choose the kill's class.
func TestParseTextForgedJournalHost(t *testing.T) {
	name := "x kernel: oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom"
	path := "/user.slice/user-1000.slice/user@1000.service/app.slice/" + name
	in := strings.Join([]string{
		"[  100.000001] hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
		"[  100.000002] memory: usage 32768kB, limit 32768kB, failcnt 60",
		"[  100.000003] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=" + path + ",task_memcg=" + path + ",task=hog,pid=4487,uid=1000",
		"[  100.000004] Memory cgroup out of memory: Killed process 4487 (hog) total-vm:53876kB, anon-rss:50944kB, file-rss:948kB, shmem-rss:0kB, UID:1000 pgtables:140kB oom_score_adj:0",
	}, "\n")
	l, err := ParseText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	checkKills(t, l.Kills, []wantKill{{pid: 4487, comm: "hog", class: event.ClassMemcg, oomMemcg: path, taskMemcg: path, headerComm: "hog"}})

	// Nor where the summary is the log's first line (an excerpt): a host
	// name has no ':', '=' or '/'.
	summaryFirst := in[strings.Index(in, "[  100.000003]"):]
	if l, err = ParseText(strings.NewReader(summaryFirst)); err != nil {
		t.Fatal(err)
	}
	checkKills(t, l.Kills, []wantKill{{pid: 4487, comm: "hog", class: event.ClassMemcg, oomMemcg: path, taskMemcg: path}})

	// journalctl's own lines still read as such, each by its own prefix:
	// after another program's line (a journal read with --since or -u),
	// and after a dmesg, concatenated. Another program's line is not the
	// kernel's, whatever it says.
	journal := strings.ReplaceAll(in, "] ", "] node-1.example kernel: ")
	forged := "[  100.000005] node-1.example mallory[4242]: Out of memory: Killed process 1 (systemd) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0"
	for name, log := range map[string]string{
		"journal":                        journal,
		"journal, another program first": "[   99.000000] node-1.example systemd[1]: Started foo.service.\n" + journal + "\n" + forged,
		"dmesg, then journal":            strings.Replace(in, "pid=4487", "pid=4400", 1) + "\n" + journal,
	} {
		if l, err = ParseText(strings.NewReader(log)); err != nil {
			t.Fatal(err)
		}
		last := l.Kills[len(l.Kills)-1]
		if last.PID != 4487 || last.Summary == nil || last.Summary.OOMMemcg != path || kernelClass(last) != event.ClassMemcg {
			t.Errorf("%s: the last kill %+v, want pid 4487's, memcg, with its summary", name, last)
		}
		for _, k := range l.Kills {
			if k.PID == 1 {
				t.Errorf("%s: another program's line taken for a kill", name)
			}
		}
	}
}

// Syslog lines with their <PRI>, as RFC 5424 writes them and as daemons
// send RFC 3164 ones: the header and the host are not part of the text,
// and the PRI's facility says whose the line is.
func TestParseTextPrioSyslog(t *testing.T) {
	report := []string{
		"klhog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
		"memory: usage 32768kB, limit 32768kB, failcnt 60",
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/klrec-memcg,task_memcg=/klrec-memcg,task=klhog,pid=14614,uid=0",
		"Memory cgroup out of memory: Killed process 14614 (klhog) total-vm:35476kB, anon-rss:32768kB, file-rss:1536kB, shmem-rss:0kB, UID:0 pgtables:108kB oom_score_adj:0",
	}
	levels := []int{4, 6, 6, 3}
	want := []wantKill{{pid: 14614, comm: "klhog", class: event.ClassMemcg, oomMemcg: "/klrec-memcg", taskMemcg: "/klrec-memcg", headerComm: "klhog"}}
	for name, line := range map[string]func(prio int, text string) string{
		"RFC 5424": func(prio int, text string) string {
			return fmt.Sprintf("<%d>1 2026-12-02T23:07:36.123456+00:00 node1 kernel - - - %s", prio, text)
		},
		"RFC 5424 with structured data and imklog's time and caller": func(prio int, text string) string {
			return fmt.Sprintf(`<%d>1 2026-12-02T23:07:36Z node1 kernel - - [meta sequenceId="1"] [ 2403.516521] [ T4487] %s`, prio, text)
		},
		"RFC 3164 with its PRI": func(prio int, text string) string {
			return fmt.Sprintf("<%d>Dec  2 23:07:36 node1 kernel: %s", prio, text)
		},
	} {
		var lines []string
		for i, text := range report {
			lines = append(lines, line(levels[i], text))
		}
		l, err := ParseText(strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { checkKills(t, l.Kills, want) })
		// The same lines from a program's facility (user, 1) are not the
		// kernel's.
		lines = lines[:0]
		for i, text := range report {
			lines = append(lines, line(8+levels[i], text))
		}
		if l, _ = ParseText(strings.NewReader(strings.Join(lines, "\n"))); len(l.Kills) != 0 {
			t.Errorf("%s: a program's lines taken for the kernel's: %+v", name, l.Kills)
		}
	}
	// Nor are a program's that say facility kern: a PRI is anyone's to
	// send.
	forged := "<3>Dec  2 23:07:36 node1 mallory[4242]: " + report[3]
	if l, _ := ParseText(strings.NewReader(forged)); len(l.Kills) != 0 {
		t.Errorf("a program's line with facility kern taken for the kernel's: %+v", l.Kills)
	}
}

// A summary whose pr_cont pieces were split by another CPU's message.
func TestParseTextSplitSummary(t *testing.T) {
	in := strings.Join([]string{
		"6,10,100,c;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0",
		"6,11,101,-;e1000: eth0 NIC Link is Up",
		"6,12,102,c;,oom_memcg=/t,task_memcg=/t/c",
		"6,13,103,-;,task=hog,pid=42,uid=0",
		"3,14,104,-;Memory cgroup out of memory: Killed process 42 (hog) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
	}, "\n")
	l, err := ParseText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	checkKills(t, l.Kills, []wantKill{{pid: 42, comm: "hog", class: event.ClassMemcg, oomMemcg: "/t", taskMemcg: "/t/c"}})
}

// A kill whose report the kernel held back, after a memory.oom.group's
// kills, is another OOM's: not one more of the group, whether it comes
// later than the group's kills or names a task the report's table has not.
func TestParseTextKillAfterGroup(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "6.12-v2-oom-group.dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	killed := func(stamp string, pid int) string {
		return fmt.Sprintf("[%s] Memory cgroup out of memory: Killed process %d (postgres) total-vm:2000000kB, anon-rss:500000kB, file-rss:2136kB, shmem-rss:0kB, UID:999 pgtables:1000kB oom_score_adj:0\n", stamp, pid)
	}
	for name, extra := range map[string]string{
		"two seconds later":              killed("   43.100000", 300),
		"not in the table":               killed("   41.203800", 300),
		"in the table, two seconds late": killed("   43.100000", 129),
	} {
		l, err := ParseText(strings.NewReader(string(data) + extra))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.Reports {
			for _, v := range r.Victims {
				if v.Comm == "postgres" && r.Group.OK {
					t.Errorf("%s: the kill of pid %d was taken for one of memory.oom.group %s's", name, v.PID, r.Group.V)
				}
			}
		}
		if len(l.Kills) != 5 {
			t.Errorf("%s: %d kills, want the group's 4 and the later one", name, len(l.Kills))
		}
	}
}

// Older kernels on cgroup v1 print the stats of each cgroup of the
// OOM cgroup's subtree, each its own pages only: a pod's limit over its
// containers' memory. The report's are their sum, named by the OOM cgroup.
func TestParseTextSubtreeStats(t *testing.T) {
	pod := "/kubepods/burstable/poddfc7f441"
	in := strings.Join([]string{
		"[65267.036900] nginx invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=994",
		"[65267.037090] Task in " + pod + "/c0ffee killed as a result of limit of " + pod,
		"[65267.037095] memory: usage 20480kB, limit 20480kB, failcnt 812",
		"[65267.037101] Memory cgroup stats for " + pod + ": cache:0KB rss:0KB shmem:0KB",
		"[65267.037104] Memory cgroup stats for " + pod + "/c0ffee: cache:100KB rss:19100KB shmem:0KB mapped_file:4KB",
		"[65267.037106] Memory cgroup stats for " + pod + "/2933ad: cache:0KB rss:400KB shmem:0KB",
		"[65267.037106] Memory cgroup stats for /elsewhere: cache:0KB rss:9999KB shmem:0KB",
		"[65267.037200] Memory cgroup out of memory: Kill process 4242 (nginx) score 1000 or sacrifice child",
		"[65267.037300] Killed process 4242 (nginx) total-vm:120000kB, anon-rss:19100kB, file-rss:0kB, shmem-rss:0kB",
	}, "\n")
	l, err := ParseText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Reports) != 1 {
		t.Fatalf("%d reports", len(l.Reports))
	}
	st := l.Reports[0].MemcgStats
	if st == nil || st.Memcg != pod || st.Stats["rss"] != 19500*1024 || st.Stats["cache"] != 100*1024 || st.Stats["mapped_file"] != 4*1024 {
		t.Errorf("stats %+v, want the pod's subtree summed: rss 19500 KiB, cache 100 KiB, mapped_file 4 KiB", st)
	}
}

func TestParseTextIncompleteReports(t *testing.T) {
	killed := func(pid string) string {
		return "Memory cgroup out of memory: Killed process " + pid + " (hog) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0"
	}
	in := strings.Join([]string{
		// A summary cut short, then its victim's kill: the kill stands alone.
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t",
		killed("1"),
		// A victim already exiting: its summary must not stick to the next kill.
		"hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t,task=hog,pid=2,uid=0",
		"Memory cgroup out of memory: OOM victim 2 (hog) is already exiting. Skip killing the task",
		killed("3"),
		// A truncated kill.
		"Memory cgroup out of memory: Killed process 4 (hog) total-vm:1kB, anon-rss:2kB, fi",
		// Garbage, some of it starting like report lines.
		"\x00\xff\xfe oom-kill:constraint= Killed process ( ) total-vm:",
		"Killed process",
		": Killed process 5 (",
		"oom-kill:constraint=\xff,pid=1,uid=0",
		"oom_reaper: reaped process x (y), now anon-rss:",
		"x invoked oom-killer: gfp_mask=zz",
	}, "\n")
	l, err := ParseText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantMalformed := []string{
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t",
		"Memory cgroup out of memory: Killed process 4 (hog) total-vm:1kB, anon-rss:2kB, fi",
		": Killed process 5 (",
		"oom-kill:constraint=\xff,pid=1,uid=0",
		"oom_reaper: reaped process x (y), now anon-rss:",
		"x invoked oom-killer: gfp_mask=zz",
	}
	if !reflect.DeepEqual(l.Malformed, wantMalformed) {
		t.Errorf("malformed\n%q\nwant\n%q", l.Malformed, wantMalformed)
	}
	checkKills(t, l.Kills, []wantKill{
		{pid: 1, comm: "hog", class: event.ClassMemcg, noSummary: true},
		{pid: 3, comm: "hog", class: event.ClassMemcg, noSummary: true},
	})
}

func TestKillClass(t *testing.T) {
	for _, tt := range []struct {
		kill Kill
		want event.Class
	}{
		{Kill{Killed: Killed{Reason: ReasonMemcg}}, event.ClassMemcg},
		// Before 4.19 "Out of memory" is all there is to tell a global OOM
		// by, and a cpuset or mempolicy one reads the same.
		{Kill{Killed: Killed{Reason: ReasonGlobal}}, event.ClassGlobal},
		{Kill{Killed: Killed{Reason: ReasonGlobal}, Header: &Header{Order: -1}}, event.ClassSysrq},
		{Kill{Killed: Killed{Reason: ReasonAllocatingTask}}, event.ClassGlobal},
		{Kill{}, event.ClassUnknown},
		{Kill{Summary: &Summary{Constraint: "CONSTRAINT_MEMCG"}}, event.ClassMemcg},
		{Kill{Summary: &Summary{Constraint: "CONSTRAINT_NONE"}}, event.ClassGlobal},
		{Kill{Summary: &Summary{Constraint: "CONSTRAINT_NONE"}, Header: &Header{Order: -1}}, event.ClassSysrq},
		{Kill{Summary: &Summary{Constraint: "CONSTRAINT_CPUSET"}}, event.ClassCpuset},
		{Kill{Summary: &Summary{Constraint: "CONSTRAINT_MEMORY_POLICY"}}, event.ClassMempolicy},
		{Kill{Summary: &Summary{Constraint: "CONSTRAINT_BPF"}}, event.ClassUnknown},
	} {
		if got := kernelClass(tt.kill); got != tt.want {
			t.Errorf("%+v: class %v, want %v", tt.kill, got, tt.want)
		}
	}
}

// kernelClass is the class the pipeline's classify stage gives the kill as
// this package hands it over.
func kernelClass(k Kill) event.Class {
	ev := k.Event(EventOptions{})
	class, _ := classify.Kill(&ev.OOMKill, classify.Options{})
	return class
}
