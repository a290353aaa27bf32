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
	// when and meaning document the key: the key tables of
	// docs/output-format.md are made from them (TestKeyTables).
	when, meaning string
	// group, when set, is the set of keys this one is of, documented in a
	// table of its own (a cgroup's keys, an owner's, the snapshot's); the
	// event's table names the set once, as the instance says.
	group *instance
	// jsonObject and jsonKey are json split by init, once: the JSON parser
	// looks them up for every key of every line.
	jsonObject, jsonKey string
	// What the writers put before the value, made by init, once:
	// ` text=` and `"jsonKey":`, and `,"jsonObject":{` that opens the
	// object.
	textPrefix, jsonPrefix, jsonOpen string
	// gate, set on the first key of a block of keys (a cgroup's, an
	// owner's, the snapshot's, the report's), is false whenever the event
	// has none of the block's gateLen keys: the writers then skip the
	// block without asking each key, which most events make them do for
	// most blocks. Each key still decides for itself when the gate is
	// open.
	gate    func(*event.Event) bool
	gateLen int
	// unconditional, set by init, says the key is written for every event
	// of its kind whatever the options: the writers' walk asks nothing
	// more of it.
	unconditional bool
}

// instance is one use of a set of keys in an event: a cgroup, the owner of
// one, the snapshot.
type instance struct {
	set *keySet
	// text and json are what the keys' names start with here: "victim.cgroup"
	// and "victim.cgroup", or "victim." and "victim_container.".
	text, json string
	// when and meaning say when this instance is written and what it is.
	when, meaning string
}

// keySet is a set of keys several events or cgroups share, documented once.
type keySet struct {
	name string // the heading of its table: "Cgroup keys"
	// text and json stand for an instance's names in the table: "*C*";
	// empty for a set used once, whose keys the table names whole.
	text, json string
}

var (
	cgroupKeys   = &keySet{"Cgroup keys", "*C*", "*C*"}
	ownerKeys    = &keySet{"Container keys", "*P*", "*O*"}
	snapshotKeys = &keySet{"Snapshot keys", "", ""}
	reportKeys   = &keySet{"Kernel report keys", "", ""}
)

// gated makes fields one block, skipped as a whole where gate is false:
// gate must be false only for events that have none of the keys.
func gated(gate func(*event.Event) bool, fields []field) []field {
	fields[0].gate, fields[0].gateLen = gate, len(fields)
	return fields
}

// in marks fields as keys of set, used as inst says.
func in(set *keySet, inst instance, fields []field) []field {
	inst.set = set
	for i := range fields {
		g := inst
		fields[i].group = &g
	}
	return fields
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

// nextWritten returns the index of the first of fields[i:] written for ev,
// or len(fields): the writers' walk over a kind's keys.
func nextWritten(fields []field, i int, ev *event.Event, opts *Options) int {
	for i < len(fields) {
		f := &fields[i]
		switch {
		case f.unconditional:
			return i
		case f.gate != nil && !f.gate(ev):
			i += f.gateLen
		case f.written(ev, opts):
			return i
		default:
			i++
		}
	}
	return len(fields)
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
				f.jsonOpen = `,"` + object + `":{`
			} else {
				f.jsonKey = f.json
			}
			f.textPrefix = " " + f.text + "="
			f.jsonPrefix = `"` + f.jsonKey + `":`
			f.unconditional = f.gate == nil && f.flag == nil && f.has == nil && f.missing == 0 && f.option == always
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
	event.KindOOMSnapshot:  oomSnapshotFields(),
	event.KindOOMReport:    oomReportFields(),
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
	return bare[integerCodec[T]]{integerCodec[T]{atOf(get)}}
}

// taskFields are the keys of a task: prefix.pid, prefix.tgid, prefix.comm.
func taskFields(prefix, who string, task func(*event.Event) *event.Task) []field {
	return optionalTaskFields(prefix, who, task, 0, 0)
}

// optionalTaskFields are taskFields of a task whose source may not have
// seen it (missing: then none of its keys is written) or its process id
// (missingTGID: then tgid is not).
//
// who says whose task it is, for the documentation: "the killed thread".
func optionalTaskFields(prefix, who string, task func(*event.Event) *event.Task, missing, missingTGID event.Missing) []field {
	when := func(m event.Missing) string {
		switch {
		case m&(event.MissingTrigger|event.MissingTriggerTGID) == event.MissingTrigger|event.MissingTriggerTGID:
			return "the log names the task's process"
		case m&event.MissingTrigger != 0:
			return "the log names the task"
		case m != 0:
			return "the log names the process"
		}
		return "always"
	}
	return []field{
		{text: prefix + ".pid", json: prefix + ".pid", missing: missing, when: when(missing), meaning: who + ": the thread id",
			codec: integerOf(func(ev *event.Event) *uint32 { return &task(ev).PID })},
		{text: prefix + ".tgid", json: prefix + ".tgid", missing: missing | missingTGID, when: when(missing | missingTGID), meaning: "its process id",
			codec: integerOf(func(ev *event.Event) *uint32 { return &task(ev).TGID })},
		{text: prefix + ".comm", json: prefix + ".comm", missing: missing, when: when(missing), meaning: "its name",
			codec: stringCodec{atOf(func(ev *event.Event) *string { return &task(ev).Comm })}},
	}
}

// cgroupFields are the keys of a cgroup, all absent when the event has no
// such cgroup. Usage and limit are absent when both are zero: the kernel
// side did not read them (reclaim_stats carries path and id only).
func cgroupFields(text, json, usageJSON, limitJSON, meaning string, cgroup func(*event.Event) *event.Cgroup) []field {
	return cgroupFieldsOf(text, json, usageJSON, limitJSON, meaning, cgroup, 0)
}

// cgroupFieldsOf are cgroupFields whose id a source may not have seen:
// missingID is event.MissingCgroupIDs for the kinds a kernel log holds.
func cgroupFieldsOf(text, json, usageJSON, limitJSON, meaning string, cgroup func(*event.Event) *event.Cgroup, missingID event.Missing) []field {
	cg := atOf(cgroup)
	valid := func(ev *event.Event) bool { return cg.in(ev).Valid() }
	measured := func(ev *event.Event) bool { return cg.in(ev).Measured() }
	truncated := func(ev *event.Event) bool {
		c := cg.in(ev)
		return c.Valid() && c.Truncated
	}
	idWhen := "always"
	if missingID != 0 {
		idWhen = "always but from a kernel log, which names cgroups by path"
	}
	return in(cgroupKeys, instance{text: text, json: json, when: "see cgroup keys", meaning: meaning}, gated(valid, []field{
		{text: text, json: json, has: valid, when: "always", meaning: "path from the cgroup root, quoted (`\"/kubepods/burstable/pod1\"`)",
			codec: stringCodec{atOf(func(ev *event.Event) *string { return &cgroup(ev).Path })}},
		{text: text + ".id", json: json + "_id", has: valid, missing: missingID, when: idWhen, meaning: "cgroup id: the cgroup directory's inode number",
			codec: integerOf(func(ev *event.Event) *uint64 { return &cgroup(ev).ID })},
		{text: text + ".usage_bytes", json: usageJSON, has: measured, when: "usage or limit non-zero", meaning: "memory usage when the event happened",
			codec: integerOf(func(ev *event.Event) *uint64 { return &cgroup(ev).UsageBytes })},
		{text: text + ".limit_bytes", json: limitJSON, has: measured, when: "usage or limit non-zero", meaning: "hard limit (`max` / `null`: none)",
			codec: limitCodec{atOf(func(ev *event.Event) *uint64 { return &cgroup(ev).LimitBytes })}},
		{text: text + ".truncated", json: json + "_truncated", has: truncated, when: "path truncated",
			meaning: "`true`: the path was too deep or long to capture whole. A path starting with `/` lost the end of its leaf; one without the leading `/` lies deeper than 16 levels and holds only the 16 deepest components, and no owner is named for it",
			codec:   bare[boolCodec]{boolCodec{atOf(func(ev *event.Event) *bool { return &cgroup(ev).Truncated })}}},
	}))
}

