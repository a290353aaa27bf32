package tracer

import (
	"slices"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Every program of the kernel side says what it records, so that gate can
// tell a skipped run of a kill's program from one of an exit's: a program
// added without it would count against every rule.
func TestEveryProgramRecords(t *testing.T) {
	spec, err := loadOomtrace()
	if err != nil {
		t.Fatal(err)
	}
	var unknown []string
	for name := range spec.Programs {
		if _, ok := event.ProgramRecords(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		t.Errorf("programs not in event's programRecords: %v", unknown)
	}
	for _, name := range event.Programs() {
		if spec.Programs[name] == nil {
			t.Errorf("event's programRecords names %s, which the kernel side does not have", name)
		}
	}
}

// The two prototypes of the vmscan reclaim-begin tracepoints, as their
// btf_trace_* typedefs declare them, are the ones the BPF programs read;
// anything else is refused rather than read with swapped arguments.
func TestReclaimBeginKnown(t *testing.T) {
	voidPtr := &btf.Pointer{Target: &btf.Void{}}
	intT := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	gfp := &btf.Typedef{Name: "gfp_t", Type: &btf.Int{Name: "unsigned int", Size: 4}}
	memcg := &btf.Pointer{Target: &btf.Struct{Name: "mem_cgroup"}}
	other := &btf.Pointer{Target: &btf.Struct{Name: "lruvec"}}
	params := func(types ...btf.Type) []btf.FuncParam {
		var ps []btf.FuncParam
		for _, typ := range types {
			ps = append(ps, btf.FuncParam{Type: typ})
		}
		return ps
	}
	for _, tc := range []struct {
		name   string
		params []btf.FuncParam
		known  bool
		proto  string
	}{
		{"up to 7.0", params(voidPtr, intT, gfp), true, "int, gfp_t"},
		{"from 7.1", params(voidPtr, gfp, intT, memcg), true, "gfp_t, int, struct mem_cgroup *"},
		{"another struct", params(voidPtr, gfp, intT, other), false, "gfp_t, int, struct lruvec *"},
		{"order first with the memcg", params(voidPtr, intT, gfp, memcg), false, "int, gfp_t, struct mem_cgroup *"},
		{"gfp first without it", params(voidPtr, gfp, intT), false, "gfp_t, int"},
		{"one argument", params(voidPtr, gfp), false, "gfp_t"},
		{"five arguments", params(voidPtr, gfp, intT, memcg, intT), false, "gfp_t, int, struct mem_cgroup *, int"},
	} {
		if got := reclaimBeginKnown(tc.params); got != tc.known {
			t.Errorf("%s: known %v, want %v", tc.name, got, tc.known)
		}
		if got := prototype(tc.params); got != tc.proto {
			t.Errorf("%s: prototype %q, want %q", tc.name, got, tc.proto)
		}
	}
}
