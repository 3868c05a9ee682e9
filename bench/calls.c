/* calls.c — the BPF-to-BPF call benchmark: a loop of 1000 calls to a leaf
 * with a 64-byte frame (own buffer under kernel and per-subprog, r9 moved
 * under per-prog and planned). bench/jit_bench.cpp times it in the harness. */
#include "common.h"

static __noinline int leaf(int x)
{
	FRAME(64);
	frame_[1] = (char)x;
	return TOUCH() + frame_[1];
}

SEC("kprobe/do_nanosleep")
int calls(void *ctx)
{
	FRAME(64);
	int s = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 1000; i++)
		s += leaf(i);
	return s + TOUCH();
}
