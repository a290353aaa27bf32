package kernlog

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tt := range []struct {
		name string
		msg  string
		want Line
	}{{
		name: "header",
		msg:  "hog invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
		want: Line{Kind: LineHeader, Header: Header{Comm: "hog", GFPMask: 0x140cca, GFPFlags: "GFP_HIGHUSER_MOVABLE|__GFP_COMP", HasFlags: true}},
	}, {
		name: "header of sysrq, empty mask",
		msg:  "kworker/0:2 invoked oom-killer: gfp_mask=0x0(), order=-1, oom_score_adj=-1000",
		want: Line{Kind: LineHeader, Header: Header{Comm: "kworker/0:2", Order: -1, OOMScoreAdj: -1000, HasFlags: true}},
	}, {
		name: "header of a name that looks like a header",
		msg:  "x invoked oom-k invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=3, oom_score_adj=5",
		want: Line{Kind: LineHeader, Header: Header{Comm: "x invoked oom-k", GFPMask: 0xcc0, GFPFlags: "GFP_KERNEL", Order: 3, OOMScoreAdj: 5, HasFlags: true}},
	}, {
		name: "summary of a memcg OOM",
		msg:  "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t/c,task=hog,pid=4487,uid=0",
		want: Line{Kind: LineSummary, Summary: Summary{Constraint: "CONSTRAINT_MEMCG", Nodemask: "(null)", Cpuset: "/",
			MemsAllowed: "0", OOMMemcg: "/t", TaskMemcg: "/t/c", Task: "hog", PID: 4487}},
	}, {
		name: "summary on NUMA, cpuset name with commas",
		msg:  "oom-kill:constraint=CONSTRAINT_CPUSET,nodemask=0-1,3,cpuset=a,b=c,mems_allowed=0-1,3,global_oom,task_memcg=/x,task=hog,pid=7,uid=1000",
		want: Line{Kind: LineSummary, Summary: Summary{Constraint: "CONSTRAINT_CPUSET", Nodemask: "0-1,3", Cpuset: "a,b=c",
			MemsAllowed: "0-1,3", GlobalOOM: true, TaskMemcg: "/x", Task: "hog", PID: 7, UID: 1000}},
	}, {
		name: "summary without cpusets and memcg, padded numbers",
		msg:  "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=hog,pid=  123,uid=    0",
		want: Line{Kind: LineSummary, Summary: Summary{Constraint: "CONSTRAINT_NONE", Nodemask: "(null)", Task: "hog", PID: 123}},
	}, {
		name: "summary of a name holding the keys",
		msg:  "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t,task=a,task=b,pid=1,pid=2,uid=-1",
		want: Line{Kind: LineSummary, Summary: Summary{Constraint: "CONSTRAINT_MEMCG", Nodemask: "(null)", Cpuset: "/",
			MemsAllowed: "0", OOMMemcg: "/t", TaskMemcg: "/t", Task: "a,task=b,pid=1", PID: 2, UID: 1<<32 - 1}},
	}, {
		name: "summary whose oom memcg name holds task_memcg",
		msg:  "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/b,task_memcg=/a,task_memcg=/b/c,task=hog,pid=1,uid=0",
		want: Line{Kind: LineSummary, Summary: Summary{Constraint: "CONSTRAINT_MEMCG", Nodemask: "(null)", Cpuset: "/",
			MemsAllowed: "0", OOMMemcg: "/a,task_memcg=/b", TaskMemcg: "/a,task_memcg=/b/c", Task: "hog", PID: 1}},
	}, {
		name: "killed",
		msg:  "Memory cgroup out of memory: Killed process 4487 (hog) total-vm:53876kB, anon-rss:50944kB, file-rss:948kB, shmem-rss:1kB, UID:1000 pgtables:140kB oom_score_adj:-17",
		want: Line{Kind: LineKilled, Killed: Killed{Reason: ReasonMemcg, PID: 4487, Comm: "hog", TotalVMKB: 53876,
			AnonRSSKB: 50944, FileRSSKB: 948, ShmemRSSKB: 1, UID: 1000, PgtablesKB: 140, OOMScoreAdj: -17, HasShmemRSS: true, HasUID: true, HasPgtables: true, HasOOMScoreAdj: true}},
	}, {
		name: "killed with a name holding the tail",
		msg:  "Out of memory: Killed process 9 (x) total-vm:5kB) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:0 pgtables:5kB oom_score_adj:6",
		want: Line{Kind: LineKilled, Killed: Killed{Reason: ReasonGlobal, PID: 9, Comm: "x) total-vm:5kB", TotalVMKB: 1,
			AnonRSSKB: 2, FileRSSKB: 3, ShmemRSSKB: 4, PgtablesKB: 5, OOMScoreAdj: 6, HasShmemRSS: true, HasUID: true, HasPgtables: true, HasOOMScoreAdj: true}},
	}, {
		name: "killed, 4.14 form",
		msg:  "Killed process 9 (hog) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB",
		want: Line{Kind: LineKilled, Killed: Killed{PID: 9, Comm: "hog", TotalVMKB: 1, AnonRSSKB: 2, FileRSSKB: 3, ShmemRSSKB: 4, HasShmemRSS: true}},
	}, {
		name: "killed by oom_kill_allocating_task",
		msg:  "Out of memory (oom_kill_allocating_task): Killed process 9 (hog) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:0 pgtables:5kB oom_score_adj:0",
		want: Line{Kind: LineKilled, Killed: Killed{Reason: ReasonAllocatingTask, PID: 9, Comm: "hog", TotalVMKB: 1,
			AnonRSSKB: 2, FileRSSKB: 3, ShmemRSSKB: 4, PgtablesKB: 5, HasShmemRSS: true, HasUID: true, HasPgtables: true, HasOOMScoreAdj: true}},
	}, {
		name: "reaped",
		msg:  "oom_reaper: reaped process 87 (a), now b) (c), now anon-rss:1kB, file-rss:2kB, shmem-rss:3kB",
		want: Line{Kind: LineReaped, Reaped: Reaped{PID: 87, Comm: "a), now b) (c", AnonRSSKB: 1, FileRSSKB: 2, ShmemRSSKB: 3}},
	}, {
		name: "skipped",
		msg:  "Memory cgroup out of memory: OOM victim 12 (hog) is already exiting. Skip killing the task",
		want: Line{Kind: LineSkipped},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLine(%q)\n got %+v\nwant %+v", tt.msg, got, tt.want)
			}
		})
	}
}

