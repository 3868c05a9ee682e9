/* scx_common.h — the little a sched_ext-style scheduler needs, declared by
 * hand (no vmlinux.h): cpumask and open-coded iterator kfuncs with their
 * BTF prototypes (the object's .BTF carries them: a kfunc returning a
 * `struct cpumask *` or a `struct task_struct *` returns a kernel object,
 * never a pointer into the frame), and a bpf_for in the style of libbpf's
 * (libbpf 1.1's bpf_helpers.h has none).
 */
#pragma once

#include "common.h"

#include <stdbool.h>

/* Opaque to the programs: only passed to kfuncs. Defined, not forward
 * declared: libbpf refuses a kfunc whose prototype names a BTF_KIND_FWD
 * where the kernel's has a struct ("func_proto incompatible with vmlinux"). */
struct cpumask {
	unsigned long bits[1];
};
struct bpf_cpumask {
	struct cpumask cpumask;
};

extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
extern void bpf_cpumask_set_cpu(__u32 cpu, struct bpf_cpumask *cpumask) __ksym;
extern bool bpf_cpumask_test_cpu(__u32 cpu, const struct cpumask *cpumask) __ksym;
extern __u32 bpf_cpumask_first(const struct cpumask *cpumask) __ksym;
extern __u32 bpf_cpumask_weight(const struct cpumask *cpumask) __ksym;

/* open-coded numeric iterator (6.4+): 8 bytes of state in the frame */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* bpf_for(i, start, end): i runs over [start, end). Unlike libbpf's, the
 * iterator is destroyed when the loop ends, not by a cleanup attribute
 * (clang 14 emits no BTF for a kfunc called only from a cleanup): the
 * body must not `break` or `return`. */
#define bpf_for(i, start, end)                                                  \
	for (struct bpf_iter_num ___it,                                         \
	     *___p __attribute__((unused)) =                                    \
		     (bpf_iter_num_new(&___it, (start), (end)), (void *)0);     \
	     ({                                                                 \
		     int *___t = bpf_iter_num_next(&___it);                     \
		     ___t ? ((i) = *___t, 1) : (bpf_iter_num_destroy(&___it), 0); \
	     });)

static __always_inline const struct cpumask *cast_mask(struct bpf_cpumask *m)
{
	return (const struct cpumask *)m;
}

/* sched_ext: the types and kfuncs a scheduler's BPF side uses (6.13+
 * names; 6.12 has scx_bpf_dispatch / scx_bpf_consume for the first two) */
struct task_struct {
	int pid;
	int nr_cpus_allowed;
	const struct cpumask *cpus_ptr;
} __attribute__((preserve_access_index));

struct scx_exit_info {
	int kind;
} __attribute__((preserve_access_index));

struct bpf_iter_scx_dsq {
	__u64 __opaque[6];
} __attribute__((aligned(8)));

#define SCX_DSQ_LOCAL ((1ULL << 63) | 2)
#define SCX_SLICE_DFL 20000000ULL
#define SHARED_DSQ 0

extern void scx_bpf_dsq_insert(struct task_struct *p, __u64 dsq_id, __u64 slice,
			       __u64 enq_flags) __ksym;
extern bool scx_bpf_dsq_move_to_local(__u64 dsq_id) __ksym;
extern __s32 scx_bpf_create_dsq(__u64 dsq_id, __s32 node) __ksym;
extern __s32 scx_bpf_dsq_nr_queued(__u64 dsq_id) __ksym;
extern __s32 scx_bpf_select_cpu_dfl(struct task_struct *p, __s32 prev_cpu, __u64 wake_flags,
				    bool *is_idle) __ksym;
extern const struct cpumask *scx_bpf_get_idle_cpumask(void) __ksym;
extern void scx_bpf_put_idle_cpumask(const struct cpumask *cpumask) __ksym;
extern __s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, __u64 flags) __ksym;
extern __u32 scx_bpf_nr_cpu_ids(void) __ksym;
extern void scx_bpf_kick_cpu(__s32 cpu, __u64 flags) __ksym;
extern int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, __u64 dsq_id, __u64 flags) __ksym;
extern struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __ksym;
extern void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __ksym;

/* sched_ext_ops: libbpf matches members by name, so a scheduler lists
 * only the operations it implements */
struct sched_ext_ops {
	__s32 (*select_cpu)(struct task_struct *p, __s32 prev_cpu, __u64 wake_flags);
	void (*enqueue)(struct task_struct *p, __u64 enq_flags);
	void (*dispatch)(__s32 cpu, struct task_struct *prev);
	__s32 (*init)(void);
	void (*exit)(struct scx_exit_info *info);
	char name[128];
};
