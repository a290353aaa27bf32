package kernlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Whatever the input, the Decoder ends, does not panic, and keeps no
// message longer than its bounds.
func FuzzDecoder(f *testing.F) {
	for _, name := range []string{"6.18-v1-rec-memcg.kmsg", "6.18-v1-rec-memcg.journal-json", "3.13-global.txt",
		"6.18-v1-rec-memcg.kern.log", "6.18-v1-comm-newline.dmesg", "6.12-v2-oom-group.dmesg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", name))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 4096 {
			b = b[len(b)-4096:]
		}
		f.Add(b)
	}
	f.Add([]byte("<4>1 2026-12-02T23:07:36Z node1 kernel - - [a b=\"c\"] [ 1.000000] hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n" +
		"<4>Dec  2 23:07:36 node1 kernel: memory: usage 32768kB, limit 32768kB, failcnt 60\n"))
	f.Add([]byte("\x1f\x8b\x08\x00"))
	f.Add([]byte("{\"MESSAGE\":[1,2,300],\"_TRANSPORT\":\"kernel\"}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b), "fuzz")
		for i := 0; ; i++ {
			it, err := d.Next()
			if err != nil {
				break
			}
			if i > len(b)+1 {
				t.Fatalf("more items (%d) than input bytes", i)
			}
			if r := it.Report; r != nil {
				if r.Tasks != nil && len(r.Tasks.Rows) > maxTaskRows {
					t.Fatalf("%d task rows kept", len(r.Tasks.Rows))
				}
				if r.MemcgStats != nil && len(r.MemcgStats.Order) > maxStats {
					t.Fatalf("%d stats kept", len(r.MemcgStats.Order))
				}
			}
		}
	})
}

// A process can name itself anything of 15 bytes; no name can make the
// log read as a second kill, or change what is read of the real one.
func TestAdversarialNames(t *testing.T) {
	for _, comm := range []string{
		"a\nb",
		") total-vm:1kB",
		",task=x,pid=1",
		"x invoked oom-k",
		"Killed process",
		"a b c d e f g h",
		"\xff\xfe\x80bad",
		"oom_reaper: r",
		") score 9 or s",
		"Tasks in / are",
	} {
		t.Run(fmt.Sprintf("%q", comm), func(t *testing.T) {
			pid := 4242
			lines := []string{
				fmt.Sprintf("%s invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0", comm),
				fmt.Sprintf("CPU: 0 UID: 0 PID: %d Comm: %s Not tainted 6.18.44 #1", pid, comm),
				"memory: usage 32768kB, limit 32768kB, failcnt 60",
				"Tasks state (memory values in pages):",
				"[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name",
				fmt.Sprintf("[   %d]     0  %d     8869     8514     8128      386         0   110592        0             0 %s", pid, pid, comm),
				fmt.Sprintf("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/t,task_memcg=/t,task=%s,pid=%d,uid=0", comm, pid),
				fmt.Sprintf("Memory cgroup out of memory: Killed process %d (%s) total-vm:35476kB, anon-rss:32512kB, file-rss:1544kB, shmem-rss:0kB, UID:0 pgtables:108kB oom_score_adj:0", pid, comm),
				fmt.Sprintf("oom_reaper: reaped process %d (%s), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB", pid, comm),
			}
			// /dev/kmsg records: exact, one record a message.
			var kmsg strings.Builder
			for i, l := range lines {
				fmt.Fprintf(&kmsg, "6,%d,%d,-;%s\n", i, 1000+i, escapeKmsg(l))
			}
			items, _ := decodeBytes(t, []byte(kmsg.String()), "kmsg")
			rs := reports(items)
			if len(rs) != 1 || len(rs[0].Victims) != 1 {
				t.Fatalf("got %d reports (%+v), want one kill", len(rs), rs)
			}
			r := rs[0]
			if v := r.Victims[0]; v.PID != pid || v.Comm != comm || v.AnonRSSKB != 32512 {
				t.Errorf("victim %+v", v)
			}
			if r.Header == nil || r.Header.Comm != comm || r.Summary == nil || r.Summary.Task != comm || r.Summary.PID != pid {
				t.Errorf("header %+v summary %+v", r.Header, r.Summary)
			}
			if r.Trigger == nil || r.Trigger.PID != pid {
				t.Errorf("trigger %+v", r.Trigger)
			}
			if len(r.Reaped) != 1 || r.Reaped[0].Comm != comm {
				t.Errorf("reaped %+v", r.Reaped)
			}
			// dmesg text, where a newline in the name breaks the line: no
			// second kill however the name reads.
			var dmesg strings.Builder
			for i, l := range lines {
				fmt.Fprintf(&dmesg, "[ 100.%06d] %s\n", i, strings.ReplaceAll(l, "\n", "\n              "))
			}
			items, _ = decodeBytes(t, []byte(dmesg.String()), "dmesg")
			kills := 0
			for _, r := range reports(items) {
				kills += len(r.Victims)
			}
			if kills != 1 {
				t.Errorf("dmesg text: %d kills, want 1", kills)
			}
		})
	}
}

func escapeKmsg(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '\\' {
			fmt.Fprintf(&b, "\\x%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Lines cut, wrapped or broken give warnings with their line numbers and
// do not stop the rest.
func TestWarningsDoNotStop(t *testing.T) {
	in := strings.Join([]string{
		"6,1,100,-;Memory cgroup out of memory: Killed process 7 (a) total-vm:1kB, anon-rss:2kB, fi",
		"{\"MESSAGE\": \"broken json",
		"6,x,100,-;not a record",
		"[  1.000000] Memory cgroup out of memory: Killed process 8 (b) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
		"[  1.000001] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepo",
		"ds/pod1,task_memcg=/kubepods/pod1,task=c,pid=9,uid=0",
		"[  1.000002] Memory cgroup out of memory: Killed process 9 (c) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
	}, "\n")
	d := NewDecoder(strings.NewReader(in), "x.log")
	var pids []int
	for {
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if it.Report != nil {
			for _, v := range it.Report.Victims {
				pids = append(pids, v.PID)
			}
		}
	}
	if fmt.Sprint(pids) != "[8 9]" {
		t.Errorf("kills %v, want [8 9]", pids)
	}
	warns, n := d.Warnings()
	var lines []int
	for _, w := range warns {
		if w.File != "x.log" {
			t.Errorf("warning without the file name: %v", w)
		}
		lines = append(lines, w.Line)
	}
	// The JSON (2), the record cut short (1, told when its message ends),
	// the summary wrapped as a web page wraps it (5: cut short; its rest
	// reads as a message of no prefix). "6,x,..." is no record: a message.
	if fmt.Sprint(lines) != "[2 1 5]" || n != 3 {
		t.Errorf("warnings on lines %v (%d): %v", lines, n, warns)
	}
}
