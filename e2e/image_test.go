package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/oomtrace/oomtrace/internal/kernlog"
)

// The shipped image, built here by make image and run the way the DaemonSet
// runs it.

const agentImageName = "localhost/oomtrace-e2e"

// builtImage is the image make image built, in a Podman store of the test's
// own.
type builtImage struct {
	podman *engine
	tag    string // for this machine's architecture
	dir    string // make's IMAGE_DIR: linux-ARCH/oomtrace, oomtrace-ARCH.tar
}

// makeImage runs make image for amd64 and arm64 into a temporary
// directory and a Podman store of the test's own.
func makeImage(t *testing.T) builtImage {
	t.Helper()
	requireTool(t, "make", "make")
	p, _ := startPodman(t)
	dir := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "image", "IMAGE="+agentImageName, "VERSION=e2e",
		"IMAGE_DIR="+dir, "PODMAN="+p.bin+" "+strings.Join(p.args, " "))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image (amd64 and arm64) took %v", time.Since(start).Round(time.Second))
	return builtImage{podman: p, tag: agentImageName + ":e2e-" + runtime.GOARCH, dir: dir}
}

// The image holds one static binary for its architecture and nothing else,
// for amd64 and arm64, and Docker 20.10 loads both offline.
func TestImageBuild(t *testing.T) {
	requireRoot(t)
	img := makeImage(t)
	d := startDockerd(t)
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		bin := filepath.Join(img.dir, "linux-"+arch, "oomtrace")
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		static := !slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		if f.Machine != machine || !static {
			t.Errorf("%s: machine %v, static %v; want %v, static", bin, f.Machine, static, machine)
		}
		f.Close()

		archive := filepath.Join(img.dir, "oomtrace-"+arch+".tar")
		if files := imageFiles(t, archive); !slices.Equal(files, []string{"oomtrace"}) {
			t.Errorf("%s holds %v, want only oomtrace", archive, files)
		}
		if out := d.must(t, "load", "-i", archive); !strings.Contains(out, "Loaded image") {
			t.Errorf("docker load %s: %s", archive, out)
		}
		tag := agentImageName + ":e2e-" + arch
		got := d.must(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}", tag)
		if want := `linux/` + arch + ` ["/oomtrace"] ["serve"]`; got != want {
			t.Errorf("docker image inspect %s: %s, want %s", tag, got, want)
		}
		got = img.podman.must(t, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", tag)
		if got != "linux/"+arch {
			t.Errorf("podman image inspect %s: %s", tag, got)
		}
	}
	// The image of this machine's architecture runs.
	run := append(append([]string{"run", "--rm"}, img.podman.run...), img.tag, "version")
	if out := img.podman.must(t, run...); !strings.HasPrefix(out, "oomtrace ") {
		t.Errorf("oomtrace version in the image: %q", out)
	}
}

// imageFiles lists the regular files in the layers of a docker-archive.
func imageFiles(t *testing.T, archive string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var files []string
	outer := tar.NewReader(f)
	for {
		h, err := outer.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, ".tar") {
			continue
		}
		layer := tar.NewReader(outer)
		for {
			lh, err := layer.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if lh.Typeflag == tar.TypeReg {
				files = append(files, strings.TrimPrefix(lh.Name, "./"))
			}
		}
	}
	return files
}

// daemonSet is what the manifest says about running the agent.
type daemonSet struct {
	container corev1.Container
	pod       corev1.PodSpec
}

func readDaemonSet(t *testing.T) daemonSet {
	t.Helper()
	raw, err := os.ReadFile("../deploy/kubernetes/oomtrace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind != "DaemonSet" {
			continue
		}
		var ds appsv1.DaemonSet
		if err := yaml.UnmarshalStrict(doc, &ds); err != nil {
			t.Fatal(err)
		}
		spec := ds.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Fatalf("%d containers in the DaemonSet, want 1", len(spec.Containers))
		}
		return daemonSet{container: spec.Containers[0], pod: spec}
	}
	t.Fatal("no DaemonSet in deploy/kubernetes/oomtrace.yaml")
	return daemonSet{}
}

// capabilities are the capabilities the manifest adds.
func (ds daemonSet) capabilities(t *testing.T) []string {
	t.Helper()
	sc := ds.container.SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatal("the manifest does not drop ALL capabilities")
	}
	var caps []string
	for _, c := range sc.Capabilities.Add {
		caps = append(caps, string(c))
	}
	return caps
}

