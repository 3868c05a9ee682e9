/* clobber.c — recursion.c with values that tell activations apart, so that
 * a layout that lets two live frames share bytes shows it at run time.
 *
 *   clobber_entry (104 B) --call--> subprog (64 B) --tail_call--> clobber_entry
 *
 * Each activation of clobber_entry counts itself in a map (1, 2, 3) and
 * keeps its number in its frame across the call; BPF means the first one
 * returns 1. With one fixed buffer per (sub)program (per-subprog), the
 * later activations write their numbers over the first one's frame, and it
 * returns 3: `pstack-verify --scheme per-subprog --replay` shows it.
 */
#include "common.h"

int clobber_entry(void *ctx);

PROG_ARRAY(clobber_table, 1) = {
	.values = { [0] = (void *)&clobber_entry },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} activations SEC(".maps");

static __noinline int subprog(void *ctx)
{
	FRAME(64);
	bpf_tail_call(ctx, &clobber_table, 0); /* a new clobber_entry */
	return TOUCH();
}

SEC("raw_tp/sys_enter")
int clobber_entry(void *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&activations, &key);
	if (!n)
		return 0;
	volatile __u64 mine[12];
	asm volatile("" : : "r"(mine) : "memory");
	mine[0] = ++*n; /* this activation's number */
	if (mine[0] < 3)
		subprog(ctx);
	return mine[0]; /* BPF: the number written above */
}
