package memcg

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const procCgroupsV1 = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
memory	4	26	1
pids	8	1	1
`

// From the development machine: v1 controllers plus an empty cgroup2 tree.
const mountinfoHybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const mountinfoUnified = `22 1 0:21 / /sys shared:7 - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func controllersOf(lists map[string]string) func(string) (string, error) {
	return func(mountpoint string) (string, error) {
		l, ok := lists[mountpoint]
		if !ok {
			return "", fs.ErrNotExist
		}
		return l, nil
	}
}

func TestDetect(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cgroups     string
		mountinfo   string
		controllers map[string]string
		want        Hierarchy
		wantErr     string
	}{{
		name: "v1 memory beside an empty v2 tree", cgroups: procCgroupsV1, mountinfo: mountinfoHybrid,
		controllers: map[string]string{"/sys/fs/cgroup/unified": ""},
		want:        Hierarchy{Version: 1, Mountpoint: "/sys/fs/cgroup/memory", Root: "/"},
	}, {
		name: "v2 with memory", cgroups: "", mountinfo: mountinfoUnified,
		controllers: map[string]string{"/sys/fs/cgroup": "cpuset cpu io memory hugetlb pids rdma misc\n"},
		want:        Hierarchy{Version: 2, Mountpoint: "/sys/fs/cgroup", Root: "/"},
	}, {
		name: "v1 subtree and whole hierarchy, escaped mount point", cgroups: procCgroupsV1,
		mountinfo: `50 1 0:32 /docker/abc /mnt/sub rw - cgroup cgroup rw,memory
51 1 0:32 / /mnt/my\040cgroups rw - cgroup cgroup rw,cpu,memory
`,
		want: Hierarchy{Version: 1, Mountpoint: "/mnt/my cgroups", Root: "/"},
	}, {
		name: "v2 subtree in a container", mountinfo: `60 1 0:23 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw
`,
		controllers: map[string]string{"/sys/fs/cgroup": "memory pids"},
		want:        Hierarchy{Version: 2, Mountpoint: "/sys/fs/cgroup", Root: "/kubepods/pod1"},
	}, {
		name: "v2 without memory", mountinfo: mountinfoUnified,
		controllers: map[string]string{"/sys/fs/cgroup": "cpu io pids"},
		wantErr:     "/sys/fs/cgroup does not list it in cgroup.controllers",
	}, {
		name: "nothing mounted", cgroups: procCgroupsV1, mountinfo: "22 1 0:21 / /sys rw - sysfs sysfs rw\n",
		wantErr: "no cgroup hierarchy with the memory controller is mounted",
	}, {
		name: "disabled", cgroups: "#subsys_name	hierarchy	num_cgroups	enabled\nmemory	0	1	0\n", mountinfo: mountinfoUnified,
		wantErr: "cgroup_disable=memory",
	}, {
		name: "not built", cgroups: "#subsys_name	hierarchy	num_cgroups	enabled\ncpu	0	1	1\n", mountinfo: mountinfoUnified,
		controllers: map[string]string{"/sys/fs/cgroup": "cpu io pids"},
		wantErr:     "CONFIG_MEMCG",
	}, {
		// Debian's 7.3: /proc/cgroups lists only what cgroup v1 can mount,
		// and memory has no v1 support built in.
		name: "v2 only, not in /proc/cgroups", cgroups: "#subsys_name	hierarchy	num_cgroups	enabled\ncpu	0	1	1\npids	0	1	1\n",
		mountinfo:   mountinfoUnified,
		controllers: map[string]string{"/sys/fs/cgroup": "cpuset cpu io memory hugetlb pids rdma misc\n"},
		want:        Hierarchy{Version: 2, Mountpoint: "/sys/fs/cgroup", Root: "/"},
	}, {
		name: "bad mountinfo", mountinfo: "garbage\n",
		wantErr: "parse mountinfo line",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := detect(tt.cgroups, strings.NewReader(tt.mountinfo), controllersOf(tt.controllers))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("detect = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("detect = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestCreateRejectsBadPaths(t *testing.T) {
	mnt := t.TempDir()
	h := Hierarchy{Version: 1, Mountpoint: mnt, Root: "/"}
	for _, rel := range []string{"", "/abs", "..", "../x", "a/../b", "a//b", "a/", ".", "./a", "a\nb"} {
		if g, err := h.Create(rel, 1<<20); err == nil {
			t.Errorf("Create(%q) = %s, want an error", rel, g.Dir())
		}
	}
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Errorf("rejected paths left %v behind", entries)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	mnt := t.TempDir()
	if err := os.Mkdir(filepath.Join(mnt, "theirs"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := Hierarchy{Version: 1, Mountpoint: mnt, Root: "/"}
	if _, err := h.Create("theirs", 0); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of an existing cgroup: %v, want fs.ErrExist", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "theirs")); err != nil {
		t.Errorf("existing directory gone: %v", err)
	}
}

// A v2 parent that does not hand the memory controller down is reported,
// not changed.
func TestCreateNeedsDelegatedMemory(t *testing.T) {
	mnt := t.TempDir()
	control := filepath.Join(mnt, "cgroup.subtree_control")
	if err := os.WriteFile(control, []byte("cpu io\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := Hierarchy{Version: 2, Mountpoint: mnt, Root: "/"}
	_, err := h.Create("a/b", 1<<20)
	if err == nil || !strings.Contains(err.Error(), "echo +memory > "+control) {
		t.Fatalf("Create under a parent without +memory: %v, want advice to enable it", err)
	}
	if b, _ := os.ReadFile(control); string(b) != "cpu io\n" {
		t.Errorf("parent's subtree_control changed to %q", b)
	}
	if _, err := os.Stat(filepath.Join(mnt, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create left %s behind: %v", filepath.Join(mnt, "a"), err)
	}
}

func TestWriteOwnedRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "memory.max")
	if err := os.WriteFile(file, []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeOwned(dir, "memory.max", "1"); !errors.Is(err, errNotOwned) {
		t.Errorf("write to a directory not created here: %v, want errNotOwned", err)
	}
	g := &Group{h: Hierarchy{Version: 2, Mountpoint: filepath.Dir(dir), Root: "/"}, rel: filepath.Base(dir), dir: dir}
	for name, err := range map[string]error{
		"AddProcess":  g.AddProcess(os.Getpid()),
		"SetLimit":    g.SetLimit(1 << 20),
		"SetOOMGroup": g.SetOOMGroup(true),
	} {
		if !errors.Is(err, errNotOwned) {
			t.Errorf("%s on a group not created here: %v, want errNotOwned", name, err)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "max\n" {
		t.Errorf("memory.max changed to %q", b)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("oomtrace-test"), UniqueName("oomtrace-test")
	if a == b {
		t.Errorf("two names alike: %s", a)
	}
	if want := "oomtrace-test-" + strconv.Itoa(os.Getpid()) + "-"; !strings.HasPrefix(a, want) {
		t.Errorf("name %s does not start with %s", a, want)
	}
}

func TestStartHogRejectsBadOptions(t *testing.T) {
	g := &Group{dir: t.TempDir()}
	for _, tt := range []struct {
		mib  int
		comm string
	}{{-1, ""}, {1, "sixteen-bytes-xx"}, {1, "nul\x00"}} {
		if cmd, err := StartHog(g, tt.mib, HogOptions{Comm: tt.comm}); err == nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Errorf("StartHog(%d MiB, comm %q) started", tt.mib, tt.comm)
		}
	}
}
