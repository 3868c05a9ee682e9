/* nested.c — the nested-scheduler hierarchy.
 *
 *   prog0 --kfunc bpf_nest_run--> prog1 --kfunc--> prog11
 *                                       \-kfunc--> prog12
 *         \-kfunc--> prog2
 *
 * Each program calls the kfunc bpf_nest_run(); which programs that call may
 * run on the same CPU, on top of the caller's live frames, is not in the
 * object: nested.env.json says it ("nest"), nested_cycle.env.json adds a
 * nesting cycle and a program that may re-enter itself. Every program and
 * subprogram has a frame of at least 64 bytes, so under the 6.13+ kernel
 * scheme each one gets its own per-CPU buffer. The nesting is what the
 * kernel's per-program recursion counter and the buffers must survive:
 * prog0's frames stay live while prog1 (and then prog11) run.
 *
 * bpf_nest_run is made up: no kernel has it. It is declared __weak and
 * each call is guarded by `&bpf_nest_run != 0` (libbpf's bpf_ksym_exists
 * idiom): libbpf resolves the missing kfunc to 0, the verifier sees the
 * guard is false and removes the call, so the objects load and the kernel
 * still checks every frame. An unguarded call is rejected after the stack
 * checks with "invalid kernel function call not eliminated in verifier
 * pass". In the object each call is a `call` with src_reg = 1 and an
 * R_BPF_64_32 relocation against the undefined bpf_nest_run (libbpf makes
 * it src_reg = 2); the guard is an ld_imm64 relocated against it.
 */
#include "common.h"

extern void bpf_nest_run(int level) __ksym __weak;

static __always_inline void nest_run(int level)
{
	if (&bpf_nest_run)
		bpf_nest_run(level);
}

/* Shared subprograms: work (128 B) -> leaf (64 B), called before the nested run. */
static __noinline int leaf(int x)
{
	FRAME(64);
	return TOUCH() + x;
}

static __noinline int work(int x)
{
	FRAME(128);
	return leaf(x) + TOUCH();
}

SEC("raw_tp/sys_enter")
int prog0(void *ctx)
{
	FRAME(256);
	int r = work(0);
	nest_run(0); /* may run prog1, prog2 */
	return r + TOUCH();
}

SEC("raw_tp/sys_enter")
int prog1(void *ctx)
{
	FRAME(192);
	int r = work(1);
	nest_run(1); /* may run prog11, prog12 */
	return r + TOUCH();
}

SEC("raw_tp/sys_enter")
int prog2(void *ctx)
{
	FRAME(64);
	int r = leaf(2);
	nest_run(2); /* leaf of the hierarchy: runs nothing */
	return r + TOUCH();
}

SEC("raw_tp/sys_enter")
int prog11(void *ctx)
{
	FRAME(128);
	int r = leaf(11);
	nest_run(11);
	return r + TOUCH();
}

SEC("raw_tp/sys_enter")
int prog12(void *ctx)
{
	FRAME(96);
	int r = work(12);
	nest_run(12);
	return r + TOUCH();
}
