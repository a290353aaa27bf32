// SPDX-License-Identifier: GPL-2.0
/*
 * oomtrace: the kernel side.
 *
 * Every killed process produces one oom_kill record, always from the
 * oom:mark_victim tracepoint: it fires for every victim, also for victims
 * that were already exiting and for the extra victims of memory.oom.group,
 * which hooks on oom_kill_process alone would miss; it fires once per thread
 * marked, and only the first thread of a process is reported (see
 * seen_victims). Where fentry or kprobes work, oom_kill_process is
 * hooked too and leaves its struct oom_control for the mark_victim that
 * follows in the same thread; without it, user space classifies the kill
 * from the kernel stack recorded here, and the OOMing memcg is found by
 * walking up from the victim's memcg.
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

/* Referenced so that their BTF is emitted and bpf2go generates Go mirrors. */
const enum event_kind *unused_event_kind __attribute__((unused));
const enum reclaim_kind *unused_reclaim_kind __attribute__((unused));
const enum reaper_step *unused_reaper_step __attribute__((unused));
const enum oom_source *unused_oom_source __attribute__((unused));
const enum oom_kill_flags *unused_oom_kill_flags __attribute__((unused));
const enum cgroup_flags *unused_cgroup_flags __attribute__((unused));
const struct kswapd_wake_event *unused_kswapd_wake_event __attribute__((unused));
const struct reaper_event *unused_reaper_event __attribute__((unused));
const struct memcg_oom_event *unused_memcg_oom_event __attribute__((unused));
const struct reclaim_event *unused_reclaim_event __attribute__((unused));
const struct reclaim_path_event *unused_reclaim_path_event __attribute__((unused));
const struct signal_event *unused_signal_event __attribute__((unused));
const struct exit_event *unused_exit_event __attribute__((unused));

/* Set by user space before load. Zero means "no filter". */
const volatile __u32 filter_tgid = 0;
const volatile __u64 filter_cgroup_id = 0;
const volatile __u64 reclaim_min_ns = 1000000;
/* How long after a wake-up or a read a reclaim or kswapd record may wait in
 * the ring buffer for its reader (see submit_event); user space sets it to
 * tracer.WakeupWindow, and looks by itself until it has passed. */
const volatile __u64 wakeup_window_ns = 200000000;
/* Signals reported by the signal program, bit n for signal n: those whose
 * default action ends the process and that are sent to end it: SIGHUP,
 * SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGSEGV,
 * SIGTERM, SIGSYS. SIGPIPE, SIGALRM, SIGUSR1/2 and the rest are left out:
 * they are common and are seldom how a process is ended on purpose. */
const volatile __u64 fatal_signals = (1ULL << 1) | (1ULL << 2) | (1ULL << 3) | (1ULL << 4) |
				     (1ULL << 6) | (1ULL << 7) | (1ULL << 8) | (1ULL << 9) |
				     (1ULL << 11) | (1ULL << 15) | (1ULL << 31);

/* The ring buffer's default size; user space may size it otherwise
 * before loading (--ring-buffer), and sets ringbuf_wake_bytes with it. */
#define RINGBUF_BYTES (4 << 20)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
} events SEC(".maps");

/* Unread bytes from which a lazy record wakes the reader anyway: an
 * eighth of the ring buffer (submit_event). */
const volatile __u64 ringbuf_wake_bytes = RINGBUF_BYTES / 8;

/* Failed ring-buffer reservations, per CPU: no event is lost silently. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost_events SEC(".maps");

struct oom_call {
	__u64 oc;      /* struct oom_control * */
	__u32 source;  /* enum oom_source: the hook that saw the call */
	__u32 pad;
};

/* Thread id -> the oom_kill_process call it is running. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct oom_call);
} oom_calls SEC(".maps");

/* Thread id -> victim of the SIGKILL it just sent; only for the old
 * mark_victim(int pid) form, which does not name the task. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} sigkill_targets SEC(".maps");

/* Processes whose exit was reported. Every thread that exits after the
 * last one has decremented signal->live (before sched_process_exit fires)
 * sees it at 0: the first to get here reports the exit, the others find
 * the process here. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct process_key);
	__type(value, __u8);
} reported_exits SEC(".maps");

/* Processes whose OOM kill was seen: reported, or left out by the filter.
 * The kernel marks threads, not processes: a thread of a killed process
 * that still allocates on its way out enters out_of_memory(), whose
 * task_will_free_mem(current) marks it too, with no SIGKILL and nothing in
 * the kernel log: in a global OOM on any kernel, and in a memcg OOM on
 * kernels that let dying tasks into the memcg OOM killer ("memcg, oom: do
 * not bypass oom killer for dying tasks", 2025). That is the same kill: the
 * first thread marked reports it, the others find the process here. User
 * space looks here too when it replays the kernel log from before it
 * attached: a kill logged that this map lacks came before. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct process_key);
	__type(value, __u8);
} seen_victims SEC(".maps");

/* Victims reported under a filter: their reaper events pass the filter too. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} filtered_victims SEC(".maps");

/* Where the _compat reclaim programs keep an episode's start (5.10, 5.11
 * and the raw_tp fallback: no task-local storage), at the cost of a hash,
 * an update and a delete per episode. */
