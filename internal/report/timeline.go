package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
)

// Bounds of a timeline, so that it takes fixed memory however long the
// capture: at most timelineBuckets buckets per lane (past that, buckets
// double in width and pairs are merged), maxLanes lanes.
const (
	timelineBuckets  = 512
	firstBucketWidth = time.Millisecond
	maxLanes         = 200
	maxKillMarks     = 100 // kills marked one by one per lane; the rest are counted in their bucket
	maxLeftOut       = 100_000
)

// Timeline is one capture's memory and reclaim over time, per cgroup and
// for the node, in buckets of equal width: what `report --html` draws and
// the text report's sparklines sum up.
type Timeline struct {
	Capture int `json:"capture"` // index into Captures
	// StartKtimeNS is the boot time at which bucket 0 starts (the first
	// event's); Start is its wall-clock time, when the log gives one.
	StartKtimeNS uint64     `json:"start_ktime_ns"`
	Start        *time.Time `json:"start,omitempty"`
	// BucketWidth is the time each bucket covers; Buckets how many the
	// capture spans.
	BucketWidth time.Duration `json:"bucket_width_ns"`
	Buckets     int           `json:"buckets"`
	// Node is the whole node: memory in use (MemTotal - MemAvailable)
	// against MemTotal, PSI, kswapd wakes, direct reclaim (and reclaim of
	// no known cgroup), and OOM kills other than memcg ones.
	Node Lane `json:"node"`
	// Lanes are the cgroups that were sampled, reclaimed or OOMed, busiest
	// first: most kills, then most reclaim stall, then closest to their
	// limit.
	Lanes []Lane `json:"lanes"`
	// LanesLeftOut counts the cgroups past maxLanes, which have no lane.
	LanesLeftOut int `json:"lanes_left_out,omitempty"`
	// Samples and Reclaims count the sample events and the reclaim and
	// reclaim_stats events drawn: without either, a timeline has little
	// more than the kills.
	Samples  uint64 `json:"samples"`
	Reclaims uint64 `json:"reclaims"`
}

// Lane is one cgroup, or the node, over time.
type Lane struct {
	Cgroup   string `json:"cgroup,omitempty"` // escaped; "" for the node
	CgroupID uint64 `json:"cgroup_id,omitempty"`
	Owner    Owner  `json:"owner"`
	Level    string `json:"level,omitempty"` // pod, container, … where attributed
	// Kills counts the OOM kills whose victim is in the cgroup or whose
	// limit was the cgroup's (for the node: kills that were not memcg
	// OOMs).
	Kills uint64 `json:"kills"`
	// Stall is the reclaim stall summed over the buckets (see Point).
	Stall time.Duration `json:"reclaim_stall_ns"`
	// PeakUsageBytes is the highest usage read; LimitBytes the last finite
	// limit (nil: none known).
	PeakUsageBytes uint64  `json:"peak_usage_bytes"`
	LimitBytes     *uint64 `json:"limit_bytes,omitempty"`
	// MinAvailableBytes is the node's lowest MemAvailable.
	MinAvailableBytes *uint64 `json:"min_available_bytes,omitempty"`
	KswapdWakes       uint64  `json:"kswapd_wakes,omitempty"`
	// Points are the buckets that hold anything, in time order.
	Points []Point `json:"points"`
	// Marks are the kills one by one, up to a bound.
	Marks []KillMark `json:"kill_marks"`
}

// Point is one bucket of a lane.
type Point struct {
	Bucket int `json:"bucket"`
	// UsageBytes is the highest usage read in the bucket, from samples and
	// from the readings reclaim and kill events carry; LimitBytes the last
	// finite limit read (nil: none, or unlimited); HighBytes memory.high.
	UsageBytes *uint64 `json:"usage_bytes,omitempty"`
	LimitBytes *uint64 `json:"limit_bytes,omitempty"`
	HighBytes  *uint64 `json:"high_bytes,omitempty"`
	// PSISome and PSIFull are the highest PSI avg10 sampled, in percent.
	PSISome *float64 `json:"psi_some_avg10,omitempty"`
	PSIFull *float64 `json:"psi_full_avg10,omitempty"`
	// Stall is the reclaim stall of the bucket: the reclaim events that
	// ended in it, plus the episodes only the kernel's reclaim_stats know
	// of (those shorter than --reclaim-min): what a reclaim_stats total
	// has beyond the events of its interval, shared among the interval's
	// buckets as its events are (short and long episodes come with the
	// same memory pressure), or evenly when it had none.
	Stall       time.Duration `json:"reclaim_stall_ns,omitempty"`
	Kills       uint64        `json:"kills,omitempty"`
	KswapdWakes uint64        `json:"kswapd_wakes,omitempty"`
}

