package container

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The kubelet's log files name every pod and container it runs:
//
//	/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restarts>.log
//	/var/log/containers/<pod>_<namespace>_<container>-<id>.log -> the above
//
// Namespaces, pod names and container names are DNS names, which cannot
// hold "_", so the parts split unambiguously. The links' names are cut to
// 255 bytes (ext4's limit), possibly inside the ID, so a link is matched by
// rebuilding its name from its target, never by parsing the name alone.

// podNames finds the pod with the UID uid in the pod log directory dir.
func podNames(dir, uid string) lookupResult {
	if dir == "" {
		return lookupResult{}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return lookupResult{}
	}
	var res lookupResult
	for _, e := range entries {
		namespace, pod, entryUID, ok := parsePodDir(e.Name())
		if !ok || entryUID != uid || !e.IsDir() {
			continue
		}
		if res.found {
			return lookupResult{} // two pods claim the UID: trust neither
		}
		res = lookupResult{names: Names{PodName: pod, Namespace: namespace}, found: true}
	}
	return res
}

// kubeContainerNames finds the container id of the pod uid among the
// kubelet's log links in dir.
func kubeContainerNames(dir, uid, id string) lookupResult {
	if dir == "" {
		return lookupResult{}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return lookupResult{}
	}
	var res lookupResult
	for _, e := range entries {
		name := e.Name()
		if e.Type()&fs.ModeSymlink == 0 || !mayLinkContainer(name, id) {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		namespace, pod, targetUID, container, ok := parseLogTarget(target)
		if !ok || targetUID != uid || name != kubeletLinkName(pod, namespace, container, id) ||
			visibleIDLen(name, pod, namespace, container) < minVisibleID {
			continue
		}
		if res.found {
			return lookupResult{} // two links for one container: trust neither
		}
		res = lookupResult{names: Names{Name: container, PodName: pod, Namespace: namespace}, found: true}
	}
	return res
}

// maxFileName is the longest file name the kubelet writes (ext4's limit).
const maxFileName = 255

// mayLinkContainer is a cheap first test of a link's name: it ends in the
// whole ID, or it is as long as a cut name can be.
func mayLinkContainer(name, id string) bool {
	return strings.HasSuffix(name, "-"+id+".log") || len(name) == maxFileName
}

// minVisibleID is how much of a container's ID a cut link name must keep
// to be trusted: 12 hex digits, Docker's short ID, leave 48 random bits.
// With less, the link may be another container's of the same pod: the
// kubelet gives every name cut inside the pod name the same link.
const minVisibleID = 12

// visibleIDLen is how many digits of the ID the link name keeps.
func visibleIDLen(name, pod, namespace, container string) int {
	return len(name) - len(".log") - len(pod+"_"+namespace+"_"+container+"-")
}

// kubeletLinkName is the name the kubelet gives the link to a container's
// log, cut the way it cuts it.
func kubeletLinkName(pod, namespace, container, id string) string {
	const suffix = ".log"
	stem := pod + "_" + namespace + "_" + container + "-" + id
	if len(stem) > maxFileName-len(suffix) {
		stem = stem[:maxFileName-len(suffix)]
	}
	return stem + suffix
}

// parsePodDir splits a pod log directory's name, <namespace>_<pod>_<uid>.
func parsePodDir(name string) (namespace, pod, uid string, ok bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 || !isDNSLabel(parts[0]) || !isDNSSubdomain(parts[1]) {
		return "", "", "", false
	}
	uid, ok = podUID(parts[2], '-')
	if !ok || uid != parts[2] {
		return "", "", "", false
	}
	return parts[0], parts[1], uid, true
}

// parseLogTarget splits the target of a log link,
// …/<namespace>_<pod>_<uid>/<container>/<restarts>.log. Only the last three
// components count: the link may point into the host's /var/log/pods while
// the resolver reads it where the host's root is mounted.
func parseLogTarget(target string) (namespace, pod, uid, container string, ok bool) {
	parts := strings.Split(target, "/")
	if len(parts) < 3 {
		return "", "", "", "", false
	}
	podDir, container, file := parts[len(parts)-3], parts[len(parts)-2], parts[len(parts)-1]
	restarts, isLog := strings.CutSuffix(file, ".log")
	if !isLog || !isDecimal(restarts) || !isDNSLabel(container) {
		return "", "", "", "", false
	}
	namespace, pod, uid, ok = parsePodDir(podDir)
	return namespace, pod, uid, container, ok
}

// isDNSLabel reports whether s is an RFC 1123 label, as Kubernetes requires
// of namespaces and container names.
func isDNSLabel(s string) bool {
	return len(s) <= 63 && isLabel(s)
}

// isDNSSubdomain reports whether s is an RFC 1123 subdomain, as Kubernetes
// requires of pod names.
func isDNSSubdomain(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !isLabel(label) {
			return false
		}
	}
	return true
}

// isLabel reports whether s is lower-case letters, digits and dashes,
// starting and ending with a letter or digit.
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
