package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
)

// The tests in this file hold oomtrace against real container engines:
// Debian's Docker (dockerd, containerd, runc) and Podman (conmon, runc).
// Each starts what it needs in temporary directories (a dockerd with its own
// data root, exec root, socket and pid file, and no network setup; Podman
// with its own storage), builds its images offline from busybox-static and
// a static oomtrace (which is the memory hog too: see memcg.HogMain), and
// removes every container, image and daemon it started.
//
// The engines keep their state below a temporary host root, where oomtrace
// is pointed with --host-root, as the DaemonSet points it at the host's.

// requireTool returns the path of a program a test needs. Without it the
// test fails when $CI is "true" (a CI run must not pass green without the
// test) and skips otherwise.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: apt-get install %s (.ci/run installs it)", name, pkg)
		}
		t.Skipf("%s not found (apt-get install %s); with CI=true this fails", name, pkg)
	}
	return path
}

// isStatic reports whether the executable at path needs no dynamic loader,
// so that it runs in an image with nothing else in it.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// staticOomtrace returns a statically linked oomtrace: the binary under test
// when it is one, else the same sources built with CGO_ENABLED=0 into dir.
func staticOomtrace(t *testing.T, dir string) string {
	t.Helper()
	if ok, err := isStatic(oomtraceBin); err != nil {
		t.Fatal(err)
	} else if ok {
		return oomtraceBin
	}
	out := filepath.Join(dir, "oomtrace-static")
	build := exec.Command("go", "build", "-o", out, "../cmd/oomtrace")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static oomtrace: %v\n%s", err, b)
	}
	return out
}

// hogRootfs lays out the root file system of the test image in dir: a
// static busybox with the applets the tests use, and oomtrace as /bin/hog.
func hogRootfs(t *testing.T, dir string) string {
	t.Helper()
	busybox := requireTool(t, "busybox", "busybox-static")
	if ok, err := isStatic(busybox); err != nil || !ok {
		t.Fatalf("%s is not a static busybox (%v): apt-get install busybox-static", busybox, err)
	}
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "etc", "gate"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, busybox, filepath.Join(root, "bin/busybox"), 0o755)
	for _, applet := range []string{"sh", "sleep", "echo", "cat", "kill", "env", "test", "["} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, staticOomtrace(t, dir), filepath.Join(root, "bin/hog"), 0o755)
	return root
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// hogCommand is a shell command, for sh -c in the test image, that runs the
// memory hog (oomtrace itself, see memcg.HogMain): it names itself comm,
// allocates mib MiB and sleeps. Its go-ahead byte comes from /dev/zero.
// With replace the shell execs it: the hog is the container's main process.
func hogCommand(comm string, mib int, replace bool) string {
	exec := ""
	if replace {
		exec = "exec "
	}
	return fmt.Sprintf("OOMTRACE_HOG_MIB=%d OOMTRACE_HOG_COMM=%s %s/bin/hog 3</dev/zero", mib, comm, exec)
}

// engine is a container engine's command line: docker against the test's
// own daemon, or podman with the test's own storage.
type engine struct {
	name string   // "docker" or "podman"
	bin  string   // the client
	args []string // before every command: where the engine's state is
	// run are the flags every container gets.
	run []string
	// dir is where the client runs: conmon leaves a file named "oom" in
	// its working directory when a container's cgroup had an OOM kill.
	dir string
}