// podmanFlags translates the manifest's way of running the agent into
// podman run flags: the host PID namespace, the user, no privilege
// escalation, a read-only root file system (without the tmpfs Podman would
// add), the memory limit, the environment, the seccomp profile (none: the
// kubelet's default is unconfined), exactly the capabilities caps after
// dropping all, and the mounts, read-only where the manifest says so, with
// the kubelet's directories (below /var/log) taken from hostRoot. Its own
// network namespace, like a pod's, holds only loopback.
func (ds daemonSet) podmanFlags(t *testing.T, caps []string, hostRoot string) []string {
	t.Helper()
	c, sc := ds.container, ds.container.SecurityContext
	flags := []string{"--cap-drop", "all"} // and --network none, as every container here
	for _, cap := range caps {
		flags = append(flags, "--cap-add", "CAP_"+cap)
	}
	if ds.pod.HostPID {
		flags = append(flags, "--pid", "host")
	}
	if sc.RunAsUser != nil {
		flags = append(flags, "--user", strconv.FormatInt(*sc.RunAsUser, 10))
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		flags = append(flags, "--security-opt", "no-new-privileges")
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		flags = append(flags, "--read-only", "--read-only-tmpfs=false")
	}
	if sc.SeccompProfile == nil && (ds.pod.SecurityContext == nil || ds.pod.SecurityContext.SeccompProfile == nil) {
		flags = append(flags, "--security-opt", "seccomp=unconfined")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Fatal("the manifest runs the agent privileged")
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		flags = append(flags, "--memory", strconv.FormatInt(mem.Value(), 10))
	}
	for _, e := range c.Env {
		flags = append(flags, "--env", e.Name+"="+e.Value)
	}
	hostPaths := map[string]string{}
	for _, v := range ds.pod.Volumes {
		if v.HostPath == nil {
			t.Fatalf("volume %s is not a hostPath", v.Name)
		}
		hostPaths[v.Name] = v.HostPath.Path
	}
	for _, m := range c.VolumeMounts {
		src, ok := hostPaths[m.Name]
		if !ok {
			t.Fatalf("mount of unknown volume %s", m.Name)
		}
		if strings.HasPrefix(src, "/var/log/") {
			src = filepath.Join(hostRoot, src)
		}
		opt := ""
		if m.ReadOnly {
			opt = ":ro"
		}
		flags = append(flags, "--volume", src+":"+m.MountPath+opt)
	}
	return flags
}

// agentRun is the image running as the DaemonSet runs it.
type agentRun struct {
	p    *engine
	name string
	pid  int // its main process, on the host
}

