package bench

import (
	"debug/elf"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The kill path of oomtrace, timed piece by piece: a bpftrace script that
// stamps oom:mark_victim in the kernel, the entry of oomtrace's functions
// that handle a kill (uprobes on its binary: decoding the record, the
// attribute stage, the explain stage) and its write(2) of the line, each
// against the kill. The harness's own read closes the path. Uprobes cost a
// few microseconds each: the first oomtrace of the latency scenario carries
// them, the others do not.
const (
	decodeKillSymbol    = "github.com/oomtrace/oomtrace/internal/tracer.(*Decoder).decodeOOMKill"
	attributeKillSymbol = "github.com/oomtrace/oomtrace/internal/attribute.(*Stage).kill"
	explainKillSymbol   = "github.com/oomtrace/oomtrace/internal/verdict.Explain"
)

// breakdownScript is the script for the oomtrace binary bin running as
// process pid. It prints, per kill, "breakdown VICTIM DECODE ATTRIBUTE
// EXPLAIN WRITE": nanoseconds from the kill to each step.
func breakdownScript(bin string, pid int) string {
	return strings.NewReplacer(
		"PID", strconv.Itoa(pid),
		"DECODE", fmt.Sprintf("uprobe:%s:%q", bin, decodeKillSymbol),
		"ATTRIBUTE", fmt.Sprintf("uprobe:%s:%q", bin, attributeKillSymbol),
		"EXPLAIN", fmt.Sprintf("uprobe:%s:%q", bin, explainKillSymbol),
	).Replace(`
tracepoint:oom:mark_victim { @victim = args->pid; @t0 = nsecs; @dec = 0; @att = 0; @exp = 0; }
DECODE /pid == PID && @t0 && @dec == 0/ { @dec = nsecs; }
ATTRIBUTE /pid == PID && @dec && @att == 0/ { @att = nsecs; }
EXPLAIN /pid == PID && @att && @exp == 0/ { @exp = nsecs; }
tracepoint:syscalls:sys_enter_write /pid == PID && @exp && args->fd == 1/ {
	printf("breakdown %d %d %d %d %d\n", @victim, @dec - @t0, @att - @t0, @exp - @t0, nsecs - @t0);
	@t0 = 0; @dec = 0; @att = 0; @exp = 0;
}
END { clear(@victim); clear(@t0); clear(@dec); clear(@att); clear(@exp); }
`)
}

// checkBreakdownSymbols reports an error unless the oomtrace binary bin
// has every function the breakdown probes.
func checkBreakdownSymbols(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("read the symbols of %s: %w", bin, err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("read the symbols of %s: %w (a binary built with -s has none: build it with make build)", bin, err)
	}
	want := map[string]bool{decodeKillSymbol: false, attributeKillSymbol: false, explainKillSymbol: false}
	for _, s := range syms {
		if _, ok := want[s.Name]; ok && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			want[s.Name] = true
		}
	}
	var missing []string
	for name, found := range want {
		if !found {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s has no function %s: the breakdown of the kill path probes functions that were renamed or inlined (internal/bench/breakdown.go)",
			bin, strings.Join(missing, ", "))
	}
	return nil
}

// killSteps is when oomtrace reached each step of one kill, from the kill.
type killSteps struct {
	decode, attribute, explain, write time.Duration
}

// parseBreakdown reads a line of the breakdown script.
func parseBreakdown(line string) (int, killSteps, bool) {
	f := strings.Fields(line)
	if len(f) != 6 || f[0] != "breakdown" {
		return 0, killSteps{}, false
	}
	var ns [5]int64
	for i := range ns {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || n < 0 {
			return 0, killSteps{}, false
		}
		ns[i] = n
	}
	s := killSteps{time.Duration(ns[1]), time.Duration(ns[2]), time.Duration(ns[3]), time.Duration(ns[4])}
	if s.decode > s.attribute || s.attribute > s.explain || s.explain > s.write {
		return 0, killSteps{}, false
	}
	return int(ns[0]), s, true
}

// breakdownWatch runs the breakdown script and keeps its lines by victim.
type breakdownWatch struct {
	tr    *runningTool
	mu    sync.Mutex
	steps map[int]killSteps
}

// startBreakdown times the kills of the oomtrace running as tr.
func (ts tools) startBreakdown(tr *runningTool) (*breakdownWatch, error) {
	if err := checkBreakdownSymbols(ts.oomtrace); err != nil {
		return nil, err
	}
	w := &breakdownWatch{tr: &runningTool{tool: toolBpftrace}, steps: make(map[int]killSteps)}
	if _, err := w.tr.startBpftrace(ts.bpftrace, breakdownScript(ts.oomtrace, tr.pid()), w.onLine); err != nil {
		if w.tr.p != nil {
			w.tr.p.kill()
		}
		return nil, fmt.Errorf("start the breakdown of the kill path: %w", err)
	}
	return w, nil
}

func (w *breakdownWatch) onLine(line []byte, _ uint64) {
	if pid, s, ok := parseBreakdown(string(line)); ok {
		w.mu.Lock()
		w.steps[pid] = s
		w.mu.Unlock()
	}
}

// of returns the steps of the kill of pid, if the script saw them all. The
// script's line comes at the write(2) that the harness waited for, so it
// is there by the time the harness has read oomtrace's.
func (w *breakdownWatch) of(pid int) (killSteps, bool) {
	return pollFor(time.Second, func() (killSteps, bool) {
		w.mu.Lock()
		defer w.mu.Unlock()
		s, ok := w.steps[pid]
		return s, ok
	})
}

func (w *breakdownWatch) stop(ts tools) error {
	_, err := w.tr.stop(ts)
	return err
}