struct reclaim_start_key {
	__u32 tid;
	__u32 reclaim_kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct reclaim_start_key);
	__type(value, struct reclaim_start);
} reclaim_starts SEC(".maps");

/* Never written: the source for clearing an oom_kill or signal record, which
 * are too large for an inlined memset. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oom_kill_event);
} zeroed_oom_kill SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost_events, &zero);

	if (n)
		*n += 1;
}

/* Reserve a record of size bytes and fill its header: the current task,
 * stamped ktime_ns (CLOCK_BOOTTIME), which a program that read the clock
 * already passes on rather than read it again. */
static __always_inline void *reserve_event_at(__u64 size, __u32 kind, __u64 ktime_ns)
{
	struct event_header *hdr = bpf_ringbuf_reserve(&events, size, 0);
	__u64 pid_tgid;

	if (!hdr) {
		count_lost();
		return NULL;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	hdr->ktime_ns = ktime_ns;
	hdr->kind = kind;
	hdr->cpu = bpf_get_smp_processor_id();
	hdr->pid = (__u32)pid_tgid;
	hdr->tgid = pid_tgid >> 32;
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
	return hdr;
}

static __always_inline void *reserve_event(__u64 size, __u32 kind)
{
	return reserve_event_at(size, kind, bpf_ktime_get_boot_ns());
}

/* When a record last woke the reader, by its header's ktime_ns; or, as the
 * reader writes it, when it last read (less a margin): it keeps looking
 * by itself until wakeup_window_ns after that (Tracer.Read). */
__u64 last_wakeup_ns = 0;

/*
 * Submit a record, waking the reader at once for most kinds. Waking it
 * costs the program far more than the record does: the ring buffer raises
 * an irq_work, whose interrupt arrives while the program still runs and
 * wakes the reader's thread (20-25 us a record on a virtual machine; a
 * reclaim storm's episodes took 0.4 us on average for it alone). So a lazy
 * record (reclaim and kswapd: many, and nobody waits on one) wakes the
 * reader only if no record did in the last wakeup_window_ns, or if unread
 * data fill an eighth of the ring buffer; otherwise it waits. Every record
 * that waits was submitted within wakeup_window_ns of a wake-up or of a read
 * the reader wrote to last_wakeup_ns, and the reader looks again until
 * wakeup_window_ns after it read (Tracer.Read): none is left behind. The
 * others force a wake-up: the reader may be asleep with lazy
 * records unread, which the ring buffer's default, waking only a reader
 * that has read everything, would not wake.
 */
static __always_inline void submit_event(void *rec, bool lazy)
{
	struct event_header *hdr = rec;
	__u64 flags = BPF_RB_FORCE_WAKEUP;

	if (lazy && hdr->ktime_ns - last_wakeup_ns < wakeup_window_ns &&
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < ringbuf_wake_bytes)
		flags = BPF_RB_NO_WAKEUP;
	else
		last_wakeup_ns = hdr->ktime_ns;
	bpf_ringbuf_submit(rec, flags);
}

/* Is memcg, or one of its ancestors, the cgroup the user filtered on? */
static __always_inline bool memcg_in_filter(struct mem_cgroup *memcg)
{
	if (!filter_cgroup_id)
		return true;
	for (int i = 0; i < MAX_CGROUP_DEPTH && memcg; i++) {
		if (memcg_id(memcg) == filter_cgroup_id)
			return true;
		memcg = parent_memcg(memcg);
	}
	return false;
}

/* Without oc->memcg: the memcg whose limit was hit is the highest ancestor of
 * the victim's memcg at or over its limit. A large (THP) charge can fail just
 * below the limit, so if none is over it, take the one closest to its limit. */
static __always_inline struct mem_cgroup *find_oom_memcg(struct mem_cgroup *memcg)
{
	struct mem_cgroup *over = NULL, *closest = NULL;
	__u64 closest_room = ~0ULL;

	for (int i = 0; i < MAX_CGROUP_DEPTH && memcg; i++) {
		__u64 usage = BPF_CORE_READ(memcg, memory.usage.counter);
		__u64 limit = BPF_CORE_READ(memcg, memory.max);

		if (limit < UNLIMITED_PAGES) {
			if (usage >= limit)
				over = memcg;
			else if (limit - usage < closest_room) {
				closest_room = limit - usage;
				closest = memcg;
			}
		}
		memcg = parent_memcg(memcg);
	}
	return over ? over : closest;
}

/* The index must be a constant: CO-RE relocates rss_stat[i] with the running
 * kernel's element size only for constant indexes (struct percpu_counter is
 * much larger there than the one field declared in kernel.h). */
#define MM_COUNTER_PAGES(mm, member)                                              \
	({                                                                        \
		s64 __v;                                                          \
		if (bpf_core_type_exists(struct mm_rss_stat)) {                   \
			struct mm_struct___pre62 *__old = (void *)(mm);           \
			__v = BPF_CORE_READ(__old, rss_stat.count[member].counter); \
		} else {                                                          \
			__v = BPF_CORE_READ(mm, rss_stat[member].count);          \
		}                                                                 \
		/* per-CPU counters can read transiently negative */             \
		__v > 0 ? (__u64)__v : 0;                                         \
	})

#define PAGE_KB 4 /* kB per page; oomtrace's BPF side supports 4 KiB pages */

static __always_inline void fill_victim_mm(struct oom_kill_event *ev, struct task_struct *victim)
{
	struct mm_struct *mm = BPF_CORE_READ(victim, mm);

	if (!mm)
		return;
	ev->flags |= OOM_HAVE_MM;
	ev->total_vm_kb = BPF_CORE_READ(mm, total_vm) * PAGE_KB;
	ev->rss_anon_kb = MM_COUNTER_PAGES(mm, MM_ANONPAGES) * PAGE_KB;
	ev->rss_file_kb = MM_COUNTER_PAGES(mm, MM_FILEPAGES) * PAGE_KB;
	ev->rss_shmem_kb = MM_COUNTER_PAGES(mm, MM_SHMEMPAGES) * PAGE_KB;
	ev->pgtables_kb = BPF_CORE_READ(mm, pgtables_bytes.counter) >> 10;
}

#define EEXIST 17 /* include/uapi/asm-generic/errno-base.h */

/* Whether task is the first thread of its process to get here, for seen, a
 * map of processes (seen_victims, reported_exits). Only EEXIST means a
 * sibling was first; any other failure (no memory, a busy bucket) reports
 * the task rather than lose a kill. The result is compared as an int: until
 * Linux 6.4 the map operations returned int, and the call the verifier
 * patches straight to them leaves the upper half of the register zero, so
 * 5.10 hands back -EEXIST as 0xffffffef, which a long never equals. */
static __always_inline bool first_of_process(void *seen, struct task_struct *task)
{
	struct process_key key = {
		.leader_start_ns = BPF_CORE_READ(task, group_leader, start_time),
		.tgid = BPF_CORE_READ(task, tgid),
	};
	__u8 one = 1;

	return (int)bpf_map_update_elem(seen, &key, &one, BPF_NOEXIST) != -EEXIST;
}

static __always_inline bool wanted_kill(struct task_struct *victim, struct mem_cgroup *victim_memcg)
{
	if (filter_tgid && BPF_CORE_READ(victim, tgid) != filter_tgid &&
	    (bpf_get_current_pid_tgid() >> 32) != filter_tgid)
		return false;
	return memcg_in_filter(victim_memcg);
}

/* A cpuset or mempolicy OOM takes the page allocator's path to the OOM
 * killer like a global one; without oom_control only the trigger's own
 * limits on nodes tell them apart (constrained_alloc in mm/oom_kill.c). A
 * policy set on a memory range with mbind(2) is not seen here. */
static __always_inline void fill_trigger_nodes(struct oom_kill_event *ev, struct task_struct *trigger)
{
	struct mempolicy *pol;

	if (bpf_core_field_exists(trigger->mems_allowed)) {
		ev->trigger_mems_allowed = BPF_CORE_READ(trigger, mems_allowed.bits[0]);
		ev->flags |= OOM_HAVE_MEMS_ALLOWED;
	}
	if (!bpf_core_field_exists(trigger->mempolicy))
		return;
	pol = BPF_CORE_READ(trigger, mempolicy);
	if (!pol)
		return;
	ev->trigger_policy_mode = BPF_CORE_READ(pol, mode);
	if (bpf_core_field_exists(pol->nodes)) {
		ev->trigger_policy_nodes = BPF_CORE_READ(pol, nodes.bits[0]);
	} else {
		struct mempolicy___pre514 *old = (void *)pol;

		ev->trigger_policy_nodes = BPF_CORE_READ(old, v.nodes.bits[0]);
	}
	ev->flags |= OOM_HAVE_MEMPOLICY;
}

static __always_inline int emit_oom_kill(void *ctx, struct task_struct *victim, __u32 uid, bool have_uid)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct mem_cgroup *victim_memcg = task_memcg(victim);
	struct oom_control *oc = NULL;
	struct mem_cgroup *oom_memcg;
	struct oom_kill_event *ev;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct oom_kill_event *zero;
	struct oom_call *call;
	__u32 zero_key = 0;
	long n;

	if (!victim || !first_of_process(&seen_victims, victim) || !wanted_kill(victim, victim_memcg))
		return 0;
	zero = bpf_map_lookup_elem(&zeroed_oom_kill, &zero_key);
	if (!zero)
		return 0;
	ev = reserve_event(sizeof(*ev), EVENT_OOM_KILL);
	if (!ev)
		return 0;
	bpf_probe_read_kernel((void *)ev + sizeof(ev->hdr), sizeof(*ev) - sizeof(ev->hdr),
			      (void *)zero + sizeof(ev->hdr));

	ev->victim_pid = BPF_CORE_READ(victim, pid);
	ev->victim_tgid = BPF_CORE_READ(victim, tgid);
	BPF_CORE_READ_STR_INTO(&ev->victim_comm, victim, comm);
	ev->victim_oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	/* The old tracepoint form passes no uid: the real uid is in the victim's
	 * credentials (kuid values are those of the initial user namespace,
	 * which is what the kernel reports). */
	ev->victim_uid = have_uid ? uid : BPF_CORE_READ(victim, cred, uid.val);
	fill_victim_mm(ev, victim);

	n = bpf_get_stack(ctx, ev->stack, sizeof(ev->stack), 0);
	ev->stack_depth = n > 0 ? n / sizeof(__u64) : 0;

	call = bpf_map_lookup_elem(&oom_calls, &tid);
	if (call) {
		oc = (struct oom_control *)call->oc;
		ev->source = call->source;
	}
	if (oc) {
		ev->flags |= OOM_HAVE_CONTROL;
		ev->gfp_mask = BPF_CORE_READ(oc, gfp_mask);
		ev->order = BPF_CORE_READ(oc, order);
		ev->totalpages = BPF_CORE_READ(oc, totalpages);
		if (bpf_core_field_exists(oc->constraint))
			ev->constraint = BPF_CORE_READ(oc, constraint);
		else
			ev->constraint = BPF_CORE_READ(oc, memcg) ? CONSTRAINT_MEMCG : CONSTRAINT_NONE;
		/* The points are the chosen task's; oom.group's extra victims have none. */
		if (BPF_CORE_READ(oc, chosen) == victim)
			ev->points = BPF_CORE_READ(oc, chosen_points);
		oom_memcg = BPF_CORE_READ(oc, memcg);
	} else {
		ev->flags |= OOM_CGROUP_WALKED;
		oom_memcg = find_oom_memcg(victim_memcg);
		fill_trigger_nodes(ev, current);
	}

	fill_cgroup(&ev->victim_cgroup, victim_memcg);
	fill_cgroup(&ev->trigger_cgroup, task_memcg(current));
	fill_cgroup(&ev->oom_cgroup, oom_memcg);
	if (filter_tgid || filter_cgroup_id) {
		__u32 pid = ev->victim_pid;
		__u8 one = 1;

		bpf_map_update_elem(&filtered_victims, &pid, &one, BPF_ANY);
	}
	submit_event(ev, false);
	return 0;
}

