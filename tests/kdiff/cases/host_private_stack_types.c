#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define KEEP(b) asm volatile("" : : "r"(b) : "memory")
#define FILL(b) do { __builtin_memset((void *)(b), 0x5a, sizeof(b)); KEEP(b); } while (0)
volatile __u64 sink;
static __noinline int f3(int x) { __u64 b[16]; FILL(b); return b[3] + x; }
static __noinline int f2(int x) { __u64 b[16]; FILL(b); return f3(b[2] + x); }
static __noinline int f1(int x) { __u64 b[16]; FILL(b); return f2(b[1] + x); }
static __noinline int f0(int x) { __u64 b[16]; FILL(b); return f1(b[0] + x); }
/* 5 frames of 128 = 640 bytes */
#define P(SECNAME, NAME) SEC(SECNAME) int NAME(void *ctx) { __u64 b[16]; FILL(b); sink += f0(b[5]); return 0; }
P("kprobe/do_nanosleep", kp)
P("kretprobe/do_nanosleep", krp)
P("uprobe//bin/true:main", up)
P("kprobe.multi/do_nanosleep", kpm)
P("tp/syscalls/sys_enter_openat", tp)
P("raw_tp/sys_enter", rtp)
P("raw_tp.w/sys_enter", rtpw)
P("perf_event", pe)
P("tp_btf/sys_enter", tpb)
P("iter/task", it)
P("xdp", xd)
P("socket", so)
char LICENSE[] SEC("license") = "GPL";
