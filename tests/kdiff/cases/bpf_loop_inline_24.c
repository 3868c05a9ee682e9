#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define KEEP(b) asm volatile("" : : "r"(b) : "memory")
#define FILL(b) do { __builtin_memset((void *)(b), 0x5a, sizeof(b)); KEEP(b); } while (0)
volatile __u64 sink;
static __noinline int cb0(__u32 x, void *c) { sink += x; return 0; }
static __noinline int cb16(__u32 x, void *c) { __u64 buf[2]; FILL(buf); sink += buf[1]; return 0; }
/* N = frame of the subprog that calls bpf_loop */
#define LOOPER(N, CB) static __noinline int l##N##CB(int x) { __u64 buf[N / 8]; FILL(buf); bpf_loop(2, CB, 0, 0); return buf[1] + x; }
#define MAIN(M, N, CB) SEC("socket") int m##M##_##N##CB(void *ctx) { __u64 buf[M / 8]; FILL(buf); sink += l##N##CB(buf[0]); return 0; }
LOOPER(240, cb0)
LOOPER(232, cb0)
LOOPER(248, cb16)
LOOPER(256, cb16)
LOOPER(264, cb16)
LOOPER(208, cb0)
/* 6.1 (32): 224 + 256 + 32 = 512; with +24 on the looper: 224 + 288 + 32 = 544 */
MAIN(224, 240, cb0)
MAIN(224, 232, cb0)
/* 6.12 (16): 240 + 256 + 16 = 512 (looper 248); with +24: 240 + 272 + 16 = 528 */
MAIN(240, 248, cb16)
MAIN(240, 256, cb16)
MAIN(232, 264, cb16)
/* 6.1: 272 + 224->224(+24=232->256) + 32 */
MAIN(256, 208, cb0)
char LICENSE[] SEC("license") = "GPL";
