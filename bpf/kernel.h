/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types oomtrace reads, declared by hand for CO-RE.
 *
 * Only the fields used are listed; preserve_access_index makes libbpf
 * relocate every access against the running kernel's BTF, so the order and
 * offsets here do not matter. Layout changes between kernels are handled with
 * ___flavor structs and bpf_core_*_exists checks in oomtrace.bpf.c, each with
 * a note on the kernel change that made it necessary.
 */
#ifndef OOMTRACE_KERNEL_H
#define OOMTRACE_KERNEL_H

#include <linux/types.h>
#include <stdbool.h>

/* Tell bpf_tracing.h that pt_regs has the kernel's field names (di, si, ...). */
#define __VMLINUX_H__

#if !defined(__TARGET_ARCH_x86) && !defined(__TARGET_ARCH_arm64)
#error "oomtrace's BPF side is built for x86-64 and arm64: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef unsigned int gfp_t;
typedef int pid_t;
typedef __u32 uid_t;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/*
 * kprobe/kretprobe argument registers, as bpf_tracing.h's PT_REGS_PARM*
 * reads them. x86-64 passes arguments in di, si, dx, cx, r8, r9 and returns
 * in ax; arm64 passes them in x0..x7 and returns in x0, and bpf_tracing.h
 * reads them through struct user_pt_regs, the start of the arm64 pt_regs
 * (arch/arm64/include/asm/ptrace.h), at the same offsets.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long cx;
	unsigned long r8;
	unsigned long r9;
	unsigned long ax;
	unsigned long sp;
	unsigned long ip;
};
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
#endif

typedef struct {
	long counter;
} atomic_long_t;

typedef struct {
	int counter;
} atomic_t;

struct page_counter {
	atomic_long_t usage;
	unsigned long max;
};

struct kernfs_node {
	struct kernfs_node *parent;
	const char *name;
	u64 id;
};

/* Linux 6.15 renamed kernfs_node.parent to __parent (RCU-protected). */
struct kernfs_node___post615 {
	struct kernfs_node *__parent;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct cgroup_subsys_state {
	struct cgroup *cgroup;
	struct cgroup_subsys_state *parent;
};

struct mem_cgroup {
	struct cgroup_subsys_state css;
	struct page_counter memory;
};

struct css_set {
	struct cgroup_subsys_state *subsys[16];
};

enum cgroup_subsys_id {
	memory_cgrp_id = 4,
};

struct percpu_counter {
	s64 count;
};

/* Linux 6.2 (f1a7941243c1) turned rss_stat into per-CPU counters. */
struct mm_rss_stat {
	atomic_long_t count[4];
};

struct mm_struct___pre62 {
	struct mm_rss_stat rss_stat;
};

struct mm_struct {
	struct percpu_counter rss_stat[4];
	unsigned long total_vm;
	atomic_long_t pgtables_bytes;
};

typedef struct {
	uid_t val;
} kuid_t;

struct cred {
	kuid_t uid;
};

struct signal_struct {
	atomic_t live; /* threads not yet exiting */
	short oom_score_adj;
};

/* si_signo, si_errno and si_code sit in an anonymous struct. */
struct kernel_siginfo {
	struct {
		int si_signo;
		int si_errno;
		int si_code;
	};
};

/* Only the first word of a node mask is declared: nodes 0 to 63. */
typedef struct {
	unsigned long bits[1];
} nodemask_t;

struct mempolicy {
	unsigned short mode;
	nodemask_t nodes;
};

/* Linux 5.14 (269fbe72cded) moved the nodes out of the union v. */
struct mempolicy___pre514 {
	union {
		short preferred_node;
		nodemask_t nodes;
	} v;
};

enum mempolicy_mode {
	MPOL_BIND = 2,
};

struct task_struct {
	pid_t pid;
	pid_t tgid;
	char comm[16];
	struct mm_struct *mm;
	struct signal_struct *signal;
	struct css_set *cgroups;
	const struct cred *cred;
	int exit_code;
	struct task_struct *group_leader;
	u64 start_time;
	nodemask_t mems_allowed;      /* CONFIG_CPUSETS */
	struct mempolicy *mempolicy; /* CONFIG_NUMA */
};

enum oom_constraint {
	CONSTRAINT_NONE = 0,
	CONSTRAINT_CPUSET = 1,
	CONSTRAINT_MEMORY_POLICY = 2,
	CONSTRAINT_MEMCG = 3,
};

struct oom_control {
	struct mem_cgroup *memcg;
	gfp_t gfp_mask;
	int order;
	unsigned long totalpages;
	struct task_struct *chosen;
	long chosen_points;
	enum oom_constraint constraint;
};

#pragma clang attribute pop

/*
 * The vmscan reclaim-begin tracepoints. Up to Linux 7.0 their arguments are
 * (int order, gfp_t gfp_flags); Linux 7.1 added the memory cgroup being
 * reclaimed and put the gfp flags first: (gfp_t gfp_flags, int order,
 * struct mem_cgroup *memcg). The btf_trace_* typedef of each tracepoint
 * carries its prototype (the first parameter is the tracepoint's private
 * data); bpf_core_type_exists on these flavors tells the forms apart by
 * their number of parameters (it ignores the kinds of integers), so each
 * program reads its arguments from the right slots; user space checks the
 * types too (reclaimBeginKnown in internal/tracer) and does not attach a
 * program to a prototype of neither form. Checked on Debian's 6.19, 7.0
 * (old form), 7.1, 7.2 and 7.3 (new form).
 */
typedef void (*btf_trace_mm_vmscan_direct_reclaim_begin___pre71)(void *, int, gfp_t);
typedef void (*btf_trace_mm_vmscan_direct_reclaim_begin___memcg)(void *, gfp_t, int, struct mem_cgroup *);
typedef void (*btf_trace_mm_vmscan_memcg_reclaim_begin___pre71)(void *, int, gfp_t);
typedef void (*btf_trace_mm_vmscan_memcg_reclaim_begin___memcg)(void *, gfp_t, int, struct mem_cgroup *);
typedef void (*btf_trace_mm_vmscan_memcg_softlimit_reclaim_begin___pre71)(void *, int, gfp_t);
typedef void (*btf_trace_mm_vmscan_memcg_softlimit_reclaim_begin___memcg)(void *, gfp_t, int, struct mem_cgroup *);

enum mm_counter_index {
	MM_FILEPAGES = 0,
	MM_ANONPAGES = 1,
	MM_SWAPENTS = 2,
	MM_SHMEMPAGES = 3,
};

#endif /* OOMTRACE_KERNEL_H */
