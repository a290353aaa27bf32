// Package metrics turns oomtrace's events into Prometheus metrics for the
// node agent (oomtrace serve).
//
// Label cardinality is bounded: at most MaxOwners distinct pods (or
// cgroups) get series of their own, the rest share the overflow label, and
// series not updated for the expiry time are deleted, so a node with pod
// churn cannot grow the agent's memory without bound.
package metrics

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oomtrace/oomtrace/internal/event"
	"github.com/oomtrace/oomtrace/internal/output"
	"github.com/oomtrace/oomtrace/internal/stream"
)

// Overflow is the label value of series past the cardinality cap.
const Overflow = "_overflow"

// Options bounds the metrics.
type Options struct {
	// MaxOwners caps the distinct pods, and separately the distinct cgroups,
	// that get series of their own (default 1000).
	MaxOwners int
	// Expiry is how long a series lives without updates (default 1 hour).
	Expiry time.Duration
	// Version labels oomtrace_build_info.
	Version string
}

// Metrics is a sink of the pipeline that counts events. It is safe for concurrent
// use with scrapes.
type Metrics struct {
	Registry *prometheus.Registry

	opts      Options
	kills     *prometheus.CounterVec
	memcgOOMs *prometheus.CounterVec
	exits     *prometheus.CounterVec
	lost      prometheus.Counter
	skipped   *prometheus.CounterVec
	// skippedBy is the runs skipped by program as the last lost event
	// gave them, since the tracer started: the counters add what each
	// lost event adds to it.
	skippedBy   event.SkippedRuns
	events      *prometheus.CounterVec
	lastEvent   prometheus.Gauge
	reclaim     *reclaimCollector
	killSeries  *labelCap
	memcgSeries *labelCap
	build       *prometheus.GaugeVec
	now         func() time.Time
}

// New registers oomtrace's metrics in a new registry.
func New(opts Options) *Metrics {
	if opts.MaxOwners <= 0 {
		opts.MaxOwners = 1000
	}
	if opts.Expiry <= 0 {
		opts.Expiry = time.Hour
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		opts:     opts,
		kills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomtrace_oom_kills_total",
			Help: "Tasks killed by the kernel's OOM killer, by class and the victim's pod and container (empty where unknown); a victim already exiting is not counted.",
		}, []string{"class", "namespace", "pod", "container", "qos"}),
		memcgOOMs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomtrace_memcg_oom_total",
			Help: "Memory cgroups entering OOM (mem_cgroup_out_of_memory; fentry and kprobe modes only), by cgroup path.",
		}, []string{"cgroup"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomtrace_exits_total",
			Help: "Processes that died from a signal, by cause (oom_kill, signal, fault, unknown) and, for a signal, the sender's class.",
		}, []string{"cause", "sender_class"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oomtrace_events_lost_total",
			Help: "Events the kernel could not put in the ring buffer.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomtrace_program_runs_skipped_total",
			Help: "Runs of oomtrace's programs the kernel skipped, by program: each a kill, exit or reclaim episode that may be missing, as the program records (mark_victim a kill, process_exit an exit, *_reclaim_* a reclaim episode).",
		}, []string{"program"}),
		skippedBy: make(event.SkippedRuns),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomtrace_events_total",
			Help: "Events handed over by the kernel and oomtrace, by kind.",
		}, []string{"kind"}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oomtrace_last_event_timestamp_seconds",
			Help: "Wall-clock time of the last event, reclaim_stats included.",
		}),
		reclaim: newReclaimCollector(opts.MaxOwners, opts.Expiry),
		now:     time.Now,
	}
	// Every program's series is there from the start, at 0: a rate over
	// a series that appears with its first skipped run misses that run.
	for _, name := range append(event.Programs(), unknownProgram) {
		m.skipped.WithLabelValues(name)
	}
	m.killSeries = newLabelCap(opts.MaxOwners, opts.Expiry, func(labels []string) { m.kills.DeleteLabelValues(labels...) })
	m.memcgSeries = newLabelCap(opts.MaxOwners, opts.Expiry, func(labels []string) { m.memcgOOMs.DeleteLabelValues(labels...) })
	m.build = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "oomtrace_build_info",
		Help: "oomtrace's version and the attach mode in use; 1 once attached.",
	}, []string{"version", "mode"})
	m.Registry.MustRegister(m.kills, m.memcgOOMs, m.exits, m.lost, m.skipped, m.events, m.lastEvent, m.reclaim, m.build)
	return m
}

// WatchRingBuffer exports the state of the ring buffer h follows as the
// oomtrace_ringbuf_* metrics, read at each scrape: its size, the bytes
// waiting to be read now and at most so far (a buffer that fills up is
// about to lose events), and the records read.
func (m *Metrics) WatchRingBuffer(h *stream.Health) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "oomtrace_ringbuf_size_bytes",
			Help: "Size of the ring buffer the kernel writes events to; 0 until attached.",
		}, func() float64 { return float64(h.RingBuffer().SizeBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "oomtrace_ringbuf_pending_bytes",
			Help: "Bytes of events in the ring buffer not read yet.",
		}, func() float64 { return float64(h.RingBuffer().PendingBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "oomtrace_ringbuf_max_pending_bytes",
			Help: "The most bytes left waiting in the ring buffer after a read since the start; near the size, events are about to be lost.",
		}, func() float64 { return float64(h.RingBuffer().MaxPendingBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "oomtrace_ringbuf_records_read_total",
			Help: "Records read from the ring buffer, undecodable ones included.",
		}, func() float64 { return float64(h.RingBuffer().Records) }),
	)
}

