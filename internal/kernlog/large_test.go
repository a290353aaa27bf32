package kernlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeLargeLog writes a syslog file of about size bytes holding reports
// real reports (this machine's, from kern.log) among other programs' and
// the kernel's other lines, and returns the number of kills in it.
func writeLargeLog(t testing.TB, path string, size int64, reports int) int {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "6.18-v1-rec-memcg.kern.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The report of pid 14614 alone: from its header to its kill.
	text := string(tmpl)
	start := strings.Index(text, "Dec  2 23:07:36 vm kernel: [ 2866.035781] klhog invoked oom-killer")
	report := text[start:]
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	filler := []string{
		"Dec  2 23:07:36 vm systemd[1]: Started session-%d.scope - Session %d of User root.\n",
		"Dec  2 23:07:36 vm kernel: [ 2866.000000] IPv6: ADDRCONF(NETDEV_CHANGE): veth%d: link becomes ready\n",
		"Dec  2 23:07:36 vm containerd[812]: time=\"2026-12-02T23:07:36.%06dZ\" level=info msg=\"shim disconnected\" id=%d namespace=k8s.io\n",
		"Dec  2 23:07:36 vm kubelet[901]: I1202 23:07:36.%06d     901 kubelet.go:2440] \"SyncLoop (PLEG): event for pod\" pod=\"default/web-%d\"\n",
	}
	var written int64
	fillerPerReport := 0
	kills := 0
	for i := 0; written < size; i++ {
		if fillerPerReport == 0 && i > 0 {
			// Spread the reports evenly over the size asked for.
			fillerPerReport = int((size / int64(reports)) / (written / int64(i)))
		}
		if kills < reports && (fillerPerReport == 0 || i%max(fillerPerReport, 1) == 0) {
			r := strings.ReplaceAll(report, "14614", strconv.Itoa(100000+kills))
			n, _ := w.WriteString(r)
			written += int64(n)
			kills++
			continue
		}
		line := filler[i%len(filler)]
		n, _ := fmt.Fprintf(w, line, i, i)
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return kills
}

// TestLargeLog streams a 1 GiB syslog with 10,000 OOM reports and reports
// the time and peak RSS of a process that does only that. It writes 1 GiB
// to a temporary directory, so it runs only with KERNLOG_LARGE=1 (make
// bench-kernlog).
func TestLargeLog(t *testing.T) {
	if os.Getenv("KERNLOG_LARGE") == "" {
		t.Skip("set KERNLOG_LARGE=1 to stream a 1 GiB log")
	}
	path := filepath.Join(t.TempDir(), "kern.log")
	kills := writeLargeLog(t, path, 1<<30, 10000)
	st, _ := os.Stat(path)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLargeLogChild$", "-test.v")
	cmd.Env = append(os.Environ(), "KERNLOG_LARGE_CHILD="+path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	t.Logf("%d bytes, %d reports written; child: %s", st.Size(), kills, strings.TrimSpace(lastLine(string(out))))
	t.Logf("streamed in %v, peak RSS %.1f MiB", elapsed.Round(time.Millisecond), float64(rss)/1024)
	if !strings.Contains(string(out), fmt.Sprintf("kills=%d ", kills)) {
		t.Errorf("child did not count %d kills:\n%s", kills, out)
	}
	if elapsed > 10*time.Second || rss > 50*1000*1000/1024 {
		t.Errorf("over budget: %v, %d KiB (want ≤ 10 s, ≤ 50 MB)", elapsed, rss)
	}
}

func lastLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "kills=") {
			return l
		}
	}
	return ""
}

func TestLargeLogChild(t *testing.T) {
	path := os.Getenv("KERNLOG_LARGE_CHILD")
	if path == "" {
		t.Skip("run by TestLargeLog")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := NewDecoder(f, path)
	kills, reports := 0, 0
	for {
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Report != nil {
			reports++
			kills += len(it.Report.Victims)
		}
	}
	_, nwarn := d.Warnings()
	fmt.Printf("kills=%d reports=%d warnings=%d\n", kills, reports, nwarn)
}
