package htmlreport

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/browser"
	"github.com/oomtrace/oomtrace/internal/htmlreport/htmltest"
)

// A real browser renders the pages of the golden captures: no errors in
// the console, nothing fetched but the file, every kill marker inside its
// plot, in light, dark and print; the folded lanes print; the screenshot
// shows the markers.
func TestInBrowser(t *testing.T) {
	chromium := browser.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := browser.Start(chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	dir := t.TempDir()
	for name, files := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".html")
			if err := os.WriteFile(file, render(t, files...), 0o644); err != nil {
				t.Fatal(err)
			}
			htmltest.Check(ctx, t, b, file, OpenLanes)
		})
	}
}
