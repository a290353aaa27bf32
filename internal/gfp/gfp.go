// Package gfp spells allocation flags (gfp masks) the way the running kernel
// spells them in its OOM report, "gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)":
// the part in parentheses is the kernel's %pGg, which this package reproduces.
//
// Two things vary between kernels and both change the spelling:
//
//   - The bit of each flag. Up to 6.9 the bits are fixed #defines, invisible
//     at run time; from 6.10 they are an anonymous enum of ___GFP_*_BIT
//     values whose numbering depends on the configuration (KASAN_HW_TAGS,
//     LOCKDEP and SLAB_OBJ_EXT each insert bits), and BTF carries it.
//   - The order of the kernel's name table. %pGg walks the table, prints
//     every entry whose bits are all still set and clears them, then prints
//     what is left as hex. The order therefore decides both which composite
//     name wins and the order of the single flags. Up to 6.14 the table is a
//     hand-ordered list; from 6.15 it lists the composites and then every
//     single flag in bit order. BTF does not show which table a kernel has.
package gfp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Order is the order of the kernel's table of flag names.
type Order uint8

const (
	// OrderListed is the hand-ordered table of kernels up to 6.14. It names
	// only the flags it lists: __GFP_NOLOCKDEP and __GFP_NO_OBJ_EXT print as
	// hex.
	OrderListed Order = iota
	// OrderByBit is the table of 6.15 and later: the composites, then every
	// single flag of the bit enum in bit order.
	OrderByBit
)

// The first kernel whose table is in OrderByBit (the change "tracing: gfp:
// Remove duplication of recording GFP flags").
const byBitMajor, byBitMinor = 6, 15

// flag is one entry of a name table, or one bit of a layout.
type flag struct {
	mask uint32
	name string
}

// Names spells the gfp masks of one kernel. The zero value knows no names
// and spells every mask in hex.
type Names struct {
	table []flag // in the kernel's order; never a zero mask
}

// Append appends the spelling of mask to dst, exactly as the kernel's %pGg
// prints it: names joined by "|", leftover bits as one hex number, and
// nothing at all for 0 (the kernel reports that as "gfp_mask=0x0()").
func (n *Names) Append(dst []byte, mask uint32) []byte {
	rest := mask
	if n != nil {
		for _, f := range n.table {
			if rest == 0 {
				break
			}
			if rest&f.mask != f.mask {
				continue
			}
			dst = append(dst, f.name...)
			rest &^= f.mask
			if rest != 0 {
				dst = append(dst, '|')
			}
		}
	}
	if rest != 0 {
		dst = append(dst, "0x"...)
		dst = strconv.AppendUint(dst, uint64(rest), 16)
	}
	return dst
}

// String returns the spelling of mask; see Append.
func (n *Names) String(mask uint32) string {
	// Long enough for any common mask, so the string is the only allocation.
	var buf [128]byte
	return string(n.Append(buf[:0], mask))
}

// layout is the bits of one kernel generation.
type layout struct {
	bits []flag // every bit that has a name, in bit order
	// nowaitNoWarn is set where GFP_NOWAIT includes __GFP_NOWARN, as on
	// every kernel with the bit enum.
	nowaitNoWarn bool
}

// mask returns the bits of the named flags. A flag the layout lacks counts
// as 0, as the kernel defines flags that its configuration leaves out.
func (l *layout) mask(names ...string) uint32 {
	var m uint32
	for _, b := range l.bits {
		if slices.Contains(names, b.name) {
			m |= b.mask
		}
	}
	return m
}

