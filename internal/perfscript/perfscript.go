// Package perfscript reads what `perf script` prints for the kernel's own
// oom and vmscan tracepoints (recorded with perf record -e 'oom:*' -e
// 'vmscan:*') as oomtrace events, so that captures made with perf feed the
// same reports and gates as oomtrace's own logs.
//
// perf prints kernel strings as they are, so a process name with a newline
// or a run of spaces can make a line unreadable; oomtrace's own formats
// escape them. The oom and vmscan tracepoints carry no memory cgroup: a
// capture that also recorded cgroup:cgroup_attach_task (perf record -e
// 'oom:*' -e 'vmscan:*' -e cgroup:cgroup_attach_task) gives each task the
// cgroup it was last moved into during the recording, which is how its
// pod and container are named; tasks that were not moved while perf ran
// have none. Nor does mark_victim carry what the kernel's choice of victim
// was confined to, so the classify stage infers an OOM kill's class from
// the reclaim before it.
package perfscript

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// maxOpen bounds the reclaim begins the parser waits for the end of, and
// so its memory: a reclaim whose begin was pushed out is not reported.
// maxAttached bounds the tasks whose cgroup it remembers likewise.
const (
	maxOpen     = 1 << 16
	maxAttached = 1 << 16
)

// Parser turns perf script lines into events. It pairs each reclaim begin
// with the end of the same thread and kind, and remembers the cgroup each
// task was attached to.
type Parser struct {
	open     map[openKey]openReclaim
	attached map[uint32]event.Cgroup // by thread id
	lost     uint64
	// Dropped counts reclaim begins forgotten because too many were open
	// at once.
	Dropped uint64
}

type openKey struct {
	tid  uint32
	kind event.ReclaimKind
}

type openReclaim struct {
	ktime uint64
	order int32
}

// NewParser returns a parser at the start of a perf script output.
func NewParser() *Parser {
	return &Parser{open: make(map[openKey]openReclaim), attached: make(map[uint32]event.Cgroup)}
}

// LooksLikePerf reports whether line is shaped like a line of perf script
// output for a tracepoint: "COMM TID [CPU] SECONDS: SYSTEM:NAME: ...".
func LooksLikePerf(line []byte) bool {
	_, ok := splitHeader(bytes.TrimSuffix(line, []byte{'\n'}))
	return ok
}

// Parse reads one line into ev. It reports false, with no error, for a line
// that is no event of its own: a comment, a callchain line, a reclaim's
// begin, a tracepoint oomtrace has no event for. A line of a tracepoint
// oomtrace reads whose fields do not parse is an error.
func (p *Parser) Parse(line []byte, ev *event.Event) (bool, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if skippable(line) {
		return false, nil
	}
	h, ok := splitHeader(line)
	if !ok {
		return false, errors.New("not a perf script line: want COMM TID [CPU] SECONDS: EVENT: FIELDS")
	}
	handler, known := handlers[string(h.event)]
	if !known {
		return false, nil
	}
	task, err := parseTask(h.task)
	if err != nil {
		return false, err
	}
	*ev = event.Event{KtimeNS: h.ktime, CPU: h.cpu, Task: task}
	ok, err = handler(p, h.fields, ev)
	if err != nil {
		return false, fmt.Errorf("%s: %w", h.event, err)
	}
	return ok, nil
}

// skippable reports whether a line carries nothing: empty, a comment or
// header line ("# ..."), or a line of a sample's callchain (perf script -g:
// a tab, then an address).
func skippable(line []byte) bool {
	if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
		return true
	}
	if line[0] != '\t' {
		return false
	}
	first, _, _ := bytes.Cut(bytes.TrimLeft(line, " \t"), []byte{' '})
	_, err := strconv.ParseUint(string(first), 16, 64)
	return err == nil
}

// header is a line split at its event name.
type header struct {
	task   []byte // "COMM TID [CPU]" or "COMM PID/TID [CPU]", the CPU optional
	cpu    uint32
	ktime  uint64
	event  []byte
	fields []byte
}

// splitHeader finds the time and event name. perf prints the comm as it
// is, spaces included, so the line is searched for "SECONDS: EVENT" rather
// than split at spaces. A comm (at most 15 bytes) cannot hold a time and the
// name of a tracepoint this package reads, so the first candidate whose
// event is one of those is the right one; failing that, the first
// candidate.
func splitHeader(line []byte) (header, bool) {
	var first header
	found := false
	for from := 0; ; {
		i := bytes.Index(line[from:], []byte(": "))
		if i < 0 {
			break
		}
		colon := from + i
		from = colon + 2
		h, ok := candidate(line, colon)
		if !ok {
			continue
		}
		if _, known := handlers[string(h.event)]; known {
			return h, true
		}
		if !found {
			first, found = h, true
		}
	}
	return first, found
}

