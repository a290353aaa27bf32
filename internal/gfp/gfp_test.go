package gfp

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// enumKernel618 is the ___GFP_*_BIT enum of the development machine's 6.18
// kernel (x86_64, SLAB_OBJ_EXT, no LOCKDEP, no KASAN_HW_TAGS), as its BTF
// has it. Debian's 6.12 has the same configuration and so the same enum.
var enumKernel618 = []string{
	"DMA", "HIGHMEM", "DMA32", "MOVABLE", "RECLAIMABLE", "HIGH", "IO", "FS",
	"ZERO", "UNUSED", "DIRECT_RECLAIM", "KSWAPD_RECLAIM", "WRITE", "NOWARN",
	"RETRY_MAYFAIL", "NOFAIL", "NORETRY", "MEMALLOC", "COMP", "NOMEMALLOC",
	"HARDWALL", "THISNODE", "ACCOUNT", "ZEROTAGS", "NO_OBJ_EXT", "LAST",
}

// bitEnumSpec returns a BTF spec holding an int, an unrelated enum and the
// anonymous gfp bit enum with the given flags numbered from 0.
func bitEnumSpec(t *testing.T, flags []string) *btf.Spec {
	t.Helper()
	enum := &btf.Enum{Size: 4}
	for i, name := range flags {
		enum.Values = append(enum.Values, btf.EnumValue{Name: enumPrefix + name + enumSuffix, Value: uint64(i)})
	}
	return specOf(t, enum)
}

