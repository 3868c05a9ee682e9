/* struct_ops_outparam.c — a subprogram that returns its result through a
 * pointer into its caller's frame, called twice with two slots of that
 * frame, as sched_ext's PMU library does (scx_cosmos: cosmos_stopping ->
 * scx_pmu_read(p, idx, &val)), in a struct_ops type the oracle kernels have.
 *
 *   op_ssthresh (16 B) -> op_read (32 B), twice
 *   op_cong_avoid (8 B) -> op_read
 *
 * After the first call the callee may have written into op_ssthresh's
 * frame, but never a stack pointer: the verifier refuses to spill one into
 * another frame than the writer's (check_stack_write_fixed_off). Taking
 * the slots as possible stack pointers made the second call "pass a frame
 * holding stack pointers" and op_ssthresh's frame 512.
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

static __noinline int op_read(__u32 v, int k, __u64 *out)
{
	FRAME(32);
	*out = (__u64)v * k + TOUCH();
	return k;
}

SEC("struct_ops/op_ssthresh")
__u32 op_ssthresh(unsigned long long *ctx)
{
	__u64 a = 0, b = 0;

	op_read(ctx[0] ? 1 : 0, 2, &a);
	op_read(4, 3, &b);
	return (__u32)(a + b);
}

SEC("struct_ops/op_cong_avoid")
void op_cong_avoid(unsigned long long *ctx)
{
	__u64 a = 0;

	op_read((__u32)ctx[1], 5, &a);
	if (a > 3)
		op_read((__u32)ctx[2], 7, &a);
}

SEC("struct_ops/op_undo_cwnd")
__u32 op_undo_cwnd(unsigned long long *ctx)
{
	return 2;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops pstack_op = {
	.ssthresh = (void *)op_ssthresh,
	.cong_avoid = (void *)op_cong_avoid,
	.undo_cwnd = (void *)op_undo_cwnd,
	.name = "pstack_op",
};