// containerFields are the keys of who a cgroup belongs to: text keys
// prefix.namespace, prefix.pod, … (or bare ones for an empty prefix), JSON
// keys in the object named object. Each is written when known.
func containerFields(prefix, object, meaning string, cgroup func(*event.Event) *event.Cgroup) []field {
	info := atOf(func(ev *event.Event) *event.Owner { return &cgroup(ev).Owner })
	text := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	key := func(textName, jsonName, meaning string, get func(*event.Event) *string) field {
		value := atOf(get)
		return field{text: text(textName), json: object + "." + jsonName, when: "known", meaning: meaning,
			has:   func(ev *event.Event) bool { return *value.in(ev) != "" },
			codec: stringCodec{value}}
	}
	textBase := ""
	if prefix != "" {
		textBase = prefix + "."
	}
	named := func(ev *event.Event) bool { return !info.in(ev).IsZero() }
	return in(ownerKeys, instance{text: textBase, json: object, when: "see container keys", meaning: meaning}, gated(named, []field{
		key("namespace", "namespace", "the pod's namespace (from `/var/log/pods`)", func(ev *event.Event) *string { return &info.in(ev).Namespace }),
		key("pod", "pod_name", "the pod's name (from `/var/log/pods`)", func(ev *event.Event) *string { return &info.in(ev).PodName }),
		key("pod_uid", "pod_uid", "the pod's UID, with dashes", func(ev *event.Event) *string { return &info.in(ev).PodUID }),
		key("container", "name", "the container's name (from the kubelet's `/var/log/containers` links, Docker or Podman)", func(ev *event.Event) *string { return &info.in(ev).Name }),
		key("container_id", "id", "the container's ID, 64 hex digits", func(ev *event.Event) *string { return &info.in(ev).ID }),
		key("runtime", "runtime", "`containerd`, `cri-o`, `docker`, `podman`", func(ev *event.Event) *string { return (*string)(&info.in(ev).Runtime) }),
		key("qos", "qos", "the pod's QoS class: `guaranteed`, `burstable`, `besteffort`", func(ev *event.Event) *string { return (*string)(&info.in(ev).QoS) }),
		key("level", "level", "which level the cgroup is: `container`, `pod`, `qos`, `kubepods`, `monitor` (conmon)", func(ev *event.Event) *string { return (*string)(&info.in(ev).Level) }),
		key("unit", "unit", "the innermost systemd unit of a cgroup outside containers and pods", func(ev *event.Event) *string { return &info.in(ev).Unit }),
		key("user", "user", "the uid of the user slice the cgroup is in", func(ev *event.Event) *string { return &info.in(ev).User }),
	}))
}

// processFields are the keys of a process an event names besides its
// victim and its task: text prefix.pid and prefix.comm, JSON keys in the
// object named object, written when its pid is known (when says when
// that is).
func processFields(prefix, object, when, meaning string, task func(*event.Event) *event.Task) []field {
	process := atOf(task)
	known := func(ev *event.Event) bool { return process.in(ev).TGID != 0 }
	return []field{
		{text: prefix + ".pid", json: object + ".pid", when: when, meaning: meaning, has: known,
			codec: integerOf(func(ev *event.Event) *uint32 { return &task(ev).TGID })},
		{text: prefix + ".comm", json: object + ".comm", when: "with `" + prefix + ".pid`", meaning: "its name", has: known,
			codec: stringCodec{atOf(func(ev *event.Event) *string { return &task(ev).Comm })}},
	}
}

// gfpFields are gfp_mask, gfp_flags and order; flag, when set, is the
// event's flag saying it has them, and when says when the event has them.
func gfpFields(when string, mask func(*event.Event) *uint32, order func(*event.Event) *int32, flag func(*event.Event) *bool) []field {
	return []field{
		{text: "gfp_mask", json: "gfp_mask", flag: flag, when: when, meaning: "allocation flags", codec: hexCodec{atOf(mask)}},
		{text: "gfp_flags", json: "gfp_flags", flag: flag, option: withGFPNames, when: "with `gfp_mask`, if oomtrace names flags",
			meaning: "`gfp_mask` as flag names", codec: gfpNamesCodec{atOf(mask)}},
		{text: "order", json: "order", flag: flag, when: when, meaning: "allocation order (-1 for sysrq-f)", codec: integerOf(order)},
	}
}

func reclaimKindField(kind func(*event.Event) *event.ReclaimKind) field {
	return field{text: "reclaim", json: "reclaim", when: "always", meaning: "`direct`, `memcg` or `softlimit`",
		codec: enumCodec[event.ReclaimKind]{atOf(kind), event.ParseReclaimKind}}
}

func durationField(name, meaning string, d func(*event.Event) *time.Duration) field {
	return field{text: name, json: name, when: "always", meaning: meaning, codec: integerOf(d)}
}

