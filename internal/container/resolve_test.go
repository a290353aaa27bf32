package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

const (
	testID1  = "0dc1822c4f1e5f3c7b4a2e9d8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b"
	testID2  = "7f3a9e1b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f"
	testID3  = "e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"
	testUID1 = "0f5eb28f-3c1a-4e2b-9d7c-6a5b4c3d2e1f"
	testUID2 = "3e2d1c0b-9a8f-4e6d-8c4b-2a1f0e9d8c7b"
	testUID3 = "c7b6a5f4-e3d2-4c1b-a0f9-e8d7c6b5a4f3"
)

// kubeletTree is a fake host root with the kubelet's log directories.
type kubeletTree struct {
	t    *testing.T
	root string
}

func newKubeletTree(t *testing.T) kubeletTree {
	k := kubeletTree{t: t, root: t.TempDir()}
	k.mkdir("var/log/pods")
	k.mkdir("var/log/containers")
	return k
}

func (k kubeletTree) path(rel string) string { return filepath.Join(k.root, rel) }

func (k kubeletTree) mkdir(rel string) {
	k.t.Helper()
	if err := os.MkdirAll(k.path(rel), 0o755); err != nil {
		k.t.Fatal(err)
	}
}

func (k kubeletTree) symlink(target, rel string) {
	k.t.Helper()
	if err := os.Symlink(target, k.path(rel)); err != nil {
		k.t.Fatal(err)
	}
}

func (k kubeletTree) writeFile(rel, content string) {
	k.t.Helper()
	if err := os.MkdirAll(filepath.Dir(k.path(rel)), 0o755); err != nil {
		k.t.Fatal(err)
	}
	if err := os.WriteFile(k.path(rel), []byte(content), 0o644); err != nil {
		k.t.Fatal(err)
	}
}

// addPod makes the pod's log directory and, for each container, its log
// directory and the kubelet's link, pointing at the host's /var/log/pods as
// the kubelet writes it (not into the fake root).
func (k kubeletTree) addPod(namespace, pod, uid string, containers map[string]string) {
	k.t.Helper()
	podDir := namespace + "_" + pod + "_" + uid
	k.mkdir("var/log/pods/" + podDir)
	for name, id := range containers {
		k.writeFile("var/log/pods/"+podDir+"/"+name+"/0.log", "")
		k.symlink("/var/log/pods/"+podDir+"/"+name+"/0.log", "var/log/containers/"+kubeletLinkName(pod, namespace, name, id))
	}
}

// resolve resolves info with a generous deadline: the lookups themselves
// are what is tested.
func resolve(r *Resolver, info event.Owner) event.Owner {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Resolve(ctx, info)
}

func kubeInfo(uid, id string) event.Owner {
	level := event.LevelPod
	if id != "" {
		level = event.LevelContainer
	}
	return event.Owner{PodUID: uid, ID: id, QoS: event.QoSBurstable, Level: level}
}

func TestResolveKubernetes(t *testing.T) {
	k := newKubeletTree(t)
	k.addPod("shop", "api-7d9", testUID1, map[string]string{"api": testID1, "sidecar": testID2})
	r := NewResolver(HostPaths(k.root))

	got := resolve(r, kubeInfo(testUID1, testID1))
	want := WithNames(kubeInfo(testUID1, testID1), Names{Name: "api", PodName: "api-7d9", Namespace: "shop"})
	if got != want {
		t.Errorf("container: got %+v, want %+v", got, want)
	}
	if got := resolve(r, kubeInfo(testUID1, testID2)); got.Name != "sidecar" {
		t.Errorf("second container named %q, want sidecar", got.Name)
	}
	got = resolve(r, kubeInfo(testUID1, ""))
	want = WithNames(kubeInfo(testUID1, ""), Names{PodName: "api-7d9", Namespace: "shop"})
	if got != want {
		t.Errorf("pod: got %+v, want %+v", got, want)
	}
	// A container without a log link (the pause container) keeps its ID
	// and still gets its pod's names.
	got = resolve(r, kubeInfo(testUID1, testID3))
	want = WithNames(kubeInfo(testUID1, testID3), Names{PodName: "api-7d9", Namespace: "shop"})
	if got != want {
		t.Errorf("pause container: got %+v, want %+v", got, want)
	}
}

