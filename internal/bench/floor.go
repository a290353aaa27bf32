package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// The floor reader is the least any ring-buffer tracer can do about a
// kill: a program of a few instructions on oom:mark_victim that puts the
// victim's pid and CLOCK_BOOTTIME in a ring buffer, read by a process that
// prints one line per record through the same pipe to the harness as
// oomtrace's. Its latency is the harness's and the kernel's share of every
// figure (the wakeups, the scheduling, the pipe); what oomtrace takes on
// top of it is oomtrace's own. It is this binary run again with
// floorReaderEnv set.
const floorReaderEnv = "OOMBENCH_FLOOR_READER"

// FloorReaderMain runs the floor reader and exits when this process was
// started as one; otherwise it returns at once.
func FloorReaderMain() {
	if _, ok := os.LookupEnv(floorReaderEnv); !ok {
		return
	}
	if err := runFloorReader(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "floor reader: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var pidField = regexp.MustCompile(`field:int pid;\s*offset:([0-9]+);\s*size:4;`)

// markVictimPIDOffset is the offset of the victim's pid in the record of
// oom:mark_victim, the same in its old and new forms but read rather than
// assumed.
func markVictimPIDOffset() (int16, error) {
	var errs []error
	for _, events := range tracefsEvents {
		name := events + "/oom/mark_victim/format"
		b, err := os.ReadFile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := pidField.FindSubmatch(b)
		if m == nil {
			return 0, fmt.Errorf("%s: no int pid field", name)
		}
		off, err := strconv.ParseInt(string(m[1]), 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%s: pid offset %q: %w", name, m[1], err)
		}
		return int16(off), nil
	}
	return 0, fmt.Errorf("read the format of oom:mark_victim (is tracefs mounted?): %w", errors.Join(errs...))
}

// floorRecord is what the floor program writes: the victim's pid and the
// kill's CLOCK_BOOTTIME.
const floorRecordSize = 16

func runFloorReader(out io.Writer) error {
	pidOff, err := markVictimPIDOffset()
	if err != nil {
		return err
	}
	rd, closeAll, err := startFloorProgram(out, floorProgram{
		name: "floor_victim", group: "oom", tracepoint: "mark_victim", ringBytes: 64 << 10,
		instructions: func(events *ebpf.Map) asm.Instructions {
			return asm.Instructions{
				asm.Mov.Reg(asm.R6, asm.R1),
				asm.FnKtimeGetBootNs.Call(),
				asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
				asm.LoadMem(asm.R1, asm.R6, pidOff, asm.Word),
				asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
				asm.LoadMapPtr(asm.R1, events.FD()),
				asm.Mov.Reg(asm.R2, asm.RFP),
				asm.Add.Imm(asm.R2, -16),
				asm.Mov.Imm(asm.R3, floorRecordSize),
				asm.Mov.Imm(asm.R4, 0),
				asm.FnRingbufOutput.Call(),
				asm.Mov.Imm(asm.R0, 0),
				asm.Return(),
			}
		},
	})
	if err != nil {
		return err
	}
	defer closeAll()
	var rec ringbuf.Record
	line := make([]byte, 0, 64)
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) {
				return nil
			}
			return err
		}
		if len(rec.RawSample) < floorRecordSize {
			continue
		}
		pid := binary.NativeEndian.Uint64(rec.RawSample[0:])
		ktime := binary.NativeEndian.Uint64(rec.RawSample[8:])
		line = append(strconv.AppendUint(append(strconv.AppendUint(append(line[:0], "kill "...), pid, 10), ' '), ktime, 10), '\n')
		if _, err := out.Write(line); err != nil {
			return err
		}
	}
}

// floorReader is a running floor reader process; its sightings are kept
// as oomtrace's are.
type floorReader struct {
	p     *proc
	kills *killWatch
	ready chan struct{}
}

func startFloorReader() (*floorReader, error) {
	r := &floorReader{kills: newKillWatch(), ready: make(chan struct{})}
	var err error
	r.p, err = startSelf("floor reader", floorReaderEnv+"=1", r.onLine, r.ready)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// onLine reads the floor reader's "ready" and "kill PID KTIME" lines.
func (r *floorReader) onLine(line []byte, readNS uint64) {
	text := string(line)
	if text == "ready" {
		close(r.ready)
		return
	}
	fields := strings.Fields(text)
	if len(fields) != 3 || fields[0] != "kill" {
		r.kills.fail(fmt.Errorf("floor reader line %q", line))
		return
	}
	pid, err1 := strconv.Atoi(fields[1])
	ktime, err2 := strconv.ParseUint(fields[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		r.kills.fail(fmt.Errorf("floor reader line %q: %w", line, err))
		return
	}
	r.kills.record(pid, killSeen{KtimeNS: ktime, ReadNS: readNS})
}

func (r *floorReader) stop() error {
	r.p.stdin.Close()
	return r.p.stop()
}

// floorProgram is the kernel side of a floor: a program of a few
// instructions on a tracepoint that writes to a ring buffer of its own.
type floorProgram struct {
	name              string
	group, tracepoint string
	ringBytes         int
	instructions      func(events *ebpf.Map) asm.Instructions
}

// startFloorProgram loads and attaches p, says "ready" on out and returns
// the reader of p's ring buffer; closing this process's stdin (the harness
// does, or goes away) closes the reader. closeAll undoes it all.
func startFloorProgram(out io.Writer, p floorProgram) (rd *ringbuf.Reader, closeAll func(), err error) {
	var closers []io.Closer
	closeAll = func() {
		for _, c := range slices.Backward(closers) {
			c.Close()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	events, err := ebpf.NewMap(&ebpf.MapSpec{Name: p.name, Type: ebpf.RingBuf, MaxEntries: uint32(p.ringBytes)})
	if err != nil {
		return nil, nil, fmt.Errorf("create ring buffer: %w", err)
	}
	closers = append(closers, events)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: p.name, Type: ebpf.TracePoint, License: "GPL", Instructions: p.instructions(events)})
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", p.name, err)
	}
	closers = append(closers, prog)
	tp, err := link.Tracepoint(p.group, p.tracepoint, prog, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("attach to %s:%s: %w", p.group, p.tracepoint, err)
	}
	closers = append(closers, tp)
	if rd, err = ringbuf.NewReader(events); err != nil {
		return nil, nil, fmt.Errorf("open ring buffer: %w", err)
	}
	closers = append(closers, rd)
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return nil, nil, err
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		rd.Close()
	}()
	return rd, closeAll, nil
}