// composites defines the kernel's named combinations from the bits, in the
// order of the OrderByBit table.
func (l *layout) composites() []flag {
	reclaim := l.mask("__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM")
	kernel := reclaim | l.mask("__GFP_IO", "__GFP_FS")
	user := kernel | l.mask("__GFP_HARDWALL")
	highuser := user | l.mask("__GFP_HIGHMEM")
	// The KASAN bits exist only with CONFIG_KASAN_HW_TAGS (arm64 MTE).
	movable := highuser | l.mask("__GFP_MOVABLE", "__GFP_SKIP_KASAN",
		"__GFP_SKIP_KASAN_POISON", "__GFP_SKIP_KASAN_UNPOISON")
	light := (movable | l.mask("__GFP_COMP", "__GFP_NOMEMALLOC", "__GFP_NOWARN")) &^ reclaim
	nowait := l.mask("__GFP_KSWAPD_RECLAIM")
	if l.nowaitNoWarn {
		nowait |= l.mask("__GFP_NOWARN")
	}
	return []flag{
		{light | l.mask("__GFP_DIRECT_RECLAIM"), "GFP_TRANSHUGE"},
		{light, "GFP_TRANSHUGE_LIGHT"},
		{movable, "GFP_HIGHUSER_MOVABLE"},
		{highuser, "GFP_HIGHUSER"},
		{user, "GFP_USER"},
		{kernel | l.mask("__GFP_ACCOUNT"), "GFP_KERNEL_ACCOUNT"},
		{kernel, "GFP_KERNEL"},
		{reclaim | l.mask("__GFP_IO"), "GFP_NOFS"},
		// __GFP_ATOMIC exists up to 6.2 only.
		{l.mask("__GFP_HIGH", "__GFP_ATOMIC", "__GFP_KSWAPD_RECLAIM"), "GFP_ATOMIC"},
		{reclaim, "GFP_NOIO"},
		{nowait, "GFP_NOWAIT"},
		{l.mask("__GFP_DMA"), "GFP_DMA"},
		{l.mask("__GFP_DMA32"), "GFP_DMA32"},
		{reclaim, "__GFP_RECLAIM"},
	}
}

// listedOrder is the hand-ordered table of 5.10 to 6.14. Entries the layout
// lacks are left out, as the kernel leaves them out by configuration or
// never had them.
var listedOrder = []string{
	"GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE",
	"GFP_HIGHUSER", "GFP_USER", "GFP_KERNEL_ACCOUNT", "GFP_KERNEL",
	"GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT", "GFP_DMA",
	"__GFP_HIGHMEM", "GFP_DMA32", "__GFP_HIGH", "__GFP_ATOMIC", "__GFP_IO",
	"__GFP_FS", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL",
	"__GFP_NORETRY", "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC",
	"__GFP_MEMALLOC", "__GFP_HARDWALL", "__GFP_THISNODE",
	"__GFP_RECLAIMABLE", "__GFP_MOVABLE", "__GFP_ACCOUNT", "__GFP_WRITE",
	"__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM",
	"__GFP_ZEROTAGS", "__GFP_SKIP_ZERO", "__GFP_SKIP_KASAN",
	"__GFP_SKIP_KASAN_POISON", "__GFP_SKIP_KASAN_UNPOISON",
}

// names builds the kernel's name table for a layout.
func (l *layout) names(order Order) *Names {
	table := append(l.composites(), l.bits...)
	if order != OrderByBit {
		all := table
		table = make([]flag, 0, len(listedOrder))
		for _, name := range listedOrder {
			if i := slices.IndexFunc(all, func(f flag) bool { return f.name == name }); i >= 0 {
				table = append(table, all[i])
			}
		}
	}
	// A zero mask would match every value: the kernel compiles such
	// entries out, and so must the table.
	table = slices.DeleteFunc(table, func(f flag) bool { return f.mask == 0 })
	return &Names{table: table}
}

