package bench

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBreakdown(t *testing.T) {
	pid, s, ok := parseBreakdown("breakdown 4242 1000 2000 2500 2600")
	if !ok || pid != 4242 || s != (killSteps{time.Microsecond, 2 * time.Microsecond, 2500, 2600}) {
		t.Errorf("parseBreakdown = %d, %+v, %v", pid, s, ok)
	}
	for _, bad := range []string{
		"",
		"breakdown 1 2 3 4",                      // a step missing
		"breakdown 1 2 3 4 5 6",                  // one too many
		"reclaim 1 2 3 4 5",                      // another line
		"breakdown 1 -2 3 4 5",                   // a step before the kill
		"breakdown 1 20 3 4 5",                   // steps out of order
		"breakdown 1 2 3 4 x",                    // not a number
		"breakdown 1 2 3 4 99999999999999999999", // out of range
	} {
		if _, _, ok := parseBreakdown(bad); ok {
			t.Errorf("parseBreakdown(%q) accepted", bad)
		}
	}
}

func TestBreakdownScript(t *testing.T) {
	s := breakdownScript("/usr/local/bin/oomtrace", 777)
	for _, want := range []string{
		`uprobe:/usr/local/bin/oomtrace:"` + decodeKillSymbol + `"`,
		`uprobe:/usr/local/bin/oomtrace:"` + attributeKillSymbol + `"`,
		`uprobe:/usr/local/bin/oomtrace:"` + explainKillSymbol + `"`,
		"pid == 777 && @exp && args->fd == 1",
		`printf("breakdown %d %d %d %d %d\n"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

// The functions the breakdown probes are in the binary make build makes.
func TestBreakdownSymbolsInOomtrace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oomtrace")
	}
	bin := filepath.Join(t.TempDir(), "oomtrace")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/oomtrace/oomtrace/cmd/oomtrace")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := checkBreakdownSymbols(bin); err != nil {
		t.Error(err)
	}
	stripped := bin + "-stripped"
	cmd = exec.Command("go", "build", "-ldflags", "-s", "-o", stripped, "github.com/oomtrace/oomtrace/cmd/oomtrace")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -s: %v\n%s", err, out)
	}
	if err := checkBreakdownSymbols(stripped); err == nil {
		t.Error("a binary without symbols passed the check")
	}
}