// cmd runs the engine's client with args and returns its stdout.
func (e *engine) cmd(args ...string) (string, error) {
	c := exec.Command(e.bin, append(append([]string{}, e.args...), args...)...)
	c.Dir = e.dir
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", e.name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// logs returns what the container wrote, stdout and stderr together.
func (e *engine) logs(name string) string {
	c := exec.Command(e.bin, append(append([]string{}, e.args...), "logs", name)...)
	c.Dir = e.dir
	out, _ := c.CombinedOutput()
	return string(out)
}

func (e *engine) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.cmd(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// importImage makes image name from the directory rootfs, offline.
func (e *engine) importImage(t *testing.T, rootfs, name string) {
	t.Helper()
	tar := exec.Command("tar", "-C", rootfs, "-c", ".")
	imp := exec.Command(e.bin, append(append([]string{}, e.args...), "import", "-", name)...)
	imp.Dir = e.dir
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := imp.Run(); err != nil {
		t.Fatalf("%s import: %v\n%s", e.name, err, stderr.String())
	}
	if err := tar.Wait(); err != nil {
		t.Fatal(err)
	}
}

// start runs a detached container named name with flags, image and
// command, removed (with force) when the test ends, and returns its ID.
func (e *engine) start(t *testing.T, name string, flags []string, image string, command ...string) string {
	t.Helper()
	args := append([]string{"run", "-d", "--name", name}, e.run...)
	args = append(append(args, flags...), image)
	id := e.must(t, append(args, command...)...)
	t.Cleanup(func() { e.cmd("rm", "-f", id) })
	return id
}

// containerState is what the engine says about a container, in the fields
// Docker and Podman share.
type containerState struct {
	ID    string
	State struct {
		Status    string
		Running   bool
		OOMKilled bool
		Pid       int
		ExitCode  int
	}
}

func (e *engine) inspect(t *testing.T, name string) containerState {
	t.Helper()
	// Podman reads the container's process as it inspects it, and fails
	// ("read /proc/PID/cgroup: no such process") when that process exits
	// in between: once the container has stopped, it inspects it whole.
	out, err := e.cmd("inspect", "--type", "container", name)
	for try := 0; err != nil && strings.Contains(err.Error(), "no such process") && try < 10; try++ {
		time.Sleep(100 * time.Millisecond)
		out, err = e.cmd("inspect", "--type", "container", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	var states []containerState
	if err := json.Unmarshal([]byte(out), &states); err != nil || len(states) != 1 {
		t.Fatalf("%s inspect %s: %v\n%s", e.name, name, err, out)
	}
	return states[0]
}

// wait waits until the container has exited and returns what the engine
// says of it then.
func (e *engine) wait(t *testing.T, name string) containerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, e.bin, append(append([]string{}, e.args...), "wait", name)...)
	c.Dir = e.dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s wait %s: %v\n%s", e.name, name, err, out)
	}
	return e.inspect(t, name)
}

// mainPID waits until the container runs and returns the host pid of its
// main process, as the engine reports it. The container must run long
// enough to be seen running (a second's sleep before the work does).
func (e *engine) mainPID(t *testing.T, name string) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s := e.inspect(t, name); s.State.Running && s.State.Pid > 0 {
			return s.State.Pid
		}
	}
	t.Fatalf("%s container %s is not running", e.name, name)
	return 0
}

// dockerd is a Docker engine of the test's own: its state below
// hostRoot/var/lib/docker, where oomtrace --host-root hostRoot finds it.
type dockerd struct {
	engine
	hostRoot string
	proc     *exec.Cmd
	log      bytes.Buffer
}

// startDockerd starts a dockerd that sets up no network, and stops it, with
// everything it ran, when the test ends.
func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	bin := requireTool(t, "dockerd", "docker.io")
	// The client of the same package as the daemon, where it is.
	client := filepath.Join(filepath.Dir(filepath.Dir(bin)), "bin", "docker")
	if _, err := os.Stat(client); err != nil {
		client = requireTool(t, "docker", "docker.io")
	}
	dir := t.TempDir()
	d := &dockerd{hostRoot: filepath.Join(dir, "host")}
	run := filepath.Join(dir, "run")
	for _, p := range []string{run, filepath.Join(d.hostRoot, "var/lib/docker")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(run, "docker.sock")
	d.engine = engine{name: "docker", bin: client, args: []string{"-H", "unix://" + sock}, dir: dir}
	d.proc = exec.Command(bin,
		"--data-root", filepath.Join(d.hostRoot, "var/lib/docker"),
		"--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+sock,
		"--pidfile", filepath.Join(run, "docker.pid"),
		// Its own namespaces in a containerd it may share with a system
		// Docker (it starts its own when none runs).
		"--containerd-namespace", fmt.Sprintf("oomtrace-e2e-%d", os.Getpid()),
		"--containerd-plugins-namespace", fmt.Sprintf("oomtrace-e2e-%d-plugins", os.Getpid()),
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false", "--ip-masq=false")
	d.proc.Stdout, d.proc.Stderr = &d.log, &d.log
	// Its own process group: the containerd it starts is stopped with it.
	d.proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	removeNewDirs(t, "/run/docker", "/run/runc", "/var/run/docker")
	removeCgroups := removeNewCgroups(t, "docker")
	if err := d.proc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.proc.Wait() }()
	t.Cleanup(func() {
		// Containers first, then images, then the daemon and its containerd.
		if ids, err := d.cmd2("ps", "-aq"); err == nil && ids != "" {
			d.cmd2(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		if ids, err := d.cmd2("images", "-q"); err == nil && ids != "" {
			d.cmd2(append([]string{"rmi", "-f"}, strings.Fields(ids)...)...)
		}
		syscall.Kill(d.proc.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-d.proc.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		unmountBelow(t, dir)
		removeCgroups()
		if t.Failed() {
			t.Logf("dockerd log:\n%s", d.log.String())
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := d.cmd2("version"); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("dockerd exited: %v\n%s", err, d.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd not up after a minute:\n%s", d.log.String())
		}
	}
	return d
}

// cmd2 is engine.cmd with the output trimmed.
func (d *dockerd) cmd2(args ...string) (string, error) {
	out, err := d.engine.cmd(args...)
	return strings.TrimSpace(out), err
}

// unmountBelow unmounts whatever an engine left mounted below dir, deepest
// first, so that the test's temporary directory can be removed.
func unmountBelow(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Error(err)
		return
	}
	var mounts []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			t.Errorf("unmount %s: %v", mounts[i], err)
		}
	}
}

// removeNewCgroups removes the cgroup directory name (an engine's parent
// cgroup, "docker" or "libpod_parent") from every hierarchy where it did not
// exist before: call it before the engine runs, and what it returns when
// the engine is gone. Cgroups that still hold processes stay, and fail the
// test.
func removeNewCgroups(t *testing.T, name string) func() {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", name))
	if err != nil {
		t.Fatal(err)
	}
	existed := map[string]bool{}
	for _, d := range dirs {
		existed[d] = true
	}
	return func() {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", name))
		for _, d := range dirs {
			if existed[d] {
				continue
			}
			// Deepest first: a cgroup directory is removed with rmdir once
			// its children are.
			var all []string
			filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					all = append(all, path)
				}
				return nil
			})
			for i := len(all) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(all[i]); err != nil {
					t.Errorf("remove cgroup %s: %v", all[i], err)
				}
			}
		}
	}
}

