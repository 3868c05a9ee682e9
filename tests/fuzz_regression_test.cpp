// Every input the fuzzers found a bug with (fuzz/regressions/TARGET/*)
// replayed through the same target code, in every build (the sanitizer
// build included), with what each must give now; and the bundled cases
// through the pipeline target, whose invariants (traces on every
// counterexample, a proved layout's JIT validates clean) must hold.
#include "tests/support.h"

#include "fuzz/targets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

using namespace pstack;
namespace fs = std::filesystem;

namespace {
std::vector<uint8_t> bytesOf(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

fuzz::Outcome replay(const std::string &target, const std::vector<uint8_t> &b) {
  if (target == "frontend")
    return fuzz::frontend(b.data(), b.size());
  if (target == "environment")
    return fuzz::environment(b.data(), b.size());
  return fuzz::pipeline(b.data(), b.size());
}

// What each kept crasher gives now: the error text it must be rejected
// with ("" = it must be read).
const std::map<std::string, std::string> kExpected = {
    // DWARFContext walked a .rel section whose sh_link is no symbol table:
    // LLVM's report_fatal_error ended the process
    {"frontend/rel-sh-link-not-symtab", "which is not the symbol table"},
    // LLVM 14's .debug_line reader jumped to a wild address (llvm-dwarfdump
    // too); our own parser names the bad string offset
    {"frontend/debug-line-str-offset-wild", "section .debug_line_str: string offset"},
    // nested.o with a function renamed "raw_tp/sys_enter:prog0": calls
    // named their target "program/function" and the validator split the
    // name at its first '/', found no callee, and refused a proved layout
    // (the pipeline target's invariant); --emit-jit could not name its file
    {"pipeline/program-name-with-slash", ""},
    // a corpus xdp object with one instruction turned into `r10 = 0`: read,
    // proved safe (frames are r10-relative), JITted to a write of r9 that
    // the validator refused; the kernel rejects any write to r10
    {"pipeline/writes-r10", "writes r10: the frame pointer is read-only"},
};
} // namespace

TEST(FuzzRegressions, EveryKeptInputGivesItsExpectedResult) {
  fuzz::setCasesDir(PSTACK_CASES_DIR);
  std::string root = std::string(PSTACK_SOURCE_DIR) + "/fuzz/regressions";
  size_t seen = 0;
  for (auto target : {"frontend", "environment", "pipeline"}) {
    if (!fs::exists(root + "/" + target))
      continue;
    for (auto &e : fs::directory_iterator(root + "/" + target)) {
      std::string key = std::string(target) + "/" + e.path().filename().string();
      auto want = kExpected.find(key);
      ASSERT_NE(want, kExpected.end()) << key << ": say in kExpected what it must give";
      ++seen;
      fuzz::Outcome out = replay(target, bytesOf(e.path()));
      if (want->second.empty()) {
        EXPECT_FALSE(out.rejected) << key << ": " << out.error;
      } else {
        EXPECT_TRUE(out.rejected) << key;
        EXPECT_NE(out.error.find(want->second), std::string::npos) << key << ": " << out.error;
        EXPECT_NE(out.error.find("fuzz"), std::string::npos) << key << ": the error names the input";
      }
    }
  }
  EXPECT_EQ(seen, kExpected.size()) << "an expectation without its input file";
}

// The pipeline target over the bundled cases: every case is read, every
// scheme gives verdicts, and the proved layouts are JITted and validated.
TEST(FuzzRegressions, PipelineTargetOverTheCases) {
  fuzz::setCasesDir(PSTACK_CASES_DIR);
  size_t jitted = 0, unsafe = 0, cases = 0;
  for (auto &e : fs::directory_iterator(PSTACK_CASES_DIR)) {
    if (e.path().extension() != ".o")
      continue;
    ++cases;
    auto b = bytesOf(e.path());
    fuzz::Outcome out = fuzz::pipeline(b.data(), b.size());
    EXPECT_FALSE(out.rejected) << e.path() << ": " << out.error;
    // five schemes: kernel, per-subprog, per-prog, planned, stack-switch
    EXPECT_EQ(out.verdicts[0] + out.verdicts[1] + out.verdicts[2], 5 * out.programs) << e.path();
    jitted += out.jitted;
    unsafe += out.verdicts[1];
  }
  EXPECT_GT(cases, 15u);
  EXPECT_GT(jitted, 100u) << "most cases are safe under most schemes and get JITted";
  EXPECT_GT(unsafe, 5u);
}

// The environment target over the bundled environment files.
TEST(FuzzRegressions, EnvironmentTargetOverTheBundledFiles) {
  fuzz::setCasesDir(PSTACK_CASES_DIR);
  auto b = bytesOf(std::string(PSTACK_SOURCE_DIR) + "/cases/nested_cycle.env.json");
  fuzz::Outcome out = fuzz::environment(b.data(), b.size());
  // nested_cycle names nested.o's programs: tailcalls.o lacks them
  EXPECT_TRUE(out.rejected);
  EXPECT_EQ(out.programs, 1u);
  EXPECT_GT(out.verdicts[1], 0u) << "the re-entry cycle is unsafe under per-prog";
  std::string broken = "{\"nest\": {\"prog0\": 1}}";
  out = fuzz::environment(reinterpret_cast<const uint8_t *>(broken.data()), broken.size());
  EXPECT_TRUE(out.rejected);
  EXPECT_NE(out.error.find("key \"nest.prog0\""), std::string::npos) << out.error;
}
