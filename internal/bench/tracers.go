package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/stream"
)

// tool is a way of watching the OOM killer and reclaim.
type tool int

const (
	toolNone     tool = iota // nothing traced: the baseline
	toolOomtrace             // oomtrace trace
	toolBpftrace             // a bpftrace script on the same tracepoints
	toolPerf                 // perf record -e 'vmscan:*' -e 'oom:*'
	// toolEmpty is a program of return 0 on each of oomtrace's
	// tracepoints, loaded by the harness itself: the floor of the
	// per-program costs (emptyprog.go).
	toolEmpty
	// toolReclaimStep is one of the reclaim steps, oomtrace's end of
	// reclaim program taken apart (reclaimsteps.go), loaded by the harness.
	toolReclaimStep
)

func (t tool) String() string {
	switch t {
	case toolNone:
		return "no tracer"
	case toolOomtrace:
		return "oomtrace"
	case toolBpftrace:
		return "bpftrace"
	case toolPerf:
		return "perf record"
	case toolEmpty:
		return "empty programs"
	case toolReclaimStep:
		return "reclaim steps"
	}
	return "tool(" + strconv.Itoa(int(t)) + ")"
}

// tools are the programs the benchmark runs.
type tools struct {
	oomtrace string
	bpftrace string
	perf     string
	workDir  string // for ready files, fifos and perf.data
	// oomtraceHelp is oomtrace trace -h: which flags this oomtrace has.
	oomtraceHelp string
}

// oomtraceHas reports whether oomtrace trace has the flag --name.
func (ts tools) oomtraceHas(name string) bool {
	return strings.Contains(ts.oomtraceHelp, "--"+name+" ")
}

// bpftraceScript does what oomtrace's programs do, the way a bpftrace user
// would write it: time every reclaim episode per thread into a histogram
// per cgroup, print the episodes of 1 ms or more, and print every victim
// of the OOM killer, its reaping and kswapd wake-ups.
const bpftraceScript = `
tracepoint:vmscan:mm_vmscan_direct_reclaim_begin,
tracepoint:vmscan:mm_vmscan_memcg_reclaim_begin,
tracepoint:vmscan:mm_vmscan_memcg_softlimit_reclaim_begin
{ @start[tid] = nsecs; }

tracepoint:vmscan:mm_vmscan_direct_reclaim_end,
tracepoint:vmscan:mm_vmscan_memcg_reclaim_end,
tracepoint:vmscan:mm_vmscan_memcg_softlimit_reclaim_end
/@start[tid]/
{
	$ns = nsecs - @start[tid];
	delete(@start[tid]);
	@reclaim_us[cgroup] = hist($ns / 1000);
	if ($ns >= 1000000) {
		printf("reclaim tid=%d comm=%s ns=%d nr_reclaimed=%d\n", tid, comm, $ns, args->nr_reclaimed);
	}
}

tracepoint:oom:mark_victim
{
	printf("oom_kill pid=%d comm=%s anon_rss_kb=%d file_rss_kb=%d shmem_rss_kb=%d total_vm_kb=%d uid=%d oom_score_adj=%d\n",
		args->pid, str(args->comm), args->anon_rss, args->file_rss, args->shmem_rss, args->total_vm, args->uid, args->oom_score_adj);
}

tracepoint:oom:wake_reaper, tracepoint:oom:start_task_reaping,
tracepoint:oom:finish_task_reaping, tracepoint:oom:skip_task_reaping
{ printf("%s pid=%d\n", probe, args->pid); }

tracepoint:vmscan:mm_vmscan_kswapd_wake
{ printf("kswapd_wake nid=%d zid=%d order=%d\n", args->nid, args->zid, args->order); }
`

// bpftraceReadyLine is what bpftrace prints on stderr once every probe is
// attached, when its environment has bpftraceReadyEnv.
const (
	bpftraceReadyEnv  = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"
	bpftraceReadyLine = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"
)

// runningTool is a tool started by startTracer.
type runningTool struct {
	tool    tool
	p       *proc
	startup time.Duration // from exec to attached
	mode    string        // oomtrace's attach mode
	lines   atomic.Uint64 // lines written on stdout
	dir     string        // temporary files
	perfOut string        // perf.data
	fifos   []*os.File
}

// readyTimeout bounds a tool's start-up.
const readyTimeout = 60 * time.Second

