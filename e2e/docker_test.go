package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
	"github.com/oomtrace/oomtrace/internal/memcg"
)

const hogImage = "oomtrace-e2e-hog:1"

// checkDockerOOM holds what Docker says of a container in which the kernel
// OOM-killed a process (k) against the kernel: the exit code, and the
// events of the container agreeing with its OOMKilled flag.
func checkDockerOOM(t *testing.T, d *dockerd, name, id string, since time.Time, st containerState, k kernlog.Kill, exit int) {
	t.Helper()
	flagged := checkRuntimeFlag(t, "docker", name, st, k, exit)
	die := "die " + strconv.Itoa(exit)
	all := actions(d.events(t, id, since))
	// On cgroup v1 the kernel signals memory.oom_control's eventfd of the
	// OOM's cgroup and of every cgroup under it at each OOM, not at each
	// kill, and containerd passes each signal on: a charge that fails again
	// before the victim's memory is freed is another OOM, with no second
	// kill. A run of "oom" events is one notice.
	got := slices.CompactFunc(slices.Clone(all), func(a, b string) bool { return a == "oom" && b == "oom" })
	if len(got) < len(all) {
		t.Logf("docker events for %s: %v, several oom notices for one kill", name, all)
	}
	switch {
	case flagged && equalActions(got, "oom", die):
	case !flagged && equalActions(got, die):
	case !flagged && equalActions(got, die, "oom"):
		// Docker handles containerd's OOM notice after the exit it
		// raced with, so the flag read at exit stays false: the notice
		// is logged, the flag is not set.
		t.Logf("docker events for %s: the oom event came after die", name)
	default:
		want := []string{die}
		if flagged {
			want = []string{"oom", die}
		}
		t.Errorf("docker events for %s: %v, want %v", name, got, want)
	}
}

