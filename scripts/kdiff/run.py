#!/usr/bin/env python3
"""Differential run of pstack-verify's `kernel` scheme against real kernel verifiers.

  run.py --tool BUILD/tools/pstack-verify [--seed 1] [--count 600] [--jobs 2]
         [--work DIR] [--kernels 6.1,6.12,host] [--keep] [--batch 250]

Generates --count programs (gen.py, 6 per object), compiles them with clang-14, asks the
oracles (../shared/oracle/kernel-verifier: qemu 6.1, qemu --image 6.12, --host) in batches, caching
every answer by object hash in --cache (default ~/.cache/pstack-kdiff), runs the tool with
--kernel 6.1 / 6.12 / running (falling back as --fallback says when the tool lacks a version)
and compares per program: verdict (accepted <=> safe; refused for the stack <=> unsafe with a
kernel_limit violation) and frames (the kernel's `stack depth A+B+C`, in libbpf's subprog order,
against the tool's frame_size per function: the tool may be larger, never smaller).
Writes WORK/summary.txt, WORK/disagreements.txt and WORK/disagreements.jsonl; with --keep,
copies each disagreeing object to tests/kdiff/cases/ with a .expect.json sidecar.
"""
import argparse, concurrent.futures as cf, hashlib, json, os, re, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402
import elforder  # noqa: E402

ORACLE = os.environ.get("KDIFF_ORACLE", "/work/shared/oracle/kernel-verifier")
CFLAGS = ["-target", "bpf", "-O2", "-g", "-mcpu=v3", "-I/usr/include/x86_64-linux-gnu"]
STACK_RE = re.compile(r"combined stack size of|call stack of \d+ frames is too deep|"
                      r"tail_calls are not allowed when call stack|recursive call|"
                      r"stack size of subprog .* Too large|private stack|"
                      r"back-edge from insn \d+ to \d+")
DEPTH_RE = re.compile(r"stack depth ([0-9+]+)")
# refusals by check_max_stack_depth (do_check finished: every subprog's depth is known)
FINAL_RE = re.compile(r"combined stack size of|frames is too deep !|tail_calls are not allowed")


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()[:24]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- oracles
def parse_oracle(text):
    """{(object basename, prog): {"rc": int, "lines": [...]}}"""
    res, cur = {}, None
    for line in text.splitlines():
        if line.startswith("ORACLE "):
            parts = line.split()
            obj = os.path.basename(parts[1])
            if "__" in obj:
                obj = obj.split("__", 1)[1]
            if parts[2] == "-":
                res[(obj, "-")] = {"rc": None, "lines": [line]}
                cur = None
                continue
            rc = int(parts[3].split("=")[1])
            cur = {"rc": rc, "lines": []}
            res[(obj, parts[2])] = cur
        elif cur is not None and line.startswith("  | "):
            cur["lines"].append(line[4:])
    return res


def oracle_args(kernel):
    return {"6.1": [], "6.12": ["--image", "6.12"], "host": ["--host"]}[kernel]


def kernel_id(kernel):
    return "host-" + os.uname().release if kernel == "host" else kernel


