// Package kubeletlog reads the kubelet's evictions from its log: the output
// of journalctl -u kubelet (any form internal/kernlog's Scanner reads), a
// syslog file, or the kubelet's own log file of klog lines.
//
// The eviction manager (pkg/kubelet/eviction) logged, with glog/klog's
// printf style up to Kubernetes 1.19:
//
//	eviction manager: attempting to reclaim memory
//	eviction manager: must evict pod(s) to reclaim memory
//	eviction manager: pod web-1_default(0c5f...) is evicted successfully
//
// ("evicted successfully" without "is" before 1.9), and since 1.20, as
// structured lines:
//
//	"Eviction manager: attempting to reclaim" resourceName="memory"
//	"Evicting pod" pod="default/web-1" podUID="0c5f..." message="The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi. ..."
//	"Eviction manager: pod is evicted successfully" pod="default/web-1"
//
// "Evicting pod" is logged at verbosity 3, so it is often missing; the
// success line is not.
package kubeletlog

import (
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/kernlog"
)

// Eviction is one pod the kubelet evicted (or set out to).
type Eviction struct {
	Namespace string
	Pod       string
	UID       kernlog.Opt[string]
	// Resource is what the kubelet was reclaiming: "memory",
	// "ephemeral-storage", "nodefs", "pids", ...
	Resource string
	// Message is the eviction's message, when "Evicting pod" was logged;
	// Threshold and Available are the quantities it names.
	Message   string
	Threshold kernlog.Opt[string]
	Available kernlog.Opt[string]
	// Succeeded says the kubelet logged the pod as evicted.
	Succeeded bool
	// At is when the log says it happened: the klog header's time
	// (month, day and clock, no year) in TimeText, and what the line's
	// syslog or journal prefix showed.
	At       kernlog.Stamp
	KlogTime string
	Line     int
	// Tag and TagPID are the program and process the syslog or journal
	// prefix named ("kubelet", "k3s"), where it did.
	Tag    string
	TagPID kernlog.Opt[int]
}

var (
	// klogHeader starts the text, or follows a "TAG[PID]: " the line's
	// prefix left in it (a syslog stamp in a locale not read: "10月 16
	// 09:50:55 HOST kubelet[17144]: I1016 …"); not anywhere, where a
	// kernel line's cgroup name could put it.
	klogHeader   = regexp.MustCompile(`(?:^\s*|\s\S+\[[0-9]+\]: )([IWEF])([0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}) +[0-9]+ ([^:\]]+):[0-9]+\] (.*)$`)
	oldReclaim   = regexp.MustCompile(`^eviction manager: (?:attempting to reclaim|must evict pod\(s\) to reclaim) (\S+)$`)
	oldEvicted   = regexp.MustCompile(`^eviction manager: pod (.+)_([^_()]+)\(([^()]*)\) (?:is )?evicted successfully$`)
	messageQuant = regexp.MustCompile(`low on resource: ([^.]+)\. Threshold quantity: ([^,]+), available: ([^.]+(?:\.[0-9]+[^.]*)?)\.`)
	messageRes   = regexp.MustCompile(`low on resource: ([^.]+)\.`)
)

// Decoder reads evictions from a log.
type Decoder struct {
	sc  *kernlog.Scanner
	tr  Tracker
	eof bool
}

// NewDecoder reads the log in r; name is used in warnings.
func NewDecoder(r io.Reader, name string) *Decoder {
	return &Decoder{sc: kernlog.NewScanner(r, name)}
}

// Warnings returns the scanner's warnings.
func (d *Decoder) Warnings() ([]kernlog.Warning, int) { return d.sc.Warnings() }

// Next returns the next eviction, or io.EOF.
func (d *Decoder) Next() (Eviction, error) {
	for {
		if e, ok := d.tr.Pop(); ok {
			return e, nil
		}
		if d.eof {
			return Eviction{}, io.EOF
		}
		if !d.sc.Scan() {
			d.eof = true
			d.tr.Flush()
			if err := d.sc.Err(); err != nil {
				return Eviction{}, err
			}
			continue
		}
		m := d.sc.Message()
		d.tr.Add(&m)
	}
}

// maxPending bounds the "Evicting pod" lines held for their success line.
const maxPending = 256

// Tracker finds the evictions among log messages handed to it one at a
// time, so that one pass over a log (a syslog file holds the kernel's and
// the kubelet's messages) can feed it and the kernel's OOM reports alike.
type Tracker struct {
	resource string
	pending  []Eviction // "Evicting pod" lines waiting for their success line
	out      []Eviction
}

// Pop returns the next eviction found, if any.
func (t *Tracker) Pop() (Eviction, bool) {
	if len(t.out) == 0 {
		return Eviction{}, false
	}
	e := t.out[0]
	t.out = t.out[1:]
	return e, true
}

// Flush hands out the evictions still waiting for their success line: the
// log ended first.
func (t *Tracker) Flush() {
	t.out = append(t.out, t.pending...)
	t.pending = nil
}

// Pending returns the log line of the oldest eviction waiting for its
// success line, and whether there is one: what comes after it is held back.
func (t *Tracker) Pending() (int, bool) {
	if len(t.pending) == 0 {
		return 0, false
	}
	return t.pending[0].Line, true
}

