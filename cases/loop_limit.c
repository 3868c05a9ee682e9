/* loop_limit.c — a bpf_loop callback whose caller is close to the limit.
 *
 *   loop_near (248 B) --bpf_loop--> loop_cb (256 B)
 *
 * 6.12+ inline bpf_loop and then count 24 more bytes in the caller's frame
 * (`stack depth 272+256` = 528), but the 512-byte check ran on the frames
 * before inlining (256 + 256 after 16-byte rounding): accepted. The model
 * counts what the check counts. A socket filter: no private stack.
 */
#include "common.h"

static int loop_cb(__u32 i, void *ctx)
{
	FRAME(256);
	return TOUCH();
}

SEC("socket")
int loop_near(struct __sk_buff *skb)
{
	FRAME(248);
	bpf_loop(1, loop_cb, 0, 0);
	return TOUCH();
}
