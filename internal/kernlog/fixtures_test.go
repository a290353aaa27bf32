package kernlog

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeFile returns every item of a fixture and the warnings.
func decodeFile(t *testing.T, name string) ([]Item, []Warning) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", name))
	if err != nil {
		t.Fatal(err)
	}
	return decodeBytes(t, b, name)
}

func decodeBytes(t *testing.T, b []byte, name string) ([]Item, []Warning) {
	t.Helper()
	d := NewDecoder(bytes.NewReader(b), name)
	var items []Item
	for {
		it, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	w, _ := d.Warnings()
	return items, w
}

func reports(items []Item) []*Report {
	var rs []*Report
	for _, it := range items {
		if it.Report != nil {
			rs = append(rs, it.Report)
		}
	}
	return rs
}

func opt[T any](v T) Opt[T] { return Opt[T]{V: v, OK: true} }

func mono(sec, usec int64) Opt[time.Duration] {
	return opt(time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond)
}

// The same real kill (6.18, cgroup v1) read from every form this machine's
// log can be saved in.
func TestRecordedMemcgEveryForm(t *testing.T) {
	wall := time.Date(2026, 12, 2, 23, 7, 36, 0, time.UTC)
	for _, tt := range []struct {
		form     string
		format   Format
		mono     bool
		wall     Opt[time.Time]
		timeText string
		host     string
	}{
		{form: "dmesg", format: FormatDmesg, mono: true},
		{form: "dmesg-r", format: FormatDmesgRaw, mono: true},
		{form: "dmesg-x", format: FormatDmesgDecoded, mono: true},
		{form: "dmesg-T", format: FormatDmesgCtime, wall: opt(wall), timeText: "Wed Dec  2 23:07:36 2026"},
		{form: "dmesg-iso", format: FormatDmesgISO, wall: opt(wall.Add(36543 * time.Microsecond)), timeText: "2026-12-02T23:07:36,036543+00:00"},
		{form: "kmsg", format: FormatKmsg, mono: true},
		{form: "journal-short", format: FormatSyslog, timeText: "Dec 02 23:07:36", host: "vm"},
		{form: "journal-short-precise", format: FormatSyslog, timeText: "Dec 02 23:07:36.609634", host: "vm"},
		{form: "journal-short-iso", format: FormatSyslogISO, wall: opt(wall), timeText: "2026-12-02T23:07:36+0000", host: "vm"},
		{form: "journal-short-monotonic", format: FormatJournalMonotonic, mono: true, host: "vm"},
		{form: "journal-json", format: FormatJournalJSON, mono: true, wall: opt(wall.Add(609634 * time.Microsecond)), timeText: "1796252856609634", host: "vm"},
		{form: "kern.log", format: FormatSyslog, mono: true, timeText: "Dec  2 23:07:36", host: "vm"},
		{form: "kern-precise.log", format: FormatSyslogISO, mono: true, wall: opt(wall.Add(608634 * time.Microsecond)), timeText: "2026-12-02T23:07:36.608634+00:00", host: "vm"},
	} {
		t.Run(tt.form, func(t *testing.T) {
			items, warns := decodeFile(t, "6.18-v1-rec-memcg."+tt.form)
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
			rs := reports(items)
			// The first report is the end of an earlier kill, its header
			// cut off by the excerpt.
			if len(rs) != 2 || len(rs[0].Victims) != 1 || rs[0].Victims[0].PID != 9467 || rs[0].Header != nil {
				t.Fatalf("got %d reports, want the tail of pid 9467's and pid 14614's", len(rs))
			}
			r := rs[1]
			checkRecordedMemcg(t, r)
			at := r.Victims[0].At
			wantMono := Opt[time.Duration]{}
			if tt.mono {
				wantMono = mono(2866, 36543)
			}
			if at.Mono != wantMono || at.Wall.OK != tt.wall.OK || !at.Wall.V.Equal(tt.wall.V) || at.TimeText != tt.timeText || at.Host != tt.host {
				t.Errorf("kill logged at mono %v wall %v %q host %q; want %v %v %q %q",
					at.Mono, at.Wall, at.TimeText, at.Host, wantMono, tt.wall, tt.timeText, tt.host)
			}
		})
	}
}

func checkRecordedMemcg(t *testing.T, r *Report) {
	t.Helper()
	const cg = "/klrec-memcg"
	if want := (Header{Comm: "klhog", GFPMask: 0xcc0, GFPFlags: "GFP_KERNEL", HasFlags: true}); r.Header == nil || *r.Header != want {
		t.Errorf("header %+v, want %+v", r.Header, want)
	}
	if want := (TriggerLine{CPU: 0, UID: opt(uint32(0)), PID: 14614, Comm: "klhog"}); r.Trigger == nil || *r.Trigger != want {
		t.Errorf("trigger %+v, want %+v", r.Trigger, want)
	}
	wantCounters := []Counter{
		{Name: "memory", UsageKB: 32768, LimitKB: 32768, Failcnt: 60},
		{Name: "memory+swap", UsageKB: 32768, LimitKB: 9007199254740988},
		{Name: "kmem", UsageKB: 128, LimitKB: 9007199254740988},
	}
	if !reflect.DeepEqual(r.Counters, wantCounters) {
		t.Errorf("counters %+v, want %+v", r.Counters, wantCounters)
	}
	st := r.MemcgStats
	if st == nil || st.Memcg != cg || st.Stats["rss"] != 33423360 || st.Stats["hierarchical_memory_limit"] != 33554432 ||
		st.Stats["inactive_anon"] != 33382400 || st.Stats["pgfault"] != 8208 || len(st.Order) != 42 || st.Order[0] != "cache" {
		t.Errorf("memcg stats %+v", st)
	}
	if r.MemInfo != nil || r.LimitOf != nil || r.Selected != nil || r.Cpuset != nil {
		t.Errorf("parts a 6.18 memcg report has not: %+v %+v %+v %+v", r.MemInfo, r.LimitOf, r.Selected, r.Cpuset)
	}
	wantTasks := &TaskTable{
		Columns: []string{"pid", "uid", "tgid", "total_vm", "rss", "rss_anon", "rss_file", "rss_shmem", "pgtables_bytes", "swapents", "oom_score_adj", "name"},
		Rows: []TaskRow{{PID: 14614, TGID: 14614, TotalVM: 8869, RSS: 8514, Name: "klhog",
			Other: map[string]int64{"rss_anon": 8128, "rss_file": 386, "rss_shmem": 0, "pgtables_bytes": 110592}}},
		Count: 1,
	}
	if !reflect.DeepEqual(r.Tasks, wantTasks) {
		t.Errorf("tasks %+v, want %+v", r.Tasks, wantTasks)
	}
	if want := (Summary{Constraint: "CONSTRAINT_MEMCG", Nodemask: "(null)", Cpuset: "/", MemsAllowed: "0",
		OOMMemcg: cg, TaskMemcg: cg, Task: "klhog", PID: 14614}); r.Summary == nil || *r.Summary != want {
		t.Errorf("summary %+v, want %+v", r.Summary, want)
	}
	if len(r.Victims) != 1 {
		t.Fatalf("victims %+v, want pid 14614", r.Victims)
	}
	v := r.Victims[0]
	v.At = Stamp{}
	if want := (Killed{Reason: ReasonMemcg, PID: 14614, Comm: "klhog", TotalVMKB: 35476, AnonRSSKB: 32512,
		FileRSSKB: 1544, PgtablesKB: 108, HasShmemRSS: true, HasUID: true, HasPgtables: true, HasOOMScoreAdj: true}); v != want {
		t.Errorf("victim %+v, want %+v", v, want)
	}
	if r.Group.OK || r.Skipped != nil || len(r.Reaped) != 0 {
		t.Errorf("group %v skipped %v reaped %v, want none", r.Group, r.Skipped, r.Reaped)
	}
}

// A gzip-compressed kern.log reads as the plain one.
func TestGzip(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "6.18-v1-rec-memcg.kern.log"))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(plain)
	zw.Close()
	items, warns := decodeBytes(t, z.Bytes(), "kern.log.2.gz")
	rs := reports(items)
	if len(warns) > 0 || len(rs) != 2 {
		t.Fatalf("got %d reports, warnings %v", len(rs), warns)
	}
	checkRecordedMemcg(t, rs[1])
	// A cut gzip stream ends in an error, after what it could read.
	d := NewDecoder(bytes.NewReader(z.Bytes()[:z.Len()/2]), "cut.gz")
	var err2 error
	for err2 == nil {
		_, err2 = d.Next()
	}
	if errors.Is(err2, io.EOF) {
		t.Errorf("cut gzip stream read to its end without an error")
	}
}