// startAgent runs the image with the manifest's flags and arguments and
// caps, and waits until /readyz answers 200. It returns false, with the
// agent's log, when the agent exits first.
func startAgent(t *testing.T, img builtImage, ds daemonSet, caps []string, hostRoot string, extra ...string) (agentRun, string, bool) {
	t.Helper()
	a := agentRun{p: img.podman, name: "oomtrace-agent-" + strings.ToLower(strings.Join(caps, "-"))}
	if len(a.name) > 60 {
		a.name = a.name[:60]
	}
	flags := append(ds.podmanFlags(t, caps, hostRoot), extra...)
	args := append(append([]string{}, ds.container.Command...), ds.container.Args...)
	a.p.start(t, a.name, flags, img.tag, args...)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		st := a.p.inspect(t, a.name)
		if !st.State.Running {
			logs := a.p.logs(a.name)
			return a, logs, false
		}
		a.pid = st.State.Pid
		if code, _ := a.get("/readyz"); code == http.StatusOK {
			return a, "", true
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs := a.p.logs(a.name)
	t.Fatalf("agent %s not ready after 2 minutes:\n%s", a.name, logs)
	return a, "", false
}

// stop stops the agent and removes it.
func (a agentRun) stop(t *testing.T) {
	t.Helper()
	a.p.cmd("rm", "-f", "-t", "5", a.name)
}

// metricsPort is where the manifest has the agent listen, in its network
// namespace.
const metricsPort = "9789"

// get fetches path from the agent's listener, which is in the agent's own
// network namespace: the connection is made from there.
func (a agentRun) get(path string) (int, []byte) {
	// One connection a request, closed after it: a transport left with
	// its connection idle would hold it, and the agent serves an address
	// 16 connections at once.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialInNetns(a.pid), DisableKeepAlives: true}}
	resp, err := client.Get("http://127.0.0.1:" + metricsPort + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a agentRun) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := a.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("agent /metrics: status %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// dialInNetns dials from the network namespace of process pid: the socket
// is made on a thread that joined that namespace, and belongs to it for
// good. The thread goes back to its own namespace after, or is dropped.
func dialInNetns(pid int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			own, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				runtime.UnlockOSThread()
				done <- result{err: err}
				return
			}
			defer own.Close()
			target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
			if err != nil {
				runtime.UnlockOSThread()
				done <- result{err: err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				done <- result{err: fmt.Errorf("join the network namespace of %d: %w", pid, err)}
				return
			}
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			done <- result{conn, err}
		}()
		r := <-done
		return r.conn, r.err
	}
}

// kubeNode lays out what the kubelet leaves on a node for one pod whose
// containers run under Docker with the kubelet's cgroupfs layout (Docker's
// --cgroup-parent set to the pod's cgroup): the cgroup parent, and the log
// directory and links the agent names pods and containers from.
type kubeNode struct {
	d                        *dockerd
	kmsg                     *kernlog.Reader
	top                      string // the test's top cgroup, removed at the end
	namespace, pod, uid, qos string
}

func newKubeNode(t *testing.T, d *dockerd) kubeNode {
	t.Helper()
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	u := hex.EncodeToString(raw)
	n := kubeNode{d: d, kmsg: openKmsg(t), top: fmt.Sprintf("oomtrace-e2e-%d-%s", os.Getpid(), u[:8]),
		namespace: "shop", pod: "api-7d9", qos: "burstable",
		uid: fmt.Sprintf("%s-%s-%s-%s-%s", u[:8], u[8:12], u[12:16], u[16:20], u[20:])}
	t.Cleanup(removeNewCgroups(t, n.top))
	for _, dir := range []string{"var/log/pods", "var/log/containers"} {
		if err := os.MkdirAll(filepath.Join(d.hostRoot, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// run starts a container of the pod, under the pod's cgroup, with the
// kubelet's log link for it, and returns its ID.
func (n kubeNode) run(t *testing.T, name string, flags []string, command ...string) string {
	t.Helper()
	parent := fmt.Sprintf("/%s/kubepods/%s/pod%s", n.top, n.qos, n.uid)
	args := append([]string{"create", "--name", name, "--cgroup-parent", parent}, flags...)
	id := n.d.must(t, append(append(args, hogImage), command...)...)
	t.Cleanup(func() { n.d.cmd("rm", "-f", id) })
	podDir := fmt.Sprintf("%s_%s_%s", n.namespace, n.pod, n.uid)
	logDir := filepath.Join(n.d.hostRoot, "var/log/pods", podDir, name)
	links := filepath.Join(n.d.hostRoot, "var/log/containers")
	for _, dir := range []string{logDir, links} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(logDir, "0.log"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	link := fmt.Sprintf("%s_%s_%s-%s.log", n.pod, n.namespace, name, id)
	if err := os.Symlink(filepath.Join("/var/log/pods", podDir, name, "0.log"), filepath.Join(links, link)); err != nil {
		t.Fatal(err)
	}
	n.d.must(t, "start", id)
	return id
}

// oomKill runs a container of the pod whose main process needs 64 MiB
// where 32 are allowed, waits for it, and checks the kernel's report of the
// kill against what Docker says.
func (n kubeNode) oomKill(t *testing.T, name string) {
	t.Helper()
	comm := name[:min(len(name), 15)]
	n.run(t, name, []string{"--memory", "32m"}, "sh", "-c", "sleep 1; "+hogCommand(comm, 64, true))
	pid := n.d.mainPID(t, name)
	st := n.d.wait(t, name)
	checkRuntimeFlag(t, "docker", name, st, kernelKillOf(t, n.kmsg, pid, comm), 137)
}

// kills sums oomtrace_oom_kills_total for the pod's container, by class.
func (n kubeNode) kills(t *testing.T, a agentRun, container string) map[string]float64 {
	t.Helper()
	byClass := map[string]float64{}
	for _, m := range a.metrics(t)["oomtrace_oom_kills_total"].GetMetric() {
		l := labelsOf(m)
		if l["container"] == container && l["pod"] == n.pod && l["namespace"] == n.namespace {
			byClass[l["class"]] += m.GetCounter().GetValue()
		}
	}
	return byClass
}

// waitKills polls the agent's metrics until the container's memcg kills
// reach want or 15 s pass.
func (n kubeNode) waitKills(t *testing.T, a agentRun, container string, want float64) map[string]float64 {
	t.Helper()
	var got map[string]float64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = n.kills(t, a, container); got["memcg"] >= want {
			break
		}
	}
	return got
}

// boundingCaps are the capabilities in this process's bounding set: a
// container cannot be given any other.
func boundingCaps(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var mask uint64
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if mask, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				t.Fatal(err)
			}
		}
	}
	names := map[string]int{"DAC_READ_SEARCH": 2, "SYS_ADMIN": 21, "SYS_PTRACE": 19, "SYS_RESOURCE": 24, "SYSLOG": 34,
		"PERFMON": 38, "BPF": 39, "DAC_OVERRIDE": 1, "IPC_LOCK": 14, "NET_ADMIN": 12, "SYS_CHROOT": 18}
	caps := map[string]bool{}
	for name, bit := range names {
		caps[name] = mask&(1<<bit) != 0
	}
	return caps
}

// imageSetUp is what the image's tests start from: the image built, the
// manifest read, a Docker engine with the hog's image, a Kubernetes-shaped
// node on it, and the host's capability bounding set.
func imageSetUp(t *testing.T) (builtImage, daemonSet, *dockerd, kubeNode, map[string]bool) {
	t.Helper()
	img := makeImage(t)
	ds := readDaemonSet(t)
	d := startDockerd(t)
	d.importImage(t, hogRootfs(t, t.TempDir()), hogImage)
	node := newKubeNode(t, d)
	bounding := boundingCaps(t)
	return img, ds, d, node, bounding
}

// The image, run with exactly the manifest's privileges (capabilities,
// read-only host mounts, the host's PID namespace, a read-only root file
// system, nothing else), catches an OOM in a sibling container of a pod,
// names it and counts it on /metrics. Each capability the manifest lists is
// taken away in turn: the test fails for one the agent does without, and
// for a missing one it names the capability that would have helped.
func TestImageDaemonSet(t *testing.T) {
	requireRoot(t)
	img, ds, d, node, bounding := imageSetUp(t)

	var caps, ungrantable []string
	for _, c := range ds.capabilities(t) {
		if known, ok := bounding[c]; ok && !known {
			ungrantable = append(ungrantable, c)
			continue
		}
		caps = append(caps, c)
	}
	for _, c := range ungrantable {
		t.Logf("CAP_%s is listed in the manifest but is not in this host's capability bounding set: no container gets it here; the agent runs without it", c)
	}

	// With the manifest's capabilities.
	a, logs, ok := startAgent(t, img, ds, caps, d.hostRoot)
	if !ok {
		t.Errorf("the agent exits with the manifest's capabilities %v:\n%s", caps, logs)
		for _, extra := range []string{"SYS_ADMIN", "SYS_PTRACE", "DAC_OVERRIDE", "IPC_LOCK", "SYS_RESOURCE"} {
			if !bounding[extra] || slices.Contains(caps, extra) {
				continue
			}
			if b, _, ok := startAgent(t, img, ds, append(slices.Clone(caps), extra), d.hostRoot); ok {
				t.Errorf("with CAP_%s added the agent starts: the manifest misses it", extra)
				b.stop(t)
			}
		}
		t.FailNow()
	}
	node.oomKill(t, "api")
	if got := node.waitKills(t, a, "api", 1); got["memcg"] != 1 || len(got) != 1 {
		t.Errorf("the agent counted %v for container api of pod shop/api-7d9, want 1 memcg kill", got)
	}
	logs = a.p.logs(a.name)
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("the agent logged errors:\n%s", logs)
	}
	baseline := warnings(logs)
	t.Logf("the agent's warnings with the manifest's capabilities: %q", baseline)
	a.stop(t)

	// Without each capability in turn.
	for _, missing := range caps {
		without := slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == missing })
		b, logs, ok := startAgent(t, img, ds, without, d.hostRoot)
		if !ok {
			lines := strings.Split(strings.TrimSpace(logs), "\n")
			t.Logf("without CAP_%s the agent does not start: %s", missing, lines[len(lines)-1])
			continue
		}
		container := "api-no-" + strings.ToLower(strings.ReplaceAll(missing, "_", "-"))
		node.oomKill(t, container)
		got := node.waitKills(t, b, container, 1)
		logs = b.p.logs(b.name)
		b.stop(t)
		extra := slices.DeleteFunc(warnings(logs), func(w string) bool { return slices.Contains(baseline, w) })
		if got["memcg"] == 1 && len(got) == 1 && len(extra) == 0 {
			t.Errorf("CAP_%s is listed in the manifest, but without it the agent starts, names and counts the kill as with it, and warns of nothing more", missing)
			continue
		}
		t.Logf("without CAP_%s the agent counts %v for the kill of container %s (with it: 1 memcg kill), and warns %q", missing, got, container, extra)
	}
}

