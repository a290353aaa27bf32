package memstate

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// fakeCgroup writes files into a new temporary directory standing for a
// cgroup, and returns it with its inode number (its cgroup id).
func fakeCgroup(t testing.TB, files map[string]string) (string, uint64) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	return dir, st.Ino
}

func writeNodePressure(t testing.TB, content string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "memory")
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func read(t *testing.T, r *Reader, dir string, id uint64) event.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Read(ctx, dir, id)
}

const (
	mib          = 1 << 20
	nodePSI      = "some avg10=1.50 avg60=0.75 avg300=0.25 total=123456\nfull avg10=0.50 avg60=0.25 avg300=0.10 total=65432\n"
	cgroupPSI    = "some avg10=12.34 avg60=5.00 avg300=1.00 total=999\nfull avg10=10.00 avg60=4.00 avg300=0.50 total=888\n"
	v2MemoryStat = `anon 492830720
file 12582912
kernel 9437184
kernel_stack 327680
pagetables 1048576
sec_pagetables 0
percpu 0
sock 0
vmalloc 0
shmem 4194304
zswap 0
file_mapped 4096
slab 3145728
workingset_refault_anon 17
workingset_refault_file 4242
pgfault 12345
`
	v1MemoryStat = `cache 1000
rss 2000
shmem 3000
swap 0
workingset_refault_anon 1
workingset_refault_file 2
hierarchical_memory_limit 536870912
total_cache 12582912
total_rss 492830720
total_rss_huge 0
total_shmem 4194304
total_swap 1048576
total_workingset_refault_anon 17
total_workingset_refault_file 4242
`
)

// v2Files are the memory files of a v2 cgroup, as TestReadV2 expects them.
func v2Files() map[string]string {
	return map[string]string{
		"memory.events":       "low 0\nhigh 3\nmax 120\noom 2\noom_kill 2\noom_group_kill 0\nsock_throttled 0\n",
		"memory.stat":         v2MemoryStat,
		"memory.high":         "max\n",
		"memory.swap.max":     "0\n",
		"memory.swap.current": "0\n",
		"memory.pressure":     cgroupPSI,
		"memory.current":      "536870912\n",
	}
}

