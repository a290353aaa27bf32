package browser

import (
	"os"
	"testing"
)

// Require returns the path of Chromium for a test that needs it. It skips
// the test under -short; without Chromium it fails when $CI is "true" (a CI
// run must not pass green without the browser test) and skips otherwise.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a headless Chromium; skipped by -short")
	}
	path, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (.ci/run installs it)", err)
		}
		t.Skipf("%v; with CI=true this fails", err)
	}
	return path
}
