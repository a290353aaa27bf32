// Package container tells which container, Kubernetes pod or systemd unit a
// memory cgroup belongs to, from its path alone (Parse), and finds the names
// people use for them (Resolver).
//
// Parse recognises the layouts the kubelet makes with its cgroupfs and
// systemd drivers, those of containerd, CRI-O, Docker and Podman, and
// systemd's own units, on cgroup v1 (where every hierarchy has the same
// layout below its mount point) and v2. Cgroup names are chosen by whoever
// creates the cgroup, so the parser is strict: container IDs must be 64
// lowercase hex digits, pod UIDs must be UUIDs (or the 32 hex digits of a
// static pod), each level must sit where its driver puts it, and a path that
// no kernel could print (empty, "." or ".." components) is not attributed at
// all. Anything that does not match exactly is left unattributed rather than
// guessed.
package container

import (
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// Names are the human names of a container and its pod.
type Names struct {
	Name      string // the container's
	PodName   string
	Namespace string
}

// WithNames returns i with the names that are set in n.
func WithNames(i event.Owner, n Names) event.Owner {
	if n.Name != "" {
		i.Name = n.Name
	}
	if n.PodName != "" {
		i.PodName = n.PodName
	}
	if n.Namespace != "" {
		i.Namespace = n.Namespace
	}
	return i
}

// Limits on what the kernel can print: a cgroup name is one directory
// entry, a path fits in a page.
const (
	maxNameLen = 255
	maxPathLen = 4096
)

// Parse attributes the cgroup at path, as the kernel prints it
// ("/kubepods/burstable/pod…/…"; the leading slash is optional). It does no
// I/O.
func Parse(path string) event.Owner {
	return parse(path, false)
}

// ParseTruncated attributes a path the kernel could not capture whole (an
// event.Cgroup with Truncated set): its last component may be cut short, so
// it only tells that the cgroup lies somewhere below the complete ones.
func ParseTruncated(path string) event.Owner {
	return parse(path, true)
}

func parse(path string, truncated bool) event.Owner {
	segs, ok := split(path, truncated)
	if !ok {
		return event.Owner{}
	}
	user, delegated := userSlice(segs)
	if info := kubernetes(segs, delegated); !info.IsZero() {
		return info
	}
	if info := runtimeContainer(segs); !info.IsZero() {
		info.User = user
		return info
	}
	if info := parentedContainer(segs); !info.IsZero() {
		return info
	}
	if unit := innermostUnit(segs); unit != "" {
		return event.Owner{Unit: unit, User: user}
	}
	return event.Owner{}
}

// unknownChild stands for the cut last component of a truncated path: it is
// not a valid cgroup name, so it matches nothing, and what is above it is
// attributed as "somewhere below".
const unknownChild = ""

// split returns the components of path, or false if it is not a path the
// kernel prints: empty components, "." and "..", NUL bytes and over-long
// names never occur in one. When truncated, the last component (possibly
// cut, possibly empty) is replaced by unknownChild.
func split(path string, truncated bool) ([]string, bool) {
	if len(path) > maxPathLen {
		return nil, false
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return nil, false // the root cgroup belongs to no one in particular
	}
	segs := strings.Split(path, "/")
	if truncated {
		segs[len(segs)-1] = unknownChild
	}
	for i, s := range segs {
		if truncated && i == len(segs)-1 {
			break
		}
		if s == "" || s == "." || s == ".." || len(s) > maxNameLen || strings.IndexByte(s, 0) >= 0 {
			return nil, false
		}
	}
	return segs, true
}

// kubernetes attributes a path through a kubelet's pod tree: the outermost
// kubepods root with a valid tree below it, then the QoS class, the pod and
// the container. A root inside a user's delegated subtree (user@UID.service)
// is ignored: any user can create cgroups there that look like a pod of the
// system's kubelet.
func kubernetes(segs []string, delegated int) event.Owner {
	for i := range segs {
		if delegated >= 0 && i > delegated {
			break
		}
		var info event.Owner
		if segs[i] == "kubepods" {
			info = kubeTree(segs[i+1:], cgroupfsDriver{})
		} else if base, ok := systemdKubepods(segs, i); ok {
			info = kubeTree(segs[i+1:], systemdDriver{base: base})
		}
		if !info.IsZero() {
			return info
		}
	}
	return event.Owner{}
}

// driver names the kubelet's cgroups below its kubepods root.
type driver interface {
	qos(name string) (event.QoS, bool)           // the QoS class cgroup
	pod(name string, q event.QoS) (string, bool) // a pod cgroup of class q: its UID
	container(name string) (event.Runtime, event.Level, string, bool)
}

// kubeTree attributes the path below a kubepods root.
func kubeTree(below []string, d driver) event.Owner {
	if len(below) == 0 {
		return event.Owner{Level: event.LevelKubepods}
	}
	q, ok := d.qos(below[0])
	if ok {
		below = below[1:]
		if len(below) == 0 {
			return event.Owner{QoS: q, Level: event.LevelQoS}
		}
	} else {
		q = event.QoSGuaranteed // guaranteed pods sit right under kubepods
	}
	uid, ok := d.pod(below[0], q)
	if !ok {
		return event.Owner{}
	}
	info := event.Owner{PodUID: uid, QoS: q, Level: event.LevelPod}
	if len(below) == 1 {
		return info
	}
	runtime, level, id, ok := d.container(below[1])
	if !ok {
		info.Level = "" // in the pod, but no container we know
		return info
	}
	info.Runtime, info.Level, info.ID = runtime, level, id
	return info
}

// cgroupfsDriver is the kubelet's cgroupfs layout:
// kubepods/burstable/pod<uid>/<container id>.
type cgroupfsDriver struct{}

func (cgroupfsDriver) qos(name string) (event.QoS, bool) {
	switch event.QoS(name) {
	case event.QoSBurstable, event.QoSBestEffort:
		return event.QoS(name), true
	}
	return "", false
}

func (cgroupfsDriver) pod(name string, _ event.QoS) (string, bool) {
	uid, ok := strings.CutPrefix(name, "pod")
	if !ok {
		return "", false
	}
	return podUID(uid, '-')
}

// container knows containerd's and Docker's bare IDs (which of the two made
// it the path does not say) and CRI-O's "crio-" names.
func (cgroupfsDriver) container(name string) (event.Runtime, event.Level, string, bool) {
	if isContainerID(name) {
		return "", event.LevelContainer, name, true
	}
	if id, ok := strings.CutPrefix(name, "crio-conmon-"); ok && isContainerID(id) {
		return event.RuntimeCRIO, event.LevelMonitor, id, true
	}
	if id, ok := strings.CutPrefix(name, "crio-"); ok && isContainerID(id) {
		return event.RuntimeCRIO, event.LevelContainer, id, true
	}
	return "", "", "", false
}

// systemdDriver is the kubelet's systemd layout, where every slice's name
// repeats its parents': kubepods.slice/kubepods-burstable.slice/
// kubepods-burstable-pod<uid with underscores>.slice/<runtime>-<id>.scope.
// base is the kubepods slice's name without ".slice" ("kubepods", or
// "kubelet-kubepods" under a cgroupRoot of /kubelet).
type systemdDriver struct{ base string }

func (d systemdDriver) qos(name string) (event.QoS, bool) {
	for _, q := range []event.QoS{event.QoSBurstable, event.QoSBestEffort} {
		if name == d.base+"-"+string(q)+".slice" {
			return q, true
		}
	}
	return "", false
}

func (d systemdDriver) pod(name string, q event.QoS) (string, bool) {
	prefix := d.base + "-pod"
	if q != event.QoSGuaranteed {
		prefix = d.base + "-" + string(q) + "-pod"
	}
	uid, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", false
	}
	uid, ok = strings.CutSuffix(uid, ".slice")
	if !ok {
		return "", false
	}
	// A dash would nest the slice one level deeper: systemd escapes the
	// UID's dashes as underscores.
	return podUID(uid, '_')
}

