#!/usr/bin/env python3
"""triage.py WORK — groups run.py's disagreements.jsonl by what the programs have in common:
per (kernel, kind), counts of program features (tail call, timer, bpf_loop/for_each callbacks,
global functions, variable offsets, program type, the kernel's message) and one example each."""
import collections, json, os, re, sys

work = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(work, "disagreements.jsonl"))]
groups = collections.defaultdict(list)
for r in rows:
    if r["kind"] == "frame_above_kernel":
        continue
    groups[(r["kernel"], r["kind"])].append(r)
for (k, kind), lst in sorted(groups.items()):
    print("== %s %s: %d" % (k, kind, len(lst)))
    feats = collections.Counter()
    msgs = collections.Counter()
    for r in lst:
        src = open(r["src"]).read()
        it = r.get("intent") or {}
        feats["type=" + r["type"]] += 1
        feats["shape=" + str(it.get("shape"))] += 1
        if it.get("varoff"):
            feats["varoff"] += 1
        for l in (r.get("oracle") or {}).get("lines", []):
            m = re.search(r"combined stack size|too deep|tail_calls are not allowed|back-edge", l)
            if m:
                msgs[m.group(0)] += 1
        t = r.get("tool")
        if isinstance(t, dict):
            for m in t.get("kernel_limit", []):
                msgs["tool: " + re.sub(r"\d+", "N", m)[:70]] += 1
            if t.get("private_stack"):
                feats["tool private_stack"] += 1
        if r["kind"] == "frame_below_kernel":
            for n, kk, v in r["smaller"]:
                feats["below by %s" % (kk - (v or 0))] += 1
    print("   ", dict(feats.most_common(12)))
    print("   ", dict(msgs.most_common(8)))
    r = lst[0]
    print("    e.g.", r["src"], r["prog"], r["type"], (r.get("oracle") or {}).get("lines", [])[:1],
          (r.get("tool") or {}).get("verdict") if isinstance(r.get("tool"), dict) else r.get("tool"))
