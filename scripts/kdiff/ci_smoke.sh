#!/usr/bin/env bash
# ci_smoke.sh BUILD_DIR — a fixed-seed batch of ~40 generated programs loaded into the running
# kernel (../shared/oracle/kernel-verifier --host) and compared with
# `pstack-verify --scheme kernel --kernel running`. Fails on any verdict that differs from the
# kernel's or any frame below the kernel's `stack depth`. Prints SKIP and exits 0 unless run as
# root on a kernel whose bpf() loads programs, with clang-14 and python3 at hand.
set -uo pipefail
build=${1:?usage: ci_smoke.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tool=$build/tools/pstack-verify
oracle=${KDIFF_ORACLE:-/work/shared/oracle/kernel-verifier}
skip() { echo "SKIP: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "not root (loading BPF programs needs it)"
[ -x "$tool" ] || { echo "FAIL: no $tool"; exit 1; }
[ -x "$oracle" ] || skip "no oracle at $oracle"
command -v clang-14 >/dev/null || skip "no clang-14"
command -v python3 >/dev/null || skip "no python3"
work=$build/kdiff-smoke
mkdir -p "$work"
# bpf() usable? load one trivial program into the running kernel
printf '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("socket") int ok(void *c) { return 0; }\nchar LICENSE[] SEC("license") = "GPL";\n' > "$work/probe.c"
clang-14 -target bpf -O2 -g -I/usr/include/x86_64-linux-gnu -c "$work/probe.c" -o "$work/probe.o" 2>/dev/null \
  || skip "clang-14 cannot build BPF here"
"$oracle" --host "$work/probe.o" 2>/dev/null | grep -q 'load=0' || skip "bpf() does not load programs here"
# program types this machine's kernel loads (its fentry/fexit/lsm trampolines are refused with EPERM)
types=kprobe,tracepoint,raw_tp,raw_tp.w,perf_event,tp_btf,iter,xdp,socket
python3 "$here/run.py" --tool "$tool" --seed 20261202 --count 42 --jobs 2 --kernels host \
  --types "$types" --work "$work" --cache "$work/cache"
rc=$?
if [ $rc -ne 0 ]; then
  echo "FAIL: disagreements with the running kernel, see $work/disagreements.txt"
  exit 1
fi
echo "PASS"