func TestParseLineOther(t *testing.T) {
	for _, msg := range []string{
		"",
		"Memory cgroup stats for /oomtest:",
		"Tasks in /grp are going to be killed due to memory.oom.group set",
		"[  14538]     0 14538   331764     8863     8128      735         0   155648        0             0 hog",
		"lowmemorykiller: Killing 'hog' (123), adj 1000",
		"Killed process",
		"sshd: Killed process group",
	} {
		got, err := ParseLine(msg)
		if err != nil || got.Kind != LineOther {
			t.Errorf("ParseLine(%q) = %+v, %v; want LineOther", msg, got, err)
		}
	}
}

// Every truncation of a report line fails to parse, unless the cut falls in
// the number that ends it or leaves the shorter form of an older kernel
// (which no parser can tell).
func TestParseLineTruncated(t *testing.T) {
	for _, full := range []string{
		"hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=10",
		"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t,task=hog,pid=4487,uid=10",
		"Memory cgroup out of memory: Killed process 4487 (hog) total-vm:53876kB, anon-rss:50944kB, file-rss:948kB, shmem-rss:0kB, UID:0 pgtables:140kB oom_score_adj:10",
		"oom_reaper: reaped process 87 (hog), now anon-rss:0kB, file-rss:0kB, shmem-rss:10kB",
	} {
		whole, err := ParseLine(full)
		if err != nil {
			t.Fatal(err)
		}
		lastNumber := strings.LastIndexFunc(full, func(r rune) bool { return r < '0' || r > '9' }) + 1
		for n := range len(full) {
			got, err := ParseLine(full[:n])
			older := whole.Kind == LineKilled && (strings.HasSuffix(full[:n], "file-rss:948kB") ||
				strings.HasSuffix(full[:n], "shmem-rss:0kB") || strings.HasSuffix(full[:n], "UID:0"))
			if err == nil && got.Kind == whole.Kind && n <= lastNumber && !older {
				t.Errorf("truncated line parsed: %q -> %+v", full[:n], got)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("%q: error %v does not wrap ErrMalformed", full[:n], err)
			}
		}
	}
}

// The exact names the kernel prints come back, whatever bytes they hold.
func FuzzNameRoundTrip(f *testing.F) {
	for _, s := range []string{"hog", "a (b)\nc) d", ") total-vm:1kB", ",task=x,pid=1", "", "\\x41", "(", "), now x"} {
		f.Add(s, uint32(12345), "/a,task=b/c")
	}
	f.Fuzz(func(t *testing.T, comm string, pid uint32, memcg string) {
		if len(comm) > 15 || strings.ContainsAny(comm, "\x00") || strings.Contains(memcg, taskMemcgKey) {
			return // not a name or cgroup path the kernel can print
		}
		p := int(pid >> 1)
		header := fmt.Sprintf("%s invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0", comm)
		summary := fmt.Sprintf("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=%s,task_memcg=%s/x,task=%s,pid=%d,uid=0", memcg, memcg, comm, p)
		killed := fmt.Sprintf("Memory cgroup out of memory: Killed process %d (%s) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:4kB, UID:0 pgtables:5kB oom_score_adj:0", p, comm)
		reaped := fmt.Sprintf("oom_reaper: reaped process %d (%s), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB", p, comm)

		c := newCollector()
		for _, msg := range []string{header, summary, killed, reaped} {
			c.add(&Message{Text: msg})
		}
		c.flush()
		if len(c.done.Kills) != 1 || len(c.done.Reaped) != 1 {
			t.Fatalf("%q: got %+v", comm, c.done)
		}
		k := c.done.Kills[0]
		if k.PID != p || k.Comm != comm || k.Header == nil || k.Header.Comm != comm || k.Summary == nil {
			t.Fatalf("%q: got %+v header %+v", comm, k, k.Header)
		}
		if s := k.Summary; s.Task != comm || s.PID != p || s.OOMMemcg != memcg || s.TaskMemcg != memcg+"/x" {
			t.Errorf("%q in %q: summary %+v", comm, memcg, s)
		}
		if r := c.done.Reaped[0]; r.PID != p || r.Comm != comm {
			t.Errorf("%q: reaped %+v", comm, r)
		}
	})
}

// Whatever the kernel log holds, parsing does not panic.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"oom-kill:constraint=,nodemask=,pid=1,uid=1",
		": Killed process 1 () total-vm:",
		"oom_reaper: reaped process 1 (",
		" invoked oom-killer: gfp_mask=0x()",
		"oom-kill:constraint=X,nodemask=(null),cpuset=,mems_allowed=,oom_memcg=,task_memcg=,task=,pid=0,uid=0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		ParseLine(msg)
		c := newCollector()
		c.add(&Message{Text: msg})
		c.add(&Message{Text: "," + msg})
		c.flush()
		ParseText(strings.NewReader(msg))
	})
}
