package output

import (
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/event"
)

// field is one key of an event kind, in both formats. Each kind's keys are
// listed once, in the order they are written; the writers and the parsers of
// both formats all work from that list, so they cannot disagree.
type field struct {
	text  string // key in the text format: "victim.cgroup.id"
	json  string // key in JSON; "victim.cgroup_id" is key cgroup_id in object victim
	codec codec
	// flag, when set, is the event's Has... field for this key: the key is
	// written only when it is true, and parsing the key sets it.
	flag func(*event.Event) *bool
	// has, when set, says whether the event has a value for this key.
	has func(*event.Event) bool
	// missing, when set, names values a source may not have seen: the key
	// is written only when the event lacks none of them, and parsing the
	// key says the event has them (see event.Missing).
	missing event.Missing
	// option names the Options field that must ask for this key.
	option option
	// jsonObject and jsonKey are json split by init, once: the JSON parser
	// looks them up for every key of every line.
	jsonObject, jsonKey string
}

// option is an Options field that turns keys on.
type option uint8

const (
	always option = iota
	withGFPNames
	withStacks
)

func (o option) enabled(opts *Options) bool {
	switch o {
	case withGFPNames:
		return opts.GFPNames != nil
	case withStacks:
		return opts.Stacks
	}
	return true
}

// present reports whether ev has a value for the key, whatever the options.
func (f *field) present(ev *event.Event) bool {
	return (f.flag == nil || *f.flag(ev)) && (f.has == nil || f.has(ev)) && !ev.Missing.Lacks(f.missing)
}

// parsed records that a line had the key.
func (f *field) parsed(ev *event.Event) {
	if f.flag != nil {
		*f.flag(ev) = true
	}
	ev.Missing &^= f.missing
}

func (f *field) written(ev *event.Event, opts *Options) bool {
	return f.option.enabled(opts) && f.present(ev)
}

// jsonName splits the JSON key into the object holding it ("" for the top
// level) and its name there.
func (f *field) jsonName() (object, name string) {
	return f.jsonObject, f.jsonKey
}

// mayMiss is, per kind, every value its keys say a source may not have
// seen: a parser starts from all of them missing, and each key read says
// its values are there.
var mayMiss [len(schemas)]event.Missing

func mayMissOf(k event.Kind) event.Missing {
	if int(k) < len(mayMiss) {
		return mayMiss[k]
	}
	return 0
}

func init() {
	for kind, fields := range schemas {
		for i := range fields {
			f := &fields[i]
			mayMiss[kind] |= f.missing
			if object, name, ok := strings.Cut(f.json, "."); ok {
				f.jsonObject, f.jsonKey = object, name
			} else {
				f.jsonKey = f.json
			}
		}
	}
}

var schemas = [...][]field{
	event.KindOOMKill:      oomKillFields(),
	event.KindMemcgOOM:     memcgOOMFields(),
	event.KindReclaim:      reclaimFields(),
	event.KindKswapdWake:   kswapdWakeFields(),
	event.KindReaper:       reaperFields(),
	event.KindReclaimStats: reclaimStatsFields(),
	event.KindLost:         lostFields(),
	event.KindSignal:       signalFields(),
	event.KindExit:         exitFields(),
	event.KindSample:       sampleFields(),
	event.KindEviction:     evictionFields(),
}

// fieldsOf returns the keys of kind k; nil for a kind this package does not
// know.
func fieldsOf(k event.Kind) []field {
	if int(k) < len(schemas) {
		return schemas[k]
	}
	return nil
}

func integerOf[T integer](get func(*event.Event) *T) codec {
	return bare[integerCodec[T]]{integerCodec[T]{get}}
}

// taskFields are the keys of a task: prefix.pid, prefix.tgid, prefix.comm.
func taskFields(prefix string, task func(*event.Event) *event.Task) []field {
	return optionalTaskFields(prefix, task, 0, 0)
}

// optionalTaskFields are taskFields of a task whose source may not have
// seen it (missing: then none of its keys is written) or its process id
// (missingTGID: then tgid is not).
func optionalTaskFields(prefix string, task func(*event.Event) *event.Task, missing, missingTGID event.Missing) []field {
	return []field{
		{text: prefix + ".pid", json: prefix + ".pid", missing: missing, codec: integerOf(func(ev *event.Event) *uint32 { return &task(ev).PID })},
		{text: prefix + ".tgid", json: prefix + ".tgid", missing: missing | missingTGID, codec: integerOf(func(ev *event.Event) *uint32 { return &task(ev).TGID })},
		{text: prefix + ".comm", json: prefix + ".comm", missing: missing, codec: stringCodec{func(ev *event.Event) *string { return &task(ev).Comm }}},
	}
}

