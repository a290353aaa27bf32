package classify

import (
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
	"golang.org/x/sys/unix"
)

func TestRefine(t *testing.T) {
	const twoNodes = 0b11
	cases := []struct {
		name   string
		nodes  uint64 // with memory
		limits event.NodeLimits
		want   event.Class
	}{
		{"no NUMA information", 0, event.NodeLimits{MemsAllowed: 1, HaveMemsAllowed: true}, event.ClassGlobal},
		{"unrestricted", twoNodes, event.NodeLimits{MemsAllowed: ^uint64(0), HaveMemsAllowed: true}, event.ClassGlobal},
		{"cpuset on node 1", twoNodes, event.NodeLimits{MemsAllowed: 0b10, HaveMemsAllowed: true}, event.ClassCpuset},
		{"cpuset allows every node with memory", 0b01, event.NodeLimits{MemsAllowed: 0b11, HaveMemsAllowed: true}, event.ClassGlobal},
		{"bind to node 0", twoNodes, event.NodeLimits{MemsAllowed: twoNodes, HaveMemsAllowed: true,
			PolicyMode: unix.MPOL_BIND, PolicyNodes: 0b01, HavePolicy: true}, event.ClassMempolicy},
		{"policy wins over cpuset", twoNodes, event.NodeLimits{MemsAllowed: 0b01, HaveMemsAllowed: true,
			PolicyMode: unix.MPOL_BIND, PolicyNodes: 0b01, HavePolicy: true}, event.ClassMempolicy},
		{"bind to every node", twoNodes, event.NodeLimits{PolicyMode: unix.MPOL_BIND, PolicyNodes: twoNodes, HavePolicy: true}, event.ClassGlobal},
		{"preferred is no limit", twoNodes, event.NodeLimits{PolicyMode: unix.MPOL_PREFERRED, PolicyNodes: 0b01, HavePolicy: true}, event.ClassGlobal},
		{"interleave is no limit", twoNodes, event.NodeLimits{PolicyMode: unix.MPOL_INTERLEAVE, PolicyNodes: 0b01, HavePolicy: true}, event.ClassGlobal},
	}
	for _, c := range cases {
		if got := Refine(c.nodes, c.limits); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParseNodeList(t *testing.T) {
	good := map[string]uint64{"0\n": 1, "0-1": 3, "0,2-3\n": 0b1101, "": 0, "63": 1 << 63}
	for in, want := range good {
		got, err := ParseNodeList(in)
		if err != nil || got != want {
			t.Errorf("ParseNodeList(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, in := range []string{"64", "0-64", "a", "1-0", "0,,1", "-1", "3-"} {
		if got, err := ParseNodeList(in); err == nil {
			t.Errorf("ParseNodeList(%q) = %#x, want an error", in, got)
		}
	}
}
