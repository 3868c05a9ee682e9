/* pinned.c — the BPF of the kernel selftests that pin the private-stack
 * JIT's x86-64 (tools/testing/selftests/bpf/progs/verifier_private_stack.c):
 * a kprobe whose frame gets a per-CPU buffer, one that calls a subprog
 * (r9 kept around the call), and a bpf_loop callback with a frame of its
 * own. jitgen's `kernel` scheme must emit the sequences they pin:
 *   movabsq $..., %r9 ; addq %gs:..., %r9 ; movl $42, %edi ;
 *   movq %rdi, -256(%r9) ; pushq %r9 ; callq ... ; popq %r9
 */
#include "common.h"

SEC("kprobe/do_nanosleep")
__attribute__((naked)) int private_stack_single_prog(void)
{
	asm volatile("r1 = 42;"
		     "*(u64 *)(r10 - 256) = r1;"
		     "r0 = 0;"
		     "exit;");
}

static __noinline int pinned_callee(int x)
{
	FRAME(128);
	return TOUCH() + x;
}

SEC("kprobe/do_nanosleep")
int private_stack_nested(void *ctx)
{
	FRAME(256);
	return pinned_callee(1) + TOUCH();
}

static int pinned_loop_cb(__u32 i, void *ctx)
{
	FRAME(128);
	return TOUCH();
}

SEC("kprobe/do_nanosleep")
int private_stack_callback(void *ctx)
{
	FRAME(64);
	bpf_loop(1, pinned_loop_cb, 0, 0);
	return TOUCH();
}
