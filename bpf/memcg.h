/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A task's memory cgroup and what oomtrace records of one: shared by the
 * tracer's programs and the benchmark's reclaim steps (reclaim_steps.bpf.c).
 * Include after kernel.h, the libbpf headers and oomtrace.h.
 */
#ifndef OOMTRACE_MEMCG_H
#define OOMTRACE_MEMCG_H

/* page_counter's "no limit", PAGE_COUNTER_MAX, is LONG_MAX / PAGE_SIZE:
 * anything this large is no limit. */
#define UNLIMITED_PAGES (1ULL << 50)

static __always_inline struct mem_cgroup *task_memcg(struct task_struct *task)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cgroups;

	if (!task)
		return NULL;
	cgroups = BPF_CORE_READ(task, cgroups);
	if (!cgroups || id < 0 || id >= 16)
		return NULL;
	bpf_core_read(&css, sizeof(css), &cgroups->subsys[id]);
	/* css is the first member of struct mem_cgroup. */
	return (struct mem_cgroup *)css;
}

static __always_inline struct mem_cgroup *parent_memcg(struct mem_cgroup *memcg)
{
	return (struct mem_cgroup *)BPF_CORE_READ(memcg, css.parent);
}

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	struct kernfs_node___post615 *renamed = (void *)kn;

	if (bpf_core_field_exists(renamed->__parent))
		return BPF_CORE_READ(renamed, __parent);
	return BPF_CORE_READ(kn, parent);
}

static __always_inline __u64 memcg_id(struct mem_cgroup *memcg)
{
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

/* Read memcg's usage and limit: they change all the time, and are read at
 * each event even where the path is known. */
static __always_inline void read_cgroup_counters(__u64 *usage_pages, __u64 *limit_pages, struct mem_cgroup *memcg)
{
	*usage_pages = BPF_CORE_READ(memcg, memory.usage.counter);
	*limit_pages = BPF_CORE_READ(memcg, memory.max);
}

/* Fill info with memcg's id, usage, limit and path, "/a/b" ("/" for the
 * root). The path is captured here because the cgroup of a killed container
 * is usually gone by the time user space could look it up. */
static __always_inline void fill_cgroup(struct cgroup_info *info, struct mem_cgroup *memcg)
{
	struct kernfs_node *nodes[MAX_CGROUP_DEPTH];
	struct kernfs_node *kn;
	__u32 off = 0;
	int depth = 0;

	if (!memcg)
		return;
	kn = BPF_CORE_READ(memcg, css.cgroup, kn);
	info->id = BPF_CORE_READ(kn, id);
	read_cgroup_counters(&info->usage_pages, &info->limit_pages, memcg);
	info->flags = CGROUP_VALID;

	/* Collect the chain leaf first; the root (no parent) has an empty name. */
	for (int i = 0; i < MAX_CGROUP_DEPTH; i++) {
		if (!kn || !kernfs_parent(kn))
			break;
		nodes[i] = kn;
		depth = i + 1;
		kn = kernfs_parent(kn);
	}
	if (kn && kernfs_parent(kn))
		info->flags |= CGROUP_TOP_MISSING;

	info->path[0] = '/';
	info->path[1] = 0;
	for (int i = MAX_CGROUP_DEPTH - 1; i >= 0; i--) {
		const char *name;
		long n;

		if (i >= depth)
			continue;
		if (off >= CGROUP_NAME_MAX) {
			info->flags |= CGROUP_TRUNCATED;
			break;
		}
		info->path[off & (CGROUP_NAME_MAX - 1)] = '/';
		off++;
		name = BPF_CORE_READ(nodes[i], name);
		n = bpf_probe_read_kernel_str(&info->path[off & (CGROUP_NAME_MAX - 1)],
					      CGROUP_NAME_MAX, name);
		if (n <= 0)
			break;
		off += n - 1; /* n counts the NUL */
	}
}

/* task_memcg through the task's BTF pointer: plain loads, which the
 * verifier turns into faulting-safe ones, instead of a helper call each. */
static __always_inline struct mem_cgroup *task_memcg_btf(struct task_struct *task)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (id < 0 || id >= 16)
		return NULL;
	/* css is the first member of struct mem_cgroup. */
	return (struct mem_cgroup *)task->cgroups->subsys[id];
}

/* memcg_id through BTF pointers, 0 for no memcg. */
static __always_inline __u64 memcg_id_btf(struct mem_cgroup *memcg)
{
	return memcg ? memcg->css.cgroup->kn->id : 0;
}

#endif /* OOMTRACE_MEMCG_H */