func TestReadV2(t *testing.T) {
	dir, id := fakeCgroup(t, v2Files())
	got := read(t, NewReader(2, writeNodePressure(t, nodePSI)), dir, id)
	want := event.Snapshot{
		Status: event.SnapshotOK, Version: 2,
		Fields: event.SnapEventsLow | event.SnapEventsHigh | event.SnapEventsMax | event.SnapEventsOOM | event.SnapEventsOOMKill | event.SnapEventsOOMGroupKill |
			event.SnapAnon | event.SnapFile | event.SnapKernel | event.SnapSlab | event.SnapShmem | event.SnapWorkingsetRefaultAnon | event.SnapWorkingsetRefaultFile |
			event.SnapHigh | event.SnapSwapLimit | event.SnapSwap | event.SnapPressure | event.SnapNodePressure,
		EventsHigh: 3, EventsMax: 120, EventsOOM: 2, EventsOOMKill: 2,
		Anon: 492830720, File: 12582912, Kernel: 9437184, Slab: 3145728, Shmem: 4194304,
		WorkingsetRefaultAnon: 17, WorkingsetRefaultFile: 4242,
		HighBytes: event.NoLimit, SwapLimitBytes: 0, SwapBytes: 0,
		Pressure: event.Pressure{
			Some: event.PressureLine{Avg10: 12.34, Avg60: 5, Avg300: 1, TotalMicros: 999},
			Full: event.PressureLine{Avg10: 10, Avg60: 4, Avg300: 0.5, TotalMicros: 888},
		},
		NodePressure: event.Pressure{
			Some: event.PressureLine{Avg10: 1.5, Avg60: 0.75, Avg300: 0.25, TotalMicros: 123456},
			Full: event.PressureLine{Avg10: 0.5, Avg60: 0.25, Avg300: 0.1, TotalMicros: 65432},
		},
	}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestReadV2Minimal: an older kernel without swap accounting, PSI, the
// kernel line or oom_group_kill still gives what it has. The library reads
// the missing swap files and oom_group_kill line as 0: they must stay out.
func TestReadV2Minimal(t *testing.T) {
	dir, id := fakeCgroup(t, map[string]string{
		"memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
		"memory.stat":   "anon 4096\nfile 8192\nslab 0\nshmem 0\nworkingset_refault 3\n",
		"memory.high":   "1073741824\n",
	})
	got := read(t, NewReader(2, ""), dir, id)
	if got.Status != event.SnapshotOK {
		t.Fatalf("status %v (%s)", got.Status, got.Reason)
	}
	for _, f := range []event.SnapshotField{event.SnapEventsOOMGroupKill, event.SnapKernel, event.SnapWorkingsetRefaultAnon, event.SnapSwapLimit, event.SnapSwap, event.SnapPressure, event.SnapNodePressure} {
		if got.Has(f) {
			t.Errorf("field %#x is set though its file or line is missing", f)
		}
	}
	if !got.Has(event.SnapEventsOOMKill) || got.EventsOOMKill != 1 || !got.Has(event.SnapHigh) || got.HighBytes != 1<<30 || got.Anon != 4096 {
		t.Errorf("got %+v", got)
	}
}

// v1Files are the files of a v1 memory cgroup that the library's Stat
// reads, the memory+swap ones only with swap accounting, plus memory.stat.
func v1Files(swapAccounting bool) map[string]string {
	files := map[string]string{
		"memory.oom_control":             "oom_kill_disable 0\nunder_oom 1\noom_kill 3\n",
		"memory.stat":                    v1MemoryStat,
		"memory.usage_in_bytes":          "536870912\n",
		"memory.max_usage_in_bytes":      "536870912\n",
		"memory.failcnt":                 "77\n",
		"memory.limit_in_bytes":          "536870912\n",
		"memory.kmem.usage_in_bytes":     "9437184\n",
		"memory.kmem.max_usage_in_bytes": "10485760\n",
		"memory.kmem.failcnt":            "0\n",
		"memory.kmem.limit_in_bytes":     "9223372036854771712\n",
	}
	if swapAccounting {
		files["memory.memsw.usage_in_bytes"] = "537919488\n"
		files["memory.memsw.max_usage_in_bytes"] = "537919488\n"
		files["memory.memsw.failcnt"] = "0\n"
		files["memory.memsw.limit_in_bytes"] = "641728512\n"
	}
	return files
}

func TestReadV1(t *testing.T) {
	dir, id := fakeCgroup(t, v1Files(true))
	got := read(t, NewReader(1, writeNodePressure(t, nodePSI)), dir, id)
	want := event.Snapshot{
		Status: event.SnapshotOK, Version: 1,
		Fields: event.SnapEventsOOMKill | event.SnapUnderOOM | event.SnapOOMKillDisable | event.SnapFailcnt |
			event.SnapAnon | event.SnapFile | event.SnapShmem | event.SnapSwap | event.SnapKernel | event.SnapWorkingsetRefaultAnon | event.SnapWorkingsetRefaultFile |
			event.SnapSwapLimit | event.SnapNodePressure,
		EventsOOMKill: 3, UnderOOM: true, Failcnt: 77,
		Anon: 492830720, File: 12582912, Shmem: 4194304, Kernel: 9437184,
		WorkingsetRefaultAnon: 17, WorkingsetRefaultFile: 4242,
		SwapBytes: mib, SwapLimitBytes: 100 * mib,
		NodePressure: event.Pressure{
			Some: event.PressureLine{Avg10: 1.5, Avg60: 0.75, Avg300: 0.25, TotalMicros: 123456},
			Full: event.PressureLine{Avg10: 0.5, Avg60: 0.25, Avg300: 0.1, TotalMicros: 65432},
		},
	}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestReadV1WithoutKmemLimit: the library's Stat fails as a whole on a
// missing file, and memory.kmem.limit_in_bytes is gone from some kernels
// (6.1.54 stable). The snapshot goes without the kernel memory.
func TestReadV1WithoutKmemLimit(t *testing.T) {
	files := v1Files(true)
	delete(files, "memory.kmem.limit_in_bytes")
	dir, id := fakeCgroup(t, files)
	got := read(t, NewReader(1, ""), dir, id)
	if got.Status != event.SnapshotOK {
		t.Fatalf("status %v (%s)", got.Status, got.Reason)
	}
	if got.Has(event.SnapKernel) {
		t.Errorf("kernel memory %d read without memory.kmem.limit_in_bytes", got.Kernel)
	}
	if !got.Has(event.SnapSwapLimit) || got.SwapLimitBytes != 100*mib || got.Failcnt != 77 || got.Anon != 492830720 || got.EventsOOMKill != 3 {
		t.Errorf("got %+v", got)
	}
}

// TestReadV1NotAMemoryCgroup: a directory without the files of a memory
// cgroup fails, naming the first file the library missed.
func TestReadV1NotAMemoryCgroup(t *testing.T) {
	files := v1Files(false)
	delete(files, "memory.oom_control")
	dir, id := fakeCgroup(t, files)
	got := read(t, NewReader(1, ""), dir, id)
	if got.Status != event.SnapshotFailed || !strings.Contains(got.Reason, "memory.oom_control") || got.Fields != 0 {
		t.Errorf("got status %q, reason %q, fields %#x; want failed naming memory.oom_control", got.Status, got.Reason, got.Fields)
	}
}

func TestReadV1SwapLimit(t *testing.T) {
	const unlimited = "9223372036854771712\n" // what v1 shows for no limit
	for _, c := range []struct {
		name         string
		limit, memsw string // "" for no memsw files
		want         uint64
		has          bool
	}{
		{"memsw equal to the limit: no swap", "33554432", "33554432", 0, true},
		{"memsw above the limit", "33554432", "50331648", 16 * mib, true},
		{"memsw unlimited", "33554432", unlimited, event.NoLimit, true},
		{"memory unlimited, memsw set", unlimited, "50331648", 48 * mib, true},
		{"both unlimited", unlimited, unlimited, event.NoLimit, true},
		{"64 KiB pages' unlimited", "9223372036854710272", "9223372036854710272", event.NoLimit, true},
		{"no swap accounting", "33554432", "", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := v1Files(c.memsw != "")
			files["memory.limit_in_bytes"] = c.limit
			if c.memsw != "" {
				files["memory.memsw.limit_in_bytes"] = c.memsw
			}
			dir, id := fakeCgroup(t, files)
			got := read(t, NewReader(1, ""), dir, id)
			if got.Status != event.SnapshotOK || got.Has(event.SnapSwapLimit) != c.has || got.SwapLimitBytes != c.want {
				t.Errorf("status %v (%s), has swap limit %v, swap limit %d; want %v, %d", got.Status, got.Reason, got.Has(event.SnapSwapLimit), got.SwapLimitBytes, c.has, c.want)
			}
		})
	}
}

func TestReadRemoved(t *testing.T) {
	dir, id := fakeCgroup(t, map[string]string{"memory.events": "oom 1\n", "memory.stat": "anon 1\n"})
	r := NewReader(2, writeNodePressure(t, nodePSI))

	// Another cgroup now has the path: the one asked for is gone.
	if got := read(t, r, dir, id+1); got.Status != event.SnapshotRemoved || got.Fields&^event.SnapNodePressure != 0 {
		t.Errorf("path reused: got %+v, want status %q and no cgroup values", got, event.SnapshotRemoved)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	got := read(t, r, dir, id)
	if got.Status != event.SnapshotRemoved || got.Status.String() != "cgroup removed" {
		t.Errorf("removed: got status %q", got.Status)
	}
	// The node's pressure is still worth having.
	if !got.Has(event.SnapNodePressure) || got.Fields != event.SnapNodePressure {
		t.Errorf("removed: fields %#x, want the node's pressure only", got.Fields)
	}
}

func TestReadNotAMemoryCgroup(t *testing.T) {
	dir, id := fakeCgroup(t, map[string]string{"cpu.stat": "usage_usec 1\n"})
	got := read(t, NewReader(2, ""), dir, id)
	if got.Status != event.SnapshotFailed || !strings.Contains(got.Reason, "memory.events") || !strings.Contains(got.Reason, dir) {
		t.Errorf("got status %q, reason %q; want failed naming memory.events in %s", got.Status, got.Reason, dir)
	}
	if got.Fields != 0 {
		t.Errorf("failed snapshot has fields %#x", got.Fields)
	}
}

func TestReadNotADirectory(t *testing.T) {
	name := writeNodePressure(t, nodePSI)
	got := read(t, NewReader(2, ""), name, 0)
	if got.Status != event.SnapshotFailed || !strings.Contains(got.Reason, name) || got.Status.String() != "failed" {
		t.Errorf("got status %q, reason %q; want failed naming %s", got.Status, got.Reason, name)
	}
}

func TestReadNodeOnly(t *testing.T) {
	got := read(t, NewReader(2, writeNodePressure(t, nodePSI)), "", 0)
	if got.Status != event.SnapshotOK || got.Fields != event.SnapNodePressure || got.NodePressure.Full.TotalMicros != 65432 {
		t.Errorf("got %+v", got)
	}
	if got := read(t, NewReader(2, filepath.Join(t.TempDir(), "none")), "", 0); got.Status != event.SnapshotOK || got.Fields != 0 {
		t.Errorf("without PSI: got %+v", got)
	}
}

// TestReadV2LibraryGaps pins what the snapshot does where containerd/cgroups
// reads a file more leniently than a snapshot may take it.
func TestReadV2LibraryGaps(t *testing.T) {
	const events = "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"
	for _, c := range []struct {
		name     string
		files    map[string]string
		status   event.SnapshotStatus
		pressure bool
	}{
		{"PSI without its full line", map[string]string{"memory.pressure": "some avg10=1.00 avg60=1.00 avg300=1.00 total=1\n"}, event.SnapshotOK, false},
		{"PSI average not a number", map[string]string{"memory.pressure": "some avg10=NaN avg60=1.00 avg300=1.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n"}, event.SnapshotOK, false},
		{"PSI average over 100", map[string]string{"memory.pressure": "some avg10=1.00 avg60=1.00 avg300=1.00 total=1\nfull avg10=101 avg60=1.00 avg300=1.00 total=1\n"}, event.SnapshotOK, false},
		// The library indexes the first word of every line: an empty one
		// panics inside it.
		{"PSI with an empty line", map[string]string{"memory.pressure": "some avg10=1.00 avg60=1.00 avg300=1.00 total=1\n\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n"}, event.SnapshotFailed, false},
		// A line that is not "key number" fails the library's memory.stat.
		{"memory.stat line without a number", map[string]string{"memory.stat": "anon 1\nfile x\n"}, event.SnapshotFailed, false},
		{"valid PSI", map[string]string{"memory.pressure": cgroupPSI}, event.SnapshotOK, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"memory.events": events, "memory.stat": v2MemoryStat}
			maps.Copy(files, c.files)
			dir, id := fakeCgroup(t, files)
			got := read(t, NewReader(2, ""), dir, id)
			if got.Status != c.status || got.Has(event.SnapPressure) != c.pressure {
				t.Errorf("status %q (%s), pressure read %v; want %q, %v", got.Status, got.Reason, got.Has(event.SnapPressure), c.status, c.pressure)
			}
			if got.Status == event.SnapshotOK && (got.EventsMax != 5 || !got.Has(event.SnapEventsOOMGroupKill) || got.Anon != 492830720) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

// TestReadReplacedWhileReading swaps another directory in at the cgroup's
// path while the library, which opens files by path, is held on a FIFO in
// place of memory.stat: it then reads the newcomer's files, and the
// snapshot must say the cgroup asked for is gone rather than report them.
func TestReadReplacedWhileReading(t *testing.T) {
	dir, id := fakeCgroup(t, map[string]string{"memory.events": "oom 1\noom_kill 1\n"})
	fifo := filepath.Join(dir, "memory.stat")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan event.Snapshot, 1)
	go func() { done <- read(t, NewReader(2, ""), dir, id) }()

	// Opening a FIFO for writing without blocking works once a reader has
	// it open: the library is then inside memory.stat, and stays there
	// while the writer is open.
	var writer *os.File
	deadline := time.Now().Add(10 * time.Second)
	for writer == nil && time.Now().Before(deadline) {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			writer = f
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	if writer == nil {
		t.Fatal("the library never opened memory.stat")
	}
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	newcomer, _ := fakeCgroup(t, map[string]string{"memory.events": "oom 99\noom_kill 99\n", "memory.stat": v2MemoryStat})
	if err := os.Rename(newcomer, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.WriteString("anon 1\n"); err != nil {
		t.Fatal(err)
	}
	writer.Close()

	// The direct read of memory.stat opens the FIFO again: each writer
	// that comes and goes lets it through.
	var got event.Snapshot
	for received := false; !received; {
		select {
		case got = <-done:
			received = true
		case <-time.After(time.Millisecond):
			if f, err := os.OpenFile(filepath.Join(dir+".old", "memory.stat"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	}
	if got.Status != event.SnapshotRemoved || got.Fields != 0 {
		t.Errorf("got %+v; want status %q and no values", got, event.SnapshotRemoved)
	}
}

// TestReadTimesOut stalls a read on a FIFO in place of memory.stat, the
// way a read can hang in the kernel: Read returns at its deadline, and
// once every reader slot is stuck, later reads time out without starting
// more.
func TestReadTimesOut(t *testing.T) {
	dir, id := fakeCgroup(t, map[string]string{"memory.events": "oom 1\n"})
	fifo := filepath.Join(dir, "memory.stat")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r := NewReader(2, "")
	for i := range maxReaders + 1 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		got := r.Read(ctx, dir, id)
		cancel()
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("read %d took %v with a 50ms deadline", i, took)
		}
		if got.Status != event.SnapshotTimedOut || got.Status.String() != "timed out" {
			t.Errorf("read %d: status %q, want timed out", i, got.Status)
		}
	}
	if n := len(r.slots); n != maxReaders {
		t.Errorf("%d reads in flight, want the bound %d", n, maxReaders)
	}
	// Unblock the stuck reads: each open of the FIFO for reading completes
	// when a writer opens it, and reads end of file when it closes.
	deadline := time.Now().Add(10 * time.Second)
	for len(r.slots) > 0 && time.Now().Before(deadline) {
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			f.Close()
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(r.slots); n != 0 {
		t.Fatalf("%d reads still stuck", n)
	}
}

func TestParsePressure(t *testing.T) {
	if p, ok := ParsePressure([]byte(nodePSI)); !ok || p.Some.Avg10 != 1.5 || p.Full.Avg300 != 0.1 {
		t.Errorf("valid file: %+v %v", p, ok)
	}
	for _, bad := range []string{
		"",
		"some avg10=1.00 avg60=1.00 avg300=1.00 total=1\n", // no full line
		"full avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"some avg10=1.00 avg60=1.00 avg300=1.00\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"some avg10=NaN avg60=1.00 avg300=1.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"some avg10=101 avg60=1.00 avg300=1.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"some avg10=-1 avg60=1.00 avg300=1.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"some avg60=1.00 avg10=1.00 avg300=1.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"some avg10=1.00 avg60=1.00 avg300=1.00 total=-1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
		"most avg10=1.00 avg60=1.00 avg300=1.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n",
	} {
		if p, ok := ParsePressure([]byte(bad)); ok {
			t.Errorf("ParsePressure(%q) = %+v, want failure", bad, p)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for _, c := range []struct {
		text string
		want uint64
		ok   bool
	}{
		{"max\n", event.NoLimit, true},
		{"536870912\n", 512 * mib, true},
		{"0", 0, true},
		{"9223372036854771712\n", event.NoLimit, true},
		{"9223372036854700000", 9223372036854700000, true}, // a real limit just below the unlimited values
		{"", 0, false},
		{"-1", 0, false},
		{"12 MiB", 0, false},
	} {
		if got, ok := ParseLimit([]byte(c.text)); got != c.want || ok != c.ok {
			t.Errorf("ParseLimit(%q) = %d, %v; want %d, %v", c.text, got, ok, c.want, c.ok)
		}
	}
	if _, ok := ParseLimit(nil); ok {
		t.Error("ParseLimit(nil) succeeded")
	}
	if allocs := testing.AllocsPerRun(100, func() { ParseLimit([]byte("536870912\n")) }); allocs != 0 {
		t.Errorf("ParseLimit allocates %v times", allocs)
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]uint64{"0\n": 0, "123": 123, "18446744073709551615\n": 1<<64 - 1} {
		if got, ok := ParseCount([]byte(in)); !ok || got != want {
			t.Errorf("ParseCount(%q) = %d, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "\n", "-1", "1x", "18446744073709551616", "١"} {
		if got, ok := ParseCount([]byte(bad)); ok {
			t.Errorf("ParseCount(%q) = %d", bad, got)
		}
	}
}

// BenchmarkRead times one snapshot of a synthetic cgroup of each version,
// with the node's pressure.
func BenchmarkRead(b *testing.B) {
	for _, c := range []struct {
		name    string
		version int
		files   map[string]string
	}{
		{"v1", 1, v1Files(true)},
		{"v2", 2, v2Files()},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir, id := fakeCgroup(b, c.files)
			r := NewReader(c.version, writeNodePressure(b, nodePSI))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if s := r.Read(ctx, dir, id); s.Status != event.SnapshotOK {
					b.Fatalf("status %v (%s)", s.Status, s.Reason)
				}
			}
		})
	}
}

func TestMeminfoKB(t *testing.T) {
	meminfo := []byte("MemTotal:       24684092 kB\nMemFree:         1000000 kB\nMemAvailable:    3000000 kB\nBuffers:            1234 kB\n")
	if n, ok := MeminfoKB(meminfo, "MemAvailable:"); !ok || n != 3000000 {
		t.Errorf("MemAvailable %d, %v", n, ok)
	}
	if n, ok := MeminfoKB(meminfo, "Buffers:"); !ok || n != 1234 {
		t.Errorf("the last line: %d, %v", n, ok)
	}
	if _, ok := MeminfoKB([]byte("MemAvailable: 12 MB\n"), "MemAvailable:"); ok {
		t.Error("a value in MB accepted")
	}
	if _, ok := MeminfoKB(meminfo, "SwapTotal:"); ok {
		t.Error("a key not there found")
	}
}
