#!/usr/bin/env python3
"""Replays the kept disagreements (tests/kdiff/cases) against the kernels' recorded answers.

  kept.py --tool BUILD/tools/pstack-verify [--cases DIR] [--work DIR]

Every object the differential run kept (a `.c` with its `.expect.json`: the kernels' answers
when it was found) is compiled again as run.py compiles it and verified with `--kernel 6.1`
and `--kernel 6.12`; each recorded program must agree as run.py counts agreement — accepted
<=> safe (or unsafe only for a task-stack overrun through tail calls), refused for its stack
<=> unsafe with a kernel_limit — and no function's frame may be below the kernel's `stack
depth`. Answers of other kernels (the host's: they depend on its build) are not replayed.
No root, no qemu: the answers are in the sidecars. Exit 1 on any difference.
"""
import argparse, glob, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import elforder  # noqa: E402
from run import CFLAGS, DEPTH_RE, tool_programs  # noqa: E402

KERNELS = ("6.1", "6.12")


def recorded(side):
    """[(kernel, program, answer)] from a sidecar, either layout: one program per
    disagreement, or program "*" with the answers per program under each kernel."""
    out = []
    for d in json.load(open(side))["disagreements"]:
        for k, ans in d.get("kernels", {}).items():
            if k not in KERNELS:
                continue
            if d.get("program") == "*" and isinstance(ans, str):
                # one sentence for every program of the object ("every program refused: ...")
                out.append((k, "*", {"verdict": "unsafe" if "refused" in ans else "safe", "message": ans}))
            elif d.get("program") == "*":
                out += [(k, p, a) for p, a in ans.items()]
            else:
                out.append((k, d["program"], ans))
    seen, uniq = set(), []
    for k, p, a in out:
        if (k, p) not in seen:
            seen.add((k, p))
            uniq.append((k, p, a))
    return uniq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--cases", default=os.path.join(HERE, "..", "..", "tests", "kdiff", "cases"))
    ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="kdiff-kept-")
    os.makedirs(work, exist_ok=True)
    failures, checked = [], 0
    for side in sorted(glob.glob(os.path.join(a.cases, "*.expect.json"))):
        name = os.path.basename(side)[:-len(".expect.json")]
        src = os.path.join(a.cases, name + ".c")
        obj = os.path.join(work, name + ".o")
        answers = recorded(side)
        if not answers:  # (answers of the host's kernel only)
            continue
        p = subprocess.run(["clang-14"] + CFLAGS + ["-c", src, "-o", obj], capture_output=True, text=True)
        if p.returncode:
            failures.append("%s: does not compile: %s" % (name, p.stderr.strip()[-300:]))
            continue
        order = elforder.programs_order(obj)
        tool = {}
        for k in KERNELS:
            t = subprocess.run([a.tool, "--format", "json", "--scheme", "kernel", "--kernel", k,
                                "--timeout", "120", obj],  # (generous: sanitizer builds run it too)
                               capture_output=True, text=True, timeout=900)
            try:
                tool[k] = tool_programs(json.loads(t.stdout))
            except ValueError:
                failures.append("%s --kernel %s: exit %d: %s" % (name, k, t.returncode, t.stderr.strip()[-300:]))
                tool[k] = {}
        answers = [(k, p, a) for k, prog, a in answers
                   for p in (sorted(tool[k]) if prog == "*" else [prog])]
        for k, prog, ans in answers:
            t = tool[k].get(prog)
            if t is None:
                failures.append("%s %s --kernel %s: no such program in the tool's report" % (name, prog, k))
                continue
            checked += 1
            want = ans["verdict"]
            overrun = t["verdict"] == "unsafe" and not t["kernel_limit"] and t["other"] == ["overflow"]
            if want == "safe":
                ok = t["verdict"] == "safe" or overrun
            elif want == "unsafe":
                ok = t["verdict"] == "unsafe" and bool(t["kernel_limit"])
            else:
                ok = True  # refused for something else: no stack verdict to compare
            if not ok:
                failures.append("%s %s --kernel %s: kernel %s (%s), tool %s %s" % (
                    name, prog, k, want, ans.get("message") or "accepted", t["verdict"], t["kernel_limit"]))
            m = DEPTH_RE.search(ans.get("stack_depth") or "")
            if not m or want not in ("safe", "unsafe"):
                continue
            depths = [int(x) for x in m.group(1).split("+")]
            fns = order.get(prog, [])
            if len(fns) != len(depths):
                failures.append("%s %s: %d functions in libbpf's order, %d depths in the kernel's log" % (
                    name, prog, len(fns), len(depths)))
                continue
            below = [(f, d, t["frames"].get(f)) for f, d in zip(fns, depths)
                     if t["frames"].get(f) is None or t["frames"][f] < d]
            if below:
                failures.append("%s %s --kernel %s: frames below the kernel's (function, kernel, tool): %s" % (
                    name, prog, k, below))
    for f in failures:
        print("FAIL " + f)
    print("kept cases: %d answers replayed, %d differ" % (checked, len(failures)))
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
