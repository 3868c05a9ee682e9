#!/usr/bin/env bash
# Per-object latency of pstack-verify over the real-world corpus
# (../shared/corpus), beside `llvm-objdump -d` on the same objects (the
# floor for just reading them): median, p95, instructions per second, ratio.
#   bash bench/corpus.sh [BUILD_DIR] [SCHEME]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scheme=${2:-kernel}
corpus=../shared/corpus
[ -d "$corpus" ] || { echo "no $corpus" >&2; exit 1; }
out=$(mktemp)
find "$corpus" -name '*.o' | sort | while read -r o; do
  t0=$(date +%s%N)
  rc=0; "$build/tools/pstack-verify" --scheme "$scheme" --timeout 10 "$o" >/dev/null 2>&1 || rc=$?
  t1=$(date +%s%N)
  llvm-objdump-14 -d "$o" >/dev/null 2>&1 || true
  t2=$(date +%s%N)
  insns=$(llvm-objdump-14 -d --no-show-raw-insn "$o" 2>/dev/null | grep -cE '^\s+[0-9a-f]+:' || true)
  echo "$o $rc $(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 )) $insns" >> "$out"
done
python3 - "$out" "$scheme" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
ours = sorted(float(r[2]) / 1e6 for r in rows); dump = sorted(float(r[3]) / 1e6 for r in rows)
insns = sum(int(r[4]) for r in rows)
def p(v, q): return v[min(len(v) - 1, int(q * len(v)))]
codes = {}
for r in rows: codes[r[1]] = codes.get(r[1], 0) + 1
print("corpus: %d objects, %d BPF instructions, scheme %s" % (len(rows), insns, sys.argv[2]))
print("exit codes: " + ", ".join("%s: %d" % kv for kv in sorted(codes.items())))
print("%-22s %10s %10s %10s %14s" % ("", "median ms", "p95 ms", "total s", "insns/s"))
for name, v in (("pstack-verify", ours), ("llvm-objdump -d", dump)):
    print("%-22s %10.1f %10.1f %10.2f %14.0f" % (name, 1e3 * statistics.median(v), 1e3 * p(v, .95), sum(v), insns / sum(v)))
print("ratio (pstack-verify / llvm-objdump): median %.1fx, total %.1fx" % (
    statistics.median(ours) / statistics.median(dump), sum(ours) / sum(dump)))
slow = sorted(rows, key=lambda r: -float(r[2]))[:3]
print("slowest: " + "; ".join("%s %.2f s (exit %s)" % (r[0].split('/')[-1], float(r[2]) / 1e6, r[1]) for r in slow))
PY
rm -f "$out"