// removeNewDirs removes those of paths that did not exist when it was
// called, once the test ends: what an engine makes outside the directories
// it was given (runc's and Podman's state roots, Docker's plugin directory).
func removeNewDirs(t *testing.T, paths ...string) {
	t.Helper()
	var fresh []string
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			fresh = append(fresh, p)
		}
	}
	t.Cleanup(func() {
		for _, p := range fresh {
			if err := os.RemoveAll(p); err != nil {
				t.Errorf("remove %s: %v", p, err)
			}
		}
	})
}

// dockerEvent is one line of docker events --format '{{json .}}'.
type dockerEvent struct {
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
}

// events returns the container events Docker reported for the container
// id since since.
func (d *dockerd) events(t *testing.T, id string, since time.Time) []dockerEvent {
	t.Helper()
	out := d.must(t, "events", "--since", strconv.FormatInt(since.Add(-time.Second).Unix(), 10),
		"--until", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		"--filter", "type=container", "--filter", "container="+id, "--format", "{{json .}}")
	var events []dockerEvent
	for line := range strings.SplitSeq(out, "\n") {
		if line == "" {
			continue
		}
		var ev dockerEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("docker events: %v in %q", err, line)
		}
		events = append(events, ev)
	}
	return events
}

// actions lists the actions of events, with the signal of a kill and the
// exit code of a die: "kill 15", "die 137", "oom".
func actions(events []dockerEvent) []string {
	var out []string
	for _, ev := range events {
		a := ev.Action
		switch a {
		case "kill":
			a += " " + ev.Actor.Attributes["signal"]
		case "die":
			a += " " + ev.Actor.Attributes["exitCode"]
		case "oom", "stop":
		default:
			continue
		}
		out = append(out, a)
	}
	return out
}

// runtimeKill is what the test holds an oom_kill against: the engine's
// container, the victim's name, and the limit that was hit.
type runtimeKill struct {
	engine      string // "docker", "podman"
	id, name    string // the container, as the engine reports it
	comm        string
	pid         int    // when the test knows it beforehand, else 0
	oomCgroup   string // the cgroup whose limit was hit
	limitMiB    int64
	mainSurvive bool // the victim is a child, and the main process lives on
}

// containerCgroup is where the engine puts a container with the default
// cgroup parent, as the kernel names it.
func containerCgroup(engine, id string) string {
	if engine == "podman" {
		return "/libpod_parent/libpod-" + id
	}
	return "/docker/" + id
}

// waitContainerKill waits for oomtrace's oom_kill of a process named comm in
// the container id and returns it.
func (tr *tracer) waitContainerKill(t *testing.T, id, comm string) event.Event {
	t.Helper()
	return tr.waitFor(t, fmt.Sprintf("oom_kill of %q in container %.12s", comm, id), 30*time.Second, func(ev *event.Event) bool {
		return ev.Kind == event.KindOOMKill && !ev.OOMKill.VictimExiting &&
			ev.OOMKill.Victim.Cgroup.Owner.ID == id && ev.OOMKill.Victim.Comm == comm
	})
}

