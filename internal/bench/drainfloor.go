package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/tracer"
)

// The drain floor is the least any ring-buffer tracer does with a backlog
// of reclaim records: a program of a few instructions on
// vmscan:mm_vmscan_memcg_reclaim_end puts a record of the size of
// oomtrace's reclaim record in a ring buffer of the size of oomtrace's,
// and a process reads them and writes one line per record, as long as
// oomtrace's reclaim lines, in batches of oomtrace's size, through the
// same pipe, its buffer grown as oomtrace grows it, to the same line
// counting in the harness. Stalled and resumed
// as oomtrace is, its CPU per line and its drain rate are what the ring
// buffer, the wakeups, the pipe and the harness cost any reader here. It is
// this binary run again with drainFloorEnv set to the length of a line and
// the ring buffer's size, in bytes: "348 33554432".
const drainFloorEnv = "OOMBENCH_DRAIN_FLOOR"

// DrainFloorMain runs the drain floor and exits when this process was
// started as one; otherwise it returns at once.
func DrainFloorMain() {
	value, ok := os.LookupEnv(drainFloorEnv)
	if !ok {
		return
	}
	var lineBytes, ringBytes int
	_, err := fmt.Sscanf(value, "%d %d", &lineBytes, &ringBytes)
	switch {
	case err != nil:
		err = fmt.Errorf("%s=%q: want a line's length and the ring buffer's size: %w", drainFloorEnv, value, err)
	case lineBytes < len(drainFloorPrefix)+21:
		err = fmt.Errorf("line of %d bytes: too short for a record's time", lineBytes)
	default:
		err = tracer.CheckRingBufferBytes(ringBytes)
	}
	if err == nil {
		err = runDrainFloor(os.Stdout, lineBytes, ringBytes)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "drain floor: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// drainFloorPrefix starts each of the drain floor's record lines.
const drainFloorPrefix = "reclaim "

func runDrainFloor(out io.Writer, lineBytes, ringBytes int) error {
	rd, closeAll, err := startFloorProgram(out, floorProgram{
		name: "floor_reclaim", group: "vmscan", tracepoint: "mm_vmscan_memcg_reclaim_end", ringBytes: ringBytes,
		instructions: func(events *ebpf.Map) asm.Instructions {
			return asm.Instructions{
				asm.LoadMapPtr(asm.R1, events.FD()),
				asm.Mov.Imm(asm.R2, int32(tracer.ReclaimRecordBytes)),
				asm.Mov.Imm(asm.R3, 0),
				asm.FnRingbufReserve.Call(),
				asm.JEq.Imm(asm.R0, 0, "out"),
				asm.Mov.Reg(asm.R6, asm.R0),
				asm.FnKtimeGetBootNs.Call(),
				asm.StoreMem(asm.R6, 0, asm.R0, asm.DWord),
				asm.Mov.Reg(asm.R1, asm.R6),
				asm.Mov.Imm(asm.R2, 0),
				asm.FnRingbufSubmit.Call(),
				asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
				asm.Return(),
			}
		},
	})
	if err != nil {
		return err
	}
	defer closeAll()
	// As oomtrace's writer does: a pipe's buffer grown to hold many
	// batches, so that the floor does not wait on the harness's reading
	// after each.
	if _, err := output.GrowPipe(out); err != nil {
		return err
	}
	var rec ringbuf.Record
	batch := make([]byte, 0, output.BufferSize)
	padding := bytes.Repeat([]byte{' '}, lineBytes)
	for {
		// As oomtrace does: the batch goes out when it is full or when
		// the ring buffer is empty.
		if len(batch) > 0 && (rd.AvailableBytes() == 0 || len(batch)+lineBytes > cap(batch)) {
			if _, err := out.Write(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) {
				return nil
			}
			return err
		}
		if len(rec.RawSample) < 8 {
			continue
		}
		batch = appendFloorLine(batch, binary.NativeEndian.Uint64(rec.RawSample), padding)
	}
}

// appendFloorLine appends the drain floor's line for a record stamped
// stampNS: as long as padding, newline included, unless the stamp makes it
// longer. The padding is one copy, as oomtrace appends its keys and
// values, not a byte at a time, which would add a loop of its own to the
// floor.
func appendFloorLine(batch []byte, stampNS uint64, padding []byte) []byte {
	start := len(batch)
	batch = strconv.AppendUint(append(batch, drainFloorPrefix...), stampNS, 10)
	if short := len(padding) - 1 - (len(batch) - start); short > 0 {
		batch = append(batch, padding[:short]...)
	}
	return append(batch, '\n')
}

// drainFloorTrial is the drain floor stalled and resumed as oomtrace is in
// stallTrial.
type drainFloorTrial struct {
	lineBytes int
	lines     uint64        // record lines read after SIGCONT
	drain     time.Duration // from SIGCONT to the last of them
	cpu       time.Duration // the reader's CPU from SIGCONT until its output went quiet
	idleCPU   time.Duration // over the same window after a stall with nothing to drain
}

// cpuPerLine is the drain floor's CPU per line it wrote after SIGCONT.
func (d *drainFloorTrial) cpuPerLine() float64 {
	if d == nil {
		return nan
	}
	return cpuPerLine(d.cpu, 0, d.lines)
}

// marginalCPUPerLine is cpuPerLine less what the stall itself cost the
// drain floor (see idleResume).
func (d *drainFloorTrial) marginalCPUPerLine() float64 {
	if d == nil || d.idleCPU == 0 {
		return nan
	}
	return cpuPerLine(d.cpu, d.idleCPU, d.lines)
}

// rate is how fast the drain floor emptied its ring buffer.
func (d *drainFloorTrial) rate() float64 {
	if d == nil || d.drain <= 0 {
		return nan
	}
	return float64(d.lines) / d.drain.Seconds()
}

// drainFloorWatch counts the drain floor's lines from a moment on.
type drainFloorWatch struct {
	ready chan struct{}
	mu    sync.Mutex
	since uint64 // CLOCK_BOOTTIME; lines read before it are not counted
	lines uint64
	last  uint64 // when the last counted line was read
}

func (w *drainFloorWatch) onLine(line []byte, readNS uint64) {
	if string(line) == "ready" {
		close(w.ready)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since != 0 && readNS >= w.since && len(line) > len(drainFloorPrefix) && string(line[:len(drainFloorPrefix)]) == drainFloorPrefix {
		w.lines++
		w.last = readNS
	}
}

func (w *drainFloorWatch) countFrom(ns uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.since, w.lines, w.last = ns, 0, 0
}

func (w *drainFloorWatch) counts() (lines, last uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines, w.last
}

func (b *bencher) drainFloorTrial(st *storm, n, lineBytes, ringBytes int) (*drainFloorTrial, error) {
	w := &drainFloorWatch{ready: make(chan struct{})}
	p, err := startSelf("drain floor", fmt.Sprintf("%s=%d %d", drainFloorEnv, lineBytes, ringBytes), w.onLine, w.ready)
	if err != nil {
		return nil, err
	}
	defer func() {
		syscall.Kill(p.pid(), syscall.SIGCONT)
		p.stdin.Close()
		p.stop()
	}()
	if err := settle(p.pid()); err != nil {
		return nil, err
	}
	stalled, err := stallReader(st, n, p.pid(), "the drain floor", func(_, contNS uint64) { w.countFrom(contNS) },
		func() uint64 { _, last := w.counts(); return last })
	if err != nil {
		return nil, err
	}
	lines, last := w.counts()
	if lines == 0 {
		return nil, errors.New("the drain floor wrote no line after SIGCONT")
	}
	idle, err := idleResume(p.pid(), "the drain floor", time.Duration(stalled.contNS-stalled.stopNS), stalled.window)
	if err != nil {
		return nil, err
	}
	return &drainFloorTrial{lineBytes: lineBytes, lines: lines, drain: time.Duration(last - stalled.contNS), cpu: stalled.drainCPU, idleCPU: idle}, nil
}
