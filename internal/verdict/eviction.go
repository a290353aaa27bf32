package verdict

import (
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// ExplainEviction returns the sentence for an eviction event, e.g.
//
//	pod shop/api-7d9 was evicted by the kubelet: the node was low on
//	memory (threshold 100Mi, available 92412Ki); its containers got
//	SIGTERM, then SIGKILL after the grace period (exit 137 without an OOM
//	kill)
//
// and "" for any other event.
func ExplainEviction(ev *event.Event) string {
	if ev == nil || ev.Kind != event.KindEviction {
		return ""
	}
	e := &ev.Eviction
	var b strings.Builder
	b.WriteString("pod " + evictedPod(e.Pod))
	if e.Succeeded {
		b.WriteString(" was evicted by the kubelet")
	} else {
		b.WriteString(" was chosen for eviction by the kubelet")
	}
	if e.Resource != "" {
		b.WriteString(": the node was low on " + quote(e.Resource))
		if e.Threshold != "" && e.Available != "" {
			b.WriteString(" (threshold " + quote(e.Threshold) + ", available " + quote(e.Available) + ")")
		}
	}
	b.WriteString("; its containers got SIGTERM, then SIGKILL after the grace period (exit 137 without an OOM kill)")
	return b.String()
}

// evictedPod names a pod of the kubelet's log: "namespace/name", quoted
// where it is not the plain name the API server allows.
func evictedPod(pod event.Owner) string {
	name := pod.PodName
	if pod.Namespace != "" {
		name = pod.Namespace + "/" + name
	}
	if name == "" {
		name = pod.PodUID
	}
	if !plainName(name) {
		return quote(name)
	}
	return name
}

// plainName reports whether s holds only what Kubernetes names and UIDs
// can: lowercase letters, digits, '-', '.' and the '/' between namespace
// and name.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	return s != ""
}