// checkRuntimeKill holds oomtrace's kill against the kernel's report and
// against the engine's own account of the container, and returns the
// kernel's report.
func checkRuntimeKill(t *testing.T, ev event.Event, kmsg *kernlog.Reader, w runtimeKill) kernlog.Kill {
	t.Helper()
	k := ev.OOMKill
	v := k.Victim
	if w.pid != 0 && int(v.TGID) != w.pid {
		t.Errorf("victim pid %d, the engine's %d", v.TGID, w.pid)
	}
	kk := kernelKillOf(t, kmsg, int(v.TGID), w.comm)
	if kk.Comm != w.comm || v.Comm != w.comm || kernelClass(kk) != event.ClassMemcg || k.Class != event.ClassMemcg {
		t.Errorf("victim %q class %s; kernel %q class %s; want %q, memcg", v.Comm, k.Class, kk.Comm, kernelClass(kk), w.comm)
	}
	victimCg := containerCgroup(w.engine, w.id)
	if w.oomCgroup != containerCgroup(w.engine, w.id) {
		victimCg = w.oomCgroup + "/" + w.id
	}
	if v.Cgroup.Path != victimCg || k.OOMCgroup.Path != w.oomCgroup {
		t.Errorf("cgroups: oomtrace victim %q oom %q, want %q and %q", v.Cgroup.Path, k.OOMCgroup.Path, victimCg, w.oomCgroup)
	}
	if s := kk.Summary; s != nil {
		if s.TaskMemcg != v.Cgroup.Path || s.OOMMemcg != k.OOMCgroup.Path {
			t.Errorf("cgroups: oomtrace victim %q oom %q, kernel task_memcg %q oom_memcg %q", v.Cgroup.Path, k.OOMCgroup.Path, s.TaskMemcg, s.OOMMemcg)
		}
	} else {
		t.Logf("kernel summary line of pid %d was rate limited; compared paths with the engine's ID", v.TGID)
	}
	if k.OOMCgroup.LimitBytes != uint64(w.limitMiB<<20) {
		t.Errorf("OOM cgroup limit %d bytes, want %d MiB", k.OOMCgroup.LimitBytes, w.limitMiB)
	}
	want := event.Owner{Runtime: event.Runtime(w.engine), ID: w.id, Name: w.name, Level: event.LevelContainer}
	if got := v.Cgroup.Owner; got != want {
		t.Errorf("victim's container:\n got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(k.Why, w.engine+" container "+w.name) || !strings.Contains(k.Why, fmt.Sprintf("%d MiB", w.limitMiB)) {
		t.Errorf("verdict %q does not name %s container %s and its limit of %d MiB", k.Why, w.engine, w.name, w.limitMiB)
	}
	if survived := strings.Contains(k.Why, "was not killed and lives on"); survived != w.mainSurvive {
		t.Errorf("verdict %q: says the main process lives on: %v, want %v", k.Why, survived, w.mainSurvive)
	}
	t.Logf("%s: kernel killed %d (%s); oomtrace: %s", w.name, kk.PID, kk.Comm, k.Why)
	return kk
}

// kernelKillOf returns the kernel's report of killing pid under the name
// comm: pids are reused (pid_max is 32768 here), and a reader kept open
// through many kills may hold an older report of the same pid.
func kernelKillOf(t *testing.T, kmsg *kernlog.Reader, pid int, comm string) kernlog.Kill {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n := 1; ; n++ {
		k, err := kmsg.WaitNthKill(ctx, pid, n)
		if err != nil {
			t.Fatalf("kernel report of the kill of pid %d (%s): %v", pid, comm, err)
		}
		if k.Comm == comm {
			return k
		}
	}
}

// checkExitCause finds oomtrace's exit event of pid and checks its cause.
func checkExitCause(t *testing.T, tr *tracer, pid int, cause event.Cause, class event.SenderClass) event.Exit {
	t.Helper()
	ev := tr.waitExit(t, pid)
	x := ev.Exit
	if x.Signal() != 9 || x.Cause != cause || cause == event.CauseSignal && x.SenderClass != class {
		t.Errorf("exit of %d: signal %d cause %v sender %v; want SIGKILL, %v, %v (why %q)", pid, x.Signal(), x.Cause, x.SenderClass, cause, class, x.Why)
	}
	return x
}

// checkRuntimeFlag compares an engine's OOMKilled flag for a container in
// which the kernel OOM-killed a process with the kernel's report, which
// decides: the exit code must be exit (137 when the main process was the
// victim), and a flag that says no OOM is logged as the runtime's miss
// (Docker 20.10 learns of an OOM from a cgroup event that can lose the race
// with the process's exit; Podman 4.3 misses them all). It reports whether
// the runtime saw the OOM.
func checkRuntimeFlag(t *testing.T, engine, name string, st containerState, k kernlog.Kill, exit int) bool {
	t.Helper()
	if st.State.ExitCode != exit {
		t.Errorf("%s inspect %s: ExitCode=%d, want %d", engine, name, st.State.ExitCode, exit)
	}
	if !st.State.OOMKilled {
		t.Logf("%s inspect %s: OOMKilled=false, ExitCode=%d; the kernel's report: Killed process %d (%s)", engine, name, st.State.ExitCode, k.PID, k.Comm)
	}
	return st.State.OOMKilled
}

func equalActions(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}
