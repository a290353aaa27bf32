// Package htmltest checks an HTML report of oomtrace in a real browser,
// for the tests of package htmlreport and the end-to-end tests.
package htmltest

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/browser"
)

// geometryJS measures, from outside the page (the page has no script of
// its own), every kill marker against the memory plot of its lane, and
// every lane's drawing. Sizes are in CSS pixels.
const geometryJS = `(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  const markers = [...document.querySelectorAll(".lane .kill-marker")].map((m) => ({
    lane: m.closest(".lane").id,
    marker: box(m),
    plot: box(m.closest("svg").querySelector(".plot-area.memory")),
  }));
  const lanes = [...document.querySelectorAll(".lane")].map((l) => ({id: l.id, svg: box(l.querySelector("svg")),
    visible: l.querySelector("svg").checkVisibility()}));
  return {markers, lanes, background: getComputedStyle(document.body).backgroundColor,
    width: document.documentElement.scrollWidth, viewport: window.innerWidth};
})()`

type rectPx struct{ X, Y, W, H float64 }

type geometry struct {
	Markers []struct {
		Lane         string
		Marker, Plot rectPx
	}
	Lanes []struct {
		ID      string
		SVG     rectPx
		Visible bool
	}
	Background      string
	Width, Viewport float64
}

// contains reports whether r lies within o, to half a pixel.
func (o rectPx) contains(r rectPx) bool {
	const slack = 0.5
	return r.X >= o.X-slack && r.Y >= o.Y-slack && r.X+r.W <= o.X+o.W+slack && r.Y+r.H <= o.Y+o.H+slack
}

// Check loads the report in file in b and holds it to what a reader needs:
// no errors in the console, nothing fetched but the file, every kill
// marker inside its lane's memory plot in light, dark and print mode, the
// lanes past openLanes folded on screen and printed on paper, the markers
// visible in the screenshot.
func Check(ctx context.Context, t testing.TB, b *browser.Browser, file string, openLanes int) Result {
	t.Helper()
	p, err := b.NewPage(ctx, 1200, 900)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + file
	if err := p.Load(ctx, url); err != nil {
		t.Fatal(err)
	}
	measure := func(mode string) geometry {
		var g geometry
		if err := p.Eval(ctx, geometryJS, &g); err != nil {
			t.Fatal(err)
		}
		if len(g.Lanes) == 0 {
			t.Fatalf("%s: no lanes", mode)
		}
		for _, m := range g.Markers {
			if m.Marker.W <= 0 || m.Marker.H <= 0 || !m.Plot.contains(m.Marker) {
				t.Errorf("%s: kill marker %+v of lane %s is not inside its plot %+v", mode, m.Marker, m.Lane, m.Plot)
			}
		}
		if g.Width > g.Viewport+1 {
			t.Errorf("%s: the page is %v px wide in a viewport of %v", mode, g.Width, g.Viewport)
		}
		return g
	}

	light := measure("light")
	shot, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(light.Markers) > 0 {
		if n := killPixels(t, shot); n < 20*len(light.Markers) {
			t.Errorf("%d red pixels in the screenshot for %d kill markers", n, len(light.Markers))
		}
	}
	// Folded lanes are hidden on screen until unfolded.
	for _, l := range light.Lanes {
		if folded := strings.Contains(l.ID, "-l") && laneIndex(l.ID) >= openLanes; folded == l.Visible || !folded && l.SVG.H <= 0 {
			t.Errorf("lane %s: visible %v, %v px high on screen", l.ID, l.Visible, l.SVG.H)
		}
	}

	if err := p.EmulateMedia(ctx, "", map[string]string{"prefers-color-scheme": "dark"}); err != nil {
		t.Fatal(err)
	}
	if dark := measure("dark"); dark.Background == light.Background {
		t.Errorf("the same background %s in dark mode", dark.Background)
	}
	if err := p.EmulateMedia(ctx, "print", nil); err != nil {
		t.Fatal(err)
	}
	print := measure("print")
	if print.Background != "rgb(255, 255, 255)" {
		t.Errorf("background %s in print", print.Background)
	}
	// Paper cannot unfold: every lane is printed.
	for _, l := range print.Lanes {
		if !l.Visible || l.SVG.H <= 0 || l.SVG.W <= 0 {
			t.Errorf("lane %s not printed: visible %v, %+v", l.ID, l.Visible, l.SVG)
		}
	}

	if problems := p.Problems(); len(problems) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(problems, "\n"))
	}
	for _, r := range p.Requests() {
		if r != url {
			t.Errorf("the page fetched %s", r)
		}
	}
	return Result{Screenshot: shot, Markers: len(light.Markers), Lanes: len(light.Lanes)}
}

// Result is what Check saw.
type Result struct {
	Screenshot []byte // PNG of the whole page, light mode
	Markers    int    // kill markers in lanes
	Lanes      int    // lanes, the node's included
}

// laneIndex is the number of a cgroup lane's id, "t0-l13": 13.
func laneIndex(id string) int {
	_, n, _ := strings.Cut(id, "-l")
	i := 0
	for _, c := range n {
		i = i*10 + int(c-'0')
	}
	return i
}

// killPixels counts the pixels of the kill markers' red in a screenshot.
func killPixels(t testing.TB, shot []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 > 200 && g>>8 < 30 && b>>8 < 30 {
				n++
			}
		}
	}
	return n
}
