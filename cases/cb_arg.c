/* cb_arg.c — a callback made in one function and run by bpf_loop in
 * another: the address is loaded (ld_imm64) in the program, passed as an
 * argument through one subprog to the one that calls bpf_loop. The kernel
 * follows the function pointer through both calls; so must we, or the
 * callback is "not a known function" and the program unknown.
 *
 *   cba_main   (raw_tp)  frame 32    loads cba_step's address
 *   cba_pass             frame 48    passes it on
 *   cba_loop             frame 64    bpf_loop(n, cb, &ctx, 0)
 *   cba_step             frame 96    the callback (its ctx: cba_loop's frame)
 *
 * The kernel counts the callback's frame where its address is loaded (in
 * cba_main); it runs under cba_loop.
 */
#include "common.h"

struct loop_ctx {
	__u64 sum;
	__u64 seed;
};

static int cba_step(__u64 i, void *data)
{
	struct loop_ctx *c = data;
	FRAME(96);
	c->sum += i + c->seed + TOUCH();
	return 0;
}

static __noinline int cba_loop(void *cb, __u64 n)
{
	struct loop_ctx c = {.sum = 0, .seed = n};
	FRAME(64);
	bpf_loop(n & 15, cb, &c, 0);
	return c.sum + TOUCH();
}

static __noinline int cba_pass(void *cb, __u64 n)
{
	FRAME(48);
	return cba_loop(cb, n) + TOUCH();
}

SEC("raw_tp/sys_enter")
int cba_main(void *ctx)
{
	FRAME(32);
	return cba_pass(cba_step, bpf_get_prandom_u32()) + TOUCH();
}
