// Package ksym resolves kernel text addresses, such as those of a stack
// taken by bpf_get_stack, to function names from /proc/kallsyms.
package ksym

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
)

// ErrRestricted is returned when kallsyms hides every address, as it does
// for readers without CAP_SYSLOG or whenever kernel.kptr_restrict is 2.
var ErrRestricted = errors.New("kallsyms shows only zero addresses: run as root, or lower kernel.kptr_restrict (sysctl kernel.kptr_restrict=0)")

// maxLine bounds a kallsyms line: the kernel caps names at 512 bytes
// (KSYM_NAME_LEN) and module names at 56.
const maxLine = 1024

// symbol is one function. Its name is Table.name(symbol): the names live
// in a few large strings rather than one each, which saves a string header
// and an allocation per symbol.
type symbol struct {
	addr       uint64
	start, end uint32 // the name's place in the chunks of names laid end to end
}

// Table maps kernel text addresses to function names.
type Table struct {
	symbols []symbol // sorted by address, one per address
	// names are chunks of nameChunkBytes, each name within one, written
	// once. One string grown line by line as kallsyms is read would be
	// copied over and over, five times the names' size in all (and the
	// symbols' slice as much), at start-up beside the BPF objects' load:
	// the tracer's peak RSS.
	names []string
}

// nameChunkBytes is the size of a chunk of names, far more than one name
// (maxLine) and a small part of a kernel's names (about 1.4 MB).
const nameChunkBytes = 64 << 10

// name returns the name of s.
func (t *Table) name(s symbol) string {
	off := s.start % nameChunkBytes
	return t.names[s.start/nameChunkBytes][off : off+s.end-s.start]
}

// nameChunks collects names into chunks of nameChunkBytes.
type nameChunks struct {
	full []string
	cur  strings.Builder // nameChunkBytes of capacity once used
}

// add stores name, at most maxLine bytes, and returns where it lies.
func (c *nameChunks) add(name []byte) (start, end uint32, err error) {
	if c.cur.Len()+len(name) > nameChunkBytes {
		// A Builder hands out its bytes without a copy and never
		// rewrites them: the chunk stays valid.
		c.full = append(c.full, c.cur.String())
		c.cur = strings.Builder{}
	}
	if c.cur.Cap() == 0 {
		c.cur.Grow(nameChunkBytes)
	}
	at := uint64(len(c.full))*nameChunkBytes + uint64(c.cur.Len())
	if at+uint64(len(name)) > math.MaxUint32 {
		return 0, 0, errors.New("more than 4 GiB of names")
	}
	c.cur.Write(name)
	return uint32(at), uint32(at) + uint32(len(name)), nil
}

// chunks returns every chunk, the last one partly filled.
func (c *nameChunks) chunks() []string { return append(c.full, c.cur.String()) }

// symbolBlock is how many symbols Parse collects in a block before it
// starts another: blocks copied once into a slice of the exact length,
// where growing one slice as kallsyms is read would copy it many times.
const symbolBlock = 4096

// kallsymsPath is where the kernel lists its symbols.
const kallsymsPath = "/proc/kallsyms"

// Load reads /proc/kallsyms.
func Load() (*Table, error) {
	f, err := os.Open(kallsymsPath)
	if err != nil {
		return nil, fmt.Errorf("load kernel symbols: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("load kernel symbols from %s: %w", f.Name(), err)
	}
	return t, nil
}

// Parse reads the kallsyms format: "ffffffff81597310 t oom_kill_process",
// followed by "\t[module]" for module symbols. It keeps the text symbols
// (types t and w, either case) except the __pfx_ and __cfi_ stubs that
// kernels since 6.2 place just before each function: an address in such a
// stub belongs to the function before it, whose last call returns there.
func Parse(r io.Reader) (*Table, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		names   nameChunks
		blocks  [][]symbol
		block   []symbol
		lineNo  int
		nonZero bool
	)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine {
			return nil, fmt.Errorf("kallsyms line %d: longer than %d bytes", lineNo+1, maxLine)
		}
		if len(line) > 0 {
			lineNo++
			addr, kind, name, ok := parseLine(line)
			if !ok {
				return nil, fmt.Errorf("kallsyms line %d: want \"address type name\", got %q", lineNo, bytes.TrimSpace(line))
			}
			nonZero = nonZero || addr != 0
			if addr != 0 && isText(kind) && !isStub(name) {
				start, end, addErr := names.add(name)
				if addErr != nil {
					return nil, fmt.Errorf("kallsyms line %d: %w", lineNo, addErr)
				}
				if len(block) == cap(block) {
					if block != nil {
						blocks = append(blocks, block)
					}
					block = make([]symbol, 0, symbolBlock)
				}
				block = append(block, symbol{addr, start, end})
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read kallsyms line %d: %w", lineNo+1, err)
		}
	}
	if lineNo > 0 && !nonZero {
		return nil, ErrRestricted
	}
	if block == nil {
		return nil, errors.New("kallsyms has no text symbols")
	}
	t := Table{symbols: make([]symbol, 0, len(blocks)*symbolBlock+len(block)), names: names.chunks()}
	for _, b := range append(blocks, block) {
		t.symbols = append(t.symbols, b...)
	}
	// Module symbols follow load order, not address order. Several names
	// can share an address (_stext and _text); the first listed wins.
	slices.SortStableFunc(t.symbols, func(a, b symbol) int { return cmp.Compare(a.addr, b.addr) })
	t.symbols = slices.CompactFunc(t.symbols, func(a, b symbol) bool { return a.addr == b.addr })
	return &t, nil
}