// candidate tries the ": " at line[colon] as the end of the time token.
func candidate(line []byte, colon int) (header, bool) {
	start := bytes.LastIndexByte(line[:colon], ' ') + 1
	ktime, ok := parseSeconds(line[start:colon])
	if !ok {
		return header{}, false
	}
	rest := bytes.TrimLeft(line[colon+2:], " ")
	name, fields, _ := bytes.Cut(rest, []byte{' '})
	name, isTracepoint := bytes.CutSuffix(name, []byte{':'})
	if isTracepoint {
		if bytes.IndexByte(name, ':') <= 0 {
			return header{}, false
		}
	} else if !bytes.HasPrefix(name, []byte("PERF_RECORD_")) {
		return header{}, false
	}
	h := header{ktime: ktime, event: name, fields: bytes.TrimSpace(fields)}
	h.task = bytes.TrimRight(line[:start], " ")
	// The CPU is optional (perf script -F without cpu).
	if j := bytes.LastIndexByte(h.task, ' '); j >= 0 && bytes.HasPrefix(h.task[j+1:], []byte{'['}) && bytes.HasSuffix(h.task, []byte{']'}) {
		cpu, err := strconv.ParseUint(string(h.task[j+2:len(h.task)-1]), 10, 32)
		if err != nil {
			return header{}, false
		}
		h.cpu = uint32(cpu)
		h.task = bytes.TrimRight(h.task[:j], " ")
	}
	return h, true
}

// parseSeconds parses perf's "SECONDS.FRACTION", microseconds or (with
// --ns) nanoseconds.
func parseSeconds(tok []byte) (uint64, bool) {
	whole, frac, ok := bytes.Cut(tok, []byte{'.'})
	if !ok || len(frac) == 0 || len(frac) > 9 || len(whole) == 0 {
		return 0, false
	}
	sec, err := strconv.ParseUint(string(whole), 10, 64)
	if err != nil || sec > (1<<63)/uint64(time.Second) {
		return 0, false
	}
	f, err := strconv.ParseUint(string(frac), 10, 64)
	if err != nil {
		return 0, false
	}
	for i := len(frac); i < 9; i++ {
		f *= 10
	}
	return sec*uint64(time.Second) + f, true
}

// parseTask reads "COMM TID" or "COMM PID/TID". perf prints the thread id
// alone by default; the process is then taken to be the thread.
func parseTask(b []byte) (event.Task, error) {
	j := bytes.LastIndexByte(b, ' ')
	ids := b[j+1:]
	comm := bytes.TrimSpace(b[:max(j, 0)])
	pid, tid, both := bytes.Cut(ids, []byte{'/'})
	if !both {
		tid = pid
	}
	// perf prints -1 for a sample without a thread (its LOST records).
	tgid, err1 := parseID(pid)
	thread, err2 := parseID(tid)
	if err := errors.Join(err1, err2); err != nil {
		return event.Task{}, fmt.Errorf("want COMM TID or COMM PID/TID before the CPU and time, not %q: %w", b, err)
	}
	return event.Task{PID: thread, TGID: tgid, Comm: string(comm)}, nil
}

func parseID(b []byte) (uint32, error) {
	if string(b) == "-1" {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(n), err
}

// handler fills ev from the fields of one tracepoint; false: no event.
type handler func(p *Parser, fields []byte, ev *event.Event) (bool, error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"oom:mark_victim":                                (*Parser).markVictim,
		"oom:wake_reaper":                                reaper(event.ReaperWake),
		"oom:start_task_reaping":                         reaper(event.ReaperStart),
		"oom:finish_task_reaping":                        reaper(event.ReaperFinish),
		"oom:skip_task_reaping":                          reaper(event.ReaperSkip),
		"vmscan:mm_vmscan_direct_reclaim_begin":          reclaimBegin(event.ReclaimDirect),
		"vmscan:mm_vmscan_memcg_reclaim_begin":           reclaimBegin(event.ReclaimMemcg),
		"vmscan:mm_vmscan_memcg_softlimit_reclaim_begin": reclaimBegin(event.ReclaimSoftlimit),
		"vmscan:mm_vmscan_direct_reclaim_end":            reclaimEnd(event.ReclaimDirect),
		"vmscan:mm_vmscan_memcg_reclaim_end":             reclaimEnd(event.ReclaimMemcg),
		"vmscan:mm_vmscan_memcg_softlimit_reclaim_end":   reclaimEnd(event.ReclaimSoftlimit),
		"vmscan:mm_vmscan_kswapd_wake":                   (*Parser).kswapdWake,
		"cgroup:cgroup_attach_task":                      (*Parser).attach,
		"PERF_RECORD_LOST":                               (*Parser).lostRecords,
		"PERF_RECORD_LOST_SAMPLES":                       (*Parser).lostRecords,
	}
}