// Cached runs for every event of a storm: it names from the cache without
// allocating, and an owner that needs no lookup does not even read the
// clock.
func TestCachedAllocatesNothing(t *testing.T) {
	k := newKubeletTree(t)
	k.addPod("shop", "api-7d9", testUID1, map[string]string{"api": testID1})
	r := NewResolver(HostPaths(k.root))
	info := kubeInfo(testUID1, testID1)
	resolve(r, info)
	var got event.Owner
	if allocs := testing.AllocsPerRun(100, func() { got = r.Cached(info) }); allocs != 0 || got.Name != "api" || got.PodName != "api-7d9" {
		t.Errorf("Cached: %+v with %v allocations, want the names with none", got, allocs)
	}
	clock := 0
	r.now = func() time.Time { clock++; return time.Now() }
	unit := event.Owner{Unit: "cron.service"}
	if got := r.Cached(unit); got != unit || clock != 0 {
		t.Errorf("Cached(%+v) = %+v, read the clock %d times; want it unchanged without the clock", unit, got, clock)
	}
}

// TestResolveRecreatedPod: a StatefulSet's pod comes back with the same
// name and a new UID, while the old one's logs are still there. Each UID
// gets its own pod's names, and a container is never named after a pod it
// is not in.
func TestResolveRecreatedPod(t *testing.T) {
	k := newKubeletTree(t)
	k.addPod("db", "pg-0", testUID1, map[string]string{"postgres": testID1})
	k.addPod("db", "pg-0", testUID2, map[string]string{"postgres": testID2})
	r := NewResolver(HostPaths(k.root))

	for _, c := range []struct {
		uid, id, name string
	}{
		{testUID1, testID1, "postgres"},
		{testUID2, testID2, "postgres"},
		{testUID2, testID1, ""}, // the old pod's container, claimed by the new UID
		{testUID1, testID2, ""},
	} {
		got := resolve(r, kubeInfo(c.uid, c.id))
		if got.Name != c.name || got.PodName != "pg-0" || got.Namespace != "db" {
			t.Errorf("pod %s container %.12s: got %+v, want container name %q in db/pg-0", c.uid, c.id, got, c.name)
		}
	}

	// Once the old pod is gone its UID is unknown, after the miss expires.
	if err := os.RemoveAll(k.path("var/log/pods/db_pg-0_" + testUID1)); err != nil {
		t.Fatal(err)
	}
	if got := resolve(NewResolver(HostPaths(k.root)), kubeInfo(testUID1, "")); got.PodName != "" {
		t.Errorf("deleted pod still resolves: %+v", got)
	}
}

func TestResolveLongNamesCutLink(t *testing.T) {
	k := newKubeletTree(t)
	// 201 bytes: the link's name keeps 44 digits of the ID.
	pod := strings.Repeat("a", 100) + "." + strings.Repeat("b", 100)
	k.addPod("ns", pod, testUID1, map[string]string{"c": testID1})
	link := kubeletLinkName(pod, "ns", "c", testID1)
	if len(link) != maxFileName || strings.Contains(link, testID1) || !strings.Contains(link, testID1[:44]) {
		t.Fatalf("link %q (%d bytes) does not keep 44 digits of the ID", link, len(link))
	}
	// With a long container name too, only 6 digits are left: too few to
	// tell two containers of the pod apart.
	shortPod, long := strings.Repeat("d", 200), strings.Repeat("f", 40)
	k.addPod("ns", shortPod, testUID2, map[string]string{long: testID2})
	if n := visibleIDLen(kubeletLinkName(shortPod, "ns", long, testID2), shortPod, "ns", long); n != 6 {
		t.Fatalf("second link keeps %d digits of the ID, want 6", n)
	}

	r := NewResolver(HostPaths(k.root))
	if got := resolve(r, kubeInfo(testUID1, testID1)); got.Name != "c" || got.PodName != pod {
		t.Errorf("got %+v, want container c of pod %s", got, pod)
	}
	// A container whose ID differs in the digits the name keeps is not it.
	other := testID1[:40] + "ffff" + testID1[44:]
	if got := resolve(r, kubeInfo(testUID1, other)); got.Name != "" {
		t.Errorf("container %s named %q after a cut link of another", other, got.Name)
	}
	if got := resolve(r, kubeInfo(testUID2, testID2)); got.Name != "" || got.PodName != shortPod {
		t.Errorf("got %+v, want pod %s without a container name", got, shortPod)
	}
}

