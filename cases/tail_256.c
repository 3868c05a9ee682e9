/* tail_256.c — the 256-byte rule at its edge: the callers' frames above a
 * subprog that tail-calls must add up to less than 256 bytes (the kernel
 * checks `depth >= 256` before adding the subprog's own frame).
 *
 *   at_256: at_256 (128 B) -> mid256 (128 B) -> tc256 (tail call)
 *           callers 128 + 128 = 256: refused by every kernel
 *   at_240: at_240 (112 B) -> mid240 (128 B) -> tc240 (tail call)
 *           112 + 128 = 240 after 6.12+'s 16-byte rounding: accepted;
 *           6.1 rounds 112 up to 128: 256, refused
 */
#include "common.h"

/* Uninitialised prog arrays (the oracle's loader loads one program at a
 * time, and libbpf then cannot fill a slot naming another one): their
 * targets are every program of the same type, and the two programs have
 * different types, so each tail-calls only itself. */
PROG_ARRAY(jt256, 1);
PROG_ARRAY(jt240, 1);

static __noinline int tc256(void *ctx)
{
	bpf_tail_call(ctx, &jt256, 0);
	return 0;
}

static __noinline int mid256(void *ctx)
{
	FRAME(128);
	return tc256(ctx) + TOUCH();
}

SEC("xdp")
int at_256(void *ctx)
{
	FRAME(128);
	return mid256(ctx) + TOUCH();
}

static __noinline int tc240(void *ctx)
{
	bpf_tail_call(ctx, &jt240, 0);
	return 0;
}

static __noinline int mid240(void *ctx)
{
	FRAME(128);
	return tc240(ctx) + TOUCH();
}

SEC("tc")
int at_240(void *ctx)
{
	FRAME(112);
	return mid240(ctx) + TOUCH();
}
