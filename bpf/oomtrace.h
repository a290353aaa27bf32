/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records shared between the BPF programs and the Go decoder.
 *
 * bpf2go generates the Go mirror of every struct here (-type), so the two
 * sides cannot drift. Fields are fixed width, ordered by size, with explicit
 * padding: the layout is the same on every compiler and architecture.
 */
#ifndef OOMTRACE_H
#define OOMTRACE_H

#define TASK_COMM_LEN 16
/* A cgroup path is built from the root down; a component may start anywhere
 * in the first half of the buffer and is at most a kernfs name long. */
#define CGROUP_PATH_LEN 512
#define CGROUP_NAME_MAX (CGROUP_PATH_LEN / 2)
#define MAX_CGROUP_DEPTH 16
#define MAX_STACK_DEPTH 48
/* log2 buckets of reclaim latency in microseconds: 1us .. ~1.2h. */
#define RECLAIM_BUCKETS 32
/* Histograms kept, one per cgroup and kind of reclaim seen: a power of 2. */
#define RECLAIM_HISTOGRAMS 4096

enum event_kind {
	EVENT_OOM_KILL = 1,
	EVENT_MEMCG_OOM = 2,
	EVENT_RECLAIM = 3,
	EVENT_KSWAPD_WAKE = 4,
	EVENT_REAPER = 5,
	EVENT_SIGNAL = 6,
	EVENT_EXIT = 7,
};

enum reclaim_kind {
	RECLAIM_DIRECT = 0,
	RECLAIM_MEMCG = 1,
	RECLAIM_SOFTLIMIT = 2,
	RECLAIM_KINDS = 3,
};

enum reaper_step {
	REAPER_WAKE = 0,
	REAPER_START = 1,
	REAPER_FINISH = 2,
	REAPER_SKIP = 3,
};

/* Which hook filled in an oom_kill record. */
enum oom_source {
	SOURCE_TRACEPOINT = 0, /* mark_victim only: class from the stack */
	SOURCE_FENTRY = 1,     /* oom_control read at oom_kill_process */
	SOURCE_KPROBE = 2,
};

enum cgroup_flags {
	CGROUP_VALID = 1 << 0,
	CGROUP_TRUNCATED = 1 << 1, /* path did not fit; the leaf end is cut */
	/* deeper than MAX_CGROUP_DEPTH: the path holds the deepest components
	 * and lacks the top, so it must not be read as rooted */
	CGROUP_TOP_MISSING = 1 << 2,
};

enum oom_kill_flags {
	OOM_HAVE_CONTROL = 1 << 0,   /* gfp, order, points, totalpages, constraint read */
	OOM_HAVE_MM = 1 << 1,        /* victim still had an mm: rss fields valid */
	OOM_CGROUP_WALKED = 1 << 2,  /* oom cgroup found by walking up, not from oc->memcg */
	OOM_HAVE_MEMS_ALLOWED = 1 << 3, /* trigger_mems_allowed read */
	OOM_HAVE_MEMPOLICY = 1 << 4,    /* the trigger has a task mempolicy: trigger_policy_* read */
};

/* Every record starts with this header; current is the task that ran the hook. */
struct event_header {
	__u64 ktime_ns; /* bpf_ktime_get_boot_ns */
	__u32 kind;     /* enum event_kind */
	__u32 cpu;
	__u32 pid;      /* thread id of current */
	__u32 tgid;     /* process id of current */
	char comm[TASK_COMM_LEN];
};

/* A memory cgroup as seen in the kernel at the moment of the event. */
struct cgroup_info {
	__u64 id;          /* kernfs id: the cgroup directory's inode number */
	__u64 usage_pages; /* page_counter usage of the memcg */
	__u64 limit_pages; /* page_counter max (memory.max / limit_in_bytes) */
	__u32 flags;       /* enum cgroup_flags */
	__u32 pad;
	char path[CGROUP_PATH_LEN];
};

