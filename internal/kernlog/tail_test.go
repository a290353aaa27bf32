package kernlog

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeKmsg behaves as read(2) of /dev/kmsg does: one record per read,
// EAGAIN at the end, and EPIPE, once, when the records after the last one
// read were overwritten, the next read returning the oldest one left.
type fakeKmsg struct {
	mu      sync.Mutex
	records []string // the ring buffer, oldest first
	first   uint64   // the sequence number of records[0]
	hold    int      // the ring buffer's size, in records
	pos     uint64   // the sequence number the reader reads next
}

func newFakeKmsg(hold int) *fakeKmsg { return &fakeKmsg{hold: hold} }

// log adds a kernel record of message, overwriting the oldest when the
// ring buffer is full.
func (k *fakeKmsg) log(level int, message string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	seq := k.first + uint64(len(k.records))
	k.records = append(k.records, fmt.Sprintf("%d,%d,%d,-;%s\n", level, seq, 1000+seq, message))
	if len(k.records) > k.hold {
		k.records = k.records[1:]
		k.first++
	}
}

func (k *fakeKmsg) read(b []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.pos < k.first:
		k.pos = k.first
		return 0, unix.EPIPE
	case k.pos == k.first+uint64(len(k.records)):
		return 0, unix.EAGAIN
	}
	n := copy(b, k.records[k.pos-k.first])
	k.pos++
	return n, nil
}

// unread is how many records the reader has not read yet.
func (k *fakeKmsg) unread() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return int(k.first + uint64(len(k.records)) - max(k.pos, k.first))
}

func killedLine(pid int) string {
	return fmt.Sprintf("Memory cgroup out of memory: Killed process %d (hog) total-vm:1000kB, anon-rss:900kB, file-rss:4kB, shmem-rss:0kB, UID:0 pgtables:100kB oom_score_adj:0", pid)
}

// The Tail counts the records the kernel overwrote before they were read,
// not the times it said so.
func TestTailCountsLostRecords(t *testing.T) {
	k := newFakeKmsg(4)
	tail := newTail(-1, k.read)
	read := func() {
		t.Helper()
		if _, err := tail.Read(func(Item) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		k.log(6, fmt.Sprint("before ", i))
	}
	read()
	if tail.lost != 0 {
		t.Fatalf("lost %d records with none overwritten", tail.lost)
	}
	for i := range 7 { // 3 of them are overwritten
		k.log(6, fmt.Sprint("after ", i))
	}
	read()
	if tail.lost != 3 {
		t.Errorf("lost %d records, want 3", tail.lost)
	}

	// Where a reading that began at the end was is not known before its
	// first record: an overwrite then counts as one.
	k = newFakeKmsg(2)
	tail = newTail(-1, k.read)
	for i := range 5 {
		k.log(6, fmt.Sprint("record ", i))
	}
	read()
	if tail.lost != 1 {
		t.Errorf("lost %d records before the first one read, want 1 (at least one)", tail.lost)
	}
}

// A Reader reads the log without being asked: a kill stays found when the
// kernel logged more than its buffer holds between the kill and the wait.
func TestReaderKeepsUpWithTheLog(t *testing.T) {
	k := newFakeKmsg(64)
	r := newReader(newTail(-1, k.read))
	defer r.Close()
	k.log(4, "hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0")
	k.log(3, killedLine(4242))
	deadline := time.Now().Add(10 * time.Second)
	for k.unread() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the Reader did not read the kill before it was asked for it")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 200 { // the kill's records are overwritten
		k.log(4, fmt.Sprint("Out of memory and no killable processes... ", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kill, err := r.WaitKill(ctx, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if kill.Comm != "hog" {
		t.Errorf("kill of %q, want hog", kill.Comm)
	}
}

// A Tail opened at the first record tells the kills logged before it
// opened from those logged after, by their records, not their times:
// the kernel's stamps cannot be placed against a clock of user space.
func TestTailKnowsWhatWasLoggedBefore(t *testing.T) {
	k := newFakeKmsg(6)
	k.log(6, "booted")
	k.log(3, killedLine(100))
	k.log(3, killedLine(101))
	tail := newTail(-1, k.read)
	rewound := 0
	if err := tail.markOpening(func() error { rewound++; k.pos = k.first; return nil }); err != nil {
		t.Fatal(err)
	}
	if rewound != 1 {
		t.Fatalf("rewound %d times, want once", rewound)
	}
	k.log(3, killedLine(102))
	k.log(3, killedLine(103)) // overwrites "booted" before the reading
	before := map[int]bool{}
	if _, err := tail.ReadAll(context.Background(), false, func(it Item) error {
		if it.Report != nil {
			for _, v := range it.Report.Victims {
				before[v.PID] = tail.LoggedBefore(it.Report.LoggedAt(uint32(v.PID)))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{100: true, 101: true, 102: false, 103: false}
	if fmt.Sprint(before) != fmt.Sprint(want) {
		t.Errorf("logged before the Tail opened: %v, want %v", before, want)
	}
	if tail.LoggedBefore(Stamp{}) {
		t.Error("a line without a sequence number (not from /dev/kmsg) taken as logged before")
	}

	// Opened on an empty log, or after the last record: nothing was.
	empty := newTail(-1, newFakeKmsg(4).read)
	if err := empty.markOpening(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if empty.LoggedBefore(Stamp{Seq: some(uint64(0))}) {
		t.Error("a Tail opened on an empty log says a record came before it")
	}
	if err := empty.markOpening(func() error { return unix.ESPIPE }); err == nil {
		t.Error("a failed rewind is not an error")
	}
}
