// Package report sums up captured events: the kills, the reclaim stall per
// kind and cgroup with its percentiles, and what was lost. It reads a log
// as a stream, in memory that does not grow with the number of events.
//
// Reclaim percentiles cover every episode where the log allows: oomtrace's
// reclaim events are the episodes at least --reclaim-min long, timed to the
// nanosecond; its reclaim_stats count all episodes in the kernel's log2
// histogram. The episodes known one by one are counted exactly (to within
// QuantileError); the others, all shorter than the threshold, stand at the
// middle of their log2 bucket. So a p99 above the threshold is as exact as
// the events, and one below it is within a factor of √2. perf script logs
// have every episode one by one.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/oomtrace/oomtrace/internal/capture"
	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/filter"
	"github.com/oomtrace/oomtrace/internal/output"
)

// Defaults of Options.
const (
	DefaultWindow     = 10 * time.Second
	DefaultKillsShown = 1000
)

// Bounds that keep memory fixed whatever a log holds.
const (
	maxRows     = 1024 // kind and cgroup pairs; the rest are summed in one row per kind
	maxSlowest  = 5    // slowest reclaim events kept per row
	maxLostList = 20   // lost events kept one by one
	windowSlots = 4096 // time slots of the stall window
)

// OtherCgroups names the row that sums the cgroups past the row limit.
const OtherCgroups = "(other cgroups)"

// Options configures an Aggregator.
type Options struct {
	// Window is how far before each kill reclaim stall is summed.
	Window time.Duration
	// KillsShown bounds the kills listed one by one; the rest are counted.
	KillsShown int
	// Timeline, when set, also follows each capture over time
	// (Report.Timelines): memory usage against limits, reclaim stall and
	// kills, per cgroup and for the node.
	Timeline bool
}

// Report is what a set of captures says. Kernel strings (comms, cgroup
// paths) in it are escaped with output.Escape. Durations are in
// nanoseconds in JSON.
type Report struct {
	Captures []Capture         `json:"captures"`
	Events   map[string]uint64 `json:"events"` // by kind
	Kills    Kills             `json:"kills"`
	Deaths   Deaths            `json:"deaths"`
	Reclaim  Reclaim           `json:"reclaim"`
	Lost     Lost              `json:"lost"`
	Window   time.Duration     `json:"window_ns"`
	// Timelines has one timeline per capture that had events, with
	// Options.Timeline.
	Timelines []Timeline `json:"timelines,omitempty"`
}

