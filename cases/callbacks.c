/* callbacks.c — functions the kernel calls back, synchronously or later.
 *
 *   loop_prog  (64 B) --bpf_loop-->              loop_cb  (96 B)   sync
 *   each_prog  (32 B) --bpf_for_each_map_elem--> each_cb  (128 B)  sync
 *   timer_prog (72 B) --bpf_timer_set_callback-> timer_cb (64 B)   async
 *
 * A callback is not called by a `call` instruction: its address is loaded
 * with ld_imm64 and passed to a helper. A synchronous callback runs inside
 * the helper, so its frame sits on top of its caller's (the kernel counts
 * it in the caller's chain). An async callback (the timer) runs later from
 * softirq context, possibly on top of other BPF frames on the same CPU, so
 * the kernel keeps it on the normal stack and starts a new chain for it.
 */
#include "common.h"

#define CLOCK_MONOTONIC 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct timer_elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct timer_elem);
} timers SEC(".maps");

/* bpf_loop: called up to nr_loops times, inside the helper */
static int loop_cb(__u32 index, void *data)
{
	FRAME(96);
	return TOUCH();
}

SEC("raw_tp/sys_enter")
int loop_prog(void *ctx)
{
	FRAME(64);
	bpf_loop(4, loop_cb, NULL, 0);
	return TOUCH();
}

/* bpf_for_each_map_elem: called once per element of `counters` */
static __u64 each_cb(void *map, __u32 *key, __u64 *val, void *data)
{
	FRAME(128);
	return TOUCH();
}

SEC("raw_tp/sys_enter")
int each_prog(void *ctx)
{
	FRAME(32);
	bpf_for_each_map_elem(&counters, each_cb, NULL, 0);
	return TOUCH();
}

/* bpf_timer: timer_cb runs when the timer fires, not inside this program */
static int timer_cb(void *map, __u32 *key, struct timer_elem *val)
{
	FRAME(64);
	return TOUCH();
}

/* tp_btf is a tracing program: timers are allowed there (not in kprobe
 * or raw_tp: "tracing progs cannot use bpf_timer yet"), and the kernel's
 * recursion check covers it, so 6.13+ gives it a private stack too. */
SEC("tp_btf/sys_enter")
int timer_prog(void *ctx)
{
	FRAME(64);
	__u32 key = 0;
	struct timer_elem *e = bpf_map_lookup_elem(&timers, &key);

	if (e) {
		bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
		bpf_timer_set_callback(&e->t, timer_cb);
		bpf_timer_start(&e->t, 1000000, 0);
	}
	return TOUCH();
}