// legacyLayout is the fixed layout of kernels without the bit enum, as
// 6.1 defines it without CONFIG_KASAN_HW_TAGS and CONFIG_LOCKDEP.
var legacyLayout = layout{bits: []flag{
	{0x1, "__GFP_DMA"},
	{0x2, "__GFP_HIGHMEM"},
	{0x4, "__GFP_DMA32"},
	{0x8, "__GFP_MOVABLE"},
	{0x10, "__GFP_RECLAIMABLE"},
	{0x20, "__GFP_HIGH"},
	{0x40, "__GFP_IO"},
	{0x80, "__GFP_FS"},
	{0x100, "__GFP_ZERO"},
	{0x200, "__GFP_ATOMIC"},
	{0x400, "__GFP_DIRECT_RECLAIM"},
	{0x800, "__GFP_KSWAPD_RECLAIM"},
	{0x1000, "__GFP_WRITE"},
	{0x2000, "__GFP_NOWARN"},
	{0x4000, "__GFP_RETRY_MAYFAIL"},
	{0x8000, "__GFP_NOFAIL"},
	{0x10000, "__GFP_NORETRY"},
	{0x20000, "__GFP_MEMALLOC"},
	{0x40000, "__GFP_COMP"},
	{0x80000, "__GFP_NOMEMALLOC"},
	{0x100000, "__GFP_HARDWALL"},
	{0x200000, "__GFP_THISNODE"},
	{0x400000, "__GFP_ACCOUNT"},
	{0x800000, "__GFP_ZEROTAGS"},
}}

// Legacy returns the names of kernels whose gfp bits are fixed #defines
// (up to 6.9). It is exact for 5.10 to 6.2 on x86, with two exceptions that
// only debug or arm64 MTE kernels meet: 5.10 has no __GFP_ZEROTAGS (its
// 0x800000 is __GFP_NOLOCKDEP under CONFIG_LOCKDEP, printed as hex), and the
// KASAN_HW_TAGS bits of arm64 are not named. From 6.3 on, GFP_ATOMIC lost
// __GFP_ATOMIC and GFP_NOWAIT later gained __GFP_NOWARN, so on 6.3 to 6.9
// masks holding those two are spelled differently (0x820, GFP_ATOMIC there,
// is GFP_NOWAIT|__GFP_HIGH here).
func Legacy() *Names {
	return legacyLayout.names(OrderListed)
}

// enumPrefix and enumSuffix frame the flag name in the kernel's bit enum:
// ___GFP_IO_BIT is the bit of __GFP_IO.
const (
	enumPrefix = "___GFP_"
	enumSuffix = "_BIT"
)

// requiredBits are the flags every kernel with the bit enum has; an enum
// without one of them is not the one this package understands.
var requiredBits = []string{
	"DMA", "HIGHMEM", "DMA32", "MOVABLE", "RECLAIMABLE", "HIGH", "IO", "FS",
	"ZERO", "DIRECT_RECLAIM", "KSWAPD_RECLAIM", "WRITE", "NOWARN",
	"RETRY_MAYFAIL", "NOFAIL", "NORETRY", "MEMALLOC", "COMP", "NOMEMALLOC",
	"HARDWALL", "THISNODE", "ACCOUNT", "ZEROTAGS",
}

// FromBTF returns the names of the kernel that spec describes: its bits from
// the ___GFP_*_BIT enum, its table in the given order. A kernel without the
// enum has the fixed layout and the listed table: FromBTF returns Legacy and
// ignores order.
func FromBTF(spec *btf.Spec, order Order) (*Names, error) {
	enum, err := findBitEnum(spec)
	if err != nil {
		return nil, err
	}
	if enum == nil {
		return Legacy(), nil
	}
	l := layout{nowaitNoWarn: true}
	for _, v := range enum.Values {
		flagName, ok := strings.CutPrefix(v.Name, enumPrefix)
		if !ok {
			continue
		}
		flagName, ok = strings.CutSuffix(flagName, enumSuffix)
		// UNUSED marks a retired bit and LAST counts the bits: neither is
		// a flag.
		if !ok || flagName == "UNUSED" || flagName == "LAST" {
			continue
		}
		if v.Value >= 32 {
			return nil, fmt.Errorf("read gfp bit enum: %s is %d, beyond the 32 bits of gfp_t", v.Name, v.Value)
		}
		// The enum counts up, so its order is bit order, the order in
		// which OrderByBit lists the flags.
		l.bits = append(l.bits, flag{uint32(1) << v.Value, "__GFP_" + flagName})
	}
	for _, name := range requiredBits {
		if l.mask("__GFP_"+name) == 0 {
			return nil, fmt.Errorf("read gfp bit enum: no %s%s%s", enumPrefix, name, enumSuffix)
		}
	}
	return l.names(order), nil
}

