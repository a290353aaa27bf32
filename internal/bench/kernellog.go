package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// kernelLogTemplate is a real report of a memcg OOM kill, this machine's,
// as rsyslog wrote it into kern.log.
const kernelLogTemplate = "testdata/kernlog/6.18-v1-rec-memcg.kern.log"

// syntheticKernelLog writes a syslog file of about size bytes with reports
// copies of the report in template (from its header on) among other
// programs' lines and the kernel's other ones, each report's pid its own,
// and returns the number of kills written.
func syntheticKernelLog(w io.Writer, template []byte, size int64, reports int) (int, error) {
	text := string(template)
	start := strings.Index(text, " invoked oom-killer")
	if start < 0 {
		return 0, fmt.Errorf("%s: no report in it", kernelLogTemplate)
	}
	report := text[strings.LastIndexByte(text[:start], '\n')+1:]
	const pid = "14614"
	if !strings.Contains(report, "Killed process "+pid) {
		return 0, fmt.Errorf("%s: no kill of pid %s in it", kernelLogTemplate, pid)
	}
	filler := []string{
		"Dec  2 23:07:36 vm systemd[1]: Started session-%d.scope - Session %d of User root.\n",
		"Dec  2 23:07:36 vm kernel: [ 2866.000000] IPv6: ADDRCONF(NETDEV_CHANGE): veth%d: link becomes ready (%d)\n",
		"Dec  2 23:07:36 vm containerd[812]: time=\"2026-12-02T23:07:36.%06dZ\" level=info msg=\"shim disconnected\" id=%d namespace=k8s.io\n",
		"Dec  2 23:07:36 vm kubelet[901]: I1202 23:07:36.%06d     901 kubelet.go:2440] \"SyncLoop (PLEG): event for pod\" pod=\"default/web-%d\"\n",
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var written int64
	perReport := size / int64(reports)
	kills := 0
	for i := 0; written < size; i++ {
		if kills < reports && written >= int64(kills)*perReport {
			n, err := bw.WriteString(strings.ReplaceAll(report, pid, strconv.Itoa(100000+kills)))
			if err != nil {
				return kills, err
			}
			written += int64(n)
			kills++
			continue
		}
		n, err := fmt.Fprintf(bw, filler[i%len(filler)], i, i)
		if err != nil {
			return kills, err
		}
		written += int64(n)
	}
	return kills, bw.Flush()
}

type kernelLogResults struct {
	size    int64
	reports int
	found   int // kills oomtrace explain found
	cases   []reportCase
}

// kernelLogScenario writes a 1 GiB syslog with 10,000 OOM reports, then
// times oomtrace explain and oomtrace report on it, interleaved.
func (b *bencher) kernelLogScenario(ctx context.Context) (*kernelLogResults, error) {
	template, err := os.ReadFile(filepath.Join(b.cfg.RepoDir, kernelLogTemplate))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(b.cfg.WorkDir, "oombench-kernlog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "kern.log")
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	res := &kernelLogResults{size: b.cfg.KernelLogBytes}
	res.reports, err = syntheticKernelLog(f, template, b.cfg.KernelLogBytes, b.cfg.KernelLogReports)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write synthetic kernel log: %w", err)
	}
	// Every kill found, before any is timed.
	out, err := exec.CommandContext(ctx, b.cfg.Oomtrace, "explain", "--output", "json", name).Output()
	if err != nil {
		return nil, fmt.Errorf("oomtrace explain: %w", err)
	}
	res.found = bytes.Count(out, []byte(`"event":"oom_kill"`))
	res.cases = []reportCase{{command: "explain"}, {command: "report"}}
	for round := range b.cfg.ReportRounds {
		for i := range res.cases {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			c := &res.cases[i]
			args := []string{c.command, name}
			if c.command == "explain" {
				args = []string{"explain", "--output", "json", name}
			}
			run, err := timeCommand(ctx, b.cfg.Oomtrace, args)
			if err != nil {
				return res, err
			}
			c.runs = append(c.runs, run)
			b.logf("kernel log round %d/%d  %-7s %6.2fs  peak RSS %.0f MiB", round+1, b.cfg.ReportRounds, c.command,
				run.wall.Seconds(), float64(run.peakRSS)/(1<<20))
		}
	}
	return res, nil
}
