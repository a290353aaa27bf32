package output

import (
	"fmt"
	"strings"

	"github.com/oomtrace/oomtrace/internal/event"
)

// kindDocs says in a few words what each kind of event is, for the key
// tables.
var kindDocs = [...]string{
	event.KindOOMKill:      "a task was killed",
	event.KindMemcgOOM:     "a memory cgroup ran out of memory",
	event.KindReclaim:      "a slow reclaim episode",
	event.KindKswapdWake:   "kswapd woken on a node",
	event.KindReaper:       "the OOM reaper acting on a victim",
	event.KindReclaimStats: "all reclaim of one kind in one cgroup over an interval",
	event.KindLost:         "events the kernel could not hand over, and runs of oomtrace's programs it skipped",
	event.KindSignal:       "a fatal signal was sent to a process",
	event.KindExit:         "a process died from a signal",
	event.KindSample:       "the memory state of a cgroup or of the node",
	event.KindEviction:     "the kubelet evicted a pod",
	event.KindOOMSnapshot:  "the memory state of an OOM kill's cgroup, read right after the kill's line was written",
	event.KindOOMReport:    "what the kernel's own report of a live kill, read from its log right after the kill's line was written, says beyond the kill",
}

// KeyTables returns the tables of docs/output-format.md that list every
// key of every event, made from the schema the writers and parsers use: a
// table per set of keys several events share (a cgroup's, an owner's), then
// a table per kind of event, where a set used takes one row.
func KeyTables() string {
	var b strings.Builder
	refs := referenceInstances()
	for _, set := range []*keySet{cgroupKeys, ownerKeys, snapshotKeys, reportKeys} {
		fmt.Fprintf(&b, "### %s\n\n", set.name)
		writeSetTable(&b, set, refs[set])
	}
	for kind := event.Kind(1); kind < event.NumKinds; kind++ {
		fmt.Fprintf(&b, "### `%s`: %s\n\n", kind, kindDocs[kind])
		writeKindTable(&b, fieldsOf(kind), refs)
	}
	return b.String()
}

// referenceInstances finds, for each set of keys, its first use in the
// schema: the set's table is written from it.
func referenceInstances() map[*keySet][]field {
	refs := map[*keySet][]field{}
	for kind := event.Kind(1); kind < event.NumKinds; kind++ {
		fields := fieldsOf(kind)
		for i := 0; i < len(fields); {
			g := fields[i].group
			if g == nil {
				i++
				continue
			}
			n := instanceLen(fields[i:])
			if _, ok := refs[g.set]; !ok {
				refs[g.set] = fields[i : i+n]
			}
			i += n
		}
	}
	return refs
}

// instanceLen is how many fields from fields[0] on are of its instance.
func instanceLen(fields []field) int {
	g := fields[0].group
	n := 1
	for n < len(fields) && fields[n].group != nil && *fields[n].group == *g {
		n++
	}
	return n
}

func writeSetTable(b *strings.Builder, set *keySet, fields []field) {
	b.WriteString("| text key | JSON key | when | meaning |\n|---|---|---|---|\n")
	for i := range fields {
		f := &fields[i]
		g := f.group
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", relative(set.text, g.text, f.text), relative(set.json, g.json, f.json), f.when, f.meaning)
	}
	b.WriteString("\n")
}

// relative names a key of a set as the placeholder of its instance and the
// rest: *C*`.id`; or whole where the set has no placeholder.
func relative(placeholder, base, key string) string {
	rest, ok := strings.CutPrefix(key, base)
	switch {
	case placeholder == "" || !ok:
		return "`" + key + "`"
	case rest == "":
		return placeholder
	}
	return placeholder + "`" + rest + "`"
}

func writeKindTable(b *strings.Builder, fields []field, refs map[*keySet][]field) {
	b.WriteString("| text key | JSON key | when | meaning |\n|---|---|---|---|\n")
	for i := 0; i < len(fields); {
		f := &fields[i]
		if f.group == nil {
			fmt.Fprintf(b, "| `%s` | `%s` | %s | %s |\n", f.text, f.json, f.when, f.meaning)
			i++
			continue
		}
		n := instanceLen(fields[i:])
		g := f.group
		meaning := g.meaning
		if odd := unlikeReference(fields[i:i+n], refs[g.set]); odd != "" {
			meaning += " (" + odd + ")"
		}
		text := "`" + g.text + "`…"
		if g.text == "" {
			text = "(no prefix)"
		}
		fmt.Fprintf(b, "| %s | `%s`… | %s | %s |\n", text, g.json, g.when, meaning)
		i += n
	}
	b.WriteString("\n")
}

// unlikeReference names the JSON keys of an instance that its set's table
// does not give: the OOM cgroup's usage and limit are memcg_usage_bytes
// and memcg_limit_bytes.
func unlikeReference(fields, ref []field) string {
	var odd []string
	for i := range fields {
		if i >= len(ref) {
			break
		}
		f, r := &fields[i], &ref[i]
		rest := strings.TrimPrefix(r.json, r.group.json)
		if f.json != f.group.json+rest {
			odd = append(odd, fmt.Sprintf("JSON `%s` for %s", f.json, relative(r.group.set.json, r.group.json, r.json)))
		}
	}
	return strings.Join(odd, ", ")
}
