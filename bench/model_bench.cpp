// Verification time per case and per scheme, and growth with the number of
// functions and of prog-array targets. Peak RSS is reported as a counter
// (the process's high-water mark after the benchmark: run one benchmark per
// process, --benchmark_filter, for a per-object figure; bench/run.sh does).
//   cmake --build build --target bench && build/bench/pstack_bench
#include "model/pipeline.h"

#include <benchmark/benchmark.h>
#include <sys/resource.h>

using namespace pstack;

namespace {

void verifyObject(benchmark::State &state, const std::string &path, Scheme scheme,
                  bool crossCheck = false) {
  Pipeline pipe = openPipeline(path);
  const Object &obj = *pipe.object;
  VerifyOptions o;
  o.scheme = scheme;
  o.timeoutSeconds = 60;
  o.crossCheck = crossCheck;
  Report r;
  for (auto _ : state) {
    r = pipe.verify(o);
    benchmark::DoNotOptimize(r);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["functions"] = double(obj.functions.size());
  state.counters["states"] = double(r.statesExplored);
  state.counters["verdict"] = double(int(r.verdict)); // 0 safe, 1 unsafe, 2 unknown
  state.counters["peak_rss_MiB"] = double(ru.ru_maxrss) / 1024.0;
}

void registerAll() {
  const char *cases[] = {"recursion", "recursion_top", "nested", "callbacks", "tailcalls",
                         "frames", "kfuncs", "multi_section", "kprobe_chain",
                         "over_limit_chain", "over_limit_depth", "over_limit_tailcall"};
  for (const char *c : cases)
    for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned})
      benchmark::RegisterBenchmark(
          (std::string("case/") + c + "/" + schemeName(s)).c_str(),
          [c, s](benchmark::State &st) {
            verifyObject(st, std::string(PSTACK_CASES_DIR) + "/" + c + ".o", s);
          })
          ->Unit(benchmark::kMillisecond);
  for (std::string gen : {"functions_10", "functions_100", "functions_1000", "functions_10000",
                          "progarray_1", "progarray_10", "progarray_100", "progarray_1000",
                          "insns_100000"})
    for (Scheme s : {Scheme::Kernel, Scheme::PerProg})
      benchmark::RegisterBenchmark(
          ("generated/" + gen + "/" + schemeName(s)).c_str(),
          [gen, s](benchmark::State &st) {
            verifyObject(st, std::string(PSTACK_BENCH_DIR) + "/" + gen + ".o", s);
          })
          ->Unit(benchmark::kMillisecond)
          ->Iterations(1);
  // reading it alone (decoding, relocations, frame analysis, call graph)
  benchmark::RegisterBenchmark("generated/probe_120/read", [](benchmark::State &st) {
    for (auto _ : st)
      benchmark::DoNotOptimize(openPipeline(std::string(PSTACK_BENCH_DIR) + "/probe_120.o"));
  })->Unit(benchmark::kMillisecond)->Iterations(1);
  // the large tracing probe (120 kprobe programs tail-calling each other
  // through one prog array, ~3,000 call sites): the default path, and the
  // Z3 cross-check beside the explicit search
  for (bool cross : {false, true})
    benchmark::RegisterBenchmark(
        (std::string("generated/probe_120/kernel") + (cross ? "/cross-check" : "")).c_str(),
        [cross](benchmark::State &st) {
          verifyObject(st, std::string(PSTACK_BENCH_DIR) + "/probe_120.o", Scheme::Kernel, cross);
        })
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
}

} // namespace

int main(int argc, char **argv) {
  registerAll();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
