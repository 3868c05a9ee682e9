#!/usr/bin/env python3
"""Write (or refresh) a case's entry in cases/cases.json.

    scripts/case_facts.py CASE TOOL ORACLE_OUT:VERSION... [--notes TEXT]

Programs, frames, edges and maps come from `TOOL --format json` on
build/cases/CASE.o (review them against llvm-objdump before committing:
tests/cases_test.cpp then holds the frontend to them); each ORACLE_OUT is
the output of ../shared/oracle/kernel-verifier for the object, and VERSION
the kernel it ran (6.1, 6.12, 6.18 for --host). A program is `accepted`
(load=0), `rejected` (refused for its stack: the verifier's stack message
is kept), or `not_loaded` (refused for anything else: no fact).
"""
import json, re, subprocess, sys

STACK_MSGS = ("combined stack size", "too deep", "tail_calls are not allowed",
              "stack size of subprog", "back-edge", "recursive")

MAP_TYPES = ["unspec", "hash", "array", "prog_array", "perf_event_array", "percpu_hash",
             "percpu_array", "stack_trace", "cgroup_array", "lru_hash", "lru_percpu_hash",
             "lpm_trie", "array_of_maps", "hash_of_maps", "devmap", "sockmap", "cpumap",
             "xskmap", "sockhash", "cgroup_storage", "reuseport_sockarray",
             "percpu_cgroup_storage", "queue", "stack", "sk_storage", "devmap_hash",
             "struct_ops", "ringbuf", "inode_storage", "task_storage", "bloom_filter",
             "user_ringbuf", "cgrp_storage", "arena"]

def oracle(path, case):
    out, cur = {}, None
    for line in open(path):
        m = re.match(r"ORACLE \S*?(?:__)?%s\.o (\S+) load=(-?\d+)" % re.escape(case), line)
        if m:
            cur = out.setdefault(m.group(1), {"load": int(m.group(2))})
            continue
        if line.startswith("ORACLE"):
            cur = None
        if cur is None or not line.startswith("  |"):
            continue
        text = line[3:].strip()
        if text.startswith("stack depth "):
            cur["stack_depth"] = text[len("stack depth "):]
        elif any(s in text for s in STACK_MSGS):
            cur["message"] = re.sub(r"\. Too large$", ". Too large", text)
    return out

def main():
    args = sys.argv[1:]
    notes = None
    if "--notes" in args:
        i = args.index("--notes")
        notes = args[i + 1]
        del args[i:i + 2]
    case, tool, runs = args[0], args[1], args[2:]
    doc = json.loads(subprocess.run([tool, "--format", "json", "build/cases/%s.o" % case],
                                    capture_output=True, text=True).stdout)
    o = doc["objects"][0]
    entry = {"source": case + ".c", "programs": {}, "frames": {}, "edges": [], "maps": {}}
    for p in o["programs"]:
        entry["programs"][p["name"]] = {"section": p["section"], "type": p["type"],
                                        "functions": [f["name"] for f in p["functions"]]}
        for f in p["functions"]:
            entry["frames"][f["name"]] = f["frame_size"]
    for e in o["edges"]:
        entry["edges"].append({k: e[k] for k in ("from", "to", "kind", "insn") if k in e} |
                              ({"async": e.get("async", False)} if e["kind"] == "callback" else {}))
    for m in o.get("maps", []):
        entry["maps"][m["name"]] = {"type": MAP_TYPES.index(m["type"]), "max_entries": m["max_entries"]}
    kernel = {}
    for run in runs:
        path, version = run.rsplit(":", 1)
        res = oracle(path, case)
        kernel[version] = {}
        kernel[version + "_detail"] = {}
        for prog, d in sorted(res.items()):
            v = "accepted" if d["load"] == 0 else "rejected" if "message" in d else "not_loaded"
            kernel[version][prog] = v
            kernel[version + "_detail"][prog] = d
    if notes:
        kernel["notes"] = notes
    entry["kernel"] = kernel
    facts = json.load(open("cases/cases.json"))
    facts["cases"][case] = entry
    with open("cases/cases.json", "w") as f:
        f.write(json.dumps(facts, indent=2, ensure_ascii=False) + "\n")

if __name__ == "__main__":
    main()