// Headers rate limited away: one report in full, then four kills of which
// only the "Killed process" line was printed, then a limit on a parent
// cgroup, then lines written to /dev/kmsg from user space.
func TestRecordedRateLimited(t *testing.T) {
	for _, form := range []string{"kmsg", "dmesg-x", "journal-json", "journal-short-precise", "kern-precise.log"} {
		t.Run(form, func(t *testing.T) {
			items, warns := decodeFile(t, "6.18-v1-rec-ratelimit."+form)
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
			rs := reports(items)
			type kill struct {
				pid      int
				header   bool
				file     uint64
				oomMemcg string
			}
			want := []kill{
				{pid: 14689, file: 1692},
				{pid: 14693, header: true, file: 1560, oomMemcg: "/klrec-storm-10"},
				{pid: 14697, file: 1600}, {pid: 14701, file: 1676}, {pid: 14705, file: 1692}, {pid: 14709, file: 1476},
				{pid: 14793, header: true, file: 1624, oomMemcg: "/klrec-parent"},
			}
			if len(rs) != len(want) {
				t.Fatalf("got %d reports, want %d", len(rs), len(want))
			}
			for i, w := range want {
				r := rs[i]
				if len(r.Victims) != 1 || r.Victims[0].PID != w.pid || r.Victims[0].FileRSSKB != w.file || r.Victims[0].Comm != "klhog" {
					t.Errorf("report %d: victims %+v, want pid %d", i, r.Victims, w.pid)
					continue
				}
				if (r.Header != nil) != w.header || (r.Summary != nil) != w.header || (r.Trigger != nil) != w.header {
					t.Errorf("pid %d: header %v summary %v trigger %v, want all or none: %v", w.pid, r.Header, r.Summary, r.Trigger, w.header)
				}
				if r.Summary != nil && r.Summary.OOMMemcg != w.oomMemcg {
					t.Errorf("pid %d: oom_memcg %q, want %q", w.pid, r.Summary.OOMMemcg, w.oomMemcg)
				}
			}
			last := rs[len(rs)-1]
			if last.Summary == nil || last.Summary.TaskMemcg != "/klrec-parent/child" || last.Trigger == nil || last.Trigger.PID != 14793 {
				t.Errorf("parent/child kill: summary %+v trigger %+v", last.Summary, last.Trigger)
			}
			if c := last.Counters; len(c) != 3 || c[0].LimitKB != 24576 {
				t.Errorf("parent/child kill: counters %+v, want the parent's 24 MiB limit", c)
			}
		})
	}
}

