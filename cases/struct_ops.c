/* struct_ops.c — a TCP congestion control in BPF (struct_ops): each
 * operation is a struct_ops program; the map in .struct_ops.link ties them
 * to struct tcp_congestion_ops. A struct_ops program gets a private stack
 * only when its struct_ops type asks for one (no in-tree type does but the
 * test module's): every frame stays on the normal stack, on every kernel.
 *
 *   pstack_ssthresh (160 B) -> deep (320 B): 480, accepted
 *   pstack_cong_avoid (64 B) -> mid (320 B): 384, accepted
 * struct_ops_deep.c has the refused one (libbpf loads every program a
 * struct_ops map names together: one refused program fails them all).
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

static __noinline __u32 deep(__u32 x)
{
	FRAME(320);
	return TOUCH() + x;
}

static __noinline __u32 mid(__u32 x)
{
	FRAME(320);
	return TOUCH() + x;
}

SEC("struct_ops/pstack_ssthresh")
__u32 pstack_ssthresh(unsigned long long *ctx)
{
	FRAME(160);
	return deep(2) + TOUCH();
}

SEC("struct_ops/pstack_cong_avoid")
void pstack_cong_avoid(unsigned long long *ctx)
{
	FRAME(64);
	frame_[1] = mid(TOUCH());
}

SEC("struct_ops/pstack_undo_cwnd")
__u32 pstack_undo_cwnd(unsigned long long *ctx)
{
	return 2;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops pstack_cc = {
	.ssthresh = (void *)pstack_ssthresh,
	.cong_avoid = (void *)pstack_cong_avoid,
	.undo_cwnd = (void *)pstack_undo_cwnd,
	.name = "pstack_cc",
};
