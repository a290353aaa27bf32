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
/* The histogram a task last counted an episode of one kind in: the next
 * episode of the same kind in the same cgroup finds it without a hash
 * lookup. */
struct reclaim_slot_cache {
	__u64 cgroup_id;
	__u32 slot_plus1; /* 0: none cached */
	__u32 pad;
};

struct reclaim_task {
	struct reclaim_start starts[RECLAIM_KINDS];
	struct reclaim_slot_cache slots[RECLAIM_KINDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct reclaim_task);
} reclaim_tasks SEC(".maps");

/*
 * The histograms, one per cgroup and kind of reclaim, in the slots of an
 * array: a slot is found by a load once known. reclaim_slots knows the slot
 * of each cgroup and kind, for the first episode a task counts there and for
 * user space, which reads the histograms through it. A new cgroup's slot is
 * claimed in reclaim_slot_owners, whose inserts succeed once per slot until
 * it is given back: the kernel's BPF atomics that return a value (5.12) are
 * not needed. User space gives back the slots of removed cgroups.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RECLAIM_HISTOGRAMS);
	__type(key, __u32);
	__type(value, struct reclaim_stats);
} reclaim_histograms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RECLAIM_HISTOGRAMS);
	__type(key, struct reclaim_stats_key);
	__type(value, __u32);
} reclaim_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RECLAIM_HISTOGRAMS);
	__type(key, __u32);
	__type(value, __u8);
} reclaim_slot_owners SEC(".maps");

/* Slots tried for a new cgroup, from the one its key hashes to: enough
 * for the array to fill to about 95% before a new cgroup finds none. */
#define RECLAIM_SLOT_TRIES 32

/* Episodes not counted, per CPU, because their cgroup found no free slot:
 * user space says so, rather than have reclaim_stats miss them silently. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} reclaim_uncounted SEC(".maps");

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

/* Claim a slot for the first histogram of key, with memcg's path, and
 * publish it in reclaim_slots; *slot is the slot of key's histogram, also
 * when another CPU published one first. False when no slot was free. */
static __always_inline bool claim_histogram(struct reclaim_stats_key *key, struct mem_cgroup *memcg, __u32 *slot)
{
	__u32 first = (__u32)((key->cgroup_id * 0x9e3779b97f4a7c15ULL + key->reclaim_kind) >> 32);
	struct reclaim_stats *stats;
	__u32 *published;
	__u8 one = 1;
	bool claimed = false;

	for (__u32 i = 0; i < RECLAIM_SLOT_TRIES; i++) {
		__u32 candidate = (first + i) & (RECLAIM_HISTOGRAMS - 1);

		if (bpf_map_update_elem(&reclaim_slot_owners, &candidate, &one, BPF_NOEXIST) == 0) {
			*slot = candidate;
			claimed = true;
			break;
		}
	}
	if (!claimed)
		return false;
	stats = bpf_map_lookup_elem(&reclaim_histograms, slot);
	if (!stats)
		return false;
	/* The path goes in once, when the cgroup is first seen, and reclaim
	 * records name the slot instead of carrying it (struct cgroup_ref).
	 * A free slot counts nothing: user space zeroes a removed cgroup's
	 * counts before it gives the slot back (and leaves its cgroup, for the
	 * records still unread), and a slot given back below counted nothing. */
	fill_cgroup(&stats->cgroup, memcg);
	if (bpf_map_update_elem(&reclaim_slots, key, slot, BPF_NOEXIST) == 0)
		return true;
	/* Another CPU published a slot for key first: count there, and give
	 * this one back, or it would stay claimed and unread for the whole
	 * run. Nothing was counted in it; the next claim fills its cgroup in
	 * again. */
	bpf_map_delete_elem(&reclaim_slot_owners, slot);
	published = bpf_map_lookup_elem(&reclaim_slots, key);
	if (!published)
		return false;
	*slot = *published;
	return true;
}

/* Count an episode of duration_ns in the histogram of memcg (of id
 * cgroup_id) and kind, and return its slot + 1, or 0 when there is none.
 * cache, where the caller has one (task-local storage), remembers the
 * histogram for the task's next episode. */
static __always_inline __u32 count_reclaim(struct mem_cgroup *memcg, __u64 cgroup_id, __u32 kind, __u64 duration_ns,
					   struct reclaim_slot_cache *cache)
{
	struct reclaim_stats_key key = {
		.cgroup_id = cgroup_id,
		.reclaim_kind = kind,
	};
	struct reclaim_stats *stats;
	__u32 bucket, slot, *known;

	if (cache && cache->slot_plus1 && cache->cgroup_id == cgroup_id) {
		slot = cache->slot_plus1 - 1;
	} else {
		known = bpf_map_lookup_elem(&reclaim_slots, &key);
		if (known)
			slot = *known;
		else if (!claim_histogram(&key, memcg, &slot)) {
			__u32 zero = 0;
			__u64 *uncounted = bpf_map_lookup_elem(&reclaim_uncounted, &zero);

			if (uncounted)
				*uncounted += 1;
			return 0;
		}
		if (cache) {
			cache->cgroup_id = cgroup_id;
			cache->slot_plus1 = slot + 1;
		}
	}
	stats = bpf_map_lookup_elem(&reclaim_histograms, &slot);
	if (!stats)
		return 0;
	bucket = log2_bucket(duration_ns);
	/* No count of its own: user space sums the buckets, one atomic add
	 * fewer per episode. */
	__sync_fetch_and_add(&stats->total_ns, duration_ns);
	if (duration_ns > stats->max_ns)
		stats->max_ns = duration_ns; /* racy but monotone enough for a maximum */
	__sync_fetch_and_add(&stats->buckets[bucket], 1);
	return slot + 1;
}

#endif /* OOMTRACE_RECLAIM_H */
