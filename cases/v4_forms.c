// build: clang-19 -mcpu=v4
/* v4_forms.c — the instruction forms of -mcpu=v4, and BPF_MOD with a
 * register source (which LLVM 14's disassembler did not know), in frames of
 * known size. clang-19 -mcpu=v4 only (cases/CMakeLists.txt).
 *
 *   v4_arith (32 B) -> arith (48 B)   mod64/mod32 X, sdiv, smod, movsx,
 *                                     bswap64; stores of immediates
 *   v4_loads (8 B)                    ldsx 8/16 from the stack, after
 *                                     stores of immediates
 *   v4_jumps (24 B)                   gotol (asm: clang emits it only for
 *                                     jumps beyond 32767 instructions)
 *   v4_arena (8 B)                    addr_space_cast of an arena global
 *
 * The stores of immediates (`*(u64 *)(r10 - 8) = 3`, BPF_ST) are stack
 * accesses like any other: the deepest of them sets the frame.
 */
#include "common.h"

struct {
	__uint(type, 33 /* BPF_MAP_TYPE_ARENA */);
	__uint(map_flags, 1024 /* BPF_F_MMAPABLE */);
	__uint(max_entries, 1);
} arena SEC(".maps");

/* in the arena (.addr_space.1): reached through addr_space_cast */
int __attribute__((address_space(1))) arena_counter;

static __noinline long arith(long x, long y)
{
	FRAME(48);
	unsigned long ux = x, uy = y | 1;
	long r = ux % uy;                              /* mod64 X (0x9f) */
	r += (unsigned int)ux % (unsigned int)uy;      /* mod32 X (0x9c) */
	r += x / (y | 1);                              /* sdiv (off 1) */
	r += x % (y | 1);                              /* smod (off 1) */
	r += (long)(signed char)y + (long)(short)x;    /* movsx 8, 16 */
	r += __builtin_bswap64(ux);                    /* bswap64 (0xd7) */
	return r + TOUCH();
}

SEC("raw_tp/sys_enter")
int v4_arith(void *ctx)
{
	volatile long v[4];
	v[0] = 1000;
	v[1] = -7;
	v[2] = 0;
	v[3] = 0;
	v[2] = arith(v[0], v[1]);
	return v[2] != v[3];
}

SEC("raw_tp/sys_enter")
int v4_loads(void *ctx)
{
	volatile signed char c[4];
	volatile short s[2];
	volatile int i[2];
	c[0] = -1;
	s[0] = -2;
	i[0] = -3;
	long r = c[0] + s[0] + i[0]; /* ldsx 8, 16, 32 */
	return r < 0;
}

SEC("raw_tp/sys_enter")
int v4_jumps(void *ctx)
{
	volatile long v[3];
	v[0] = 1;
	v[1] = 2;
	v[2] = 3;
	if (v[0] == 1) /* the kernel rejects unreachable code after a gotol */
		asm volatile goto("gotol %l[out]" :::: out);
	v[1] = 5;
out:
	return v[1] + v[2];
}

SEC("raw_tp/sys_enter")
int v4_arena(void *ctx)
{
	volatile long v = 3;
	arena_counter += v; /* addr_space_cast(r, 0, 1), then a store */
	return 0;
}