// TestResolveMaliciousNames: whatever is in the directories, only entries
// exactly as the kubelet makes them count.
func TestResolveMaliciousNames(t *testing.T) {
	k := newKubeletTree(t)
	uid := testUID3
	for _, name := range []string{
		"shop_api_" + uid + "_x",              // four parts
		"Shop_api_" + uid,                     // upper case namespace
		"shop_api\n_" + uid,                   // newline
		"shop_.._" + uid,                      // not a DNS name
		"shop_-api_" + uid,                    // starts with a dash
		"shop_api_" + strings.ToUpper(uid),    // upper case UID
		"shop_api_" + uid + "\n",              // trailing newline
		"sh\u043ep_api_" + uid,                // Cyrillic o
		strings.Repeat("n", 64) + "_a_" + uid, // namespace too long
		"shop__" + uid,                        // empty pod name
	} {
		k.mkdir("var/log/pods/" + name)
	}
	k.writeFile("var/log/pods/shop_file_"+uid, "") // not a directory
	k.mkdir("elsewhere")
	k.symlink(k.path("elsewhere"), "var/log/pods/shop_link_"+uid) // a link to a directory

	r := NewResolver(HostPaths(k.root))
	if got := resolve(r, kubeInfo(uid, "")); got.PodName != "" || got.Namespace != "" {
		t.Errorf("pod names from malicious directories: %+v", got)
	}

	// Two directories claiming one UID: neither is trusted.
	k.mkdir("var/log/pods/a_x_" + testUID2)
	k.mkdir("var/log/pods/b_y_" + testUID2)
	if got := resolve(r, kubeInfo(testUID2, "")); got.PodName != "" {
		t.Errorf("pod names from an ambiguous UID: %+v", got)
	}
}

func TestResolveMaliciousLinks(t *testing.T) {
	k := newKubeletTree(t)
	k.addPod("shop", "api", testUID1, nil)
	target := "/var/log/pods/shop_api_" + testUID1 + "/api/0.log"
	link := func(name, target string) { k.symlink(target, "var/log/containers/"+name) }

	// Each of these claims container testID1 of the pod, wrongly.
	link("evil_shop_api-"+testID1+".log", target)                                              // name does not match the target
	link("api_shop_api-"+testID1+".log.bak", target)                                           // wrong suffix
	link("api_shop_api-"+testID1+".log\n", target)                                             // trailing newline
	k.writeFile("var/log/containers/api_shop_api2-"+testID1+".log", target)                    // a file, not a link
	link("api_shop_api3-"+testID1+".log", "/var/log/pods/shop_api_"+testUID2+"/api3/0.log")    // another pod's UID
	link("api_shop_api4-"+testID1+".log", "/var/log/pods/shop_api_"+testUID1+"/api4/x.log")    // not a restart count
	link("api_shop_API-"+testID1+".log", "/var/log/pods/shop_api_"+testUID1+"/API/0.log")      // upper case container
	link("api_shop_api5-"+testID1+".log", "shop_api_"+testUID1+"/api5")                        // too short
	link("api_shop_api6-"+testID1+".log", "/var/log/pods/shop_api_"+testUID1+"/api6/../0.log") // dot-dot

	r := NewResolver(HostPaths(k.root))
	got := resolve(r, kubeInfo(testUID1, testID1))
	if got.Name != "" {
		t.Errorf("container named %q from a malicious link; info %+v", got.Name, got)
	}
	if got.PodName != "api" {
		t.Errorf("pod not named from its directory: %+v", got)
	}

	// Two valid-looking links for one container: neither is trusted.
	k.addPod("a", "b", testUID2, map[string]string{"c": testID2})
	link(kubeletLinkName("b", "a", "d", testID2), "/var/log/pods/a_b_"+testUID2+"/d/0.log")
	if got := resolve(r, kubeInfo(testUID2, testID2)); got.Name != "" {
		t.Errorf("container named %q from ambiguous links", got.Name)
	}
}

func TestResolveDocker(t *testing.T) {
	k := newKubeletTree(t)
	k.writeFile("var/lib/docker/containers/"+testID1+"/config.v2.json", `{"ID":"`+testID1+`","Name":"/web","Config":{"Env":["A=1"]}}`)
	k.writeFile("var/lib/docker/containers/"+testID2+"/config.v2.json", `{"ID":"`+testID1+`","Name":"/wrong-id"}`)
	k.writeFile("var/lib/docker/containers/"+testID3+"/config.v2.json", `{"ID":"`+testID3+`","Name":"/we b"}`)
	r := NewResolver(HostPaths(k.root))
	for _, c := range []struct{ id, name string }{
		{testID1, "web"},
		{testID2, ""}, // the file is another container's
		{testID3, ""}, // not a name Docker gives
	} {
		info := event.Owner{Runtime: event.RuntimeDocker, ID: c.id, Level: event.LevelContainer}
		if got := resolve(r, info); got != WithNames(info, Names{Name: c.name}) {
			t.Errorf("docker %.12s: got %+v, want name %q", c.id, got, c.name)
		}
	}
	// A rootless container with the same ID is not named from the system's
	// Docker.
	rootless := event.Owner{Runtime: event.RuntimeDocker, ID: testID1, Level: event.LevelContainer, User: "1000"}
	if got := resolve(r, rootless); got != rootless {
		t.Errorf("rootless docker: got %+v, want no names", got)
	}
}

