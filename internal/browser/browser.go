// Package browser drives a headless Chromium over the DevTools protocol
// (on the pipe --remote-debugging-pipe opens, so no port is listened on),
// for the tests that check oomtrace's HTML report in a real browser: load
// a page, collect what the console and the network saw, query the DOM,
// switch print and dark mode, take screenshots.
//
// Only the few protocol methods those tests need are here; the messages
// are plain JSON, so the standard library is enough.
package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
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
	cmd     *exec.Cmd
	send    *os.File // the browser's fd 3: commands to it
	recv    *os.File // the browser's fd 4: answers and events from it
	profile string
	stderr  bytes.Buffer
	sendMu  sync.Mutex // one message at a time on the pipe

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan message
	pages   map[string]*Page // by session id
	readErr error
	done    chan struct{} // closed when the reader stops
}

// message is any message of the protocol.
type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Start starts a headless Chromium at path, with a profile of its own that
// Close removes.
func Start(path string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "oomtrace-chromium")
	if err != nil {
		return nil, fmt.Errorf("start browser: %w", err)
	}
	// Our fds: we write commands to toBrowser and read from fromBrowser.
	cmdRead, toBrowser, err := os.Pipe()
	if err != nil {
		os.RemoveAll(profile)
		return nil, fmt.Errorf("start browser: %w", err)
	}
	fromBrowser, answerWrite, err := os.Pipe()
	if err != nil {
		cmdRead.Close()
		toBrowser.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("start browser: %w", err)
	}
	b := &Browser{send: toBrowser, recv: fromBrowser, profile: profile, waiting: make(map[int64]chan message),
		pages: make(map[string]*Page), done: make(chan struct{})}
	b.cmd = exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
		"--user-data-dir="+profile, "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
		"--font-render-hinting=none", "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdRead, answerWrite} // fds 3 and 4
	b.cmd.Stderr = &b.stderr
	err = b.cmd.Start()
	cmdRead.Close()
	answerWrite.Close()
	if err != nil {
		toBrowser.Close()
		fromBrowser.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("start browser %s: %w", path, err)
	}
	go b.read()
	return b, nil
}

// read hands each message to whoever waits for it, until the pipe closes.
func (b *Browser) read() {
	defer close(b.done)
	r := bufio.NewReaderSize(b.recv, 1<<20)
	for {
		raw, err := r.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = fmt.Errorf("read from browser: %w", err)
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m message
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			continue // not ours to judge; the call waiting for it times out
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.waiting[m.ID]; ch != nil {
				ch <- m
				delete(b.waiting, m.ID)
			}
		} else if p := b.pages[m.SessionID]; p != nil {
			p.event(m)
		}
		b.mu.Unlock()
	}
}