/* oom:mark_victim(struct task_struct *task, uid_t uid): mainline 6.9, and
 * the 2025 stable backports (5.4 .. 6.6). */
SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim, struct task_struct *task, uid_t uid)
{
	return emit_oom_kill(ctx, task, uid, true);
}

/* Older oom:mark_victim(int pid): the victim is the target of the SIGKILL
 * this thread sent just before (__oom_kill_process). */
SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim_pid, int pid)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *victim = NULL;
	__u64 *taskp;

	taskp = bpf_map_lookup_elem(&sigkill_targets, &tid);
	if (taskp) {
		victim = (struct task_struct *)*taskp;
		bpf_map_delete_elem(&sigkill_targets, &tid);
		if (victim && BPF_CORE_READ(victim, pid) != pid)
			victim = NULL;
	}
	if (!victim) {
		/* An already-exiting victim gets no SIGKILL: it is usually current. */
		victim = (struct task_struct *)bpf_get_current_task();
		if (BPF_CORE_READ(victim, pid) != pid)
			return 0;
	}
	return emit_oom_kill(ctx, victim, 0, false);
}

#define SIGKILL 9

SEC("tp_btf/signal_generate")
int BPF_PROG(sigkill_target, int sig, void *info, struct task_struct *task)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 taskp = (__u64)task;

	if (sig != SIGKILL)
		return 0;
	bpf_map_update_elem(&sigkill_targets, &tid, &taskp, BPF_ANY);
	return 0;
}

