package event

import (
	"reflect"
	"testing"
	"time"
)

func TestAtLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		usage, limit uint64
		want         bool
	}{
		{32 * mib, 32 * mib, true},
		{33 * mib, 32 * mib, true},   // over: charged before reclaim
		{30*mib + 1, 32 * mib, true}, // a huge page would not fit
		{30 * mib, 32 * mib, false},  // a huge page still fits, just
		{32 * mib, NoLimit, false},
		{0, 0, false}, // not measured
	} {
		c := Cgroup{Path: "/a", UsageBytes: tc.usage, LimitBytes: tc.limit}
		if got := c.AtLimit(); got != tc.want {
			t.Errorf("usage %d limit %d: AtLimit %v, want %v", tc.usage, tc.limit, got, tc.want)
		}
	}
}

// fillNonZero sets every exported field under v to a value that is not
// zero, so a test sees any field a reset leaves behind.
func fillNonZero(t *testing.T, v reflect.Value) {
	t.Helper()
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Unix(1, 1)))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillNonZero(t, v.Field(i))
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			fillNonZero(t, v.Index(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillNonZero(t, v.Index(0))
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	default:
		t.Fatalf("fillNonZero: %s not handled", v.Type())
	}
}

// Reset clears an event of every kind whole: its header and its payload,
// every field of it, including those set after decoding (names, snapshot,
// explanations).
func TestReset(t *testing.T) {
	payloads := map[Kind]string{
		KindOOMKill: "OOMKill", KindMemcgOOM: "MemcgOOM", KindReclaim: "Reclaim", KindKswapdWake: "KswapdWake",
		KindReaper: "Reaper", KindReclaimStats: "ReclaimStats", KindLost: "Lost", KindSignal: "Signal", KindExit: "Exit",
		KindSample: "Sample", KindEviction: "Eviction", KindOOMSnapshot: "OOMSnapshot", KindOOMReport: "OOMReport",
	}
	for kind := Kind(1); int(kind) < len(kindNames.names); kind++ {
		name, ok := payloads[kind]
		if !ok {
			t.Fatalf("kind %s has no payload in this test", kind)
		}
		var ev Event
		v := reflect.ValueOf(&ev).Elem()
		for _, header := range []string{"Time", "KtimeNS", "CPU", "Task", "Missing", "Restored", name} {
			fillNonZero(t, v.FieldByName(header))
		}
		ev.Kind = kind
		ev.Reset()
		if !v.IsZero() {
			t.Errorf("%s: Reset left %+v", kind, ev)
		}
	}

	// An event of a kind Reset does not know is cleared whole.
	var ev Event
	fillNonZero(t, reflect.ValueOf(&ev).Elem())
	ev.Kind = 200
	ev.Reset()
	if !reflect.ValueOf(ev).IsZero() {
		t.Errorf("kind 200: Reset left %+v", ev)
	}
}

// Cgroups names every cgroup of an event, and runs for every event of a
// storm without allocating.
func TestCgroups(t *testing.T) {
	var kill Event
	kill.Kind = KindOOMKill
	k := &kill.OOMKill
	got := kill.Cgroups()
	if len(got) != 3 || got[0] != &k.Victim.Cgroup || got[1] != &k.OOMCgroup || got[2] != &k.TriggerCgroup {
		t.Errorf("kill: %v", got)
	}
	for kind, want := range map[Kind]int{KindReclaim: 1, KindSignal: 2, KindExit: 2, KindLost: 0, KindOOMSnapshot: 2, KindOOMReport: 2} {
		if n := len((&Event{Kind: kind}).Cgroups()); n != want {
			t.Errorf("%v: %d cgroups, want %d", kind, n, want)
		}
	}
	ev := Event{Kind: KindReclaim}
	ev.Reclaim.Cgroup.ID = 7
	var sum uint64
	if allocs := testing.AllocsPerRun(100, func() {
		for _, c := range ev.Cgroups() {
			sum += c.ID
		}
	}); allocs != 0 || sum == 0 {
		t.Errorf("%v allocations per call, want none", allocs)
	}
}

// IsZero names every field of Owner: one it forgot would make a cgroup with
// only that field known look unrecognised.
func TestOwnerIsZero(t *testing.T) {
	if !(Owner{}).IsZero() {
		t.Error("the zero Owner is not zero")
	}
	fields := reflect.TypeFor[Owner]().NumField()
	for i := range fields {
		var o Owner
		reflect.ValueOf(&o).Elem().Field(i).SetString("x")
		if o.IsZero() {
			t.Errorf("an Owner with only %s set is zero", reflect.TypeFor[Owner]().Field(i).Name)
		}
	}
}

// A cgroup path is within a directory at a component boundary only.
func TestPathWithin(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/kubepods/pod1", "/kubepods/pod1", true},
		{"/kubepods/pod1/c1", "/kubepods/pod1", true},
		{"/kubepods/pod1/c1", "/kubepods/pod1/", true},
		{"/kubepods/pod12", "/kubepods/pod1", false},
		{"/kubepods", "/kubepods/pod1", false},
		{"/anything", "/", true},
		{"/other", "/kubepods", false},
	} {
		if got := PathWithin(tc.p, tc.dir); got != tc.want {
			t.Errorf("PathWithin(%q, %q) = %v, want %v", tc.p, tc.dir, got, tc.want)
		}
	}
}

// The events that follow a kill name it by its ktime_ns and victim pid,
// and an oom_report keeps what the kernel log adds to the kill.
func TestFollowedKill(t *testing.T) {
	kill := Event{Kind: KindOOMKill, KtimeNS: 41}
	kill.OOMKill.Victim.Task = Task{PID: 7, TGID: 7, Comm: "hog"}
	kill.OOMKill.Class = ClassMemcg
	kill.OOMKill.OOMCgroup = Cgroup{Path: "/a", ID: 3, UsageBytes: 5, LimitBytes: 5}
	fromLog := OOMKill{HasGFP: true, GFPMask: 0xcc0, Order: 2}
	fromLog.Report.HasMemcg, fromLog.Report.MemcgAnonBytes = true, 4
	report := Event{Kind: KindOOMReport, OOMReport: ReportAfter(&kill, &fromLog)}
	snapshot := Event{Kind: KindOOMSnapshot, OOMSnapshot: SnapshotAfter(&kill, Snapshot{})}
	for _, ev := range []*Event{&report, &snapshot} {
		if ktime, pid, ok := ev.FollowedKill(); ktime != 41 || pid != 7 || !ok {
			t.Errorf("%s follows (%d, %d, %v), want (41, 7, true)", ev.Kind, ktime, pid, ok)
		}
	}
	if _, _, ok := kill.FollowedKill(); ok {
		t.Error("a kill follows a kill")
	}
	r := report.OOMReport
	if !r.HasGFP || r.GFPMask != 0xcc0 || r.Order != 2 || r.Report.MemcgAnonBytes != 4 || r.Class != ClassMemcg ||
		r.OOMCgroup.UsageBytes != 5 || r.Victim.Comm != "hog" {
		t.Errorf("ReportAfter = %+v", r)
	}
}
