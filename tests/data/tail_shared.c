/* Programs that tail-call the same program: the explicit engine's searches
 * share what an earlier one proved (model/engine.h, ExploreCache), and
 * each program's kernel stack must still be its own.
 *
 *   big    (256) --tail_call(jmp[1])--> leaf (64)
 *   small  (32)  --tail_call(jmp[1])--> leaf
 *   small2 (32)  --tail_call(jmp[1])--> leaf
 *   mid    (32)  --tail_call(jmp[0])--> small
 *
 * The slots come from tail_shared.env.json, so the programs stay in this
 * order in the object (big is searched before small).
 *
 * big: 256; small, small2, mid: 64; leaf: 64. The kernel stack of `small`
 * is not big's 256 although both reach leaf after one tail call.
 */
#include "common.h"

/* slots filled by tail_shared.env.json: 0 = small, 1 = leaf */
PROG_ARRAY(jmp, 2);

SEC("xdp")
int big(struct xdp_md *ctx)
{
	FRAME(256);
	bpf_tail_call(ctx, &jmp, 1);
	return TOUCH();
}

SEC("xdp")
int small(struct xdp_md *ctx)
{
	FRAME(32);
	bpf_tail_call(ctx, &jmp, 1);
	return TOUCH();
}

SEC("xdp")
int small2(struct xdp_md *ctx)
{
	FRAME(32);
	bpf_tail_call(ctx, &jmp, 1);
	return TOUCH();
}

SEC("xdp")
int mid(struct xdp_md *ctx)
{
	FRAME(32);
	bpf_tail_call(ctx, &jmp, 0);
	return TOUCH();
}

SEC("xdp")
int leaf(struct xdp_md *ctx)
{
	FRAME(64);
	return TOUCH();
}
