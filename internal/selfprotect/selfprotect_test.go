package selfprotect

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLowerOOMScoreAdj(t *testing.T) {
	file := filepath.Join(t.TempDir(), "oom_score_adj")
	if err := os.WriteFile(file, []byte("300\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := lowerOOMScoreAdj(file, -1000)
	if err != nil || got != -1000 {
		t.Fatalf("lowered to %d, %v; want -1000", got, err)
	}
	// Already low enough: left as it is, not raised.
	if got, err := lowerOOMScoreAdj(file, -500); err != nil || got != -1000 {
		t.Errorf("at -1000, lowering to -500 gave %d, %v", got, err)
	}
	if err := os.WriteFile(file, []byte("garbage"), 0o600); err == nil {
		if _, err := lowerOOMScoreAdj(file, 0); err == nil {
			t.Error("no error for a garbage value")
		}
	}
}

// The real file: the result is what the kernel reports afterwards, whether
// or not this process may lower it.
func TestLowerOwnOOMScoreAdj(t *testing.T) {
	before, err := readAdj("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	got, err := LowerOOMScoreAdj(before) // no change requested: must succeed
	if err != nil || got != before {
		t.Errorf("LowerOOMScoreAdj(%d) = %d, %v", before, got, err)
	}
}