// cgroupFields are the keys of a cgroup, all absent when the event has no
// such cgroup. Usage and limit are absent when both are zero: the kernel
// side did not read them (reclaim_stats carries path and id only).
func cgroupFields(text, json, usageJSON, limitJSON string, cgroup func(*event.Event) *event.Cgroup) []field {
	return cgroupFieldsOf(text, json, usageJSON, limitJSON, cgroup, 0)
}

// cgroupFieldsOf are cgroupFields whose id a source may not have seen:
// missingID is event.MissingCgroupIDs for the kinds a kernel log holds.
func cgroupFieldsOf(text, json, usageJSON, limitJSON string, cgroup func(*event.Event) *event.Cgroup, missingID event.Missing) []field {
	valid := func(ev *event.Event) bool { return cgroup(ev).Valid() }
	measured := func(ev *event.Event) bool {
		c := cgroup(ev)
		return c.Valid() && (c.UsageBytes != 0 || c.LimitBytes != 0)
	}
	truncated := func(ev *event.Event) bool {
		c := cgroup(ev)
		return c.Valid() && c.Truncated
	}
	return []field{
		{text: text, json: json, has: valid, codec: stringCodec{func(ev *event.Event) *string { return &cgroup(ev).Path }}},
		{text: text + ".id", json: json + "_id", has: valid, missing: missingID, codec: integerOf(func(ev *event.Event) *uint64 { return &cgroup(ev).ID })},
		{text: text + ".usage_bytes", json: usageJSON, has: measured, codec: integerOf(func(ev *event.Event) *uint64 { return &cgroup(ev).UsageBytes })},
		{text: text + ".limit_bytes", json: limitJSON, has: measured, codec: limitCodec{func(ev *event.Event) *uint64 { return &cgroup(ev).LimitBytes }}},
		{text: text + ".truncated", json: json + "_truncated", has: truncated, codec: bare[boolCodec]{boolCodec{func(ev *event.Event) *bool { return &cgroup(ev).Truncated }}}},
	}
}

// containerFields are the keys of who a cgroup belongs to: text keys
// prefix.namespace, prefix.pod, … (or bare ones for an empty prefix), JSON
// keys in the object named object. Each is written when known.
func containerFields(prefix, object string, cgroup func(*event.Event) *event.Cgroup) []field {
	info := func(ev *event.Event) *event.Owner { return &cgroup(ev).Owner }
	text := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	key := func(textName, jsonName string, get func(*event.Event) *string) field {
		return field{text: text(textName), json: object + "." + jsonName,
			has:   func(ev *event.Event) bool { return *get(ev) != "" },
			codec: stringCodec{get}}
	}
	return []field{
		key("namespace", "namespace", func(ev *event.Event) *string { return &info(ev).Namespace }),
		key("pod", "pod_name", func(ev *event.Event) *string { return &info(ev).PodName }),
		key("pod_uid", "pod_uid", func(ev *event.Event) *string { return &info(ev).PodUID }),
		key("container", "name", func(ev *event.Event) *string { return &info(ev).Name }),
		key("container_id", "id", func(ev *event.Event) *string { return &info(ev).ID }),
		key("runtime", "runtime", func(ev *event.Event) *string { return (*string)(&info(ev).Runtime) }),
		key("qos", "qos", func(ev *event.Event) *string { return (*string)(&info(ev).QoS) }),
		key("level", "level", func(ev *event.Event) *string { return (*string)(&info(ev).Level) }),
		key("unit", "unit", func(ev *event.Event) *string { return &info(ev).Unit }),
		key("user", "user", func(ev *event.Event) *string { return &info(ev).User }),
	}
}

// gfpFields are gfp_mask, gfp_flags and order; flag, when set, is the
// event's flag saying it has them.
func gfpFields(mask func(*event.Event) *uint32, order func(*event.Event) *int32, flag func(*event.Event) *bool) []field {
	return []field{
		{text: "gfp_mask", json: "gfp_mask", flag: flag, codec: hexCodec{mask}},
		{text: "gfp_flags", json: "gfp_flags", flag: flag, option: withGFPNames, codec: gfpNamesCodec{mask}},
		{text: "order", json: "order", flag: flag, codec: integerOf(order)},
	}
}

func reclaimKindField(kind func(*event.Event) *event.ReclaimKind) field {
	return field{text: "reclaim", json: "reclaim", codec: enumCodec[event.ReclaimKind]{kind, event.ParseReclaimKind}}
}

