/* timer_deep.c — an async callback is a root of its own: the verifier
 * checks the chain below a timer callback with its own 512 bytes and 8
 * frames, on the normal stack, apart from the program that arms it.
 *
 *   arm_big:   arm_big (64 B), timer callback big_cb (160 B) -> b1 -> b2 -> b3
 *              (160 B each): 640 bytes below the callback, refused
 *   arm_small: arm_small (64 B), small_cb (160 B) -> s1 (160 B): accepted
 *
 * Timers are not allowed in kprobe/tracepoint/raw_tp programs ("tracing
 * progs cannot use bpf_timer yet"); tc programs may use them.
 */
#include "common.h"

#define CLOCK_MONOTONIC 1

struct timer_elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct timer_elem);
} tmaps SEC(".maps");

static __noinline int b3(int x)
{
	FRAME(160);
	return TOUCH() + x;
}

static __noinline int b2(int x)
{
	FRAME(160);
	return b3(x) + TOUCH();
}

static __noinline int b1(int x)
{
	FRAME(160);
	return b2(x) + TOUCH();
}

static int big_cb(void *map, __u32 *key, struct timer_elem *val)
{
	FRAME(160);
	return b1(0) + TOUCH();
}

static __noinline int s1(int x)
{
	FRAME(160);
	return TOUCH() + x;
}

static int small_cb(void *map, __u32 *key, struct timer_elem *val)
{
	FRAME(160);
	return s1(0) + TOUCH();
}

static __always_inline void arm(__u32 key, void *cb)
{
	struct timer_elem *e = bpf_map_lookup_elem(&tmaps, &key);

	if (e) {
		bpf_timer_init(&e->t, &tmaps, CLOCK_MONOTONIC);
		bpf_timer_set_callback(&e->t, cb);
		bpf_timer_start(&e->t, 1000000, 0);
	}
}

SEC("tc")
int arm_big(void *ctx)
{
	FRAME(64);
	arm(0, big_cb);
	return TOUCH();
}

SEC("tc")
int arm_small(void *ctx)
{
	FRAME(64);
	arm(1, small_cb);
	return TOUCH();
}
