#!/usr/bin/env bash
# Latency of pstack-verify beside `llvm-objdump -d` on the same objects (the
# floor for just reading them), measured in one run:
#  - per object of the real-world corpus (../shared/corpus): the default
#    path (the explicit search decides) and --cross-check (Z3 proves again
#    what it proved), each against that object's `llvm-objdump -d`;
#  - the whole corpus in one batch run (-j 2), default and --cross-check,
#    against the per-file `llvm-objdump -d` loop;
#  - the large tracing probe built from C (bench/gen_object.cmake, KIND
#    probe: 120 programs tail-calling each other, ~3,000 call sites), when
#    the bench objects are built (cmake --build BUILD --target bench).
#   bash bench/corpus.sh [BUILD_DIR] [SCHEME]
# REPEAT=N (default 1): each per-file command runs N times and its least
# time counts (for pstack-verify and llvm-objdump -d alike). On a machine
# shared with other work, a single run of a ~10 ms process mostly measures
# when the scheduler let it run; the least of a few is its cost.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scheme=${2:-kernel}
corpus=../shared/corpus
probe=$build/bench/objects/probe_120.o
[ -d "$corpus" ] || { echo "no $corpus" >&2; exit 1; }
bin="$build/tools/pstack-verify"
# (--triple: objects from old LLVM carry EM_NONE, which llvm-objdump cannot
# disassemble without it: it failed at once, and its "floor" was its
# start-up; for EM_BPF objects the output is the same)
dump="llvm-objdump-14 --triple=bpfel"
out=$(mktemp)
now() { date +%s%N; }
repeat=${REPEAT:-1}
# one command's wall time in microseconds; its status is not ours to judge
timed1() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; echo $(( ($(now) - t0) / 1000 )); }
# ... the least of $repeat runs
timed() {
  local best=-1 t i
  for ((i = 0; i < repeat; ++i)); do
    t=$(timed1 "$@")
    if ((best < 0 || t < best)); then best=$t; fi
  done
  echo $best
}
# CPU time (perf's task-clock, microseconds; least of $repeat runs), where
# perf can count it: what a run costs, whatever else the machine runs
cpu1() {
  perf stat -x, -e task-clock -o "$out.perf" -- "$@" >/dev/null 2>&1 || true
  awk -F, '/task-clock/ { printf "%d\n", $1 * 1000 }' "$out.perf"
}
cpu() {
  local best=-1 t i
  for ((i = 0; i < repeat; ++i)); do
    t=$(cpu1 "$@")
    [ -n "$t" ] || { echo -1; return; }
    if ((best < 0 || t < best)); then best=$t; fi
  done
  echo $best
}
command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1 && haveperf=1 || haveperf=0
find "$corpus" -name '*.o' | sort > "$out.list"
while read -r o; do
  rc=0
  "$bin" --scheme "$scheme" --timeout 10 "$o" >/dev/null 2>&1 || rc=$?
  t_def=$(timed "$bin" --scheme "$scheme" --timeout 10 "$o")
  t_x=$(timed "$bin" --scheme "$scheme" --timeout 10 --cross-check "$o")
  t_dump=$(timed $dump -d "$o")
  insns=$($dump -d --no-show-raw-insn "$o" 2>/dev/null | grep -cE '^\s+[0-9a-f]+:' || true)
  c_def=-1 c_dump=-1
  if ((haveperf)); then
    c_def=$(cpu "$bin" --scheme "$scheme" --timeout 10 "$o")
    c_dump=$(cpu $dump -d "$o")
  fi
  echo "$o $rc $t_def $t_x $t_dump $insns $c_def $c_dump" >> "$out"
done < "$out.list"
# the batch runs: every object in one process, two workers
b_def=$(timed "$bin" --scheme "$scheme" --timeout 10 -j 2 -q "$corpus")
b_x=$(timed "$bin" --scheme "$scheme" --timeout 10 -j 2 -q --cross-check "$corpus")
p_def=- p_x=- p_dump=- p_insns=0 p_cpu="-1 -1 -1"
if [ -f "$probe" ]; then
  p_def=$(timed "$bin" --scheme "$scheme" --timeout 60 "$probe")
  p_x=$(timed "$bin" --scheme "$scheme" --timeout 60 --cross-check "$probe")
  p_dump=$(timed $dump -d "$probe")
  p_insns=$($dump -d --no-show-raw-insn "$probe" 2>/dev/null | grep -cE '^\s+[0-9a-f]+:' || true)
  if ((haveperf)); then
    p_cpu="$(cpu "$bin" --scheme "$scheme" --timeout 60 "$probe") $(cpu "$bin" --scheme "$scheme" --timeout 60 --cross-check "$probe") $(cpu $dump -d "$probe")"
  fi
