/* over_limit_chain.c — a call chain whose frames sum past 512 bytes.
 *
 *   chain (160 B) -> c1 (160 B) -> c2 (160 B) -> c3 (160 B)   = 640 B
 *
 * A socket filter has no private stack (only kprobe, tracepoint,
 * perf_event, raw_tp and recursion-checked tracing/LSM/struct_ops get one),
 * so the whole chain is on the kernel stack and every kernel rejects it:
 * "combined stack size of 4 calls is 640. Too large". kprobe_chain.c is the
 * same chain in a kprobe, which 6.13+ accepts.
 */
#include "common.h"

static __noinline int c3(int x)
{
	FRAME(160);
	return TOUCH() + x;
}

static __noinline int c2(int x)
{
	FRAME(160);
	return c3(x) + TOUCH();
}

static __noinline int c1(int x)
{
	FRAME(160);
	return c2(x) + TOUCH();
}

SEC("socket")
int chain(struct __sk_buff *skb)
{
	FRAME(160);
	return c1(skb->len) + TOUCH();
}
