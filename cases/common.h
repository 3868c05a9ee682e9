/* Shared definitions of the case studies (the cases/ sources).
 *
 * Each case is a small BPF object built with
 *   clang-14 -target bpf -O2 -g -c X.c
 * and its facts (programs, frame sizes, edges, maps, what the kernel said)
 * are listed in cases/cases.json. Keep frame sizes exact: check them with
 *   llvm-objdump-14 -d --no-show-raw-insn X.o   (the r10 offsets)
 */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* FRAME(n): give the enclosing function a frame of exactly n bytes.
 * The array lies at [r10 - n, r10); the store to its first byte is the
 * deepest stack access, `*(u8 *)(r10 - n) = 0`, so the frame size is n
 * (n a multiple of 8). The empty asm lets the array's address escape:
 * without it clang shrinks an array of which one byte is used to that
 * one byte (at r10 - 1). It costs one `rX = r10; rX += -n` and no access. */
#define FRAME(n)                                              \
	volatile char frame_[n];                              \
	asm volatile("" : : "r"(frame_) : "memory");          \
	frame_[0] = 0

/* TOUCH(): read the frame back after a call, so the frame is live across
 * the call (a clobbered byte would be observable). */
#define TOUCH() (frame_[0])

/* A prog array as libbpf's BTF maps spell it. `values` starts at byte 24
 * of the struct, so an initialiser's R_BPF_64_ABS64 in .rel.maps at offset
 * o names slot (o - map offset - 24) / 8. */
#define PROG_ARRAY(name, n)                              \
	struct {                                         \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);   \
		__uint(max_entries, n);                  \
		__uint(key_size, sizeof(__u32));         \
		__array(values, int(void *));            \
	} name SEC(".maps")

char LICENSE[] SEC("license") = "GPL";
