// build: clang-19 -mcpu=v4
/* v4_alu.c — cpu v4 arithmetic in a raw_tp program the running kernel (6.18)
 * gives a private stack, so that jitgen's x86 for each form is compared with
 * the kernel's JIT instruction by instruction (tests/oracle_test.cpp): sdiv
 * and smod in both widths, movsx, sign-extending loads, bswap. No arena: the
 * kernel loads it (v4_forms.o it does not).
 *
 *   v4_alu (96 B)
 */
#include "common.h"

SEC("raw_tp/sys_enter")
int v4_alu(void *ctx)
{
	FRAME(64);
	volatile long v[4];
	volatile signed char c = -3;
	volatile short h = -300;
	volatile int w = -70000;

	v[0] = -1000;
	v[1] = 7;
	v[2] = 0x12348281;
	long a = v[0], b = v[1] | 1;
	long r = a / b;                         /* sdiv64 X */
	r += a % b;                             /* smod64 X */
	r += (int)a / (int)b;                   /* sdiv32 X */
	r += (int)a % (int)b;                   /* smod32 X */
	r += (signed char)v[2] + (short)v[2];   /* movsx 8, 16 */
	r += (int)v[2];                         /* movsx 32 */
	r += c + h + w;                         /* ldsx 8, 16, 32 */
	r += __builtin_bswap64(v[2]);           /* bswap64 */
	r += __builtin_bswap32((unsigned int)v[2]); /* bswap32 */
	v[3] = r;
	return (v[3] != 0) + TOUCH();
}
