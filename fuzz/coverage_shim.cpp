// libFuzzer's coverage from g++. clang-14 cannot compile LLVM's headers in
// C++20 (../shared/TOOLCHAIN.md), so the project is built by g++, whose
// -fsanitize-coverage offers trace-pc (a call per basic block) and
// trace-cmp, but not the inline 8-bit counters libFuzzer 14 reads. This shim
// turns each trace-pc call into a hit on an 8-bit counter indexed by the
// hashed return address, and registers the counters with libFuzzer as one
// module. libFuzzer's own __sanitizer_cov_trace_pc (which only says the
// instrumentation is no longer supported) is made weak in a copy of its
// archive, so this definition wins. trace-cmp's hooks are libFuzzer's own;
// g++ also emits float comparisons, which libFuzzer has no hook for.
#include <cstddef>
#include <cstdint>

extern "C" void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop);

namespace {
constexpr size_t kCounters = size_t(1) << 18;
alignas(64) uint8_t counters[kCounters];

__attribute__((constructor, no_sanitize_coverage)) void registerCounters() {
  __sanitizer_cov_8bit_counters_init(counters, counters + kCounters);
}
} // namespace

extern "C" __attribute__((no_sanitize_coverage, no_sanitize("address", "undefined"))) void
__sanitizer_cov_trace_pc() {
  auto pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  pc ^= pc >> 17;
  pc *= 0x9e3779b97f4a7c15ull;
  ++counters[(pc >> 40) & (kCounters - 1)];
}

extern "C" __attribute__((no_sanitize_coverage)) void __sanitizer_cov_trace_cmpf(float, float) {}
extern "C" __attribute__((no_sanitize_coverage)) void __sanitizer_cov_trace_cmpd(double, double) {}