// Attached records the attach mode in oomtrace_build_info.
func (m *Metrics) Attached(mode event.Mode) {
	m.build.WithLabelValues(m.opts.Version, mode.String()).Set(1)
}

// Write counts one event.
func (m *Metrics) Write(ev *event.Event) error {
	if ev.Kind == event.KindOOMKill && ev.OOMKill.Replayed {
		// A kill from before the agent started (--since-boot): the
		// counters start with the agent, and counting it again after each
		// restart would make every increase() see it anew.
		return nil
	}
	now := m.now()
	// Expire first, so that a new pod can take the place of a gone one.
	m.killSeries.expire(now)
	m.memcgSeries.expire(now)
	m.events.WithLabelValues(ev.Kind.String()).Inc()
	m.lastEvent.Set(float64(now.UnixNano()) / 1e9)
	switch ev.Kind {
	case event.KindOOMKill:
		if ev.OOMKill.VictimExiting {
			break // marked so its memory is reaped, but not killed: as the kernel's oom_kill counters
		}
		c := ev.OOMKill.Victim.Cgroup.Owner
		labels := []string{ev.OOMKill.Class.String(), labelValue(c.Namespace), labelValue(c.PodName), labelValue(c.Name), labelValue(string(c.QoS))}
		// A pod owns its series; the kills of no pod's share theirs, by
		// class and whatever names they have, and take one slot for them:
		// a slot per cgroup would let anyone who can create cgroups push
		// the pods' kills into the overflow.
		owner := c.PodUID
		if owner == "" {
			owner = joinLabels(labels)
		}
		if m.killSeries.admit(owner, labels, now) {
			m.kills.WithLabelValues(labels...).Inc()
		} else {
			m.kills.WithLabelValues(ev.OOMKill.Class.String(), Overflow, Overflow, Overflow, Overflow).Inc()
		}
	case event.KindMemcgOOM:
		path := labelValue(ev.MemcgOOM.Cgroup.Path)
		if m.memcgSeries.admit(path, []string{path}, now) {
			m.memcgOOMs.WithLabelValues(path).Inc()
		} else {
			m.memcgOOMs.WithLabelValues(Overflow).Inc()
		}
	case event.KindExit:
		sender := ""
		if ev.Exit.Cause == event.CauseSignal || ev.Exit.Cause == event.CauseFault {
			sender = ev.Exit.SenderClass.String()
		}
		m.exits.WithLabelValues(ev.Exit.Cause.String(), sender).Inc()
	case event.KindReclaimStats:
		m.reclaim.add(&ev.ReclaimStats, now)
	case event.KindLost:
		m.lost.Add(float64(ev.Lost.Count))
		m.countSkipped(&ev.Lost)
	}
	return nil
}

// unknownProgram labels the skipped runs no program accounts for.
const unknownProgram = "unknown"

// countSkipped adds the runs the kernel skipped since the previous lost
// event to each program's counter. Runs the list of programs does not
// account for (it cannot be read, or names fewer) are counted under the
// program "unknown": they are not dropped.
func (m *Metrics) countSkipped(lost *event.Lost) {
	if lost.SkippedRuns == 0 {
		return
	}
	var added uint64
	if byProgram, err := event.ParseSkippedRuns(lost.SkippedByProgram); err == nil {
		for name, total := range byProgram {
			if n := total - min(total, m.skippedBy[name]); n > 0 {
				m.skipped.WithLabelValues(labelValue(name)).Add(float64(n))
				added += n
			}
			m.skippedBy[name] = max(total, m.skippedBy[name])
		}
	}
	if added < lost.SkippedRuns {
		m.skipped.WithLabelValues(unknownProgram).Add(float64(lost.SkippedRuns - added))
	}
}

// labelValue is a name from the kernel or a container runtime as a label
// value, escaped as the text format escapes it (printable ASCII, every
// other byte \xHH): the Prometheus client panics on a value that is not
// valid UTF-8, which anyone who can name a cgroup could otherwise send,
// and a reader of the metrics would get control bytes raw.
func labelValue(s string) string {
	return output.Escape(s)
}

// labelCap admits up to max owners (pods, cgroups) and remembers the label
// sets each used, deleting a label set's series when no owner that used it
// was seen for expiry: owners share label sets (a pod created again under
// its name, with a new UID), and one owner's going must not reset a
// counter another still adds to.
type labelCap struct {
	mu     sync.Mutex
	max    int
	expiry time.Duration
	owners map[string]*owner
	users  map[string]int // how many owners use each label set, by its joined form
	delete func(labels []string)
	swept  time.Time
}

