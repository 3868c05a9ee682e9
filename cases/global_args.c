/* global_args.c — arguments of global subprograms, as scx's linked
 * libraries have them (scx_layered, scx_lavd, scx_p2dq, scx_chaos).
 *
 *   g_entry (24 B) -> g_step (global, verified alone) -> out_put (16 B)
 *   h_entry (8 B)  -> h_step (global but hidden: static to the kernel)
 *                       -> out_put
 *
 * libbpf marks a hidden global function static in BTF; the kernel then
 * types its arguments from its callers (h_entry passes a map value: no
 * stack pointer), as for any static function. A global function of
 * default visibility the kernel verifies alone, its arguments typed from
 * BTF (btf_prepare_func_args: scalar, ctx, PTR_TO_MEM...), never as stack
 * pointers. Both keep their pointer argument in a (volatile) slot of their
 * frame while they pass a pointer into that frame to out_put: taken as a
 * possible stack pointer, it made that call "pass a frame holding stack
 * pointers" and the frame 512. g_entry itself keeps a pointer to its own
 * frame in a slot while it passes g_step a pointer into that frame: the
 * callee reads it as PTR_TO_MEM, where a pointer loaded is a number.
 */
#include "common.h"

struct val {
	__u64 a, b;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} vals SEC(".maps");

static __noinline int out_put(__u64 x, __u64 *out)
{
	FRAME(16);
	*out = x + TOUCH();
	return 0;
}

__noinline int g_step(struct val *v, int k)
{
	struct val *volatile vp = v;
	__u64 r = 0;

	if (!v)
		return 0;
	out_put(k, &r);
	return (int)(vp->a + r);
}

__attribute__((visibility("hidden"))) __noinline int h_step(struct val *v, int k)
{
	struct val *volatile vp = v;
	__u64 r = 0;

	out_put(k, &r);
	return (int)(vp->b + r);
}

SEC("raw_tp/sys_enter")
int g_entry(void *ctx)
{
	struct val loc = {1, 2};
	struct val *volatile lp = &loc;

	return g_step(&loc, 3) + (int)lp->a;
}

SEC("raw_tp/sys_exit")
int h_entry(void *ctx)
{
	__u32 key = 0;
	struct val *v = bpf_map_lookup_elem(&vals, &key);

	if (!v)
		return 0;
	return h_step(v, 5);
}