// Add reads one message; only the kubelet's eviction manager's matter.
func (t *Tracker) Add(m *kernlog.Message) {
	// Nearly every line of a log is another's: the regular expression
	// only for the eviction manager's.
	if !strings.Contains(m.Text, "eviction_manager.go:") || m.SaysKernel() {
		return
	}
	g := klogHeader.FindStringSubmatch(m.Text)
	if g == nil || !strings.HasPrefix(g[3], "eviction_manager.go") {
		return
	}
	at := kernlog.Stamp{Line: m.Line, Mono: m.Mono, Wall: m.Wall, TimeText: m.TimeText, Host: m.Host, Seq: m.Seq}
	msg := g[4]
	if r := oldReclaim.FindStringSubmatch(msg); r != nil {
		t.resource = r[1]
		return
	}
	if r := oldEvicted.FindStringSubmatch(msg); r != nil {
		e := Eviction{Pod: r[1], Namespace: r[2], Resource: t.resource, Succeeded: true, At: at, KlogTime: g[2], Line: m.Line, Tag: m.Tag, TagPID: m.TagPID}
		if r[3] != "" {
			e.UID = kernlog.Opt[string]{V: r[3], OK: true}
		}
		t.out = append(t.out, e)
		return
	}
	text, kv, ok := structured(msg)
	if !ok {
		return
	}
	switch text {
	case "Eviction manager: attempting to reclaim", "Eviction manager: must evict pod(s) to reclaim":
		if v, ok := kv["resourceName"]; ok {
			t.resource = v
		}
	case "Evicting pod":
		e := Eviction{Resource: t.resource, Message: kv["message"], At: at, KlogTime: g[2], Line: m.Line, Tag: m.Tag, TagPID: m.TagPID}
		e.Namespace, e.Pod = splitPod(kv["pod"])
		if uid, ok := kv["podUID"]; ok {
			e.UID = kernlog.Opt[string]{V: uid, OK: true}
		}
		if q := messageQuant.FindStringSubmatch(e.Message); q != nil {
			e.Resource = q[1]
			e.Threshold = kernlog.Opt[string]{V: q[2], OK: true}
			e.Available = kernlog.Opt[string]{V: q[3], OK: true}
		} else if q := messageRes.FindStringSubmatch(e.Message); q != nil {
			e.Resource = q[1]
		}
		if len(t.pending) >= maxPending {
			t.out = append(t.out, t.pending[0])
			t.pending = t.pending[1:]
		}
		t.pending = append(t.pending, e)
	case "Eviction manager: pod is evicted successfully":
		ns, pod := splitPod(kv["pod"])
		for i, p := range t.pending {
			if p.Namespace == ns && p.Pod == pod {
				t.pending[i].Succeeded = true
				t.out = append(t.out, t.pending[:i+1]...)
				t.pending = append([]Eviction(nil), t.pending[i+1:]...)
				return
			}
		}
		t.out = append(t.out, Eviction{Namespace: ns, Pod: pod, Resource: t.resource, Succeeded: true, At: at, KlogTime: g[2], Line: m.Line, Tag: m.Tag, TagPID: m.TagPID})
	}
}

func splitPod(s string) (ns, name string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

var errSyntax = errors.New("not a structured klog message")

// structured splits `"text" key="value" key=value ...`, klog's structured
// form: the text and values are Go-quoted when quoted.
func structured(s string) (text string, kv map[string]string, ok bool) {
	text, rest, err := quoted(s)
	if err != nil {
		return "", nil, false
	}
	kv = map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return text, kv, true
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return text, kv, true
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest, err = quoted(rest)
			if err != nil {
				return text, kv, true
			}
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if len(kv) < 64 {
			kv[key] = val
		}
	}
}

// quoted reads a Go-quoted string at the start of s.
func quoted(s string) (val, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", errSyntax
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return "", "", errSyntax
			}
			return v, s[i+1:], nil
		}
	}
	return "", "", errSyntax
}

// Event is the eviction as an event, with what the log shows and nothing it
// does not: the kubelet's process where the syslog or journal prefix names
// it, the time since boot where the format has it.
func (e Eviction) Event() event.Event {
	ev := event.Event{Kind: event.KindEviction, Missing: event.MissingCPU}
	if e.At.Mono.OK {
		ev.KtimeNS = uint64(e.At.Mono.V)
	} else {
		ev.Missing |= event.MissingKtime
	}
	if e.At.Wall.OK {
		ev.Time = e.At.Wall.V
	}
	if e.TagPID.OK {
		pid := uint32(e.TagPID.V)
		ev.Task = event.Task{PID: pid, TGID: pid, Comm: e.Tag}
	} else {
		ev.Missing |= event.MissingTask
	}
	x := &ev.Eviction
	x.Pod = event.Owner{Namespace: e.Namespace, PodName: e.Pod, Level: event.LevelPod}
	if e.UID.OK {
		x.Pod.PodUID = e.UID.V
	}
	x.Resource, x.Message, x.Succeeded = e.Resource, e.Message, e.Succeeded
	if e.Threshold.OK {
		x.Threshold = e.Threshold.V
	}
	if e.Available.OK {
		x.Available = e.Available.V
	}
	return ev
}
