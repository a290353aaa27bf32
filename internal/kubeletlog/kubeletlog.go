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
}

var (
	klogHeader   = regexp.MustCompile(`(?:^|\s)([IWEF])([0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}) +[0-9]+ ([^:\]]+):[0-9]+\] (.*)$`)
	oldReclaim   = regexp.MustCompile(`^eviction manager: (?:attempting to reclaim|must evict pod\(s\) to reclaim) (\S+)$`)
	oldEvicted   = regexp.MustCompile(`^eviction manager: pod (.+)_([^_()]+)\(([^()]*)\) (?:is )?evicted successfully$`)
	messageQuant = regexp.MustCompile(`low on resource: ([^.]+)\. Threshold quantity: ([^,]+), available: ([^.]+(?:\.[0-9]+[^.]*)?)\.`)
	messageRes   = regexp.MustCompile(`low on resource: ([^.]+)\.`)
)

// Decoder reads evictions from a log.
type Decoder struct {
	sc       *kernlog.Scanner
	resource string
	pending  []Eviction // "Evicting pod" lines waiting for their success line
	out      []Eviction
	eof      bool
}

// NewDecoder reads the log in r; name is used in warnings.
func NewDecoder(r io.Reader, name string) *Decoder {
	return &Decoder{sc: kernlog.NewScanner(r, name)}
}

// Warnings returns the scanner's warnings.
func (d *Decoder) Warnings() ([]kernlog.Warning, int) { return d.sc.Warnings() }

// maxPending bounds the "Evicting pod" lines held for their success line.
const maxPending = 256

// Next returns the next eviction, or io.EOF.
func (d *Decoder) Next() (Eviction, error) {
	for {
		if len(d.out) > 0 {
			e := d.out[0]
			d.out = d.out[1:]
			return e, nil
		}
		if d.eof {
			return Eviction{}, io.EOF
		}
		if !d.sc.Scan() {
			d.eof = true
			d.out = append(d.out, d.pending...)
			d.pending = nil
			if err := d.sc.Err(); err != nil {
				return Eviction{}, err
			}
			continue
		}
		m := d.sc.Message()
		d.add(&m)
	}
}

func (d *Decoder) add(m *kernlog.Message) {
	g := klogHeader.FindStringSubmatch(m.Text)
	if g == nil || !strings.HasPrefix(g[3], "eviction_manager.go") {
		return
	}
	at := kernlog.Stamp{Line: m.Line, Mono: m.Mono, Wall: m.Wall, TimeText: m.TimeText, Host: m.Host, Seq: m.Seq}
	msg := g[4]
	if r := oldReclaim.FindStringSubmatch(msg); r != nil {
		d.resource = r[1]
		return
	}
	if r := oldEvicted.FindStringSubmatch(msg); r != nil {
		e := Eviction{Pod: r[1], Namespace: r[2], Resource: d.resource, Succeeded: true, At: at, KlogTime: g[2], Line: m.Line}
		if r[3] != "" {
			e.UID = kernlog.Opt[string]{V: r[3], OK: true}
		}
		d.out = append(d.out, e)
		return
	}
	text, kv, ok := structured(msg)
	if !ok {
		return
	}
	switch text {
	case "Eviction manager: attempting to reclaim", "Eviction manager: must evict pod(s) to reclaim":
		if v, ok := kv["resourceName"]; ok {
			d.resource = v
		}
	case "Evicting pod":
		e := Eviction{Resource: d.resource, Message: kv["message"], At: at, KlogTime: g[2], Line: m.Line}
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
		if len(d.pending) >= maxPending {
			d.out = append(d.out, d.pending[0])
			d.pending = d.pending[1:]
		}
		d.pending = append(d.pending, e)
	case "Eviction manager: pod is evicted successfully":
		ns, pod := splitPod(kv["pod"])
		for i, p := range d.pending {
			if p.Namespace == ns && p.Pod == pod {
				d.pending[i].Succeeded = true
				d.out = append(d.out, d.pending[:i+1]...)
				d.pending = append([]Eviction(nil), d.pending[i+1:]...)
				return
			}
		}
		d.out = append(d.out, Eviction{Namespace: ns, Pod: pod, Resource: d.resource, Succeeded: true, At: at, KlogTime: g[2], Line: m.Line})
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