struct oom_kill_event {
	struct event_header hdr; /* current: the task that ran into the OOM */
	struct cgroup_info victim_cgroup;
	struct cgroup_info trigger_cgroup;
	struct cgroup_info oom_cgroup;
	__u64 total_vm_kb;
	__u64 rss_anon_kb;
	__u64 rss_file_kb;
	__u64 rss_shmem_kb;
	__u64 pgtables_kb;
	__u64 totalpages;
	__s64 points;
	/* Without oom_control (tracepoint mode), what tells a cpuset or
	 * mempolicy OOM from a global one: the trigger's cpuset nodes and its
	 * task memory policy, nodes 0 to 63. */
	__u64 trigger_mems_allowed;
	__u64 trigger_policy_nodes;
	__u64 stack[MAX_STACK_DEPTH]; /* kernel return addresses, innermost first */
	__u32 gfp_mask;
	__s32 order;
	__u32 constraint; /* enum oom_constraint, valid with OOM_HAVE_CONTROL */
	__u32 source;     /* enum oom_source */
	__u32 flags;      /* enum oom_kill_flags */
	__u32 stack_depth;
	__u32 victim_pid;
	__u32 victim_tgid;
	__u32 victim_uid;
	__s16 victim_oom_score_adj;
	__u16 trigger_policy_mode; /* enum mempolicy_mode, with OOM_HAVE_MEMPOLICY */
	char victim_comm[TASK_COMM_LEN];
};

struct memcg_oom_event {
	struct event_header hdr;
	struct cgroup_info cgroup;
	__u32 gfp_mask;
	__s32 order;
};

/*
 * A memory cgroup as a reclaim record names it: without its path, which the
 * cgroup's reclaim histogram (struct reclaim_stats, in the slot named here)
 * holds from the cgroup's first episode on. A reclaim storm's records are
 * most of what the ring buffer carries: each is then an eighth of the size
 * it would be with the path, and nobody copies the path per record.
 */
struct cgroup_ref {
	__u64 id;
	__u64 usage_pages;
	__u64 limit_pages;
	__u32 flags;      /* CGROUP_VALID; the path's flags are the histogram's */
	__u32 slot_plus1; /* the histogram's slot + 1; 0: no histogram, see below */
};

struct reclaim_event {
	struct event_header hdr;
	struct cgroup_ref cgroup; /* the reclaiming task's memcg */
	__u64 duration_ns;
	__u64 nr_reclaimed;
	__u32 gfp_mask;
	__s32 order;
	__u32 reclaim_kind; /* enum reclaim_kind */
	__u32 pad;
};

/* The reclaim record of a cgroup that found no free histogram (all of them
 * taken): its path comes with it. */
struct reclaim_path_event {
	struct reclaim_event ev; /* ev.cgroup.slot_plus1 is 0 */
	struct cgroup_info cgroup;
};

struct kswapd_wake_event {
	struct event_header hdr;
	__s32 nid;
	__s32 zid;
	__s32 order;
	__u32 pad;
};

struct reaper_event {
	struct event_header hdr;
	__u32 step; /* enum reaper_step */
	__u32 victim_pid;
};

/* A fatal signal generated and queued (signal:signal_generate). The header's
 * task is the sender: the tracepoint runs in its context. */
struct signal_event {
	struct event_header hdr;
	struct cgroup_info sender_cgroup;
	struct cgroup_info target_cgroup;
	__s32 sig;
	__s32 code;  /* si_code: SI_USER 0, SI_KERNEL 0x80, > 0 raised by the kernel */
	__u32 target_pid;
	__u32 target_tgid;
	__u32 group; /* sent to the whole thread group */
	__u32 pad;
	char target_comm[TASK_COMM_LEN];
};

/* The last thread of a process exited, killed by a signal
 * (sched:sched_process_exit). The header's task is the exiting thread. */
/* A process, unique for the machine's uptime: pids are reused, a pid with
 * its leader's start time is not. */
struct process_key {
	__u64 leader_start_ns;
	__u32 tgid;
	__u32 pad;
};

struct exit_event {
	struct event_header hdr;
	struct cgroup_info cgroup;
	__u32 exit_code; /* wait(2) status: signal in the low 7 bits, 0x80 core dumped */
	__u32 pad;
};

/* Per cgroup and kind: every reclaim episode, also the ones below the
 * reporting threshold. Cumulative; user space emits the deltas. */
struct reclaim_stats_key {
	__u64 cgroup_id;
	__u32 reclaim_kind;
	__u32 pad;
};

struct reclaim_stats {
	__u64 total_ns; /* the count is the sum of the buckets */
	__u64 max_ns;
	__u64 buckets[RECLAIM_BUCKETS];
	struct cgroup_info cgroup; /* as first seen; usage and limit not kept current */
};

#endif /* OOMTRACE_H */
