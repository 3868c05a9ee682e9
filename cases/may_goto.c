// build: clang-19 -mcpu=v4
/* may_goto.c — loops bounded by may_goto (the can_loop / cond_break macros
 * of the kernel selftests' bpf_experimental.h, which libbpf does not ship:
 * copied here). clang-19 -mcpu=v4 only: clang-14 cannot assemble may_goto.
 *
 *   mg_loop (64 B)                 a can_loop loop
 *   mg_outer (32 B) -> mg_sub (16 B: a cond_break loop)
 *
 * may_goto is a conditional jump for the frame analysis. The kernel keeps
 * its loop counter in an 8-byte stack slot it adds to the frame of every
 * function that has a may_goto (6.9+; on JITs with timed may_goto, 16
 * bytes): its `stack depth` line counts that slot.
 */
#include "common.h"

#define can_loop                                                         \
	({                                                               \
		__label__ l_break, l_continue;                           \
		int ret = 1;                                             \
		asm volatile goto("may_goto %l[l_break]" :::: l_break);  \
		goto l_continue;                                         \
	l_break:                                                         \
		ret = 0;                                                 \
	l_continue:;                                                     \
		ret;                                                     \
	})

#define cond_break                                                       \
	({                                                               \
		__label__ l_break, l_continue;                           \
		asm volatile goto("may_goto %l[l_break]" :::: l_break);  \
		goto l_continue;                                         \
	l_break:                                                         \
		break;                                                   \
	l_continue:;                                                     \
	})

SEC("raw_tp/sys_enter")
int mg_loop(void *ctx)
{
	volatile long v[8];
	long s = 0;
	int i = 0;

	/* every slot written before the loop reads it: a JIT's stack is not
	 * zeroed, the interpreter's is, and both must agree */
	for (int k = 0; k < 8; k++)
		v[k] = k == 0;
	while (i < 1000 && can_loop) {
		s += v[i & 7];
		i++;
	}
	return s;
}

static __noinline int mg_sub(int n)
{
	volatile long v[2];
	int s = 0;

	v[0] = n;
	v[1] = 0;
	for (int i = 0; i < n; i++) {
		s += v[i & 1];
		cond_break;
	}
	return s;
}

SEC("raw_tp/sys_enter")
int mg_outer(void *ctx)
{
	FRAME(32);
	return mg_sub(100) + TOUCH();
}
