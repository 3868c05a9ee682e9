#!/usr/bin/env bash
# One command on a fresh Debian 12 machine (as root): install what is missing,
# configure, build, and run pstack-verify on the bundled cases.
#   bash scripts/setup.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
pkgs=(g++ cmake make pkg-config clang-14 llvm-14-dev libz3-dev z3 cvc5 libboost-graph-dev
      libbpf-dev libelf-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
      python3-jsonschema python3-rfc3987 ca-certificates libclang-rt-14-dev
      llvm-19-dev clang-19 libclang-rt-19-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
echo
echo "== pstack-verify on the bundled cases (cases/*.c, compiled with clang -target bpf)"
rc=0
"$build/tools/pstack-verify" "$build"/cases/*.o || rc=$?
# 0 safe, 1 counterexample, 3 unknown are verdicts; 2 means something could not be read
if [ "$rc" -eq 2 ]; then
  echo "setup: pstack-verify could not read a bundled case" >&2
  exit 1
fi
echo "setup: done (pstack-verify exit status $rc)"
