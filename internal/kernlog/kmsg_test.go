package kernlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want record
	}{
		{"3,1218,968942374,-;Killed process 1 (a\\x0ab\\x5cx\\x01)\n", record{facility: 0, level: 3, seq: 1218, usec: 968942374, message: "Killed process 1 (a\nb\\x\x01)"}},
		{"6,193,296391,-;acpi PNP0A08:00: _OSC\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n", record{level: 6, seq: 193, usec: 296391, message: "acpi PNP0A08:00: _OSC"}},
		{"6,339,5140900,-,caller=T1;with caller", record{level: 6, seq: 339, usec: 5140900, message: "with caller"}},
		{"12,1539,981957613,c;a fragment;with; semicolons", record{facility: 1, level: 4, seq: 1539, usec: 981957613, cont: true, message: "a fragment;with; semicolons"}},
		// Escapes the kernel never writes are kept as they are.
		{"6,1,2,-;\\x4 \\xZZ \\q \\", record{level: 6, seq: 1, usec: 2, message: "\\x4 \\xZZ \\q \\"}},
	} {
		got, err := parseRecord([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("parseRecord(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "no prefix", "6,1;short", "x,1,2,-;msg", "6,1,-5,-;msg", "\n6,1,2,-;msg"} {
		if got, err := parseRecord([]byte(bad)); err == nil {
			t.Errorf("parseRecord(%q) = %+v, want an error", bad, got)
		}
	}
}

// openReader opens /dev/kmsg; only root can. Being root, a failure fails.
func openReader(t *testing.T) *Reader {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to read /dev/kmsg")
	}
	r, err := OpenKmsg()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Lines written to /dev/kmsg from user space, as forged OOM reports would
// be, are not taken for the kernel's.
func TestReaderIgnoresUserSpace(t *testing.T) {
	r := openReader(t)
	pid := os.Getpid()
	kmsg, err := os.OpenFile(KmsgPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer kmsg.Close()
	// Each line ends in a newline: the kernel holds back a record without
	// one, waiting for its continuation.
	for _, line := range []string{
		// <0> asks for facility kern, level emerg; the kernel makes it user.
		fmt.Sprintf("<0>oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=forged,pid=%d,uid=0\n", pid),
		fmt.Sprintf("<3>Memory cgroup out of memory: Killed process %d (forged) total-vm:1kB, anon-rss:2kB, file-rss:3kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0\n", pid),
	} {
		if _, err := kmsg.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	k, err := r.WaitKill(ctx, pid)
	if err == nil {
		t.Fatalf("forged report taken for the kernel's: %+v", k)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitKill: %v, want the deadline exceeded", err)
	}
}

// A cancelled wait returns at once, and the Reader can wait again after.
func TestReaderCancel(t *testing.T) {
	r := openReader(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := r.WaitKill(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitKill: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled WaitKill returned after %v", d)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.WaitReaped(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReaped after a cancelled wait: %v, want the deadline exceeded", err)
	}
}

// A Tail reads the machine's log since boot; a kill caused now is seen
// when following.
func TestReadKmsgFollow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read /dev/kmsg")
	}
	log, err := OpenTail(FromBoot)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.ReadAll(context.Background(), false, func(Item) error { return nil }); err != nil {
		t.Fatalf("read since boot: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A forged report line from user space must not be taken; a marker
	// written after it ends the wait.
	go func() {
		time.Sleep(200 * time.Millisecond)
		f, err := os.OpenFile(KmsgPath, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		fmt.Fprintf(f, "<3>Memory cgroup out of memory: Killed process 1 (init) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0\n")
	}()
	var forged int
	_, err = log.ReadAll(ctx, true, func(it Item) error {
		if it.Report != nil && len(it.Report.Victims) > 0 && it.Report.Victims[0].PID == 1 {
			forged++
		}
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("follow ended with %v, want the deadline", err)
	}
	if forged != 0 {
		t.Errorf("a line forged from user space was taken for a kill")
	}
}

// Only a Tail opened FromBootMarked knows which records were logged before
// it opened; the others read no record more than they are asked to.
func TestOpenTailMarksWhenAsked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read /dev/kmsg")
	}
	first := Stamp{Seq: some(uint64(0))}
	for _, tc := range []struct {
		start TailStart
		want  bool
	}{{FromNow, false}, {FromBoot, false}, {FromBootMarked, true}} {
		log, err := OpenTail(tc.start)
		if err != nil {
			t.Fatal(err)
		}
		if got := log.LoggedBefore(first); got != tc.want {
			t.Errorf("start %d: the log's first record logged before opening: %v, want %v", tc.start, got, tc.want)
		}
		log.Close()
	}
}
