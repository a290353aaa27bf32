package output

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// sampleOf is a sample event as oomtrace record writes it: from oomtrace
// itself, every sampling interval.
func sampleOf(s event.Sample) event.Event {
	return event.Event{
		Kind:    event.KindSample,
		Time:    time.Date(2025, 3, 1, 12, 30, 44, 0, time.UTC),
		KtimeNS: 5122_666000000,
		Task:    event.Task{PID: 700, TGID: 700, Comm: "oomtrace"},
		Sample:  s,
	}
}

func sampleGoldenCases() []goldenCase {
	v1 := sampleOf(event.Sample{Cgroup: event.Cgroup{Path: "/t", ID: 4242, UsageBytes: 31 << 20, LimitBytes: 32 << 20}})
	v2 := sampleOf(event.Sample{
		Cgroup: event.Cgroup{
			Path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f5eb28f_1c2d.slice", ID: 80,
			UsageBytes: 498 << 20, LimitBytes: 512 << 20,
			Owner: event.Owner{PodUID: "0f5eb28f-1c2d", PodName: "api-7d9", Namespace: "shop", QoS: event.QoSBurstable, Level: event.LevelPod},
		},
		HighBytes: 480 << 20, HasHigh: true,
		HasPressure: true, SomeAvg10: 12.5, FullAvg10: 3.07, SomeTotal: 1234567000, FullTotal: 456000,
	})
	unlimited := sampleOf(event.Sample{Cgroup: event.Cgroup{Path: "/system.slice/nginx.service", ID: 31, UsageBytes: 90 << 20, LimitBytes: event.NoLimit,
		Owner: event.Owner{Unit: "nginx.service"}}})
	node := sampleOf(event.Sample{MemTotalBytes: 24 << 30, MemAvailableBytes: 3<<30 + 12345,
		HasPressure: true, SomeAvg10: 0.35, SomeTotal: 292818073000, FullTotal: 98792943000})
	nodeNoPSI := sampleOf(event.Sample{MemTotalBytes: 1 << 30, MemAvailableBytes: 0})
	hostile := sampleOf(event.Sample{Cgroup: event.Cgroup{Path: "/<script>alert(\"x\")</script>/'q' a\\b\n", ID: 9, UsageBytes: 1, LimitBytes: 2}})
	names := Options{GFPNames: testGFPNames}
	return []goldenCase{
		{"sample_cgroup_v1", v1, names},
		{"sample_cgroup_v2", v2, names},
		{"sample_cgroup_unlimited", unlimited, names},
		{"sample_node", node, names},
		{"sample_node_no_psi", nodeNoPSI, names},
		{"sample_hostile_cgroup", hostile, names},
	}
}

// A node sample has the node's memory and no cgroup keys; a cgroup sample
// the cgroup's and none of the node's.
func TestSampleKeys(t *testing.T) {
	for _, tc := range sampleGoldenCases() {
		text := string(AppendText(nil, &tc.ev, tc.opts))
		jsonLine := string(AppendJSON(nil, &tc.ev, tc.opts))
		node := tc.ev.Sample.IsNode()
		for _, key := range []string{"mem_total_bytes", "mem_available_bytes"} {
			if strings.Contains(text, " "+key+"=") != node || strings.Contains(jsonLine, `"`+key+`":`) != node {
				t.Errorf("%s: %s present %v, want %v:\n%s%s", tc.name, key, !node, node, text, jsonLine)
			}
		}
		if strings.Contains(text, " cgroup=") == node || strings.Contains(jsonLine, `"cgroup":`) == node {
			t.Errorf("%s: cgroup present %v, want %v:\n%s%s", tc.name, node, !node, text, jsonLine)
		}
		if got := strings.Contains(text, " psi_some_avg10="); got != tc.ev.Sample.HasPressure {
			t.Errorf("%s: psi keys %v, want %v: %s", tc.name, got, tc.ev.Sample.HasPressure, text)
		}
		if got := strings.Contains(text, " high_bytes="); got != tc.ev.Sample.HasHigh {
			t.Errorf("%s: high_bytes %v, want %v: %s", tc.name, got, tc.ev.Sample.HasHigh, text)
		}
	}
}

func TestSampleParseErrors(t *testing.T) {
	const prefix = "        oomtrace 700/700 [000] 1.000000: oomtrace:sample "
	for _, tc := range []struct{ line, want string }{
		{prefix + `cgroup="/t" cgroup.id=1 cgroup.usage_bytes=1 cgroup.limit_bytes=2 mem_total_bytes=5 mem_available_bytes=1`,
			"key mem_total_bytes: not allowed with the values of the other keys"},
		{prefix + `mem_available_bytes=1`, "key mem_total_bytes: missing"},
		{prefix + `mem_total_bytes=2 mem_available_bytes=1 psi_some_avg10=1`, "key psi_full_avg10: missing"},
		{prefix + `mem_total_bytes=2 mem_available_bytes=1 psi_some_avg10=NaN psi_full_avg10=0 psi_some_total_ns=0 psi_full_total_ns=0`,
			`column 113: key psi_some_avg10: invalid number "NaN"`},
		{prefix + `mem_total_bytes=2 mem_available_bytes=1 high_bytes=max`, `column 109: key high_bytes: invalid number "max"`},
		{`{"event":"sample","ktime_ns":1,"cpu":0,"pid":1,"tid":1,"comm":"oomtrace","mem_total_bytes":2,"mem_available_bytes":1,"psi_some_avg10":"1","psi_full_avg10":0,"psi_some_total_ns":0,"psi_full_total_ns":0}`,
			`key psi_some_avg10: invalid number "\"1\""`},
	} {
		_, err := Parse([]byte(tc.line))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tc.line, err, tc.want)
		}
	}
}

// The cgroup path of a sample is a kernel string like any other: escaped
// in both formats, and read back exactly.
func TestSampleEscapesCgroup(t *testing.T) {
	cases := sampleGoldenCases()
	ev := cases[len(cases)-1].ev
	for _, line := range [][]byte{AppendText(nil, &ev, Options{}), AppendJSON(nil, &ev, Options{})} {
		checkLine(t, line)
		if bytes.Contains(line, []byte("\n ")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Errorf("line split: %q", line)
		}
		got, err := Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		if got.Sample.Cgroup.Path != ev.Sample.Cgroup.Path {
			t.Errorf("path %q, want %q", got.Sample.Cgroup.Path, ev.Sample.Cgroup.Path)
		}
	}
}