// call sends a command (to a page's session, or the browser for "") and
// waits for its answer, which it decodes into result unless nil.
func (b *Browser) call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, err)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan message, 1)
	b.waiting[id] = ch
	b.mu.Unlock()

	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	m, err := json.Marshal(message{ID: id, Method: method, Params: p, SessionID: session})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	b.sendMu.Lock()
	_, err = b.send.Write(append(m, 0))
	b.sendMu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: send: %w", method, err)
	}
	select {
	case answer, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: the browser went away: %w\n%s", method, b.readErr, b.stderr.String())
		}
		if answer.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, answer.Error.Message, answer.Error.Code)
		}
		if result != nil {
			if err := json.Unmarshal(answer.Result, result); err != nil {
				return fmt.Errorf("%s: decode the answer: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	closeErr := b.call(ctx, "", "Browser.close", struct{}{}, nil)
	b.send.Close()
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
	b.recv.Close()
	<-b.done
	os.RemoveAll(b.profile)
	if closeErr != nil && !errors.Is(closeErr, io.EOF) {
		return closeErr
	}
	return nil
}

// Page is one tab, with what its console and network reported.
type Page struct {
	b       *Browser
	session string
	loaded  chan struct{} // a load event arrived since the last Navigate

	// Guarded by b.mu.
	problems []string
	requests []string
}

// event records what the tests look at; called with b.mu held.
func (p *Page) event(m message) {
	switch m.Method {
	case "Page.loadEventFired":
		select {
		case p.loaded <- struct{}{}:
		default:
		}
	case "Runtime.exceptionThrown":
		var e struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(m.Params, &e)
		p.problems = append(p.problems, "exception: "+e.ExceptionDetails.Text+" "+e.ExceptionDetails.Exception.Description)
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		json.Unmarshal(m.Params, &e)
		if e.Type == "error" || e.Type == "assert" || e.Type == "warning" {
			p.problems = append(p.problems, fmt.Sprintf("console.%s: %v", e.Type, e.Args))
		}
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
		}
		json.Unmarshal(m.Params, &e)
		if e.Entry.Level == "error" || e.Entry.Level == "warning" {
			p.problems = append(p.problems, fmt.Sprintf("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case "Network.requestWillBeSent":
		var e struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		json.Unmarshal(m.Params, &e)
		p.requests = append(p.requests, e.Request.URL)
	case "Network.loadingFailed":
		var e struct {
			ErrorText string `json:"errorText"`
		}
		json.Unmarshal(m.Params, &e)
		p.problems = append(p.problems, "loading failed: "+e.ErrorText)
	}
}

// NewPage opens a tab whose viewport is width by height CSS pixels, with
// the console, the log and the network watched.
func (b *Browser) NewPage(ctx context.Context, width, height int) (*Page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: attached.SessionID, loaded: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pages[p.session] = p
	b.mu.Unlock()
	for _, method := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		if err := b.call(ctx, p.session, method, struct{}{}, nil); err != nil {
			return nil, err
		}
	}
	if err := b.call(ctx, p.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// Load navigates to url and waits for its load event.
func (p *Page) Load(ctx context.Context, url string) error {
	select {
	case <-p.loaded: // a load of about:blank
	default:
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("navigate to %s: %s", url, nav.ErrorText)
	}
	select {
	case <-p.loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("load %s: %w", url, ctx.Err())
	}
}

// Eval evaluates a JavaScript expression in the page, from the outside,
// and decodes its value (which must be JSON) into out.
func (p *Page) Eval(ctx context.Context, expression string, out any) error {
	var answer struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.b.call(ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": expression, "returnByValue": true}, &answer); err != nil {
		return err
	}
	if answer.ExceptionDetails != nil {
		return fmt.Errorf("evaluate: %s %s", answer.ExceptionDetails.Text, answer.ExceptionDetails.Exception.Description)
	}
	if err := json.Unmarshal(answer.Result.Value, out); err != nil {
		return fmt.Errorf("evaluate: decode %s: %w", answer.Result.Value, err)
	}
	return nil
}

// EmulateMedia renders the page as for media ("screen", "print", "" for
// the default) with the given media features, e.g.
// {"prefers-color-scheme": "dark"}.
func (p *Page) EmulateMedia(ctx context.Context, media string, features map[string]string) error {
	list := []map[string]string{}
	for name, value := range features {
		list = append(list, map[string]string{"name": name, "value": value})
	}
	return p.b.call(ctx, p.session, "Emulation.setEmulatedMedia", map[string]any{"media": media, "features": list}, nil)
}

// Screenshot takes a PNG of the whole page, beyond the viewport.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.b.call(ctx, p.session, "Page.captureScreenshot",
		map[string]any{"format": "png", "captureBeyondViewport": true}, &shot); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	return png, nil
}

// Problems are the errors and warnings the page's console, its log and its
// network reported so far.
func (p *Page) Problems() []string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// Requests are the URLs the page asked for so far, itself included.
func (p *Page) Requests() []string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return append([]string(nil), p.requests...)
}