type owner struct {
	seen   time.Time
	labels map[string][]string // by their joined form
}

func newLabelCap(max int, expiry time.Duration, del func([]string)) *labelCap {
	return &labelCap{max: max, expiry: expiry, owners: make(map[string]*owner), users: make(map[string]int), delete: del}
}

// admit reports whether owner may have series of its own, recording the
// label set it is about to use.
func (l *labelCap) admit(name string, labels []string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.owners[name]
	if o == nil {
		if len(l.owners) >= l.max {
			return false
		}
		o = &owner{labels: make(map[string][]string)}
		l.owners[name] = o
	}
	o.seen = now
	key := joinLabels(labels)
	if _, ok := o.labels[key]; !ok {
		o.labels[key] = append([]string(nil), labels...)
		l.users[key]++
	}
	return true
}

// expire deletes the series of owners not seen for the expiry time; it
// looks at most once a minute.
func (l *labelCap) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for name, o := range l.owners {
		if now.Sub(o.seen) >= l.expiry {
			for key, labels := range o.labels {
				if l.users[key]--; l.users[key] == 0 {
					delete(l.users, key)
					l.delete(labels)
				}
			}
			delete(l.owners, name)
		}
	}
}

func joinLabels(labels []string) string {
	n := 0
	for _, s := range labels {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for _, s := range labels {
		b = append(b, s...)
		b = append(b, 0)
	}
	return string(b)
}

// reclaimCollector exposes the kernel's log2 reclaim histograms as
// Prometheus histograms, by kind and by kind and pod: the kernel counted
// every episode, so the agent does no per-episode work.
type reclaimCollector struct {
	mu     sync.Mutex
	byKind map[event.ReclaimKind]*histogram
	byPod  map[podKey]*histogram
	pods   *labelCap
	kind   *prometheus.Desc
	pod    *prometheus.Desc
}

type podKey struct {
	kind                event.ReclaimKind
	namespace, pod, qos string
}

type histogram struct {
	count   uint64
	seconds float64
	buckets [event.ReclaimBuckets]uint64
}

func newReclaimCollector(maxPods int, expiry time.Duration) *reclaimCollector {
	c := &reclaimCollector{
		byKind: make(map[event.ReclaimKind]*histogram),
		byPod:  make(map[podKey]*histogram),
		kind: prometheus.NewDesc("oomtrace_reclaim_seconds",
			"Time in direct, memcg and softlimit reclaim, every episode, from the kernel's log2 histograms.",
			[]string{"kind"}, nil),
		pod: prometheus.NewDesc("oomtrace_pod_reclaim_seconds",
			"Time in reclaim by the tasks of a pod, from the kernel's log2 histograms.",
			[]string{"kind", "namespace", "pod", "qos"}, nil),
	}
	c.pods = newLabelCap(maxPods, expiry, func(labels []string) {
		// The label cap holds the collector's lock while it expires.
		kind, _ := event.ParseReclaimKind(labels[0])
		delete(c.byPod, podKey{kind, labels[1], labels[2], labels[3]})
	})
	return c
}

func (c *reclaimCollector) add(s *event.ReclaimStats, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pods.expire(now)
	addTo := func(h *histogram) {
		h.count += s.Count
		h.seconds += s.Total.Seconds()
		for i, n := range s.Buckets {
			h.buckets[i] += n
		}
	}
	h := c.byKind[s.Kind]
	if h == nil {
		h = &histogram{}
		c.byKind[s.Kind] = h
	}
	addTo(h)

	info := s.Cgroup.Owner
	if info.PodUID != "" {
		key := podKey{s.Kind, labelValue(info.Namespace), labelValue(info.PodName), labelValue(string(info.QoS))}
		if info.PodName == "" {
			key.pod = labelValue(info.PodUID)
		}
		labels := []string{s.Kind.String(), key.namespace, key.pod, key.qos}
		if !c.pods.admit(info.PodUID+"\x00"+s.Kind.String(), labels, now) {
			key = podKey{s.Kind, Overflow, Overflow, Overflow}
		}
		p := c.byPod[key]
		if p == nil {
			p = &histogram{}
			c.byPod[key] = p
		}
		addTo(p)
	}
}

func (c *reclaimCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.kind
	ch <- c.pod
}

func (c *reclaimCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for kind, h := range c.byKind {
		ch <- h.metric(c.kind, kind.String())
	}
	for key, h := range c.byPod {
		ch <- h.metric(c.pod, key.kind.String(), key.namespace, key.pod, key.qos)
	}
}

// metric is h as a Prometheus histogram: kernel bucket i counts episodes
// of [2^i, 2^(i+1)) µs, so its upper bound is 2^(i+1) µs.
func (h *histogram) metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.buckets))
	var cumulative uint64
	for i, n := range h.buckets {
		cumulative += n
		buckets[math.Ldexp(1e-6, i+1)] = cumulative
	}
	return prometheus.MustNewConstHistogram(desc, h.count, h.seconds, buckets, labels...)
}