func TestResolvePodman(t *testing.T) {
	k := newKubeletTree(t)
	k.writeFile("var/lib/containers/storage/overlay-containers/containers.json",
		`[{"id":"`+testID2+`","names":["k8s_x"]},{"id":"`+testID1+`","names":["db","alias"],"image":"i"},{"id":"`+testID3+`","names":["-bad"]}]`)
	r := NewResolver(HostPaths(k.root))
	for _, c := range []struct{ id, name string }{{testID1, "db"}, {testID3, ""}} {
		info := event.Owner{Runtime: event.RuntimePodman, ID: c.id, Level: event.LevelContainer}
		if got := resolve(r, info); got.Name != c.name {
			t.Errorf("podman %.12s: got %+v, want name %q", c.id, got, c.name)
		}
	}
}

func TestResolveRefusesForgedInfo(t *testing.T) {
	k := newKubeletTree(t)
	k.writeFile("etc/config.v2.json", `{"ID":"../../../etc","Name":"/gotcha"}`)
	var calls atomic.Int32
	r := NewResolver(HostPaths(k.root))
	r.look = func(key lookupKey) lookupResult {
		calls.Add(1)
		return r.lookOnDisk(key)
	}
	for _, info := range []event.Owner{
		{Runtime: event.RuntimeDocker, ID: "../../../etc", Level: event.LevelContainer},
		{PodUID: "../x", Level: event.LevelPod},
		{PodUID: strings.ReplaceAll(testUID1, "-", "_"), Level: event.LevelPod},
		{PodUID: testUID1, ID: "zz", Level: event.LevelContainer},
	} {
		if got := resolve(r, info); got != info {
			t.Errorf("forged %+v resolved to %+v", info, got)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d lookups for forged infos, want none", n)
	}
}

// blockingLookups replaces r's lookups with ones that wait for release and
// then find the names "name-<id>", counting calls.
type blockingLookups struct {
	release chan struct{}
	calls   atomic.Int32
}

func blockLookups(r *Resolver) *blockingLookups {
	b := &blockingLookups{release: make(chan struct{})}
	r.look = func(k lookupKey) lookupResult {
		b.calls.Add(1)
		<-b.release
		return lookupResult{names: Names{Name: "name-" + k.id}, found: true}
	}
	return b
}

func TestResolveNeverWaitsPastDeadline(t *testing.T) {
	r := NewResolver(ResolverOptions{})
	b := blockLookups(r)
	info := event.Owner{Runtime: event.RuntimeDocker, ID: testID1, Level: event.LevelContainer}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	start := time.Now()
	got := r.Resolve(ctx, info)
	cancel()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Resolve took %v with a 20ms deadline", took)
	}
	if got != info {
		t.Errorf("Resolve gave %+v before the lookup finished", got)
	}
	if got := r.Cached(info); got != info {
		t.Errorf("Cached gave %+v before the lookup finished", got)
	}

	close(b.release)
	if got := resolve(r, info); got.Name != "name-"+testID1 {
		t.Errorf("after the lookup finished: %+v", got)
	}
	if got := r.Cached(info); got.Name != "name-"+testID1 {
		t.Errorf("Cached after the lookup finished: %+v", got)
	}
	if n := b.calls.Load(); n != 1 {
		t.Errorf("%d lookups, want 1: the waiting Resolve must join the running one", n)
	}
}

func TestResolvePrefetch(t *testing.T) {
	r := NewResolver(ResolverOptions{})
	b := blockLookups(r)
	info := event.Owner{Runtime: event.RuntimePodman, ID: testID2, Level: event.LevelContainer}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if got := r.Resolve(done, info); got != info {
		t.Errorf("prefetch returned %+v", got)
	}
	if n := b.calls.Load(); n != 1 {
		// The lookup runs on its own goroutine; wait for it to begin.
		deadline := time.Now().Add(5 * time.Second)
		for b.calls.Load() != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n = b.calls.Load(); n != 1 {
			t.Fatalf("prefetch started %d lookups, want 1", n)
		}
	}
	close(b.release)
	if got := resolve(r, info); got.Name != "name-"+testID2 {
		t.Errorf("after the prefetch: %+v", got)
	}
}