// startTracer starts t and returns once it is attached. For oomtrace, args
// are added to "trace"; onLine, when not nil, sees every line of stdout.
func (ts tools) startTracer(t tool, args []string, onLine lineFunc) (tr *runningTool, err error) {
	tr = &runningTool{tool: t}
	if t == toolNone {
		return tr, nil
	}
	tr.dir, err = os.MkdirTemp(ts.workDir, "oombench-tracer-")
	if err != nil {
		return nil, fmt.Errorf("start %v: %w", t, err)
	}
	defer func() {
		if err != nil {
			if tr.p != nil {
				tr.p.kill()
			}
			tr.cleanup()
			err = fmt.Errorf("start %v: %w", t, err)
		}
	}()
	stdout := func(line []byte, readNS uint64) {
		tr.lines.Add(1)
		if onLine != nil {
			onLine(line, readNS)
		}
	}
	var readyNS uint64
	switch t {
	case toolOomtrace:
		readyNS, err = tr.startOomtrace(ts.oomtrace, args, stdout)
	case toolBpftrace:
		readyNS, err = tr.startBpftrace(ts.bpftrace, bpftraceScript, stdout)
	case toolPerf:
		readyNS, err = tr.startPerf(ts.perf, stdout)
	default:
		err = fmt.Errorf("unknown tool %d", t)
	}
	if err != nil {
		return tr, err
	}
	tr.startup = time.Duration(readyNS - tr.p.startNS)
	return tr, nil
}

// startOomtrace runs oomtrace trace with a ready file and waits, with
// inotify, for the file to be closed: oomtrace writes it once attached.
func (tr *runningTool) startOomtrace(bin string, args []string, stdout lineFunc) (uint64, error) {
	ready := filepath.Join(tr.dir, "ready")
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return 0, fmt.Errorf("inotify: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, tr.dir, unix.IN_CLOSE_WRITE); err != nil {
		return 0, fmt.Errorf("inotify: %w", err)
	}
	tr.p, err = startProc(bin, append([]string{"trace", "--ready-file", ready}, args...), procOptions{stdout: stdout})
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(readyTimeout)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 50); err != nil && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("inotify: %w", err)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			readyNS := stream.BootNanos()
			if _, err := unix.Read(fd, buf); err != nil && !errors.Is(err, unix.EAGAIN) {
				return 0, fmt.Errorf("inotify: %w", err)
			}
			if b, err := os.ReadFile(ready); err == nil && len(b) > 0 {
				tr.mode = strings.TrimSpace(string(b))
				return readyNS, nil
			}
		}
		select {
		case <-tr.p.exited:
			return 0, fmt.Errorf("oomtrace exited before it was attached: %v: %s", tr.p.waitErr, tr.p.stderr())
		default:
		}
	}
	return 0, fmt.Errorf("oomtrace not attached after %v: %s", readyTimeout, tr.p.stderr())
}

// startBpftrace runs script and waits for bpftrace to say on stderr that
// every probe is attached.
func (tr *runningTool) startBpftrace(bin, script string, stdout lineFunc) (uint64, error) {
	ready := make(chan uint64, 1)
	var err error
	tr.p, err = startProc(bin, []string{"-e", script}, procOptions{
		stdout: stdout,
		stderr: func(line []byte, readNS uint64) {
			if bytes.Contains(line, []byte(bpftraceReadyLine)) {
				select {
				case ready <- readNS:
				default:
				}
			}
		},
		env: []string{bpftraceReadyEnv + "=1"},
	})
	if err != nil {
		return 0, err
	}
	select {
	case ns := <-ready:
		return ns, nil
	case <-tr.p.exited:
		return 0, fmt.Errorf("bpftrace exited before it was attached: %v: %s", tr.p.waitErr, tr.p.stderr())
	case <-time.After(readyTimeout):
		return 0, fmt.Errorf("bpftrace not attached after %v: %s", readyTimeout, tr.p.stderr())
	}
}