// Kernel 3.13 (Ubuntu 14.04), cgroup v1: "Task in ... killed as a result of
// limit of ...", the one-line memcg statistics in KB, "Kill process ...
// score ... or sacrifice child" and the shortest "Killed process" line.
func TestCadvisor313Memcg(t *testing.T) {
	items, warns := decodeFile(t, "3.13-v1-memcg.txt")
	rs := reports(items)
	if len(warns) > 0 || len(rs) != 1 {
		t.Fatalf("%d reports, warnings %v", len(rs), warns)
	}
	r := rs[0]
	if want := (Header{Comm: "memorymonster", GFPMask: 0xd0}); *r.Header != want {
		t.Errorf("header %+v, want %+v", *r.Header, want)
	}
	if want := (CpusetLine{Comm: "memorymonster", Cpuset: "/", MemsAllowed: "0"}); r.Cpuset == nil || *r.Cpuset != want {
		t.Errorf("cpuset %+v", r.Cpuset)
	}
	if want := (TriggerLine{CPU: 5, PID: 13536, Comm: "memorymonster"}); r.Trigger == nil || *r.Trigger != want {
		t.Errorf("trigger %+v", r.Trigger)
	}
	if want := (LimitOf{Task: "/mem2", Limit: "/mem2"}); r.LimitOf == nil || *r.LimitOf != want {
		t.Errorf("limit of %+v", r.LimitOf)
	}
	wantCounters := []Counter{{"memory", 980, 980, 4152239}, {"memory+swap", 0, 18014398509481983, 0}, {"kmem", 0, 18014398509481983, 0}}
	if !reflect.DeepEqual(r.Counters, wantCounters) {
		t.Errorf("counters %+v", r.Counters)
	}
	if st := r.MemcgStats; st == nil || st.Memcg != "/mem2" || st.Stats["rss"] != 980*1024 || st.Stats["writeback"] != 20*1024 ||
		st.Stats["inactive_anon"] != 560*1024 || len(st.Stats) != 10 {
		t.Errorf("stats %+v", st)
	}
	if want := (Selected{Reason: ReasonMemcg, PID: 13536, Comm: "memorymonster", Score: 996}); r.Selected == nil || *r.Selected != want {
		t.Errorf("selected %+v", r.Selected)
	}
	row, ok := r.VictimRow(0)
	if want := (TaskRow{PID: 13536, UID: 275858, TGID: 13536, TotalVM: 8389663, RSS: 343, Swapents: 8324326,
		Name: "memorymonster", Other: map[string]int64{"nr_ptes": 16267}}); !ok || !reflect.DeepEqual(row, want) {
		t.Errorf("victim row %+v, want %+v", row, want)
	}
	v := r.Victims[0]
	v.At = Stamp{}
	if want := (Killed{PID: 13536, Comm: "memorymonster", TotalVMKB: 33558652, AnonRSSKB: 920, FileRSSKB: 452}); v != want {
		t.Errorf("victim %+v, want %+v", v, want)
	}
	if r.Summary != nil || r.MemInfo != nil {
		t.Errorf("summary %+v meminfo %+v on 3.13", r.Summary, r.MemInfo)
	}
}