// Docker's own account of each container (docker inspect, docker events)
// against the kernel's report and oomtrace's.
func TestRuntimeDocker(t *testing.T) {
	h := requireRoot(t)
	d := startDockerd(t)
	d.importImage(t, hogRootfs(t, t.TempDir()), hogImage)
	kmsg := openKmsg(t)
	tr := startTracer(t, "--output", "json", "--events", "oom,signal,exit", "--host-root", d.hostRoot)

	// The main process is OOM-killed: Docker says OOMKilled, 137.
	t.Run("main_process_oom", func(t *testing.T) {
		since := time.Now()
		id := d.start(t, "web", []string{"--memory", "32m"}, hogImage, "sh", "-c", "sleep 1; "+hogCommand("mainhog", 64, true))
		pid := d.mainPID(t, "web")
		st := d.wait(t, "web")
		ev := tr.waitContainerKill(t, id, "mainhog")
		k := checkRuntimeKill(t, ev, kmsg, runtimeKill{engine: "docker", id: id, name: "web", comm: "mainhog", pid: pid,
			oomCgroup: "/docker/" + id, limitMiB: 32})
		checkDockerOOM(t, d, "web", id, since, st, k, 137)
		checkExitCause(t, tr, pid, event.CauseOOMKill, 0)
	})

	// A child is OOM-killed, the main process lives on and exits 0: Docker
	// says OOMKilled=true with exit code 0; oomtrace names the child and
	// says the main process was not killed.
	t.Run("child_oom_main_lives", func(t *testing.T) {
		since := time.Now()
		id := d.start(t, "batch", []string{"--memory", "32m"}, hogImage, "sh", "-c",
			"sleep 1; "+hogCommand("childhog", 64, false)+"; echo the child is gone; sleep 2; exit 0")
		main := d.mainPID(t, "batch")
		st := d.wait(t, "batch")
		ev := tr.waitContainerKill(t, id, "childhog")
		k := checkRuntimeKill(t, ev, kmsg, runtimeKill{engine: "docker", id: id, name: "batch", comm: "childhog",
			oomCgroup: "/docker/" + id, limitMiB: 32, mainSurvive: true})
		if want := fmt.Sprintf(`the container's main process "sh" (pid %d) was not killed`, main); !strings.Contains(ev.OOMKill.Why, want) {
			t.Errorf("verdict %q does not say %q", ev.OOMKill.Why, want)
		}
		if int(ev.OOMKill.Victim.TGID) == main {
			t.Errorf("the victim is the main process %d", main)
		}
		checkDockerOOM(t, d, "batch", id, since, st, k, 0)
		checkExitCause(t, tr, int(ev.OOMKill.Victim.TGID), event.CauseOOMKill, 0)
	})

	// docker stop on a process that handles SIGTERM and carries on: SIGKILL
	// from the runtime after the stop timeout, the grace period measured,
	// no OOM.
	t.Run("stop_after_grace_period", func(t *testing.T) {
		since := time.Now()
		id := d.start(t, "stubborn", nil, hogImage, "sh", "-c", `trap "echo SIGTERM ignored" TERM; while :; do sleep 0.1; done`)
		pid := d.mainPID(t, "stubborn")
		start := time.Now()
		d.must(t, "stop", "-t", "2", "stubborn")
		took := time.Since(start)
		st := d.inspect(t, "stubborn")
		x := checkExitCause(t, tr, pid, event.CauseSignal, event.SenderRuntime)
		if x.TermSender.TGID == 0 || x.TermBefore < 2*time.Second || x.TermBefore > took {
			t.Errorf("SIGTERM from %+v %v before the SIGKILL; want the runtime's, 2s to %v (docker stop took that long)", x.TermSender, x.TermBefore, took)
		}
		if !strings.Contains(x.Why, "SIGKILL from container runtime") || !strings.Contains(x.Why, "after SIGTERM 2.") || !strings.Contains(x.Why, "not an OOM") {
			t.Errorf("verdict %q", x.Why)
		}
		t.Logf("docker stop -t 2 took %v; oomtrace: %s", took.Round(time.Millisecond), x.Why)
		if st.State.OOMKilled || st.State.ExitCode != 137 {
			t.Errorf("docker inspect: OOMKilled=%v ExitCode=%d, want false, 137", st.State.OOMKilled, st.State.ExitCode)
		}
		if got := actions(d.events(t, id, since)); !equalActions(got, "kill 15", "kill 9", "die 137", "stop") {
			t.Errorf("docker events: %v, want kill 15, kill 9, die 137, stop", got)
		}
		noKernelKill(t, tr, pid)
	})

	// docker kill: the runtime; kill -9 from the host: a user.
	t.Run("docker_kill", func(t *testing.T) {
		since := time.Now()
		id := d.start(t, "killed", nil, hogImage, "sleep", "600")
		pid := d.mainPID(t, "killed")
		d.must(t, "kill", "killed")
		st := d.wait(t, "killed")
		x := checkExitCause(t, tr, pid, event.CauseSignal, event.SenderRuntime)
		if x.TermSender.TGID != 0 || !strings.Contains(x.Why, "SIGKILL from container runtime") {
			t.Errorf("exit: SIGTERM from %+v; verdict %q", x.TermSender, x.Why)
		}
		if st.State.OOMKilled || st.State.ExitCode != 137 {
			t.Errorf("docker inspect: OOMKilled=%v ExitCode=%d, want false, 137", st.State.OOMKilled, st.State.ExitCode)
		}
		if got := actions(d.events(t, id, since)); !equalActions(got, "kill 9", "die 137") {
			t.Errorf("docker events: %v, want kill 9, die 137", got)
		}
		noKernelKill(t, tr, pid)
	})
	t.Run("kill_from_host", func(t *testing.T) {
		since := time.Now()
		id := d.start(t, "shot", nil, hogImage, "sleep", "600")
		pid := d.mainPID(t, "shot")
		shell := exec.Command("sh", "-c", "kill -9 "+strconv.Itoa(pid))
		if out, err := shell.CombinedOutput(); err != nil {
			t.Fatalf("kill -9: %v\n%s", err, out)
		}
		st := d.wait(t, "shot")
		x := checkExitCause(t, tr, pid, event.CauseSignal, event.SenderUser)
		if int(x.Sender.TGID) != shell.Process.Pid || x.Sender.Comm != "sh" || !strings.Contains(x.Why, "in docker container shot exited 137") {
			t.Errorf("sender %+v, want sh %d; verdict %q", x.Sender, shell.Process.Pid, x.Why)
		}
		if st.State.OOMKilled || st.State.ExitCode != 137 {
			t.Errorf("docker inspect: OOMKilled=%v ExitCode=%d, want false, 137", st.State.OOMKilled, st.State.ExitCode)
		}
		if got := actions(d.events(t, id, since)); !equalActions(got, "die 137") {
			t.Errorf("docker events: %v, want die 137 alone", got)
		}
		noKernelKill(t, tr, pid)
	})

	// A parent cgroup with a smaller limit than the container's own: the
	// ancestor's limit is hit, and named as such.
	t.Run("cgroup_parent_limit", func(t *testing.T) {
		since := time.Now()
		parent := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 24)
		id := d.start(t, "limited", []string{"--cgroup-parent", parent.Path(), "--memory", "64m"}, hogImage,
			"sh", "-c", "sleep 1; "+hogCommand("parenthog", 48, true))
		pid := d.mainPID(t, "limited")
		st := d.wait(t, "limited")
		ev := tr.waitContainerKill(t, id, "parenthog")
		k := checkRuntimeKill(t, ev, kmsg, runtimeKill{engine: "docker", id: id, name: "limited", comm: "parenthog", pid: pid,
			oomCgroup: parent.Path(), limitMiB: 24})
		if want := fmt.Sprintf("the limit of 24 MiB of the enclosing cgroup %q was reached", parent.Path()); !strings.Contains(ev.OOMKill.Why, want) {
			t.Errorf("verdict %q does not say %q", ev.OOMKill.Why, want)
		}
		if got := ev.OOMKill.Victim.Cgroup.LimitBytes; got != 64<<20 {
			t.Errorf("the container's own limit: %d bytes, want 64 MiB", got)
		}
		// On cgroup v1 an OOM in a parent is signalled to its children's
		// oom_control too, which is what Docker watches.
		checkDockerOOM(t, d, "limited", id, since, st, k, 137)
	})

	// Ten containers OOM at once: every kill attributed and named, nothing
	// lost, the counts equal to Docker's and the kernel's.
	t.Run("ten_at_once", func(t *testing.T) {
		const n = 10
		since := time.Now()
		gate := t.TempDir()
		ids, pids := make([]string, n), make([]int, n)
		for i := range n {
			name := fmt.Sprintf("storm%d", i)
			ids[i] = d.start(t, name, []string{"--memory", "32m", "-v", gate + ":/gate:ro"}, hogImage, "sh", "-c",
				"while [ ! -e /gate/go ]; do sleep 0.05; done; "+hogCommand(name, 64, true))
		}
		for i := range n {
			pids[i] = d.mainPID(t, fmt.Sprintf("storm%d", i))
		}
		if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// The kernel's report decides; Docker's flag and its oom events are
		// counted beside it.
		var flagged, dockerOOMs int
		for i := range n {
			name := fmt.Sprintf("storm%d", i)
			st := d.wait(t, name)
			ev := tr.waitContainerKill(t, ids[i], name)
			k := checkRuntimeKill(t, ev, kmsg, runtimeKill{engine: "docker", id: ids[i], name: name, comm: name, pid: pids[i],
				oomCgroup: "/docker/" + ids[i], limitMiB: 32})
			if checkRuntimeFlag(t, "docker", name, st, k, 137) {
				flagged++
			}
			if got := actions(d.events(t, ids[i], since)); slices.Contains(got, "oom") {
				dockerOOMs++
			}
		}
		tr.mu.Lock()
		kills, lost := 0, uint64(0)
		for _, ev := range tr.events {
			if ev.Kind == event.KindOOMKill && slices.Contains(ids, ev.OOMKill.Victim.Cgroup.Owner.ID) {
				kills++
			}
			if ev.Kind == event.KindLost {
				lost += ev.Lost.Count
			}
		}
		tr.mu.Unlock()
		t.Logf("kernel: %d kills; oomtrace: %d (lost %d); docker inspect: %d OOMKilled; docker events: %d oom", n, kills, lost, flagged, dockerOOMs)
		if kills != n || lost != 0 {
			t.Errorf("oomtrace counted %d kills (lost %d); the kernel %d", kills, lost, n)
		}
	})
	tr.stop(t)
}
