/* scx_pick.c — two shapes of code from public sched_ext schedulers that the
 * kernel verifier accepts and whose frames must come out as the kernel
 * measures them (none of the oracle kernels has sched_ext: see scx_fifo.c;
 * struct_ops_cpumask.c has the first shape in a loadable struct_ops):
 *
 * - pick_idle(p, prev_cpu, this_cpu, wake_flags, from_enqueue), as
 *   scx_bpfland's pick_idle_cpu: it spills p, calls a subprogram of two
 *   arguments while its own r3-r5 still hold this_cpu, wake_flags and
 *   from_enqueue (scalars), then reloads p and hands it to
 *   scx_bpf_select_cpu_dfl. Those registers are numbers, and a callee of
 *   two arguments reads none of them: p's slot still holds p.
 * - stat_add(st, idx, cell), as scx_mitosis's cstat_add (MEMBER_VPTR): an
 *   offset bounded by a compare, then added to a pointer argument (a map
 *   value here): base + bounded offset, never a stack access at an
 *   unknown offset.
 *
 *   pick_select_cpu (160 B) -> pick_idle (120 B: 96 + is_idle + spills)
 *     -> pick_weigh (32 B)
 *   pick_enqueue (64 B) -> stat_add (0 B); -> pick_idle -> pick_weigh
 *   pick_dispatch, pick_init (0 B)
 */
#include "scx_common.h"

struct pick_stats {
	__u64 cnt[4][13];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pick_stats);
} pick_stats SEC(".maps");

static __noinline int pick_weigh(int a, int b)
{
	FRAME(32);
	return TOUCH() + a + b;
}

/* prev_cpu and this_cpu are 64-bit here (s32 in scx_bpfland) so that
 * whatever the compiler spills is 8 bytes in every build of the matrix */
static __noinline __s32 pick_idle(struct task_struct *p, __s64 prev_cpu, __s64 this_cpu,
				  __u64 wake_flags, bool from_enqueue)
{
	FRAME(96);
	bool is_idle = false;
	__s32 cpu;
	int w;

	w = pick_weigh(prev_cpu, 0);
	if (from_enqueue)
		return -16 + w + TOUCH();
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle)
		return cpu;
	if (this_cpu >= 0 && bpf_cpumask_test_cpu(this_cpu, p->cpus_ptr))
		return this_cpu + w;
	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, wake_flags);
	return cpu + w + TOUCH();
}

/* MEMBER_VPTR(*st, .cnt[cell][idx]): the offset is checked, then added */
static __noinline __u64 stat_add(struct pick_stats *st, __u32 idx, __u32 cell)
{
	__u64 off = (__u64)cell * sizeof(st->cnt[0]) + (__u64)idx * sizeof(st->cnt[0][0]);

	asm volatile("" : "+r"(off));
	if (off <= sizeof(*st) - sizeof(__u64))
		*(__u64 *)((char *)st + off) += 1;
	return st->cnt[0][0];
}

SEC("struct_ops/pick_select_cpu")
__s32 pick_select_cpu(unsigned long long *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	FRAME(160);

	if (!p) /* never NULL in the kernel; the test harness's context is zeros */
		return -1;
	return pick_idle(p, ctx[1], bpf_get_smp_processor_id(), ctx[2], ctx[2] & 1) + TOUCH();
}

SEC("struct_ops/pick_enqueue")
void pick_enqueue(unsigned long long *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	struct pick_stats *st;
	__u32 zero = 0;
	FRAME(56);

	if (!p) /* never NULL in the kernel; the test harness's context is zeros */
		return;
	st = bpf_map_lookup_elem(&pick_stats, &zero);
	if (st)
		frame_[1] = stat_add(st, p->pid & 7, TOUCH() & 3);
	if (pick_idle(p, -1, -1, 0, true) < 0)
		scx_bpf_dsq_insert(p, SHARED_DSQ, SCX_SLICE_DFL, ctx[1]);
}

SEC("struct_ops/pick_dispatch")
void pick_dispatch(unsigned long long *ctx)
{
	scx_bpf_dsq_move_to_local(SHARED_DSQ);
}

SEC("struct_ops.s/pick_init")
__s32 pick_init(unsigned long long *ctx)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SEC(".struct_ops.link")
struct sched_ext_ops pstack_pick = {
	.select_cpu = (void *)pick_select_cpu,
	.enqueue = (void *)pick_enqueue,
	.dispatch = (void *)pick_dispatch,
	.init = (void *)pick_init,
	.name = "pstack_pick",
};
