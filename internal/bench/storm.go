package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/memcg"
)

// A reclaim storm: workers, each in a small memory cgroup of its own, read
// a sparse file far larger than their limit over and over. Reading a hole
// allocates a zeroed page-cache page without any disk I/O, so every page
// read is an allocation charged to the worker's cgroup, which sits at its
// limit and reclaims its own clean page cache, again and again. Nothing is
// anonymous memory: no worker can run into an OOM kill, and no global
// memory pressure builds up.

// The storm worker is this binary run again with these variables set.
const (
	stormFileEnv     = "OOMBENCH_STORM_FILE"
	stormDurationEnv = "OOMBENCH_STORM_DURATION"
	// stormStartFD is the read end of a pipe: the worker reads nothing
	// before its parent has moved it into its cgroup and writes a byte.
	stormStartFD  = 3
	stormReadSize = 1 << 20
)

// StormWorkerMain runs a storm worker and exits when this process was
// started as one; otherwise it returns at once. The driver calls it first
// thing.
func StormWorkerMain() {
	file, ok := os.LookupEnv(stormFileEnv)
	if !ok {
		return
	}
	pages, elapsed, err := runStormWorker(file, os.Getenv(stormDurationEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "storm worker: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("pages=%d elapsed_ns=%d\n", pages, elapsed.Nanoseconds())
	os.Exit(0)
}

func runStormWorker(file, durationText string) (uint64, time.Duration, error) {
	d, err := time.ParseDuration(durationText)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("bad %s=%q", stormDurationEnv, durationText)
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	start := os.NewFile(stormStartFD, "storm-start")
	var b [1]byte
	if n, err := start.Read(b[:]); n != 1 {
		return 0, 0, fmt.Errorf("no go-ahead from the parent: %w", err)
	}
	start.Close()
	// Pages another worker or an earlier round left in the page cache
	// would be read without being allocated.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return 0, 0, fmt.Errorf("drop cached pages of %s: %w", file, err)
	}
	buf := make([]byte, stormReadSize)
	var off, total int64
	begin := time.Now()
	deadline := begin.Add(d)
	for time.Now().Before(deadline) {
		n, err := f.ReadAt(buf, off)
		total += int64(n)
		off += int64(n)
		if errors.Is(err, io.EOF) || off >= fi.Size() {
			off = 0
		} else if err != nil {
			return 0, 0, err
		}
	}
	return uint64(total) / uint64(os.Getpagesize()), time.Since(begin), nil
}

// storm holds the cgroups and files of a reclaim storm.
type storm struct {
	groups []*memcg.Group
	files  []string
}

// stormSpec sizes a storm.
type stormSpec struct {
	workers    int   // cgroups and files made; a run may use fewer
	limitBytes int64 // each cgroup's limit
	fileBytes  int64 // each worker's sparse file
}

// newStorm makes the cgroups below parent (relative to the hierarchy's
// mount point) and the sparse files in dir.
func newStorm(h memcg.Hierarchy, parent string, spec stormSpec, dir string) (s *storm, err error) {
	if err := checkPageCacheFS(dir); err != nil {
		return nil, err
	}
	s = &storm{}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.remove())
		}
	}()
	for i := range spec.workers {
		g, err := h.Create(fmt.Sprintf("%s/storm-%d", parent, i), spec.limitBytes)
		if err != nil {
			return s, err
		}
		s.groups = append(s.groups, g)
		name := filepath.Join(dir, fmt.Sprintf("oombench-storm-%d-%d", os.Getpid(), i))
		f, err := os.Create(name)
		if err != nil {
			return s, fmt.Errorf("create storm file: %w", err)
		}
		s.files = append(s.files, name)
		err = f.Truncate(spec.fileBytes)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return s, fmt.Errorf("size storm file %s: %w", name, err)
		}
	}
	return s, nil
}

