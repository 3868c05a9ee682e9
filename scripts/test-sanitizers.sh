#!/usr/bin/env bash
# The whole test suite again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (leak checking on). Any report fails a test.
#   bash scripts/test-sanitizers.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPSTACK_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# the JIT differential test over fewer random objects (its full 1000 run
# in the plain build)
export PSTACK_DIFF_SEEDS=${PSTACK_DIFF_SEEDS:-150}
# the JIT's corpus sweep under the kernel scheme over the socket filters
# with legacy packet loads only (every object and scheme in the plain build)
export PSTACK_JIT_CORPUS=${PSTACK_JIT_CORPUS:-short}
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 900 -LE oracle_tests

# a short libFuzzer run of each fuzz target (the long runs: scripts/fuzz.sh
# with its own build); a crash fails CI and leaves its input under
# $build/fuzz-artifacts/
if [ -x "$build/fuzz/fuzz_frontend" ]; then
  PSTACK_FUZZ_NO_BUILD=1 PSTACK_FUZZ_CORPUS=0 bash scripts/fuzz.sh "$build" "${PSTACK_FUZZ_SECONDS:-20}"
elif [ "${CI:-}" = true ]; then
  echo "test-sanitizers: no fuzz targets were built (libclang-rt-19-dev missing?)" >&2
  exit 1
fi
