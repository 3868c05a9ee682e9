/* multi_section.c — several programs in one section, one subprogram
 * reached from two sections.
 *
 *   section tc:          ingress_a (32 B) -> pkt_len (64 B) -> clamp (16 B)
 *                        ingress_b (48 B) -> pkt_len
 *   section classifier:  legacy    (24 B) -> pkt_len
 *
 * Two programs share the section `tc`, so a program is a symbol (name,
 * offset, size), not a section. pkt_len lives in .text and is called from
 * two sections: each such call carries an R_BPF_64_32 relocation against
 * the .text section symbol, with imm = (callee offset / 8) - 1. pkt_len's
 * own call to clamp stays inside .text and is plain pc-relative (no
 * relocation). libbpf links a copy of pkt_len and clamp into each of the
 * three programs. cross_section.c shows a subprogram outside .text.
 */
#include "common.h"

static __noinline int clamp(int x)
{
	volatile __u64 lo = 64, hi = 1500;
	return x < lo ? lo : x > hi ? hi : x;
}

static __noinline int pkt_len(struct __sk_buff *skb)
{
	FRAME(64);
	return clamp(skb->len) + TOUCH();
}

SEC("tc")
int ingress_a(struct __sk_buff *skb)
{
	FRAME(32);
	return pkt_len(skb) + TOUCH();
}

SEC("tc")
int ingress_b(struct __sk_buff *skb)
{
	FRAME(48);
	return pkt_len(skb) - TOUCH();
}

SEC("classifier")
int legacy(struct __sk_buff *skb)
{
	FRAME(24);
	return pkt_len(skb) ^ TOUCH();
}
