package tracer

import (
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"
)

// ringTracer is a Tracer around a ring buffer of its own, with a program
// that submits one record to it per run: flags 0 wakes the reader,
// BPF_RB_NO_WAKEUP (1) does not.
func ringTracer(t *testing.T) (*Tracer, func(flags int64)) {
	t.Helper()
	requireBPF(t)
	events, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 4096})
	if err != nil {
		t.Fatal(err)
	}
	progs := map[int64]*ebpf.Program{}
	for _, flags := range []int64{0, 1} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:    ebpf.XDP,
			License: "GPL",
			Instructions: asm.Instructions{
				asm.Mov.Imm(asm.R1, 42),
				asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
				asm.LoadMapPtr(asm.R1, events.FD()),
				asm.Mov.Reg(asm.R2, asm.RFP),
				asm.Add.Imm(asm.R2, -8),
				asm.Mov.Imm(asm.R3, 8),
				asm.Mov.Imm(asm.R4, int32(flags)),
				asm.FnRingbufOutput.Call(),
				asm.Mov.Imm(asm.R0, 2), // XDP_PASS
				asm.Return(),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		progs[flags] = p
	}
	tr := &Tracer{base: &ebpf.Collection{Maps: map[string]*ebpf.Map{"events": events}}}
	if err := tr.openReader(); err != nil {
		t.Fatal(err)
	}
	if tr.ringWait, err = newRingWait(events.FD()); err != nil {
		t.Fatalf("the runtime cannot poll a ring buffer: %v", err)
	}
	t.Cleanup(func() {
		tr.Close()
		for _, p := range progs {
			p.Close()
		}
	})
	submit := func(flags int64) {
		t.Helper()
		if _, err := progs[flags].Run(&ebpf.RunOptions{Data: make([]byte, 64)}); err != nil {
			t.Fatal(err)
		}
	}
	return tr, submit
}

// readAsync runs tr.Read(true) and hands over what it returned.
func readAsync(tr *Tracer) <-chan error {
	done := make(chan error, 1)
	go func() {
		rec, err := tr.Read(true)
		if err == nil && len(rec) != 8 {
			err = errors.New("record of the wrong size")
		}
		done <- err
	}()
	return done
}

func waitRead(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Read still waits 5 s after %s", what)
		return nil
	}
}

// A waiting Read parks in the runtime's poller and wakes for a record, for
// a record submitted without a wakeup once it looks again, also after a
// look that found none, for Flush and for Close.
func TestReadWaitsInThePoller(t *testing.T) {
	tr, submit := ringTracer(t)
	if _, err := tr.Read(false); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("Read(false) of an empty ring buffer: %v", err)
	}

	done := readAsync(tr)
	time.Sleep(50 * time.Millisecond) // parked by now
	submit(0)
	if err := waitRead(t, done, "a record that wakes the reader"); err != nil {
		t.Fatal(err)
	}

	// Within WakeupWindow of that record, one without a wakeup is found
	// when the wait looks again.
	done = readAsync(tr)
	submit(1)
	if err := waitRead(t, done, "a record without a wakeup"); err != nil {
		t.Fatal(err)
	}

	// The kernel side holds back wakeups for all of WakeupWindow: a record
	// submitted after the first look found nothing is found by the last.
	done = readAsync(tr)
	time.Sleep(LookInterval + LookInterval/2)
	submit(1)
	if err := waitRead(t, done, "a record without a wakeup, after a look that found none"); err != nil {
		t.Fatal(err)
	}

	// Past the last look, the wait has no deadline until Flush.
	done = readAsync(tr)
	time.Sleep(2 * WakeupWindow)
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := waitRead(t, done, "Flush"); !errors.Is(err, ringbuf.ErrFlushed) {
		t.Fatalf("Read after Flush: %v, want ErrFlushed", err)
	}
}

func TestReadEndsAtClose(t *testing.T) {
	tr, _ := ringTracer(t)
	done := readAsync(tr)
	time.Sleep(50 * time.Millisecond)
	tr.Close()
	if err := waitRead(t, done, "Close"); !errors.Is(err, ringbuf.ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
}

// fakeVariable is a BPF global in memory of its own.
type fakeVariable struct{ value uint64 }

func (v *fakeVariable) Get(out any) error { *out.(*uint64) = v.value; return nil }
func (v *fakeVariable) Set(in any) error  { v.value = in.(uint64); return nil }

// holdWakeups writes the time of the record read, less lookMargin, and
// never lowers a later time the kernel side wrote.
func TestHoldWakeups(t *testing.T) {
	look := &fakeVariable{}
	tr := &Tracer{readerLook: look}
	record := func(ktime uint64) []byte {
		return rawBytes(&oomtraceReclaimEvent{Hdr: oomtraceEventHeader{KtimeNs: ktime}})
	}
	const second = uint64(time.Second)
	tr.holdWakeups(record(5 * second))
	if want := 5*second - uint64(lookMargin); look.value != want {
		t.Errorf("after a record at 5 s: %d, want %d", look.value, want)
	}
	look.value = 7 * second // a wakeup of the kernel's since
	tr.holdWakeups(record(6 * second))
	if look.value != 7*second {
		t.Errorf("a later wakeup lowered to %d", look.value)
	}
	look.value = 0
	tr.holdWakeups(record(uint64(lookMargin) / 2))
	tr.holdWakeups(record(5 * second)[:8])
	if look.value != 0 {
		t.Errorf("a record before lookMargin after boot, or a short one, wrote %d", look.value)
	}
}
