package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/memcg"
	"golang.org/x/sys/unix"
)

// The test binary, copied under the name kubelet and run with
// fakeKubeletEnv="PID GRACE", plays the kubelet ending a container: SIGTERM
// to PID, then SIGKILL after GRACE.
const fakeKubeletEnv = "OOMTRACE_E2E_FAKE_KUBELET"

// The test binary, copied under the name segv and run with segfaultEnv set,
// dereferences a nil pointer with SIGSEGV's default action restored: the
// kernel raises the signal and ends the process as it would a C program's
// (the Go runtime would turn the fault into a panic and exit 2).
const segfaultEnv = "OOMTRACE_E2E_SEGFAULT"

func segfault(string) error {
	// struct sigaction for rt_sigaction(2) on 64-bit Linux: handler,
	// flags, restorer, mask. All zero is SIG_DFL.
	var dfl [4]uint64
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGSEGV), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); errno != 0 {
		return fmt.Errorf("rt_sigaction: %w", errno)
	}
	fmt.Println(*nilPointer())
	return errors.New("reading through a nil pointer did not fault")
}

//go:noinline
func nilPointer() *int { return nil }

func runFakeKubelet(v string) error {
	pidText, graceText, _ := strings.Cut(v, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return fmt.Errorf("parse pid: %w", err)
	}
	grace, err := time.ParseDuration(graceText)
	if err != nil {
		return fmt.Errorf("parse grace period: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	time.Sleep(grace)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("send SIGKILL: %w", err)
	}
	return nil
}

// waitExit waits until the tracer has reported the exit of pid.
func (tr *tracer) waitExit(t *testing.T, pid int) event.Event {
	t.Helper()
	return tr.waitFor(t, fmt.Sprintf("exit event for pid %d", pid), 15*time.Second, func(ev *event.Event) bool {
		return ev.Kind == event.KindExit && int(ev.Task.TGID) == pid
	})
}

// startIn starts cmd and moves it into g.
func startIn(t *testing.T, g *memcg.Group, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if err := g.AddProcess(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitSignaled waits for cmd and fails unless sig ended it.
func waitSignaled(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) {
	t.Helper()
	cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != sig {
		t.Fatalf("pid %d: want death by %v, got %v", cmd.Process.Pid, sig, cmd.ProcessState)
	}
}

// noKernelKill fails if the kernel log reports an OOM kill of pid.
func noKernelKill(t *testing.T, tr *tracer, pid int) {
	t.Helper()
	kmsg := openKmsg(t) // reads the whole log from its start
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if k, err := kmsg.WaitKill(ctx, pid); err == nil {
		t.Fatalf("the kernel log reports an OOM kill of pid %d: %+v", pid, k)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, ev := range tr.events {
		if ev.Kind == event.KindOOMKill && int(ev.OOMKill.Victim.TGID) == pid {
			t.Errorf("pid %d reported as an OOM kill without a kernel report: %+v", pid, ev.OOMKill)
		}
	}
}

func checkExit(t *testing.T, ev event.Event, sig int32, cause event.Cause) {
	t.Helper()
	x := ev.Exit
	if x.Signal() != sig || x.Cause != cause {
		t.Errorf("exit of %d: signal %d cause %v, want signal %d cause %v (why %q)", ev.Task.TGID, x.Signal(), x.Cause, sig, cause, x.Why)
	}
	if x.Why == "" || !strings.Contains(x.Why, fmt.Sprintf("(pid %d)", ev.Task.TGID)) {
		t.Errorf("exit of %d: verdict %q", ev.Task.TGID, x.Why)
	}
}

// Every way a process in a test cgroup dies from a signal is named: an OOM
// kill, a kill -9 from a shell, a kubelet's SIGTERM then SIGKILL, and a
// segfault.
func TestExitCauses(t *testing.T) {
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	kmsg := openKmsg(t)
	tr := startTracer(t, "--output", "json", "--cgroup", g.Path(), "--events", "oom,signal,exit")
	cgroupDir := g.Dir()

	t.Run("oom_kill", func(t *testing.T) {
		cmd := hog(t, g, 64, memcg.HogOptions{Comm: "exitoom"})
		waitSIGKILL(t, cmd)
		k := kernelKill(t, kmsg, cmd.Process.Pid)
		ev := tr.waitExit(t, cmd.Process.Pid)
		checkExit(t, ev, 9, event.CauseOOMKill)
		if ev.Exit.OOMClass != event.ClassMemcg || kernelClass(k) != event.ClassMemcg {
			t.Errorf("class %v, kernel's %v; want memcg", ev.Exit.OOMClass, kernelClass(k))
		}
		if ev.Exit.Cgroup.Path != g.Path() {
			t.Errorf("cgroup %q, want %q", ev.Exit.Cgroup.Path, g.Path())
		}
	})

	t.Run("kill9_from_shell", func(t *testing.T) {
		target := startIn(t, g, exec.Command("sleep", "60"))
		shell := exec.Command("sh", "-c", "kill -9 "+strconv.Itoa(target.Process.Pid))
		if err := shell.Run(); err != nil {
			t.Fatal(err)
		}
		waitSignaled(t, target, syscall.SIGKILL)
		ev := tr.waitExit(t, target.Process.Pid)
		checkExit(t, ev, 9, event.CauseSignal)
		x := ev.Exit
		if int(x.Sender.TGID) != shell.Process.Pid || x.Sender.Comm != "sh" || x.SenderClass != event.SenderUser || x.Code != event.SIUser {
			t.Errorf("sender %+v class %v code %d; want sh pid %d, user, SI_USER", x.Sender, x.SenderClass, x.Code, shell.Process.Pid)
		}
		noKernelKill(t, tr, target.Process.Pid)
	})

	t.Run("kubelet_grace_period", func(t *testing.T) {
		// A container process that handles SIGTERM and carries on.
		target := startIn(t, g, exec.Command("sh", "-c", `trap 'echo SIGTERM ignored' TERM; while :; do sleep 0.05; done`))
		target.Stdout = io.Discard
		kubeletBin := filepath.Join(t.TempDir(), "kubelet")
		copyExecutable(t, kubeletBin)
		const grace = 1500 * time.Millisecond
		kubelet := exec.Command(kubeletBin)
		kubelet.Env = append(os.Environ(), fakeKubeletEnv+"="+strconv.Itoa(target.Process.Pid)+" "+grace.String())
		kubelet.Stderr = os.Stderr
		if err := kubelet.Run(); err != nil {
			t.Fatalf("fake kubelet: %v", err)
		}
		waitSignaled(t, target, syscall.SIGKILL)
		ev := tr.waitExit(t, target.Process.Pid)
		checkExit(t, ev, 9, event.CauseSignal)
		x := ev.Exit
		if int(x.Sender.TGID) != kubelet.Process.Pid || x.Sender.Comm != "kubelet" || x.SenderClass != event.SenderKubelet {
			t.Errorf("sender %+v class %v; want kubelet pid %d", x.Sender, x.SenderClass, kubelet.Process.Pid)
		}
		if int(x.TermSender.TGID) != kubelet.Process.Pid || x.TermBefore < grace || x.TermBefore > grace+2*time.Second {
			t.Errorf("SIGTERM from %+v %v before; want the kubelet, %v before", x.TermSender, x.TermBefore, grace)
		}
		if !strings.Contains(x.Why, "SIGKILL from kubelet (pid "+strconv.Itoa(kubelet.Process.Pid)+")") || !strings.Contains(x.Why, "after SIGTERM 1.") {
			t.Errorf("verdict %q", x.Why)
		}
		noKernelKill(t, tr, target.Process.Pid)
	})

	t.Run("segfault", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "segv")
		copyExecutable(t, bin)
		// Joins g before it runs; no core dump to write.
		cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && ulimit -c 0 && exec "$2"`, "sh", cgroupDir, bin)
		cmd.Env = append(os.Environ(), segfaultEnv+"=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitSignaled(t, cmd, syscall.SIGSEGV)
		ev := tr.waitExit(t, cmd.Process.Pid)
		checkExit(t, ev, 11, event.CauseFault)
		x := ev.Exit
		if ev.Task.Comm != "segv" || x.SenderClass != event.SenderKernel || x.Code <= 0 || int(x.Sender.TGID) != cmd.Process.Pid {
			t.Errorf("comm %q sender %+v class %v si_code %d; want segv raised by the kernel (SEGV_MAPERR)", ev.Task.Comm, x.Sender, x.SenderClass, x.Code)
		}
		noKernelKill(t, tr, cmd.Process.Pid)
	})

	// One exit per process, however many threads it had (the segfaulting
	// Go program has several, dying together).
	exits := map[uint32]int{}
	for _, ev := range tr.stop(t) {
		if ev.Kind == event.KindSignal && ev.Signal.SenderClass == event.SenderUnknown {
			t.Errorf("signal without a sender class: %+v", ev.Signal)
		}
		if ev.Kind == event.KindExit {
			if exits[ev.Task.TGID]++; exits[ev.Task.TGID] == 2 {
				t.Errorf("process %d (%s) reported as exiting more than once", ev.Task.TGID, ev.Task.Comm)
			}
		}
	}

	// The same deaths in the report of the capture.
	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	if err := os.WriteFile(capture, append(bytes.Join(tr.lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, status := runBin(t, nil, "report", capture)
	if status != 0 {
		t.Fatalf("report: status %d\n%s", status, stderr)
	}
	for _, want := range []string{
		`(?m)^deaths: \d+ \(.*fault 1.*oom_kill 1.*signal 2`,
		`(?m)^\s+\S+ \S+\s+\d+ exitoom\s.*SIGKILL\s+oom_kill\s+oom_kill, class memcg`,
		`(?m)SIGKILL\s+signal\s+from user \d+ sh`,
		`(?m)SIGKILL\s+signal\s+from kubelet \d+ kubelet, SIGTERM`,
		`(?m)\d+ segv\s.*SIGSEGV\s+fault`,
	} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("report lacks %s:\n%s", want, stdout)
		}
	}
}

// Processes killed together are one exit record each. Where tracepoints
// run tp_btf programs preemptible (Linux 7.0 on), a task preempted inside
// such an exit program made the kernel skip it for the others exiting on
// its CPU meanwhile; a perf tracepoint's program is not preempted.
func TestExitStorm(t *testing.T) {
	h := requireRoot(t)
	name := memcg.UniqueName("oomtrace-e2e-storm")
	g := createGroup(t, h, name, 0)
	tr := startTracer(t, "--output", "json", "--cgroup", "/"+name, "--events", "exit")
	const processes = 200
	cmds := make([]*exec.Cmd, processes)
	for i := range cmds {
		cmds[i] = startIn(t, g, exec.Command("sleep", "60"))
	}
	for _, cmd := range cmds {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range cmds {
		waitSignaled(t, cmd, syscall.SIGKILL)
	}
	for _, cmd := range cmds {
		tr.waitExit(t, cmd.Process.Pid)
	}
	exits := map[uint32]int{}
	for _, ev := range tr.stop(t) {
		if ev.Kind == event.KindExit {
			exits[ev.Task.TGID]++
		}
	}
	for _, cmd := range cmds {
		if n := exits[uint32(cmd.Process.Pid)]; n != 1 {
			t.Errorf("process %d: %d exit records, want 1", cmd.Process.Pid, n)
		}
	}
	if len(exits) != processes {
		t.Errorf("%d processes exited, want the %d killed", len(exits), processes)
	}
}

// Without tracefs, which a perf tracepoint is opened through, the exits
// come from the tp_btf program, with a warning that says what to mount.
func TestExitsWithoutTracefs(t *testing.T) {
	h := requireRoot(t)
	name := memcg.UniqueName("oomtrace-e2e-notracefs")
	g := createGroup(t, h, name, 0)
	// In a mount namespace of its own, oomtrace finds no tracefs: neither
	// mounted, nor reachable through debugfs.
	unmountTracefs := `awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i+1) == "tracefs" || $(i+1) == "debugfs") print $5; break } }' /proc/self/mountinfo |
		sort -r | while read -r m; do umount "$m" || exit 1; done
		exec "$@"`
	tr := startTracerUnder(t, []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", unmountTracefs, "sh"},
		"--output", "json", "--cgroup", "/"+name, "--events", "signal,exit")
	target := startIn(t, g, exec.Command("sleep", "60"))
	if err := target.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitSignaled(t, target, syscall.SIGKILL)
	ev := tr.waitExit(t, target.Process.Pid)
	checkExit(t, ev, 9, event.CauseSignal)
	tr.stop(t)
	if stderr := tr.stderr.String(); !strings.Contains(stderr, "perf tracepoint not attached, its tp_btf program instead") ||
		!strings.Contains(stderr, "mount tracefs at /sys/kernel/tracing") {
		t.Errorf("no warning that exits come from the tp_btf program:\n%s", stderr)
	}
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// A kill -9 from another container of the same pod names both: the
// target's pod and container, and the sender's.
func TestSignalFromPodContainer(t *testing.T) {
	h := requireRoot(t)
	worker := newKubePod(t, "batch", "job-x", "worker")
	sidecar := worker.withContainer(t, "sidecar")
	top := memcg.UniqueName("oomtrace-e2e")
	createGroup(t, h, top, 0)
	podPath, workerPath := worker.cgroups(top, false)
	_, sidecarPath := sidecar.cgroups(top, false)
	createGroup(t, h, podPath, 0)
	workerGroup := createGroup(t, h, workerPath, 0)
	sidecarGroup := createGroup(t, h, sidecarPath, 0)
	tr := startTracer(t, "--output", "json", "--cgroup", "/"+top, "--host-root", worker.hostRoot, namesWait, "--events", "oom,signal,exit")

	target := startIn(t, workerGroup, exec.Command("sleep", "60"))
	pid := target.Process.Pid
	// kill is the shell's builtin: the sender is the shell, in the sidecar.
	shell := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && kill -9 "$2"`, "sh", sidecarGroup.Dir(), strconv.Itoa(pid))
	if out, err := shell.CombinedOutput(); err != nil {
		t.Fatalf("sender: %v\n%s", err, out)
	}
	waitSignaled(t, target, syscall.SIGKILL)
	ev := tr.waitExit(t, pid)
	checkExit(t, ev, 9, event.CauseSignal)
	x := ev.Exit
	if x.Cgroup.Path != workerGroup.Path() || x.SenderCgroup.Path != sidecarGroup.Path() {
		t.Errorf("cgroups: target %q sender %q, want %q and %q", x.Cgroup.Path, x.SenderCgroup.Path, workerGroup.Path(), sidecarGroup.Path())
	}
	checkAttribution(t, x.Cgroup.Owner, worker, event.LevelContainer)
	checkAttribution(t, x.SenderCgroup.Owner, sidecar, event.LevelContainer)
	if int(x.Sender.TGID) != shell.Process.Pid || x.Sender.Comm != "sh" || x.SenderClass != event.SenderUser {
		t.Errorf("sender %+v class %v; want sh pid %d, user", x.Sender, x.SenderClass, shell.Process.Pid)
	}
	for _, part := range []string{
		fmt.Sprintf(`"sleep" (pid %d) in container worker of pod batch/job-x exited 137`, pid),
		fmt.Sprintf(`SIGKILL from "sh" (pid %d) in container sidecar of pod batch/job-x`, shell.Process.Pid),
	} {
		if !strings.Contains(x.Why, part) {
			t.Errorf("verdict %q does not say %q", x.Why, part)
		}
	}
	noKernelKill(t, tr, pid)
}
