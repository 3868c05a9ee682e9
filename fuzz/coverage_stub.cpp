// The coverage hooks for programs that are not fuzzers, in the sanitizer
// build, where frontend/ is compiled with -fsanitize-coverage for the fuzz
// targets (top-level CMakeLists.txt): g++'s trace-pc and float-compare
// hooks do nothing here. The integer-compare hooks are the sanitizer
// runtime's own (weak). In a fuzz target, coverage_shim.cpp's strong
// definitions win.
extern "C" __attribute__((weak, no_sanitize_coverage)) void __sanitizer_cov_trace_pc() {}
extern "C" __attribute__((weak, no_sanitize_coverage)) void __sanitizer_cov_trace_cmpf(float, float) {}
extern "C" __attribute__((weak, no_sanitize_coverage)) void __sanitizer_cov_trace_cmpd(double, double) {}