func oomKillFields() []field {
	kill := func(ev *event.Event) *event.OOMKill { return &ev.OOMKill }
	victim := func(ev *event.Event) *event.Victim { return &ev.OOMKill.Victim }
	hasUID := func(ev *event.Event) *bool { return &victim(ev).HasUID }
	hasMM := func(ev *event.Event) *bool { return &victim(ev).HasMM }
	hasGFP := func(ev *event.Event) *bool { return &kill(ev).HasGFP }
	hasControl := func(ev *event.Event) *bool { return &kill(ev).HasControl }
	kb := func(name string, missing event.Missing, when, meaning string, get func(*event.Event) *uint64) field {
		return field{text: "victim." + name, json: "victim." + name, flag: hasMM, missing: missing, when: when, meaning: meaning, codec: integerOf(get)}
	}
	const hadMemory = "victim had memory"
	fields := []field{
		{text: "class", json: "class", when: "always",
			meaning: "the limit enforced: `memcg`, `global`, `cpuset`, `mempolicy`, `sysrq`, `unknown`",
			codec:   enumCodec[event.Class]{atOf(func(ev *event.Event) *event.Class { return &kill(ev).Class }), event.ParseClass}},
		{text: "mode", json: "mode", when: "always",
			meaning: "how the kill was seen: `fentry`, `kprobe`, `tracepoint`, or `kmsg` (read from the kernel log)",
			codec:   enumCodec[event.Mode]{atOf(func(ev *event.Event) *event.Mode { return &kill(ev).Mode }), event.ParseMode}},
	}
	fields = append(fields, optionalTaskFields("victim", "the killed task", func(ev *event.Event) *event.Task { return &victim(ev).Task }, 0, event.MissingVictimTGID)...)
	fields = append(fields,
		field{text: "victim.uid", json: "victim.uid", flag: hasUID, when: "the source gave it",
			meaning: "its uid (not with the old `mark_victim(int pid)` tracepoint, nor in a kernel log before 5.3 without a task table)",
			codec:   integerOf(func(ev *event.Event) *uint32 { return &victim(ev).UID })},
		field{text: "victim.oom_score_adj", json: "victim.oom_score_adj", missing: event.MissingVictimAdj, when: "the source gave it",
			meaning: "-1000 to 1000 (a kernel log before 5.10 without a task table has none)",
			codec:   integerOf(func(ev *event.Event) *int16 { return &victim(ev).OOMScoreAdj })},
		kb("rss_anon_kb", 0, hadMemory, "anonymous RSS, kB", func(ev *event.Event) *uint64 { return &victim(ev).RSSAnonKB }),
		kb("rss_file_kb", 0, hadMemory, "file RSS, kB", func(ev *event.Event) *uint64 { return &victim(ev).RSSFileKB }),
		kb("rss_shmem_kb", event.MissingVictimShmem, hadMemory+" (and a kernel log of 4.6 or later)", "shmem RSS, kB", func(ev *event.Event) *uint64 { return &victim(ev).RSSShmemKB }),
		kb("total_vm_kb", 0, hadMemory, "virtual size, kB", func(ev *event.Event) *uint64 { return &victim(ev).TotalVMKB }),
		kb("pgtables_kb", event.MissingVictimPgtables, hadMemory+" (and a kernel log of 5.10 or later, or its task table)", "page tables, kB", func(ev *event.Event) *uint64 { return &victim(ev).PgtablesKB }),
	)
	victimCgroup := func(ev *event.Event) *event.Cgroup { return &victim(ev).Cgroup }
	fields = append(fields, cgroupFieldsOf("victim.cgroup", "victim.cgroup", "victim.cgroup_usage_bytes", "victim.cgroup_limit_bytes", "the victim's memory cgroup", victimCgroup, event.MissingCgroupIDs)...)
	fields = append(fields, containerFields("victim", "victim_container", "who the victim's cgroup belongs to", victimCgroup)...)
	fields = append(fields, optionalTaskFields("trigger", "the thread whose allocation ran into the OOM (often not the victim)", func(ev *event.Event) *event.Task { return &kill(ev).Trigger }, event.MissingTrigger, event.MissingTriggerTGID)...)
	triggerCgroup := func(ev *event.Event) *event.Cgroup { return &kill(ev).TriggerCgroup }
	fields = append(fields, cgroupFieldsOf("trigger.cgroup", "trigger.cgroup", "trigger.cgroup_usage_bytes", "trigger.cgroup_limit_bytes", "its memory cgroup", triggerCgroup, event.MissingCgroupIDs)...)
	fields = append(fields, containerFields("trigger", "trigger_container", "who it belongs to", triggerCgroup)...)
	oomCgroup := func(ev *event.Event) *event.Cgroup { return &kill(ev).OOMCgroup }
	fields = append(fields, cgroupFieldsOf("oom_cgroup", "oom_cgroup", "memcg_usage_bytes", "memcg_limit_bytes", "memcg OOMs: the cgroup whose limit was hit, often an ancestor of the victim's", oomCgroup, event.MissingCgroupIDs)...)
	fields = append(fields, containerFields("oom", "oom_container", "who the OOM cgroup belongs to", oomCgroup)...)
	fields = append(fields, gfpFields("fentry/kprobe mode, or the log's header line",
		func(ev *event.Event) *uint32 { return &kill(ev).GFPMask },
		func(ev *event.Event) *int32 { return &kill(ev).Order },
		hasGFP)...)
	fields = append(fields,
		field{text: "points", json: "points", flag: hasControl, when: "fentry/kprobe mode",
			meaning: "the victim's badness, in pages (0 for extra `memory.oom.group` victims)",
			codec:   integerOf(func(ev *event.Event) *int64 { return &kill(ev).Points })},
		field{text: "totalpages", json: "totalpages", flag: hasControl, when: "fentry/kprobe mode",
			meaning: "the memory the OOM was judged against, in pages: **not** the victim's size",
			codec:   integerOf(func(ev *event.Event) *uint64 { return &kill(ev).TotalPages })},
		field{text: "victim_exiting", json: "victim_exiting", when: "true",
			meaning: "the victim was already exiting: no SIGKILL was sent",
			has:     func(ev *event.Event) bool { return kill(ev).VictimExiting },
			codec:   bare[boolCodec]{boolCodec{atOf(func(ev *event.Event) *bool { return &kill(ev).VictimExiting })}}},
	)
	chosen := func(ev *event.Event) *event.Task { return &kill(ev).ChosenParent }
	fields = append(fields, processFields("chosen", "chosen", "a kernel log before 5.0 says the OOM chose another process",
		"the process the OOM chose (\"Kill process P score S or sacrifice child\"), when the kernel killed a child of it, the victim, in its place", chosen)...)
	fields = append(fields,
		field{text: "chosen.score", json: "chosen.score", when: "with `chosen.pid`",
			meaning: "its score, as the kernel printed it",
			has:     func(ev *event.Event) bool { return chosen(ev).TGID != 0 },
			codec:   integerOf(func(ev *event.Event) *uint64 { return &kill(ev).ChosenScore })},
		field{text: "oom_group", json: "oom_group", when: "the kernel log said so",
			meaning: "the cgroup with `memory.oom.group` set whose tasks were killed together, this one among them",
			has:     func(ev *event.Event) bool { return kill(ev).Group.Valid() },
			codec:   stringCodec{atOf(func(ev *event.Event) *string { return &kill(ev).Group.Path })}},
		field{text: "log_time", json: "log_time", when: "a kernel log's kill with no other time",
			meaning: "the time as the log wrote it, where it gives none that places the kill and no time since boot (no year: `journalctl -k` by default, syslog files; `dmesg -T` in another locale): `\"Dec  2 23:07:36\"`",
			has:     func(ev *event.Event) bool { return kill(ev).LogTime != "" },
			codec:   stringCodec{atOf(func(ev *event.Event) *string { return &kill(ev).LogTime })}},
		field{text: "replayed", json: "replayed", when: "true",
			meaning: "the kill was read from the kernel log of before tracing began (`--since-boot`), not seen as it happened",
			has:     func(ev *event.Event) bool { return kill(ev).Replayed },
			codec:   bare[boolCodec]{boolCodec{atOf(func(ev *event.Event) *bool { return &kill(ev).Replayed })}}},
		field{text: "stack", json: "stack", option: withStacks, when: "if stacks are asked for",
			meaning: "kernel stack at the kill, innermost first",
			has:     func(ev *event.Event) bool { return len(kill(ev).Stack) > 0 },
			codec:   stackCodec{atOf(func(ev *event.Event) *[]string { return &kill(ev).Stack })}},
	)
	fields = append(fields, processFields("victim.main", "victim_main", "a live kill in a container whose main process was found",
		"the pid of the main process of the victim's container (PID 1 of its own PID namespace), found in the victim's cgroup right after the kill: the victim itself, or a process that lives on",
		func(ev *event.Event) *event.Task { return &kill(ev).VictimMain })...)
	fields = append(fields,
		field{text: "why", json: "why", when: "when explained",
			meaning: "one sentence for people: who was killed, which limit was reached, with the numbers that matter",
			has:     func(ev *event.Event) bool { return kill(ev).Why != "" },
			codec:   stringCodec{atOf(func(ev *event.Event) *string { return &kill(ev).Why })}},
	)
	fields = append(fields, snapshotFields(func(ev *event.Event) *event.Snapshot { return &kill(ev).Snapshot },
		func(ev *event.Event) *bool { return &kill(ev).HasSnapshot },
		"a log of an oomtrace that wrote the snapshot into the kill's line, read back")...)
	return append(fields, reportFields(func(ev *event.Event) *event.KernelReport { return &kill(ev).Report },
		"a kill read from the kernel log (the first victim of a report)")...)
}

