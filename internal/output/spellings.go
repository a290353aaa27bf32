package output

// spellings remembers the names of the flags of the last gfp masks a Writer
// wrote, as each format writes them: a storm's reclaim lines carry the same
// few masks, and spelling one walks the kernel's table of flags and then
// checks every byte of the result. The slots are found by the mask's hash;
// a mask that takes another's slot is spelled again.
type spellings struct {
	slots [spellingSlots]spelling
}

const (
	spellingSlotBits = 4
	spellingSlots    = 1 << spellingSlotBits
)

type spelling struct {
	mask       uint32
	filled     bool
	text, json []byte // the value, quoted or escaped as needed
}

// of returns mask's spelling by names, spelled now if its slot holds
// another mask. It is valid until the next call.
func (s *spellings) of(mask uint32, names func([]byte, uint32) []byte) *spelling {
	slot := &s.slots[mask*0x9e3779b9>>(32-spellingSlotBits)]
	if !slot.filled || slot.mask != mask {
		slot.mask, slot.filled = mask, true
		slot.text = appendGFPText(slot.text[:0], mask, names)
		slot.json = appendGFPJSON(slot.json[:0], mask, names)
	}
	return slot
}
