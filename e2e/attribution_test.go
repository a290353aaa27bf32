package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
)

// kubePod is a pod as the kubelet would lay it out: its cgroups, and its
// log directories under a host root the tracer is pointed at.
type kubePod struct {
	namespace, name, uid string
	container, id        string
	hostRoot             string
}

func newKubePod(t *testing.T, namespace, name, containerName string) kubePod {
	t.Helper()
	return newKubePodAt(t, t.TempDir(), namespace, name, containerName)
}

// newKubePodAt is newKubePod with the kubelet's directories under hostRoot,
// which many pods can share.
func newKubePodAt(t *testing.T, hostRoot, namespace, name, containerName string) kubePod {
	t.Helper()
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	u := hex.EncodeToString(raw)
	p := kubePod{
		namespace: namespace, name: name,
		uid:      fmt.Sprintf("%s-%s-%s-%s-%s", u[:8], u[8:12], u[12:16], u[16:20], u[20:]),
		hostRoot: hostRoot,
	}
	return p.withContainer(t, containerName)
}

// withContainer returns the pod with another container in it: a new
// container ID, and its log files as the kubelet writes them.
func (p kubePod) withContainer(t *testing.T, containerName string) kubePod {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	p.container, p.id = containerName, hex.EncodeToString(raw)
	// /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log and the
	// kubelet's link to it in /var/log/containers.
	podDir := fmt.Sprintf("%s_%s_%s", p.namespace, p.name, p.uid)
	logDir := filepath.Join(p.hostRoot, "var/log/pods", podDir, containerName)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "0.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := filepath.Join(p.hostRoot, "var/log/containers")
	if err := os.MkdirAll(links, 0o755); err != nil {
		t.Fatal(err)
	}
	link := fmt.Sprintf("%s_%s_%s-%s.log", p.name, p.namespace, containerName, p.id)
	if err := os.Symlink(filepath.Join("/var/log/pods", podDir, containerName, "0.log"), filepath.Join(links, link)); err != nil {
		t.Fatal(err)
	}
	return p
}

// cgroups returns the pod's and the container's cgroup, relative to the
// hierarchy, below top, for the kubelet's cgroupfs or systemd driver.
func (p kubePod) cgroups(top string, systemd bool) (pod, ctr string) {
	if systemd {
		pod = top + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + strings.ReplaceAll(p.uid, "-", "_") + ".slice"
		return pod, pod + "/cri-containerd-" + p.id + ".scope"
	}
	pod = top + "/kubepods/burstable/pod" + p.uid
	return pod, pod + "/" + p.id
}

func checkAttribution(t *testing.T, got event.Owner, p kubePod, level event.Level) {
	t.Helper()
	want := event.Owner{
		PodUID: p.uid, PodName: p.name, Namespace: p.namespace,
		QoS: event.QoSBurstable, Level: level,
	}
	if level == event.LevelContainer {
		want.ID, want.Name = p.id, p.container
		if got.Runtime != "" {
			want.Runtime = got.Runtime // the systemd driver names it, cgroupfs does not
		}
	}
	if got != want {
		t.Errorf("attribution:\n got %+v\nwant %+v", got, want)
	}
}

