// The fuzz targets, as plain functions: the libFuzzer binaries (PSTACK_FUZZ
// build, scripts/fuzz.sh) and the regression test that replays every saved
// input (tests/fuzz_regression_test.cpp) call the same code.
//
// Each returns normally for any input: bad input must surface as our own
// InputError (or JitError for what the JIT refuses), caught here. Anything
// else escaping — another exception, a crash, a sanitizer report, a failed
// invariant (abort) — is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pstack::fuzz {

// What a run of a target saw, for the regression test's assertions.
struct Outcome {
  bool rejected = false;  // InputError (the message is in `error`)
  std::string error;
  size_t programs = 0;    // programs read
  size_t verdicts[3] = {}; // safe, unsafe, unknown (pipeline/environment)
  size_t jitted = 0;      // functions emitted and validated (pipeline)
};

// An ELF object from memory: read it, measure frames, build the call graph,
// take every program's deepest chain.
Outcome frontend(const uint8_t *data, size_t size);

// An environment file's text: parse it, apply it to the bundled cases
// nested.o and tailcalls.o, verify under it (kernel and per-prog, short
// time limit).
Outcome environment(const uint8_t *data, size_t size);

// The whole pipeline on an object: read, verify under every scheme (short
// time limit), and for every safe one JIT the layout and validate the
// decoded x86 against it. Invariants checked: every counterexample has a
// trace; the JIT of a proved layout validates clean.
Outcome pipeline(const uint8_t *data, size_t size);

// Where the bundled cases are (the environment target needs two).
void setCasesDir(const std::string &dir);

} // namespace pstack::fuzz