// Kernel 3.13, a global OOM: the Mem-Info block of that time (per-cpu
// lines, one message a line), the zones under their min watermark, the
// task table.
func TestCadvisor313Global(t *testing.T) {
	items, warns := decodeFile(t, "3.13-global.txt")
	rs := reports(items)
	if len(warns) > 0 || len(rs) != 1 {
		t.Fatalf("%d reports, warnings %v", len(rs), warns)
	}
	r := rs[0]
	mi := r.MemInfo
	if mi == nil {
		t.Fatal("no Mem-Info")
	}
	for k, v := range map[string]uint64{"active_anon": 405991, "inactive_anon": 57, "free": 12929, "shmem": 70,
		"slab_unreclaimable": 1919, "active_file": 35, "inactive_file": 69, "pagetables": 1423, "free_cma": 0} {
		if got, ok := mi.Pages[k]; !ok || got != v {
			t.Errorf("Mem-Info %s = %d (%v), want %d", k, got, ok, v)
		}
	}
	if len(mi.Zones) != 2 {
		t.Fatalf("zones %+v", mi.Zones)
	}
	dma32 := mi.Zones[1]
	if dma32.Name != "DMA32" || dma32.FreeKB != opt(uint64(44592)) || dma32.MinKB != opt(uint64(44640)) ||
		dma32.LowKB != opt(uint64(55800)) || dma32.HighKB != opt(uint64(66960)) || dma32.FreeTotalKB != opt(uint64(44592)) {
		t.Errorf("DMA32 %+v", dma32)
	}
	if below, known := dma32.BelowMin(); !below || !known {
		t.Errorf("DMA32 below min: %v %v, want true", below, known)
	}
	if below, _ := mi.Zones[0].BelowMin(); below {
		t.Errorf("DMA below min, want above")
	}
	if fa := dma32.FreeAreas; len(fa) != 11 || fa[0] != (FreeArea{SizeKB: 4, Count: 74, Types: "UEM"}) || fa[10] != (FreeArea{SizeKB: 4096, Count: 3, Types: "UR"}) {
		t.Errorf("DMA32 free areas %+v", fa)
	}
	if mi.FreeSwapKB != opt(uint64(0)) || mi.TotalSwapKB != opt(uint64(0)) || mi.RAMPages != opt(uint64(445340)) ||
		mi.ReservedPages != opt(uint64(10614)) || mi.PagecachePages != opt(uint64(204)) {
		t.Errorf("swap and pages: %+v", mi)
	}
	if r.Tasks.Count != 28 || len(r.Tasks.Rows) != maxKeptTasks || r.Tasks.Rows[0].PID != 1532 || r.Tasks.Rows[0].RSS != 398810 {
		t.Errorf("tasks: %d rows, kept %+v", r.Tasks.Count, r.Tasks.Rows)
	}
	if r.Selected == nil || r.Selected.Reason != ReasonGlobal || r.Selected.Score != 919 || r.Victims[0].PID != 1532 || r.Victims[0].AnonRSSKB != 1595164 {
		t.Errorf("selected %+v victims %+v", r.Selected, r.Victims)
	}
}