// KillMark is one kill on a lane. Kernel strings are escaped.
type KillMark struct {
	KtimeNS uint64     `json:"ktime_ns"`
	Time    *time.Time `json:"time,omitempty"`
	Bucket  int        `json:"bucket"`
	Class   string     `json:"class"`
	Victim  Task       `json:"victim"`
	Why     string     `json:"why,omitempty"`
}

// BucketStart is the time from the timeline's start to bucket i's.
func (t *Timeline) BucketStart(i int) time.Duration { return time.Duration(i) * t.BucketWidth }

// Duration is the time the buckets span.
func (t *Timeline) Duration() time.Duration { return t.BucketStart(t.Buckets) }

// bucket is what a lane holds for one stretch of time while a capture is
// read.
type bucket struct {
	usage, limit, high uint64
	psiSome, psiFull   float64
	eventStall         time.Duration
	extraStall         time.Duration // known from reclaim_stats only
	kills, kswapd      uint64
	has                bucketHas
}

type bucketHas uint8

const (
	hasUsage bucketHas = 1 << iota
	hasLimit
	hasHigh
	hasPSI
)

// merge folds the bucket after b into b: peaks stay peaks, sums are
// summed, and the later of two readings of a limit wins.
func (b *bucket) merge(later *bucket) {
	if later.has&hasUsage != 0 {
		b.usage = max(b.usage, later.usage)
		if b.has&hasUsage == 0 {
			b.usage = later.usage
		}
	}
	if later.has&hasLimit != 0 {
		b.limit = later.limit
	}
	if later.has&hasHigh != 0 {
		b.high = later.high
	}
	b.psiSome, b.psiFull = max(b.psiSome, later.psiSome), max(b.psiFull, later.psiFull)
	b.eventStall += later.eventStall
	b.extraStall += later.extraStall
	b.kills += later.kills
	b.kswapd += later.kswapd
	b.has |= later.has
}

func (b *bucket) stall() time.Duration { return b.eventStall + b.extraStall }

// laneBuilder gathers one lane.
type laneBuilder struct {
	cgroup  string
	id      uint64
	owner   Owner
	level   string
	buckets []bucket
	kills   uint64
	marks   []KillMark
	minAvl  uint64
	hasMin  bool
}

func (l *laneBuilder) at(i int) *bucket {
	if i >= len(l.buckets) {
		l.buckets = append(l.buckets, make([]bucket, i+1-len(l.buckets))...)
	}
	return &l.buckets[i]
}

// read records a reading of usage and limit; limit may be event.NoLimit.
func (l *laneBuilder) read(i int, usage, limit uint64) {
	b := l.at(i)
	if b.has&hasUsage == 0 || usage > b.usage {
		b.usage = usage
	}
	b.limit = limit
	b.has |= hasUsage | hasLimit
}

func (l *laneBuilder) halve() {
	n := (len(l.buckets) + 1) / 2
	for j := range n {
		b := l.buckets[2*j]
		if 2*j+1 < len(l.buckets) {
			b.merge(&l.buckets[2*j+1])
		}
		l.buckets[j] = b
	}
	clear(l.buckets[n:])
	l.buckets = l.buckets[:n]
}

// timelineBuilder gathers one capture's timeline.
type timelineBuilder struct {
	started bool
	origin  uint64 // ktime of bucket 0
	width   uint64 // ns per bucket
	n       int    // buckets spanned
	// wall is the wall clock minus the boot time, from the first event
	// that has both.
	wall     time.Time
	hasWall  bool
	node     laneBuilder
	lanes    map[string]*laneBuilder
	leftOut  map[string]struct{}
	samples  uint64
	reclaims uint64
}

func newTimelineBuilder() *timelineBuilder {
	return &timelineBuilder{width: uint64(firstBucketWidth), lanes: make(map[string]*laneBuilder), leftOut: make(map[string]struct{})}
}

// index returns the bucket of ktime, widening the buckets as the capture
// grows. Events before the first one (they are written as they end, so
// not quite in order) go to bucket 0.
func (t *timelineBuilder) index(ktime uint64) int {
	if !t.started {
		t.started, t.origin = true, ktime
	}
	if ktime < t.origin {
		ktime = t.origin
	}
	for (ktime-t.origin)/t.width >= timelineBuckets {
		t.width *= 2
		t.n = (t.n + 1) / 2
		t.node.halve()
		for _, l := range t.lanes {
			l.halve()
		}
	}
	i := int((ktime - t.origin) / t.width)
	t.n = max(t.n, i+1)
	return i
}