static __always_inline int remember_oom_call(struct oom_control *oc, __u32 source)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct oom_call call = { .oc = (__u64)oc, .source = source };

	bpf_map_update_elem(&oom_calls, &tid, &call, BPF_ANY);
	return 0;
}

static __always_inline int forget_oom_call(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&oom_calls, &tid);
	return 0;
}

SEC("fentry/oom_kill_process")
int BPF_PROG(fentry_oom_kill_process, struct oom_control *oc)
{
	return remember_oom_call(oc, SOURCE_FENTRY);
}

SEC("fexit/oom_kill_process")
int BPF_PROG(fexit_oom_kill_process)
{
	return forget_oom_call();
}

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(kprobe_oom_kill_process, struct oom_control *oc)
{
	return remember_oom_call(oc, SOURCE_KPROBE);
}

SEC("kretprobe/oom_kill_process")
int BPF_KRETPROBE(kretprobe_oom_kill_process)
{
	return forget_oom_call();
}

static __always_inline int emit_memcg_oom(struct mem_cgroup *memcg, gfp_t gfp_mask, int order)
{
	struct memcg_oom_event *ev;

	if (filter_tgid && (bpf_get_current_pid_tgid() >> 32) != filter_tgid)
		return 0;
	if (!memcg_in_filter(memcg))
		return 0;
	ev = reserve_event(sizeof(*ev), EVENT_MEMCG_OOM);
	if (!ev)
		return 0;
	__builtin_memset(&ev->cgroup, 0, sizeof(ev->cgroup));
	fill_cgroup(&ev->cgroup, memcg);
	ev->gfp_mask = gfp_mask;
	ev->order = order;
	submit_event(ev, false);
	return 0;
}

