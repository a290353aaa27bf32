// Package browser drives a headless Chromium over the DevTools protocol,
// through chromedp (on the pipe --remote-debugging-pipe opens, so no port is
// listened on), for the tests that check oomtrace's HTML report in a real
// browser: load a page, collect what the console and the network saw, query
// the DOM, switch print and dark mode, take screenshots.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Binaries are the names Chromium goes by on PATH, most likely first.
var Binaries = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// BinaryEnv, when set, is the path of the browser to use.
const BinaryEnv = "OOMTRACE_CHROMIUM"

// Find returns the path of a Chromium: $OOMTRACE_CHROMIUM, or the first of
// Binaries on PATH.
func Find() (string, error) {
	if path := os.Getenv(BinaryEnv); path != "" {
		return exec.LookPath(path)
	}
	for _, name := range Binaries {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (%s, or $%s): apt-get install chromium", strings.Join(Binaries, ", "), BinaryEnv)
}

// Browser is a running headless Chromium.
type Browser struct {
	ctx         context.Context // chromedp's, for the browser's first tab
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	profile     string
}

// Start starts a headless Chromium at path, with a profile of its own that
// Close removes.
func Start(path string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "oomtrace-chromium")
	if err != nil {
		return nil, fmt.Errorf("start browser: %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("font-render-hinting", "none"),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: ctx, cancel: cancel, allocCancel: allocCancel, profile: profile}
	// The first action starts the browser, which lives as long as ctx: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("start browser %s: %w", path, err)
	}
	return b, nil
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	err := chromedp.Cancel(ctx)
	b.cancel()
	b.allocCancel() // waits for the process to exit
	os.RemoveAll(b.profile)
	if err != nil && b.ctx.Err() == nil {
		return fmt.Errorf("close browser: %w", err)
	}
	return nil
}

// Page is one tab, with what its console and network reported.
type Page struct {
	ctx    context.Context // chromedp's, for this tab
	cancel context.CancelFunc

	mu       sync.Mutex
	problems []string
	requests []string
}

// event records what the tests look at. It runs on chromedp's reading
// goroutine: it only appends.
func (p *Page) event(ev any) {
	var problem, request string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		problem = "exception: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert || e.Type == runtime.ConsoleAPICalledTypeWarning {
			var args []string
			for _, a := range e.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			problem = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
		}
	case *cdplog.EventEntryAdded:
		if l := e.Entry; l.Level == cdplog.EntryLevelError || l.Level == cdplog.EntryLevelWarning {
			problem = fmt.Sprintf("log %s (%s): %s %s", l.Level, l.Source, l.Text, l.URL)
		}
	case *network.EventRequestWillBeSent:
		request = e.Request.URL
	case *network.EventLoadingFailed:
		problem = "loading failed: " + e.ErrorText
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if problem != "" {
		p.problems = append(p.problems, problem)
	}
	if request != "" {
		p.requests = append(p.requests, request)
	}
}

// NewPage opens a tab whose viewport is width by height CSS pixels, with
// the console, the log and the network watched.
func (b *Browser) NewPage(ctx context.Context, width, height int) (*Page, error) {
	tab, cancel := chromedp.NewContext(b.ctx)
	p := &Page{ctx: tab, cancel: cancel}
	// The tab's first action opens it, and it must not carry a timeout:
	// the caller's deadline closes the tab instead.
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := chromedp.Listen(tab, p.event); err != nil {
		cancel()
		return nil, fmt.Errorf("open a tab: %w", err)
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		return nil, fmt.Errorf("open a tab: %w", err)
	}
	return p, nil
}

// run runs action in the tab, until ctx is done.
func run[T any](ctx context.Context, p *Page, action chromedp.Action[T]) (T, error) {
	runCtx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	v, err := chromedp.Run(runCtx, action)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return v, err
}

// Load navigates to url and waits for its load event.
func (p *Page) Load(ctx context.Context, url string) error {
	if _, err := run(ctx, p, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("load %s: %w", url, err)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the page, from the outside,
// and decodes its value (which must be JSON) into out.
func (p *Page) Eval(ctx context.Context, expression string, out any) error {
	raw, err := run(ctx, p, chromedp.Evaluate[[]byte](expression))
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("evaluate: decode %s: %w", raw, err)
	}
	return nil
}

// EmulateMedia renders the page as for media ("screen", "print", "" for
// the default) with the given media features, e.g.
// {"prefers-color-scheme": "dark"}.
func (p *Page) EmulateMedia(ctx context.Context, media string, features map[string]string) error {
	params := emulation.SetEmulatedMediaParams{Media: media}
	for name, value := range features {
		params.Features = append(params.Features, &emulation.MediaFeature{Name: name, Value: value})
	}
	_, err := run(ctx, p, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, params)
		return err
	}))
	if err != nil {
		return fmt.Errorf("emulate media %q %v: %w", media, features, err)
	}
	return nil
}

// Screenshot takes a PNG of the page, beyond the viewport.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	beyond := true
	png, err := run(ctx, p, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: &beyond,
		})
		return r.Data, err
	})
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	return png, nil
}

// Problems are the errors and warnings the page's console, its log and its
// network reported so far.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// Requests are the URLs the page asked for so far, itself included.
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}