// Kernel 4.8 (Gentoo), Docker on cgroup v1: two kills among the Docker
// bridge's messages, each followed by the oom_reaper's line.
func TestCadvisor48Docker(t *testing.T) {
	items, warns := decodeFile(t, "4.8-docker-v1.txt")
	rs := reports(items)
	if len(warns) > 0 || len(rs) != 2 || len(items) != 2 {
		t.Fatalf("%d items, warnings %v", len(items), warns)
	}
	for i, w := range []struct {
		pid       int
		container string
		anon      uint64
		swapLimit uint64
	}{
		{1381, "2e088fe462e25e60be1dafafe2c05c47bda1a97978648d10ad2b7484fc0b8f50", 18624, 40960},
		{1667, "6c6fcab8562fd3150854986b78552c732f234fd405b624207b8843528a145e70", 248180, 614400},
	} {
		r := rs[i]
		cg := "/docker/" + w.container
		if r.Header.GFPMask != 0x24000c0 || r.Header.GFPFlags != "GFP_KERNEL" || r.Header.Nodemask.OK {
			t.Errorf("%d: header %+v", w.pid, r.Header)
		}
		if r.Cpuset == nil || r.Cpuset.Cpuset != w.container || r.LimitOf == nil || r.LimitOf.Task != cg || r.LimitOf.Limit != cg {
			t.Errorf("%d: cpuset %+v limit of %+v", w.pid, r.Cpuset, r.LimitOf)
		}
		if r.Counters[1].Name != "memory+swap" || r.Counters[1].LimitKB != w.swapLimit {
			t.Errorf("%d: counters %+v", w.pid, r.Counters)
		}
		if got := r.Tasks.Columns; !reflect.DeepEqual(got, []string{"pid", "uid", "tgid", "total_vm", "rss", "nr_ptes", "nr_pmds", "swapents", "oom_score_adj", "name"}) {
			t.Errorf("%d: columns %q", w.pid, got)
		}
		v := r.Victims[0]
		if v.PID != w.pid || v.Comm != "gunpowder-memho" || v.AnonRSSKB != w.anon || !v.HasShmemRSS || v.HasUID {
			t.Errorf("victim %+v", v)
		}
		if len(r.Reaped) != 1 || r.Reaped[0].PID != w.pid || r.Reaped[0].AnonRSSKB != 0 || r.Reaped[0].Failed {
			t.Errorf("%d: reaped %+v", w.pid, r.Reaped)
		}
	}
}

// Kernel 5.14 (RHEL 9), a global OOM read from dmesg -T in a French
// locale: the clock is kept as printed.
func TestEL9Global(t *testing.T) {
	items, warns := decodeFile(t, "5.14-el9-global.dmesg-T")
	rs := reports(items)
	if len(warns) > 0 || len(rs) != 1 {
		t.Fatalf("%d reports, warnings %v", len(rs), warns)
	}
	r := rs[0]
	if r.Start.TimeText != "ven. nov. 28 07:26:44 2025" || r.Start.Wall.OK {
		t.Errorf("start %+v", r.Start)
	}
	if r.Trigger == nil || *r.Trigger != (TriggerLine{CPU: 7, PID: 3240780, Comm: "postmaster"}) {
		t.Errorf("trigger %+v (the line has Kdump: loaded after the name)", r.Trigger)
	}
	if s := r.Summary; s == nil || !s.GlobalOOM || s.TaskMemcg != "/system.slice/postgresql-15.service" || s.UID != 26 || s.PID != 3499662 {
		t.Errorf("summary %+v", s)
	}
	mi := r.MemInfo
	if mi.Pages["shmem"] != 1127599 || mi.Pages["slab_unreclaimable"] != 36644 || mi.Pages["free"] != 33077 ||
		mi.Pages["kernel_misc_reclaimable"] != 0 || mi.FreeSwapKB != opt(uint64(1694460)) || mi.TotalSwapKB != opt(uint64(2097148)) {
		t.Errorf("Mem-Info %+v", mi)
	}
	if len(mi.Zones) != 3 || mi.Zones[2].Name != "Normal" || mi.Zones[2].FreeKB.V != 55812 || mi.Zones[2].MinKB.V != 55852 || mi.Zones[2].FreeTotalKB.V != 57620 {
		t.Errorf("zones %+v", mi.Zones)
	}
	row, ok := r.VictimRow(0)
	if !ok || row.UID != 26 || row.Name != "postmaster" {
		t.Errorf("victim row %+v %v", row, ok)
	}
	v := r.Victims[0]
	if v.Reason != ReasonGlobal || v.ShmemRSSKB != 3445804 || v.UID != 26 || v.PgtablesKB != 9004 {
		t.Errorf("victim %+v", v)
	}
}

