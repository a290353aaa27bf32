package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/browser"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/htmlreport"
	"github.com/oomtrace/oomtrace/internal/htmlreport/htmltest"
	"github.com/oomtrace/oomtrace/internal/memcg"
)

// A load test whose memory climbs, one MiB every 30 ms, to its cgroup's
// 32 MiB limit and is killed there, wrapped in oomtrace record with
// samples. The log's samples follow the climb, and the text and HTML
// reports draw it with the kill on it.
func TestRecordSamplesAndHTMLReport(t *testing.T) {
	recordClimb(t)
}

// The HTML report of that load test in a real browser: it loads without
// errors and its kill marker lies inside the plot. Host only: the VM image
// has no browser.
func TestHTMLReportInBrowser(t *testing.T) {
	chromium, err := browser.Find()
	if err != nil {
		t.Fatalf("%v (.ci/run installs it)", err)
	}
	page := recordClimb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := browser.Start(chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	result := htmltest.Check(ctx, t, b, page, htmlreport.OpenLanes)
	if result.Markers != 1 || result.Lanes != 2 {
		t.Errorf("%d kill markers on %d lanes, want 1 on the node's and the cgroup's", result.Markers, result.Lanes)
	}
	if shots := os.Getenv("OOMTRACE_SCREENSHOTS"); shots != "" {
		if err := os.WriteFile(filepath.Join(shots, "e2e-report.png"), result.Screenshot, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// recordClimb records the climb, checks the log and the reports of it, and
// returns the HTML report's file.
func recordClimb(t *testing.T) string {
	t.Helper()
	h := requireRoot(t)
	g := createGroup(t, h, memcg.UniqueName("oomtrace-e2e"), 32)
	dir := t.TempDir()
	log, page, pidFile := filepath.Join(dir, "capture.log"), filepath.Join(dir, "report.html"), filepath.Join(dir, "pid")
	kmsg := openKmsg(t)
	command, env := selfHog(t, g, 64, pidFile)
	env = append(env, selfHogStepEnv+"=30ms")
	// --cgroup keeps out the OOMs and reclaim of tests running meanwhile.
	_, stderr, status := runEnv(t, env, "record", "--mode", modeUnderTest(), "-o", log, "--sample-interval", "50ms",
		"--interval", "100ms", "--cgroup", g.Path(), "--watch-cgroup", g.Path(), "--", command)
	if status != 128+int(syscall.SIGKILL) {
		t.Fatalf("record exited %d, want 137 as the SIGKILLed command\nstderr:\n%s", status, stderr)
	}
	pid := readPID(t, pidFile)
	k := kernelKill(t, kmsg, pid)
	events, info := readLog(t, log)
	checkComplete(t, events, info)

	// Samples of the node throughout, and of the cgroup climbing to its
	// limit before the kill.
	var nodes, before int
	var killedAt uint64
	var peak, prev uint64
	rising := 0
	for _, ev := range events {
		if ev.Kind == event.KindOOMKill {
			killedAt = ev.KtimeNS
		}
		if ev.Kind != event.KindSample {
			continue
		}
		s := ev.Sample
		if s.IsNode() {
			nodes++
			if s.MemTotalBytes == 0 || s.MemAvailableBytes > s.MemTotalBytes {
				t.Errorf("node sample %+v", s)
			}
			continue
		}
		if s.Cgroup.Path != g.Path() {
			t.Errorf("sample of %s, which the test did not watch and which did not reclaim", s.Cgroup.Path)
			continue
		}
		if s.Cgroup.LimitBytes != 32<<20 {
			t.Errorf("sampled limit %d, want 32 MiB", s.Cgroup.LimitBytes)
		}
		if killedAt == 0 {
			before++
			if s.Cgroup.UsageBytes > prev {
				rising++
			}
			prev = s.Cgroup.UsageBytes
			peak = max(peak, s.Cgroup.UsageBytes)
		}
	}
	if killedAt == 0 || k.PID != pid {
		t.Fatalf("no kill of %d in the log", pid)
	}
	// 32 MiB at a MiB per 30 ms take about a second: some 20 samples at
	// 50 ms. A loaded machine is slower, never faster.
	if nodes < 10 || before < 10 || rising < 8 {
		t.Errorf("%d samples of the node; %d of the cgroup before the kill, rising %d times", nodes, before, rising)
	}
	// A sample read as the kill happens may see a little more: the kernel
	// lets a task it is killing charge past the limit so that it can exit.
	if peak < 24<<20 || peak > 34<<20 {
		t.Errorf("highest usage sampled before the kill %d MiB, want close to the 32 MiB limit", peak>>20)
	}

	// The text report sums it up in sparklines; the HTML report draws it.
	stdout, stderr, status := runBin(t, nil, "report", log)
	if status != 0 || !strings.Contains(stdout, "over time: ") || !strings.Contains(stdout, g.Path()+"  ") || !strings.Contains(stdout, "32MiB/32MiB") {
		t.Errorf("report: status %d\n%s%s", status, stdout, stderr)
	}
	stdout, stderr, status = runBin(t, nil, "report", "--html", page, log)
	if status != 0 || stdout != "" {
		t.Fatalf("report --html: status %d\n%s%s", status, stdout, stderr)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), g.Path()) || strings.Count(string(html), `<g class="kill">`) != 1 {
		t.Errorf("the page does not draw %s with one kill", g.Path())
	}

	return page
}

// report --html writes a regular file whole or not at all, by renaming a
// finished one over it; a device or a pipe is written through, and stays
// what it was. A link to a regular file is refused, and so is one to
// nothing: renaming would replace the link, and writing through it would
// let whoever made it choose the file root writes.
func TestHTMLReportOntoWhatIsThere(t *testing.T) {
	requireRoot(t) // mknod
	dir := t.TempDir()
	capture := filepath.Join("..", "testdata", "capture", "memcg-oom.log")
	null, fifo := filepath.Join(dir, "null"), filepath.Join(dir, "fifo")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	target, link, dangling := plantLinks(t, dir, "someone else's file")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	piped := make(chan []byte, 1)
	go func() {
		data, _ := os.ReadFile(fifo) // blocks until the report opens it
		piped <- data
	}()
	for _, out := range []string{null, fifo} {
		if _, stderr, status := runBin(t, nil, "report", "--html", out, capture); status != 0 {
			t.Errorf("report --html %s: status %d\n%s", out, status, stderr)
		}
	}
	for _, out := range []string{link, dangling} {
		if _, stderr, status := runBin(t, nil, "report", "--html", out, capture); status != 2 || !strings.Contains(stderr, "is a link to a file, or to nothing") {
			t.Errorf("report --html %s: status %d, want 2 and a refusal\n%s", out, status, stderr)
		}
	}
	if info, err := os.Lstat(null); err != nil || info.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("the device after the report: %v, %v", info, err)
	}
	for _, l := range []string{link, dangling} {
		if info, err := os.Lstat(l); err != nil || info.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s after the report: %v, %v", l, info, err)
		}
	}
	if data, err := os.ReadFile(target); err != nil || string(data) != "someone else's file" {
		t.Errorf("the link's target: %.40q, %v; want it untouched", data, err)
	}
	select {
	case data := <-piped:
		if !strings.HasPrefix(string(data), "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(string(data)), "</html>") {
			t.Errorf("the pipe read %.40q ... %d bytes, want the whole page", data, len(data))
		}
	case <-time.After(10 * time.Second):
		t.Error("nothing came through the pipe")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("%d files in the directory after the reports, want the 5 there before: %v", len(entries), entries)
	}
}
