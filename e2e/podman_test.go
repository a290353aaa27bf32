package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// startPodman returns Podman run as root with its own storage below a
// temporary host root (where oomtrace --host-root finds its container
// names), the cgroupfs manager (containers under /libpod_parent), its
// events in a file, and explicit rlimits (runc refuses the host's). Every
// container and image is removed when the test ends.
func startPodman(t *testing.T) (*engine, string) {
	t.Helper()
	bin := requireTool(t, "podman", "podman")
	dir := t.TempDir()
	hostRoot := filepath.Join(dir, "host")
	storage := filepath.Join(hostRoot, "var/lib/containers/storage")
	for _, p := range []string{storage, filepath.Join(dir, "run"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e := &engine{name: "podman", bin: bin,
		args: []string{"--root", storage, "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp"),
			"--cgroup-manager", "cgroupfs", "--events-backend", "file"},
		run: []string{"--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"},
		dir: dir,
	}
	removeNewDirs(t, "/run/runc", "/run/containers", "/var/lib/containers", "/run/libpod")
	removeCgroups := removeNewCgroups(t, "libpod_parent")
	t.Cleanup(func() {
		e.cmd("rm", "-af", "-t", "0")
		e.cmd("rmi", "-af")
		unmountBelow(t, dir)
		removeCgroups()
	})
	return e, hostRoot
}

// Podman's account (podman inspect) against the kernel's and oomtrace's,
// with conmon as the containers' monitor. Podman 4.3 says OOMKilled=false
// for containers the kernel OOM-killed in: where the two disagree, the
// kernel's report decides, and the test logs the difference.
func TestRuntimePodman(t *testing.T) {
	requireRoot(t)
	p, hostRoot := startPodman(t)
	p.importImage(t, hogRootfs(t, t.TempDir()), hogImage)
	kmsg := openKmsg(t)
	tr := startTracer(t, "--output", "json", "--events", "oom,signal,exit", "--host-root", hostRoot)

	t.Run("main_process_oom", func(t *testing.T) {
		id := p.start(t, "web", []string{"--memory", "32m"}, hogImage, "sh", "-c", "sleep 1; "+hogCommand("mainhog", 64, true))
		pid := p.mainPID(t, "web")
		st := p.wait(t, "web")
		ev := tr.waitContainerKill(t, id, "mainhog")
		checkRuntimeKill(t, ev, kmsg, runtimeKill{engine: "podman", id: id, name: "web", comm: "mainhog", pid: pid,
			oomCgroup: containerCgroup("podman", id), limitMiB: 32})
		if st.State.ExitCode != 137 {
			t.Errorf("podman inspect: ExitCode=%d, want 137", st.State.ExitCode)
		}
		t.Logf("podman inspect: OOMKilled=%v ExitCode=%d; the kernel OOM-killed the main process %d", st.State.OOMKilled, st.State.ExitCode, pid)
		checkExitCause(t, tr, pid, event.CauseOOMKill, 0)
	})

	t.Run("child_oom_main_lives", func(t *testing.T) {
		id := p.start(t, "batch", []string{"--memory", "32m"}, hogImage, "sh", "-c",
			"sleep 1; "+hogCommand("childhog", 64, false)+"; echo the child is gone; sleep 2; exit 0")
		main := p.mainPID(t, "batch")
		st := p.wait(t, "batch")
		ev := tr.waitContainerKill(t, id, "childhog")
		checkRuntimeKill(t, ev, kmsg, runtimeKill{engine: "podman", id: id, name: "batch", comm: "childhog",
			oomCgroup: containerCgroup("podman", id), limitMiB: 32, mainSurvive: true})
		if want := fmt.Sprintf(`the container's main process "sh" (pid %d) was not killed`, main); !strings.Contains(ev.OOMKill.Why, want) {
			t.Errorf("verdict %q does not say %q", ev.OOMKill.Why, want)
		}
		if st.State.ExitCode != 0 {
			t.Errorf("podman inspect: ExitCode=%d, want 0", st.State.ExitCode)
		}
		t.Logf("podman inspect: OOMKilled=%v ExitCode=%d; the kernel OOM-killed the child %d", st.State.OOMKilled, st.State.ExitCode, ev.OOMKill.Victim.TGID)
		checkExitCause(t, tr, int(ev.OOMKill.Victim.TGID), event.CauseOOMKill, 0)
	})

	t.Run("stop_after_grace_period", func(t *testing.T) {
		p.start(t, "stubborn", nil, hogImage, "sh", "-c", `trap "echo SIGTERM ignored" TERM; while :; do sleep 0.1; done`)
		pid := p.mainPID(t, "stubborn")
		start := time.Now()
		p.must(t, "stop", "-t", "2", "stubborn")
		took := time.Since(start)
		st := p.inspect(t, "stubborn")
		x := checkExitCause(t, tr, pid, event.CauseSignal, event.SenderRuntime)
		if x.TermSender.TGID == 0 || x.TermBefore < 2*time.Second || x.TermBefore > took {
			t.Errorf("SIGTERM from %+v %v before the SIGKILL; want the runtime's, 2s to %v", x.TermSender, x.TermBefore, took)
		}
		if !strings.Contains(x.Why, "in podman container stubborn exited 137: SIGKILL from container runtime") || !strings.Contains(x.Why, "after SIGTERM 2.") {
			t.Errorf("verdict %q", x.Why)
		}
		if st.State.OOMKilled || st.State.ExitCode != 137 {
			t.Errorf("podman inspect: OOMKilled=%v ExitCode=%d, want false, 137", st.State.OOMKilled, st.State.ExitCode)
		}
		noKernelKill(t, tr, pid)
	})

	t.Run("podman_kill", func(t *testing.T) {
		p.start(t, "killed", nil, hogImage, "sleep", "600")
		pid := p.mainPID(t, "killed")
		p.must(t, "kill", "killed")
		st := p.wait(t, "killed")
		x := checkExitCause(t, tr, pid, event.CauseSignal, event.SenderRuntime)
		if x.TermSender.TGID != 0 || !strings.Contains(x.Why, "in podman container killed exited 137: SIGKILL from container runtime") {
			t.Errorf("exit: SIGTERM from %+v; verdict %q", x.TermSender, x.Why)
		}
		if st.State.OOMKilled || st.State.ExitCode != 137 {
			t.Errorf("podman inspect: OOMKilled=%v ExitCode=%d, want false, 137", st.State.OOMKilled, st.State.ExitCode)
		}
		noKernelKill(t, tr, pid)
	})
	tr.stop(t)
}
