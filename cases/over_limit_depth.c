/* over_limit_depth.c — nine frames in one chain.
 *
 *   depth -> d1 -> d2 -> ... -> d8        (9 frames of 8 bytes each)
 *
 * The kernel allows at most 8 frames (MAX_CALL_FRAMES): the main program
 * and 7 nested calls. The bytes are tiny (72 in all), so only the frame
 * count decides: "the call stack of 9 frames is too deep".
 */
#include "common.h"

#define LEVEL(name, next)                         \
	static __noinline int name(int x)         \
	{                                         \
		FRAME(8);                         \
		return next(x) + TOUCH();         \
	}

static __noinline int d8(int x)
{
	FRAME(8);
	return TOUCH() + x;
}
LEVEL(d7, d8)
LEVEL(d6, d7)
LEVEL(d5, d6)
LEVEL(d4, d5)
LEVEL(d3, d4)
LEVEL(d2, d3)
LEVEL(d1, d2)

SEC("xdp")
int depth(struct xdp_md *ctx)
{
	FRAME(8);
	return d1(ctx->ingress_ifindex) + TOUCH();
}
