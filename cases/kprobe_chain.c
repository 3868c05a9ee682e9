/* kprobe_chain.c — over_limit_chain.c's 640-byte chain in a kprobe.
 *
 *   kchain (160 B) -> k1 (160 B) -> k2 (160 B) -> k3 (160 B)   = 640 B
 *
 * Linux 6.1 rejects it like the socket filter ("combined stack size of 4
 * calls is 640. Too large"). 6.13+ gives a kprobe a private stack: each
 * (sub)program with a frame of at least 64 bytes gets its own per-CPU
 * buffer and the 512-byte sum restarts at each of them, so every frame is
 * checked alone and the program is accepted.
 */
#include "common.h"

static __noinline int k3(int x)
{
	FRAME(160);
	return TOUCH() + x;
}

static __noinline int k2(int x)
{
	FRAME(160);
	return k3(x) + TOUCH();
}

static __noinline int k1(int x)
{
	FRAME(160);
	return k2(x) + TOUCH();
}

SEC("kprobe/do_nanosleep")
int kchain(void *ctx)
{
	FRAME(160);
	return k1(0) + TOUCH();
}
