package tracer

// The BPF objects are generated from bpf/ and committed, so that building
// oomtrace needs no clang. `make generate` runs this; CI checks that it
// changes nothing.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target amd64,arm64 -type event_header -type oom_kill_event -type memcg_oom_event -type reclaim_event -type reclaim_path_event -type cgroup_ref -type kswapd_wake_event -type reaper_event -type signal_event -type exit_event -type cgroup_info -type reclaim_stats_key -type reclaim_stats -type event_kind -type reclaim_kind -type reaper_step -type oom_source -type oom_kill_flags -type cgroup_flags oomtrace ../../bpf/oomtrace.bpf.c -- -I../../bpf
