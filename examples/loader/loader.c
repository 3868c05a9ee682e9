/* An example loader: opens a BPF object with libbpf and gates it with
 * pstack-verify's C API before bpf_object__load. It stops before loading
 * when the object is not proved safe, when it is not root, or with
 * --no-load.
 *
 *   loader [--scheme S] [--no-load] OBJECT
 */
#include <bpf/libbpf.h>
#include <pstack.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *scheme = "kernel", *path = NULL;
	int no_load = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--scheme") && i + 1 < argc)
			scheme = argv[++i];
		else if (!strcmp(argv[i], "--no-load"))
			no_load = 1;
		else
			path = argv[i];
	}
	if (!path) {
		fprintf(stderr, "usage: loader [--scheme S] [--no-load] OBJECT\n");
		return 2;
	}

	struct bpf_object *bpf = bpf_object__open_file(path, NULL);
	if (!bpf) {
		fprintf(stderr, "loader: libbpf cannot open %s: %s\n", path, strerror(errno));
		return 2;
	}

	struct pstack_object *obj = pstack_object__open_file(path);
	if (!obj) {
		fprintf(stderr, "loader: %s\n", pstack_last_error());
		bpf_object__close(bpf);
		return 2;
	}
	PSTACK_OPTS(pstack_verify_opts, opts, .scheme = scheme);
	struct pstack_report *rep = NULL;
	int verdict = pstack_object__verify(obj, &opts, &rep);
	if (verdict < 0) {
		fprintf(stderr, "loader: verify: %s\n", pstack_last_error());
		pstack_object__close(obj);
		bpf_object__close(bpf);
		return 2;
	}
	printf("%s: %s under the %s scheme, %llu bytes per CPU\n", path,
	       verdict == PSTACK_SAFE ? "safe" : verdict == PSTACK_UNSAFE ? "unsafe" : "unknown",
	       scheme, pstack_report__bytes_per_cpu(rep));
	for (size_t i = 0; i < pstack_report__violation_cnt(rep); i++) {
		printf("  %s: %s\n", pstack_report__violation_kind(rep, i),
		       pstack_report__violation_message(rep, i));
		for (size_t j = 0; j < pstack_report__trace_len(rep, i); j++) {
			struct pstack_trace_step step = {.sz = sizeof(step)};
			if (pstack_report__trace_step(rep, i, j, &step))
				break;
			printf("    %c %-9s %s/%s %s [%lld, %lld) %s\n", step.clash ? '*' : ' ',
			       step.event, step.program, step.function, step.region, step.lo,
			       step.hi, step.source ? step.source : "");
		}
	}
	pstack_report__free(rep);
	pstack_object__close(obj);

	int rc = verdict;
	if (verdict != PSTACK_SAFE) {
		printf("not loading: not proved safe\n");
	} else if (no_load || geteuid() != 0) {
		printf("not loading: %s\n", no_load ? "--no-load" : "not root");
	} else if (bpf_object__load(bpf)) {
		fprintf(stderr, "loader: bpf_object__load: %s\n", strerror(errno));
		rc = 2;
	} else {
		printf("loaded\n");
	}
	bpf_object__close(bpf);
	return rc;
}
