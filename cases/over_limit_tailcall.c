/* over_limit_tailcall.c — a tail call below 320 bytes of callers' frames.
 *
 *   tc_deep (160 B) -> t1 (160 B) -> t2 (32 B) --tail_call(tc_jmp[0])--> tc_deep
 *
 * The chain itself (352 B) is under 512, but a subprogram may tail-call
 * only while the frames of its callers add up to at most 256 bytes: a tail
 * call from a subprogram replaces only that subprogram's frame, its callers'
 * frames stay on the stack, and a chain may take 33 tail calls, so without
 * the limit the pile could reach 33 x 512 bytes. The callers of t2 use
 * 160 + 160 = 320 bytes: "tail_calls are not allowed when call stack of
 * previous frames is 320 bytes. Too large". t2's own frame does not count.
 */
#include "common.h"

int tc_deep(struct xdp_md *ctx);

PROG_ARRAY(tc_jmp, 1) = {
	.values = { [0] = (void *)&tc_deep },
};

static __noinline int t2(struct xdp_md *ctx)
{
	FRAME(32);
	bpf_tail_call(ctx, &tc_jmp, 0);
	return TOUCH();
}

static __noinline int t1(struct xdp_md *ctx)
{
	FRAME(160);
	return t2(ctx) + TOUCH();
}

SEC("xdp")
int tc_deep(struct xdp_md *ctx)
{
	FRAME(160);
	return t1(ctx) + TOUCH();
}