SEC("fentry/mem_cgroup_out_of_memory")
int BPF_PROG(fentry_mem_cgroup_out_of_memory, struct mem_cgroup *memcg, gfp_t gfp_mask, int order)
{
	return emit_memcg_oom(memcg, gfp_mask, order);
}

SEC("kprobe/mem_cgroup_out_of_memory")
int BPF_KPROBE(kprobe_mem_cgroup_out_of_memory, struct mem_cgroup *memcg, gfp_t gfp_mask, int order)
{
	return emit_memcg_oom(memcg, gfp_mask, order);
}

/*
 * The reclaim programs come in two variants built from the same code, and
 * user space loads one of them (internal/tracer, reclaimVariant). The
 * task-local variant keeps an episode's start in task-local storage and
 * reads the task's memcg with direct loads through the BTF pointer
 * bpf_get_current_task_btf() returns: both need tp_btf programs on Linux
 * 5.12 or later. The _compat variant keeps the start in a hash map and
 * reads through bpf_probe_read_kernel, which every kernel oomtrace supports
 * allows, raw tracepoints included.
 */
static __always_inline int reclaim_begin(__u32 kind, int order, gfp_t gfp_mask, const bool task_local)
{
	__u64 now = bpf_ktime_get_boot_ns();

	if (filter_tgid && (bpf_get_current_pid_tgid() >> 32) != filter_tgid)
		return 0;
	if (task_local) {
		struct reclaim_task *rt;

		rt = bpf_task_storage_get(&reclaim_tasks, bpf_get_current_task_btf(), 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!rt)
			return 0;
		rt->starts[kind].ktime_ns = now;
		rt->starts[kind].gfp_mask = gfp_mask;
		rt->starts[kind].order = order;
	} else {
		struct reclaim_start_key key = {
			.tid = (__u32)bpf_get_current_pid_tgid(),
			.reclaim_kind = kind,
		};
		struct reclaim_start start = {
			.ktime_ns = now,
			.gfp_mask = gfp_mask,
			.order = order,
		};

		bpf_map_update_elem(&reclaim_starts, &key, &start, BPF_ANY);
	}
	return 0;
}