func durationField(name string, d func(*event.Event) *time.Duration) field {
	return field{text: name, json: name, codec: integerOf(d)}
}

func oomKillFields() []field {
	kill := func(ev *event.Event) *event.OOMKill { return &ev.OOMKill }
	victim := func(ev *event.Event) *event.Victim { return &ev.OOMKill.Victim }
	hasUID := func(ev *event.Event) *bool { return &victim(ev).HasUID }
	hasMM := func(ev *event.Event) *bool { return &victim(ev).HasMM }
	hasGFP := func(ev *event.Event) *bool { return &kill(ev).HasGFP }
	hasControl := func(ev *event.Event) *bool { return &kill(ev).HasControl }
	kb := func(name string, missing event.Missing, get func(*event.Event) *uint64) field {
		return field{text: "victim." + name, json: "victim." + name, flag: hasMM, missing: missing, codec: integerOf(get)}
	}

	fields := []field{
		{text: "class", json: "class", codec: enumCodec[event.Class]{func(ev *event.Event) *event.Class { return &kill(ev).Class }, event.ParseClass}},
		{text: "mode", json: "mode", codec: enumCodec[event.Mode]{func(ev *event.Event) *event.Mode { return &kill(ev).Mode }, event.ParseMode}},
	}
	fields = append(fields, optionalTaskFields("victim", func(ev *event.Event) *event.Task { return &victim(ev).Task }, 0, event.MissingVictimTGID)...)
	fields = append(fields,
		field{text: "victim.uid", json: "victim.uid", flag: hasUID, codec: integerOf(func(ev *event.Event) *uint32 { return &victim(ev).UID })},
		field{text: "victim.oom_score_adj", json: "victim.oom_score_adj", missing: event.MissingVictimAdj, codec: integerOf(func(ev *event.Event) *int16 { return &victim(ev).OOMScoreAdj })},
		kb("rss_anon_kb", 0, func(ev *event.Event) *uint64 { return &victim(ev).RSSAnonKB }),
		kb("rss_file_kb", 0, func(ev *event.Event) *uint64 { return &victim(ev).RSSFileKB }),
		kb("rss_shmem_kb", event.MissingVictimShmem, func(ev *event.Event) *uint64 { return &victim(ev).RSSShmemKB }),
		kb("total_vm_kb", 0, func(ev *event.Event) *uint64 { return &victim(ev).TotalVMKB }),
		kb("pgtables_kb", event.MissingVictimPgtables, func(ev *event.Event) *uint64 { return &victim(ev).PgtablesKB }),
	)
	victimCgroup := func(ev *event.Event) *event.Cgroup { return &victim(ev).Cgroup }
	fields = append(fields, cgroupFieldsOf("victim.cgroup", "victim.cgroup", "victim.cgroup_usage_bytes", "victim.cgroup_limit_bytes", victimCgroup, event.MissingCgroupIDs)...)
	fields = append(fields, containerFields("victim", "victim_container", victimCgroup)...)
	fields = append(fields, optionalTaskFields("trigger", func(ev *event.Event) *event.Task { return &kill(ev).Trigger }, event.MissingTrigger, event.MissingTriggerTGID)...)
	triggerCgroup := func(ev *event.Event) *event.Cgroup { return &kill(ev).TriggerCgroup }
	fields = append(fields, cgroupFieldsOf("trigger.cgroup", "trigger.cgroup", "trigger.cgroup_usage_bytes", "trigger.cgroup_limit_bytes", triggerCgroup, event.MissingCgroupIDs)...)
	fields = append(fields, containerFields("trigger", "trigger_container", triggerCgroup)...)
	oomCgroup := func(ev *event.Event) *event.Cgroup { return &kill(ev).OOMCgroup }
	fields = append(fields, cgroupFieldsOf("oom_cgroup", "oom_cgroup", "memcg_usage_bytes", "memcg_limit_bytes", oomCgroup, event.MissingCgroupIDs)...)
	fields = append(fields, containerFields("oom", "oom_container", oomCgroup)...)
	fields = append(fields, gfpFields(
		func(ev *event.Event) *uint32 { return &kill(ev).GFPMask },
		func(ev *event.Event) *int32 { return &kill(ev).Order },
		hasGFP)...)
	fields = append(fields,
		field{text: "points", json: "points", flag: hasControl, codec: integerOf(func(ev *event.Event) *int64 { return &kill(ev).Points })},
		field{text: "totalpages", json: "totalpages", flag: hasControl, codec: integerOf(func(ev *event.Event) *uint64 { return &kill(ev).TotalPages })},
		field{text: "victim_exiting", json: "victim_exiting",
			has:   func(ev *event.Event) bool { return kill(ev).VictimExiting },
			codec: bare[boolCodec]{boolCodec{func(ev *event.Event) *bool { return &kill(ev).VictimExiting }}}},
		field{text: "oom_group", json: "oom_group",
			has:   func(ev *event.Event) bool { return kill(ev).Group.Valid() },
			codec: stringCodec{func(ev *event.Event) *string { return &kill(ev).Group.Path }}},
		field{text: "replayed", json: "replayed",
			has:   func(ev *event.Event) bool { return kill(ev).Replayed },
			codec: bare[boolCodec]{boolCodec{func(ev *event.Event) *bool { return &kill(ev).Replayed }}}},
		field{text: "stack", json: "stack", option: withStacks,
			has:   func(ev *event.Event) bool { return len(kill(ev).Stack) > 0 },
			codec: stackCodec{func(ev *event.Event) *[]string { return &kill(ev).Stack }}},
		field{text: "victim.main.pid", json: "victim_main.pid",
			has:   func(ev *event.Event) bool { return kill(ev).VictimMain.TGID != 0 },
			codec: integerOf(func(ev *event.Event) *uint32 { return &kill(ev).VictimMain.TGID })},
		field{text: "victim.main.comm", json: "victim_main.comm",
			has:   func(ev *event.Event) bool { return kill(ev).VictimMain.TGID != 0 },
			codec: stringCodec{func(ev *event.Event) *string { return &kill(ev).VictimMain.Comm }}},
		field{text: "why", json: "why",
			has:   func(ev *event.Event) bool { return kill(ev).Why != "" },
			codec: stringCodec{func(ev *event.Event) *string { return &kill(ev).Why }}},
	)
	fields = append(fields, snapshotFields(func(ev *event.Event) *event.Snapshot { return &kill(ev).Snapshot },
		func(ev *event.Event) *bool { return &kill(ev).HasSnapshot })...)
	return append(fields, reportFields(func(ev *event.Event) *event.KernelReport { return &kill(ev).Report })...)
}

