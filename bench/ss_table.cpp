// The answer to issue 18 as a table: for each object and scheme (kernel,
// per-prog, planned, stack-switch with helpers on the buffer and on the
// task stack): the verdict, per-CPU bytes, kernel-stack bytes, x86
// instructions of a BPF-to-BPF call (the site's, the callee's frame set-up
// and exit), of a program's entry and exit, ns per run in the harness, and
// how many of the frame-pointer unwinder's backtraces and bpf_throw-style
// walks equal the interpreter's call chain. An object with programs that
// are not proved has its proved ones emitted and run. Markdown on stdout.
//   pstack_ss_table OBJECT[+ENV] ...   (default: the bundled set)
#include "jitgen/jitgen.h"
#include "model/model.h"
#include "model/pipeline.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

using namespace pstack;

namespace {

struct Variant {
  const char *name;
  Scheme scheme;
  bool onBuffer;
};

// x86 instructions from a function's start to its first BPF instruction
size_t prologueInsns(const JitFunction &f, const std::vector<X86Insn> &code) {
  uint32_t body = f.insnOffsets.empty() ? uint32_t(f.code.size()) : f.insnOffsets.begin()->second;
  size_t n = 0;
  for (auto &x : code)
    n += x.offset < body;
  return n;
}

std::string row(const std::string &label, const std::string &path, const std::string &envPath,
                const Variant &v, const std::vector<std::string> &roots, uint32_t repeat) {
  Environment env;
  if (!envPath.empty())
    env = loadEnvironment(envPath);
  env.stackSwitch.helpersOnBuffer = v.onBuffer;
  Pipeline pipe = openPipeline(path, env, envPath);
  VerifyOptions o;
  o.scheme = v.scheme;
  o.timeoutSeconds = 120;
  Report rep = pipe.verify(o);
  const Object &obj = *pipe.object;
  std::ostringstream out;
  out << "| " << label << " | " << v.name << " | " << verdictName(rep.verdict);
  JitOptions jo;
  if (rep.verdict != Verdict::Safe && !rep.layout.proved.empty()) {
    jo.programs = rep.layout.proved; // the proved ones, emitted alone
    std::string names;
    for (auto &p : rep.layout.proved)
      names += (names.empty() ? "" : ", ") + p;
    out << " (" << names << " proved: emitted)";
  }
  out << " | " << rep.bytesPerCpu << " | " << rep.kernelStackWith << " | ";
  if (rep.layout.proved.empty()) {
    out << "– | – | – | – |";
    return out.str();
  }
  JitImage img;
  try {
    img = jitCompile(obj, rep.layout, jo);
  } catch (const JitError &e) {
    out << "not emitted: " << e.what() << " | | | |";
    return out.str();
  }
  // a BPF-to-BPF call: the site's instructions, the callee's set-up, its
  // exit (callee-saved pops, leave, ret); a program: entry set-up and exit
  double callX86 = 0, calls = 0, entryX86 = 0, entries = 0;
  std::map<std::pair<std::string, std::string>, size_t> pro, epi;
  for (auto &f : img.functions) {
    auto code = decodeX86(f.code);
    pro[{f.program, f.function}] = prologueInsns(f, code);
    epi[{f.program, f.function}] = f.savedRegs.size() + 2;
  }
  for (auto &f : img.functions) {
    auto code = decodeX86(f.code);
    const Function *bf = obj.function(f.function);
    if (!pro.count({f.program, f.function}))
      continue;
    bool entry = obj.functions[obj.program(f.program)->entry].name == f.function;
    if (entry) {
      entryX86 += double(pro[{f.program, f.function}] + epi[{f.program, f.function}] +
                         (f.stackSwitch ? 4 : 0)); // the switch back: pop rbp; mov rsp,r12; pop r12; ret
      ++entries;
    }
    for (auto &cs : bf->calls) {
      if (cs.kind != CallKind::Local)
        continue;
      auto it = f.insnOffsets.find(cs.insn);
      if (it == f.insnOffsets.end())
        continue;
      auto next = std::next(it);
      uint32_t end = next == f.insnOffsets.end() ? uint32_t(f.code.size()) : next->second;
      double n = 0;
      for (auto &x : code)
        n += x.offset >= it->second && x.offset < end;
      callX86 += n + double(pro[{f.program, cs.target}] + epi[{f.program, cs.target}]);
      ++calls;
    }
  }
  char buf[64];
  if (calls)
    snprintf(buf, sizeof buf, "%.1f", callX86 / calls), out << buf << " | ";
  else
    out << "– | ";
  snprintf(buf, sizeof buf, "%.1f", entryX86 / std::max(1.0, entries));
  out << buf << " | ";
  // ns per run of each root (nesting included), and the backtraces of
  // every program run once
  double ns = 0;
  for (auto &r : roots) {
    RunRequest warm; // pages, caches and branch predictors, before timing
    warm.program = r;
    warm.nest = pipe.env.nest;
    warm.nestDepth = 8;
    warm.repeat = repeat;
    runJit(obj, img, warm);
    RunRequest req;
    req.program = r;
    req.nest = pipe.env.nest;
    req.nestDepth = 8;
    req.repeat = repeat;
    RunResult jit = runJit(obj, img, req);
    if (!jit.ok) {
      out << "run failed: " << jit.error << " | |";
      return out.str();
    }
    ns += jit.seconds * 1e9 / repeat;
  }
  uint32_t matched = 0, total = 0;
  for (auto &p : obj.programs) {
    if (!jo.programs.empty() && !jo.programs.count(p.name))
      continue;
    RunRequest req;
    req.program = p.name;
    req.nest = pipe.env.nest;
    req.nestDepth = 8;
    RunResult ref = interpret(obj, req), jit = runJit(obj, img, req);
    BacktraceMatch m = compareBacktraces(ref, jit);
    matched += m.matched, total += m.total;
  }
  snprintf(buf, sizeof buf, "%.0f", ns / double(roots.size()));
  out << buf << " | ";
  if (total == 0)
    out << "– (no helper or kfunc call) |";
  else
    out << matched << " of " << total << (matched == total ? " (complete)" : "") << " |";
  return out.str();
}

} // namespace

