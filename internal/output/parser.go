package output

import (
	"hash/maphash"
)

// Parser parses event lines of either format into an Event the caller
// reuses. A log repeats the same comms, cgroup paths and names line after
// line: a Parser from NewParser keeps the strings it made and hands out the
// same string for the same bytes again, so that reading a long log
// allocates little beyond its first lines. It is not safe for concurrent
// use. The zero Parser makes every string anew.
type Parser struct {
	strings *stringTable
	seen    []bool   // which of the kind's keys the line had
	members []member // the top-level members of a JSON line
	inner   []member // the members of one of its objects
}

// NewParser returns a Parser that keeps the strings it reads.
func NewParser() *Parser {
	return &Parser{strings: &stringTable{seed: maphash.MakeSeed()}}
}

// seenFor returns p.seen cleared for n keys.
func (p *Parser) seenFor(n int) []bool {
	if cap(p.seen) < n {
		p.seen = make([]bool, n)
	}
	p.seen = p.seen[:n]
	clear(p.seen)
	return p.seen
}

const (
	// stringSlots bounds the strings a table keeps: many more than the
	// distinct names of a busy host's log, few enough to stay small.
	stringSlots = 1024
	// maxKeptString is the longest string a table keeps, so that it holds
	// at most a few MiB whatever a log holds.
	maxKeptString = 4096
)

// stringTable hands out the same string for the same bytes. The bytes'
// hash picks a set of stringWays slots, which keeps the last strings that
// hashed to it, newest first, so a host with more names than slots costs
// allocations, not memory. With one slot per hash, two names of the same
// line that hashed alike (one line in a hundred, with a random seed) pushed
// each other out on every line; a set keeps up to stringWays such names.
// A nil table makes every string anew.
type stringTable struct {
	seed  maphash.Seed
	slots [stringSlots]string
	buf   []byte // for unescaping, see scratch
}

// stringWays is how many slots a set has.
const stringWays = 4

// get returns the string of b.
func (t *stringTable) get(b []byte) string {
	if t == nil || len(b) > maxKeptString {
		return string(b)
	}
	first := maphash.Bytes(t.seed, b) % (stringSlots / stringWays) * stringWays
	set := (*[stringWays]string)(t.slots[first : first+stringWays])
	for _, s := range set {
		if s == string(b) { // no allocation: the compiler compares in place
			return s
		}
	}
	copy(set[1:], set[:stringWays-1])
	set[0] = string(b)
	return set[0]
}

// scratch returns an empty buffer with room for n bytes, valid until the
// next call: the table's own, or a new one from a nil table.
func (t *stringTable) scratch(n int) []byte {
	if t == nil {
		return make([]byte, 0, n)
	}
	if cap(t.buf) < n {
		t.buf = make([]byte, 0, n)
	}
	return t.buf[:0]
}
