/* scx_fifo.c — a sched_ext scheduler in the style of the in-tree C ones:
 * one shared FIFO queue, idle CPUs found through the idle cpumask the
 * kernel lends (scx_bpf_get_idle_cpumask / scx_bpf_put_idle_cpumask) and a
 * cpumask of our own (bpf_cpumask_create / bpf_cpumask_release), a bpf_for
 * over the CPUs, and a walk of the shared queue with the open-coded DSQ
 * iterator whose tasks are kept in the frame and handed to a subprogram.
 * The kfuncs return `const struct cpumask *`, `struct bpf_cpumask *` and
 * `struct task_struct *` (their BTF prototypes): kernel objects, not
 * pointers into the frame, though some were given one.
 *
 *   fifo_select_cpu (56 B: 48 + is_idle) -> fifo_scan (200 B: 192 + the
 *     8-byte bpf_for iterator)
 *   fifo_dispatch (128 B: 64 + the 48-byte DSQ iterator + 2 task pointers)
 *     -> fifo_oldest (96 B)
 *   fifo_enqueue (32 B), fifo_init, fifo_exit (0 B)
 *
 * struct_ops gets no private stack (sched_ext does not ask for one): every
 * chain is on the kernel stack, within 512 bytes on every kernel. None of
 * the oracle kernels can load it: Debian's 6.12 and this host's 6.18 are
 * built without CONFIG_SCHED_CLASS_EXT, 6.1 predates sched_ext.
 */
#include "scx_common.h"

/* the first CPU that is idle and allowed to p, or -1 */
static __noinline __s32 fifo_scan(struct task_struct *p)
{
	FRAME(192);
	const struct cpumask *idle;
	struct bpf_cpumask *mine;
	__s32 cpu, best = -1;
	__u32 n = scx_bpf_nr_cpu_ids();

	mine = bpf_cpumask_create();
	if (!mine)
		return -1;
	idle = scx_bpf_get_idle_cpumask();
	bpf_for(cpu, 0, n)
		if (bpf_cpumask_test_cpu(cpu, idle) && bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			bpf_cpumask_set_cpu(cpu, mine);
	scx_bpf_put_idle_cpumask(idle);
	if (bpf_cpumask_weight(cast_mask(mine)))
		best = bpf_cpumask_first(cast_mask(mine));
	bpf_cpumask_release(mine);
	return best + TOUCH();
}

/* the task of the lowest pid among those the caller found */
static __noinline int fifo_oldest(struct task_struct **ts, int n)
{
	FRAME(96);
	int best = -1;

	if (n > 0 && ts[0])
		best = ts[0]->pid;
	if (n > 1 && ts[1] && ts[1]->pid < best)
		best = ts[1]->pid;
	return best + TOUCH();
}

SEC("struct_ops/fifo_select_cpu")
__s32 fifo_select_cpu(unsigned long long *ctx)
{
	struct task_struct *p = (void *)ctx[0];
	__s32 prev_cpu = ctx[1], cpu;
	bool is_idle = false;
	FRAME(48);

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, ctx[2], &is_idle);
	if (is_idle) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
		return cpu;
	}
	/* p is never NULL in the kernel; the test harness's context is zeros */
	if (p && p->nr_cpus_allowed > 1) {
		__s32 c = fifo_scan(p);

		if (c >= 0)
			cpu = c;
	}
	return cpu + TOUCH();
}

SEC("struct_ops/fifo_enqueue")
void fifo_enqueue(unsigned long long *ctx)
{
	FRAME(32);

	scx_bpf_dsq_insert((void *)ctx[0], SHARED_DSQ, SCX_SLICE_DFL, ctx[1] + TOUCH());
}

SEC("struct_ops/fifo_dispatch")
void fifo_dispatch(unsigned long long *ctx)
{
	struct bpf_iter_scx_dsq it;
	struct task_struct *ts[2] = {};
	FRAME(64);
	int n = 0;

	bpf_iter_scx_dsq_new(&it, SHARED_DSQ, 0);
	ts[0] = bpf_iter_scx_dsq_next(&it);
	if (ts[0]) {
		n = 1;
		ts[1] = bpf_iter_scx_dsq_next(&it);
		n += ts[1] != NULL;
	}
	frame_[1] = fifo_oldest(ts, n);
	bpf_iter_scx_dsq_destroy(&it);
	scx_bpf_dsq_move_to_local(SHARED_DSQ);
}

SEC("struct_ops.s/fifo_init")
__s32 fifo_init(unsigned long long *ctx)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SEC("struct_ops/fifo_exit")
void fifo_exit(unsigned long long *ctx)
{
}

SEC(".struct_ops.link")
struct sched_ext_ops pstack_fifo = {
	.select_cpu = (void *)fifo_select_cpu,
	.enqueue = (void *)fifo_enqueue,
	.dispatch = (void *)fifo_dispatch,
	.init = (void *)fifo_init,
	.exit = (void *)fifo_exit,
	.name = "pstack_fifo",
};
