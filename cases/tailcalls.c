/* tailcalls.c — which programs can a tail call reach?
 *
 *   dispatch --tail_call(jmp[1])-->      t1              slot known
 *   dispatch --tail_call(jmp[queue])-->  t0, t1, t2, ... slot from ctx
 *   dispatch --tail_call(empty[0])-->    ?               map not initialised
 *
 * `jmp` has three slots initialised in the object (t0, t1, t2). A constant
 * slot names its target. A slot computed at run time (the rx queue) may be
 * any initialised slot, and since user space can update a prog array, any
 * program of a compatible type (here: every xdp program of the object).
 * `empty` has no initial values: its targets come only from user space or
 * from the environment file. All programs are xdp, as libbpf requires of
 * the programs in one prog array.
 */
#include "common.h"

int t0(struct xdp_md *ctx);
int t1(struct xdp_md *ctx);
int t2(struct xdp_md *ctx);

PROG_ARRAY(jmp, 4) = {
	.values = { [0] = (void *)&t0, [1] = (void *)&t1, [2] = (void *)&t2 },
};

PROG_ARRAY(empty, 2);

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	FRAME(48);
	if (ctx->ingress_ifindex == 1)
		bpf_tail_call(ctx, &jmp, 1);                   /* constant slot */
	bpf_tail_call(ctx, &jmp, ctx->rx_queue_index);         /* variable slot */
	bpf_tail_call(ctx, &empty, 0);                         /* unknown map contents */
	return TOUCH();
}

SEC("xdp")
int t0(struct xdp_md *ctx)
{
	FRAME(64);
	return TOUCH();
}

SEC("xdp")
int t1(struct xdp_md *ctx)
{
	FRAME(128);
	return TOUCH();
}

SEC("xdp")
int t2(struct xdp_md *ctx)
{
	FRAME(256);
	bpf_tail_call(ctx, &jmp, 0); /* t2 -> t0 */
	return TOUCH();
}
