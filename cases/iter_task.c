/* iter_task.c — an open-coded iterator (bpf_iter_task_*, 6.7+) keeps its
 * state in the frame, and the kfunc it is given that state returns a
 * `struct task_struct *`: a pointer the verifier types PTR_TO_BTF_ID,
 * never a stack pointer. Reading task->pid through it is no stack access,
 * though the kfunc got a pointer into the frame: the kfunc's BTF prototype
 * in the object says what it returns. (Taken as a stack pointer, the read
 * of tgid at +1032 would land above r10.)
 *
 *   count_tasks: a 64-byte buffer, the 24-byte iterator and two task
 *   pointers: frame 104; sum_tgid: 0
 */
#include "common.h"

/* CO-RE: libbpf moves tgid to where this kernel has it; the local offset
 * (1032) lies far above the iterator's slot in the frame */
struct task_struct {
	char __local_pad[1032];
	int tgid;
} __attribute__((preserve_access_index));

struct bpf_iter_task {
	__u64 __opaque[3];
} __attribute__((aligned(8)));

#define BPF_TASK_ITER_ALL_PROCS 1

extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task,
			     unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym;

/* reads the tasks through the caller's frame: the caller's frame holds
 * what bpf_iter_task_next returned, which must not count as stack
 * pointers (a frame holding stack pointers passed to a subprog cannot be
 * bounded) */
static __noinline int sum_tgid(struct task_struct **ts)
{
	int s = 0;

	if (ts[0])
		s += ts[0]->tgid;
	if (ts[1])
		s += ts[1]->tgid;
	return s;
}

SEC("tp_btf/sys_enter")
int count_tasks(void *ctx)
{
	volatile char buf[64];
	struct bpf_iter_task it;
	struct task_struct *ts[2];

	asm volatile("" : : "r"(buf) : "memory");
	buf[0] = 0;
	bpf_iter_task_new(&it, NULL, BPF_TASK_ITER_ALL_PROCS);
	ts[0] = bpf_iter_task_next(&it);
	ts[1] = ts[0] ? bpf_iter_task_next(&it) : NULL;
	int n = sum_tgid(ts);
	bpf_iter_task_destroy(&it);
	return n + buf[0];
}