int main(int argc, char **argv) {
  const std::string cases = PSTACK_CASES_DIR, src = PSTACK_SOURCE_DIR, bench = PSTACK_BENCH_DIR;
  struct Obj {
    std::string label, path, env;
    std::vector<std::string> roots;
    uint32_t repeat;
  };
  std::vector<Obj> objs = {
      {"nested (5 programs)", cases + "/nested.o", src + "/cases/nested.env.json", {"prog0"}, 2000},
      {"nested_tree (12 programs, 4 levels)", bench + "/nested_tree.o", src + "/bench/nested_tree.env.json",
       {"prog0"}, 2000},
      {"kfuncs", cases + "/kfuncs.o", "", {}, 2000},
      {"frames", cases + "/frames.o", "", {"frames"}, 2000},
      {"tailcalls", cases + "/tailcalls.o", "", {}, 2000},
      {"recursion", cases + "/recursion.o", "", {}, 200},
      {"callbacks (bpf_for_each_map_elem, a timer)", cases + "/callbacks.o", "", {"each_prog"}, 2000},
      {"calls (1000 BPF calls)", bench + "/calls.o", "", {"calls"}, 200},
      {"functions_100 (generated)", bench + "/functions_100.o", "", {}, 200},
      {"functions_1000 (generated)", bench + "/functions_1000.o", "", {}, 20},
      {"progarray_100 (generated)", bench + "/progarray_100.o", "", {}, 200},
  };
  (void)argc, (void)argv;
  const Variant variants[] = {{"kernel (6.13)", Scheme::Kernel, true},
                              {"per-prog", Scheme::PerProg, true},
                              {"planned", Scheme::Planned, true},
                              {"stack-switch, helpers on the buffer", Scheme::StackSwitch, true},
                              {"stack-switch, helpers on the task stack", Scheme::StackSwitch, false}};
  std::cout << "| object | scheme | verdict | per-CPU bytes | kernel-stack bytes | x86 insns per BPF call "
               "| x86 insns per program entry + exit | ns per run | backtraces and bpf_throw walks equal to "
               "the call chain |\n"
               "|---|---|---|---|---|---|---|---|---|\n";
  for (auto &ob : objs) {
    for (auto &v : variants) {
      std::vector<std::string> roots = ob.roots;
      if (roots.empty()) {
        Pipeline p = openPipeline(ob.path);
        roots.push_back(p.object->programs.front().name);
      }
      try {
        std::cout << row(ob.label, ob.path, ob.env, v, roots, ob.repeat) << "\n" << std::flush;
      } catch (const std::exception &e) {
        std::cout << "| " << ob.label << " | " << v.name << " | error: " << e.what() << " |\n";
      }
    }
  }
}