// Red Hat's 3.10 prints the uid after the name; a syslog file with other
// programs' lines around the kill; the header was not in the excerpt.
func TestEL7UID(t *testing.T) {
	items, warns := decodeFile(t, "3.10-el7-uid.messages")
	rs := reports(items)
	if len(warns) > 0 || len(rs) != 1 {
		t.Fatalf("%d reports, warnings %v", len(rs), warns)
	}
	r := rs[0]
	if r.Header != nil || r.Selected == nil || r.Selected.PID != 24984 || r.Selected.Score != 968 {
		t.Errorf("header %+v selected %+v", r.Header, r.Selected)
	}
	v := r.Victims[0]
	v.At = Stamp{}
	if want := (Killed{PID: 18177, Comm: "palo_be", TotalVMKB: 70347780, AnonRSSKB: 45563572, HasShmemRSS: true, HasUID: true}); v != want {
		t.Errorf("victim %+v, want %+v", v, want)
	}
	if at := r.Victims[0].At; at.Host != "doris-03" || at.TimeText != "May  8 14:05:27" || at.Wall.OK || at.Line != 2 {
		t.Errorf("at %+v", at)
	}
}

func TestHeaderless4x(t *testing.T) {
	items, _ := decodeFile(t, "4.x-headerless.txt")
	rs := reports(items)
	if len(rs) != 1 || rs[0].Selected == nil || rs[0].Victims[0].ShmemRSSKB != 12345 || rs[0].Victims[0].PID != 1012 {
		t.Fatalf("reports %+v", rs)
	}
}

// A report the log ends before its "Killed process" line is a warning at
// its first line, since a kill may be missing; one that says the OOM found
// no task to kill is not, and neither is a whole report.
func TestReportWithoutKill(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "kernlog", "6.18-v1-memcg.dmesg"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	killed := -1
	for i, l := range lines {
		if strings.Contains(l, "Killed process 14533") {
			killed = i
		}
	}
	if killed < 0 {
		t.Fatal("the fixture has no Killed process line")
	}
	count := func(ws []Warning, err error) (n, line int) {
		for _, w := range ws {
			if strings.Contains(w.Msg, err.Error()) {
				n, line = n+1, w.Line
			}
		}
		return n, line
	}
	cut := strings.Join(lines[:killed], "")
	const (
		noKillable = "[  968.942374] Out of memory and no killable processes...\n"
		panicOOM   = "[  968.942374] Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled\n"
		deadlocked = "[  968.942380] Kernel panic - not syncing: System is deadlocked on memory\n"
	)
	for _, tc := range []struct {
		name                      string
		log                       string
		noKill, nothing, panicked int
	}{
		{"whole", string(b), 0, 0, 0},
		{"cut before the kill", cut, 1, 0, 0},
		// A memory cgroup's OOM with nothing to kill: no panic, the
		// allocation fails.
		{"no killable task", cut + noKillable, 0, 1, 0},
		{"panic_on_oom", cut + panicOOM, 0, 0, 1},
		{"no killable task, and a panic", cut + noKillable + deadlocked, 0, 0, 1},
		// A panic of another cause is not the OOM's.
		{"another panic", cut + "[  968.942374] Kernel panic - not syncing: Attempted to kill init!\n", 1, 0, 0},
	} {
		items, ws := decodeBytes(t, []byte(tc.log), tc.name)
		n, line := count(ws, ErrNoKill)
		if n != tc.noKill || n > 0 && line != 1 {
			t.Errorf("%s: %d warnings of a report without a kill (at line %d), want %d at line 1: %v", tc.name, n, line, tc.noKill, ws)
		}
		if n, _ := count(ws, ErrNothingKillable); n != tc.nothing {
			t.Errorf("%s: %d warnings of nothing killable, want %d: %v", tc.name, n, tc.nothing, ws)
		}
		// The panic is the log's last line.
		if n, line := count(ws, ErrOOMPanic); n != tc.panicked || n > 0 && line != strings.Count(tc.log, "\n") {
			t.Errorf("%s: %d warnings of a panic (at line %d), want %d at the panic's line %d: %v", tc.name, n, line, tc.panicked, strings.Count(tc.log, "\n"), ws)
		}
		if kills := len(reports(items)); kills != 1 {
			t.Errorf("%s: %d reports", tc.name, kills)
		}
	}
}
