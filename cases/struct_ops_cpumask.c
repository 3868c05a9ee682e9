/* struct_ops_cpumask.c — what a sched_ext scheduler's idle-CPU picking
 * does, in a struct_ops type the oracles' kernels have (Debian's 6.12 and
 * this host's 6.18 are built without sched_ext): cpumask kfuncs returning
 * a `struct bpf_cpumask *` (declared by hand in scx_common.h), a bpf_for
 * loop over an open-coded iterator, and
 * a subprogram with scalar arguments that calls another one while its
 * own argument registers r3-r5 still hold those scalars.
 *
 *   cm_ssthresh (160 B) -> cm_pick (>= 96 B) -> cm_weigh (64 B)
 *   cm_cong_avoid (64 B) -> cm_pick -> cm_weigh
 *
 * cm_pick keeps the context pointer in its frame across the call to
 * cm_weigh(1, 0), whose r3-r5 are cm_pick's untouched hint, flags and
 * spread, and reads ctx[0] after it (no CO-RE, so the host's JIT of it can
 * be compared with jitgen's). The kernel types registers as their values:
 * scalars. Taken as possible stack pointers, they made the context
 * pointer's slot a stack pointer at an unknown offset after the call, and
 * cm_pick's frame 512 (the kernels say 144).
 */
#include "scx_common.h"

struct sock {
	int __local;
} __attribute__((preserve_access_index));

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

static __noinline int cm_weigh(int a, int b)
{
	FRAME(64);
	return TOUCH() + a + b;
}

static __noinline __u32 cm_pick(unsigned long long *ctx, __u32 prev, __u32 hint, __u64 flags,
				__u32 spread)
{
	FRAME(96);
	struct bpf_cpumask *m;
	__u32 cpu = prev, i;
	int w;

	w = cm_weigh(1, 0);
	m = bpf_cpumask_create();
	if (!m)
		return w + TOUCH();
	bpf_for(i, 0, 8)
		if (i & spread)
			bpf_cpumask_set_cpu(i, m);
	if (bpf_cpumask_test_cpu(hint, cast_mask(m)))
		cpu = hint;
	cpu += bpf_cpumask_first(cast_mask(m)) + (ctx[0] ? 1 : 0) + (__u32)(flags >> 3);
	bpf_cpumask_release(m);
	return cpu + w + TOUCH();
}

SEC("struct_ops/cm_ssthresh")
__u32 cm_ssthresh(unsigned long long *ctx)
{
	FRAME(160);

	return cm_pick(ctx, 2, TOUCH(), 0x48, 3) + TOUCH();
}

SEC("struct_ops/cm_cong_avoid")
void cm_cong_avoid(unsigned long long *ctx)
{
	FRAME(64);

	frame_[1] = cm_pick(ctx, (__u32)ctx[1], (__u32)ctx[2], ctx[1] << 4, 5);
}

SEC("struct_ops/cm_undo_cwnd")
__u32 cm_undo_cwnd(unsigned long long *ctx)
{
	return 2;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops pstack_cm = {
	.ssthresh = (void *)cm_ssthresh,
	.cong_avoid = (void *)cm_cong_avoid,
	.undo_cwnd = (void *)cm_undo_cwnd,
	.name = "pstack_cm",
};