// reportFields are the keys of what the kernel's report in its log says
// beyond the kill: text report.*, JSON object report, written when the
// report has any of it (when says when that is).
func reportFields(rep func(*event.Event) *event.KernelReport, when string) []field {
	bytesOf := func(name, when, meaning string, flag func(*event.KernelReport) *bool, get func(*event.KernelReport) *uint64) field {
		return field{text: "report." + name, json: "report." + name, when: when, meaning: meaning,
			flag:  func(ev *event.Event) *bool { return flag(rep(ev)) },
			codec: integerOf(func(ev *event.Event) *uint64 { return get(rep(ev)) })}
	}
	const (
		memInfo  = "the report has `Mem-Info` (every OOM but a memcg one)"
		swapSeen = "the report shows the swap"
		stats    = "the report has the memcg's statistics"
		counter  = "the report has the memcg's memory+swap (v1) or swap (v2) line"
	)
	node := func(r *event.KernelReport) *bool { return &r.HasNode }
	swap := func(r *event.KernelReport) *bool { return &r.HasSwap }
	memcg := func(r *event.KernelReport) *bool { return &r.HasMemcg }
	memcgSwap := func(r *event.KernelReport) *bool { return &r.HasMemcgSwap }
	reported := func(ev *event.Event) bool {
		r := rep(ev)
		return r.HasNode || r.HasSwap || r.HasMemcg || r.HasMemcgSwap || r.HasFreeLists || r.TaskCount > 0 || r.NumTasks > 0
	}
	return in(reportKeys, instance{text: "report", json: "report", when: when,
		meaning: "what the kernel's report says beyond the kill: where the memory was"}, gated(reported, []field{
		bytesOf("anon_bytes", memInfo, "anonymous memory of the node (active and inactive)", node, func(r *event.KernelReport) *uint64 { return &r.AnonBytes }),
		bytesOf("file_bytes", memInfo, "page cache of the node", node, func(r *event.KernelReport) *uint64 { return &r.FileBytes }),
		bytesOf("shmem_bytes", memInfo, "shared memory and tmpfs", node, func(r *event.KernelReport) *uint64 { return &r.ShmemBytes }),
		bytesOf("slab_reclaimable_bytes", memInfo, "kernel slab memory that can be reclaimed", node, func(r *event.KernelReport) *uint64 { return &r.SlabReclaimableBytes }),
		bytesOf("slab_unreclaimable_bytes", memInfo, "kernel slab memory that cannot", node, func(r *event.KernelReport) *uint64 { return &r.SlabUnreclaimBytes }),
		bytesOf("free_bytes", memInfo, "free memory", node, func(r *event.KernelReport) *uint64 { return &r.FreeBytes }),
		bytesOf("min_free_bytes", memInfo, "the zones' min watermarks summed: free memory below it is the kernel's reserve", node, func(r *event.KernelReport) *uint64 { return &r.MinFreeBytes }),
		bytesOf("swap_free_bytes", swapSeen, "free swap", swap, func(r *event.KernelReport) *uint64 { return &r.SwapFreeBytes }),
		bytesOf("swap_total_bytes", swapSeen, "all swap (0: none)", swap, func(r *event.KernelReport) *uint64 { return &r.SwapTotalBytes }),
		{text: "report.free_by_order", json: "report.free_by_order", when: "the report has free lists with a free block",
			meaning: "free memory in bytes by block order (4 KiB << order), as `hist_us`: what an order-N allocation could have had",
			flag:    func(ev *event.Event) *bool { return &rep(ev).HasFreeLists },
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
		bytesOf("memcg_anon_bytes", stats, "the OOM cgroup's anonymous memory at the kill", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgAnonBytes }),
		bytesOf("memcg_file_bytes", stats, "its page cache", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgFileBytes }),
		bytesOf("memcg_kernel_bytes", stats, "its kernel memory (which counts toward the limit)", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgKernelBytes }),
		bytesOf("memcg_shmem_bytes", stats, "its shared memory", memcg, func(r *event.KernelReport) *uint64 { return &r.MemcgShmemBytes }),
		bytesOf("memcg_swap_usage_bytes", counter, "memory+swap (v1) or swap (v2) in use", memcgSwap, func(r *event.KernelReport) *uint64 { return &r.MemcgSwapUsageBytes }),
		{text: "report.memcg_swap_limit_bytes", json: "report.memcg_swap_limit_bytes", when: counter,
			meaning: "its limit (`max` / `null`: none)",
			flag:    func(ev *event.Event) *bool { return &rep(ev).HasMemcgSwap },
			codec:   limitCodec{atOf(func(ev *event.Event) *uint64 { return &rep(ev).MemcgSwapLimitBytes })}},
		{text: "report.task_count", json: "report.task_count", when: "the report has a task table",
			meaning: "the rows of the report's task table",
			has:     func(ev *event.Event) bool { return rep(ev).TaskCount > 0 },
			codec:   integerOf(func(ev *event.Event) *int { return &rep(ev).TaskCount })},
		{text: "report.tasks", json: "report.tasks", when: "the report has a task table",
			meaning: "its largest tasks by resident memory, largest first: in text `pid:tgid:uid:rss_bytes:swap_bytes:oom_score_adj:comm` joined by `,` (a `,` in a comm written `\\x2c`), in JSON an array of objects with those keys",
			has:     func(ev *event.Event) bool { return rep(ev).NumTasks > 0 },
			codec:   tasksCodec{atOf(rep)}},
	}))
}

