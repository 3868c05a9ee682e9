/* iter.c — open-coded iterators (bpf_for over bpf_iter_num, as libbpf 1.8's
 * bpf_helpers.h spells it; Debian's libbpf 1.1 headers predate it, so the
 * kfuncs and the macro are declared here). The iterator's 8-byte state
 * lives in the frame of the function that loops, and only kfuncs touch
 * it (through the pointer they are given).
 *
 *   it_sum (48 B: a 40-byte buffer and the iterator)
 *   it_nested (48 B) -> it_sub (16 B: an 8-byte buffer and its own iterator)
 */
#include "common.h"

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* libbpf 1.8's bpf_for */
#define bpf_for(i, start, end)                                                          \
	for (struct bpf_iter_num ___it __attribute__((aligned(8),                      \
						      cleanup(bpf_iter_num_destroy))), \
	     *___p __attribute__((unused)) =                                           \
		     (bpf_iter_num_new(&___it, (start), (end)),                        \
		      (void)bpf_iter_num_destroy, (void *)0);                          \
	     ({                                                                        \
		     int *___t = bpf_iter_num_next(&___it);                            \
		     (___t && ((i) = *___t, (i) >= (start) && (i) < (end)));           \
	     });)

SEC("raw_tp/sys_enter")
int it_sum(void *ctx)
{
	volatile char buf[40];
	int i, s = 0;

	buf[0] = 1;
	bpf_for(i, 0, 40)
		s += buf[i];
	return s;
}

static __noinline int it_sub(int n)
{
	volatile char buf[8];
	int i, s = 0;

	buf[0] = (char)n;
	bpf_for(i, 0, 8)
		s += buf[i];
	return s;
}

SEC("raw_tp/sys_enter")
int it_nested(void *ctx)
{
	FRAME(48);
	return it_sub(3) + TOUCH();
}
