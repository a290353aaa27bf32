package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

type pathCase struct {
	Name      string      `json:"name"`
	Path      string      `json:"path"`
	Truncated bool        `json:"truncated"`
	Want      event.Owner `json:"want"`
}

// readPathCases reads testdata/container/paths.jsonl; its header says the
// format. Unknown keys are errors, so a misspelt key in the table cannot
// silently expect the zero value.
func readPathCases(t *testing.T) []pathCase {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "container", "paths.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []pathCase
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var c pathCase
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("paths.jsonl line %d: %v", n, err)
		}
		if c.Name == "" || names[c.Name] {
			t.Fatalf("paths.jsonl line %d: missing or repeated name %q", n, c.Name)
		}
		names[c.Name] = true
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases in paths.jsonl", len(cases))
	}
	return cases
}

func TestParseTable(t *testing.T) {
	for _, c := range readPathCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			parse, name := Parse, "Parse"
			if c.Truncated {
				parse, name = ParseTruncated, "ParseTruncated"
			}
			if got := parse(c.Path); got != c.Want {
				t.Errorf("%s(%q)\n got %+v\nwant %+v", name, c.Path, got, c.Want)
			}
		})
	}
}

// TestParseTableCoversLayouts keeps the table honest: every runtime, level,
// QoS class and the unit and user attributions appear in it at least once.
func TestParseTableCoversLayouts(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range readPathCases(t) {
		w := c.Want
		seen["runtime="+string(w.Runtime)] = true
		seen["level="+string(w.Level)] = true
		seen["qos="+string(w.QoS)] = true
		seen["unit="+boolKey(w.Unit != "")] = true
		seen["user="+boolKey(w.User != "")] = true
		seen["zero="+boolKey(w.IsZero())] = true
		seen["truncated="+boolKey(c.Truncated)] = true
		seen["static="+boolKey(len(w.PodUID) == 32)] = true
	}
	for _, want := range []string{
		"runtime=", "runtime=containerd", "runtime=cri-o", "runtime=docker", "runtime=podman",
		"level=", "level=container", "level=monitor", "level=pod", "level=qos", "level=kubepods",
		"qos=guaranteed", "qos=burstable", "qos=besteffort",
		"unit=true", "user=true", "zero=true", "truncated=true", "static=true",
	} {
		if !seen[want] {
			t.Errorf("no case in paths.jsonl with %s", want)
		}
	}
}

func boolKey(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestParseNeverInventsIDs throws mutated paths at the parser: whatever it
// returns must be taken verbatim from the path, never made up or altered
// (apart from the pod UID's underscores).
func TestParseNeverInventsIDs(t *testing.T) {
	for _, c := range readPathCases(t) {
		for _, p := range mutations(c.Path) {
			got := Parse(p)
			if got.ID != "" && (!strings.Contains(p, got.ID) || !isContainerID(got.ID)) {
				t.Errorf("Parse(%q) invented ID %q", p, got.ID)
			}
			if got.PodUID != "" && !strings.Contains(p, got.PodUID) && !strings.Contains(p, strings.ReplaceAll(got.PodUID, "-", "_")) {
				t.Errorf("Parse(%q) invented pod UID %q", p, got.PodUID)
			}
			if got.Unit != "" && !strings.Contains(p, got.Unit) {
				t.Errorf("Parse(%q) invented unit %q", p, got.Unit)
			}
			if got.Name != "" || got.PodName != "" || got.Namespace != "" {
				t.Errorf("Parse(%q) set names: %+v", p, got)
			}
		}
	}
}

// mutations are path with one byte dropped, doubled or flipped at a few
// places, and with its components in reverse order.
func mutations(path string) []string {
	out := []string{path}
	for _, i := range []int{0, 1, len(path) / 3, len(path) / 2, len(path) - 2, len(path) - 1} {
		if i < 0 || i >= len(path) {
			continue
		}
		out = append(out,
			path[:i]+path[i+1:],
			path[:i]+path[i:i+1]+path[i:],
			path[:i]+string(path[i]^0x20)+path[i+1:])
	}
	segs := strings.Split(path, "/")
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return append(out, strings.Join(segs, "/"))
}

func FuzzParse(f *testing.F) {
	f.Add("/kubepods/burstable/pod0f5eb28f-3c1a-4e2b-9d7c-6a5b4c3d2e1f/0dc1822c4f1e5f3c7b4a2e9d8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b", false)
	f.Add("/kubepods.slice/kubepods-pod0f5eb28f_3c1a_4e2b_9d7c_6a5b4c3d2e1f.slice/crio-conmon-0dc1822c4f1e5f3c7b4a2e9d8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b.scope", true)
	f.Add("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope", false)
	f.Fuzz(func(t *testing.T, path string, truncated bool) {
		got := parse(path, truncated)
		if got.ID != "" && !isContainerID(got.ID) {
			t.Errorf("ID %q is not a container ID", got.ID)
		}
		if got.ID != "" && got.Level != event.LevelContainer && got.Level != event.LevelMonitor {
			t.Errorf("ID %q at level %q", got.ID, got.Level)
		}
		if got.PodUID != "" {
			if _, ok := podUID(got.PodUID, '-'); !ok {
				t.Errorf("pod UID %q is not a UID", got.PodUID)
			}
			if got.QoS == "" {
				t.Errorf("pod %q without a event.QoS class", got.PodUID)
			}
		}
		if got.Unit != "" && (!isUnitName(got.Unit) || got.ID != "" || got.PodUID != "") {
			t.Errorf("unit %q in %+v", got.Unit, got)
		}
		if got.User != "" && !isUID(got.User) {
			t.Errorf("user %q", got.User)
		}
	})
}

func TestWithNames(t *testing.T) {
	i := event.Owner{Runtime: event.RuntimeContainerd, ID: strings.Repeat("a", 64), Name: "old"}
	got := WithNames(i, Names{PodName: "api-7d9", Namespace: "shop"})
	want := event.Owner{Runtime: event.RuntimeContainerd, ID: strings.Repeat("a", 64), Name: "old", PodName: "api-7d9", Namespace: "shop"}
	if got != want {
		t.Errorf("WithNames = %+v, want %+v", got, want)
	}
}

// TestInfoJSON pins the JSON keys the output's container object uses.
func TestInfoJSON(t *testing.T) {
	i := event.Owner{Runtime: event.RuntimeCRIO, ID: "i", Name: "n", PodUID: "u", PodName: "p", Namespace: "ns", QoS: event.QoSBurstable, Level: event.LevelContainer, Unit: "x.service", User: "0"}
	b, err := json.Marshal(i)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"runtime":"cri-o","id":"i","name":"n","pod_uid":"u","pod_name":"p","namespace":"ns","qos":"burstable","level":"container","unit":"x.service","user":"0"}`
	if string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
	if b, _ := json.Marshal(event.Owner{}); string(b) != "{}" {
		t.Errorf("zero event.Owner JSON %s, want {}", b)
	}
}