// A kill in a Kubernetes-shaped cgroup tree names the pod, the container,
// the QoS class and the level of the limit that was hit, for both kubelet
// cgroup drivers, with the limit on the pod and on the container.
func TestKubernetesAttribution(t *testing.T) {
	h := requireRoot(t)
	for _, tc := range []struct {
		name     string
		systemd  bool
		podLimit bool // the pod's limit is hit, not the container's
	}{
		{"cgroupfs/pod-limit", false, true},
		{"systemd/container-limit", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newKubePod(t, "shop", "api-7d9", "api")
			top := memcg.UniqueName("oomtrace-e2e")
			podPath, ctrPath := p.cgroups(top, tc.systemd)
			createGroup(t, h, top, 0)
			podLimit, ctrLimit := int64(0), int64(32)
			if tc.podLimit {
				podLimit, ctrLimit = 40, 0
			}
			pod := createGroup(t, h, podPath, podLimit)
			ctr := createGroup(t, h, ctrPath, ctrLimit)
			tr := startTracer(t, "--output", "json", "--cgroup", "/"+top, "--host-root", p.hostRoot, namesWait)
			kmsg := openKmsg(t)

			cmd := hog(t, ctr, 80, memcg.HogOptions{Comm: "api-server"})
			waitSIGKILL(t, cmd)
			pid := cmd.Process.Pid
			ev := tr.waitKills(t, pid)[pid]
			oomCg, oomLevel, limitMiB := ctr.Path(), event.LevelContainer, ctrLimit
			if tc.podLimit {
				oomCg, oomLevel, limitMiB = pod.Path(), event.LevelPod, podLimit
			}
			checkKill(t, ev, kernelKill(t, kmsg, pid), want{
				pid: pid, comm: "api-server", victimCg: ctr.Path(), oomCg: oomCg, oomLimitMiB: limitMiB,
			})
			k := ev.OOMKill
			t.Logf("why: %s", k.Why)
			checkAttribution(t, k.Victim.Cgroup.Owner, p, event.LevelContainer)
			checkAttribution(t, k.OOMCgroup.Owner, p, oomLevel)
			for _, part := range []string{"container api", "pod shop/api-7d9", fmt.Sprintf("%d MiB", limitMiB), "memcg OOM"} {
				if !strings.Contains(k.Why, part) {
					t.Errorf("verdict %q does not say %q", k.Why, part)
				}
			}
			// The OOM cgroup still exists when the kill is reported: its
			// memory state is read right after the kill's line is written
			// (by then the victim's memory may already be freed, so the
			// values can be 0), and follows it.
			snap := tr.waitSnapshot(t, pid).OOMSnapshot
			t.Logf("snapshot: %s", snap.Why)
			if s := snap.Snapshot; s.Status != event.SnapshotOK || !s.Has(event.SnapAnon) || !s.Has(event.SnapFile) ||
				snap.OOMCgroup.Path != oomCg || snap.KillKtimeNS != ev.KtimeNS || snap.Class != event.ClassMemcg {
				t.Errorf("snapshot after the kill at %d in %s: %+v", ev.KtimeNS, oomCg, snap)
			}
			checkAttribution(t, snap.OOMCgroup.Owner, p, oomLevel)
			if !strings.Contains(snap.Why, "right after the kill of \"api-server\"") || !strings.Contains(snap.Why, "pod shop/api-7d9") {
				t.Errorf("snapshot's verdict %q", snap.Why)
			}
			if k.HasSnapshot {
				t.Errorf("the kill's own line waited for the snapshot: %+v", k.Snapshot)
			}
			if tc.podLimit != strings.Contains(k.Why, "pod-level limit") {
				t.Errorf("verdict %q: pod-level limit hit: %v", k.Why, tc.podLimit)
			}
			tr.stop(t)
		})
	}
}