func specOf(t *testing.T, types ...btf.Type) *btf.Spec {
	t.Helper()
	types = append([]btf.Type{
		&btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		&btf.Enum{Name: "oom_constraint", Size: 4, Values: []btf.EnumValue{{Name: "CONSTRAINT_NONE"}}},
	}, types...)
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := b.Spec()
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func fromBTF(t *testing.T, flags []string, order Order) *Names {
	t.Helper()
	names, err := FromBTF(bitEnumSpec(t, flags), order)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// namesFor returns the names of the kernels the fixtures come from.
func namesFor(t *testing.T, kernel string) *Names {
	t.Helper()
	switch kernel {
	case "5.10", "6.1":
		return Legacy()
	case "6.12":
		return fromBTF(t, enumKernel618, OrderListed)
	case "6.18":
		return fromBTF(t, enumKernel618, OrderByBit)
	}
	t.Fatalf("no names for kernel %q", kernel)
	return nil
}

// fixtureLines returns the lines of a testdata/gfp file without comments.
func fixtureLines(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "gfp", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// kernelTable reads testdata/gfp/table-<kernel>.txt, the kernel's own table.
func kernelTable(t *testing.T, kernel string) []flag {
	t.Helper()
	var table []flag
	for _, line := range fixtureLines(t, "table-"+kernel+".txt") {
		name, maskText, ok := strings.Cut(line, " ")
		mask, err := strconv.ParseUint(maskText, 0, 32)
		if !ok || err != nil {
			t.Fatalf("bad table line %q", line)
		}
		table = append(table, flag{uint32(mask), name})
	}
	return table
}

func formatTable(table []flag) string {
	var b strings.Builder
	for _, f := range table {
		fmt.Fprintf(&b, "%s %#x\n", f.name, f.mask)
	}
	return b.String()
}

// TestTablesMatchKernels holds every table against the kernel's own, which
// decides both the names and the order in which they are tried.
func TestTablesMatchKernels(t *testing.T) {
	for _, kernel := range []string{"6.1", "6.12", "6.18"} {
		t.Run(kernel, func(t *testing.T) {
			got, want := formatTable(namesFor(t, kernel).table), formatTable(kernelTable(t, kernel))
			if got != want {
				t.Errorf("table differs from the kernel's\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestLegacyOn510 pins the one documented difference between the legacy
// table and 5.10's: 5.10 had no __GFP_ZEROTAGS.
func TestLegacyOn510(t *testing.T) {
	want := append(kernelTable(t, "5.10"), flag{0x800000, "__GFP_ZEROTAGS"})
	if got := Legacy().table; !slices.Equal(got, want) {
		t.Errorf("legacy table is not 5.10's plus __GFP_ZEROTAGS\ngot:\n%s\nwant:\n%s", formatTable(got), formatTable(want))
	}
}

func TestSpelling(t *testing.T) {
	for _, line := range fixtureLines(t, "masks.txt") {
		kernel, report, _ := strings.Cut(line, " gfp_mask=")
		maskText, spelling, ok := strings.Cut(strings.TrimSuffix(report, ")"), "(")
		mask, err := strconv.ParseUint(maskText, 0, 32)
		if !ok || err != nil {
			t.Fatalf("bad case %q", line)
		}
		names := namesFor(t, kernel)
		if got := names.String(uint32(mask)); got != spelling {
			t.Errorf("%s: String(%#x) = %q, want %q", kernel, mask, got, spelling)
		}
		// The report's own layout, as an output writer would build it.
		if got := fmt.Sprintf("gfp_mask=%#x(%s)", mask, names.Append(nil, uint32(mask))); got != "gfp_mask="+report {
			t.Errorf("%s: report %q, want %q", kernel, got, "gfp_mask="+report)
		}
	}
}

// TestOptionalBits covers a configuration with every optional bit (arm64
// with KASAN_HW_TAGS and LOCKDEP), which shifts the later bits up.
func TestOptionalBits(t *testing.T) {
	flags := slices.Concat(enumKernel618[:24], []string{"SKIP_ZERO", "SKIP_KASAN", "NOLOCKDEP", "NO_OBJ_EXT", "LAST"})
	for _, tc := range []struct {
		order Order
		mask  uint32
		want  string
	}{
		// __GFP_SKIP_KASAN belongs to GFP_HIGHUSER_MOVABLE here.
		{OrderByBit, 0x2140cca, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"},
		{OrderByBit, 0x100cca, "GFP_HIGHUSER|__GFP_MOVABLE"},
		{OrderByBit, 0xd000000, "__GFP_SKIP_ZERO|__GFP_NOLOCKDEP|__GFP_NO_OBJ_EXT"},
		{OrderListed, 0x2140cca, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"},
		// The listed table names the KASAN bits but not the later ones.
		{OrderListed, 0xd000000, "__GFP_SKIP_ZERO|0xc000000"},
	} {
		if got := fromBTF(t, flags, tc.order).String(tc.mask); got != tc.want {
			t.Errorf("order %d: String(%#x) = %q, want %q", tc.order, tc.mask, got, tc.want)
		}
	}
}

func TestFromBTFWithoutEnumIsLegacy(t *testing.T) {
	names, err := FromBTF(specOf(t), OrderByBit)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names.table, Legacy().table) {
		t.Errorf("a kernel without the bit enum got\n%s", formatTable(names.table))
	}
}

func TestFromBTFRejectsStrangeEnums(t *testing.T) {
	withoutIO := slices.DeleteFunc(slices.Clone(enumKernel618), func(s string) bool { return s == "IO" })
	if _, err := FromBTF(bitEnumSpec(t, withoutIO), OrderByBit); err == nil || !strings.Contains(err.Error(), "___GFP_IO_BIT") {
		t.Errorf("enum without ___GFP_IO_BIT: err = %v", err)
	}

	wide := &btf.Enum{Size: 4}
	for i, name := range enumKernel618 {
		wide.Values = append(wide.Values, btf.EnumValue{Name: enumPrefix + name + enumSuffix, Value: uint64(i)})
	}
	wide.Values = append(wide.Values, btf.EnumValue{Name: "___GFP_HUGE_BIT", Value: 40})
	if _, err := FromBTF(specOf(t, wide), OrderByBit); err == nil || !strings.Contains(err.Error(), "___GFP_HUGE_BIT") {
		t.Errorf("enum with bit 40: err = %v", err)
	}
}

func TestZeroAndNilNames(t *testing.T) {
	var zero Names
	if got := zero.String(0x140cca); got != "0x140cca" {
		t.Errorf("zero Names: %q", got)
	}
	var nilNames *Names
	if got := nilNames.String(0xcc0); got != "0xcc0" {
		t.Errorf("nil Names: %q", got)
	}
}

func TestAllocations(t *testing.T) {
	names := namesFor(t, "6.18")
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		buf = names.Append(buf[:0], 0xfe140dca)
	}); n != 0 {
		t.Errorf("Append into a large enough buffer: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = names.String(0xfe140dca) }); n != 1 {
		t.Errorf("String: %v allocations, want 1", n)
	}
}

func TestOrderForRelease(t *testing.T) {
	for release, want := range map[string]Order{
		"6.18.44-fc-v657":      OrderByBit,
		"6.15.0-rc1":           OrderByBit,
		"6.15":                 OrderByBit,
		"7.0.0":                OrderByBit,
		"6.14.11":              OrderListed,
		"6.12.117+deb12-amd64": OrderListed,
		"5.10.0-46-amd64":      OrderListed,
	} {
		got, err := orderForRelease(release)
		if err != nil || got != want {
			t.Errorf("orderForRelease(%q) = %d, %v; want %d", release, got, err, want)
		}
	}
	for _, release := range []string{"", "6", "six.1", "6.x", ".15"} {
		if _, err := orderForRelease(release); !errors.Is(err, errRelease) {
			t.Errorf("orderForRelease(%q): err = %v", release, err)
		}
	}
}

// tracefsNames returns the names of the running kernel's table in its order,
// from the print format of a tracepoint that prints gfp flags.
func tracefsNames(t *testing.T) []string {
	t.Helper()
	var format []byte
	var err error
	for _, dir := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if format, err = os.ReadFile(dir + "/events/kmem/mm_page_alloc/format"); err == nil {
			break
		}
	}
	if err != nil {
		t.Skipf("the kernel's own table needs tracefs, readable by root: %v", err)
	}
	_, flags, ok := strings.Cut(string(format), "__print_flags(REC->gfp_flags")
	if !ok {
		t.Fatalf("no gfp flags in the mm_page_alloc format:\n%s", format)
	}
	var names []string
	for _, m := range regexp.MustCompile(`"(_*GFP_[A-Z0-9_]+)"`).FindAllStringSubmatch(flags, -1) {
		names = append(names, m[1])
	}
	return names
}

// TestForKernel holds the running kernel's table against the one tracefs
// shows, which catches a wrong order decision.
func TestForKernel(t *testing.T) {
	names, err := ForKernel(btf.NewCache())
	if err != nil {
		t.Fatal(err)
	}
	// Spelled alike by every kernel since 5.10.
	if got := names.String(0x140cca); got != "GFP_HIGHUSER_MOVABLE|__GFP_COMP" {
		t.Errorf("String(0x140cca) = %q", got)
	}
	var got []string
	for _, f := range names.table {
		got = append(got, f.name)
	}
	if want := tracefsNames(t); !slices.Equal(got, want) {
		t.Errorf("running kernel's table\ngot:  %v\nwant: %v", got, want)
	}
}

// ForKernel tells a kernel without the bit enum from the strings of its raw
// BTF, without decoding its types: the marshalled BTF of a kernel with the
// enum names its first value, one without does not.
func TestMentionsBitEnum(t *testing.T) {
	marshal := func(types ...btf.Type) []byte {
		t.Helper()
		b, err := btf.NewBuilder(types, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := b.Marshal(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	withEnum := &btf.Enum{Size: 4}
	for i, name := range enumKernel618 {
		withEnum.Values = append(withEnum.Values, btf.EnumValue{Name: enumPrefix + name + enumSuffix, Value: uint64(i)})
	}
	intType := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	// A name that merely contains the value's name is not it.
	lookalike := &btf.Enum{Name: "x", Size: 4, Values: []btf.EnumValue{{Name: "X" + enumPrefix + "DMA" + enumSuffix}}}
	if !mentionsBitEnum(marshal(intType, withEnum)) {
		t.Error("BTF with the bit enum: not recognised")
	}
	if mentionsBitEnum(marshal(intType, lookalike)) {
		t.Error("BTF without the bit enum, with a longer name containing its first value's: taken for one with it")
	}
	if mentionsBitEnum(marshal(intType)) {
		t.Error("BTF without the bit enum: taken for one with it")
	}

	// The same from files, mapped; an empty one is read.
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		raw  []byte
		want bool
	}{
		{"with", marshal(intType, withEnum), true},
		{"without", marshal(intType), false},
		{"empty", nil, false},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := fileMentionsBitEnum(path); err != nil || got != c.want {
			t.Errorf("fileMentionsBitEnum(%s) = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := fileMentionsBitEnum(filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing BTF file: no error")
	}
}
