/* member_vptr.c — sched_ext's MEMBER_VPTR in a loop, as scx_qmap's
 * print_cpus has it: a byte of `buf` at an index the loop moves, its
 * address checked by `if off <= max goto; off = 0; goto; off += base`,
 * then stored through when not 0.
 *
 *   q (128 B: buf)
 *
 * The index (idx, then idx + 1) is a loop counter the analysis widens at
 * the loop head; each MEMBER_VPTR narrows it to [0, 127] again, so the
 * pointer is r10 - 128 + [0, 127]. The frame analysis widened at every
 * join, the ones inside the loop body too: the join after the second
 * check saw the pointer's lowest offset move (one exact index per early
 * pass, then the narrowed range) and made it unknown: 512 where the kernel
 * says 128.
 */
#include "common.h"

typedef unsigned long long u64;

/* scx's common.bpf.h: a pointer to base member if it lies in base, else 0
 * (the bounds check in asm, so that the verifier sees it as written) */
#define MEMBER_VPTR(base, member) (typeof((base) member) *)                  \
	({                                                                   \
		u64 __base = (u64) & (base);                                 \
		u64 __addr = (u64) & ((base) member) - __base;               \
		asm volatile("if %0 <= %[max] goto +2\n"                     \
			     "%0 = 0\n"                                      \
			     "goto +1\n"                                     \
			     "%0 += %1\n"                                    \
			     : "+r"(__addr)                                  \
			     : "r"(__base),                                  \
			       [max] "i"(sizeof(base) - sizeof((base) member))); \
		__addr;                                                      \
	})


SEC("raw_tp/sys_enter")
int q(void *ctx)
{
	char buf[128] = "", *p;
	int idx = 0;

	for (int cpu = 0; cpu < 100; cpu++) {
		if (!(p = MEMBER_VPTR(buf, [idx++])))
			break;
		*p++ = 'O';
		if ((cpu & 7) == 7) {
			if (!(p = MEMBER_VPTR(buf, [idx++])))
				break;
			*p++ = '|';
		}
	}
	buf[sizeof(buf) - 1] = '\0';
	bpf_printk("CPUS: |%s", buf);
	return 0;
}