// warnings are the messages, without their times, of the log lines of
// level WARN and above.
func warnings(logs string) []string {
	var out []string
	for line := range strings.SplitSeq(logs, "\n") {
		if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
			continue
		}
		if _, msg, ok := strings.Cut(line, " level="); ok {
			out = append(out, "level="+msg)
		}
	}
	return out
}

// The image under a 64 MiB memory limit lives through a storm of OOM kills
// and reclaim in its neighbours (three waves of ten containers of a pod,
// each needing 64 MiB where 32 are allowed) without being OOM-killed
// itself, counts every kill, loses nothing, and says so in its metrics: the
// same process start time as before the storm, and its own cgroup's peak
// below the limit.
func TestImageMemoryLimited(t *testing.T) {
	requireRoot(t)
	img, ds, d, node, bounding := imageSetUp(t)
	caps := slices.DeleteFunc(ds.capabilities(t), func(c string) bool { known, ok := bounding[c]; return ok && !known })
	const limit = 64 << 20
	a, logs, ok := startAgent(t, img, ds, caps, d.hostRoot, "--memory", strconv.Itoa(limit))
	if !ok {
		t.Fatalf("the agent does not start under a 64 MiB limit:\n%s", logs)
	}
	gauge := func(families map[string]*dto.MetricFamily, name string) float64 {
		f := families[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("no %s in the agent's metrics", name)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	before := a.metrics(t)
	started := gauge(before, "process_start_time_seconds")
	if got := gauge(before, "oomtrace_agent_memory_limit_bytes"); got != limit {
		t.Fatalf("oomtrace_agent_memory_limit_bytes %v, want %d", got, limit)
	}
	kmsg := openKmsg(t)

	const waves, perWave = 3, 10
	stormStart := time.Now()
	var names []string
	var dockerFlagged int
	for w := range waves {
		gate := t.TempDir()
		var wave []string
		pids := map[string]int{}
		for i := range perWave {
			name := fmt.Sprintf("storm%d-%d", w, i)
			node.run(t, name, []string{"--memory", "32m", "-v", gate + ":/gate:ro"}, "sh", "-c",
				"while [ ! -e /gate/go ]; do sleep 0.05; done; "+hogCommand(name, 64, true))
			wave = append(wave, name)
		}
		for _, name := range wave {
			pids[name] = d.mainPID(t, name)
		}
		if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range wave {
			st := d.wait(t, name)
			if checkRuntimeFlag(t, "docker", name, st, kernelKillOf(t, kmsg, pids[name], name), 137) {
				dockerFlagged++
			}
		}
		names = append(names, wave...)
	}
	t.Logf("%d kills in %v (the kernel's reports; docker inspect flagged %d)", len(names), time.Since(stormStart).Round(time.Millisecond), dockerFlagged)

	var counted float64
	var after map[string]*dto.MetricFamily
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		counted = 0
		for _, name := range names {
			counted += node.kills(t, a, name)["memcg"]
		}
		if counted >= float64(len(names)) {
			break
		}
	}
	after = a.metrics(t)
	if counted != float64(len(names)) {
		t.Errorf("the agent counted %v kills of the storm's containers, want %d", counted, len(names))
	}
	if lost := after["oomtrace_events_lost_total"].GetMetric()[0].GetCounter().GetValue(); lost != 0 {
		t.Errorf("%v events lost", lost)
	}
	st := a.p.inspect(t, a.name)
	if !st.State.Running || st.State.OOMKilled || st.State.Pid != a.pid {
		t.Errorf("podman says the agent: running %v, OOMKilled %v, pid %d (was %d)", st.State.Running, st.State.OOMKilled, st.State.Pid, a.pid)
	}
	if got := gauge(after, "process_start_time_seconds"); got != started {
		t.Errorf("the agent's process_start_time_seconds went from %v to %v: it was restarted", started, got)
	}
	peak := gauge(after, "oomtrace_agent_memory_max_usage_bytes")
	rss := gauge(after, "process_resident_memory_bytes")
	if peak >= limit {
		t.Errorf("the agent's cgroup peaked at %v bytes, at its limit %d", peak, limit)
	}
	t.Logf("the agent's memory cgroup peaked at %.1f MiB of 64 MiB; resident %.1f MiB", peak/(1<<20), rss/(1<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if k, err := kmsg.WaitKill(ctx, a.pid); err == nil {
		t.Errorf("the kernel reports an OOM kill of the agent: %+v", k)
	}
}
