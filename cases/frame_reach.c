/* frame_reach.c — a frame holding a stack pointer, and a call given a
 * pointer into that frame, as scx_lavd, scx_p2dq and scx_chaos have them
 * (pick_idle_cpu -> is_sync_waker_idle, topo_print -> topo_iter_next).
 *
 *   reach_entry (32 B) -> fill (16 B)
 *   stale_entry (24 B) -> two (24 B)
 *
 * reach_entry keeps a pointer to `loc` in a (volatile) slot below `v`
 * and passes fill &v: fill touches nothing below the pointer it gets, so
 * it cannot reach the slot (the kernel bounds an access through a stack
 * pointer to that frame, check_stack_access_within_bounds). stale_entry
 * calls two(1, 2) with r3 still pointing into its frame (set by the asm):
 * two never reads r3, so it passes nothing. Either made the caller "pass a
 * frame holding stack pointers" and its frame 512.
 */
#include "common.h"

struct val {
	__u64 a, b;
};

static __noinline int fill(__u64 *out)
{
	FRAME(16);
	*out = TOUCH() + 1;
	return 0;
}

static __noinline int two(int a, int b)
{
	FRAME(24);
	return a + b + TOUCH();
}

SEC("raw_tp/sys_enter")
int reach_entry(void *ctx)
{
	__u64 v = 0;
	struct val loc = {1, 2};
	struct val *volatile lp = &loc;

	fill(&v);
	return (int)(v + lp->a);
}

SEC("raw_tp/sys_exit")
int stale_entry(void *ctx)
{
	struct val loc = {3, 4};
	struct val *volatile lp = &loc;
	int r;

	asm volatile("r3 = r10; r3 += -8" ::: "r3");
	r = two(1, 2);
	return r + (int)lp->b;
}
