/* no_private.c — kprobe_chain.c's 640-byte chain (4 x 160 B) in program
 * types the kernel never gives a private stack (bpf_enable_priv_stack,
 * 6.13+): iterators (tracing, but bpf_prog_check_recur leaves BPF_TRACE_ITER
 * out), LSM, and writable raw tracepoints (their own program type). Every
 * kernel refuses them: "combined stack size of 4 calls is 640". tp_btf, a
 * tracing program, gets one on 6.13+ and is accepted there.
 */
#include "common.h"

#define CHAIN(p)                                      \
	static __noinline int p##3(int x)             \
	{                                             \
		FRAME(160);                           \
		return TOUCH() + x;                   \
	}                                             \
	static __noinline int p##2(int x)             \
	{                                             \
		FRAME(160);                           \
		return p##3(x) + TOUCH();             \
	}                                             \
	static __noinline int p##1(int x)             \
	{                                             \
		FRAME(160);                           \
		return p##2(x) + TOUCH();             \
	}

CHAIN(it)
CHAIN(ls)
CHAIN(rw)
CHAIN(bt)

SEC("iter/task")
int iter_chain(void *ctx)
{
	FRAME(160);
	return it1(0) + TOUCH() ? 0 : 0;
}

SEC("lsm/file_open")
int lsm_chain(void *ctx)
{
	FRAME(160);
	return ls1(0) + TOUCH() ? 0 : 0;
}

SEC("raw_tp.w/sys_enter")
int rawtpw_chain(void *ctx)
{
	FRAME(160);
	return rw1(0) + TOUCH() ? 0 : 0;
}

SEC("tp_btf/sys_enter")
int tpbtf_chain(void *ctx)
{
	FRAME(160);
	return bt1(0) + TOUCH() ? 0 : 0;
}
