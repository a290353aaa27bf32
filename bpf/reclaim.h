/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reclaim episodes: where a start waits for its end, and the histograms
 * every episode is counted in. Shared by the tracer's programs and the
 * benchmark's reclaim steps (reclaim_steps.bpf.c). Include after memcg.h.
 */
#ifndef OOMTRACE_RECLAIM_H
#define OOMTRACE_RECLAIM_H

struct reclaim_start {
	__u64 ktime_ns; /* 0: no episode open */
	__u32 gfp_mask;
	__s32 order;
};

/*
 * Where an episode's start waits for its end: task-local storage, a few
 * loads away from the task, where tracing programs have it (Linux 5.12).
 * The tracer's _compat programs keep it in a hash map instead
 * (reclaim_starts in oomtrace.bpf.c; user space loads one variant and
 * leaves the other's map out).
 */
struct reclaim_task {
	struct reclaim_start starts[RECLAIM_KINDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct reclaim_task);
} reclaim_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct reclaim_stats_key);
	__type(value, struct reclaim_stats);
} reclaim_histograms SEC(".maps");

/* A zeroed reclaim_stats to build new histogram entries in: too big for the
 * BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct reclaim_stats);
} reclaim_scratch SEC(".maps");

/*
 * The histogram bucket of an episode of ns nanoseconds: floor(log2(us)) of
 * its whole microseconds, 0 under 2 us, at most RECLAIM_BUCKETS - 1. It is
 * the largest b with 1000 << b <= ns, found by halving the width searched
 * five times; comparing with 1000 << b spares the division by 1000, a
 * 64-bit div that the end program, run for every episode, paid each time.
 */
static __always_inline __u32 log2_bucket(__u64 ns)
{
	__u32 b = 0;

	if (ns >= 1000ULL << (b + 16))
		b += 16;
	if (ns >= 1000ULL << (b + 8))
		b += 8;
	if (ns >= 1000ULL << (b + 4))
		b += 4;
	if (ns >= 1000ULL << (b + 2))
		b += 2;
	if (ns >= 1000ULL << (b + 1))
		b += 1;
	return b;
}

static __always_inline void count_reclaim(struct mem_cgroup *memcg, __u64 cgroup_id, __u32 kind, __u64 duration_ns)
{
	struct reclaim_stats_key key = {
		.cgroup_id = cgroup_id,
		.reclaim_kind = kind,
	};
	struct reclaim_stats *stats;
	__u32 bucket, zero = 0;

	stats = bpf_map_lookup_elem(&reclaim_histograms, &key);
	if (!stats) {
		struct reclaim_stats *fresh = bpf_map_lookup_elem(&reclaim_scratch, &zero);

		if (!fresh)
			return;
		/* The path goes in once, when the cgroup is first seen. */
		__builtin_memset(fresh, 0, sizeof(*fresh));
		fill_cgroup(&fresh->cgroup, memcg);
		bpf_map_update_elem(&reclaim_histograms, &key, fresh, BPF_NOEXIST);
		stats = bpf_map_lookup_elem(&reclaim_histograms, &key);
		if (!stats)
			return;
	}
	bucket = log2_bucket(duration_ns);
	/* No count of its own: user space sums the buckets, one atomic add
	 * fewer per episode. */
	__sync_fetch_and_add(&stats->total_ns, duration_ns);
	if (duration_ns > stats->max_ns)
		stats->max_ns = duration_ns; /* racy but monotone enough for a maximum */
	__sync_fetch_and_add(&stats->buckets[bucket], 1);
}

#endif /* OOMTRACE_RECLAIM_H */
