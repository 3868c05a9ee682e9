/* undefined_call.c — a BPF-to-BPF call to a function this object does not
 * define (and does not declare __ksym): the compiler leaves an
 * R_BPF_64_32 relocation against an undefined symbol, which only the BPF
 * static linker can resolve. libbpf refuses the object; pstack-verify
 * must exit 2 naming the symbol and the instruction, never call it safe.
 */
#include "../../cases/common.h"

extern int helper_elsewhere(int x);

SEC("xdp")
int calls_missing(void *ctx)
{
	FRAME(64);
	return helper_elsewhere(TOUCH()) ? 1 : 2;
}