// Capture is one log.
type Capture struct {
	File   string `json:"file"`
	Format string `json:"format"`
	Host   string `json:"host,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// Mode is the attach mode (from the start line, or the kills), "perf"
	// for perf script logs, "" when the log does not say.
	Mode     string        `json:"mode,omitempty"`
	Start    *time.Time    `json:"start,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Events   uint64        `json:"events"`
	Lost     uint64        `json:"lost"`
	// SkippedRuns are the runs of oomtrace's programs the kernel skipped
	// while the log was written: kills, exits or reclaim episodes may be
	// missing from it. SkippedByProgram names their programs.
	SkippedRuns      uint64 `json:"skipped_runs"`
	SkippedByProgram string `json:"skipped_by_program,omitempty"`
	// ReclaimMin is the reclaim event threshold, when known.
	ReclaimMin *time.Duration `json:"reclaim_min_ns,omitempty"`
	// StoppedCleanly is set for logs of oomtrace record: whether the log
	// has its end line.
	StoppedCleanly *bool    `json:"stopped_cleanly,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// MoreWarnings counts the warnings past the first ones, which are not
	// kept.
	MoreWarnings int `json:"more_warnings,omitempty"`
}

// SkippedMayMiss is what the runs the kernel skipped, in every capture,
// may have left out: kills, exits, reclaim episodes, by the programs
// that missed them.
func (r *Report) SkippedMayMiss() event.Records {
	var records event.Records
	for _, c := range r.Captures {
		if c.SkippedRuns > 0 {
			records |= event.MayMiss(c.SkippedByProgram, c.SkippedRuns)
		}
	}
	return records
}

// Kills are the OOM kills.
type Kills struct {
	Total   uint64            `json:"total"`
	ByClass map[string]uint64 `json:"by_class"`
	// ByOwner counts the kills by the victim's pod and container (or
	// systemd unit), most first; kills of cgroups that belong to nothing
	// recognised are not in it.
	ByOwner  []OwnerKills `json:"by_owner"`
	List     []Kill       `json:"list"`
	Unlisted uint64       `json:"unlisted"` // past Options.KillsShown
}

// OwnerKills is the kills of one pod and container, or one unit.
type OwnerKills struct {
	Owner
	Count uint64 `json:"count"`
}

// Owner is who a cgroup belongs to, as a report groups by it: kernel
// strings escaped with output.Escape.
type Owner struct {
	Pod       string `json:"pod,omitempty"`       // namespace/name, or the UID without names
	Container string `json:"container,omitempty"` // name, or the ID's first 12 digits
	Unit      string `json:"unit,omitempty"`      // a systemd unit outside containers
}

// ownerOf is who info says a cgroup belongs to.
func ownerOf(info event.Owner) Owner {
	var o Owner
	switch {
	case info.PodName != "":
		o.Pod = info.Namespace + "/" + info.PodName
	case info.PodUID != "":
		o.Pod = info.PodUID
	}
	switch {
	case info.Name != "":
		o.Container = info.Name
	case info.ID != "":
		o.Container = info.ID[:min(len(info.ID), filter.MinIDPrefix)]
	}
	if o.Pod == "" && o.Container == "" {
		o.Unit = info.Unit
	}
	o.Pod, o.Container, o.Unit = output.Escape(o.Pod), output.Escape(o.Container), output.Escape(o.Unit)
	return o
}

// Kill is one OOM kill.
type Kill struct {
	Capture       int          `json:"capture"` // index into Captures
	Time          *time.Time   `json:"time,omitempty"`
	KtimeNS       uint64       `json:"ktime_ns,omitempty"` // 0: the log did not say
	LogTime       string       `json:"log_time,omitempty"` // a kernel log's time without a year, where it gave no other
	Class         string       `json:"class"`
	Mode          string       `json:"mode"`
	Victim        Task         `json:"victim"`
	Trigger       *Task        `json:"trigger,omitempty"` // nil: the log did not name it
	OOMCgroup     string       `json:"oom_cgroup,omitempty"`
	OOMLimitBytes *uint64      `json:"oom_cgroup_limit_bytes,omitempty"`
	RSSKB         *RSS         `json:"rss_kb,omitempty"` // nil: the victim had dropped its memory
	OOMScoreAdj   int16        `json:"oom_score_adj"`
	UID           *uint32      `json:"uid,omitempty"`
	VictimExiting bool         `json:"victim_exiting,omitempty"`
	StallBefore   StallSummary `json:"reclaim_before"`
	// Owner is the victim's pod and container; OOMLevel the level of the
	// OOM cgroup ("pod", "container", …) where known.
	Owner    Owner  `json:"owner"`
	OOMLevel string `json:"oom_level,omitempty"`
	Why      string `json:"why,omitempty"`
}

// Task is a process as a kill names it.
type Task struct {
	PID    uint32 `json:"pid"`
	TGID   uint32 `json:"tgid,omitempty"` // 0: the log did not say
	Comm   string `json:"comm"`
	Cgroup string `json:"cgroup,omitempty"`
}

// Process is the task's process id, or its own id where the log did not
// say its process: a kernel log names a victim by the thread the kernel
// chose, mostly its process's first.
func (t Task) Process() uint32 {
	if t.TGID != 0 {
		return t.TGID
	}
	return t.PID
}

// RSS is a victim's resident memory, in kB.
type RSS struct {
	Anon  uint64 `json:"anon"`
	File  uint64 `json:"file"`
	Shmem uint64 `json:"shmem"`
}

// Sum is the whole resident set.
func (r RSS) Sum() uint64 { return r.Anon + r.File + r.Shmem }

// StallSummary is the reclaim that ended in the window before a kill:
// reclaim events only, so episodes at least --reclaim-min long.
type StallSummary struct {
	Count uint64        `json:"count"`
	Total time.Duration `json:"total_ns"`
}

// Reclaim is the reclaim stall.
type Reclaim struct {
	All      Row   `json:"all"`       // every kind and cgroup
	ByKind   []Row `json:"by_kind"`   // in the order direct, memcg, softlimit
	ByCgroup []Row `json:"by_cgroup"` // by kind and cgroup, most total stall first
	// ByOwner sums the rows of cgroups that belong to a pod, container or
	// unit, by kind and owner, most total stall first.
	ByOwner []Row `json:"by_owner"`
}

// Row is the reclaim of one kind in one cgroup, or a sum of rows.
type Row struct {
	Kind     string `json:"kind"`             // "all" for the sum of kinds
	Cgroup   string `json:"cgroup,omitempty"` // "" when the log has no cgroups, or for sums
	CgroupID uint64 `json:"cgroup_id,omitempty"`
	Owner    Owner  `json:"owner"` // the cgroup's pod and container, or unit
	// AllEpisodes is false when some capture had only reclaim events and
	// no reclaim_stats for the row: its numbers then cover the episodes at
	// least --reclaim-min long only.
	AllEpisodes bool          `json:"all_episodes"`
	Count       uint64        `json:"count"`
	Total       time.Duration `json:"total_ns"`
	P50         time.Duration `json:"p50_ns"`
	P90         time.Duration `json:"p90_ns"`
	P99         time.Duration `json:"p99_ns"`
	Max         time.Duration `json:"max_ns"`
	// HistUS is the kernel's own log2 histogram from reclaim_stats, summed;
	// nil without reclaim_stats.
	HistUS  *KernelHistogram `json:"hist_us,omitempty"`
	Slowest []ReclaimEvent   `json:"slowest,omitempty"`
}

// KernelHistogram is the kernel's log2 histogram of reclaim episodes:
// bucket i counts those of [2^i, 2^(i+1)) µs, bucket 0 also the shorter.
type KernelHistogram [event.ReclaimBuckets]uint64

// MarshalJSON writes the histogram as oomtrace's JSON events do: an object
// from bucket index to count, non-zero buckets only, in index order.
func (h *KernelHistogram) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, n := range h {
		if n == 0 {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q:%d", strconv.Itoa(i), n)
	}
	return append(b, '}'), nil
}

// ReclaimEvent is one reclaim episode, for lists of the slowest.
type ReclaimEvent struct {
	Capture  int           `json:"capture"`
	Time     *time.Time    `json:"time,omitempty"`
	KtimeNS  uint64        `json:"ktime_ns"`
	Kind     string        `json:"kind"`
	Duration time.Duration `json:"duration_ns"`
	PID      uint32        `json:"pid"`
	Comm     string        `json:"comm"`
	Cgroup   string        `json:"cgroup,omitempty"`
}

// Lost is what the kernel could not hand over: records lost, and runs of
// oomtrace's programs skipped (over all captures; each capture says which
// programs).
type Lost struct {
	Total       uint64      `json:"total"`
	List        []LostEvent `json:"list"`
	Unlisted    uint64      `json:"unlisted"`
	SkippedRuns uint64      `json:"skipped_runs"`
}

// LostEvent is one lost event that lost records: records lost since the
// one before.
type LostEvent struct {
	Capture int        `json:"capture"`
	Time    *time.Time `json:"time,omitempty"`
	KtimeNS uint64     `json:"ktime_ns"`
	Count   uint64     `json:"count"`
}

// Aggregator builds a Report from events, one capture after another: Add
// each event of a capture, then EndCapture.
type Aggregator struct {
	opts    Options
	rep     Report
	rows    map[rowKey]*row
	overrun map[event.ReclaimKind]*row // the rows past maxRows
	owners  map[Owner]uint64           // kills by owner, up to maxRows owners
	cur     captureState
}

type rowKey struct {
	kind event.ReclaimKind
	id   uint64
	path string
}

// row accumulates one Row.
type row struct {
	kind        event.ReclaimKind
	cgroup      string
	id          uint64
	owner       Owner
	hist        histogram
	count       uint64
	total       time.Duration
	max         time.Duration
	allEpisodes bool
	kernel      [event.ReclaimBuckets]uint64
	hasKernel   bool
	slowest     []ReclaimEvent

	cur rowCapture
}

// rowCapture is one capture's reclaim events and reclaim_stats of a row,
// reconciled at the capture's end.
type rowCapture struct {
	touched  bool
	evBucket [event.ReclaimBuckets]uint64
	evCount  uint64
	evTotal  time.Duration
	stBucket [event.ReclaimBuckets]uint64
	stCount  uint64
	stTotal  time.Duration
	stMax    time.Duration
	hasStats bool
}

// captureState is what is kept while one capture is read.
type captureState struct {
	index   int
	events  uint64
	first   uint64
	last    uint64
	mode    string
	lostMax uint64
	lostSum uint64
	// The same for skipped runs, and the programs of the largest total.
	skippedMax, skippedSum uint64
	skippedBy              string
	stall                  stallRing
	tl                     *timelineBuilder // with Options.Timeline
}

// New returns an empty Aggregator.
func New(opts Options) *Aggregator {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.KillsShown <= 0 {
		opts.KillsShown = DefaultKillsShown
	}
	a := &Aggregator{
		opts:    opts,
		rows:    make(map[rowKey]*row),
		overrun: make(map[event.ReclaimKind]*row),
		owners:  make(map[Owner]uint64),
	}
	a.rep.Events = make(map[string]uint64)
	a.rep.Kills.ByClass = make(map[string]uint64)
	a.rep.Window = opts.Window
	a.rep.Kills.List = []Kill{}
	a.rep.Deaths.ByCause = make(map[string]uint64)
	a.rep.Deaths.List = []Death{}
	a.rep.Lost.List = []LostEvent{}
	a.startCapture()
	return a
}

func (a *Aggregator) startCapture() {
	a.cur = captureState{index: len(a.rep.Captures)}
	a.cur.stall.reset(a.opts.Window)
	if a.opts.Timeline {
		a.cur.tl = newTimelineBuilder()
	}
}

// Write is the aggregator as a sink of the pipeline: Add, which never
// fails.
func (a *Aggregator) Write(ev *event.Event) error {
	a.Add(ev)
	return nil
}

// Add counts one event of the current capture.
func (a *Aggregator) Add(ev *event.Event) {
	c := &a.cur
	if c.events == 0 || ev.KtimeNS < c.first {
		c.first = ev.KtimeNS
	}
	c.last = max(c.last, ev.KtimeNS)
	c.events++
	a.rep.Events[ev.Kind.String()]++
	if c.tl != nil {
		c.tl.add(ev)
	}
	switch ev.Kind {
	case event.KindOOMKill:
		a.addKill(ev)
	case event.KindReclaim:
		a.addReclaim(ev)
	case event.KindReclaimStats:
		a.addStats(ev)
	case event.KindLost:
		a.addLost(ev)
	case event.KindExit:
		a.addDeath(ev)
	}
}

func timeOf(ev *event.Event) *time.Time {
	if ev.Time.IsZero() {
		return nil
	}
	t := ev.Time.UTC()
	return &t
}

func (a *Aggregator) addKill(ev *event.Event) {
	k := &ev.OOMKill
	a.cur.mode = k.Mode.String()
	kills := &a.rep.Kills
	kills.Total++
	kills.ByClass[k.Class.String()]++
	owner := ownerOf(k.Victim.Cgroup.Owner)
	if owner != (Owner{}) {
		if _, ok := a.owners[owner]; ok || len(a.owners) < maxRows {
			a.owners[owner]++
		} else {
			a.owners[Owner{Pod: OtherCgroups}]++
		}
	}
	if len(kills.List) >= a.opts.KillsShown {
		kills.Unlisted++
		return
	}
	count, total := a.cur.stall.sum(ev.KtimeNS)
	ktime := ev.KtimeNS
	if ev.Missing.Lacks(event.MissingKtime) {
		ktime = 0
	}
	kill := Kill{
		Capture: a.cur.index,
		Time:    timeOf(ev),
		KtimeNS: ktime,
		LogTime: output.Escape(k.LogTime),
		Class:   k.Class.String(),
		Mode:    k.Mode.String(),
		Victim: Task{PID: k.Victim.PID, TGID: k.Victim.TGID, Comm: output.Escape(k.Victim.Comm),
			Cgroup: output.Escape(k.Victim.Cgroup.Path)},
		OOMCgroup:     output.Escape(k.OOMCgroup.Path),
		OOMScoreAdj:   k.Victim.OOMScoreAdj,
		VictimExiting: k.VictimExiting,
		StallBefore:   StallSummary{Count: count, Total: total},
		Owner:         owner,
		OOMLevel:      output.Escape(string(k.OOMCgroup.Owner.Level)),
		Why:           output.Escape(k.Why),
	}
	if !ev.Missing.Lacks(event.MissingTrigger) {
		kill.Trigger = &Task{PID: k.Trigger.PID, TGID: k.Trigger.TGID, Comm: output.Escape(k.Trigger.Comm),
			Cgroup: output.Escape(k.TriggerCgroup.Path)}
	}
	if k.OOMCgroup.Valid() && k.OOMCgroup.LimitBytes != event.NoLimit && (k.OOMCgroup.LimitBytes|k.OOMCgroup.UsageBytes) != 0 {
		limit := k.OOMCgroup.LimitBytes
		kill.OOMLimitBytes = &limit
	}
	if k.Victim.HasMM {
		kill.RSSKB = &RSS{Anon: k.Victim.RSSAnonKB, File: k.Victim.RSSFileKB, Shmem: k.Victim.RSSShmemKB}
	}
	if k.Victim.HasUID {
		uid := k.Victim.UID
		kill.UID = &uid
	}
	kills.List = append(kills.List, kill)
}

// rowFor returns the row of kind in cgroup, or the overrun row of the
// kind once maxRows rows exist.
func (a *Aggregator) rowFor(kind event.ReclaimKind, cg *event.Cgroup) *row {
	key := rowKey{kind, cg.ID, cg.Path}
	if r := a.rows[key]; r != nil {
		return r
	}
	if len(a.rows) >= maxRows {
		r := a.overrun[kind]
		if r == nil {
			r = &row{kind: kind, cgroup: OtherCgroups, allEpisodes: true}
			a.overrun[kind] = r
		}
		return r
	}
	r := &row{kind: kind, cgroup: output.Escape(cg.Path), id: cg.ID, owner: ownerOf(cg.Owner), allEpisodes: true}
	a.rows[key] = r
	return r
}

func (a *Aggregator) addReclaim(ev *event.Event) {
	rc := &ev.Reclaim
	r := a.rowFor(rc.Kind, &rc.Cgroup)
	d := max(rc.Duration, 0)
	r.cur.touched = true
	r.hist.add(uint64(d), 1)
	r.cur.evBucket[kernelBucket(d)]++
	r.cur.evCount++
	r.cur.evTotal += d
	r.max = max(r.max, d)
	if r.slowEnough(d) { // most are not: build the event only for those that are
		r.keepSlowest(ReclaimEvent{
			Capture: a.cur.index, Time: timeOf(ev), KtimeNS: ev.KtimeNS, Kind: rc.Kind.String(), Duration: d,
			PID: ev.Task.TGID, Comm: output.Escape(ev.Task.Comm), Cgroup: r.cgroup,
		})
	}
	a.cur.stall.add(ev.KtimeNS, d)
}

// kernelBucket is the log2 bucket the kernel counts an episode of d in.
func kernelBucket(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	b := 0
	for us > 1 && b < event.ReclaimBuckets-1 {
		us >>= 1
		b++
	}
	return b
}

// slowEnough reports whether an episode of d would be one of the slowest
// of r.
func (r *row) slowEnough(d time.Duration) bool {
	return len(r.slowest) < maxSlowest || d > r.slowest[maxSlowest-1].Duration
}

func (r *row) keepSlowest(e ReclaimEvent) {
	if !r.slowEnough(e.Duration) {
		return
	}
	i, _ := slices.BinarySearchFunc(r.slowest, e.Duration, func(x ReclaimEvent, d time.Duration) int {
		return int(d - x.Duration) // descending
	})
	r.slowest = slices.Insert(r.slowest, i, e)
	if len(r.slowest) > maxSlowest {
		r.slowest = r.slowest[:maxSlowest]
	}
}

func (a *Aggregator) addStats(ev *event.Event) {
	st := &ev.ReclaimStats
	r := a.rowFor(st.Kind, &st.Cgroup)
	r.cur.touched, r.cur.hasStats, r.hasKernel = true, true, true
	r.cur.stCount += st.Count
	r.cur.stTotal += st.Total
	r.cur.stMax = max(r.cur.stMax, st.Max)
	for i, n := range st.Buckets {
		r.cur.stBucket[i] += n
		r.kernel[i] += n
	}
}

func (a *Aggregator) addLost(ev *event.Event) {
	c := &a.cur
	c.lostMax = max(c.lostMax, ev.Lost.Total)
	c.lostSum += ev.Lost.Count
	if ev.Lost.SkippedRunsTotal >= c.skippedMax && ev.Lost.SkippedRunsTotal > 0 {
		c.skippedMax, c.skippedBy = ev.Lost.SkippedRunsTotal, ev.Lost.SkippedByProgram
	}
	c.skippedSum += ev.Lost.SkippedRuns
	if ev.Lost.Count == 0 {
		return // runs skipped, nothing lost
	}
	l := &a.rep.Lost
	if len(l.List) >= maxLostList {
		l.Unlisted++
		return
	}
	l.List = append(l.List, LostEvent{Capture: a.cur.index, Time: timeOf(ev), KtimeNS: ev.KtimeNS, Count: ev.Lost.Count})
}

// EndCapture closes the capture whose events were added since the last
// call, with what its reader learned.
func (a *Aggregator) EndCapture(info capture.Info) {
	c := &a.cur
	out := Capture{File: info.Name, Format: info.Format.String(), Events: c.events, Mode: c.mode, Warnings: info.Warnings, MoreWarnings: info.MoreWarnings}
	// Which reclaim events are all the episodes there were: perf's, and
	// oomtrace's with no threshold.
	var threshold time.Duration
	complete := info.Format == capture.FormatPerf
	if info.Format == capture.FormatPerf {
		out.Mode = "perf"
	}
	if h := info.Start; h != nil {
		out.Host, out.Kernel, out.Mode = output.Escape(h.Host), output.Escape(h.Kernel), h.Mode.String()
		start := h.Start.UTC()
		out.Start = &start
		threshold = h.ReclaimMin
		out.ReclaimMin = &threshold
		complete = h.ReclaimMin == 0
		stopped := info.End != nil
		out.StoppedCleanly = &stopped
	}
	switch {
	case info.Start != nil && info.End != nil:
		out.Duration = info.End.End.Sub(info.Start.Start)
	case info.Start != nil && c.events > 0:
		out.Duration = time.Duration(c.last - info.Start.StartKtimeNS)
	case c.events > 0:
		out.Duration = time.Duration(c.last - c.first)
	}
	out.Lost = max(c.lostMax, c.lostSum)
	if info.End != nil {
		out.Lost = max(out.Lost, info.End.Lost)
	}
	a.rep.Lost.Total += out.Lost
	out.SkippedRuns, out.SkippedByProgram = max(c.skippedMax, c.skippedSum), c.skippedBy
	if e := info.End; e != nil && e.SkippedRuns >= out.SkippedRuns && e.SkippedRuns > 0 {
		out.SkippedRuns, out.SkippedByProgram = e.SkippedRuns, e.SkippedByProgram
	}
	// The names come from the log: whoever wrote it chose them.
	out.SkippedByProgram = output.Escape(out.SkippedByProgram)
	a.rep.Lost.SkippedRuns += out.SkippedRuns
	a.rep.Captures = append(a.rep.Captures, out)
	if c.tl != nil {
		var start *captureStart
		if h := info.Start; h != nil {
			start = &captureStart{wall: h.Start, ktime: h.StartKtimeNS}
		}
		if tl := c.tl.timeline(c.index, start); tl != nil {
			a.rep.Timelines = append(a.rep.Timelines, *tl)
		}
	}

	for _, r := range a.rows {
		r.reconcile(threshold, complete)
	}
	for _, r := range a.overrun {
		r.reconcile(threshold, complete)
	}
	a.startCapture()
}

// reconcile folds one capture's reclaim into the row. reclaim_stats count
// every episode, the events only those at least threshold long; the
// episodes the stats count beyond the events go into the histogram at the
// middle of their log2 bucket.
func (r *row) reconcile(threshold time.Duration, eventsAreAll bool) {
	c := &r.cur
	if !c.touched {
		return
	}
	if c.hasStats {
		for b, n := range c.stBucket {
			if n > c.evBucket[b] {
				r.hist.add(kernelBucketValue(b, threshold), n-c.evBucket[b])
			}
		}
		r.count += max(c.stCount, c.evCount)
		r.total += max(c.stTotal, c.evTotal)
		r.max = max(r.max, c.stMax)
	} else {
		r.count += c.evCount
		r.total += c.evTotal
		r.allEpisodes = r.allEpisodes && eventsAreAll
	}
	r.cur = rowCapture{}
}

// Report returns the report of every capture ended so far.
func (a *Aggregator) Report() *Report {
	rep := a.rep
	rep.Captures = slices.Clone(a.rep.Captures)
	rep.Timelines = slices.Clone(a.rep.Timelines)
	rows := make([]*row, 0, len(a.rows)+len(a.overrun))
	for _, r := range a.rows {
		rows = append(rows, r)
	}
	for _, r := range a.overrun {
		rows = append(rows, r)
	}
	// Most stall first; ties in a fixed order, so that reports compare.
	slices.SortFunc(rows, func(x, y *row) int {
		switch {
		case x.total != y.total:
			return cmp.Compare(y.total, x.total)
		case x.kind != y.kind:
			return int(x.kind) - int(y.kind)
		case x.id != y.id:
			return cmp.Compare(x.id, y.id)
		}
		return cmp.Compare(x.cgroup, y.cgroup)
	})
	var all row
	all.allEpisodes = true
	byKind := map[event.ReclaimKind]*row{}
	type ownerKey struct {
		kind  event.ReclaimKind
		owner Owner
	}
	byOwner := map[ownerKey]*row{}
	var owners []*row
	rep.Reclaim.ByCgroup = make([]Row, 0, len(rows))
	for _, r := range rows {
		rep.Reclaim.ByCgroup = append(rep.Reclaim.ByCgroup, r.result(r.kind.String()))
		k := byKind[r.kind]
		if k == nil {
			k = &row{kind: r.kind, allEpisodes: true}
			byKind[r.kind] = k
		}
		k.absorb(r)
		all.absorb(r)
		if r.owner != (Owner{}) {
			o := byOwner[ownerKey{r.kind, r.owner}]
			if o == nil {
				o = &row{kind: r.kind, owner: r.owner, allEpisodes: true}
				byOwner[ownerKey{r.kind, r.owner}] = o
				owners = append(owners, o)
			}
			o.absorb(r)
		}
	}
	// Rows came most stall first, but sums can change the order.
	slices.SortStableFunc(owners, func(x, y *row) int { return cmp.Compare(y.total, x.total) })
	rep.Reclaim.ByOwner = make([]Row, 0, len(owners))
	for _, o := range owners {
		rep.Reclaim.ByOwner = append(rep.Reclaim.ByOwner, o.result(o.kind.String()))
	}
	rep.Kills.ByOwner = make([]OwnerKills, 0, len(a.owners))
	for o, n := range a.owners {
		rep.Kills.ByOwner = append(rep.Kills.ByOwner, OwnerKills{Owner: o, Count: n})
	}
	slices.SortFunc(rep.Kills.ByOwner, func(x, y OwnerKills) int {
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return cmp.Or(cmp.Compare(x.Pod, y.Pod), cmp.Compare(x.Container, y.Container), cmp.Compare(x.Unit, y.Unit))
	})
	for _, kind := range []event.ReclaimKind{event.ReclaimDirect, event.ReclaimMemcg, event.ReclaimSoftlimit} {
		if k := byKind[kind]; k != nil {
			rep.Reclaim.ByKind = append(rep.Reclaim.ByKind, k.result(kind.String()))
		}
	}
	rep.Reclaim.All = all.result("all")
	if rep.Reclaim.ByKind == nil {
		rep.Reclaim.ByKind = []Row{}
	}
	return &rep
}

// absorb adds o to the sum r.
func (r *row) absorb(o *row) {
	r.hist.merge(&o.hist)
	r.count += o.count
	r.total += o.total
	r.max = max(r.max, o.max)
	r.allEpisodes = r.allEpisodes && o.allEpisodes
	if o.hasKernel {
		r.hasKernel = true
		for i, n := range o.kernel {
			r.kernel[i] += n
		}
	}
	for _, e := range o.slowest {
		r.keepSlowest(e)
	}
}

func (r *row) result(kind string) Row {
	// Episodes known only by their log2 bucket stand at its middle, which
	// can lie past the longest episode there was.
	quantile := func(q float64) time.Duration { return min(r.hist.quantile(q), r.max) }
	out := Row{
		Kind: kind, Cgroup: r.cgroup, CgroupID: r.id, Owner: r.owner, AllEpisodes: r.allEpisodes,
		Count: r.count, Total: r.total, Max: r.max,
		P50: quantile(0.50), P90: quantile(0.90), P99: quantile(0.99),
		Slowest: slices.Clone(r.slowest),
	}
	if r.hasKernel {
		hist := KernelHistogram(r.kernel)
		out.HistUS = &hist
	}
	return out
}

// stallRing sums reclaim over the last window of time in windowSlots
// slots, so a kill's stall window costs fixed memory however much reclaim
// there was; sums are exact to within one slot (window/4096) at either end.
type stallRing struct {
	width uint64 // ns per slot
	head  uint64 // the newest slot seen
	used  bool
	slots [windowSlots]stallSlot
}

type stallSlot struct {
	count uint64
	total time.Duration
}

func (s *stallRing) reset(window time.Duration) {
	*s = stallRing{width: max(uint64(window)/windowSlots, 1)}
}

func (s *stallRing) add(ktime uint64, d time.Duration) {
	slot := ktime / s.width
	switch {
	case !s.used:
		s.head, s.used = slot, true
	case slot > s.head:
		// Clear the slots time has moved past.
		for i := s.head + 1; i <= slot && i <= s.head+windowSlots; i++ {
			s.slots[i%windowSlots] = stallSlot{}
		}
		s.head = slot
	case s.head-slot >= windowSlots:
		return // older than anything the window still holds
	}
	s.slots[slot%windowSlots].count++
	s.slots[slot%windowSlots].total += d
}

// sum returns the reclaim in the window that ends at ktime.
func (s *stallRing) sum(ktime uint64) (uint64, time.Duration) {
	var count uint64
	var total time.Duration
	last := ktime / s.width
	for slot := last - min(last, windowSlots-1); s.used && slot <= last; slot++ {
		if slot > s.head || s.head-slot >= windowSlots {
			continue // not reached yet, or gone
		}
		count += s.slots[slot%windowSlots].count
		total += s.slots[slot%windowSlots].total
	}
	return count, total
}