// reportFields are the keys of what the kernel's report in its log says
// beyond the kill: text report.*, JSON object report.
func reportFields(rep func(*event.Event) *event.KernelReport) []field {
	bytesOf := func(name string, flag func(*event.KernelReport) *bool, get func(*event.KernelReport) *uint64) field {
		return field{text: "report." + name, json: "report." + name,
			flag:  func(ev *event.Event) *bool { return flag(rep(ev)) },
			codec: integerOf(func(ev *event.Event) *uint64 { return get(rep(ev)) })}
	}
	node := func(r *event.KernelReport) *bool { return &r.HasNode }
	swap := func(r *event.KernelReport) *bool { return &r.HasSwap }
	memcg := func(r *event.KernelReport) *bool { return &r.HasMemcg }
	memcgSwap := func(r *event.KernelReport) *bool { return &r.HasMemcgSwap }
	return []field{
		bytesOf("anon_bytes", node, func(r *event.KernelReport) *uint64 { return &r.AnonBytes }),
		bytesOf("file_bytes", node, func(r *event.KernelReport) *uint64 { return &r.FileBytes }),
		bytesOf("shmem_bytes", node, func(r *event.KernelReport) *uint64 { return &r.ShmemBytes }),
		bytesOf("slab_reclaimable_bytes", node, func(r *event.KernelReport) *uint64 { return &r.SlabReclaimableBytes }),
		bytesOf("slab_unreclaimable_bytes", node, func(r *event.KernelReport) *uint64 { return &r.SlabUnreclaimBytes }),
		bytesOf("free_bytes", node, func(r *event.KernelReport) *uint64 { return &r.FreeBytes }),
		bytesOf("min_free_bytes", node, func(r *event.KernelReport) *uint64 { return &r.MinFreeBytes }),
		bytesOf("swap_free_bytes", swap, func(r *event.KernelReport) *uint64 { return &r.SwapFreeBytes }),
		bytesOf("swap_total_bytes", swap, func(r *event.KernelReport) *uint64 { return &r.SwapTotalBytes }),
		{text: "report.free_by_order", json: "report.free_by_order",
			flag: func(ev *event.Event) *bool { return &rep(ev).HasFreeLists },
			// No free block of any order is no list to write.
			has: func(ev *event.Event) bool {
				for _, n := range rep(ev).FreeByOrder {
					if n != 0 {
						return true
					}
				}
				return false
			},
			codec: histCodec{func(ev *event.Event) []uint64 { return rep(ev).FreeByOrder[:] }}},
		bytesOf("memcg_anon_bytes", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgAnonBytes }),
		bytesOf("memcg_file_bytes", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgFileBytes }),
		bytesOf("memcg_kernel_bytes", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgKernelBytes }),
		bytesOf("memcg_shmem_bytes", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgShmemBytes }),
		bytesOf("memcg_swap_usage_bytes", memcgSwap, func(r *event.KernelReport) *uint64 { return &r.MemcgSwapUsageBytes }),
		{text: "report.memcg_swap_limit_bytes", json: "report.memcg_swap_limit_bytes",
			flag:  func(ev *event.Event) *bool { return &rep(ev).HasMemcgSwap },
			codec: limitCodec{func(ev *event.Event) *uint64 { return &rep(ev).MemcgSwapLimitBytes }}},
		{text: "report.task_count", json: "report.task_count",
			has:   func(ev *event.Event) bool { return rep(ev).TaskCount > 0 },
			codec: integerOf(func(ev *event.Event) *int { return &rep(ev).TaskCount })},
		{text: "report.tasks", json: "report.tasks",
			has:   func(ev *event.Event) bool { return rep(ev).NumTasks > 0 },
			codec: tasksCodec{rep}},
	}
}