fi
python3 - "$out" "$scheme" "$b_def" "$b_x" "$p_def" "$p_x" "$p_dump" "$p_insns" "$repeat" $p_cpu <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
scheme = sys.argv[2]
b_def, b_x = float(sys.argv[3]) / 1e6, float(sys.argv[4]) / 1e6
col = lambda i: [float(r[i]) / 1e6 for r in rows]
ours, cross, dump = col(2), col(3), col(4)
insns = sum(int(r[5]) for r in rows)
def p(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))]
codes = {}
for r in rows: codes[r[1]] = codes.get(r[1], 0) + 1
print("corpus: %d objects, %d BPF instructions, scheme %s; times: least of %s run(s)" % (len(rows), insns, scheme, sys.argv[9]))
print("exit codes: " + ", ".join("%s: %d" % kv for kv in sorted(codes.items())))
print("%-34s %10s %10s %10s %12s" % ("", "median ms", "p95 ms", "total s", "insns/s"))
for name, v in (("pstack-verify (per file)", ours), ("pstack-verify --cross-check", cross),
                ("llvm-objdump -d (per file)", dump)):
    print("%-34s %10.1f %10.1f %10.2f %12.0f" % (name, 1e3 * statistics.median(v), 1e3 * p(v, .95), sum(v), insns / sum(v)))
for name, t in (("pstack-verify -j 2 (one batch)", b_def), ("... --cross-check (one batch)", b_x)):
    print("%-34s %10s %10s %10.2f %12.0f" % (name, "", "", t, insns / t))
d = sum(dump)
print("ratios to the per-file llvm-objdump -d loop: per file %.2fx (cross-check %.2fx), "
      "one batch %.2fx (cross-check %.2fx)" % (sum(ours) / d, sum(cross) / d, b_def / d, b_x / d))
worst = sorted(rows, key=lambda r: -float(r[2]) / max(float(r[4]), 1))
over = [r for r in rows if float(r[2]) > 2 * float(r[4])]
print("objects above 2x their own llvm-objdump -d: %d (worst: %s)" % (len(over), "; ".join(
    "%s %.2fx" % (r[0].split('/')[-1], float(r[2]) / float(r[4])) for r in worst[:3])))
if all(float(r[6]) >= 0 and float(r[7]) > 0 for r in rows):
    cworst = sorted(rows, key=lambda r: -float(r[6]) / float(r[7]))
    cover = [r for r in rows if float(r[6]) > 2 * float(r[7])]
    print("... by CPU time (perf task-clock): %d (worst: %s); CPU totals %.2f s vs %.2f s" % (
        len(cover), "; ".join("%s %.2fx" % (r[0].split('/')[-1], float(r[6]) / float(r[7])) for r in cworst[:3]),
        sum(float(r[6]) for r in rows) / 1e6, sum(float(r[7]) for r in rows) / 1e6))
xover = [r for r in rows if float(r[3]) > 2 * float(r[4])]
print("... with --cross-check: %d" % len(xover))
slow = sorted(rows, key=lambda r: -float(r[3]))[:3]
print("slowest with --cross-check: " + "; ".join("%s %.2f s" % (r[0].split('/')[-1], float(r[3]) / 1e6) for r in slow))
if sys.argv[5] != "-":
    pd, px, pdump = (float(sys.argv[i]) / 1e6 for i in (5, 6, 7))
    print("large probe (probe_120.o, %s insns): pstack-verify %.2f s, --cross-check %.2f s, "
          "llvm-objdump -d %.2f s: ratios %.2fx and %.2fx" % (sys.argv[8], pd, px, pdump, pd / pdump, px / pdump))
    cd, cx, cdump = (float(sys.argv[i]) / 1e6 for i in (10, 11, 12))
    if cdump > 0 and cd >= 0 and cx >= 0:
        print("... by CPU time (perf task-clock): %.3f s, --cross-check %.3f s, llvm-objdump -d %.3f s: "
              "ratios %.2fx and %.2fx" % (cd, cx, cdump, cd / cdump, cx / cdump))
PY
rm -f "$out" "$out.list"