def run_oracles(objs, kernel, cache, batch):
    """objs: {sha: path}. Returns {sha: parsed answers}; caches one file per object."""
    d = os.path.join(cache, kernel_id(kernel))
    os.makedirs(d, exist_ok=True)
    todo = [h for h in objs if not os.path.exists(os.path.join(d, h + ".txt"))]
    for i in range(0, len(todo), batch):
        chunk = todo[i:i + batch]
        tmp = tempfile.mkdtemp(prefix="kdiff-")
        sub = os.path.join(tmp, "k")
        os.makedirs(sub)
        for h in chunk:
            shutil.copy(objs[h], os.path.join(sub, h + ".o"))
        t0 = time.time()
        log("oracle %s: %d objects (batch %d/%d)" % (kernel, len(chunk), i // batch + 1, (len(todo) + batch - 1) // batch))
        p = subprocess.run([ORACLE] + oracle_args(kernel) + [os.path.join(sub, h + ".o") for h in chunk],
                           capture_output=True, text=True)
        log("oracle %s: %.0f s, rc %d %s" % (kernel, time.time() - t0, p.returncode, p.stderr.strip()[-300:]))
        blocks = {}
        cur = None
        for line in p.stdout.splitlines():
            if line.startswith("ORACLE "):
                obj = os.path.basename(line.split()[1])
                obj = obj.split("__", 1)[1] if "__" in obj else obj
                cur = obj[:-2]
                blocks.setdefault(cur, []).append(line)
            elif cur is not None and line.startswith("  | "):
                blocks[cur].append(line)
        for h in chunk:
            if h in blocks:  # objects without any answer (a crashed VM) are asked again next run
                with open(os.path.join(d, h + ".txt"), "w") as f:
                    f.write("\n".join(blocks[h]) + "\n")
        shutil.rmtree(tmp)
    out = {}
    for h in objs:
        fn = os.path.join(d, h + ".txt")
        if os.path.exists(fn):
            out[h] = {k[1]: v for k, v in parse_oracle(open(fn).read()).items()}
    return out


# ---------------------------------------------------------------- the tool
PROBE_C = '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("socket") int ok(void *c) { return 0; }\n' \
    'char LICENSE[] SEC("license") = "GPL";\n'


def tool_supports(tool, kv, work):
    """does the tool answer --kernel kv (a JSON document for a trivial object)?"""
    c, o = os.path.join(work, "probe.c"), os.path.join(work, "probe.o")
    if not os.path.exists(o):
        open(c, "w").write(PROBE_C)
        subprocess.run(["clang-14"] + CFLAGS + ["-c", c, "-o", o], check=True)
    p = subprocess.run([tool, "--format", "json", "--scheme", "kernel", "--kernel", kv, o],
                       capture_output=True, text=True)
    try:
        json.loads(p.stdout)
        return True, ""
    except ValueError:
        return False, p.stderr.strip().splitlines()[0] if p.stderr.strip() else "exit %d" % p.returncode


def run_tool(tool, kv, path, cache, toolhash, extra):
    h = sha(path)
    d = os.path.join(cache, "tool", toolhash, kv + "-" + hashlib.sha256(" ".join(extra).encode()).hexdigest()[:8])
    fn = os.path.join(d, h + ".json")
    if os.path.exists(fn):
        return json.load(open(fn))
    p = subprocess.run([tool, "--format", "json", "--scheme", "kernel", "--kernel", kv] + extra + [path],
                       capture_output=True, text=True, timeout=600)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {"error": "exit %d: %s" % (p.returncode, p.stderr.strip()[-400:])}
    doc["exit"] = p.returncode
    os.makedirs(d, exist_ok=True)
    json.dump(doc, open(fn, "w"))
    return doc


def tool_programs(doc):
    """{prog: {"verdict", "frames": {fn: size}, "kernel_limit": [messages], "other": [kinds]}}"""
    out = {}
    if "objects" not in doc:
        return out
    for o in doc["objects"]:
        viol = {}
        for v in o.get("violations", []):
            viol.setdefault(v.get("program"), []).append(v)
        for p in o.get("programs", []):
            vs = viol.get(p["name"], [])
            out[p["name"]] = {
                "verdict": p.get("verdict"),
                "frames": {f["name"]: f.get("stack_depth", f.get("frame_size")) for f in p.get("functions", [])},
                "kernel_limit": [v.get("message", "") for v in vs if v.get("kind") == "kernel_limit"],
                "other": sorted({v.get("kind") for v in vs if v.get("kind") != "kernel_limit"}),
                "private_stack": p.get("private_stack"),
            }
    return out


# ---------------------------------------------------------------- comparison
def classify(ans):
    if ans is None:
        return "missing"
    if ans["rc"] == 0:
        return "accepted"
    if any(STACK_RE.search(l) for l in ans["lines"]):
        return "stack"
    return "other"


def environment_refusal(kernel, ans, ptype):
    """this machine's kernel refuses every fentry/fexit/lsm program with EPERM before verifying it"""
    return kernel == "host" and ptype in ("fentry", "fexit", "lsm") and ans["rc"] == -1 and \
        not any(STACK_RE.search(l) for l in ans["lines"])


def other_reason(ans):
    lines = [l for l in ans["lines"] if not l.startswith(("verification time", "processed", "stack depth"))]
    return "rc=%s %s" % (ans["rc"], lines[-1] if lines else "(empty log)")


def compare(kernel, kv, objs, oracle, tool_out, orders, metas):
    rows, stats = [], dict(programs=0, verdict_eq=0, frames_eq=0, frames_larger=0, frames_smaller=0,
                           gen_invalid=0, missing=0, tool_error=0, verdict_ne=0, frames_compared=0)
    other = {}
    for h, (src, obj) in objs.items():
        ans_all = oracle.get(h, {})
        tp = tool_programs(tool_out[h])
        for prog, intent in metas[h].items():
            stats["programs"] += 1
            ans = ans_all.get(prog)
            c = classify(ans)
            if c == "missing":
                stats["missing"] += 1
                continue
            if c == "other" and environment_refusal(kernel, ans, intent["type"]):
                stats["unloadable_here"] = stats.get("unloadable_here", 0) + 1
                continue
            if c == "other":
                stats["gen_invalid"] += 1
                r = re.sub(r"\d+", "N", other_reason(ans))
                key = "%s: %s" % (intent["type"], r)
                other.setdefault(key, []).append((src, prog))
                continue
            t = tp.get(prog)
            if t is None:
                stats["tool_error"] += 1
                rows.append(dict(kind="tool_error", kernel=kernel, src=src, obj=obj, prog=prog, type=intent["type"],
                                 oracle=ans, tool=tool_out[h].get("error", "program missing")))
                continue
            tool_unsafe_kl = t["verdict"] == "unsafe" and bool(t["kernel_limit"])
            # The kernel loads one program at a time; the tool also follows
            # tail calls into the object's other programs (which a kernel
            # may refuse) and finds the whole task stack overrun at run
            # time. That is no load-time rule: counted apart, as agreeing
            # with the kernel's load decision, and listed.
            beyond_load = (c == "accepted" and t["verdict"] == "unsafe" and not t["kernel_limit"]
                           and t["other"] == ["overflow"])
            if beyond_load:
                stats["overflow_beyond_load"] = stats.get("overflow_beyond_load", 0) + 1
                rows.append(dict(kind="note_overflow_through_tail_calls", kernel=kernel, src=src, obj=obj, prog=prog,
                                 type=intent["type"], intent=intent, oracle=ans, tool=t))
            ok = (c == "accepted" and (t["verdict"] == "safe" or beyond_load)) or (c == "stack" and tool_unsafe_kl)
            cls_ = "const" if not intent.get("varoff") else "varoff"
            stats[cls_ + "_n"] = stats.get(cls_ + "_n", 0) + 1
            stats[cls_ + "_eq"] = stats.get(cls_ + "_eq", 0) + (1 if ok else 0)
            if ok:
                stats["verdict_eq"] += 1
            else:
                stats["verdict_ne"] += 1
                if c == "accepted":
                    kind = "tool_%s_kernel_accepts" % t["verdict"]
                else:
                    kind = "tool_%s_kernel_refuses" % (t["verdict"] if not (t["verdict"] == "unsafe") else "unsafe_no_kernel_limit")
                rows.append(dict(kind=kind, kernel=kernel, src=src, obj=obj, prog=prog, type=intent["type"],
                                 intent=intent, oracle=ans, tool=t))
            # frames
            dl = [l for l in ans["lines"] if DEPTH_RE.search(l)]
            if not dl or not (c == "accepted" or any(FINAL_RE.search(l) for l in ans["lines"])):
                continue
            depths = [int(x) for x in DEPTH_RE.search(dl[-1]).group(1).split("+")]
            order = orders[h].get(prog, [])
            if len(order) != len(depths):
                rows.append(dict(kind="order_mismatch", kernel=kernel, src=src, obj=obj, prog=prog, type=intent["type"],
                                 oracle=ans, tool=t, order=order))
                continue
            stats["frames_compared"] += 1
            smaller = [(n, k, t["frames"].get(n)) for n, k in zip(order, depths)
                       if t["frames"].get(n) is None or t["frames"][n] < k]
            larger = [(n, k, t["frames"][n]) for n, k in zip(order, depths)
                      if t["frames"].get(n) is not None and t["frames"][n] > k]
            if smaller:
                stats["frames_smaller"] += 1
                rows.append(dict(kind="frame_below_kernel", kernel=kernel, src=src, obj=obj, prog=prog, type=intent["type"],
                                 oracle=ans, tool=t, order=order, depths=depths, smaller=smaller, larger=larger))
            elif larger:
                stats["frames_larger"] += 1
                for n, k, v in larger:
                    why = "tool 512 (stack access not bounded)" if v == 512 else \
                        "tool = kernel rounded up to 16/32" if v in ((k + 15) // 16 * 16, (k + 31) // 32 * 32) else \
                        "tool = kernel + 24" if v == k + 24 else "tool above by %s" % ("<=32" if v - k <= 32 else ">32")
                    stats.setdefault("larger_why", {}).setdefault(why, 0)
                    stats["larger_why"][why] += 1
                rows.append(dict(kind="frame_above_kernel", kernel=kernel, src=src, obj=obj, prog=prog, type=intent["type"],
                                 oracle=ans, tool=t, order=order, depths=depths, larger=larger))
            else:
                stats["frames_eq"] += 1
    return stats, rows, other


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--seed", default="1", help="a seed, or several: 21,22,23 (--count programs each)")
    ap.add_argument("--count", type=int, default=600, help="programs (6 per object)")
    ap.add_argument("--progs-per-object", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default=None)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/pstack-kdiff"))
    ap.add_argument("--kernels", default="6.1,6.12,host")
    ap.add_argument("--fallback", default="running=6.13",
                    help="KV=FALLBACK pairs used when the tool does not know KV")
    ap.add_argument("--tool-args", default="--engine explicit --timeout 3",
                    help="more pstack-verify options (default: the explicit search, 3 s a program: kernel_limit "
                         "is found by it; the Z3 engines only add the alias/overflow proofs no kernel makes)")
    ap.add_argument("--retry-args", default="--engine explicit --timeout 120",
                    help="options for a second run of objects with a program unknown by timeout")
    ap.add_argument("--batch", type=int, default=250, help="objects per qemu boot")
    ap.add_argument("--types", default=None, help="program types for gen.py (default: all)")
    ap.add_argument("--oracle-only", action="store_true", help="ask the oracles, print their classes, stop")
    ap.add_argument("--keep", action="store_true", help="copy disagreements to tests/kdiff/cases")
    ap.add_argument("--cases", default=os.path.join(HERE, "..", "..", "tests", "kdiff", "cases"))
    ap.add_argument("--keep-per-class", type=int, default=4)
    a = ap.parse_args()
    seeds = [int(x) for x in str(a.seed).split(",")]
    work = a.work or "/tmp/kdiff-s%s-n%d" % ("_".join(map(str, seeds)), a.count)
    srcd, objd = os.path.join(work, "src"), os.path.join(work, "obj")
    os.makedirs(srcd, exist_ok=True)
    os.makedirs(objd, exist_ok=True)
    nobj = (a.count + a.progs_per_object - 1) // a.progs_per_object
    # generate + compile
    metas_by_name = {}
    jobs = []
    for seed, i in [(sd, i) for sd in seeds for i in range(nobj)]:
        src, meta = gen.gen_object(seed, i, a.progs_per_object,
                                     a.types.split(",") if a.types else None)
        name = "o%d_%d" % (seed, i)
        cpath = os.path.join(srcd, name + ".c")
        if not os.path.exists(cpath) or open(cpath).read() != src:
            open(cpath, "w").write(src)
        metas_by_name[name] = meta
        mpath = os.path.join(srcd, name + ".meta.json")
        if not os.path.exists(mpath):
            json.dump(meta, open(mpath, "w"), indent=1)
        jobs.append((name, cpath, os.path.join(objd, name + ".o")))
    t0 = time.time()

    def compile_one(j):
        name, c, o = j
        if os.path.exists(o) and os.path.getmtime(o) >= os.path.getmtime(c):
            return name, None
        # the source folder is mapped away so that the object (and its cache key) does not
        # depend on where the run's work folder is
        p = subprocess.run(["clang-14"] + CFLAGS + ["-fdebug-prefix-map=%s=." % os.path.dirname(c), "-c", c, "-o", o],
                           capture_output=True, text=True)
        return name, (p.stderr if p.returncode else None)
    compile_fail = {}
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        for name, err in ex.map(compile_one, jobs):
            if err:
                compile_fail[name] = err
    log("compiled %d objects in %.0f s (%d failed)" % (len(jobs), time.time() - t0, len(compile_fail)))
    objs, metas, orders = {}, {}, {}
    for name, c, o in jobs:
        if name in compile_fail:
            continue
        h = sha(o)
        objs[h] = (c, o)
        metas[h] = metas_by_name[name]
        orders[h] = elforder.programs_order(o)
    kernels = a.kernels.split(",")
    fb = dict(x.split("=") for x in a.fallback.split(",") if x)
    # oracles: qemu kernels in parallel with each other
    oracle = {}
    with cf.ThreadPoolExecutor(3) as ex:
        futs = {k: ex.submit(run_oracles, {h: o for h, (c, o) in objs.items()}, k, a.cache, a.batch) for k in kernels}
        for k, f in futs.items():
            oracle[k] = f.result()
    if a.oracle_only:
        for k in kernels:
            n = {}
            for h in objs:
                for prog in metas[h]:
                    c = classify(oracle[k].get(h, {}).get(prog))
                    if c == "other" and environment_refusal(k, oracle[k][h][prog], metas[h][prog]["type"]):
                        c = "unloadable-here"
                    n[c] = n.get(c, 0) + 1
            print(k, n)
        return 0
    toolhash = sha(a.tool)
    summary, allrows, others, notes = [], [], {}, []
    for k in kernels:
        kv = {"host": "running"}.get(k, k)
        ok, why = tool_supports(a.tool, kv, work)
        if not ok:
            notes.append("tool has no --kernel %s (%s): used --kernel %s" % (kv, why[:120], fb.get(kv, "?")))
            kv = fb.get(kv)
            if kv is None:
                continue
        t0 = time.time()
        with cf.ThreadPoolExecutor(a.jobs) as ex:
            outs = dict(zip(objs, ex.map(lambda h: run_tool(a.tool, kv, objs[h][1], a.cache, toolhash, a.tool_args.split()), objs)))
        # a program left unknown by a timeout of the short budget: once more with --retry-args
        retry = [h for h, d in outs.items() if any(
            p.get("verdict") == "unknown" and "timeout" in str(p.get("reason", ""))
            for o in d.get("objects", []) for p in o.get("programs", []))]
        if retry and a.retry_args:
            with cf.ThreadPoolExecutor(a.jobs) as ex:
                outs.update(zip(retry, ex.map(lambda h: run_tool(a.tool, kv, objs[h][1], a.cache, toolhash,
                                                                 a.retry_args.split()), retry)))
        log("tool --kernel %s: %d objects in %.0f s (%d retried)" % (kv, len(objs), time.time() - t0, len(retry)))
        st, rows, oth = compare(k, kv, objs, oracle[k], outs, orders, metas)
        st["kernel"], st["tool_kernel"] = k, kv
        summary.append(st)
        allrows += rows
        others[k] = oth
    # report
    lines = ["kdiff seed=%s programs=%d objects=%d (compile failures: %d) tool=%s %s" % (
        a.seed, a.count * len(seeds), len(jobs), len(compile_fail), a.tool, a.tool_args)]
    lines += ["note: " + n for n in notes]
    hdr = "%-13s %8s %8s %8s %8s %9s %9s %8s %8s %8s %8s" % ("kernel", "programs", "valid", "verd_eq", "verd_ne",
                                                          "frames_cmp", "frames_eq", "larger", "SMALLER", "gen_inv", "missing")
    lines.append(hdr)
    for s in summary:
        valid = s["programs"] - s["gen_invalid"] - s["missing"] - s.get("unloadable_here", 0)
        lines.append("%-13s %8d %8d %8d %8d %9d %9d %8d %8d %8d %8d" % (
            s["kernel"] + "/" + s["tool_kernel"], s["programs"], valid, s["verdict_eq"], s["verdict_ne"],
            s["frames_compared"], s["frames_eq"], s["frames_larger"], s["frames_smaller"], s["gen_invalid"], s["missing"]))
    for s in summary:
        lines.append("  %-6s verdicts equal: constant-offset objects %d/%d, variable-offset objects %d/%d" % (
            s["kernel"], s.get("const_eq", 0), s.get("const_n", 0), s.get("varoff_eq", 0), s.get("varoff_n", 0)))
    for s in summary:
        for why, n in sorted(s.get("larger_why", {}).items(), key=lambda x: -x[1]):
            lines.append("  %-6s larger frames (functions): %5d  %s" % (s["kernel"], n, why))
    for s in summary:
        if s.get("overflow_beyond_load"):
            lines.append("  %-6s %d accepted programs the tool calls unsafe for a task-stack overrun through tail calls "
                         "into the object's other programs (no load-time rule; counted as equal)"
                         % (s["kernel"], s["overflow_beyond_load"]))
    for s in summary:
        if s.get("unloadable_here"):
            lines.append("  %-6s %d fentry/fexit/lsm programs not loadable on this kernel (EPERM, empty log): not counted"
                         % (s["kernel"], s["unloadable_here"]))
    lines.append("")
    lines.append("disagreement classes (kernel, kind, type): count")
    cls = {}
    for r in allrows:
        cls.setdefault((r["kernel"], r["kind"]), []).append(r)
    for key in sorted(cls):
        types = {}
        for r in cls[key]:
            types[r["type"]] = types.get(r["type"], 0) + 1
        lines.append("  %-6s %-40s %5d  %s" % (key + (len(cls[key]), " ".join("%s:%d" % kv for kv in sorted(types.items())))))
    lines.append("")
    lines.append("refused for something else (generator-invalid), per kernel:")
    for k, oth in others.items():
        for key, lst in sorted(oth.items(), key=lambda kv: -len(kv[1])):
            lines.append("  %-6s %4d  %s   e.g. %s %s" % (k, len(lst), key[:150], lst[0][0], lst[0][1]))
    summ = "\n".join(lines) + "\n"
    open(os.path.join(work, "summary.txt"), "w").write(summ)
    print(summ)
    with open(os.path.join(work, "disagreements.jsonl"), "w") as f:
        for r in allrows:
            f.write(json.dumps(r, default=str) + "\n")
    with open(os.path.join(work, "disagreements.txt"), "w") as f:
        for r in allrows:
            f.write("=== %s  kernel=%s  %s  prog=%s (%s)\n" % (r["kind"], r["kernel"], r["src"], r["prog"], r["type"]))
            f.write("oracle: rc=%s\n" % (r["oracle"] or {}).get("rc"))
            for l in (r["oracle"] or {}).get("lines", []):
                f.write("  | %s\n" % l)
            t = r.get("tool")
            if isinstance(t, dict):
                f.write("tool: %s kernel_limit=%s other=%s private_stack=%s\n" % (t["verdict"], t["kernel_limit"], t["other"], t.get("private_stack")))
                if "order" in r:
                    f.write("  functions: %s\n" % ", ".join("%s=%s/k%s" % (n, t["frames"].get(n), d)
                                                          for n, d in zip(r["order"], r.get("depths", [None] * len(r["order"])))))
            else:
                f.write("tool: %s\n" % t)
            if r.get("intent"):
                f.write("intent: %s\n" % json.dumps(r["intent"]))
            f.write("\n")
    log("wrote %s/summary.txt, disagreements.txt (%d rows)" % (work, len(allrows)))
    if a.keep:
        keep_cases(a, allrows, oracle, objs, metas)
    bad = sum(s["verdict_ne"] + s["frames_smaller"] for s in summary)
    return 1 if bad else 0


def keep_cases(a, rows, oracle, objs, metas):
    os.makedirs(a.cases, exist_ok=True)
    seen = {}
    for r in rows:
        if r["kind"] in ("frame_above_kernel",):
            continue
        key = (r["kind"], r["kernel"])
        if seen.get(key, 0) >= a.keep_per_class or (key + (r["type"],)) in seen:
            continue  # a few per class, each of another program type
        seen[key] = seen.get(key, 0) + 1
        seen[key + (r["type"],)] = 1
        h = sha(r["obj"])
        # one file per generated object, however many (kind, kernel, program)
        # it disagreed on: the sidecar lists them
        obj_name = os.path.splitext(os.path.basename(r["src"]))[0]
        name = "%s_%s_%s" % (r["kind"], r["kernel"].replace(".", ""), r["prog"])
        dst = os.path.join(a.cases, obj_name + ".c")
        side = os.path.join(a.cases, obj_name + ".expect.json")
        kept = json.load(open(side))["disagreements"] if os.path.exists(side) else []
        if any(d.get("kept_as") == name for d in kept):
            continue
        if not os.path.exists(dst):
            shutil.copy(r["src"], dst)
        exp = {"program": r["prog"], "type": r["type"], "disagreement": r["kind"], "found_on": r["kernel"],
               "kept_as": name, "kernels": {}}
        for k, ans_all in oracle.items():
            ans = ans_all.get(h, {}).get(r["prog"])
            if ans is None:
                continue
            dl = [l for l in ans["lines"] if DEPTH_RE.search(l)]
            stack = [l for l in ans["lines"] if STACK_RE.search(l)]
            exp["kernels"][kernel_id(k)] = {"verdict": {"accepted": "safe", "stack": "unsafe"}.get(classify(ans), "invalid"),
                                            "load": ans["rc"], "stack_depth": dl[-1] if dl else None,
                                            "message": stack[0] if stack else None}
        t = r.get("tool")
        if isinstance(t, dict):
            exp["tool_at_discovery"] = {"verdict": t["verdict"], "kernel_limit": t["kernel_limit"],
                                        "frames": t["frames"]}
        kept.append(exp)
        with open(side, "w") as f:
            f.write(json.dumps({"disagreements": kept}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
