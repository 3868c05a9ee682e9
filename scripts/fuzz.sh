#!/usr/bin/env bash
# libFuzzer runs of the three fuzz targets (fuzz/targets.h), each for
# SECONDS, seeded from the bundled cases, ../shared/corpus and every input
# kept in fuzz/regressions/. Builds BUILD_DIR with -DPSTACK_FUZZ=ON first
# (ASan + UBSan + coverage; needs libclang-rt-19-dev, or -14-dev).
#   bash scripts/fuzz.sh [BUILD_DIR] [SECONDS] [TARGET...]
# A crash leaves its input in BUILD_DIR/fuzz-artifacts/TARGET/ and fails the
# script; keep it as fuzz/regressions/TARGET/<name> (tests replay it) once
# fixed.
# Environment:
#   PSTACK_FUZZ_NO_BUILD=1  BUILD_DIR already has the targets (the sanitizer
#                           build makes them too: CI's short run)
#   PSTACK_FUZZ_CORPUS=0    the pipeline target is not seeded from
#                           ../shared/corpus (replaying it takes minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
seconds=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frontend environment pipeline)
if [ "${PSTACK_FUZZ_NO_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPSTACK_FUZZ=ON >/dev/null
  cmake --build "$build" -j"$(nproc)" --target fuzz
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  work="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  seeds=(fuzz/regressions/"$t")
  case "$t" in
    environment) seeds+=(cases/*.env.json tests/data/*.env.json) ;;
    *) seeds+=("$build"/cases/*.o)
       # the shared corpus, up to 64 KiB an object (mutating megabyte
       # objects is slow and finds nothing the small ones do not)
       if [ -d ../shared/corpus ] && { [ "$t" = frontend ] || [ "${PSTACK_FUZZ_CORPUS:-1}" = 1 ]; }; then
         while IFS= read -r f; do seeds+=("$f"); done < <(find ../shared/corpus -name '*.o' -size -64k)
       fi ;;
  esac
  for s in "${seeds[@]}"; do
    if [ -d "$s" ]; then cp -n "$s"/* "$work"/ 2>/dev/null || true
    elif [ -f "$s" ]; then cp -n "$s" "$work/$(echo "${s#../}" | tr / _)"; fi
  done
  echo "== fuzz_$t for ${seconds}s ($(ls "$work" | wc -l) inputs in $work)"
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=6144 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" \
       > "$build/fuzz-$t.log" 2>&1; then
    echo "fuzz_$t: FOUND A CRASH (log: $build/fuzz-$t.log, input in $artifacts)" >&2
    grep -E 'ERROR|invariant broken|LLVM ERROR|SUMMARY' "$build/fuzz-$t.log" | head -5 >&2
    status=1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' "$build/fuzz-$t.log" | tail -3 || true
done
exit $status
