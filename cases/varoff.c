/* varoff.c — stack accesses at variable offsets, bounded as the kernel
 * verifier bounds them (known bits, unsigned and signed ranges, narrowed by
 * branches). The frame is r10 + the least offset the index can have, so
 * each function's frame is the array's size minus what the index's lower
 * bound skips:
 *
 *   vo_mask_plus   vb[(x & 7) + 2]            __u64 vb[12] (96 B)  frame 80
 *   vo_branch      if (i < 3) ..; if (i >= 8) ..; vb[i]         frame 72
 *   vo_or          vb[(x & 3) | 4]            __u64 vb[12] (96 B)  frame 64
 *   vo_u32         vb[(u32)(x & 7) + 1], 32-bit arithmetic        frame 88
 *   vo_plain       vb[x & 7]                  __u64 vb[8]  (64 B)  frame 64
 *
 * Before bounds were tracked, each of the first four was taken as its
 * whole array or more (a lower bound of 0, or none at all). Two programs
 * call them: raw_tp (a private stack on 6.13+) and xdp (none).
 */
#include "common.h"

/* keep the array in memory: its address escapes */
#define KEEP(a) asm volatile("" : : "r"(a) : "memory")

static __noinline __u64 vo_mask_plus(__u64 x)
{
	__u64 vb[12];
	vb[(x & 7) + 2] = x;
	KEEP(vb);
	return vb[((x >> 4) & 7) + 2];
}

static __noinline __u64 vo_branch(__u64 x)
{
	__u64 vb[12];
	__u64 i = x >> 8;
	if (i < 3)
		return 0;
	/* two tests, not one: clang folds `i >= 3 && i < 8` into a test of
	 * i - 3, a copy, which bounds nothing the kernel can see (frame 96) */
	asm volatile("" : "+r"(i));
	if (i >= 8)
		return 0;
	vb[i] = x;
	KEEP(vb);
	return vb[i];
}

static __noinline __u64 vo_or(__u64 x)
{
	__u64 vb[12];
	vb[(x & 3) | 4] = x;
	KEEP(vb);
	return vb[((x >> 2) & 3) | 4];
}

static __noinline __u64 vo_u32(__u64 x)
{
	__u64 vb[12];
	__u32 i = ((__u32)x & 7) + 1;
	vb[i] = x;
	KEEP(vb);
	return vb[i];
}

static __noinline __u64 vo_plain(__u64 x)
{
	__u64 vb[8];
	vb[x & 7] = x;
	KEEP(vb);
	return vb[(x >> 3) & 7];
}

static __always_inline __u64 all(void)
{
	__u64 x = bpf_get_prandom_u32();
	return vo_mask_plus(x) + vo_branch(x) + vo_or(x) + vo_u32(x) + vo_plain(x);
}

SEC("raw_tp/sys_enter")
int vo_rawtp(void *ctx)
{
	return all() & 1;
}

SEC("xdp")
int vo_xdp(struct xdp_md *ctx)
{
	return all() & 1 ? XDP_PASS : XDP_DROP;
}