func (systemdDriver) container(name string) (event.Runtime, event.Level, string, bool) {
	return runtimeScope(name)
}

// systemdKubepods reports whether segs[i] is a kubelet's kubepods slice and
// returns its name without ".slice". A nested name ("kubelet-kubepods") must
// sit in its parent slice, as systemd places it.
func systemdKubepods(segs []string, i int) (string, bool) {
	base, ok := strings.CutSuffix(segs[i], ".slice")
	if !ok {
		return "", false
	}
	if base == "kubepods" {
		return base, true
	}
	parent, ok := strings.CutSuffix(base, "-kubepods")
	if !ok || parent == "" || i == 0 || segs[i-1] != parent+".slice" {
		return "", false
	}
	return base, true
}

// scopePrefixes are the systemd scopes container runtimes create, with the
// level of cgroup each one is. Longer prefixes come first: "crio-conmon-"
// must not be read as "crio-" followed by an ID.
var scopePrefixes = []struct {
	prefix  string
	runtime event.Runtime
	level   event.Level
}{
	{"cri-containerd-", event.RuntimeContainerd, event.LevelContainer},
	{"crio-conmon-", event.RuntimeCRIO, event.LevelMonitor},
	{"crio-", event.RuntimeCRIO, event.LevelContainer},
	{"docker-", event.RuntimeDocker, event.LevelContainer},
	{"libpod-conmon-", event.RuntimePodman, event.LevelMonitor},
	{"libpod-", event.RuntimePodman, event.LevelContainer},
}

// runtimeScope parses a runtime's systemd scope name, "<prefix><id>.scope".
func runtimeScope(name string) (event.Runtime, event.Level, string, bool) {
	stem, ok := strings.CutSuffix(name, ".scope")
	if !ok {
		return "", "", "", false
	}
	for _, p := range scopePrefixes {
		if id, ok := strings.CutPrefix(stem, p.prefix); ok {
			if isContainerID(id) {
				return p.runtime, p.level, id, true
			}
			return "", "", "", false
		}
	}
	return "", "", "", false
}

