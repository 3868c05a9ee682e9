/* recursion_top.c — a tail call into a bigger frame, for the per-program
 * scheme's "where does r9 point" question.
 *
 *   small (32 B) --call--> relay (64 B) --tail_call(to_big[0])--> big (256 B)
 *   small (32 B) --tail_call(to_big[0])--> big (256 B)
 *
 * With one buffer per program and r9 set once before the tail-call landing
 * point, a tail callee's frame starts where the replaced frame started.
 * From relay that is 32 bytes into the buffer, with small still live below
 * it: big's 256 bytes must fit above that base (buffer >= 32 + 256), and if
 * r9 meant the frame's top rather than its base, big's frame would grow
 * downwards from relay's top into small's live frame. The direct tail call
 * at the end replaces small itself (nothing else is live).
 */
#include "common.h"

int big(void *ctx);

PROG_ARRAY(to_big, 1) = {
	.values = { [0] = (void *)&big },
};

static __noinline int relay(void *ctx)
{
	FRAME(64);
	bpf_tail_call(ctx, &to_big, 0);
	return TOUCH();
}

SEC("raw_tp/sys_enter")
int small(void *ctx)
{
	FRAME(32);
	int r = relay(ctx);       /* small's frame is live under relay's */
	if (r + TOUCH())
		bpf_tail_call(ctx, &to_big, 0); /* replaces small */
	return 0;
}

SEC("raw_tp/sys_exit")
int big(void *ctx)
{
	FRAME(256);
	return TOUCH();
}
