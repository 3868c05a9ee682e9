/* The C API, from C: open, verify, report, traces, errors, opts rules.
 *   c_api_test CASES_DIR */
#include <pstack.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			failures++;                                                  \
		}                                                                    \
	} while (0)

static char path[4096];
static const char *casePath(const char *dir, const char *name)
{
	snprintf(path, sizeof(path), "%s/%s.o", dir, name);
	return path;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: c_api_test CASES_DIR\n");
		return 2;
	}
	const char *dir = argv[1];

	/* open, programs, frames */
	struct pstack_object *obj = pstack_object__open_file(casePath(dir, "recursion"));
	CHECK(obj != NULL);
	if (!obj)
		return 1;
	CHECK(pstack_object__program_cnt(obj) == 1);
	CHECK(strcmp(pstack_object__program_name(obj, 0), "entry") == 0);
	CHECK(strcmp(pstack_object__program_section(obj, 0), "raw_tp/sys_enter") == 0);
	CHECK(pstack_object__program_name(obj, 1) == NULL);
	CHECK(pstack_object__frame_size(obj, "entry") == 96);
	CHECK(pstack_object__frame_size(obj, "subprog1") == 64);
	CHECK(pstack_object__frame_size(obj, "nosuch") == -ENOENT);

	/* the reviewer's counterexample */
	PSTACK_OPTS(pstack_verify_opts, opts, .scheme = "per-subprog");
	struct pstack_report *rep = NULL;
	CHECK(pstack_object__verify(obj, &opts, &rep) == PSTACK_UNSAFE);
	CHECK(rep != NULL);
	CHECK(pstack_report__verdict(rep) == PSTACK_UNSAFE);
	CHECK(pstack_report__violation_cnt(rep) == 1);
	CHECK(strcmp(pstack_report__violation_kind(rep, 0), "alias") == 0);
	CHECK(strcmp(pstack_report__violation_program(rep, 0), "entry") == 0);
	CHECK(pstack_report__trace_len(rep, 0) == 3);
	struct pstack_trace_step step = {.sz = sizeof(step)};
	CHECK(pstack_report__trace_step(rep, 0, 2, &step) == 0);
	CHECK(strcmp(step.event, "tail_call") == 0);
	CHECK(strcmp(step.function, "entry") == 0);
	CHECK(step.insn == 7);
	CHECK(step.source && strstr(step.source, "recursion.c:27"));
	CHECK(step.lo == 0 && step.hi == 96);
	CHECK(step.clash == 1);
	CHECK(step.depth == 1);
	CHECK(pstack_report__trace_step(rep, 0, 3, &step) == -ERANGE);
	struct pstack_trace_step small = {.sz = 8};
	CHECK(pstack_report__trace_step(rep, 0, 0, &small) == -EINVAL);
	CHECK(strstr(pstack_report__json(rep), "\"kind\": \"alias\"") != NULL);
	/* per program, without parsing the JSON */
	CHECK(pstack_report__program_cnt(rep) == 1);
	CHECK(strcmp(pstack_report__program_name(rep, 0), "entry") == 0);
	CHECK(pstack_report__program_verdict(rep, 0) == PSTACK_UNSAFE);
	CHECK(strcmp(pstack_report__program_reason(rep, 0), "") == 0);
	CHECK(pstack_report__program_violation_cnt(rep, 0) == 1);
	CHECK(pstack_report__program_bytes_per_cpu(rep, 0) > 0);
	CHECK(pstack_report__program_name(rep, 1) == NULL);
	CHECK(pstack_report__program_verdict(rep, 1) == -ERANGE);
	/* no code from an unproved layout */
	struct pstack_jit *jit = NULL;
	CHECK(pstack_report__jit(rep, NULL, &jit) == -EPERM);
	CHECK(jit == NULL);
	CHECK(strstr(pstack_last_error(), "refusing to emit") != NULL);
	pstack_report__free(rep);

	/* per-prog: safe, with the computed buffer, and JITed from it */
	PSTACK_OPTS(pstack_verify_opts, pp, .scheme = "per-prog");
	CHECK(pstack_object__verify(obj, &pp, &rep) == PSTACK_SAFE);
	CHECK(pstack_report__bytes_per_cpu(rep) == 34 * 96 + 64);
	PSTACK_OPTS(pstack_jit_opts, jo);
	CHECK(pstack_report__jit(rep, &jo, &jit) == 0);
	CHECK(pstack_jit__func_cnt(jit) == 2);
	CHECK(strcmp(pstack_jit__func_name(jit, 0), "entry/entry") == 0);
	size_t code_size = 0;
	const unsigned char *code = pstack_jit__func_code(jit, 0, &code_size);
	CHECK(code && code_size > 12);
	CHECK(code[0] == 0x0f && code[8] == 0x55); /* nop5 ...; push %rbp */
	CHECK(pstack_jit__validate(jit) == 0);
	CHECK(strstr(pstack_jit__func_listing(jit, 0), "tail-call landing") != NULL);
	CHECK(pstack_jit__per_cpu_bytes(jit) >= 34 * 96 + 64);
	pstack_jit__free(jit);
	pstack_report__free(rep);
	PSTACK_OPTS(pstack_verify_opts, small_buf, .scheme = "per-prog", .buffer_size = 3320);
	CHECK(pstack_object__verify(obj, &small_buf, NULL) == PSTACK_UNSAFE);

	/* the engine, per_prog_r9 and an environment in memory */
	PSTACK_OPTS(pstack_verify_opts, eng, .scheme = "per-prog", .engine = "bounded",
		    .per_prog_r9 = "base");
	CHECK(pstack_object__verify(obj, &eng, &rep) == PSTACK_SAFE);
	CHECK(strstr(pstack_report__json(rep), "\"engine\": \"bounded\"") != NULL);
	CHECK(pstack_report__program_bytes_per_cpu(rep, 0) == 34 * 96 + 64);
	pstack_report__free(rep);
	/* r9 at the frame top: the re-entered entry grows into subprog1 */
	PSTACK_OPTS(pstack_verify_opts, top, .scheme = "per-prog", .per_prog_r9 = "top");
	CHECK(pstack_object__verify(obj, &top, NULL) == PSTACK_UNSAFE);
	PSTACK_OPTS(pstack_verify_opts, badeng, .engine = "fast");
	CHECK(pstack_object__verify(obj, &badeng, NULL) == -EINVAL);
	CHECK(strstr(pstack_last_error(), "fast") != NULL);
	PSTACK_OPTS(pstack_verify_opts, badr9, .per_prog_r9 = "middle");
	CHECK(pstack_object__verify(obj, &badr9, NULL) == -EINVAL);
	/* no tail-call limit: the bounded engine cannot end the search */
	PSTACK_OPTS(pstack_verify_opts, unlimited, .scheme = "per-prog", .engine = "bounded",
		    .env_json = "{\"tail_call_limit\": null}");
	CHECK(pstack_object__verify(obj, &unlimited, NULL) == PSTACK_UNKNOWN);
	PSTACK_OPTS(pstack_verify_opts, badenv, .env_json = "{\"nest\": {\"entry\": [\"nosuch\"]}}");
	CHECK(pstack_object__verify(obj, &badenv, NULL) == -EINVAL);
	CHECK(strstr(pstack_last_error(), "nosuch") != NULL);
	PSTACK_OPTS(pstack_verify_opts, both, .env_json = "{}", .env_path = "/dev/null");
	CHECK(pstack_object__verify(obj, &both, NULL) == -EINVAL);
	CHECK(strlen(pstack_version()) >= 5 && strchr(pstack_version(), '.') != NULL);

	/* defaults: NULL options mean the kernel scheme */
	CHECK(pstack_object__verify(obj, NULL, NULL) == PSTACK_SAFE);

	/* bad options: unknown scheme, too small sz, non-zero unknown tail */
	PSTACK_OPTS(pstack_verify_opts, bad, .scheme = "nonsense");
	CHECK(pstack_object__verify(obj, &bad, NULL) == -EINVAL);
	CHECK(strstr(pstack_last_error(), "nonsense") != NULL);
	struct {
		struct pstack_verify_opts o;
		long future;
	} bigger = {{.sz = sizeof(bigger)}, 1};
	CHECK(pstack_object__verify(obj, &bigger.o, NULL) == -EINVAL);
	bigger.future = 0;
	CHECK(pstack_object__verify(obj, &bigger.o, NULL) == PSTACK_SAFE);
	pstack_object__close(obj);

	/* errors: missing file, not an object, from memory */
	errno = 0;
	CHECK(pstack_object__open_file("/nonexistent.o") == NULL && errno == ENOENT);
	/* a directory: EISDIR, said in words, never an iostream's error */
	errno = 0;
	CHECK(pstack_object__open_file(dir) == NULL && errno == EISDIR);
	CHECK(strstr(pstack_last_error(), "is a directory") != NULL);
	CHECK(strstr(pstack_last_error(), "internal error") == NULL);
	static const char junk[] = "not an elf";
	CHECK(pstack_object__open_mem(junk, sizeof(junk), "junk.o") == NULL && errno == EINVAL);
	CHECK(strstr(pstack_last_error(), "junk.o") && strstr(pstack_last_error(), "not an ELF"));

	FILE *f = fopen(casePath(dir, "over_limit_chain"), "rb");
	CHECK(f != NULL);
	if (f) {
		static unsigned char buf[1 << 20];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		struct pstack_object *m = pstack_object__open_mem(buf, n, "chain.o");
		CHECK(m != NULL);
		PSTACK_OPTS(pstack_verify_opts, k61, .kernel = "6.1");
		CHECK(pstack_object__verify(m, &k61, &rep) == PSTACK_UNSAFE);
		CHECK(strcmp(pstack_report__violation_kind(rep, 0), "kernel_limit") == 0);
		pstack_report__free(rep);
		/* the running kernel's rules: a socket filter never has a private
		 * stack, so 640 bytes are over the limit; without root: EPERM */
		PSTACK_OPTS(pstack_verify_opts, running, .kernel = "running");
		int rc = pstack_object__verify(m, &running, &rep);
		if (geteuid() == 0) {
			CHECK(rc == PSTACK_UNSAFE);
			if (rc >= 0)
				pstack_report__free(rep);
		} else {
			CHECK(rc == -EPERM && errno == EPERM);
			CHECK(strstr(pstack_last_error(), "cannot load BPF programs into the running kernel") != NULL);
		}
		pstack_object__close(m);
	}

	if (failures)
		fprintf(stderr, "%d failed, 0 passed\n", failures);
	else
		printf("C API: all checks passed\n");
	return failures ? 1 : 0;
}
