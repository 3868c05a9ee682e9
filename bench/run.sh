#!/usr/bin/env bash
# Runs every benchmark in its own process, so that peak RSS is per object.
#   bash bench/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cmake --build "$build" --target bench >/dev/null
bin="$build/bench/pstack_bench"
printf '%-42s %10s %8s %12s %8s\n' benchmark ms states peak_MiB verdict
for name in $("$bin" --benchmark_list_tests); do
  "$bin" --benchmark_filter="^${name}\$" --benchmark_format=json 2>/dev/null |
    python3 -c '
import json, sys
b = json.load(sys.stdin)["benchmarks"][0]
v = {0: "safe", 1: "unsafe", 2: "unknown"}[int(b["verdict"])]
print("%-42s %10.1f %8d %12.1f %8s" % (b["name"], b["real_time"], b["states"], b["peak_rss_MiB"], v))'
done

# jitgen: emit + validate time, x86 instructions per BPF instruction and per
# call site, per-CPU bytes, ns per BPF-to-BPF call in the harness
echo
"$build/bench/pstack_jit_bench" --benchmark_format=console 2>/dev/null | grep -E "^(jit|interp)/|^Benchmark"