// snapshotFields are the keys of the memory snapshot after a kill: text
// snapshot="ok" and snapshot.*, JSON object snapshot. Each value is written
// when it was read; the snapshot itself when flag, if not nil, is set
// (when says when that is).
func snapshotFields(snap func(*event.Event) *event.Snapshot, flag func(*event.Event) *bool, when string) []field {
	mask := func(ev *event.Event) *event.SnapshotField { return &snap(ev).Fields }
	value := func(name, meaning string, bit event.SnapshotField, c codec) field {
		return field{text: "snapshot." + name, json: "snapshot." + name, flag: flag, when: "read", meaning: meaning,
			has:   func(ev *event.Event) bool { return snap(ev).Has(bit) },
			codec: bitCodec{codec: c, mask: atOf(mask), bit: bit}}
	}
	count := func(name, meaning string, bit event.SnapshotField, get func(*event.Snapshot) *uint64) field {
		return value(name, meaning, bit, integerOf(func(ev *event.Event) *uint64 { return get(snap(ev)) }))
	}
	limit := func(name, meaning string, bit event.SnapshotField, get func(*event.Snapshot) *uint64) field {
		return value(name, meaning, bit, limitCodec{atOf(func(ev *event.Event) *uint64 { return get(snap(ev)) })})
	}
	pressure := func(prefix, whose string, bit event.SnapshotField, get func(*event.Snapshot) *event.Pressure) []field {
		avg := func(name, meaning string, line func(*event.Pressure) *event.PressureLine) field {
			return value(prefix+name, meaning, bit, bare[floatCodec]{floatCodec{atOf(func(ev *event.Event) *float64 { return &line(get(snap(ev))).Avg10 })}})
		}
		return []field{
			avg("some_avg10", whose+" memory pressure: percent of the last 10 s in which some task stalled", func(p *event.Pressure) *event.PressureLine { return &p.Some }),
			avg("full_avg10", "the same, all tasks at once", func(p *event.Pressure) *event.PressureLine { return &p.Full }),
		}
	}
	fields := []field{
		{text: "snapshot", json: "snapshot.status", flag: flag, when: "a snapshot was taken",
			meaning: "`ok`, `cgroup removed`, `timed out` or `failed`",
			codec:   snapshotStatusCodec{atOf(func(ev *event.Event) *event.SnapshotStatus { return &snap(ev).Status })}},
		{text: "snapshot.cgroup_version", json: "snapshot.cgroup_version", flag: flag, when: "known",
			meaning: "1 or 2",
			has:     func(ev *event.Event) bool { return snap(ev).Version != 0 },
			codec:   integerOf(func(ev *event.Event) *int { return &snap(ev).Version })},
		{text: "snapshot.reason", json: "snapshot.reason", flag: flag, when: "failed",
			meaning: "why",
			has:     func(ev *event.Event) bool { return snap(ev).Reason != "" },
			codec:   stringCodec{atOf(func(ev *event.Event) *string { return &snap(ev).Reason })}},
		count("anon_bytes", "memory.stat anon (v1: total_rss)", event.SnapAnon, func(s *event.Snapshot) *uint64 { return &s.Anon }),
		count("file_bytes", "memory.stat file (v1: total_cache)", event.SnapFile, func(s *event.Snapshot) *uint64 { return &s.File }),
		count("shmem_bytes", "memory.stat shmem", event.SnapShmem, func(s *event.Snapshot) *uint64 { return &s.Shmem }),
		count("kernel_bytes", "memory.stat kernel (v1: the kmem usage)", event.SnapKernel, func(s *event.Snapshot) *uint64 { return &s.Kernel }),
		count("slab_bytes", "memory.stat slab", event.SnapSlab, func(s *event.Snapshot) *uint64 { return &s.Slab }),
		count("workingset_refault_anon", "pages refaulted after reclaim evicted them: thrashing", event.SnapWorkingsetRefaultAnon, func(s *event.Snapshot) *uint64 { return &s.WorkingsetRefaultAnon }),
		count("workingset_refault_file", "the same, of files", event.SnapWorkingsetRefaultFile, func(s *event.Snapshot) *uint64 { return &s.WorkingsetRefaultFile }),
		limit("high_bytes", "memory.high (`max` / `null`: none)", event.SnapHigh, func(s *event.Snapshot) *uint64 { return &s.HighBytes }),
		limit("swap_limit_bytes", "the swap the cgroup may use", event.SnapSwapLimit, func(s *event.Snapshot) *uint64 { return &s.SwapLimitBytes }),
		count("swap_bytes", "the swap in use", event.SnapSwap, func(s *event.Snapshot) *uint64 { return &s.SwapBytes }),
		count("events_high", "memory.events high", event.SnapEventsHigh, func(s *event.Snapshot) *uint64 { return &s.EventsHigh }),
		count("events_max", "memory.events max", event.SnapEventsMax, func(s *event.Snapshot) *uint64 { return &s.EventsMax }),
		count("events_oom", "memory.events oom", event.SnapEventsOOM, func(s *event.Snapshot) *uint64 { return &s.EventsOOM }),
		count("events_oom_kill", "memory.events oom_kill (v1: memory.oom_control's)", event.SnapEventsOOMKill, func(s *event.Snapshot) *uint64 { return &s.EventsOOMKill }),
		count("failcnt", "v1 memory.failcnt", event.SnapFailcnt, func(s *event.Snapshot) *uint64 { return &s.Failcnt }),
	}
	fields = append(fields, pressure("psi_", "the cgroup's", event.SnapPressure, func(s *event.Snapshot) *event.Pressure { return &s.Pressure })...)
	fields = append(fields, pressure("node_psi_", "the node's", event.SnapNodePressure, func(s *event.Snapshot) *event.Pressure { return &s.NodePressure })...)
	if flag != nil {
		fields = gated(func(ev *event.Event) bool { return *flag(ev) }, fields)
	}
	return in(snapshotKeys, instance{text: "snapshot", json: "snapshot", when: when,
		meaning: "the OOM cgroup's memory state read from user space right after the kill"}, fields)
}

// followedKillFields are the keys of an event that follows a kill, which
// say which kill it follows: its ktime_ns, its class, its victim with the
// victim's cgroup, and its OOM cgroup (oomMeaning says what of it).
func followedKillFields(what string, ktime func(*event.Event) *uint64, class func(*event.Event) *event.Class, victim func(*event.Event) *event.Task,
	victimCgroup, oomCgroup func(*event.Event) *event.Cgroup, oomMeaning string) []field {
	fields := []field{
		{text: "kill_ktime_ns", json: "kill_ktime_ns", when: "always",
			meaning: "the `ktime_ns` of the kill this " + what + " follows",
			codec:   integerOf(ktime)},
		{text: "class", json: "class", when: "always",
			meaning: "the kill's class",
			codec:   enumCodec[event.Class]{atOf(class), event.ParseClass}},
	}
	fields = append(fields, taskFields("victim", "the kill's victim", victim)...)
	fields = append(fields, cgroupFields("victim.cgroup", "victim.cgroup", "victim.cgroup_usage_bytes", "victim.cgroup_limit_bytes", "the victim's memory cgroup", victimCgroup)...)
	fields = append(fields, containerFields("victim", "victim_container", "who the victim's cgroup belongs to", victimCgroup)...)
	fields = append(fields, cgroupFields("oom_cgroup", "oom_cgroup", "memcg_usage_bytes", "memcg_limit_bytes", oomMeaning, oomCgroup)...)
	return append(fields, containerFields("oom", "oom_container", "who the OOM cgroup belongs to", oomCgroup)...)
}

