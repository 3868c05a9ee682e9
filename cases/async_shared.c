/* async_shared.c — a subprog that an async callback reaches keeps the
 * normal stack, also where the main program calls it (check_max_stack_depth
 * walks the async callbacks first and marks their subprogs), and a frame
 * with its own buffer adds nothing to the 512-byte sum without restarting
 * it: the normal-stack frames on both sides of it still add up.
 *
 *   shared_timer (48 B) -> sa (160 B, own buffer) -> s1 (240 B) -> s2 (240 B)
 *       and the timer callback cb_shared (16 B) -> s1 -> s2:
 *       s1, s2 stay on the normal stack: 48 + 240 + 240 = 528 on 6.13+: refused
 *   not_shared (48 B) -> na (160 B) -> n1 (240 B) -> n2 (240 B), no timer:
 *       on 6.13+ na, n1, n2 get their own buffers: 48 on the chain, accepted
 * On 6.1 and 6.12 (no private stacks) both are refused for their 688 bytes.
 */
#include "common.h"

#define CLOCK_MONOTONIC 1

struct timer_elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct timer_elem);
} shared_timers SEC(".maps");

static __noinline int s2(int x)
{
	FRAME(240);
	return TOUCH() + x;
}

static __noinline int s1(int x)
{
	FRAME(240);
	return s2(x) + TOUCH();
}

static __noinline int sa(int x)
{
	FRAME(160);
	return s1(x) + TOUCH();
}

static int cb_shared(void *map, __u32 *key, struct timer_elem *val)
{
	FRAME(16);
	return s1(0) + TOUCH();
}

SEC("tp_btf/sys_enter")
int shared_timer(void *ctx)
{
	FRAME(40); /* with `key` below it: 48 bytes, under the 64 of a buffer */
	__u32 key = 0;
	struct timer_elem *e = bpf_map_lookup_elem(&shared_timers, &key);

	if (e) {
		bpf_timer_init(&e->t, &shared_timers, CLOCK_MONOTONIC);
		bpf_timer_set_callback(&e->t, cb_shared);
		bpf_timer_start(&e->t, 1000000, 0);
	}
	return sa(0) + TOUCH();
}

static __noinline int n2(int x)
{
	FRAME(240);
	return TOUCH() + x;
}

static __noinline int n1(int x)
{
	FRAME(240);
	return n2(x) + TOUCH();
}

static __noinline int na(int x)
{
	FRAME(160);
	return n1(x) + TOUCH();
}

SEC("tp_btf/sys_enter")
int not_shared(void *ctx)
{
	FRAME(48);
	return na(0) + TOUCH();
}
