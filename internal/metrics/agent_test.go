package metrics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oomtrace/oomtrace/internal/memcg"
)

func TestOwnCgroupDir(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) string {
		name := filepath.Join(dir, "cgroup")
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	v1 := memcg.Hierarchy{Version: 1, Mountpoint: "/sys/fs/cgroup/memory", Root: "/"}
	v2 := memcg.Hierarchy{Version: 2, Mountpoint: "/sys/fs/cgroup", Root: "/"}
	for _, c := range []struct {
		h       memcg.Hierarchy
		content string
		want    string
	}{
		{v1, "5:devices:/x\n4:memory:/libpod_parent/libpod-abc\n0::/\n", "/sys/fs/cgroup/memory/libpod_parent/libpod-abc"},
		{v1, "4:cpu,memory:/docker/abc\n", "/sys/fs/cgroup/memory/docker/abc"},
		{v1, "4:memory:/\n", ""},
		{v2, "0::/system.slice/oomtrace.service\n", "/sys/fs/cgroup/system.slice/oomtrace.service"},
		{v2, "0::/\n", ""},
		{v2, "4:memory:/docker/abc\n", ""},
	} {
		got, ok := ownCgroupDir(c.h, write(c.content))
		if got != c.want || ok != (c.want != "") {
			t.Errorf("v%d %q: %q %v, want %q", c.h.Version, c.content, got, ok, c.want)
		}
	}
}
