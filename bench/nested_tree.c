/* nested_tree.c — the seed's whole nested-scheduler hierarchy, four levels:
 *
 *   prog0 -> prog1 -> prog11 -> prog111, prog112
 *                  -> prog12 -> prog121, prog122
 *         -> prog2 -> prog21, prog22, prog23
 *
 * Every program runs its children through the kfunc bpf_nest_run(), called
 * from a subprog (dispatch: its frame lies between the program's and the
 * kfunc's, so a backtrace at the kfunc has two BPF frames); which programs
 * a call runs is in nested_tree.env.json. Frames as in cases/nested.c
 * (work 128 -> leaf 64 before the nested run). bench/ss_table.cpp compares
 * the schemes over it. */
#include "common.h"

extern void bpf_nest_run(int level) __ksym __weak;

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

static __noinline int dispatch(int level)
{
	FRAME(64);
	if (&bpf_nest_run)
		bpf_nest_run(level);
	return TOUCH();
}

#define PROG(name, level, bytes, sub)                 \
	SEC("raw_tp/sys_enter")                       \
	int name(void *ctx)                           \
	{                                             \
		FRAME(bytes);                         \
		int r = sub(level);                   \
		r += dispatch(level);                 \
		return r + TOUCH();                   \
	}

PROG(prog0, 0, 256, work)
PROG(prog1, 1, 192, work)
PROG(prog2, 2, 64, leaf)
PROG(prog11, 11, 128, leaf)
PROG(prog12, 12, 96, work)
PROG(prog21, 21, 64, leaf)
PROG(prog22, 22, 128, work)
PROG(prog23, 23, 96, leaf)
PROG(prog111, 111, 64, leaf)
PROG(prog112, 112, 96, work)
PROG(prog121, 121, 128, leaf)
PROG(prog122, 122, 64, work)