func oomSnapshotFields() []field {
	snap := func(ev *event.Event) *event.OOMSnapshot { return &ev.OOMSnapshot }
	fields := followedKillFields("snapshot",
		func(ev *event.Event) *uint64 { return &snap(ev).KillKtimeNS },
		func(ev *event.Event) *event.Class { return &snap(ev).Class },
		func(ev *event.Event) *event.Task { return &snap(ev).Victim },
		func(ev *event.Event) *event.Cgroup { return &snap(ev).VictimCgroup },
		func(ev *event.Event) *event.Cgroup { return &snap(ev).OOMCgroup },
		"memcg OOMs: the cgroup whose limit was hit, the one read")
	fields = append(fields, snapshotFields(func(ev *event.Event) *event.Snapshot { return &snap(ev).Snapshot }, nil, "always")...)
	return append(fields, field{text: "why", json: "why", when: "when explained",
		meaning: "what the snapshot tells about the kill, for people",
		has:     func(ev *event.Event) bool { return snap(ev).Why != "" },
		codec:   stringCodec{atOf(func(ev *event.Event) *string { return &snap(ev).Why })}})
}

func oomReportFields() []field {
	rep := func(ev *event.Event) *event.OOMReport { return &ev.OOMReport }
	fields := followedKillFields("report",
		func(ev *event.Event) *uint64 { return &rep(ev).KillKtimeNS },
		func(ev *event.Event) *event.Class { return &rep(ev).Class },
		func(ev *event.Event) *event.Task { return &rep(ev).Victim },
		func(ev *event.Event) *event.Cgroup { return &rep(ev).VictimCgroup },
		func(ev *event.Event) *event.Cgroup { return &rep(ev).OOMCgroup },
		"memcg OOMs: the cgroup whose limit was hit")
	fields = append(fields, gfpFields("the report's header line (rate limited by the kernel) is in the log",
		func(ev *event.Event) *uint32 { return &rep(ev).GFPMask },
		func(ev *event.Event) *int32 { return &rep(ev).Order },
		func(ev *event.Event) *bool { return &rep(ev).HasGFP })...)
	fields = append(fields, reportFields(func(ev *event.Event) *event.KernelReport { return &rep(ev).Report },
		"the log has the report's lines before the kill (the first victim of a report)")...)
	return append(fields, field{text: "why", json: "why", when: "when explained",
		meaning: "what the kernel's report tells about the kill, for people",
		has:     func(ev *event.Event) bool { return rep(ev).Why != "" },
		codec:   stringCodec{atOf(func(ev *event.Event) *string { return &rep(ev).Why })}})
}

func memcgOOMFields() []field {
	oom := func(ev *event.Event) *event.MemcgOOM { return &ev.MemcgOOM }
	cgroup := func(ev *event.Event) *event.Cgroup { return &oom(ev).Cgroup }
	fields := cgroupFields("oom_cgroup", "oom_cgroup", "memcg_usage_bytes", "memcg_limit_bytes", "the cgroup whose limit was hit", cgroup)
	fields = append(fields, containerFields("oom", "oom_container", "who it belongs to", cgroup)...)
	return append(fields, gfpFields("always",
		func(ev *event.Event) *uint32 { return &oom(ev).GFPMask },
		func(ev *event.Event) *int32 { return &oom(ev).Order },
		nil)...)
}

