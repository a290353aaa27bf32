package e2e

import (
	"bytes"
	"encoding/json"
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

func startServedPod(t *testing.T) servedPod {
	t.Helper()
	h := requireRoot(t)
	p := newKubePod(t, "shop", "api-7d9", "api")
	top := memcg.UniqueName("oomtrace-e2e")
	podPath, ctrPath := p.cgroups(top, false)
	createGroup(t, h, top, 0)
	createGroup(t, h, podPath, 0)
	s := servedPod{addr: freeAddr(t), ctr: createGroup(t, h, ctrPath, 32)}

	ready := filepath.Join(t.TempDir(), "ready")
	s.cmd = exec.Command(oomtraceBin, "serve", "--mode", modeUnderTest(), "--listen", s.addr, "--ready-file", ready,
		"--cgroup", "/"+top, "--host-root", p.hostRoot, "--interval", "200ms")
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
	s := startServedPod(t)
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
	// The ring buffer: 4 MiB, every kill read through it, never full.
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
	if size := ring["oomtrace_ringbuf_size_bytes"]; size != 4<<20 || ring["oomtrace_ringbuf_max_pending_bytes"] >= size ||
		ring["oomtrace_ringbuf_pending_bytes"] >= size || ring["oomtrace_ringbuf_records_read_total"] < kills {
		t.Errorf("ring buffer metrics %v: want 4 MiB, never full, at least %d records read", ring, kills)
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
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("the serve test scrapes with a real Prometheus server: apt-get install prometheus")
	}
	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: oomtrace\n    static_configs:\n      - targets: [%q]\n", target)
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