// parseLine splits "addr type name[\t[module]]\n".
func parseLine(line []byte) (addr uint64, kind byte, name []byte, ok bool) {
	line = bytes.TrimRight(line, "\n")
	hex, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(hex) == 0 || len(hex) > 16 || len(rest) < 3 || rest[1] != ' ' {
		return 0, 0, nil, false
	}
	for _, c := range hex {
		var digit byte
		switch {
		case '0' <= c && c <= '9':
			digit = c - '0'
		case 'a' <= c && c <= 'f':
			digit = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			digit = c - 'A' + 10
		default:
			return 0, 0, nil, false
		}
		addr = addr<<4 | uint64(digit)
	}
	name, _, _ = bytes.Cut(rest[2:], []byte{'\t'})
	if len(name) == 0 {
		return 0, 0, nil, false
	}
	return addr, rest[0], name, true
}

func isText(kind byte) bool {
	switch kind {
	case 't', 'T', 'w', 'W':
		return true
	}
	return false
}

func isStub(name []byte) bool {
	return bytes.HasPrefix(name, []byte("__pfx_")) || bytes.HasPrefix(name, []byte("__cfi_"))
}

// Background is a Table loaded in a goroutine of its own, for a tracer that
// should not wait for the whole of kallsyms (a hundred thousand lines, tens
// to hundreds of milliseconds to read) before it attaches: only the first
// stack to name waits, and only until the load is done.
type Background struct {
	done chan struct{}
	// loaded is set once table and err are, before done is closed: a
	// stack's every frame is looked up, and a receive from even a closed
	// channel takes the channel's lock, which cost as much as the lookup.
	loaded atomic.Bool
	table  *Table
	err    error
}

// LoadInBackground checks that /proc/kallsyms shows real addresses, reading
// up to the first symbol not at zero (or the first function at zero: hidden
// addresses), and reads the rest in a goroutine of its own. Where kallsyms lists data symbols (CONFIG_KALLSYMS_ALL), x86-64
// lists its per-CPU variables first, at their offsets from zero: the first
// line alone cannot tell them from hidden addresses.
func LoadInBackground() (*Background, error) { return loadInBackground(kallsymsPath) }

func loadInBackground(name string) (*Background, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("load kernel symbols: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var head []byte
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return nil, fmt.Errorf("load kernel symbols from %s: line %d: %w", name, lineNo, err)
		}
		if len(line) == 0 {
			f.Close()
			return nil, fmt.Errorf("load kernel symbols from %s: no symbols", name)
		}
		addr, kind, _, ok := parseLine(line)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("load kernel symbols from %s: line %d: want \"address type name\", got %q", name, lineNo, bytes.TrimSpace(line))
		}
		head = append(head, line...)
		if addr != 0 {
			break
		}
		if isText(kind) || errors.Is(err, io.EOF) { // no function is at zero
			f.Close()
			return nil, fmt.Errorf("load kernel symbols from %s: %w", name, ErrRestricted)
		}
	}
	b := &Background{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		defer f.Close()
		if b.table, b.err = Parse(io.MultiReader(bytes.NewReader(head), br)); b.err != nil {
			b.err = fmt.Errorf("load kernel symbols from %s: %w", name, b.err)
		}
		b.loaded.Store(true)
	}()
	return b, nil
}

// LookupStack is Table.LookupStack, once the table is loaded; without a
// table (the load failed: see Err) no frame is named.
func (b *Background) LookupStack(stack []uint64, names []string) (named int) {
	b.wait()
	if b.table == nil {
		clear(names[:len(stack)])
		return 0
	}
	return b.table.LookupStack(stack, names)
}

// Err waits for the load to end and returns its error.
func (b *Background) Err() error {
	b.wait()
	return b.err
}

// wait returns once the load has ended.
func (b *Background) wait() {
	if !b.loaded.Load() {
		<-b.done
	}
}

// Lookup returns the function that contains addr: the nearest symbol at or
// below it. kallsyms lists no sizes, so an address past the end of the last
// function of a region still resolves to that function; return addresses,
// which is what stacks hold, always lie inside one.
func (t *Table) Lookup(addr uint64) (name string, ok bool) {
	i := sort.Search(len(t.symbols), func(i int) bool { return t.symbols[i].addr > addr })
	if i == 0 {
		return "", false
	}
	return t.name(t.symbols[i-1]), true
}

// LookupStack names the frames of a kernel stack, innermost first, as
// bpf_get_stack takes it: names[i] becomes the function of stack[i], or ""
// where none is found. names must be at least as long as stack. It returns
// how many frames it named.
//
// The outer frames are return addresses. A frame's call is the byte before
// its return address, which stays in the caller even when the call never
// returns and the return address is the next function's first byte.
func (t *Table) LookupStack(stack []uint64, names []string) (named int) {
	names = names[:len(stack)]
	for i, addr := range stack {
		if i > 0 {
			addr--
		}
		var ok bool
		if names[i], ok = t.Lookup(addr); ok {
			named++
		}
	}
	return named
}
