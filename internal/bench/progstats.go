package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// progStat is the kernel's account of one BPF program, with
// kernel.bpf_stats_enabled on: how often it ran and for how long.
type progStat struct {
	Label   string // the tracepoint it is attached to, or its name
	Runs    uint64
	Runtime time.Duration
	// Misses counts runs the kernel skipped because another BPF program
	// was running on the CPU: events lost without a trace.
	Misses uint64
	// Verified is the instructions the verifier walked to load the
	// program (Linux 5.16 and later; 0 before): most of a tracer's start.
	Verified uint32
}

// progStats maps a program id to its statistics.
type progStats map[ebpf.ProgramID]progStat

// programsOf returns the statistics of every BPF program that process pid
// holds, through a program, link or perf event file descriptor.
func programsOf(pid int) (progStats, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		return nil, fmt.Errorf("list BPF programs of %d: %w", pid, err)
	}
	// The tracepoint name of programs attached through perf events (as
	// bpftrace's are), whose own names the kernel cuts to 15 bytes.
	attached := make(map[ebpf.ProgramID]string)
	ids := make(map[ebpf.ProgramID]bool)
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if id, tp, ok := taskFDQuery(pid, fd); ok {
			ids[id] = true
			attached[id] = tp
			continue
		}
		b, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/fdinfo", pid), e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if id, ok := fdinfoProgID(b); ok {
			ids[id] = true
		}
	}
	stats := make(progStats, len(ids))
	for id := range ids {
		s, err := programStat(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // unloaded meanwhile
		}
		if err != nil {
			return nil, err
		}
		if tp := attached[id]; tp != "" {
			s.Label = tp
		}
		stats[id] = s
	}
	return stats, nil
}

// fdinfoProgID returns the prog_id line of an fdinfo file: present for BPF
// program and link file descriptors.
func fdinfoProgID(fdinfo []byte) (ebpf.ProgramID, bool) {
	sc := bufio.NewScanner(bytes.NewReader(fdinfo))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "prog_id:")
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil || id == 0 {
			return 0, false
		}
		return ebpf.ProgramID(id), true
	}
	return 0, false
}

func programStat(id ebpf.ProgramID) (progStat, error) {
	prog, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return progStat{}, fmt.Errorf("open BPF program %d: %w", id, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return progStat{}, fmt.Errorf("read BPF program %d: %w", id, err)
	}
	st, err := prog.Stats()
	if err != nil {
		return progStat{}, fmt.Errorf("read statistics of BPF program %d: %w", id, err)
	}
	verified, _ := info.VerifiedInstructions()
	return progStat{Label: info.Name, Runs: st.RunCount, Runtime: st.Runtime, Misses: st.RecursionMisses, Verified: verified}, nil
}

// taskFDQueryAttr is the BPF_TASK_FD_QUERY part of union bpf_attr.
type taskFDQueryAttr struct {
	PID         uint32
	FD          uint32
	Flags       uint32
	BufLen      uint32
	Buf         uint64
	ProgID      uint32
	FDType      uint32
	ProbeOffset uint64
	ProbeAddr   uint64
}

// taskFDQuery asks the kernel which program and tracepoint the perf event
// descriptor fd of process pid attaches; ok is false for any other
// descriptor.
func taskFDQuery(pid, fd int) (ebpf.ProgramID, string, bool) {
	// On the heap, which Go never moves: the kernel gets its address as a
	// plain number.
	buf := make([]byte, 256)
	attr := taskFDQueryAttr{
		PID:    uint32(pid),
		FD:     uint32(fd),
		BufLen: uint32(len(buf)),
		Buf:    uint64(uintptr(unsafe.Pointer(&buf[0]))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_TASK_FD_QUERY, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(buf)
	if errno != 0 || attr.FDType != unix.BPF_FD_TYPE_TRACEPOINT {
		return 0, "", false
	}
	name := buf[:min(int(attr.BufLen), len(buf))]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return ebpf.ProgramID(attr.ProgID), string(name), true
}

// progDelta is what a program did between two snapshots.
type progDelta struct {
	Label   string
	Runs    uint64
	Runtime time.Duration
	Misses  uint64
}

// nsPerRun is the mean cost of one run; NaN without runs.
func (d progDelta) nsPerRun() float64 {
	if d.Runs == 0 {
		return nan
	}
	return float64(d.Runtime.Nanoseconds()) / float64(d.Runs)
}

// deltas returns, by label, what each program did from before to after;
// programs with the same label (none of the tracers here has two) are
// summed.
func deltas(before, after progStats) map[string]progDelta {
	out := make(map[string]progDelta, len(after))
	for id, a := range after {
		b := before[id]
		d := out[a.Label]
		d.Label = a.Label
		d.Runs += a.Runs - b.Runs
		d.Runtime += a.Runtime - b.Runtime
		d.Misses += a.Misses - b.Misses
		out[a.Label] = d
	}
	return out
}