func reclaimFields() []field {
	r := func(ev *event.Event) *event.Reclaim { return &ev.Reclaim }
	fields := []field{
		reclaimKindField(func(ev *event.Event) *event.ReclaimKind { return &r(ev).Kind }),
		durationField("duration_ns", "how long the episode took", func(ev *event.Event) *time.Duration { return &r(ev).Duration }),
		{text: "nr_reclaimed", json: "nr_reclaimed", when: "always", meaning: "pages reclaimed",
			codec: integerOf(func(ev *event.Event) *uint64 { return &r(ev).NrReclaimed })},
	}
	fields = append(fields, gfpFields("always",
		func(ev *event.Event) *uint32 { return &r(ev).GFPMask },
		func(ev *event.Event) *int32 { return &r(ev).Order },
		nil)...)
	cgroup := func(ev *event.Event) *event.Cgroup { return &r(ev).Cgroup }
	fields = append(fields, cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", "the reclaiming task's memory cgroup (not necessarily the one reclaimed): usage and limit at the episode's end, the path as oomtrace first saw the cgroup (a cgroup v1 directory renamed since keeps its old path, as in `reclaim_stats`)", cgroup)...)
	return append(fields, containerFields("", "container", "who it belongs to", cgroup)...)
}

func kswapdWakeFields() []field {
	return []field{
		{text: "node", json: "node", when: "always", meaning: "NUMA node", codec: integerOf(func(ev *event.Event) *int32 { return &ev.KswapdWake.Node })},
		{text: "zone", json: "zone", when: "always", meaning: "zone index", codec: integerOf(func(ev *event.Event) *int32 { return &ev.KswapdWake.Zone })},
		{text: "order", json: "order", when: "always", meaning: "allocation order", codec: integerOf(func(ev *event.Event) *int32 { return &ev.KswapdWake.Order })},
	}
}

func reaperFields() []field {
	return []field{
		{text: "step", json: "step", when: "always", meaning: "`wake`, `start`, `finish` or `skip`",
			codec: enumCodec[event.ReaperStep]{atOf(func(ev *event.Event) *event.ReaperStep { return &ev.Reaper.Step }), event.ParseReaperStep}},
		{text: "victim.pid", json: "victim.pid", when: "always", meaning: "the victim's thread id, as in `oom_kill`'s `victim.pid`",
			codec: integerOf(func(ev *event.Event) *uint32 { return &ev.Reaper.VictimPID })},
	}
}

func reclaimStatsFields() []field {
	st := func(ev *event.Event) *event.ReclaimStats { return &ev.ReclaimStats }
	fields := []field{reclaimKindField(func(ev *event.Event) *event.ReclaimKind { return &st(ev).Kind })}
	cgroup := func(ev *event.Event) *event.Cgroup { return &st(ev).Cgroup }
	fields = append(fields, cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", "the reclaiming tasks' memory cgroup (path and id only)", cgroup)...)
	fields = append(fields, containerFields("", "container", "who it belongs to", cgroup)...)
	return append(fields,
		durationField("interval_ns", "the interval counted", func(ev *event.Event) *time.Duration { return &st(ev).Interval }),
		field{text: "count", json: "count", when: "always", meaning: "episodes in the interval",
			codec: integerOf(func(ev *event.Event) *uint64 { return &st(ev).Count })},
		durationField("total_ns", "their total duration", func(ev *event.Event) *time.Duration { return &st(ev).Total }),
		durationField("max_ns", "the longest episode since oomtrace started", func(ev *event.Event) *time.Duration { return &st(ev).Max }),
		field{text: "hist_us", json: "hist_us", when: "some episode counted", meaning: "latency histogram, see above",
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
		{text: "count", json: "count", when: "always", meaning: "lost since the previous `lost` event",
			codec: integerOf(func(ev *event.Event) *uint64 { return &ev.Lost.Count })},
		{text: "total", json: "total", when: "always", meaning: "lost since oomtrace started",
			codec: integerOf(func(ev *event.Event) *uint64 { return &ev.Lost.Total })},
		{text: "skipped_runs", json: "skipped_runs", has: skippedRuns, when: "the kernel skipped a run since oomtrace started",
			meaning: "runs of oomtrace's programs the kernel skipped since the previous `lost` event: it does not start a program on a CPU where the same program, preempted, is still running, and a kill, an exit or a reclaim episode of another task on that CPU then goes unrecorded",
			codec:   integerOf(func(ev *event.Event) *uint64 { return &ev.Lost.SkippedRuns })},
		{text: "skipped_runs_total", json: "skipped_runs_total", has: skippedRuns, when: "the kernel skipped a run since oomtrace started",
			meaning: "runs skipped since oomtrace started",
			codec:   integerOf(func(ev *event.Event) *uint64 { return &ev.Lost.SkippedRunsTotal })},
		{text: "skipped_by_program", json: "skipped_by_program", has: skippedRuns, when: "the kernel skipped a run since oomtrace started",
			meaning: "the programs of `skipped_runs_total`, each with its runs skipped since oomtrace started, sorted by name (`\"direct_reclaim_end:2,mark_victim:1\"`): a run of `mark_victim*` or `*oom_kill_process` is a kill, of `process_exit*` an exit, of `signal_generate` or `sigkill_target` a signal, of a `*_reclaim_*` program a reclaim episode",
			codec:   stringCodec{atOf(func(ev *event.Event) *string { return &ev.Lost.SkippedByProgram })}},
	}
}

// skippedRuns is whether the kernel skipped any run of the tracer's
// programs: the lost event's keys for them are written only then.
func skippedRuns(ev *event.Event) bool { return ev.Lost.SkippedRunsTotal > 0 }

func senderClassField(get func(*event.Event) *event.SenderClass) field {
	return field{text: "sender_class", json: "sender_class", when: "classified",
		meaning: "`kubelet`, `runtime` (containerd, containerd-shim*, runc, crun, conmon, dockerd, crio, podman, or their systemd units), `systemd` (pid 1, or comm `systemd`), `systemd-oomd`, `kernel` (SI_KERNEL, or a fault raised in the faulting process), `user` (anything else). By name and cgroup: names are anyone's to choose, so the class says what the sender called itself",
		has:     func(ev *event.Event) bool { return *get(ev) != event.SenderUnknown },
		codec:   enumCodec[event.SenderClass]{atOf(get), event.ParseSenderClass}}
}

// senderFields are the keys of a signal's sender: sender.pid, .tgid, .comm,
// its cgroup and container.
func senderFields(task func(*event.Event) *event.Task, cgroup func(*event.Event) *event.Cgroup) []field {
	fields := taskFields("sender", "the task that sent the signal", task)
	fields = append(fields, cgroupFields("sender.cgroup", "sender.cgroup", "sender.cgroup_usage_bytes", "sender.cgroup_limit_bytes", "its memory cgroup", cgroup)...)
	return append(fields, containerFields("sender", "sender_container", "who it belongs to", cgroup)...)
}

func signalFields() []field {
	sig := func(ev *event.Event) *event.Signal { return &ev.Signal }
	fields := []field{
		{text: "signal", json: "signal", when: "always", meaning: "signal number (9: SIGKILL)",
			codec: integerOf(func(ev *event.Event) *int32 { return &sig(ev).Signal })},
		{text: "si_code", json: "si_code", when: "always",
			meaning: "who raised it: `0` SI_USER (kill(2)), `128` SI_KERNEL (the kernel: OOM killer, hangup), negative for sigqueue/tgkill, positive for a fault (`1` SEGV_MAPERR, …)",
			codec:   integerOf(func(ev *event.Event) *int32 { return &sig(ev).Code })},
		{text: "group", json: "group", when: "true", meaning: "sent to the whole process, not one thread",
			has:   func(ev *event.Event) bool { return sig(ev).Group },
			codec: bare[boolCodec]{boolCodec{atOf(func(ev *event.Event) *bool { return &sig(ev).Group })}}},
	}
	fields = append(fields, senderFields(func(ev *event.Event) *event.Task { return &sig(ev).Sender },
		func(ev *event.Event) *event.Cgroup { return &sig(ev).SenderCgroup })...)
	fields = append(fields, senderClassField(func(ev *event.Event) *event.SenderClass { return &sig(ev).SenderClass }))
	fields = append(fields, taskFields("target", "the task the signal is for", func(ev *event.Event) *event.Task { return &sig(ev).Target })...)
	targetCgroup := func(ev *event.Event) *event.Cgroup { return &sig(ev).TargetCgroup }
	fields = append(fields, cgroupFields("target.cgroup", "target.cgroup", "target.cgroup_usage_bytes", "target.cgroup_limit_bytes", "its memory cgroup", targetCgroup)...)
	return append(fields, containerFields("target", "target_container", "who it belongs to", targetCgroup)...)
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
		{text: "exit_code", json: "exit_code", when: "always",
			meaning: "the wait(2) status: the signal in the low 7 bits, `128` added when it dumped core (a shell or runtime shows 128 + the signal: 137 for SIGKILL)",
			codec:   integerOf(func(ev *event.Event) *uint32 { return &x(ev).ExitCode })},
	}
	fields = append(fields, cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", "the process's memory cgroup", cgroup)...)
	fields = append(fields, containerFields("", "container", "who it belongs to", cgroup)...)
	fields = append(fields,
		field{text: "cause", json: "cause", when: "always",
			meaning: "`oom_kill` (the kernel's OOM killer chose it), `signal` (a task sent the signal), `fault` (the kernel raised SIGSEGV, SIGBUS, SIGILL or SIGFPE for the process's own fault; also when such a signal ended it and no signal was seen), `unknown` (no signal seen: signal tracing off, a signal oomtrace does not trace, or lost records)",
			codec:   enumCodec[event.Cause]{atOf(func(ev *event.Event) *event.Cause { return &x(ev).Cause }), event.ParseCause}},
		field{text: "cause.ktime_ns", json: "cause_ktime_ns", when: "a cause event was seen",
			meaning: "`ktime_ns` of the `oom_kill` or `signal` event the cause rests on",
			has:     func(ev *event.Event) bool { return x(ev).EvidenceKtimeNS != 0 },
			codec:   integerOf(func(ev *event.Event) *uint64 { return &x(ev).EvidenceKtimeNS })},
		field{text: "cause.class", json: "cause_class", has: cause(event.CauseOOMKill), when: "`oom_kill`",
			meaning: "the OOM kill's class",
			codec:   enumCodec[event.Class]{atOf(func(ev *event.Event) *event.Class { return &x(ev).OOMClass }), event.ParseClass}},
		field{text: "si_code", json: "si_code", has: bySignal, when: "`signal`, `fault`",
			meaning: "the killing signal's `si_code`",
			codec:   integerOf(func(ev *event.Event) *int32 { return &x(ev).Code })},
	)
	const bySignalWhen = "`signal`, `fault` with a signal seen"
	for _, f := range senderFields(func(ev *event.Event) *event.Task { return &x(ev).Sender },
		func(ev *event.Event) *event.Cgroup { return &x(ev).SenderCgroup }) {
		f.has = andHas(bySignal, f.has)
		if f.group == nil {
			f.when = bySignalWhen
		} else {
			g := *f.group
			g.when = bySignalWhen
			f.group = &g
		}
		fields = append(fields, f)
	}
	class := senderClassField(func(ev *event.Event) *event.SenderClass { return &x(ev).SenderClass })
	class.has = andHas(bySignal, class.has)
	class.when, class.meaning = bySignalWhen, "as in `signal`"
	fields = append(fields, class)
	hasTerm := func(ev *event.Event) bool { return x(ev).TermSender.TGID != 0 }
	for _, f := range taskFields("sigterm", "who sent the last SIGTERM before the killing SIGKILL", func(ev *event.Event) *event.Task { return &x(ev).TermSender }) {
		f.has, f.when = hasTerm, "a SIGTERM came before the killing SIGKILL"
		fields = append(fields, f)
	}
	return append(fields,
		field{text: "sigterm_before_ns", json: "sigterm_before_ns", has: hasTerm, when: "with `sigterm.`…",
			meaning: "time from that SIGTERM to the SIGKILL: the grace period the sender allowed",
			codec:   integerOf(func(ev *event.Event) *time.Duration { return &x(ev).TermBefore })},
		field{text: "why", json: "why", when: "always",
			meaning: "one sentence for people: who exited with what status, and why",
			has:     func(ev *event.Event) bool { return x(ev).Why != "" },
			codec:   stringCodec{atOf(func(ev *event.Event) *string { return &x(ev).Why })}},
	)
}

func sampleFields() []field {
	smp := func(ev *event.Event) *event.Sample { return &ev.Sample }
	cgroup := func(ev *event.Event) *event.Cgroup { return &smp(ev).Cgroup }
	node := func(ev *event.Event) bool { return smp(ev).IsNode() }
	hasPressure := func(ev *event.Event) *bool { return &smp(ev).HasPressure }
	const pressureRead = "pressure read (v2 cgroups; the node, with PSI on)"
	float := func(name, meaning string, get func(*event.Event) *float64) field {
		return field{text: name, json: name, flag: hasPressure, when: pressureRead, meaning: meaning, codec: bare[floatCodec]{floatCodec{atOf(get)}}}
	}
	fields := cgroupFields("cgroup", "cgroup", "cgroup_usage_bytes", "cgroup_limit_bytes", "a cgroup's sample: the cgroup, its usage and its hard limit", cgroup)
	fields = append(fields, containerFields("", "container", "who the cgroup belongs to", cgroup)...)
	return append(fields,
		field{text: "high_bytes", json: "high_bytes", flag: func(ev *event.Event) *bool { return &smp(ev).HasHigh },
			when: "v2, `memory.high` set (not `max`)", meaning: "the cgroup's throttling limit",
			codec: integerOf(func(ev *event.Event) *uint64 { return &smp(ev).HighBytes })},
		field{text: "mem_total_bytes", json: "mem_total_bytes", has: node, when: "the node's sample",
			meaning: "`MemTotal` of `/proc/meminfo`",
			codec:   integerOf(func(ev *event.Event) *uint64 { return &smp(ev).MemTotalBytes })},
		field{text: "mem_available_bytes", json: "mem_available_bytes", has: node, when: "the node's sample",
			meaning: "`MemAvailable` of `/proc/meminfo`",
			codec:   integerOf(func(ev *event.Event) *uint64 { return &smp(ev).MemAvailableBytes })},
		float("psi_some_avg10", "percent of the last 10 s in which some task stalled waiting for memory", func(ev *event.Event) *float64 { return &smp(ev).SomeAvg10 }),
		float("psi_full_avg10", "percent of the last 10 s in which all tasks stalled at once", func(ev *event.Event) *float64 { return &smp(ev).FullAvg10 }),
		field{text: "psi_some_total_ns", json: "psi_some_total_ns", flag: hasPressure, when: pressureRead,
			meaning: "total \"some\" stall since the cgroup was created (the node: since boot)",
			codec:   integerOf(func(ev *event.Event) *time.Duration { return &smp(ev).SomeTotal })},
		field{text: "psi_full_total_ns", json: "psi_full_total_ns", flag: hasPressure, when: pressureRead,
			meaning: "total \"full\" stall",
			codec:   integerOf(func(ev *event.Event) *time.Duration { return &smp(ev).FullTotal })},
	)
}

func evictionFields() []field {
	e := func(ev *event.Event) *event.Eviction { return &ev.Eviction }
	str := func(name, meaning string, get func(*event.Eviction) *string) field {
		return field{text: name, json: name, when: "the log says", meaning: meaning,
			has:   func(ev *event.Event) bool { return *get(e(ev)) != "" },
			codec: stringCodec{atOf(func(ev *event.Event) *string { return get(e(ev)) })}}
	}
	return []field{
		str("namespace", "the pod's namespace", func(x *event.Eviction) *string { return &x.Pod.Namespace }),
		str("pod", "the pod's name", func(x *event.Eviction) *string { return &x.Pod.PodName }),
		str("pod_uid", "the pod's UID", func(x *event.Eviction) *string { return &x.Pod.PodUID }),
		str("resource", "what the kubelet was reclaiming: `memory`, `ephemeral-storage`, `nodefs`, …", func(x *event.Eviction) *string { return &x.Resource }),
		str("threshold", "the eviction threshold, as the kubelet printed it (`100Mi`)", func(x *event.Eviction) *string { return &x.Threshold }),
		str("available", "what was available, as printed (`92412Ki`)", func(x *event.Eviction) *string { return &x.Available }),
		str("message", "the eviction's message (logged at verbosity 3: often absent)", func(x *event.Eviction) *string { return &x.Message }),
		{text: "evicted", json: "evicted", when: "true", meaning: "the kubelet logged the pod as evicted",
			has:   func(ev *event.Event) bool { return e(ev).Succeeded },
			codec: bare[boolCodec]{boolCodec{atOf(func(ev *event.Event) *bool { return &e(ev).Succeeded })}}},
		str("why", "one sentence for people", func(x *event.Eviction) *string { return &x.Why }),
	}
}

// andHas is a has function true when both are (nil counts as true).
func andHas(a, b func(*event.Event) bool) func(*event.Event) bool {
	if b == nil {
		return a
	}
	return func(ev *event.Event) bool { return a(ev) && b(ev) }
}