static __always_inline int reclaim_end(__u32 kind, unsigned long nr_reclaimed, const bool task_local)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct reclaim_slot_cache *cache = NULL;
	struct reclaim_start start;
	struct mem_cgroup *memcg;
	struct reclaim_event *ev;
	__u64 duration, cgroup_id;
	__u32 slot_plus1;

	if (task_local) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct reclaim_task *rt = bpf_task_storage_get(&reclaim_tasks, task, 0, 0);

		if (!rt || !rt->starts[kind].ktime_ns)
			return 0;
		start = rt->starts[kind];
		rt->starts[kind].ktime_ns = 0;
		cache = &rt->slots[kind];
		memcg = task_memcg_btf(task);
		cgroup_id = memcg_id_btf(memcg);
	} else {
		struct reclaim_start_key key = {
			.tid = (__u32)bpf_get_current_pid_tgid(),
			.reclaim_kind = kind,
		};
		struct reclaim_start *s = bpf_map_lookup_elem(&reclaim_starts, &key);

		if (!s)
			return 0;
		start = *s;
		bpf_map_delete_elem(&reclaim_starts, &key);
		memcg = task_memcg((struct task_struct *)bpf_get_current_task());
		cgroup_id = memcg ? memcg_id(memcg) : 0;
	}
	duration = now - start.ktime_ns;

	if (!memcg_in_filter(memcg))
		return 0;
	/* Counted first: the record names the histogram, whose slot holds the
	 * cgroup's path (struct cgroup_ref). Episodes shorter than
	 * --reclaim-min never touch the ring buffer. Only a cgroup without a
	 * histogram reaches fill_cgroup after count_reclaim's branches: each
	 * end program, in the variant a kernel loads, takes 17,000 to 20,000
	 * instructions to verify on 5.10, 6.1 and 7.3, where filling every
	 * record's path after them took 493,000 on 5.10 and 6.1. */
	slot_plus1 = count_reclaim(memcg, cgroup_id, kind, duration, cache);
	if (duration < reclaim_min_ns)
		return 0;
	if (slot_plus1 || !memcg) {
		ev = reserve_event_at(sizeof(*ev), EVENT_RECLAIM, now);
		if (!ev)
			return 0;
	} else {
		struct reclaim_path_event *pev;

		pev = reserve_event_at(sizeof(*pev), EVENT_RECLAIM, now);
		if (!pev)
			return 0;
		__builtin_memset(&pev->cgroup, 0, sizeof(pev->cgroup));
		fill_cgroup(&pev->cgroup, memcg);
		ev = &pev->ev;
	}
	ev->cgroup.id = cgroup_id;
	ev->cgroup.flags = memcg ? CGROUP_VALID : 0;
	ev->cgroup.slot_plus1 = slot_plus1;
	if (memcg)
		read_cgroup_counters(&ev->cgroup.usage_pages, &ev->cgroup.limit_pages, memcg);
	else
		ev->cgroup.usage_pages = ev->cgroup.limit_pages = 0;
	ev->duration_ns = duration;
	ev->nr_reclaimed = nr_reclaimed;
	ev->gfp_mask = start.gfp_mask;
	ev->order = start.order;
	ev->reclaim_kind = kind;
	ev->pad = 0;
	submit_event(ev, true);
	return 0;
}

/*
 * The begin tracepoints changed their arguments in Linux 7.1 (see kernel.h):
 * which slots hold the order and the gfp flags is decided by CO-RE at load
 * time, from the tracepoint's prototype in the kernel's BTF. A prototype of
 * neither form is not read at all: no episode is recorded rather than one
 * with its order and gfp mask swapped.
 */
