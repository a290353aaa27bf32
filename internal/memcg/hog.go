package memcg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The hog is this same binary run again with these variables set.
const (
	hogMiBEnv  = "OOMTRACE_HOG_MIB"
	hogCommEnv = "OOMTRACE_HOG_COMM"
	// hogThreadsEnv is how many threads touch the hog's memory at once.
	hogThreadsEnv = "OOMTRACE_HOG_THREADS"
	// hogStartFD is the read end of a pipe: the hog allocates nothing until
	// its parent has moved it into the cgroup and writes a byte there.
	hogStartFD = 3
)

// commMax is TASK_COMM_LEN - 1: the kernel silently cuts longer names.
const commMax = 15

// HogMain runs the memory hog and never returns when this process was
// started by StartHog; otherwise it returns at once. A program that starts
// hogs (oomtrace itself, a test binary from TestMain) calls it first thing.
func HogMain() {
	mib, ok := os.LookupEnv(hogMiBEnv)
	if !ok {
		return
	}
	err := runHog(mib)
	fmt.Fprintf(os.Stderr, "memory hog: %v\n", err)
	os.Exit(1)
}

// runHog waits for the go-ahead, takes the name it was given, allocates and
// touches mibText MiB page by page, then sleeps until it is killed.
func runHog(mibText string) error {
	mib, err := strconv.Atoi(mibText)
	if err != nil || mib < 0 {
		return fmt.Errorf("bad %s=%q", hogMiBEnv, mibText)
	}
	start := os.NewFile(hogStartFD, "hog-start")
	var b [1]byte
	if n, err := start.Read(b[:]); n != 1 {
		return fmt.Errorf("no go-ahead from the parent: %w", err)
	}
	start.Close()

	// The thread that allocates is the one the kernel names as the task that
	// invoked the OOM killer: keep this goroutine on one of the threads the
	// name is given to.
	runtime.LockOSThread()
	if comm, ok := os.LookupEnv(hogCommEnv); ok {
		if err := setComm(comm); err != nil {
			return err
		}
	}
	threads := 1
	if text, ok := os.LookupEnv(hogThreadsEnv); ok {
		if threads, err = strconv.Atoi(text); err != nil || threads < 1 {
			return fmt.Errorf("bad %s=%q", hogThreadsEnv, text)
		}
	}
	if mib > 0 {
		mem, err := unix.Mmap(-1, 0, mib<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return fmt.Errorf("mmap %d MiB: %w", mib, err)
		}
		touchInThreads(mem, threads)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// touchInThreads touches every page of mem, split between this thread and
// threads-1 others that each touch their share at the same time, so that
// several threads are charging memory when the limit is hit. The others
// then stay, each on its own thread, as a multi-threaded program's would.
func touchInThreads(mem []byte, threads int) {
	if threads > 1 {
		// Each thread stuck in the kernel's reclaim holds its P: without
		// one per thread, the others would wait for a turn.
		runtime.GOMAXPROCS(threads)
	}
	page := os.Getpagesize()
	pages := len(mem) / page
	touch := func(from, to int) {
		for i := from; i < to; i++ {
			mem[i*page] = 1
		}
	}
	var done sync.WaitGroup
	for t := 1; t < threads; t++ {
		done.Add(1)
		go func() {
			runtime.LockOSThread() // a goroutine that exits locked ends its thread
			touch(pages*t/threads, pages*(t+1)/threads)
			done.Done()
			select {}
		}()
	}
	touch(0, pages/threads)
	done.Wait()
}

// setComm names every thread of this process comm. The kernel's report names
// the victim by its main thread and the allocating task by whichever thread
// allocated, so all of them get it; threads started later copy the name of
// the thread that starts them.
func setComm(comm string) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("set comm: %w", err)
	}
	for _, t := range tasks {
		name := filepath.Join("/proc/self/task", t.Name(), "comm")
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return fmt.Errorf("set comm: %w", err)
		}
		_, err = f.WriteString(comm)
		f.Close()
		if err != nil {
			return fmt.Errorf("set comm of thread %s: %w", t.Name(), err)
		}
	}
	return nil
}

// HogOptions tunes StartHog.
type HogOptions struct {
	// Comm, when not empty, is the name the hog gives itself before it
	// allocates: at most 15 bytes, any but NUL (newlines and parentheses
	// included, to test parsers).
	Comm string
	// OOMScoreAdj, when set, is written to the hog's oom_score_adj before
	// it allocates; without it a negative value inherited from the parent
	// is raised to 0. Without CAP_SYS_RESOURCE it can only be raised.
	OOMScoreAdj *int
	// Threads, when over 1, is how many threads touch the memory at once,
	// each its share; the kernel's OOM killer then meets a process with
	// several threads charging memory.
	Threads int
	// Stderr receives the hog's own error messages; nil discards them.
	Stderr io.Writer
}

// StartHog starts a memory hog in g that allocates and touches mib MiB, then
// sleeps until killed. The hog is this binary run again, so the program must
// call HogMain first thing. It is in g before it allocates anything, and it
// is killed if the thread that started it exits. The caller waits for it
// with Wait.
func StartHog(g *Group, mib int, opts HogOptions) (*exec.Cmd, error) {
	if mib < 0 {
		return nil, fmt.Errorf("start memory hog in %s: negative size %d MiB", g.dir, mib)
	}
	if err := checkComm(opts.Comm); err != nil {
		return nil, fmt.Errorf("start memory hog in %s: %w", g.dir, err)
	}
	startRead, startWrite, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start memory hog in %s: %w", g.dir, err)
	}
	defer startWrite.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), hogMiBEnv+"="+strconv.Itoa(mib))
	if opts.Comm != "" {
		cmd.Env = append(cmd.Env, hogCommEnv+"="+opts.Comm)
	}
	if opts.Threads > 1 {
		cmd.Env = append(cmd.Env, hogThreadsEnv+"="+strconv.Itoa(opts.Threads))
	}
	cmd.ExtraFiles = []*os.File{startRead} // becomes hogStartFD
	cmd.Stderr = opts.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	startRead.Close()
	if err != nil {
		return nil, fmt.Errorf("start memory hog in %s: %w", g.dir, err)
	}
	if err := prepareHog(g, cmd.Process.Pid, opts); err != nil {
		// The hog has allocated nothing: it still waits for its go-ahead.
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("start memory hog in %s: %w", g.dir, err)
	}
	if _, err := startWrite.Write([]byte{1}); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("start memory hog in %s: %w", g.dir, err)
	}
	return cmd, nil
}

func checkComm(comm string) error {
	if len(comm) > commMax {
		return fmt.Errorf("comm %q is longer than %d bytes", comm, commMax)
	}
	if strings.ContainsRune(comm, 0) {
		return fmt.Errorf("comm %q holds a NUL byte", comm)
	}
	return nil
}

func prepareHog(g *Group, pid int, opts HogOptions) error {
	if err := g.AddProcess(pid); err != nil {
		return err
	}
	name := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	adj := 0
	if opts.OOMScoreAdj != nil {
		adj = *opts.OOMScoreAdj
	} else {
		// A tracer protects itself with -1000, and a hog that inherited
		// that could not be killed: raise a negative value to 0, leave any
		// other as it is.
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read oom_score_adj: %w", err)
		}
		if inherited, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && inherited >= 0 {
			return nil
		}
	}
	if err := os.WriteFile(name, []byte(strconv.Itoa(adj)), 0); err != nil {
		return fmt.Errorf("set oom_score_adj to %d: %w", adj, err)
	}
	return nil
}