// findBitEnum returns the anonymous enum that holds ___GFP_DMA_BIT, or nil
// when the kernel has none. The enum sits in one of the first headers
// compiled, so the walk usually stops within the first few hundred types;
// a kernel without it costs one walk over all of them (about 0.2 s).
func findBitEnum(spec *btf.Spec) (*btf.Enum, error) {
	for typ, err := range spec.All() {
		if err != nil {
			return nil, fmt.Errorf("find gfp bit enum in btf: %w", err)
		}
		enum, ok := typ.(*btf.Enum)
		if !ok {
			continue
		}
		for _, v := range enum.Values {
			if v.Name == enumPrefix+"DMA"+enumSuffix {
				return enum, nil
			}
		}
	}
	return nil, nil
}

// kernelBTF is the running kernel's BTF, where the kernel publishes it.
const kernelBTF = "/sys/kernel/btf/vmlinux"

// ForKernel returns the names of the running kernel: its bits from its BTF,
// decoded through types (shared with the tracer's loading of its programs),
// its table order from its release, since nothing else shows the order.
func ForKernel(types *btf.Cache) (*Names, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	order, err := orderForRelease(unix.ByteSliceToString(uts.Release[:]))
	if err != nil {
		return nil, err
	}
	// A kernel without the bit enum (before 6.10) would have every type of
	// its BTF decoded to find that out: a fifth of a second, several
	// seconds on an emulated CPU. The enum's value names are in the BTF's
	// string table when it is there, so a table without the first of them
	// settles it at the cost of reading the file.
	if mentions, err := fileMentionsBitEnum(kernelBTF); err == nil && !mentions {
		return Legacy(), nil
	}
	spec, err := types.Kernel()
	if err != nil {
		return nil, fmt.Errorf("load kernel btf: %w", err)
	}
	return FromBTF(spec, order)
}

// fileMentionsBitEnum is mentionsBitEnum of the BTF file at path. The file
// is mapped rather than read: sysfs hands out the kernel's BTF a page per
// read(2), over a thousand calls for its 5 MiB. Kernels that cannot map
// it have it read.
func fileMentionsBitEnum(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	if size := info.Size(); size > 0 {
		raw, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
		if err == nil {
			defer unix.Munmap(raw)
			return mentionsBitEnum(raw), nil
		}
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return false, err
	}
	return mentionsBitEnum(raw), nil
}

// mentionsBitEnum reports whether raw BTF has the name of the bit enum's
// first value among its strings (each NUL-terminated, after a NUL).
func mentionsBitEnum(raw []byte) bool {
	return bytes.Contains(raw, []byte("\x00"+enumPrefix+"DMA"+enumSuffix+"\x00"))
}

var errRelease = errors.New("want major.minor")

// orderForRelease returns the table order of a kernel release such as
// "6.18.44-generic".
func orderForRelease(release string) (Order, error) {
	majorText, rest, ok := strings.Cut(release, ".")
	minorText := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorText = rest[:i]
	}
	major, majorErr := strconv.Atoi(majorText)
	minor, minorErr := strconv.Atoi(minorText)
	if !ok || majorErr != nil || minorErr != nil {
		return 0, fmt.Errorf("parse kernel release %q: %w", release, errRelease)
	}
	if major > byBitMajor || major == byBitMajor && minor >= byBitMinor {
		return OrderByBit, nil
	}
	return OrderListed, nil
}
