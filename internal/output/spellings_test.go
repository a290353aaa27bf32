package output

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

// A Writer remembers the spelling of the masks it wrote; its lines must stay
// those AppendText and AppendJSON write without it, whatever order the masks
// come in, for masks that share a slot, and for spellings that need quotes
// or escapes.
func TestWriterSpellsMasksAsAppendDoes(t *testing.T) {
	names := func(dst []byte, mask uint32) []byte {
		switch {
		case mask%3 == 0:
			return fmt.Appendf(dst, "GFP_%d|__GFP_COMP", mask)
		case mask%3 == 1:
			return fmt.Appendf(dst, "odd \"flags\" %d", mask) // quoted in text, escaped in JSON
		}
		return fmt.Appendf(dst, "caf\u00e9_%d", mask) // not plain ASCII
	}
	var masks []uint32
	for round := range 3 {
		for m := range uint32(4 * spellingSlots) {
			masks = append(masks, m*0x40+uint32(round%2))
		}
	}
	for _, format := range []Format{Text, JSON} {
		var got bytes.Buffer
		opts := Options{Format: format, GFPNames: names}
		w := NewWriter(&got, opts)
		var want []byte
		for _, mask := range masks {
			ev := reclaimWithMask(mask)
			if err := w.Write(&ev); err != nil {
				t.Fatal(err)
			}
			if format == Text {
				want = AppendText(want, &ev, opts)
			} else {
				want = AppendJSON(want, &ev, opts)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%v: the writer's lines differ from the append functions':\n%s\nwant\n%s", format, got.Bytes(), want)
		}
	}
}

// A mask written again while its spelling is remembered is not spelled
// again.
func TestWriterRemembersSpellings(t *testing.T) {
	calls := 0
	names := func(dst []byte, _ uint32) []byte {
		calls++
		return append(dst, "GFP_KERNEL"...)
	}
	w := NewWriter(&bytes.Buffer{}, Options{GFPNames: names})
	for range 100 {
		ev := reclaimWithMask(0xcc0)
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	// Once for the text value and once for the JSON one.
	if calls != 2 {
		t.Errorf("100 lines of one mask spelled it %d times, want 2", calls)
	}
}

func reclaimWithMask(mask uint32) event.Event {
	return event.Event{Kind: event.KindReclaim, KtimeNS: 1, Task: event.Task{PID: 1, TGID: 1, Comm: "w"},
		Reclaim: event.Reclaim{Kind: event.ReclaimMemcg, GFPMask: mask}}
}
