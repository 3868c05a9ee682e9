/* rounding.c — a chain that passes 512 bytes only after 6.1's rounding.
 *
 *   rchain (80 B) -> r1 -> r2 -> r3 -> r4 -> r5   (six frames of 80 B)
 *
 * Linux 6.1 rounds each frame up to 32 bytes: 6 x 96 = 576 > 512, rejected.
 * 6.12+ rounds to 16 when JITed: 6 x 80 = 480, accepted. A socket filter
 * gets no private stack on any kernel, so the sum is the whole story.
 */
#include "common.h"

#define LEVEL(name, next)                               \
	static __noinline int name(int x)               \
	{                                               \
		FRAME(80);                              \
		return next(x) + TOUCH();               \
	}

static __noinline int r5(int x)
{
	FRAME(80);
	return TOUCH() + x;
}
LEVEL(r4, r5)
LEVEL(r3, r4)
LEVEL(r2, r3)
LEVEL(r1, r2)

SEC("socket")
int rchain(struct __sk_buff *skb)
{
	FRAME(80);
	return r1(0) + TOUCH();
}
