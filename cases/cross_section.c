/* cross_section.c — a static subprogram outside .text.
 *
 *   section tc: outer (32 B) -> (section .text.helpers) inner (64 B)
 *
 * clang keeps `inner` in its own executable section and relocates the
 * call with R_BPF_64_32 against the section symbol `.text.helpers`
 * (imm = -1: offset 0 in that section). An ELF reader can follow it, but
 * libbpf 1.1 treats every function outside .text as a program and refuses
 * to open the object ("sec '.text.helpers': program 'inner' is static and
 * not supported"); made global, `inner` fails later ("bad call relo
 * against 'inner' in section '.text.helpers'"). No kernel sees this
 * object: it is a case for the ELF frontend only.
 */
#include "common.h"

static __noinline __attribute__((section(".text.helpers"))) int inner(int x)
{
	FRAME(64);
	return TOUCH() + x;
}

SEC("tc")
int outer(struct __sk_buff *skb)
{
	FRAME(32);
	return inner(skb->len) + TOUCH();
}
