package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/oomtrace/oomtrace/internal/memcg"
	"github.com/oomtrace/oomtrace/internal/metrics"
)

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func labelsOf(m *dto.Metric) map[string]string {
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// servedPod is an oomtrace serve watching a pod-shaped cgroup tree whose
// container has a 32 MiB limit.
type servedPod struct {
	addr string
	cmd  *exec.Cmd
	ctr  *memcg.Group
}

func startServedPod(t *testing.T, extra ...string) servedPod {
	t.Helper()
	h := requireRoot(t)
	p := newKubePod(t, "shop", "api-7d9", "api")
	top := memcg.UniqueName("oomtrace-e2e")
	podPath, ctrPath := p.cgroups(top, false)
	createGroup(t, h, top, 0)
	createGroup(t, h, podPath, 0)
	s := servedPod{addr: freeAddr(t), ctr: createGroup(t, h, ctrPath, 32)}

	ready := filepath.Join(t.TempDir(), "ready")
	args := []string{"serve", "--mode", modeUnderTest(), "--listen", s.addr, "--ready-file", ready,
		"--cgroup", "/" + top, "--host-root", p.hostRoot, "--interval", "200ms"}
	s.cmd = exec.Command(oomtraceBin, append(args, extra...)...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	waitReady(t, ready, nil)
	return s
}

// kill causes n memcg OOM kills in the pod's container.
func (s servedPod) kill(t *testing.T, n int) {
	t.Helper()
	for range n {
		waitSIGKILL(t, hog(t, s.ctr, 64, memcg.HogOptions{Comm: "api-server"}))
	}
}

// The node agent counts real kills by pod and container, says it is
// healthy while it traces, and stops cleanly on SIGTERM.
func TestServeMetrics(t *testing.T) {
	s := startServedPod(t, "--ring-buffer", "8MiB")
	if code := httpStatus(t, "http://"+s.addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code := httpStatus(t, "http://"+s.addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}

	const kills = 2
	s.kill(t, kills)
	// Kills are counted as they come, reclaim every --interval.
	var got float64
	var families map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = 0
		families = scrape(t, s.addr)
		if f := families["oomtrace_oom_kills_total"]; f != nil {
			for _, m := range f.GetMetric() {
				l := labelsOf(m)
				if l["class"] == "memcg" && l["namespace"] == "shop" && l["pod"] == "api-7d9" && l["container"] == "api" && l["qos"] == "burstable" {
					got += m.GetCounter().GetValue()
				}
			}
		}
		if got >= kills && families["oomtrace_pod_reclaim_seconds"] != nil {
			break
		}
	}
	if got != kills {
		t.Errorf("oomtrace_oom_kills_total for pod shop/api-7d9 container api: %v, want %d", got, kills)
	}
	for _, name := range []string{"oomtrace_reclaim_seconds", "oomtrace_pod_reclaim_seconds", "oomtrace_build_info", "oomtrace_events_lost_total"} {
		if families[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if lost := families["oomtrace_events_lost_total"]; lost != nil && lost.GetMetric()[0].GetCounter().GetValue() != 0 {
		t.Errorf("events lost: %v", lost.GetMetric()[0].GetCounter().GetValue())
	}
	// The ring buffer: the 8 MiB asked for, every kill read through it,
	// never full.
	ring := map[string]float64{}
	for _, name := range []string{"oomtrace_ringbuf_size_bytes", "oomtrace_ringbuf_pending_bytes", "oomtrace_ringbuf_max_pending_bytes", "oomtrace_ringbuf_records_read_total"} {
		f := families[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("no %s in /metrics", name)
			continue
		}
		m := f.GetMetric()[0]
		ring[name] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	if size := ring["oomtrace_ringbuf_size_bytes"]; size != 8<<20 || ring["oomtrace_ringbuf_max_pending_bytes"] >= size ||
		ring["oomtrace_ringbuf_pending_bytes"] >= size || ring["oomtrace_ringbuf_records_read_total"] < kills {
		t.Errorf("ring buffer metrics %v: want 8 MiB, never full, at least %d records read", ring, kills)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("oomtrace serve did not stop cleanly on SIGTERM: %v", err)
	}
	if _, err := http.Get("http://" + s.addr + "/metrics"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("metrics still served after SIGTERM: %v", err)
	}
}

// A real Prometheus server (Debian's package) scrapes the agent and counts
// the same kills, and promtool finds nothing wrong in the exposition.
func TestPrometheusScrapesServe(t *testing.T) {
	s := startServedPod(t)
	prom := startPrometheus(t, s.addr)
	const kills = 2
	s.kill(t, kills)
	if v := prom.waitValue(t, `sum(oomtrace_oom_kills_total{namespace="shop",pod="api-7d9",container="api"})`, kills); v != kills {
		t.Errorf("Prometheus sees %v kills of pod shop/api-7d9, want %d", v, kills)
	}
	promtool := exec.Command("promtool", "check", "metrics")
	promtool.Stdin = strings.NewReader(rawMetrics(t, s.addr))
	if out, err := promtool.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func rawMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prometheus is a real Prometheus server (Debian's package) on loopback,
// scraping target every 200 ms.
type prometheus struct{ addr string }

func startPrometheus(t *testing.T, target string) prometheus {
	t.Helper()
	return startPrometheusConfig(t, fmt.Sprintf("global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: oomtrace\n    static_configs:\n      - targets: [%q]\n", target))
}

// startPrometheusConfig runs a Prometheus server with this configuration.
func startPrometheusConfig(t *testing.T, config string) prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("the serve test scrapes with a real Prometheus server: apt-get install prometheus")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := prometheus{addr: freeAddr(t)}
	cmd := exec.Command(bin, "--config.file", filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", p.addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	return p
}

// waitValue polls an instant query until it returns want or 30 s pass,
// and returns the last value.
func (p prometheus) waitValue(t *testing.T, query string, want float64) float64 {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(query))
		if err != nil {
			continue // not up yet
		}
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || len(body.Data.Result) == 0 {
			continue
		}
		if s, ok := body.Data.Result[0].Value[1].(string); ok {
			if got, err = strconv.ParseFloat(s, 64); err == nil && got == want {
				return got
			}
		}
	}
	return got
}

// Pod churn: many short-lived pods, each with a kill, in cgroups created
// and removed one after the other. The series stay under the cap (the rest
// is counted under the overflow label) and the agent's memory does not
// grow with the pods.
func TestServeChurn(t *testing.T) {
	h := requireRoot(t)
	const pods, maxOwners = 1000, 100
	hostRoot := t.TempDir()
	top := memcg.UniqueName("oomtrace-e2e")
	createGroup(t, h, top, 0)
	addr := freeAddr(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin, "serve", "--mode", modeUnderTest(), "--listen", addr, "--ready-file", ready,
		"--cgroup", "/"+top, "--host-root", hostRoot, "--max-series-owners", strconv.Itoa(maxOwners))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitReady(t, ready, nil)

	churn := func(from, to int) {
		for i := from; i < to; i++ {
			p := newKubePodAt(t, hostRoot, "churn", fmt.Sprintf("job-%d", i), "worker")
			podPath, ctrPath := p.cgroups(top, false)
			pod, err := h.Create(podPath, 0)
			if err != nil {
				t.Fatal(err)
			}
			ctr, err := h.Create(ctrPath, 16<<20)
			if err != nil {
				t.Fatal(err)
			}
			cmd, err := memcg.StartHog(ctr, 32, memcg.HogOptions{Comm: "worker", Stderr: os.Stderr})
			if err != nil {
				t.Fatal(err)
			}
			waitSIGKILL(t, cmd)
			for _, g := range []*memcg.Group{ctr, pod} {
				if err := g.Remove(); err != nil {
					t.Fatalf("remove %s: %v", g.Path(), err)
				}
			}
		}
	}
	kills := func() (perPod, overflow, series float64) {
		for _, m := range scrape(t, addr)["oomtrace_oom_kills_total"].GetMetric() {
			series++
			if labelsOf(m)["pod"] == metrics.Overflow {
				overflow += m.GetCounter().GetValue()
			} else {
				perPod += m.GetCounter().GetValue()
			}
		}
		return perPod, overflow, series
	}

	churn(0, pods/2)
	half := peakRSS(t, cmd.Process.Pid)
	churn(pods/2, pods)
	var perPod, overflow, series float64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if perPod, overflow, series = kills(); perPod+overflow >= pods {
			break
		}
	}
	if perPod != maxOwners || overflow != pods-maxOwners || series != maxOwners+1 {
		t.Errorf("kills: %v in %v series of their own, %v under %s; want %d, %d, %d", perPod, series-1, overflow, metrics.Overflow, maxOwners, maxOwners, pods-maxOwners)
	}
	full := peakRSS(t, cmd.Process.Pid)
	t.Logf("agent peak RSS: %.1f MiB after %d pods, %.1f MiB after %d", float64(half)/(1<<20), pods/2, float64(full)/(1<<20), pods)
	if full-half > 8<<20 {
		t.Errorf("peak RSS grew by %.1f MiB over the second %d pods: not bounded", float64(full-half)/(1<<20), pods/2)
	}
}

// peakRSS is the most resident memory process pid has had (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	return procNumber(t, pid, "status", "VmHWM") << 10
}

// A reader of --print-events that goes away (a log shipper restarting)
// ends the agent with an error that says so, not silently by SIGPIPE.
func TestServeEventsReaderGone(t *testing.T) {
	requireRoot(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin, "serve", "--mode", modeUnderTest(), "--listen", freeAddr(t), "--ready-file", ready,
		"--print-events", "--output", "json", "--events", "exit")
	events, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	serve := startAttached(t, cmd, ready)
	exited, stderr := serve.exited, &serve.stderr
	events.Close()
	// Deaths by SIGKILL are events the agent writes.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		exec.Command("sh", "-c", "kill -9 $$").Run()
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "broken pipe") {
				t.Fatalf("serve, its reader gone: %v, want exit status 1 naming the broken pipe; stderr:\n%s", err, stderr.String())
			}
			return
		default:
		}
	}
	t.Fatalf("serve still runs 20 s after the reader of its events went away; stderr:\n%s", stderr.String())
}

// Flags that shape the events printed say they do nothing without
// --print-events, rather than being dropped without a word.
func TestServeFlagsWithoutPrintEvents(t *testing.T) {
	requireRoot(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin, "serve", "--mode", modeUnderTest(), "--listen", freeAddr(t), "--ready-file", ready, "--stacks", "--output", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitReadyOrExit(cmd, ready) {
		t.Fatalf("serve did not attach:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `no effect without --print-events" flags="--output --stacks"`) {
		t.Errorf("no word of the flags without effect:\n%s", stderr.String())
	}
}