// fieldsOf splits "k=v k=v" (perf's trace fields) into values by key. The
// kernel writes some keys with ':' instead of '=' (mark_victim's
// "file-rss:6608kB"); both are accepted. A key given twice keeps its first
// value.
func fieldsOf(b []byte) map[string][]byte {
	out := make(map[string][]byte, 8)
	for _, tok := range bytes.Fields(b) {
		i := bytes.IndexAny(tok, "=:")
		if i <= 0 {
			continue
		}
		key := string(tok[:i])
		if _, dup := out[key]; !dup {
			out[key] = tok[i+1:]
		}
	}
	return out
}

// number reads key from fields as a T, without the unit suffix (kB).
func number[T int32 | uint32 | uint64 | int16](fields map[string][]byte, key, suffix string) (T, bool, error) {
	raw, ok := fields[key]
	if !ok {
		return 0, false, nil
	}
	raw = bytes.TrimSuffix(raw, []byte(suffix))
	var zero T
	switch any(zero).(type) {
	case int32, int16:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || int64(T(n)) != n {
			return 0, true, fmt.Errorf("field %s: invalid number %q", key, raw)
		}
		return T(n), true, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || uint64(T(n)) != n {
		return 0, true, fmt.Errorf("field %s: invalid number %q", key, raw)
	}
	return T(n), true, nil
}

func required[T int32 | uint32 | uint64 | int16](fields map[string][]byte, key, suffix string) (T, error) {
	v, ok, err := number[T](fields, key, suffix)
	if err == nil && !ok {
		err = fmt.Errorf("field %s missing", key)
	}
	return v, err
}

// markVictim reads oom:mark_victim: "pid=%d comm=%s total-vm=%lukB
// anon-rss=%lukB file-rss:%lukB shmem-rss:%lukB uid=%u pgtables=%lukB
// oom_score_adj=%hd", or "pid=%d" alone on kernels with the old form.
func (p *Parser) markVictim(fields []byte, ev *event.Event) (bool, error) {
	kill := &ev.OOMKill
	kill.Mode = event.ModeTracepoint
	kill.Trigger = ev.Task
	// The comm may hold spaces, and '=': it runs from "comm=" to the last
	// " total-vm=", after which come only numbers.
	rest := fields
	if i := bytes.Index(fields, []byte(" comm=")); i >= 0 {
		end := bytes.LastIndex(fields, []byte(" total-vm="))
		if end < i {
			return false, errors.New("comm= without total-vm= after it")
		}
		kill.Victim.Comm = string(fields[i+len(" comm=") : end])
		rest = append(fields[:i:i], fields[end:]...)
	}
	f := fieldsOf(rest)
	pid, err := required[uint32](f, "pid", "")
	if err != nil {
		return false, err
	}
	v := &kill.Victim
	// The tracepoint names the victim's thread; the kernel picks the
	// process's first thread that still has its memory, nearly always the
	// main thread.
	v.PID, v.TGID = pid, pid
	v.Cgroup = p.attached[pid]
	kill.TriggerCgroup = p.attached[ev.Task.PID]
	var errs []error
	get64 := func(dst *uint64, key string) bool {
		n, ok, err := number[uint64](f, key, "kB")
		*dst = n
		errs = append(errs, err)
		return ok
	}
	v.HasMM = get64(&v.TotalVMKB, "total-vm")
	get64(&v.RSSAnonKB, "anon-rss")
	get64(&v.RSSFileKB, "file-rss")
	get64(&v.RSSShmemKB, "shmem-rss")
	get64(&v.PgtablesKB, "pgtables")
	uid, hasUID, err := number[uint32](f, "uid", "")
	v.UID, v.HasUID = uid, hasUID
	adj, _, err2 := number[int16](f, "oom_score_adj", "")
	v.OOMScoreAdj = adj
	if err := errors.Join(append(errs, err, err2)...); err != nil {
		return false, err
	}
	ev.Kind = event.KindOOMKill
	return true, nil
}

func reaper(step event.ReaperStep) handler {
	return func(_ *Parser, fields []byte, ev *event.Event) (bool, error) {
		pid, err := required[uint32](fieldsOf(fields), "pid", "")
		if err != nil {
			return false, err
		}
		ev.Kind = event.KindReaper
		ev.Reaper = event.Reaper{Step: step, VictimPID: pid}
		return true, nil
	}
}

// reclaimBegin remembers "order=%d gfp_flags=%s" until the thread's end.
func reclaimBegin(kind event.ReclaimKind) handler {
	return func(p *Parser, fields []byte, ev *event.Event) (bool, error) {
		order, err := required[int32](fieldsOf(fields), "order", "")
		if err != nil {
			return false, err
		}
		if len(p.open) >= maxOpen {
			p.Dropped += uint64(len(p.open))
			clear(p.open)
		}
		p.open[openKey{ev.Task.PID, kind}] = openReclaim{ktime: ev.KtimeNS, order: order}
		return false, nil
	}
}

// reclaimEnd reads "nr_reclaimed=%lu" and reports the episode that began
// in the same thread.
func reclaimEnd(kind event.ReclaimKind) handler {
	return func(p *Parser, fields []byte, ev *event.Event) (bool, error) {
		nr, err := required[uint64](fieldsOf(fields), "nr_reclaimed", "")
		if err != nil {
			return false, err
		}
		key := openKey{ev.Task.PID, kind}
		begin, ok := p.open[key]
		if !ok || begin.ktime > ev.KtimeNS {
			return false, nil // began before the capture did
		}
		delete(p.open, key)
		ev.Kind = event.KindReclaim
		ev.Reclaim = event.Reclaim{
			Kind:        kind,
			Duration:    time.Duration(ev.KtimeNS - begin.ktime),
			NrReclaimed: nr,
			Order:       begin.order,
			Cgroup:      p.attached[ev.Task.PID],
		}
		return true, nil
	}
}

// kswapdWake reads "nid=%d order=%d" (and "zid=%d" on older kernels).
func (p *Parser) kswapdWake(fields []byte, ev *event.Event) (bool, error) {
	f := fieldsOf(fields)
	nid, err1 := required[int32](f, "nid", "")
	order, err2 := required[int32](f, "order", "")
	zid, _, err3 := number[int32](f, "zid", "")
	if err := errors.Join(err1, err2, err3); err != nil {
		return false, err
	}
	ev.Kind = event.KindKswapdWake
	ev.KswapdWake = event.KswapdWake{Node: nid, Zone: zid, Order: order}
	return true, nil
}

// lostRecords reads "lost N" of the records perf script --show-lost-events
// prints.
func (p *Parser) lostRecords(fields []byte, ev *event.Event) (bool, error) {
	word, count, ok := bytes.Cut(fields, []byte{' '})
	if !ok || string(word) != "lost" {
		return false, fmt.Errorf("want lost N, not %q", fields)
	}
	count, _, _ = bytes.Cut(count, []byte{' '})
	n, err := strconv.ParseUint(string(count), 10, 64)
	if err != nil {
		return false, fmt.Errorf("want lost N, not %q", fields)
	}
	p.lost += n
	// A begin and an end on either side of lost records may not be one
	// episode.
	clear(p.open)
	ev.Kind = event.KindLost
	ev.Lost = event.Lost{Count: n, Total: p.lost}
	return true, nil
}

// attach reads cgroup:cgroup_attach_task, "dst_root=%d dst_id=%llu
// dst_level=%d dst_path=%s pid=%d comm=%s", and remembers the cgroup of the
// task moved. The path runs to the last " pid=N comm=", after which comes
// only the comm (at most 15 bytes); a comm that holds " pid=N comm=" itself
// can misplace that one task.
func (p *Parser) attach(fields []byte, ev *event.Event) (bool, error) {
	const pathKey, pidKey = "dst_path=", " pid="
	start := bytes.Index(fields, []byte(pathKey))
	if start < 0 {
		return false, errors.New("field dst_path missing")
	}
	rest := fields[start+len(pathKey):]
	end := -1
	for i := bytes.LastIndex(rest, []byte(pidKey)); i >= 0; i = bytes.LastIndex(rest[:i], []byte(pidKey)) {
		digits, _, ok := bytes.Cut(rest[i+len(pidKey):], []byte(" comm="))
		if _, err := strconv.ParseUint(string(digits), 10, 32); ok && err == nil {
			end = i
			break
		}
	}
	if end < 0 {
		return false, errors.New("dst_path without pid= and comm= after it")
	}
	f := fieldsOf(append(fields[:start:start], rest[end:]...))
	id, err1 := required[uint64](f, "dst_id", "")
	pid, err2 := required[uint32](f, "pid", "")
	if err := errors.Join(err1, err2); err != nil {
		return false, err
	}
	if len(p.attached) >= maxAttached {
		clear(p.attached)
	}
	p.attached[pid] = event.Cgroup{Path: string(rest[:end]), ID: id}
	return false, nil
}