// lane returns the lane of cgroup c, nil past maxLanes or for no cgroup.
func (t *timelineBuilder) lane(c *event.Cgroup) *laneBuilder {
	if !c.Valid() {
		return nil
	}
	path := output.Escape(c.Path)
	l := t.lanes[path]
	if l == nil {
		if len(t.lanes) >= maxLanes {
			if len(t.leftOut) < maxLeftOut {
				t.leftOut[path] = struct{}{}
			}
			return nil
		}
		l = &laneBuilder{cgroup: path}
		t.lanes[path] = l
	}
	l.id = c.ID
	if owner := ownerOf(c.Owner); owner != (Owner{}) {
		l.owner, l.level = owner, output.Escape(string(c.Owner.Level))
	}
	return l
}

// readCgroup records the usage and limit an event read with c, if it did.
func (t *timelineBuilder) readCgroup(i int, c *event.Cgroup) {
	if l := t.lane(c); l != nil && c.UsageBytes|c.LimitBytes != 0 {
		l.read(i, c.UsageBytes, c.LimitBytes)
	}
}

func (t *timelineBuilder) add(ev *event.Event) {
	i := t.index(ev.KtimeNS)
	if !t.hasWall && !ev.Time.IsZero() {
		t.wall, t.hasWall = ev.Time.Add(-time.Duration(ev.KtimeNS)), true
	}
	switch ev.Kind {
	case event.KindSample:
		t.samples++
		t.addSample(i, &ev.Sample)
	case event.KindReclaim:
		t.reclaims++
		r := &ev.Reclaim
		d := max(r.Duration, 0)
		if l := t.lane(&r.Cgroup); l != nil {
			l.at(i).eventStall += d
		}
		t.readCgroup(i, &r.Cgroup)
		if r.Kind == event.ReclaimDirect || !r.Cgroup.Valid() {
			t.node.at(i).eventStall += d
		}
	case event.KindReclaimStats:
		t.reclaims++
		st := &ev.ReclaimStats
		if l := t.lane(&st.Cgroup); l != nil {
			t.spread(l, ev.KtimeNS, st.Interval, st.Total)
		}
		if st.Kind == event.ReclaimDirect || !st.Cgroup.Valid() {
			t.spread(&t.node, ev.KtimeNS, st.Interval, st.Total)
		}
	case event.KindKswapdWake:
		t.node.at(i).kswapd++
	case event.KindMemcgOOM:
		t.readCgroup(i, &ev.MemcgOOM.Cgroup)
	case event.KindOOMKill:
		t.addKill(i, ev)
	}
}

func (t *timelineBuilder) addSample(i int, s *event.Sample) {
	var l *laneBuilder
	if s.IsNode() {
		l = &t.node
		used := s.MemTotalBytes - min(s.MemAvailableBytes, s.MemTotalBytes)
		l.read(i, used, s.MemTotalBytes)
		if !l.hasMin || s.MemAvailableBytes < l.minAvl {
			l.minAvl, l.hasMin = s.MemAvailableBytes, true
		}
	} else if l = t.lane(&s.Cgroup); l != nil {
		l.read(i, s.Cgroup.UsageBytes, s.Cgroup.LimitBytes)
		if s.HasHigh {
			l.at(i).high = s.HighBytes
			l.at(i).has |= hasHigh
		}
	}
	if l != nil && s.HasPressure {
		b := l.at(i)
		b.psiSome, b.psiFull = max(b.psiSome, s.SomeAvg10), max(b.psiFull, s.FullAvg10)
		b.has |= hasPSI
	}
}

// spread adds what a reclaim_stats total has beyond the reclaim events of
// the interval it covers to the interval's buckets: in proportion to their
// event stall, or to their share of the interval when it had no events.
func (t *timelineBuilder) spread(l *laneBuilder, end uint64, interval, total time.Duration) {
	last := t.index(end)
	start := max(end-min(uint64(max(interval, 0)), end), t.origin)
	if start >= end {
		if extra := total - l.at(last).eventStall; extra > 0 {
			l.at(last).extraStall += extra
		}
		return
	}
	first := int((start - t.origin) / t.width)
	// inside is the share of bucket i that lies in the interval: the share
	// of its events counted, events being spread evenly over it.
	inside := func(i int) float64 {
		lo := max(t.origin+uint64(i)*t.width, start)
		hi := min(t.origin+uint64(i+1)*t.width, end)
		if hi <= lo {
			return 0
		}
		return float64(hi-lo) / float64(t.width)
	}
	var events float64
	for i := first; i <= last; i++ {
		events += float64(l.at(i).eventStall) * inside(i)
	}
	extra := float64(total) - events
	if extra <= 0 {
		return
	}
	for i := first; i <= last; i++ {
		share := inside(i) * float64(t.width) / float64(end-start)
		if events > 0 {
			share = float64(l.at(i).eventStall) * inside(i) / events
		}
		l.at(i).extraStall += time.Duration(extra * share)
	}
}

