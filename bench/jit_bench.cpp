// jitgen benchmarks (Google Benchmark):
//   jit/emit/<case>/<scheme>   time to emit + decode-validate every function;
//                              counters: x86 instructions per BPF
//                              instruction, per BPF-to-BPF call site and per
//                              helper call site, per-CPU bytes
//   jit/call/<scheme>          bench/calls.c's 1000 BPF-to-BPF calls in the
//                              harness: ns per call (loop included)
//   interp/call                the same in the reference interpreter
#include "jitgen/jitgen.h"
#include "model/pipeline.h"
#include "model/model.h"

#include <benchmark/benchmark.h>

#include <memory>

using namespace pstack;

namespace {

struct Prepared {
  Pipeline pipe;
  const Object &obj;
  Report rep;
};

std::unique_ptr<Prepared> prepare(const std::string &path, Scheme s) {
  Pipeline pipe = openPipeline(path);
  auto p = std::unique_ptr<Prepared>(new Prepared{pipe, *pipe.object, {}});
  VerifyOptions o;
  o.scheme = s;
  o.timeoutSeconds = 60;
  p->rep = p->pipe.verify(o);
  return p;
}

// x86 instructions emitted for each BPF instruction, split by kind
struct Shape {
  double bpf = 0, x86 = 0, calls = 0, callX86 = 0, helpers = 0, helperX86 = 0;
};

Shape shape(const Object &obj, const JitImage &img) {
  Shape s;
  for (auto &f : img.functions) {
    auto code = decodeX86(f.code);
    const Function *bf = obj.function(f.function);
    std::vector<uint32_t> starts;
    for (auto &[i, off] : f.insnOffsets)
      starts.push_back(off);
    s.bpf += double(f.insnOffsets.size());
    s.x86 += double(code.size());
    for (auto &[i, off] : f.insnOffsets) {
      const Insn *in = bf->insnAt(i);
      if (!in || !in->isCall())
        continue;
      auto next = f.insnOffsets.upper_bound(i);
      uint32_t end = next == f.insnOffsets.end() ? uint32_t(f.code.size()) : next->second;
      double n = 0;
      for (auto &x : code)
        n += x.offset >= off && x.offset < end;
      if (in->src == 1)
        s.calls += 1, s.callX86 += n;
      else
        s.helpers += 1, s.helperX86 += n;
    }
  }
  return s;
}

void registerEmit(const std::string &name, Scheme scheme) {
  std::string path = std::string(PSTACK_CASES_DIR) + "/" + name + ".o";
  benchmark::RegisterBenchmark(
      ("jit/emit/" + name + "/" + schemeName(scheme)).c_str(), [=](benchmark::State &st) {
        auto p = prepare(path, scheme);
        if (p->rep.verdict != Verdict::Safe) {
          st.SkipWithError("not proved safe under this scheme");
          return;
        }
        JitImage img;
        for (auto _ : st) {
          img = jitCompile(p->obj, p->rep.layout);
          auto f = validateJit(p->obj, img);
          benchmark::DoNotOptimize(f);
        }
        Shape s = shape(p->obj, img);
        st.counters["x86_per_bpf"] = s.x86 / s.bpf;
        st.counters["x86_per_call"] = s.calls ? s.callX86 / s.calls : 0;
        st.counters["x86_per_helper"] = s.helpers ? s.helperX86 / s.helpers : 0;
        st.counters["per_cpu_bytes"] = double(p->rep.bytesPerCpu);
      })->Unit(benchmark::kMicrosecond);
}

void registerCalls(Scheme scheme) {
  std::string path = std::string(PSTACK_BENCH_DIR) + "/calls.o";
  benchmark::RegisterBenchmark(("jit/call/" + std::string(schemeName(scheme))).c_str(),
                               [=](benchmark::State &st) {
                                 auto p = prepare(path, scheme);
                                 JitImage img = jitCompile(p->obj, p->rep.layout);
                                 RunRequest req;
                                 req.program = "calls";
                                 req.repeat = 1000;
                                 double secs = 0, calls = 0;
                                 for (auto _ : st) {
                                   RunResult r = runJit(p->obj, img, req);
                                   if (!r.ok) {
                                     st.SkipWithError(r.error.c_str());
                                     return;
                                   }
                                   secs += r.seconds;
                                   calls += 1000.0 * req.repeat;
                                 }
                                 st.counters["ns_per_call"] = secs * 1e9 / calls;
                                 st.counters["per_cpu_bytes"] = double(p->rep.bytesPerCpu);
                               })
      ->Unit(benchmark::kMillisecond);
}

} // namespace

int main(int argc, char **argv) {
  for (const char *c : {"kprobe_chain", "nested", "kfuncs", "callbacks", "frames", "clobber",
                        "tailcalls", "pinned"})
    for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned})
      registerEmit(c, s);
  for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned})
    registerCalls(s);
  benchmark::RegisterBenchmark("interp/call", [](benchmark::State &st) {
    Object obj = loadObject(std::string(PSTACK_BENCH_DIR) + "/calls.o");
    RunRequest req;
    req.program = "calls";
    double calls = 0;
    for (auto _ : st) {
      RunResult r = interpret(obj, req);
      benchmark::DoNotOptimize(r.r0);
      calls += 1000;
    }
    st.counters["ns_per_call"] = benchmark::Counter(calls, benchmark::Counter::kIsRate |
                                                               benchmark::Counter::kInvert);
  })->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
