package browser

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The checks the report's tests rely on see what they should: console
// errors, exceptions, requests for other files, the DOM, the media.
func TestPage(t *testing.T) {
	path := Require(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><html><head><style>
body { background: rgb(255, 255, 255); }
@media (prefers-color-scheme: dark) { body { background: rgb(0, 0, 0); } }
@media print { p { display: none; } }
</style></head><body><p id="x" style="width: 120px">hello</p>
<img src="missing.png"/>
<script>console.error("boom"); undefinedFunction();</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	p, err := b.NewPage(ctx, 800, 600)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx, "file://"+page); err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(p.Problems(), "\n")
	for _, want := range []string{"console.error", "boom", "undefinedFunction", "loading failed"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	requests := strings.Join(p.Requests(), "\n")
	if !strings.Contains(requests, "file://"+page) || !strings.Contains(requests, "missing.png") {
		t.Errorf("requests:\n%s", requests)
	}
	var width float64
	if err := p.Eval(ctx, `document.getElementById("x").getBoundingClientRect().width`, &width); err != nil || width != 120 {
		t.Errorf("width %v, %v", width, err)
	}
	background := func() string {
		var bg string
		if err := p.Eval(ctx, `getComputedStyle(document.body).backgroundColor`, &bg); err != nil {
			t.Fatal(err)
		}
		return bg
	}
	if bg := background(); bg != "rgb(255, 255, 255)" {
		t.Errorf("background %s", bg)
	}
	if err := p.EmulateMedia(ctx, "", map[string]string{"prefers-color-scheme": "dark"}); err != nil {
		t.Fatal(err)
	}
	if bg := background(); bg != "rgb(0, 0, 0)" {
		t.Errorf("dark background %s", bg)
	}
	if err := p.EmulateMedia(ctx, "print", nil); err != nil {
		t.Fatal(err)
	}
	var display string
	if err := p.Eval(ctx, `getComputedStyle(document.getElementById("x")).display`, &display); err != nil || display != "none" {
		t.Errorf("display in print %q, %v", display, err)
	}
	png, err := p.Screenshot(ctx)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot: %v, %d bytes", err, len(png))
	}
}
