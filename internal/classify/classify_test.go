package classify

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

type stackCase struct {
	name    string
	class   event.Class
	exiting bool
	stack   []string
}

// readStacks reads testdata/classify/stacks.txt; its header says the format.
func readStacks(t *testing.T) []stackCase {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "classify", "stacks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []stackCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "== "):
			fields := strings.Fields(line)
			if len(fields) != 4 || !strings.HasPrefix(fields[3], "exiting=") {
				t.Fatalf("bad header %q", line)
			}
			class, err := event.ParseClass(fields[2])
			if err != nil {
				t.Fatal(err)
			}
			exiting, err := strconv.ParseBool(strings.TrimPrefix(fields[3], "exiting="))
			if err != nil {
				t.Fatal(err)
			}
			cases = append(cases, stackCase{name: fields[1], class: class, exiting: exiting})
		case line != "":
			if len(cases) == 0 {
				t.Fatalf("frame %q before any header", line)
			}
			c := &cases[len(cases)-1]
			c.stack = append(c.stack, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no stacks")
	}
	return cases
}

func TestFromStack(t *testing.T) {
	for _, c := range readStacks(t) {
		class, exiting := FromStack(c.stack)
		if class != c.class || exiting != c.exiting {
			t.Errorf("%s: FromStack = %s, exiting=%v; want %s, exiting=%v", c.name, class, exiting, c.class, c.exiting)
		}
	}
	if class, exiting := FromStack(nil); class != event.ClassUnknown || exiting {
		t.Errorf("nil stack: %s, exiting=%v", class, exiting)
	}
}

// TestEveryMemcgEntry checks each memcg entry on its own: the stacks in
// testdata all hold mem_cgroup_out_of_memory as well.
func TestEveryMemcgEntry(t *testing.T) {
	for _, entry := range []string{"mem_cgroup_out_of_memory", "mem_cgroup_oom", "try_charge",
		"try_charge_memcg", "memory_max_write", "mem_cgroup_oom_synchronize"} {
		for _, frame := range []string{entry, entry + ".constprop.0"} {
			stack := []string{"mark_oom_victim", "__oom_kill_process", "oom_kill_process", "out_of_memory", frame, "do_anonymous_page"}
			if class, _ := FromStack(stack); class != event.ClassMemcg {
				t.Errorf("%s as the OOM killer's caller: %s", frame, class)
			}
			// Memcg wins over everything else on the stack.
			stack = append(stack, "moom_callback", "__alloc_pages_slowpath.constprop.0")
			if class, _ := FromStack(stack); class != event.ClassMemcg {
				t.Errorf("%s with sysrq and allocator frames: %s", frame, class)
			}
		}
	}
}

func TestBaseName(t *testing.T) {
	for symbol, want := range map[string]string{
		"__alloc_pages_slowpath.constprop.0": "__alloc_pages_slowpath",
		"try_charge.isra.0":                  "try_charge",
		"oom_kill_process.cold":              "oom_kill_process",
		"out_of_memory+0x2a0/0x4f0":          "out_of_memory",
		"nft_do_chain [nf_tables]":           "nft_do_chain",
		"do_syscall_64":                      "do_syscall_64",
		"0xffffffffc0a01234":                 "",
		"[unknown]":                          "",
		"":                                   "",
	} {
		if got := baseName(symbol); got != want {
			t.Errorf("baseName(%q) = %q, want %q", symbol, got, want)
		}
	}
}

func TestFromConstraint(t *testing.T) {
	for _, tc := range []struct {
		constraint event.Constraint
		order      int32
		hasOrder   bool
		want       event.Class
	}{
		{event.ConstraintNone, 0, true, event.ClassGlobal},
		{event.ConstraintNone, 9, true, event.ClassGlobal},
		{event.ConstraintCpuset, 0, true, event.ClassCpuset},
		{event.ConstraintMemoryPolicy, 3, true, event.ClassMempolicy},
		{event.ConstraintMemcg, 0, true, event.ClassMemcg},
		// sysrq-f: order -1 with constraint NONE, as moom_callback sets it.
		{event.ConstraintNone, -1, true, event.ClassSysrq},
		// A report whose header (with the order) was rate-limited away.
		{event.ConstraintNone, 0, false, event.ClassGlobal},
		{event.ConstraintUnseen, 0, true, event.ClassUnknown},
		{event.Constraint(99), 0, true, event.ClassUnknown},
	} {
		if got := FromConstraint(tc.constraint, tc.order, tc.hasOrder); got != tc.want {
			t.Errorf("FromConstraint(%d, %d, %v) = %s, want %s", tc.constraint, tc.order, tc.hasOrder, got, tc.want)
		}
	}
}