// checkPageCacheFS refuses a directory on tmpfs or ramfs: their pages are
// not reclaimable page cache, and reading holes there would fill the
// workers' cgroups with memory that can only be freed by an OOM kill.
func checkPageCacheFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("check file system of %s: %w", dir, err)
	}
	switch st.Type {
	case unix.TMPFS_MAGIC, unix.RAMFS_MAGIC:
		return fmt.Errorf("%s is on tmpfs or ramfs: the storm needs a disk-backed file system (set the work directory elsewhere)", dir)
	}
	return nil
}

// remove kills what is left in the storm's cgroups, removes them and
// deletes the files.
func (s *storm) remove() error {
	var errs []error
	for _, g := range s.groups {
		errs = append(errs, g.Remove())
	}
	for _, name := range s.files {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.groups, s.files = nil, nil
	return errors.Join(errs...)
}

// stormRun is a storm in progress.
type stormRun struct {
	workers []*exec.Cmd
	outputs []*bytes.Buffer
	d       time.Duration
}

// stormResult is what a storm achieved.
type stormResult struct {
	Pages       uint64
	PagesPerSec float64 // summed over the workers, each over its own run time
	// CPU is the workers' CPU time, user and system: the kernel's reclaim,
	// and the BPF programs that trace it, run in their context.
	CPU time.Duration
}

// start starts n workers for d; they stop by themselves.
func (s *storm) start(n int, d time.Duration) (run *stormRun, err error) {
	if n > len(s.groups) {
		return nil, fmt.Errorf("storm of %d workers: only %d cgroups", n, len(s.groups))
	}
	run = &stormRun{d: d}
	defer func() {
		if err != nil {
			run.kill()
		}
	}()
	var goAhead []*os.File
	defer func() {
		for _, f := range goAhead {
			f.Close()
		}
	}()
	for i := range n {
		r, w, err := os.Pipe()
		if err != nil {
			return run, fmt.Errorf("start storm worker: %w", err)
		}
		goAhead = append(goAhead, w)
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), stormFileEnv+"="+s.files[i], stormDurationEnv+"="+d.String())
		cmd.ExtraFiles = []*os.File{r} // becomes stormStartFD
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
		r.Close()
		if err != nil {
			return run, fmt.Errorf("start storm worker: %w", err)
		}
		run.workers = append(run.workers, cmd)
		run.outputs = append(run.outputs, out)
		if err := s.groups[i].AddProcess(cmd.Process.Pid); err != nil {
			return run, fmt.Errorf("start storm worker: %w", err)
		}
	}
	for _, w := range goAhead {
		if _, err := w.Write([]byte{1}); err != nil {
			return run, fmt.Errorf("start storm worker: %w", err)
		}
	}
	return run, nil
}

// stormGrace is how long after its duration a worker may take to report.
const stormGrace = 10 * time.Second

// wait waits for every worker and sums what they read.
func (run *stormRun) wait() (stormResult, error) {
	var res stormResult
	var errs []error
	timer := time.AfterFunc(run.d+stormGrace, run.kill)
	defer timer.Stop()
	for i, cmd := range run.workers {
		if err := cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("storm worker: %w: %s", err, strings.TrimSpace(run.outputs[i].String())))
			continue
		}
		pages, elapsed, err := parseWorkerResult(run.outputs[i].String())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.CPU += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		res.Pages += pages
		res.PagesPerSec += float64(pages) / elapsed.Seconds()
	}
	return res, errors.Join(errs...)
}

func (run *stormRun) kill() {
	for _, cmd := range run.workers {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	}
}

// parseWorkerResult parses a worker's "pages=N elapsed_ns=N" line.
func parseWorkerResult(s string) (uint64, time.Duration, error) {
	var pages, ns uint64
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "pages=%d elapsed_ns=%d", &pages, &ns); err != nil || ns == 0 {
		return 0, 0, fmt.Errorf("storm worker reported %q", strings.TrimSpace(s))
	}
	return pages, time.Duration(ns), nil
}

// runStorm runs n workers for d and waits for them.
func (s *storm) run(n int, d time.Duration) (stormResult, error) {
	run, err := s.start(n, d)
	if err != nil {
		return stormResult{}, err
	}
	return run.wait()
}