// snapshotFields are the keys of the memory snapshot after a kill: text
// snapshot="ok" and snapshot.*, JSON object snapshot. Each value is written
// when it was read.
func snapshotFields(snap func(*event.Event) *event.Snapshot, flag func(*event.Event) *bool) []field {
	mask := func(ev *event.Event) *event.SnapshotField { return &snap(ev).Fields }
	value := func(name string, bit event.SnapshotField, c codec) field {
		return field{text: "snapshot." + name, json: "snapshot." + name, flag: flag,
			has:   func(ev *event.Event) bool { return snap(ev).Has(bit) },
			codec: bitCodec{codec: c, mask: mask, bit: bit}}
	}
	count := func(name string, bit event.SnapshotField, get func(*event.Snapshot) *uint64) field {
		return value(name, bit, integerOf(func(ev *event.Event) *uint64 { return get(snap(ev)) }))
	}
	limit := func(name string, bit event.SnapshotField, get func(*event.Snapshot) *uint64) field {
		return value(name, bit, limitCodec{func(ev *event.Event) *uint64 { return get(snap(ev)) }})
	}
	pressure := func(prefix string, bit event.SnapshotField, get func(*event.Snapshot) *event.Pressure) []field {
		avg := func(name string, line func(*event.Pressure) *event.PressureLine) field {
			return value(prefix+name, bit, bare[floatCodec]{floatCodec{func(ev *event.Event) *float64 { return &line(get(snap(ev))).Avg10 }}})
		}
		return []field{
			avg("some_avg10", func(p *event.Pressure) *event.PressureLine { return &p.Some }),
			avg("full_avg10", func(p *event.Pressure) *event.PressureLine { return &p.Full }),
		}
	}
	fields := []field{
		{text: "snapshot", json: "snapshot.status", flag: flag,
			codec: snapshotStatusCodec{func(ev *event.Event) *event.SnapshotStatus { return &snap(ev).Status }}},
		{text: "snapshot.cgroup_version", json: "snapshot.cgroup_version", flag: flag,
			has:   func(ev *event.Event) bool { return snap(ev).Version != 0 },
			codec: integerOf(func(ev *event.Event) *int { return &snap(ev).Version })},
		{text: "snapshot.reason", json: "snapshot.reason", flag: flag,
			has:   func(ev *event.Event) bool { return snap(ev).Reason != "" },
			codec: stringCodec{func(ev *event.Event) *string { return &snap(ev).Reason }}},
		count("anon_bytes", event.SnapAnon, func(s *event.Snapshot) *uint64 { return &s.Anon }),
		count("file_bytes", event.SnapFile, func(s *event.Snapshot) *uint64 { return &s.File }),
		count("shmem_bytes", event.SnapShmem, func(s *event.Snapshot) *uint64 { return &s.Shmem }),
		count("kernel_bytes", event.SnapKernel, func(s *event.Snapshot) *uint64 { return &s.Kernel }),
		count("slab_bytes", event.SnapSlab, func(s *event.Snapshot) *uint64 { return &s.Slab }),
		count("workingset_refault_anon", event.SnapWorkingsetRefaultAnon, func(s *event.Snapshot) *uint64 { return &s.WorkingsetRefaultAnon }),
		count("workingset_refault_file", event.SnapWorkingsetRefaultFile, func(s *event.Snapshot) *uint64 { return &s.WorkingsetRefaultFile }),
		limit("high_bytes", event.SnapHigh, func(s *event.Snapshot) *uint64 { return &s.HighBytes }),
		limit("swap_limit_bytes", event.SnapSwapLimit, func(s *event.Snapshot) *uint64 { return &s.SwapLimitBytes }),
		count("swap_bytes", event.SnapSwap, func(s *event.Snapshot) *uint64 { return &s.SwapBytes }),
		count("events_high", event.SnapEventsHigh, func(s *event.Snapshot) *uint64 { return &s.EventsHigh }),
		count("events_max", event.SnapEventsMax, func(s *event.Snapshot) *uint64 { return &s.EventsMax }),
		count("events_oom", event.SnapEventsOOM, func(s *event.Snapshot) *uint64 { return &s.EventsOOM }),
		count("events_oom_kill", event.SnapEventsOOMKill, func(s *event.Snapshot) *uint64 { return &s.EventsOOMKill }),
		count("failcnt", event.SnapFailcnt, func(s *event.Snapshot) *uint64 { return &s.Failcnt }),
	}
	fields = append(fields, pressure("psi_", event.SnapPressure, func(s *event.Snapshot) *event.Pressure { return &s.Pressure })...)
	return append(fields, pressure("node_psi_", event.SnapNodePressure, func(s *event.Snapshot) *event.Pressure { return &s.NodePressure })...)
}

