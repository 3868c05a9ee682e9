/* pstack.h — C API of pstack-verify, in the style of libbpf.
 *
 * Opaque objects, `__`-separated method names, options structs whose first
 * field `sz` is their size (declare them with PSTACK_OPTS so that newer
 * libraries can grow them), negative errno returns.
 *
 *	struct pstack_object *obj = pstack_object__open_file("prog.bpf.o");
 *	PSTACK_OPTS(pstack_verify_opts, opts, .scheme = "kernel");
 *	struct pstack_report *rep;
 *	int v = pstack_object__verify(obj, &opts, &rep);
 *	if (v == PSTACK_UNSAFE) puts(pstack_report__violation_message(rep, 0));
 *	pstack_report__free(rep);
 *	pstack_object__close(obj);
 */
#ifndef PSTACK_H
#define PSTACK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pstack_object;
struct pstack_report;

/* Verdicts; the values are pstack-verify's exit codes. */
enum pstack_verdict {
	PSTACK_SAFE = 0,    /* every property proved */
	PSTACK_UNSAFE = 1,  /* a counterexample exists */
	PSTACK_UNKNOWN = 3, /* not decided (time, bounds): never safe */
};

struct pstack_verify_opts {
	size_t sz;               /* sizeof(struct pstack_verify_opts) */
	const char *scheme;      /* "kernel" (default), "per-subprog", "per-prog", "planned" */
	/* The kernel scheme's rules: "6.13" (default), "6.12", "6.6", "6.1", or
	 * "running": the running kernel's own, learnt by loading small probe
	 * programs (needs root; load only) and cached per boot in
	 * $XDG_CACHE_HOME/pstack-verify (else ~/.cache/pstack-verify). Without
	 * the rights to load BPF, verify fails with EPERM and a message that
	 * says why (pstack_last_error). Program types the probe could not settle
	 * are never reported safe (PSTACK_UNKNOWN, with the reason). */
	const char *kernel;
	const char *env_path;    /* environment file (JSON), or NULL */
	double timeout_s;        /* per program; 0: 10 seconds */
	unsigned long long buffer_size; /* per-prog buffer bytes; 0: computed */
	const char *engine;      /* "auto" (default), "explicit", "bounded", "unbounded" */
	const char *per_prog_r9; /* per-prog: "base" (default) or "top" */
	/* The environment as a JSON string (the --env file's contents), or
	 * NULL; not together with env_path. */
	const char *env_json;
};

/* Declares and zero-initialises an options struct with its size set. */
#define PSTACK_OPTS(TYPE, NAME, ...) struct TYPE NAME = {.sz = sizeof(struct TYPE), __VA_ARGS__}

/* Opening: NULL on failure, with errno set (ENOENT, EISDIR for a directory,
 * EINVAL for an object that is not a readable BPF ELF, ENOMEM);
 * pstack_last_error() says why. */
struct pstack_object *pstack_object__open_file(const char *path);
struct pstack_object *pstack_object__open_mem(const void *buf, size_t size, const char *name);
void pstack_object__close(struct pstack_object *obj);

size_t pstack_object__program_cnt(const struct pstack_object *obj);
const char *pstack_object__program_name(const struct pstack_object *obj, size_t i);
const char *pstack_object__program_section(const struct pstack_object *obj, size_t i);
/* Frame size in bytes of a function, or -ENOENT. */
int pstack_object__frame_size(const struct pstack_object *obj, const char *function);

/* Verifies. Returns an enum pstack_verdict (>= 0), or a negative errno
 * (-EINVAL: bad options or environment file). `report` may be NULL; else
 * *report receives a report to free with pstack_report__free. */
int pstack_object__verify(struct pstack_object *obj, const struct pstack_verify_opts *opts,
			  struct pstack_report **report);

enum pstack_verdict pstack_report__verdict(const struct pstack_report *rep);

