package e2e

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/oomtrace/oomtrace/internal/event"
)

// vmFactsEnv names a file to which every checked kill appends what all
// attach modes must agree on; vmtest.sh compares the modes' files.
const vmFactsEnv = "OOMTRACE_VMTEST_FACTS"

// runSpecific matches the parts of cgroup names that differ between the
// runs of each mode: memcg.UniqueName's "-PID-RANDOM" suffix, pod UIDs
// (with dashes or, in systemd slices, underscores) and container IDs.
var runSpecific = regexp.MustCompile(`-[0-9]+-[0-9a-f]{8}\b|[0-9a-f]{8}([-_][0-9a-f]{4}){3}[-_][0-9a-f]{12}|[0-9a-f]{32,}`)

// recordFacts appends what every attach mode must report alike for this
// kill (class, victim and OOM cgroup) to the file named by
// OOMTRACE_VMTEST_FACTS, if set. Run-specific parts of cgroup names
// become "*".
func recordFacts(t *testing.T, ev event.Event) {
	t.Helper()
	name := os.Getenv(vmFactsEnv)
	if name == "" {
		return
	}
	k := ev.OOMKill
	line := fmt.Sprintf("%s class=%s victim=%q victim_cgroup=%q oom_cgroup=%q\n", t.Name(), k.Class, k.Victim.Comm,
		runSpecific.ReplaceAllString(k.Victim.Cgroup.Path, "*"), runSpecific.ReplaceAllString(k.OOMCgroup.Path, "*"))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("record facts: %v", err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("record facts: %v", err)
	}
}
