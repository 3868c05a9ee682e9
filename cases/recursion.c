/* recursion.c — the reviewer's counterexample to "one private buffer per
 * subprogram".
 *
 *   entry (96 B) --call--> subprog1 (64 B) --tail_call(jmp_table[0])--> entry
 *
 * The tail call re-enters `entry` while the first activation of `entry` is
 * still live (subprog1 was called from it and has not returned). If every
 * (sub)program owned one fixed per-CPU buffer, the second `entry` would
 * write its frame over the first one's. Slot 0 of jmp_table is initialised
 * in the object itself, so the cycle is visible without user space.
 *
 * Linux 6.13+ keeps the normal kernel stack for any program that contains
 * a tail call, so the kernel accepts it (tail-call count bounds the chain,
 * and the callers above subprog1 use 96 <= 256 bytes).
 */
#include "common.h"

int entry(void *ctx);

PROG_ARRAY(jmp_table, 1) = {
	.values = { [0] = (void *)&entry },
};

static __noinline int subprog1(void *ctx)
{
	FRAME(64);
	bpf_tail_call(ctx, &jmp_table, 0); /* re-enters entry */
	return TOUCH();
}

SEC("raw_tp/sys_enter")
int entry(void *ctx)
{
	FRAME(96);
	int r = subprog1(ctx);
	return r + TOUCH(); /* entry's frame is live across the call */
}
