package ksym

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testdata/ksym/kallsyms holds lines of a real 6.18 /proc/kallsyms (the core
// kernel part), data symbols, a __cfi_ stub, and module symbols out of
// address order as the kernel lists them after loading modules.
func loadFixture(t testing.TB, name string) (*Table, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "ksym", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(f)
}

func TestLookup(t *testing.T) {
	table, err := loadFixture(t, "kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{0xffffffff81597310, "oom_kill_process"},             // a function's first byte
		{0xffffffff81597310 + 0x1a5, "oom_kill_process"},     // a return address inside it
		{0xffffffff81597cd0 + 4, "oom_kill_process"},         // the __pfx_ stub before the next one
		{0xffffffff8168f900 + 8, "mem_cgroup_out_of_memory"}, // a __cfi_ stub
		{0xffffffff81597ce0 + 0x2a0, "out_of_memory"},
		{0xffffffff8161e720 + 0x930, "__alloc_pages_slowpath.constprop.0"},
		{0xffffffff81000000, "srso_alias_untrain_ret"}, // three names share it: the first listed wins
		{0xffffffff81207618, "abort"},                  // a weak function
		{0xffffffff82400010, "_etext"},                 // data: the nearest text symbol, for want of sizes
		{0xffffffffc0201010, "ftrace_trampoline"},
		{0xffffffffc0a05010, "ext4_fill_super"},
		{0xffffffffc0a05400, "ext4_mark_inode_dirty"},
		{0xffffffffc0a12010, "nft_do_chain"}, // listed before the ext4 symbols below it
	} {
		if got, ok := table.Lookup(tc.addr); !ok || got != tc.want {
			t.Errorf("Lookup(%#x) = %q, %v; want %q", tc.addr, got, ok, tc.want)
		}
	}
	for _, addr := range []uint64{0, 0xffffffff80ffffff} {
		if got, ok := table.Lookup(addr); ok {
			t.Errorf("Lookup(%#x) = %q below every symbol", addr, got)
		}
	}

	var names []string
	for _, s := range table.symbols {
		names = append(names, table.name(s))
	}
	want := "srso_alias_untrain_ret asm_exc_page_fault abort mark_oom_victim __oom_kill_process " +
		"oom_kill_process out_of_memory __alloc_pages_slowpath.constprop.0 mem_cgroup_out_of_memory " +
		"try_charge_memcg _etext _sinittext ftrace_trampoline ext4_fill_super ext4_mark_inode_dirty nft_do_chain"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("kept symbols\ngot:  %s\nwant: %s", got, want)
	}
}

func TestRestricted(t *testing.T) {
	_, err := loadFixture(t, "kallsyms-restricted")
	if !errors.Is(err, ErrRestricted) {
		t.Fatalf("err = %v, want ErrRestricted", err)
	}
	for _, hint := range []string{"root", "kernel.kptr_restrict"} {
		if !strings.Contains(err.Error(), hint) {
			t.Errorf("error %q does not mention %s", err, hint)
		}
	}
}

// lookupFrame names addr as the innermost frame of a stack.
func lookupFrame(b *Background, addr uint64) string {
	names := make([]string, 1)
	b.LookupStack([]uint64{addr}, names)
	return names[0]
}