// --filter-pod and --filter-container select by the names found.
func TestPodAndContainerFilters(t *testing.T) {
	h := requireRoot(t)
	p := newKubePod(t, "batch", "job-x", "worker")
	top := memcg.UniqueName("oomtrace-e2e")
	createGroup(t, h, top, 0)
	podPath, ctrPath := p.cgroups(top, false)
	createGroup(t, h, podPath, 0)
	ctr := createGroup(t, h, ctrPath, 32)
	args := []string{"--output", "json", "--cgroup", "/" + top, "--host-root", p.hostRoot, namesWait}
	match := []*tracer{
		startTracer(t, append(args, "--filter-pod", "batch/job-x")...),
		startTracer(t, append(args, "--filter-pod", p.uid, "--filter-container", p.id[:12])...),
		startTracer(t, append(args, "--filter-container", "worker")...),
	}
	other := []*tracer{
		startTracer(t, append(args, "--filter-pod", "batch/job-y")...),
		startTracer(t, append(args, "--filter-container", "sidecar")...),
	}

	cmd := hog(t, ctr, 64, memcg.HogOptions{Comm: "worker"})
	waitSIGKILL(t, cmd)
	for _, tr := range match {
		tr.waitKills(t, cmd.Process.Pid)
		tr.stop(t)
	}
	for i, tr := range other {
		for _, ev := range tr.stop(t) {
			if ev.Kind != event.KindLost {
				t.Errorf("tracer %d with a filter for another pod or container reported %s", i, ev.Kind)
				break
			}
		}
	}

	// The same selection, and grouping by pod and container, on the log.
	log := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(log, append(bytes.Join(match[2].lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, status := runBin(t, nil, "report", log)
	if status != 0 || !regexp.MustCompile(`(?m)^kills by pod and container\n.*\n\s+batch/job-x\s+worker\s+-\s+1\s`).MatchString(stdout) {
		t.Errorf("report: status %d, no kill of batch/job-x worker by pod and container:\n%s%s", status, stdout, stderr)
	}
	allow := allowSkipped(t, log)
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{[]string{"--filter-pod", "batch/job-x"}, 1},
		{[]string{"--filter-container", "worker"}, 1},
		{[]string{"--filter-pod", "batch/job-y"}, 0},
		{[]string{"--filter-container", "sidecar"}, 0},
	} {
		args := slices.Concat([]string{"gate", log, "--max-kills", "0"}, tc.args, allow)
		if stdout, stderr, status := runBin(t, nil, args...); status != tc.status {
			t.Errorf("oomtrace %v: status %d, want %d\n%s%s", args, status, tc.status, stdout, stderr)
		}
	}
}

// A kill in a cgroup deeper than the kernel side walks (16 levels) is
// reported with the deepest components of its path, without the leading
// slash and marked truncated, and names no owner: a pod's tree nested far
// enough below anyone's cgroups must not pass for that pod.
func TestDeepCgroupNamesNoOwner(t *testing.T) {
	h := requireRoot(t)
	p := newKubePod(t, "shop", "api-7d9", "api")
	top := memcg.UniqueName("oomtrace-e2e")
	nested := top
	createGroup(t, h, nested, 0)
	for i := 1; i <= 13; i++ {
		nested += fmt.Sprintf("/d%d", i)
		createGroup(t, h, nested, 0)
	}
	podPath, ctrPath := p.cgroups(nested, false)
	createGroup(t, h, nested+"/kubepods", 0)
	createGroup(t, h, nested+"/kubepods/burstable", 0)
	createGroup(t, h, podPath, 0)
	ctr := createGroup(t, h, ctrPath, 32)
	tr := startTracer(t, "--output", "json", "--host-root", p.hostRoot, namesWait)
	kmsg := openKmsg(t)

	cmd := hog(t, ctr, 64, memcg.HogOptions{Comm: "deep-hog"})
	waitSIGKILL(t, cmd)
	pid := cmd.Process.Pid
	ev := tr.waitKills(t, pid)[pid]
	k := kernelKill(t, kmsg, pid)

	// The kernel's own report has the whole path.
	full := strings.Split(strings.TrimPrefix(k.Summary.TaskMemcg, "/"), "/")
	if k.Summary.TaskMemcg != ctr.Path() || len(full) <= 16 {
		t.Fatalf("kernel report: task_memcg %q, want %q, deeper than 16 levels", k.Summary.TaskMemcg, ctr.Path())
	}
	deepest := strings.Join(full[len(full)-16:], "/")
	kill := ev.OOMKill
	for name, cg := range map[string]*event.Cgroup{"victim's cgroup": &kill.Victim.Cgroup, "OOM cgroup": &kill.OOMCgroup} {
		if cg.Path != deepest || !cg.Truncated || !cg.TopMissing() {
			t.Errorf("%s: path %q truncated %v, want %q without its top", name, cg.Path, cg.Truncated, deepest)
		}
		if !cg.Owner.IsZero() {
			t.Errorf("%s %q: owner %+v, want none", name, cg.Path, cg.Owner)
		}
	}
	if kill.Class != event.ClassMemcg || strings.Contains(kill.Why, "of pod ") || strings.Contains(kill.Why, "container api") ||
		!strings.Contains(kill.Why, "…\""+deepest+"\"") {
		t.Errorf("class %v, verdict %q: want a memcg OOM in the path without its top, naming no pod or container", kill.Class, kill.Why)
	}
	t.Logf("why: %s", kill.Why)
	tr.stop(t)
}
