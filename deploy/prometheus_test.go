package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// requirePromtool returns promtool's path. Without it the test fails when
// $CI is "true" and skips otherwise.
func requirePromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: apt-get install prometheus (.ci/run installs it)")
		}
		t.Skip("promtool not found (apt-get install prometheus); with CI=true this fails")
	}
	return path
}

// The rules are valid, and their unit tests pass: each alert fires when it
// should, with the labels and text it should, and not otherwise.
func TestPrometheusRules(t *testing.T) {
	promtool := requirePromtool(t)
	for _, args := range [][]string{
		{"check", "rules", "oomtrace-rules.yml"},
		{"test", "rules", "oomtrace-rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The rules use only metrics the agent exports: a metric renamed in
// internal/metrics must be renamed in the rules too.
func TestPrometheusRulesUseExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("prometheus/oomtrace-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("../internal/metrics/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	// Names with colons are the rules' own recorded series.
	used := regexp.MustCompile(`[a-z_:]*oomtrace_[a-z_:]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("no oomtrace metric in the rules")
	}
	for _, name := range used {
		if strings.Contains(name, ":") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum")
		if !strings.Contains(string(source), `"`+base+`"`) {
			t.Errorf("the rules use %s, which internal/metrics does not export", name)
		}
	}
}