// A stack's outer frames are return addresses, named by the call before
// them: one that is the next function's first byte (its call never
// returned) belongs to the function before.
func TestLookupStack(t *testing.T) {
	table, err := loadFixture(t, "kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	const outOfMemory = 0xffffffff81597ce0 // the function after oom_kill_process
	stack := []uint64{outOfMemory, outOfMemory, outOfMemory + 0x2a0, 0x1000}
	names := []string{"stale", "stale", "stale", "stale", "beyond the stack"}
	named := table.LookupStack(stack, names)
	want := []string{"out_of_memory", "oom_kill_process", "out_of_memory", "", "beyond the stack"}
	if !slices.Equal(names, want) || named != 3 {
		t.Errorf("LookupStack = %q, %d named; want %q, 3", names, named, want)
	}
}

// The background load checks the first line at once and finds what Load
// finds once done; a hidden kallsyms is refused before anything waits.
func TestLoadInBackground(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "ksym")
	b, err := loadInBackground(filepath.Join(dir, "kallsyms"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := loadFixture(t, "kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range table.symbols {
		want := table.name(s)
		if got := lookupFrame(b, s.addr+1); got != want {
			t.Errorf("LookupStack(%#x) = %q; want %q", s.addr+1, got, want)
		}
	}
	if _, err := loadInBackground(filepath.Join(dir, "kallsyms-restricted")); !errors.Is(err, ErrRestricted) {
		t.Errorf("restricted kallsyms: err = %v, want ErrRestricted", err)
	}
	bad := filepath.Join(t.TempDir(), "kallsyms")
	if err := os.WriteFile(bad, []byte("ffffffff81000000 T _stext\nnonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err = loadInBackground(bad)
	if err != nil {
		t.Fatalf("a good first line refused: %v", err)
	}
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad second line: err = %v", err)
	}
	if got := lookupFrame(b, 0xffffffff81000001); got != "" {
		t.Errorf("a failed load found a symbol: %q", got)
	}
	// x86-64 kernels with CONFIG_KALLSYMS_ALL (Debian's 5.10 to 6.12) list
	// their per-CPU variables first, at zero.
	percpu := filepath.Join(t.TempDir(), "kallsyms")
	if err := os.WriteFile(percpu, []byte("0000000000000000 A fixed_percpu_data\n0000000000000000 A __per_cpu_start\n"+
		"0000000000001000 A cpu_debug_store\nffffffff81000000 T _stext\nffffffff81000100 t oom_kill_process\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err = loadInBackground(percpu); err != nil {
		t.Fatalf("per-CPU symbols at zero first: %v", err)
	}
	if got := lookupFrame(b, 0xffffffff81000104); got != "oom_kill_process" {
		t.Errorf("per-CPU symbols at zero first: LookupStack = %q", got)
	}
	if _, err := loadInBackground(filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing kallsyms loads")
	}
}

// TestLookupWaitsForTheLoad reads kallsyms from a pipe whose writer holds
// back all but the first line: a Lookup meanwhile waits for the rest.
func TestLookupWaitsForTheLoad(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "kallsyms")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	rest := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			rest <- err
			return
		}
		defer w.Close()
		if _, err := io.WriteString(w, "ffffffff81000000 T _stext\n"); err != nil {
			rest <- err
			return
		}
		time.Sleep(100 * time.Millisecond) // for a Lookup that does not wait to come first
		_, err = io.WriteString(w, "ffffffff81000100 t oom_kill_process\n")
		rest <- err
	}()
	b, err := loadInBackground(fifo)
	if err != nil {
		t.Fatal(err)
	}
	if got := lookupFrame(b, 0xffffffff81000104); got != "oom_kill_process" {
		t.Errorf("LookupStack during the load = %q; want oom_kill_process", got)
	}
	if err := <-rest; err != nil {
		t.Fatal(err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"empty", "", "no text symbols"},
		{"only data", "ffffffff82400000 D __start_rodata\n", "no text symbols"},
		{"no name", "ffffffff81000000 T\n", "line 1"},
		{"no type", "ffffffff81000000\n", "line 1"},
		{"bad address", "ffffffff8100000g T _stext\n", "line 1"},
		{"address too long", "1ffffffff81000000 T _stext\n", "line 1"},
		{"second line", "ffffffff81000000 T _stext\nnonsense\n", "line 2"},
		{"long line", "ffffffff81000000 T " + strings.Repeat("x", maxLine) + "\n", "longer than"},
	} {
		_, err := Parse(strings.NewReader(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLastLineWithoutNewline(t *testing.T) {
	table, err := Parse(strings.NewReader("ffffffff81000000 T _stext\nffffffff81597310 t oom_kill_process"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := table.Lookup(0xffffffff81597311); got != "oom_kill_process" {
		t.Errorf("Lookup = %q", got)
	}
}

// TestManyNames parses more symbols than a block holds and more names
// than a chunk holds, listed out of address order as module symbols are:
// every address still finds its own name, and the parse allocates little
// more than the table keeps.
func TestManyNames(t *testing.T) {
	const n = 3*symbolBlock + 100
	name := func(i int) string {
		if i%997 == 0 { // names as long as the kernel allows meet the chunks' ends
			return fmt.Sprintf("long_%05d_%s", i, strings.Repeat("x", 500))
		}
		return fmt.Sprintf("fn_%05d_%s", i, strings.Repeat("y", i%40))
	}
	var kallsyms strings.Builder
	for j := range n {
		i := n - 1 - j // the highest address first
		fmt.Fprintf(&kallsyms, "%016x t %s\n", 0xffffffff81000000+uint64(i)*0x100, name(i))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	table, err := Parse(strings.NewReader(kallsyms.String()))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.names) < 3 {
		t.Fatalf("%d chunks of names: the test should span several", len(table.names))
	}
	for i := range n {
		addr := 0xffffffff81000000 + uint64(i)*0x100
		if got, ok := table.Lookup(addr + 0x80); !ok || got != name(i) {
			t.Fatalf("Lookup(%#x) = %.40q, %v; want %.40q", addr+0x80, got, ok, name(i))
		}
	}
	kept := cap(table.symbols)*int(unsafe.Sizeof(symbol{})) + len(table.names)*nameChunkBytes
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > uint64(2*kept) {
		t.Errorf("Parse allocated %d bytes for a table of %d", allocated, kept)
	}
}

// TestLoad reads the running kernel's symbols; only root sees addresses.
func TestLoad(t *testing.T) {
	table, err := Load()
	if errors.Is(err, ErrRestricted) && os.Geteuid() != 0 {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	// out_of_memory is a global function on every kernel oomtrace supports.
	suffix := []byte(" T out_of_memory\n")
	i := bytes.Index(raw, suffix)
	if i < 16 {
		t.Fatal("no out_of_memory in /proc/kallsyms")
	}
	line := raw[i-16 : i+len(suffix)]
	addr, _, name, ok := parseLine(line)
	if !ok || string(name) != "out_of_memory" {
		t.Fatalf("cannot parse %q", line)
	}
	if got, ok := table.Lookup(addr + 0x10); !ok || got != "out_of_memory" {
		t.Errorf("Lookup(out_of_memory+0x10) = %q, %v", got, ok)
	}
}

// kallsyms reads the running kernel's symbols, or skips when it shows none.
func kallsyms(b *testing.B) []byte {
	raw, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		b.Skip(err)
	}
	if _, err := Parse(bytes.NewReader(raw)); errors.Is(err, ErrRestricted) {
		b.Skip(err)
	}
	return raw
}

// BenchmarkLoad measures reading and parsing /proc/kallsyms, and reports the
// memory the table keeps.
func BenchmarkLoad(b *testing.B) {
	kallsyms(b)
	var table *Table
	for b.Loop() {
		var err error
		if table, err = Load(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(table.symbols)), "symbols")
	b.ReportMetric(float64(cap(table.symbols)*int(unsafe.Sizeof(symbol{}))+len(table.names)*nameChunkBytes), "table-bytes")
	runtime.KeepAlive(table)
}

// BenchmarkParse leaves out the kernel's cost of generating the file.
func BenchmarkParse(b *testing.B) {
	raw := kallsyms(b)
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupStack names a stack of 13 frames spread over the running
// kernel's symbols (a memcg kill's depth) as the tracer does: through
// Background, once the load has ended.
func BenchmarkLookupStack(b *testing.B) {
	kallsyms(b)
	symbols, err := LoadInBackground()
	if err != nil {
		b.Fatal(err)
	}
	if err := symbols.Err(); err != nil {
		b.Fatal(err)
	}
	table := symbols.table
	stack := make([]uint64, 13)
	for i := range stack {
		stack[i] = table.symbols[(i+1)*len(table.symbols)/(len(stack)+1)].addr + 0x10
	}
	names := make([]string, len(stack))
	for b.Loop() {
		symbols.LookupStack(stack, names)
	}
	if slices.Contains(names, "") {
		b.Fatalf("frames left unnamed: %q", names)
	}
}