// startPerf runs perf record with its events disabled and a control fifo,
// enables them and waits for perf's acknowledgement: from then on every
// event is recorded.
func (tr *runningTool) startPerf(bin string, stdout lineFunc) (uint64, error) {
	ctlName, ackName := filepath.Join(tr.dir, "ctl"), filepath.Join(tr.dir, "ack")
	for _, name := range []string{ctlName, ackName} {
		if err := unix.Mkfifo(name, 0o600); err != nil {
			return 0, fmt.Errorf("make fifo: %w", err)
		}
		// Read-write: opening a fifo so never blocks on the other end.
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			return 0, fmt.Errorf("open fifo: %w", err)
		}
		tr.fifos = append(tr.fifos, f)
	}
	tr.perfOut = filepath.Join(tr.dir, "perf.data")
	var err error
	tr.p, err = startProc(bin, []string{"record", "-e", "vmscan:*", "-e", "oom:*", "-a", "-o", tr.perfOut,
		"-D", "-1", "--control", "fifo:" + ctlName + "," + ackName}, procOptions{stdout: stdout})
	if err != nil {
		return 0, err
	}
	ctl, ack := tr.fifos[0], tr.fifos[1]
	if _, err := ctl.WriteString("enable\n"); err != nil {
		return 0, fmt.Errorf("enable perf events: %w", err)
	}
	if err := ack.SetReadDeadline(time.Now().Add(readyTimeout)); err != nil {
		return 0, fmt.Errorf("wait for perf: %w", err)
	}
	buf := make([]byte, 16)
	n, err := ack.Read(buf)
	readyNS := stream.BootNanos()
	if err != nil {
		return 0, fmt.Errorf("perf did not acknowledge enabling its events: %w: %s", err, tr.p.stderr())
	}
	if !bytes.HasPrefix(buf[:n], []byte("ack")) {
		return 0, fmt.Errorf("perf answered %q to enable", buf[:n])
	}
	return readyNS, nil
}

func (tr *runningTool) pid() int { return tr.p.pid() }

// tracerExit is what a tool said when it stopped.
type tracerExit struct {
	// For oomtrace: its summary line.
	Lost, DecodeErrors uint64
	// For perf: events recorded and records lost, from perf report --stats.
	PerfSamples, PerfLost uint64
	// note says what went wrong at the end, if anything did that does not
	// spoil the measurement.
	note string
}

// stop stops the tool with SIGINT and removes its files. A tool other than
// oomtrace that has to be killed is only worth a note: what was measured
// before stands.
func (tr *runningTool) stop(ts tools) (tracerExit, error) {
	defer tr.cleanup()
	var exit tracerExit
	if tr.p == nil {
		return exit, nil
	}
	if err := tr.p.stop(); err != nil {
		if tr.tool != toolOomtrace && errors.Is(err, errStopTimeout) {
			exit.note = err.Error()
			return exit, nil
		}
		return exit, err
	}
	switch tr.tool {
	case toolOomtrace:
		s, err := parseOomtraceSummary(tr.p.stderr())
		return s, err
	case toolPerf:
		out, err := exec.Command(ts.perf, "report", "--stats", "-i", tr.perfOut).CombinedOutput()
		if err != nil {
			return exit, fmt.Errorf("perf report --stats: %w: %s", err, out)
		}
		exit.PerfSamples, exit.PerfLost = parsePerfStats(string(out))
	}
	return exit, nil
}

func (tr *runningTool) cleanup() {
	for _, f := range tr.fifos {
		f.Close()
	}
	tr.fifos = nil
	if tr.dir != "" {
		os.RemoveAll(tr.dir)
		tr.dir = ""
	}
}

// oomtraceSummary matches the log line oomtrace trace ends with.
var oomtraceSummary = regexp.MustCompile(`msg=stopped .*\blost=(\d+) decode_errors=(\d+)`)

func parseOomtraceSummary(stderr string) (tracerExit, error) {
	m := oomtraceSummary.FindAllStringSubmatch(stderr, -1)
	if m == nil {
		return tracerExit{}, fmt.Errorf("oomtrace printed no summary: %s", stderr)
	}
	last := m[len(m)-1]
	lost, _ := strconv.ParseUint(last[1], 10, 64)
	decodeErrors, _ := strconv.ParseUint(last[2], 10, 64)
	return tracerExit{Lost: lost, DecodeErrors: decodeErrors}, nil
}

// parsePerfStats reads the totals of perf report --stats: the first
// "SAMPLE events" and "LOST events" lines are the aggregated ones.
func parsePerfStats(out string) (samples, lost uint64) {
	var sawSamples, sawLost bool
	for line := range strings.Lines(out) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(key) {
		case "SAMPLE events":
			if !sawSamples {
				samples, sawSamples = n, true
			}
		case "LOST events":
			if !sawLost {
				lost, sawLost = n, true
			}
		}
	}
	return samples, lost
}
