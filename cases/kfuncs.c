/* kfuncs.c — kfunc calls, a global subprogram, a subprogram shared by two
 * programs.
 *
 *   kf_a (64 B) -> shared (96 B)        kf_a -> global_sum (72 B)
 *   kf_b (32 B) -> shared (96 B)
 *
 * A kfunc call runs kernel code, not a BPF frame. In the object clang 14
 * encodes it like a BPF-to-BPF call (`call -1`, src_reg = 1) with an
 * R_BPF_64_32 relocation against the undefined extern; only libbpf turns
 * it into src_reg = 2 (BPF_PSEUDO_KFUNC_CALL) with the kernel's BTF id.
 * So a call's target is told apart by its relocation, not its src_reg. A global (non-static) function in .text is a
 * subprogram the kernel verifies on its own, by its BTF prototype. libbpf
 * appends a private copy of every subprogram a program reaches, so
 * `shared` has two frames, one per program (kf_a/shared, kf_b/shared).
 */
#include "common.h"

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern void bpf_preempt_disable(void) __ksym;
extern void bpf_preempt_enable(void) __ksym;

static __noinline int shared(int x)
{
	FRAME(96);
	return TOUCH() + x;
}

/* global: verified once, by its prototype, whatever the caller passes */
__noinline int global_sum(int x)
{
	FRAME(72);
	return TOUCH() + x;
}

SEC("kprobe/do_nanosleep")
int kf_a(void *ctx)
{
	FRAME(64);
	int r;

	bpf_rcu_read_lock();
	r = shared(bpf_get_prandom_u32());
	bpf_rcu_read_unlock();
	return r + global_sum(r) + TOUCH();
}

SEC("kprobe/do_nanosleep")
int kf_b(void *ctx)
{
	FRAME(32);
	int r;

	bpf_preempt_disable();
	r = shared(bpf_get_prandom_u32());
	bpf_preempt_enable();
	return r + TOUCH();
}
