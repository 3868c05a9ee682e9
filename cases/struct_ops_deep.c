/* struct_ops_deep.c — struct_ops.c's ssthresh over the limit: struct_ops
 * programs get no private stack unless their struct_ops type asks for one,
 * so 160 + 384 = 544 bytes on the normal stack is refused on every kernel.
 */
#include "common.h"

struct sock {
	int __local;
} __attribute__((preserve_access_index));

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

static __noinline __u32 deeper(__u32 x)
{
	FRAME(384);
	return TOUCH() + x;
}

SEC("struct_ops/deep_ssthresh")
__u32 deep_ssthresh(unsigned long long *ctx)
{
	FRAME(160);
	return deeper(2) + TOUCH();
}

SEC("struct_ops/deep_cong_avoid")
void deep_cong_avoid(unsigned long long *ctx)
{
	FRAME(64);
	frame_[1] = deeper(TOUCH()); /* 64 + 384: within the limit */
}

SEC("struct_ops/deep_undo_cwnd")
__u32 deep_undo_cwnd(unsigned long long *ctx)
{
	return 2;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops pstack_deep_cc = {
	.ssthresh = (void *)deep_ssthresh,
	.cong_avoid = (void *)deep_cong_avoid,
	.undo_cwnd = (void *)deep_undo_cwnd,
	.name = "pstack_deep_cc",
};