// runtimeContainer finds the outermost container outside Kubernetes:
// a runtime's systemd scope, Docker's cgroupfs "docker/<id>", Podman's
// cgroupfs "libpod-<id>" or CRI-O's "crio-<id>". Below it may be the
// container's own cgroups (crun's "container", systemd in a container,
// another runtime); the outermost is the one the host's runtime knows.
func runtimeContainer(segs []string) event.Owner {
	for i, s := range segs {
		if runtime, level, id, ok := runtimeScope(s); ok {
			return event.Owner{Runtime: runtime, ID: id, Level: level}
		}
		if s == "docker" && i+1 < len(segs) && isContainerID(segs[i+1]) {
			return event.Owner{Runtime: event.RuntimeDocker, ID: segs[i+1], Level: event.LevelContainer}
		}
		if id, ok := strings.CutPrefix(s, "libpod-"); ok && isContainerID(id) {
			return event.Owner{Runtime: event.RuntimePodman, ID: id, Level: event.LevelContainer}
		}
		if id, ok := strings.CutPrefix(s, "crio-"); ok && isContainerID(id) {
			return event.Owner{Runtime: event.RuntimeCRIO, ID: id, Level: event.LevelContainer}
		}
	}
	return event.Owner{}
}

// parentedContainer attributes a bare container ID at the end of a plain
// cgroupfs path: Docker's cgroupfs driver puts a container started with
// --cgroup-parent P at P/<id> (and containerd's clients do the same), so the
// runtime is not in the path; a Resolver finds it in the runtime's state.
// Only where nothing above the ID is a systemd unit or looks like a kubelet's
// tree (a component starting with "kubepods" or "pod"): a malformed pod tree
// stays unattributed rather than taken for a runtime's container.
func parentedContainer(segs []string) event.Owner {
	last := len(segs) - 1
	if !isContainerID(segs[last]) {
		return event.Owner{}
	}
	for _, s := range segs[:last] {
		if isUnitName(s) || strings.HasPrefix(s, "kubepods") || strings.HasPrefix(s, "pod") {
			return event.Owner{}
		}
	}
	return event.Owner{ID: segs[last], Level: event.LevelContainer}
}

// userSlice returns the uid of the user slice in segs ("user.slice/
// user-1000.slice"), and the index of the user's delegated service manager
// (user@1000.service), or -1.
func userSlice(segs []string) (string, int) {
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] != "user.slice" {
			continue
		}
		uid, ok := strings.CutPrefix(segs[i+1], "user-")
		if !ok {
			continue
		}
		uid, ok = strings.CutSuffix(uid, ".slice")
		if !ok || !isUID(uid) {
			continue
		}
		delegated := -1
		if i+2 < len(segs) && segs[i+2] == "user@"+uid+".service" {
			delegated = i + 2
		}
		return uid, delegated
	}
	return "", -1
}

// unitSuffixes are the systemd unit types that have cgroups.
var unitSuffixes = []string{".service", ".scope", ".slice", ".socket", ".mount", ".swap"}

// innermostUnit returns the deepest component that is a systemd unit name.
func innermostUnit(segs []string) string {
	for i := len(segs) - 1; i >= 0; i-- {
		if isUnitName(segs[i]) {
			return segs[i]
		}
	}
	return ""
}

// isUnitName reports whether s is a valid systemd unit name of a type with
// a cgroup: at most 255 bytes of ASCII letters, digits and ":-_.\@" (systemd
// escapes everything else as \xNN), with a name before the type suffix.
func isUnitName(s string) bool {
	if len(s) > maxNameLen {
		return false
	}
	var stem string
	for _, suffix := range unitSuffixes {
		if x, ok := strings.CutSuffix(s, suffix); ok {
			stem = x
			break
		}
	}
	if stem == "" {
		return false
	}
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if !isAlnum(c) && !strings.ContainsRune(":-_.\\@", rune(c)) {
			return false
		}
	}
	return true
}

// containerIDLen is the length of the IDs of containerd, CRI-O, Docker and
// Podman: 32 random bytes in hex.
const containerIDLen = 64

func isContainerID(s string) bool {
	return len(s) == containerIDLen && isLowerHex(s)
}

// podUID checks a pod UID written with sep between its groups ('-' as the
// API server writes it, '_' in systemd unit names) and returns it with
// dashes. Static pods have a UID of 32 hex digits (an MD5 sum) instead. A
// UID already written with dashes is returned as it is, without a copy:
// every event in a pod's cgroup has its UID checked.
func podUID(s string, sep byte) (string, bool) {
	if len(s) == 32 && isLowerHex(s) {
		return s, true
	}
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != sep {
				return "", false
			}
		default:
			if !isLowerHexDigit(s[i]) {
				return "", false
			}
		}
	}
	if sep == '-' {
		return s, true
	}
	return strings.ReplaceAll(s, string(sep), "-"), true
}

// isUID reports whether s is a uid_t in canonical decimal.
func isUID(s string) bool {
	n, err := strconv.ParseUint(s, 10, 32)
	return err == nil && strconv.FormatUint(n, 10) == s
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLowerHexDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isLowerHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