/* Per program, in the object's order (no JSON to parse): its name, its
 * verdict, the bytes of kernel stack its worst chain uses, the bytes of
 * per-CPU buffers it owns, and its violations. NULL / 0 / -ERANGE out of
 * range. */
size_t pstack_report__program_cnt(const struct pstack_report *rep);
const char *pstack_report__program_name(const struct pstack_report *rep, size_t i);
int pstack_report__program_verdict(const struct pstack_report *rep, size_t i);
/* why the verdict is PSTACK_UNKNOWN, or "" */
const char *pstack_report__program_reason(const struct pstack_report *rep, size_t i);
unsigned long long pstack_report__program_kernel_stack(const struct pstack_report *rep, size_t i);
unsigned long long pstack_report__program_bytes_per_cpu(const struct pstack_report *rep, size_t i);
size_t pstack_report__program_violation_cnt(const struct pstack_report *rep, size_t i);
unsigned long long pstack_report__bytes_per_cpu(const struct pstack_report *rep);
size_t pstack_report__violation_cnt(const struct pstack_report *rep);
/* alias|overflow|out_of_frame|r9_clobber|kernel_limit, or NULL out of range */
const char *pstack_report__violation_kind(const struct pstack_report *rep, size_t i);
const char *pstack_report__violation_program(const struct pstack_report *rep, size_t i);
const char *pstack_report__violation_message(const struct pstack_report *rep, size_t i);
size_t pstack_report__trace_len(const struct pstack_report *rep, size_t i);

struct pstack_trace_step {
	size_t sz;            /* sizeof(struct pstack_trace_step), set by the caller */
	const char *event;    /* enter|call|tail_call|callback|nest|reenter */
	const char *program;
	const char *function;
	long long insn;       /* call site (section-relative), or -1 */
	const char *source;   /* "file:line:col", or NULL */
	const char *region;   /* "kernel_stack" or a per-CPU buffer */
	long long lo, hi;     /* frame bytes [lo, hi) in the region */
	int clash;            /* one of the two frames the violation is about */
	unsigned depth;       /* position in the activation stack */
};
/* Fills `step` (strings owned by the report); 0, or -EINVAL / -ERANGE. */
int pstack_report__trace_step(const struct pstack_report *rep, size_t i, size_t j,
			      struct pstack_trace_step *step);

/* The whole report as JSON (pstack-verify/1 object); owned by the report. */
const char *pstack_report__json(const struct pstack_report *rep);
void pstack_report__free(struct pstack_report *rep);

/* x86-64 code from the layout a report proved, as jitgen emits it. */
struct pstack_jit;

struct pstack_jit_opts {
	size_t sz;            /* sizeof(struct pstack_jit_opts) */
	int allow_unproved;   /* emit from a layout not proved safe (replay only) */
};

/* -EPERM when a program of the report is not proved safe (and
 * allow_unproved is not set); -ENOTSUP for a construct jitgen does not
 * emit; -EINVAL for bad arguments. */
int pstack_report__jit(const struct pstack_report *rep, const struct pstack_jit_opts *opts,
		       struct pstack_jit **jit);
size_t pstack_jit__func_cnt(const struct pstack_jit *jit);
/* "program/function" */
const char *pstack_jit__func_name(const struct pstack_jit *jit, size_t i);
const void *pstack_jit__func_code(const struct pstack_jit *jit, size_t i, size_t *size);
/* x86 beside BPF and source lines; owned by the jit object */
const char *pstack_jit__func_listing(const struct pstack_jit *jit, size_t i);
unsigned long long pstack_jit__per_cpu_bytes(const struct pstack_jit *jit);
/* The decoded code checked against the layout: the number of findings
 * (0: valid); each is a line of pstack_jit__findings(). */
int pstack_jit__validate(struct pstack_jit *jit);
const char *pstack_jit__findings(const struct pstack_jit *jit);
void pstack_jit__free(struct pstack_jit *jit);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *pstack_version(void);

/* Why the last failing call on this thread failed. */
const char *pstack_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* PSTACK_H */
