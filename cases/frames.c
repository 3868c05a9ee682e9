/* frames.c — targets for the frame-size analysis.
 *
 * F(f) = the deepest byte below r10 that f can touch, rounded up to 8.
 * Each subprogram shows one way a byte gets touched:
 *
 *   fr_none      0 B  no stack at all
 *   fr_direct    8 B  one direct access, *(u64 *)(r10 - 8)
 *   fr_helper  200 B  only through a helper: r1 = r10 - 200, size 200
 *   fr_key      24 B  a map key on the stack: the deepest 8 bytes are
 *                     touched only by the lookup (key_size 24 from the map)
 *   fr_derived  40 B  a pointer derived from r10 by adds and a copy
 *   fr_256     256 B  the tail-call rule's limit on callers' frames...
 *   fr_257     264 B  ...and one byte more: r10 - 257, rounded up to 264
 *                     (the kernel's "stack depth" says 264 too)
 */
#include "common.h"

struct key {
	__u64 a, b, c;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct key);
	__type(value, __u64);
} hmap SEC(".maps");

static __noinline int fr_none(int x)
{
	return x * 3;
}

static __noinline int fr_direct(int x)
{
	volatile __u64 v = x;
	return v;
}

static __noinline int fr_helper(const void *src)
{
	char buf[200];
	/* buf is never read or written directly: only the helper's size
	 * argument says how far below r10 the frame reaches. */
	return bpf_probe_read_kernel(buf, sizeof buf, src);
}

static __noinline int fr_key(int x)
{
	struct key k;
	/* k.a (r10 - 24) is left unwritten on purpose: only the lookup reads
	 * it. A privileged loader may pass uninitialised stack to a helper. */
	k.b = x;
	k.c = 1;
	return bpf_map_lookup_elem(&hmap, &k) != 0;
}

static __noinline int fr_derived(int x)
{
	/* r1 = r10 - 48 + 16 = r10 - 32; r2 = r1; store at r2 - 8 = r10 - 40 */
	asm volatile("r1 = r10\n\t"
		     "r1 += -48\n\t"
		     "r1 += 16\n\t"
		     "r2 = r1\n\t"
		     "*(u64 *)(r2 - 8) = %[v]"
		     :
		     : [v] "r"(x)
		     : "r1", "r2", "memory");
	return x;
}

static __noinline int fr_256(int x)
{
	FRAME(256);
	return TOUCH() + x;
}

static __noinline int fr_257(int x)
{
	/* clang rounds a char[257] to its own alignment; write the byte at
	 * r10 - 257 directly so the frame is 257 bytes before rounding. */
	asm volatile("*(u8 *)(r10 - 257) = %[v]" : : [v] "r"(x) : "memory");
	return x;
}

SEC("kprobe/do_nanosleep")
int frames(void *ctx)
{
	/* an opaque start value, so clang cannot fold the calls away */
	int r = fr_none(bpf_get_prandom_u32());
	r += fr_direct(r);
	r += fr_helper(ctx);
	r += fr_key(r);
	r += fr_derived(r);
	r += fr_256(r);
	r += fr_257(r);
	return r;
}