#define RECLAIM_BEGIN_PROG(prog, tp, kind, task_local)                                         \
	SEC("tp_btf/" #tp)                                                                     \
	int prog(__u64 *ctx)                                                                   \
	{                                                                                      \
		if (bpf_core_type_exists(btf_trace_##tp##___memcg))                            \
			return reclaim_begin(kind, (int)ctx[1], (gfp_t)ctx[0], task_local);    \
		if (bpf_core_type_exists(btf_trace_##tp##___pre71))                            \
			return reclaim_begin(kind, (int)ctx[0], (gfp_t)ctx[1], task_local);    \
		return 0;                                                                      \
	}

/* The end tracepoints kept nr_reclaimed first; 7.1 appended the memcg. */
#define RECLAIM_END_PROG(prog, tp, kind, task_local)                                            \
	SEC("tp_btf/" #tp)                                                                      \
	int BPF_PROG(prog, unsigned long nr_reclaimed)                                          \
	{                                                                                       \
		return reclaim_end(kind, nr_reclaimed, task_local);                             \
	}

/* Both variants of the begin and end programs of one kind of reclaim. */
#define RECLAIM_PROGS(name, tp, kind)                                                           \
	RECLAIM_BEGIN_PROG(name##_begin, tp##_begin, kind, true)                                \
	RECLAIM_BEGIN_PROG(name##_begin_compat, tp##_begin, kind, false)                        \
	RECLAIM_END_PROG(name##_end, tp##_end, kind, true)                                      \
	RECLAIM_END_PROG(name##_end_compat, tp##_end, kind, false)

RECLAIM_PROGS(direct_reclaim, mm_vmscan_direct_reclaim, RECLAIM_DIRECT)
RECLAIM_PROGS(memcg_reclaim, mm_vmscan_memcg_reclaim, RECLAIM_MEMCG)
RECLAIM_PROGS(softlimit_reclaim, mm_vmscan_memcg_softlimit_reclaim, RECLAIM_SOFTLIMIT)

SEC("tp_btf/mm_vmscan_kswapd_wake")
int BPF_PROG(kswapd_wake, int nid, int zid, int order)
{
	struct kswapd_wake_event *ev;

	if (filter_tgid || filter_cgroup_id)
		return 0; /* kswapd belongs to no process or cgroup being filtered */
	ev = reserve_event(sizeof(*ev), EVENT_KSWAPD_WAKE);
	if (!ev)
		return 0;
	ev->nid = nid;
	ev->zid = zid;
	ev->order = order;
	ev->pad = 0;
	submit_event(ev, true);
	return 0;
}

static __always_inline int emit_reaper(__u32 step, int pid)
{
	struct reaper_event *ev;
	__u32 victim = pid;

	/* The reaper runs in its own kernel thread: under a filter, report it
	 * for the victims the filter let through. */
	if ((filter_tgid || filter_cgroup_id) && !bpf_map_lookup_elem(&filtered_victims, &victim))
		return 0;
	ev = reserve_event(sizeof(*ev), EVENT_REAPER);
	if (!ev)
		return 0;
	ev->step = step;
	ev->victim_pid = pid;
	submit_event(ev, false);
	return 0;
}

SEC("tp_btf/wake_reaper")
int BPF_PROG(wake_reaper, int pid)
{
	return emit_reaper(REAPER_WAKE, pid);
}

SEC("tp_btf/start_task_reaping")
int BPF_PROG(start_task_reaping, int pid)
{
	return emit_reaper(REAPER_START, pid);
}

SEC("tp_btf/finish_task_reaping")
int BPF_PROG(finish_task_reaping, int pid)
{
	return emit_reaper(REAPER_FINISH, pid);
}

SEC("tp_btf/skip_task_reaping")
int BPF_PROG(skip_task_reaping, int pid)
{
	return emit_reaper(REAPER_SKIP, pid);
}

/* The result argument of signal:signal_generate. */
enum {
	TRACE_SIGNAL_DELIVERED = 0,
	TRACE_SIGNAL_LOSE_INFO = 4, /* queued without its siginfo: still delivered */
};

/* kernel_siginfo pointers that are not pointers (include/linux/sched/signal.h). */
#define SEND_SIG_NOINFO 0 /* from user space: SI_USER */
#define SEND_SIG_PRIV 1   /* from the kernel: SI_KERNEL */
#define SI_USER 0
#define SI_KERNEL 0x80

/* Is the target or the sender, by process or memcg subtree, in the filter? */
static __always_inline bool wanted_signal(struct task_struct *sender, struct mem_cgroup *sender_memcg,
					  struct task_struct *target, struct mem_cgroup *target_memcg)
{
	if (filter_tgid && BPF_CORE_READ(target, tgid) != filter_tgid &&
	    BPF_CORE_READ(sender, tgid) != filter_tgid)
		return false;
	return memcg_in_filter(target_memcg) || memcg_in_filter(sender_memcg);
}

/* signal:signal_generate(int sig, struct kernel_siginfo *info,
 * struct task_struct *task, int group, int result), in the sender's context.
 * Every signal sent passes here: anything but a fatal signal that was queued
 * returns after two comparisons. */
SEC("tp_btf/signal_generate")
int BPF_PROG(signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task();
	struct mem_cgroup *sender_memcg, *target_memcg;
	struct oom_kill_event *zero;
	struct signal_event *ev;
	__u32 zero_key = 0;

	if (sig <= 0 || sig >= 64 || !(fatal_signals & (1ULL << sig)))
		return 0;
	if (result != TRACE_SIGNAL_DELIVERED && result != TRACE_SIGNAL_LOSE_INFO)
		return 0;
	if (!task)
		return 0;
	sender_memcg = task_memcg(current);
	target_memcg = task_memcg(task);
	if (!wanted_signal(current, sender_memcg, task, target_memcg))
		return 0;
	/* Two cgroup_infos are too large for an inlined memset: clear the
	 * record from the zeroed oom_kill record, which is larger. */
	zero = bpf_map_lookup_elem(&zeroed_oom_kill, &zero_key);
	if (!zero)
		return 0;
	ev = reserve_event(sizeof(*ev), EVENT_SIGNAL);
	if (!ev)
		return 0;
	bpf_probe_read_kernel((void *)ev + sizeof(ev->hdr), sizeof(*ev) - sizeof(ev->hdr),
			      (void *)zero + sizeof(ev->hdr));
	fill_cgroup(&ev->sender_cgroup, sender_memcg);
	fill_cgroup(&ev->target_cgroup, target_memcg);
	ev->sig = sig;
	if ((unsigned long)info == SEND_SIG_NOINFO)
		ev->code = SI_USER;
	else if ((unsigned long)info == SEND_SIG_PRIV)
		ev->code = SI_KERNEL;
	else
		ev->code = BPF_CORE_READ(info, si_code);
	ev->target_pid = BPF_CORE_READ(task, pid);
	ev->target_tgid = BPF_CORE_READ(task, tgid);
	ev->group = group != 0;
	BPF_CORE_READ_STR_INTO(&ev->target_comm, task, comm);
	submit_event(ev, false);
	return 0;
}

/* sched:sched_process_exit(struct task_struct *task[, bool group_dead]):
 * one record per process that a signal ended, from its last thread. The
 * exit code is already set, and signal->live already counts this thread
 * out, when the tracepoint fires. */
static __always_inline int report_exit(struct task_struct *task)
{
	struct mem_cgroup *memcg;
	struct exit_event *ev;
	int code;

	if (!task)
		return 0;
	code = BPF_CORE_READ(task, exit_code);
	if ((code & 0x7f) == 0) /* a normal exit: the status is in bits 8-15 */
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0) /* not the last thread */
		return 0;
	if (filter_tgid && BPF_CORE_READ(task, tgid) != filter_tgid)
		return 0;
	memcg = task_memcg(task);
	if (!memcg_in_filter(memcg))
		return 0;
	if (!first_of_process(&reported_exits, task))
		return 0; /* another thread of the process reported it */
	ev = reserve_event(sizeof(*ev), EVENT_EXIT);
	if (!ev)
		return 0;
	__builtin_memset(&ev->cgroup, 0, sizeof(ev->cgroup));
	fill_cgroup(&ev->cgroup, memcg);
	ev->exit_code = code;
	ev->pad = 0;
	submit_event(ev, false);
	return 0;
}

/* As a perf tracepoint, whose programs run with preemption disabled on
 * every kernel. Since Linux 7.0 a tracepoint runs its tp_btf programs
 * under SRCU, preemptible, and the kernel does not start a program on a
 * CPU where it is still running: while one exiting task was preempted
 * inside the program, the others exiting on that CPU went unreported (60
 * of 200 processes killed together, on 7.3 under qemu). The exiting task
 * is current. */
SEC("tracepoint/sched/sched_process_exit")
int process_exit(void *ctx)
{
	return report_exit((struct task_struct *)bpf_get_current_task());
}

/* The same where no tracefs is mounted to open a perf tracepoint through. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_btf, struct task_struct *task)
{
	return report_exit(task);
}
