package event

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// SkippedRuns are the runs of oomtrace's programs that the kernel skipped,
// by program: which program missed runs says what may be missing (a
// direct_reclaim_end run is an episode, a process_exit run an exit).
type SkippedRuns map[string]uint64

// Total is the runs skipped over all programs.
func (sr SkippedRuns) Total() uint64 {
	var total uint64
	for _, n := range sr {
		total += n
	}
	return total
}

// String lists the programs with skipped runs by name, each with its
// count: "direct_reclaim_end:1,mark_victim:2", "" for none. Neither
// separator needs quoting in a log line. ParseSkippedRuns reads it back.
func (sr SkippedRuns) String() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(sr)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", name, sr[name])
	}
	return b.String()
}

// ParseSkippedRuns reads what SkippedRuns.String writes. A capture is a
// file anyone can edit: an entry that is not NAME:COUNT is an error, which
// names it.
func ParseSkippedRuns(s string) (SkippedRuns, error) {
	sr := make(SkippedRuns)
	if s == "" {
		return sr, nil
	}
	for entry := range strings.SplitSeq(s, ",") {
		name, count, ok := strings.Cut(entry, ":")
		n, err := strconv.ParseUint(count, 10, 64)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("skipped runs by program: want NAME:COUNT, not %q", entry)
		}
		sr[name] += n
	}
	return sr, nil
}

// Records is what one of the kernel side's programs records, as a set: a
// run of the program the kernel skipped may leave any of it missing.
type Records uint8

const (
	// RecordsKills: the kills, and what classifies them (the OOM's
	// trigger, its cgroup, the victim of an older mark_victim).
	RecordsKills Records = 1 << iota
	// RecordsDeaths: the fatal signals and the processes they ended.
	RecordsDeaths
	// RecordsReclaim: the reclaim episodes and their histograms.
	RecordsReclaim
	// RecordsOther: the reaper's steps and kswapd's wake-ups, which only
	// describe a kill or a reclaim that is recorded without them.
	RecordsOther

	RecordsAll = RecordsKills | RecordsDeaths | RecordsReclaim | RecordsOther
)

// programRecords is what each program in bpf/oomtrace.bpf.c records, by
// its name there; the tracer's tests check that it names every program.
var programRecords = map[string]Records{
	"mark_victim":                     RecordsKills,
	"mark_victim_pid":                 RecordsKills,
	"sigkill_target":                  RecordsKills,
	"fentry_oom_kill_process":         RecordsKills,
	"fexit_oom_kill_process":          RecordsKills,
	"kprobe_oom_kill_process":         RecordsKills,
	"kretprobe_oom_kill_process":      RecordsKills,
	"fentry_mem_cgroup_out_of_memory": RecordsKills,
	"kprobe_mem_cgroup_out_of_memory": RecordsKills,
	"signal_generate":                 RecordsDeaths,
	"process_exit":                    RecordsDeaths,
	"process_exit_btf":                RecordsDeaths,
	"direct_reclaim_begin":            RecordsReclaim,
	"direct_reclaim_begin_compat":     RecordsReclaim,
	"direct_reclaim_end":              RecordsReclaim,
	"direct_reclaim_end_compat":       RecordsReclaim,
	"memcg_reclaim_begin":             RecordsReclaim,
	"memcg_reclaim_begin_compat":      RecordsReclaim,
	"memcg_reclaim_end":               RecordsReclaim,
	"memcg_reclaim_end_compat":        RecordsReclaim,
	"softlimit_reclaim_begin":         RecordsReclaim,
	"softlimit_reclaim_begin_compat":  RecordsReclaim,
	"softlimit_reclaim_end":           RecordsReclaim,
	"softlimit_reclaim_end_compat":    RecordsReclaim,
	"kswapd_wake":                     RecordsOther,
	"wake_reaper":                     RecordsOther,
	"start_task_reaping":              RecordsOther,
	"finish_task_reaping":             RecordsOther,
	"skip_task_reaping":               RecordsOther,
}

// Programs lists the kernel side's programs by name, sorted.
func Programs() []string {
	return slices.Sorted(maps.Keys(programRecords))
}

// ProgramRecords is what the program named name records. A name oomtrace
// does not know (a capture from another version, or an edited one) may
// have recorded anything: RecordsAll, and false.
func ProgramRecords(name string) (Records, bool) {
	r, ok := programRecords[name]
	if !ok {
		return RecordsAll, false
	}
	return r, true
}

// String names what r holds, for people: "kills", "kills or reclaim
// episodes".
func (r Records) String() string {
	var parts []string
	for _, what := range []struct {
		records Records
		name    string
	}{{RecordsKills, "kills"}, {RecordsDeaths, "signals and exits"}, {RecordsReclaim, "reclaim episodes"},
		{RecordsOther, "the reaper's steps and kswapd's wake-ups"}} {
		if r&what.records != 0 {
			parts = append(parts, what.name)
		}
	}
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// SplitSkipped splits total runs skipped into those of the programs a
// lost event lists (skippedByProgram) and those the list does not account
// for: all of them when it cannot be read (a capture is a file anyone can
// edit), and those past its sum when it names fewer. Unnamed runs may have
// left out anything; err says why a list was not read.
func SplitSkipped(skippedByProgram string, total uint64) (named SkippedRuns, unnamed uint64, err error) {
	named, err = ParseSkippedRuns(skippedByProgram)
	if err != nil {
		return SkippedRuns{}, total, err
	}
	return named, total - min(total, named.Total()), nil
}

// MayMiss is what total runs skipped, by the programs a lost event lists
// (skippedByProgram), may have left out.
func MayMiss(skippedByProgram string, total uint64) Records {
	named, unnamed, _ := SplitSkipped(skippedByProgram, total)
	if unnamed > 0 || named.Total() == 0 {
		return RecordsAll
	}
	var records Records
	for name, n := range named {
		if n > 0 {
			r, _ := ProgramRecords(name)
			records |= r
		}
	}
	return records
}
