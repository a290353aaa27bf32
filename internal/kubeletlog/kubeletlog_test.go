package kubeletlog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/kernlog"
)

func decode(t *testing.T, name string) []Eviction {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "kubeletlog", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return decodeFrom(t, f, name)
}

func decodeFrom(t *testing.T, r io.Reader, name string) []Eviction {
	t.Helper()
	d := NewDecoder(r, name)
	var evs []Eviction
	for {
		e, err := d.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
}

func TestGlog(t *testing.T) {
	evs := decode(t, "1.x-glog.journal")
	if len(evs) != 1 {
		t.Fatalf("evictions %+v", evs)
	}
	e := evs[0]
	if e.Namespace != "default" || e.Pod != "web-1" || e.UID.V != "0c5f3e2a-1111-4c1b-9a55-0123456789ab" || !e.UID.OK ||
		e.Resource != "nodefs" || !e.Succeeded || e.KlogTime != "1016 09:50:56.103412" || e.Line != 4 || e.At.Host != "" {
		t.Errorf("eviction %+v", e)
	}
}

func TestStructured(t *testing.T) {
	evs := decode(t, "1.2x-structured.journal")
	if len(evs) != 2 {
		t.Fatalf("evictions %+v", evs)
	}
	api, cache := evs[0], evs[1]
	if api.Namespace != "shop" || api.Pod != "api-7d9" || api.UID.V != "7b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" || api.Resource != "memory" ||
		api.Threshold.V != "100Mi" || api.Available.V != "92412Ki" || !api.Succeeded || api.Line != 6 || api.At.Host != "node-a" ||
		api.At.TimeText != "Dec 02 23:07:36" {
		t.Errorf("api %+v", api)
	}
	if cache.Pod != "cache-0" || cache.UID.OK || cache.Resource != "memory" || !cache.Succeeded || cache.Message != "" || cache.Threshold.OK {
		t.Errorf("cache %+v", cache)
	}
}

func FuzzStructured(f *testing.F) {
	f.Add(`"Evicting pod" pod="a/b" podUID="x" message="m \" q"`)
	f.Add(`"x`)
	f.Fuzz(func(t *testing.T, s string) {
		structured(s)
		var tr Tracker
		for range 3 {
			tr.Add(&kernlog.Message{Text: "I1202 23:07:36.000404     901 eviction_manager.go:616] " + s})
		}
	})
}

// A kernel line holds names anyone can choose: a cgroup named like the
// kubelet's line of an eviction does not make one. The same words from
// the kubelet count, in every form its lines take.
func TestKernelLinesAreNotTheKubelets(t *testing.T) {
	evicted := `I0101 00:00:00.000000 1 eviction_manager.go:1] "Eviction manager: pod is evicted successfully" pod="default/coredns-abc" podUID="u1"`
	kernel := "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x " + evicted + ",task_memcg=/x,task=hog,pid=4487,uid=1000"
	for _, tc := range []struct {
		line string
		want int
	}{
		{"[  100.000003] " + kernel, 0},
		{kernel, 0}, // dmesg -t: nothing says whose the line is, but the klog header is not where the kubelet's is
		{"<6>[  100.000003] " + kernel, 0},
		{"6,100,100000003,-;" + kernel, 0},
		{"Dec  2 23:07:36 node1 kernel: [  100.000003] " + kernel, 0},
		{`{"_TRANSPORT":"kernel","MESSAGE":"` + strings.ReplaceAll(kernel, `"`, `\"`) + `","__MONOTONIC_TIMESTAMP":"100000003"}`, 0},
		{"Dec  2 23:07:36 node1 kubelet[17144]: " + evicted, 1},
		{"[  100.000003] node1 kubelet[17144]: " + evicted, 1}, // journalctl -u kubelet -o short-monotonic
		{`{"_TRANSPORT":"stdout","SYSLOG_IDENTIFIER":"kubelet","MESSAGE":"` + strings.ReplaceAll(evicted, `"`, `\"`) + `","__MONOTONIC_TIMESTAMP":"100000003"}`, 1},
		{evicted, 1},
	} {
		if n := len(decodeFrom(t, strings.NewReader(tc.line+"\n"), "log")); n != tc.want {
			t.Errorf("%s: %d evictions, want %d", tc.line, n, tc.want)
		}
	}
}
