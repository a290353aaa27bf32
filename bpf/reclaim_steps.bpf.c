// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark's reclaim steps, not part of the tracer: the work of the
 * tracer's end-of-reclaim program (reclaim_end, task-local variant) taken
 * apart. Each program does one step more than the one before, with the
 * tracer's own code (memcg.h, reclaim.h). The benchmark attaches one at a
 * time to mm_vmscan_memcg_reclaim_end during a reclaim storm, and the
 * kernel's run-time statistics tell what each step adds.
 */
#include "kernel.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "oomtrace.h"
#include "memcg.h"
#include "reclaim.h"

char LICENSE[] SEC("license") = "GPL";

/* The last step a program takes. */
enum end_step {
	STEP_CLOCK = 1,	    /* read the clock */
	STEP_START = 2,	    /* and take the episode's start from task-local storage */
	STEP_CGROUP = 3,    /* and find the task's memory cgroup and its id */
	STEP_HISTOGRAM = 4, /* and count the episode in the cgroup's histogram, found as the tracer finds it */
};

static __always_inline int end_steps(const enum end_step last)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct task_struct *task;
	struct reclaim_task *rt;
	struct mem_cgroup *memcg;
	__u64 start, cgroup_id;

	if (last == STEP_CLOCK)
		return 0;
	task = bpf_get_current_task_btf();
	rt = bpf_task_storage_get(&reclaim_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!rt)
		return 0;
	/* No begin program runs here: an episode's start is the previous
	 * end's time, so that every run but a task's first goes the way the
	 * tracer's program goes for an open episode. */
	start = rt->starts[RECLAIM_MEMCG].ktime_ns;
	rt->starts[RECLAIM_MEMCG].ktime_ns = now;
	if (last == STEP_START || !start)
		return 0;
	memcg = task_memcg_btf(task);
	cgroup_id = memcg_id_btf(memcg);
	if (last == STEP_CGROUP) {
		barrier_var(cgroup_id); /* read, as if used */
		return 0;
	}
	count_reclaim(memcg, cgroup_id, RECLAIM_MEMCG, now - start, &rt->slots[RECLAIM_MEMCG]);
	return 0;
}

/* A step program: end_steps up to step, on the tracepoint of the end of
 * memory cgroup reclaim. */
#define STEP_PROG(name, step)                           \
	SEC("tp_btf/mm_vmscan_memcg_reclaim_end")       \
	int BPF_PROG(name)                              \
	{                                               \
		return end_steps(step);                 \
	}

STEP_PROG(end_clock, STEP_CLOCK)
STEP_PROG(end_start, STEP_START)
STEP_PROG(end_cgroup, STEP_CGROUP)
STEP_PROG(end_histogram, STEP_HISTOGRAM)