func memcgOOMFields() []field {
	oom := func(ev *event.Event) *event.MemcgOOM { return &ev.MemcgOOM }
	cgroup := func(ev *event.Event) *event.Cgroup { return &oom(ev).Cgroup }
	fields := cgroupFields("oom_cgroup", "oom_cgroup", "memcg_usage_bytes", "memcg_limit_bytes", cgroup)
	fields = append(fields, containerFields("oom", "oom_container", cgroup)...)
	return append(fields, gfpFields(
		func(ev *event.Event) *uint32 { return &oom(ev).GFPMask },
		func(ev *event.Event) *int32 { return &oom(ev).Order },
		nil)...)
}

func reclaimFields() []field {
	r := func(ev *event.Event) *event.Reclaim { return &ev.Reclaim }
	fields := []field{
		reclaimKindField(func(ev *event.Event) *event.ReclaimKind { return &r(ev).Kind }),
		durationField("duration_ns", func(ev *event.Event) *time.Duration { return &r(ev).Duration }),
		{text: "nr_reclaimed", json: "nr_reclaimed", codec: integerOf(func(ev *event.Event) *uint64 { return &r(ev).NrReclaimed })},
	}
	fields = append(fields, gfpFields(
		func(ev *event.Event) *uint32 { return &r(ev).GFPMask },
		func(ev *event.Event) *int32 { return &r(ev).Order },
		nil)...)
	cgroup := func(ev *event.Event) *event.Cgroup { return &r(ev).Cgroup }
	fields = append(fields, cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", cgroup)...)
	return append(fields, containerFields("", "container", cgroup)...)
}

func kswapdWakeFields() []field {
	return []field{
		{text: "node", json: "node", codec: integerOf(func(ev *event.Event) *int32 { return &ev.KswapdWake.Node })},
		{text: "zone", json: "zone", codec: integerOf(func(ev *event.Event) *int32 { return &ev.KswapdWake.Zone })},
		{text: "order", json: "order", codec: integerOf(func(ev *event.Event) *int32 { return &ev.KswapdWake.Order })},
	}
}

func reaperFields() []field {
	return []field{
		{text: "step", json: "step", codec: enumCodec[event.ReaperStep]{func(ev *event.Event) *event.ReaperStep { return &ev.Reaper.Step }, event.ParseReaperStep}},
		{text: "victim.pid", json: "victim.pid", codec: integerOf(func(ev *event.Event) *uint32 { return &ev.Reaper.VictimPID })},
	}
}

func reclaimStatsFields() []field {
	st := func(ev *event.Event) *event.ReclaimStats { return &ev.ReclaimStats }
	fields := []field{reclaimKindField(func(ev *event.Event) *event.ReclaimKind { return &st(ev).Kind })}
	cgroup := func(ev *event.Event) *event.Cgroup { return &st(ev).Cgroup }
	fields = append(fields, cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", cgroup)...)
	fields = append(fields, containerFields("", "container", cgroup)...)
	return append(fields,
		durationField("interval_ns", func(ev *event.Event) *time.Duration { return &st(ev).Interval }),
		field{text: "count", json: "count", codec: integerOf(func(ev *event.Event) *uint64 { return &st(ev).Count })},
		durationField("total_ns", func(ev *event.Event) *time.Duration { return &st(ev).Total }),
		durationField("max_ns", func(ev *event.Event) *time.Duration { return &st(ev).Max }),
		field{text: "hist_us", json: "hist_us",
			has: func(ev *event.Event) bool {
				for _, n := range st(ev).Buckets {
					if n != 0 {
						return true
					}
				}
				return false
			},
			codec: histCodec{func(ev *event.Event) []uint64 { return st(ev).Buckets[:] }}},
	)
}

func lostFields() []field {
	return []field{
		{text: "count", json: "count", codec: integerOf(func(ev *event.Event) *uint64 { return &ev.Lost.Count })},
		{text: "total", json: "total", codec: integerOf(func(ev *event.Event) *uint64 { return &ev.Lost.Total })},
	}
}

func senderClassField(get func(*event.Event) *event.SenderClass) field {
	return field{text: "sender_class", json: "sender_class",
		has:   func(ev *event.Event) bool { return *get(ev) != event.SenderUnknown },
		codec: enumCodec[event.SenderClass]{get, event.ParseSenderClass}}
}

// senderFields are the keys of a signal's sender: sender.pid, .tgid, .comm,
// its cgroup and container.
func senderFields(task func(*event.Event) *event.Task, cgroup func(*event.Event) *event.Cgroup) []field {
	fields := taskFields("sender", task)
	fields = append(fields, cgroupFields("sender.cgroup", "sender.cgroup", "sender.cgroup_usage_bytes", "sender.cgroup_limit_bytes", cgroup)...)
	return append(fields, containerFields("sender", "sender_container", cgroup)...)
}

func signalFields() []field {
	sig := func(ev *event.Event) *event.Signal { return &ev.Signal }
	fields := []field{
		{text: "signal", json: "signal", codec: integerOf(func(ev *event.Event) *int32 { return &sig(ev).Signal })},
		{text: "si_code", json: "si_code", codec: integerOf(func(ev *event.Event) *int32 { return &sig(ev).Code })},
		{text: "group", json: "group",
			has:   func(ev *event.Event) bool { return sig(ev).Group },
			codec: bare[boolCodec]{boolCodec{func(ev *event.Event) *bool { return &sig(ev).Group }}}},
	}
	fields = append(fields, senderFields(func(ev *event.Event) *event.Task { return &sig(ev).Sender },
		func(ev *event.Event) *event.Cgroup { return &sig(ev).SenderCgroup })...)
	fields = append(fields, senderClassField(func(ev *event.Event) *event.SenderClass { return &sig(ev).SenderClass }))
	fields = append(fields, taskFields("target", func(ev *event.Event) *event.Task { return &sig(ev).Target })...)
	targetCgroup := func(ev *event.Event) *event.Cgroup { return &sig(ev).TargetCgroup }
	fields = append(fields, cgroupFields("target.cgroup", "target.cgroup", "target.cgroup_usage_bytes", "target.cgroup_limit_bytes", targetCgroup)...)
	return append(fields, containerFields("target", "target_container", targetCgroup)...)
}

func exitFields() []field {
	x := func(ev *event.Event) *event.Exit { return &ev.Exit }
	cause := func(causes ...event.Cause) func(*event.Event) bool {
		return func(ev *event.Event) bool {
			for _, c := range causes {
				if x(ev).Cause == c {
					return true
				}
			}
			return false
		}
	}
	bySignal := cause(event.CauseSignal, event.CauseFault)
	cgroup := func(ev *event.Event) *event.Cgroup { return &x(ev).Cgroup }
	fields := []field{
		{text: "exit_code", json: "exit_code", codec: integerOf(func(ev *event.Event) *uint32 { return &x(ev).ExitCode })},
	}
	fields = append(fields, cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", cgroup)...)
	fields = append(fields, containerFields("", "container", cgroup)...)
	fields = append(fields,
		field{text: "cause", json: "cause", codec: enumCodec[event.Cause]{func(ev *event.Event) *event.Cause { return &x(ev).Cause }, event.ParseCause}},
		field{text: "cause.ktime_ns", json: "cause_ktime_ns",
			has:   func(ev *event.Event) bool { return x(ev).EvidenceKtimeNS != 0 },
			codec: integerOf(func(ev *event.Event) *uint64 { return &x(ev).EvidenceKtimeNS })},
		field{text: "cause.class", json: "cause_class", has: cause(event.CauseOOMKill),
			codec: enumCodec[event.Class]{func(ev *event.Event) *event.Class { return &x(ev).OOMClass }, event.ParseClass}},
		field{text: "si_code", json: "si_code", has: bySignal, codec: integerOf(func(ev *event.Event) *int32 { return &x(ev).Code })},
	)
	for _, f := range senderFields(func(ev *event.Event) *event.Task { return &x(ev).Sender },
		func(ev *event.Event) *event.Cgroup { return &x(ev).SenderCgroup }) {
		f.has = andHas(bySignal, f.has)
		fields = append(fields, f)
	}
	class := senderClassField(func(ev *event.Event) *event.SenderClass { return &x(ev).SenderClass })
	class.has = andHas(bySignal, class.has)
	fields = append(fields, class)
	hasTerm := func(ev *event.Event) bool { return x(ev).TermSender.TGID != 0 }
	for _, f := range taskFields("sigterm", func(ev *event.Event) *event.Task { return &x(ev).TermSender }) {
		f.has = hasTerm
		fields = append(fields, f)
	}
	return append(fields,
		field{text: "sigterm_before_ns", json: "sigterm_before_ns", has: hasTerm,
			codec: integerOf(func(ev *event.Event) *time.Duration { return &x(ev).TermBefore })},
		field{text: "why", json: "why",
			has:   func(ev *event.Event) bool { return x(ev).Why != "" },
			codec: stringCodec{func(ev *event.Event) *string { return &x(ev).Why }}},
	)
}

func sampleFields() []field {
	smp := func(ev *event.Event) *event.Sample { return &ev.Sample }
	cgroup := func(ev *event.Event) *event.Cgroup { return &smp(ev).Cgroup }
	node := func(ev *event.Event) bool { return smp(ev).IsNode() }
	hasPressure := func(ev *event.Event) *bool { return &smp(ev).HasPressure }
	float := func(name string, get func(*event.Event) *float64) field {
		return field{text: name, json: name, flag: hasPressure, codec: bare[floatCodec]{floatCodec{get}}}
	}
	fields := cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", cgroup)
	fields = append(fields, containerFields("", "container", cgroup)...)
	return append(fields,
		field{text: "high_bytes", json: "high_bytes", flag: func(ev *event.Event) *bool { return &smp(ev).HasHigh },
			codec: integerOf(func(ev *event.Event) *uint64 { return &smp(ev).HighBytes })},
		field{text: "mem_total_bytes", json: "mem_total_bytes", has: node,
			codec: integerOf(func(ev *event.Event) *uint64 { return &smp(ev).MemTotalBytes })},
		field{text: "mem_available_bytes", json: "mem_available_bytes", has: node,
			codec: integerOf(func(ev *event.Event) *uint64 { return &smp(ev).MemAvailableBytes })},
		float("psi_some_avg10", func(ev *event.Event) *float64 { return &smp(ev).SomeAvg10 }),
		float("psi_full_avg10", func(ev *event.Event) *float64 { return &smp(ev).FullAvg10 }),
		field{text: "psi_some_total_ns", json: "psi_some_total_ns", flag: hasPressure,
			codec: integerOf(func(ev *event.Event) *time.Duration { return &smp(ev).SomeTotal })},
		field{text: "psi_full_total_ns", json: "psi_full_total_ns", flag: hasPressure,
			codec: integerOf(func(ev *event.Event) *time.Duration { return &smp(ev).FullTotal })},
	)
}

func evictionFields() []field {
	e := func(ev *event.Event) *event.Eviction { return &ev.Eviction }
	str := func(name string, get func(*event.Eviction) *string) field {
		return field{text: name, json: name,
			has:   func(ev *event.Event) bool { return *get(e(ev)) != "" },
			codec: stringCodec{func(ev *event.Event) *string { return get(e(ev)) }}}
	}
	return []field{
		str("namespace", func(x *event.Eviction) *string { return &x.Pod.Namespace }),
		str("pod", func(x *event.Eviction) *string { return &x.Pod.PodName }),
		str("pod_uid", func(x *event.Eviction) *string { return &x.Pod.PodUID }),
		str("resource", func(x *event.Eviction) *string { return &x.Resource }),
		str("threshold", func(x *event.Eviction) *string { return &x.Threshold }),
		str("available", func(x *event.Eviction) *string { return &x.Available }),
		str("message", func(x *event.Eviction) *string { return &x.Message }),
		{text: "evicted", json: "evicted",
			has:   func(ev *event.Event) bool { return e(ev).Succeeded },
			codec: bare[boolCodec]{boolCodec{func(ev *event.Event) *bool { return &e(ev).Succeeded }}}},
		str("why", func(x *event.Eviction) *string { return &x.Why }),
	}
}

// andHas is a has function true when both are (nil counts as true).
func andHas(a, b func(*event.Event) bool) func(*event.Event) bool {
	if b == nil {
		return a
	}
	return func(ev *event.Event) bool { return a(ev) && b(ev) }
}