func TestResolveBoundsLookups(t *testing.T) {
	r := NewResolver(ResolverOptions{MaxLookups: 1})
	b := blockLookups(r)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	first := event.Owner{Runtime: event.RuntimeDocker, ID: testID1, Level: event.LevelContainer}
	second := event.Owner{Runtime: event.RuntimeDocker, ID: testID2, Level: event.LevelContainer}
	r.Resolve(done, first)
	// No slot while the first blocks: Resolve gives up when its context is
	// done, without starting a second lookup.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if got := r.Resolve(ctx, second); got != second {
		t.Errorf("second lookup resolved to %+v while the first blocks", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Resolve waited %v past its context", took)
	}
	// A Resolve waiting for a slot gets one when the first finishes.
	got := make(chan event.Owner)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got <- r.Resolve(ctx, second)
	}()
	time.Sleep(50 * time.Millisecond)
	close(b.release)
	if info := <-got; info.Name != "name-"+testID2 {
		t.Errorf("second lookup once the first finished: %+v", info)
	}
	resolve(r, first)
}

func TestResolveRemembersMisses(t *testing.T) {
	k := newKubeletTree(t)
	r := NewResolver(HostPaths(k.root))
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	info := kubeInfo(testUID1, "")
	if got := resolve(r, info); got.PodName != "" {
		t.Fatalf("resolved %+v before the pod existed", got)
	}
	k.addPod("shop", "api", testUID1, nil)
	if got := resolve(r, info); got.PodName != "" {
		t.Errorf("a remembered miss was looked up again at once: %+v", got)
	}
	now = now.Add(11 * time.Second)
	if got := resolve(r, info); got.PodName != "api" {
		t.Errorf("after the miss expired: %+v", got)
	}
}

func TestResolveConcurrent(t *testing.T) {
	k := newKubeletTree(t)
	uids := []string{testUID1, testUID2, testUID3}
	ids := []string{testID1, testID2, testID3}
	for i := range uids {
		k.addPod("ns", fmt.Sprintf("pod-%d", i), uids[i], map[string]string{fmt.Sprintf("c%d", i): ids[i]})
	}
	r := NewResolver(ResolverOptions{PodLogDir: k.path("var/log/pods"), ContainerLogDir: k.path("var/log/containers"), CacheSize: 2})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for n := range 50 {
				i := (g + n) % len(uids)
				got := resolve(r, kubeInfo(uids[i], ids[i]))
				if got.Name != fmt.Sprintf("c%d", i) || got.PodName != fmt.Sprintf("pod-%d", i) {
					t.Errorf("got %+v for pod %d", got, i)
					return
				}
				r.Cached(kubeInfo(uids[i], ids[i]))
			}
		})
	}
	wg.Wait()
	if n := r.cache.len(); n > 2 {
		t.Errorf("cache holds %d entries, bound is 2", n)
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(2)
	now := time.Unix(0, 0)
	later := now.Add(time.Hour)
	key := func(id string) lookupKey { return lookupKey{kind: lookupDocker, id: id} }
	found := func(name string) lookupResult { return lookupResult{names: Names{Name: name}, found: true} }
	c.put(key("a"), found("A"), later)
	c.put(key("b"), found("B"), later)
	if _, ok := c.get(key("a"), now); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(key("c"), found("C"), later)
	if _, ok := c.get(key("b"), now); ok {
		t.Error("b, the least recently used, was not evicted")
	}
	for _, k := range []string{"c", "a"} {
		if r, ok := c.get(key(k), now); !ok || r.names.Name != strings.ToUpper(k) {
			t.Errorf("%s: %+v %v", k, r, ok)
		}
	}
	c.put(key("c"), found("C2"), later) // a newer lookup of the same key
	if r, ok := c.get(key("c"), now); !ok || r.names.Name != "C2" || c.len() != 2 {
		t.Errorf("updated c: %+v %v, %d entries", r, ok, c.len())
	}
	if _, ok := c.get(key("a"), later); ok {
		t.Error("a entry was returned at its expiry")
	}
	if n := c.len(); n != 1 {
		t.Errorf("expired entry not dropped: %d entries", n)
	}
}

func TestReadCapped(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := readCapped(name, 5); err != nil || string(b) != "12345" {
		t.Errorf("readCapped at the cap: %q, %v", b, err)
	}
	if _, err := readCapped(name, 4); err == nil {
		t.Error("readCapped over the cap did not fail")
	}
}