func (t *timelineBuilder) addKill(i int, ev *event.Event) {
	k := &ev.OOMKill
	t.readCgroup(i, &k.Victim.Cgroup)
	t.readCgroup(i, &k.OOMCgroup)
	mark := KillMark{
		KtimeNS: ev.KtimeNS, Time: timeOf(ev), Class: k.Class.String(),
		Victim: Task{PID: k.Victim.PID, TGID: k.Victim.TGID, Comm: output.Escape(k.Victim.Comm), Cgroup: output.Escape(k.Victim.Cgroup.Path)},
		Why:    output.Escape(k.Why),
	}
	lanes := []*laneBuilder{t.lane(&k.OOMCgroup), t.lane(&k.Victim.Cgroup)}
	if k.Class != event.ClassMemcg || !k.OOMCgroup.Valid() {
		lanes = append(lanes, &t.node)
	}
	for j, l := range lanes {
		if l == nil || j == 1 && l == lanes[0] {
			continue
		}
		l.kills++
		l.at(i).kills++
		if len(l.marks) < maxKillMarks {
			l.marks = append(l.marks, mark)
		}
	}
}

// timeline returns what was gathered, nil when nothing was.
func (t *timelineBuilder) timeline(capture int, info *captureStart) *Timeline {
	if !t.started {
		return nil
	}
	tl := &Timeline{Capture: capture, StartKtimeNS: t.origin, BucketWidth: time.Duration(t.width), Buckets: t.n,
		LanesLeftOut: len(t.leftOut), Samples: t.samples, Reclaims: t.reclaims}
	switch {
	case info != nil:
		start := info.wall.Add(time.Duration(int64(t.origin) - int64(info.ktime))).UTC()
		tl.Start = &start
	case t.hasWall:
		start := t.wall.Add(time.Duration(t.origin)).UTC()
		tl.Start = &start
	}
	tl.Node = t.result(&t.node)
	if t.node.hasMin {
		avl := t.node.minAvl
		tl.Node.MinAvailableBytes = &avl
	}
	tl.Lanes = make([]Lane, 0, len(t.lanes))
	for _, l := range t.lanes {
		tl.Lanes = append(tl.Lanes, t.result(l))
	}
	slices.SortFunc(tl.Lanes, func(x, y Lane) int {
		return cmp.Or(cmp.Compare(y.Kills, x.Kills), cmp.Compare(y.Stall, x.Stall),
			cmp.Compare(fullness(y), fullness(x)), cmp.Compare(x.Cgroup, y.Cgroup))
	})
	return tl
}

// fullness is how close a lane came to its limit, 0 without one.
func fullness(l Lane) float64 {
	if l.LimitBytes == nil || *l.LimitBytes == 0 {
		return 0
	}
	return float64(l.PeakUsageBytes) / float64(*l.LimitBytes)
}

// captureStart is what a log's start line says of its clocks.
type captureStart struct {
	wall  time.Time
	ktime uint64
}

func (t *timelineBuilder) result(l *laneBuilder) Lane {
	out := Lane{Cgroup: l.cgroup, CgroupID: l.id, Owner: l.owner, Level: l.level, Kills: l.kills, Points: []Point{}, Marks: []KillMark{}}
	for i := range l.buckets {
		b := &l.buckets[i]
		p := Point{Bucket: i, Stall: b.stall(), Kills: b.kills, KswapdWakes: b.kswapd}
		if b.has&hasUsage != 0 {
			usage := b.usage
			p.UsageBytes = &usage
			out.PeakUsageBytes = max(out.PeakUsageBytes, usage)
		}
		if b.has&hasLimit != 0 && b.limit != event.NoLimit {
			limit := b.limit
			p.LimitBytes, out.LimitBytes = &limit, &limit
		}
		if b.has&hasHigh != 0 {
			high := b.high
			p.HighBytes = &high
		}
		if b.has&hasPSI != 0 {
			some, full := b.psiSome, b.psiFull
			p.PSISome, p.PSIFull = &some, &full
		}
		out.Stall += p.Stall
		out.KswapdWakes += b.kswapd
		if p != (Point{Bucket: i}) {
			out.Points = append(out.Points, p)
		}
	}
	for _, m := range l.marks {
		m.Bucket = int((max(m.KtimeNS, t.origin) - t.origin) / t.width)
		out.Marks = append(out.Marks, m)
	}
	return out
}
