// proofs/: the model's obligations re-checked by two solvers; translation
// validation of jitgen over every instruction form and frame sequence; and
// every deliberately broken emitter caught, with its counterexample
// replayed in the harness.
#include "proofs/proofs.h"
#include "tests/support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace pstack;

namespace {

const TvObligation *find(const std::vector<TvObligation> &obs, const std::string &group,
                         const std::string &name) {
  for (auto &o : obs)
    if (o.group == group && o.name == name)
      return &o;
  return nullptr;
}

std::string failures(const std::vector<TvObligation> &obs) {
  std::string s;
  for (auto &o : obs)
    if (o.status != TvStatus::Proved)
      s += std::string(tvStatusName(o.status)) + " " + o.group + " " + o.name + ": " + o.detail + "\n";
  return s;
}

TEST(TranslationValidation, EveryFormAndFrameSequenceIsProved) {
  auto obs = validateTranslation();
  EXPECT_GE(obs.size(), 1670u);
  EXPECT_EQ(failures(obs), "");
  for (auto [g, n] : std::initializer_list<std::pair<const char *, const char *>>{
           {"alu64", "r1 /= r4"},
           {"alu64", "r3 %= r4"},
           {"alu32", "r4 <<= r0"},
           {"alu32", "r1 s>>= 31"},
           {"alu32", "r0 = be16 r0"},
           {"jmp32", "if r0 s< r4 goto"},
           {"atomic", "cmpxchg32 *(r0 - 8) r1"},
           {"atomic", "fetch_xor64 *(r10 - 8) r1"},
           {"stx", "*(u8 *)(r10 - 64) = r2 (private)"},
           {"frame", "tail call: program buffer (r9 back to the frame base)"},
           {"frame", "call: planned callee (add r9, delta / sub r9, delta)"},
           // cpu v4 and the legacy packet loads
           {"alu64", "r0 s/= r4"},
           {"alu32", "r1 s%= -1"},
           {"alu64", "r4 = (s8) r2"},
           {"alu32", "r1 = (s16) r0"},
           {"alu64", "r1 = bswap16 r1"},
           {"ldx", "r1 = *(s8 *)(r10 - 16) (kernel stack)"},
           {"atomic", "r0 = load_acquire((u16 *)(r2 + 8))"},
           {"atomic", "store_release((u64 *)(r10 - 16), r1) (private)"},
           {"jmp32", "gotol"},
           {"jmp", "may_goto (private)"},
           {"jmp", "may_goto (kernel stack)"},
           {"ld_abs", "ldindh r7 - 2 (private)"},
           {"ld_abs", "ldabsw 14 (kernel stack)"},
           {"jmp (stack-switch)", "may_goto"}}) {
    const TvObligation *o = find(obs, g, n);
    ASSERT_TRUE(o) << g << " " << n;
    EXPECT_EQ(o->status, TvStatus::Proved) << g << " " << n << ": " << o->detail;
  }
  EXPECT_NE(tvTable(obs).find("total"), std::string::npos);
}

// stack-switch: the forms it emits without pushes (division, shifts by a
// register, fetch atomics; memory equal below rsp too) and its frame
// sequences (the switch, the link frame, the switch back, frames of
// round_up(F, 8) + 56, the landing, the exit, calls in both helper
// variants, the tail call) are proved.
TEST(TranslationValidation, StackSwitchFormsAndFrameSequencesAreProved) {
  TvOptions o;
  o.only = "stack-switch";
  auto obs = validateTranslation(o);
  EXPECT_GE(obs.size(), 250u);
  EXPECT_EQ(failures(obs), "");
  for (auto [g, n] : std::initializer_list<std::pair<const char *, const char *>>{
           {"alu64 (stack-switch)", "r1 /= r4"},
           {"alu64 (stack-switch)", "r3 %= r0"},
           {"alu32 (stack-switch)", "r0 %= r3"},
           {"alu32 (stack-switch)", "r4 <<= r0"},
           {"alu64 (stack-switch)", "r1 s/= r4"},
           {"alu32 (stack-switch)", "r0 s%= r3"},
           {"alu64 (stack-switch)", "r3 s/= -1"},
           {"ld_abs", "ldindb r7 - 2 (stack-switch)"},
           {"atomic (stack-switch)", "fetch_or64 *(r0 - 8) r0"},
           {"frame", "stack-switch: the entry's switch to the buffer's top and the link frame"},
           {"frame", "stack-switch: the switch back to the task stack"},
           {"frame", "stack-switch: a frame of round_up(F, 8) + 56 below its return address"},
           {"frame", "stack-switch: the tail-call landing's frame"},
           {"frame", "stack-switch: a frame's exit (leave; ret)"},
           {"frame", "stack-switch: call of a BPF function"},
           {"frame", "stack-switch: helper on the buffer"},
           {"frame", "stack-switch: helper on the task stack (rsp = r12, back to the frame's bottom)"},
           {"frame", "stack-switch: tail call (the frame unwound to rbp, the link frame kept)"},
           {"frame", "stack-switch: a helper's callback switches to the callback top and links"},
           {"frame", "stack-switch: a helper's callback switches back to the helper's stack"},
           {"frame", "stack-switch: a helper that calls back, on the buffer (the callback top set and put back)"},
           {"frame", "stack-switch: a helper that calls back, on the task stack (the callback top set and put back)"},
           {"frame", "stack-switch: inlined bpf_loop (r6-r8 kept in the frame's 24 bytes)"}}) {
    const TvObligation *o2 = find(obs, g, n);
    ASSERT_TRUE(o2) << g << " " << n;
    EXPECT_EQ(o2->status, TvStatus::Proved) << g << " " << n << ": " << o2->detail;
  }
}

// The translation-validation queries, written out, are re-proved by both
// solver binaries (a sample of every group: all of them take minutes).
TEST(TranslationValidation, QueriesAreReprovedByZ3AndCvc5) {
  std::string dir = test::tempPath("tv-smt");
  std::filesystem::remove_all(dir);
  size_t files = 0;
  for (const char *only : {"alu64 r1 /= r4", "alu32 r4 <<= r0", "alu32 r0 = be16", "jmp32 if r0 s< r4",
                           "atomic fetch_xor64 *(r10", "atomic cmpxchg32 *(r0", "stx *(u8 *)(r10 - 64)",
                           "frame", "alu64 r1 s/= r4", "alu32 r3 s%= -1", "alu64 r1 = (s8) r2",
                           "ldx r1 = *(s16 *)(r10 - 16) (private)", "jmp may_goto", "jmp32 gotol",
                           "ld_abs ldindb r7 - 2"}) {
    TvOptions o;
    o.only = only;
    o.smtDir = dir;
    o.replayFailures = false;
    auto obs = validateTranslation(o);
    ASSERT_FALSE(obs.empty()) << only;
    EXPECT_EQ(failures(obs), "");
  }
  auto fs = tvObligationFiles(dir);
  files = fs.size();
  EXPECT_GT(files, 20u);
  for (auto &c : recheckObligations(fs, 60, 2))
    EXPECT_TRUE(c.proved()) << c.file.path << ": z3 " << c.z3.answer << ", cvc5 " << c.cvc5.answer;
}

struct MutantCase {
  JitMutant mutant;
  const char *only;   // the obligations to run (speed)
  const char *group, *name; // one that must fail
  const char *detail;       // in its counterexample
};

class Mutant : public ::testing::TestWithParam<MutantCase> {};

TEST_P(Mutant, IsCaughtWithItsCounterexample) {
  const MutantCase &m = GetParam();
  TvOptions o;
  o.mutant = m.mutant;
  o.only = m.only;
  auto obs = validateTranslation(o);
  ASSERT_FALSE(obs.empty());
  const TvObligation *ob = find(obs, m.group, m.name);
  ASSERT_TRUE(ob) << m.group << " " << m.name;
  EXPECT_EQ(ob->status, TvStatus::Failed) << ob->detail;
  EXPECT_NE(ob->detail.find(m.detail), std::string::npos) << ob->detail;
}

INSTANTIATE_TEST_SUITE_P(
    Proofs, Mutant,
    ::testing::Values(
        // 32-bit shifts done in 64 bits: a count of 32..63 is not masked
        MutantCase{JitMutant::ShiftNotMasked, "alu32 r1 <<= r4", "alu32", "r1 <<= r4",
                   "(the difference is real)"},
        // 32-bit add done in 64 bits: the top half survives
        MutantCase{JitMutant::NoZeroExtend32, "alu32 r1 += r4", "alu32", "r1 += r4",
                   "(the difference is real)"},
        MutantCase{JitMutant::R9NotRestored, "frame call: own-buffer", "frame",
                   "call: own-buffer callee (push r9/pop r9)", "after it"},
        MutantCase{JitMutant::R9NotRestored, "frame call: per-prog callee (add", "frame",
                   "call: per-prog callee (add r9, F / sub r9, F)", "after it"},
        MutantCase{JitMutant::FrameOffBy8, "(r10 - 16) = r1 (private)", "stx",
                   "*(u64 *)(r10 - 16) = r1 (private)", "registers or memory differ"},
        MutantCase{JitMutant::TailCountNotIncremented, "frame tail call: kernel", "frame",
                   "tail call: kernel stack", "(the kernel's rule: "},
        // stack-switch: the link frame 8 bytes below the buffer's top; the
        // entry returning without rsp back on the task stack
        MutantCase{JitMutant::LinkOffBy8, "stack-switch: the entry's switch", "frame",
                   "stack-switch: the entry's switch to the buffer's top and the link frame",
                   "at the call, the buffer's top"},
        MutantCase{JitMutant::NoSwitchBack, "stack-switch: the switch back", "frame",
                   "stack-switch: the switch back to the task stack",
                   "at the return (the task stack's return address is at"},
        // stack-switch: a helper's callback linked 8 bytes off its top; the
        // callback top left set after the helper; an inlined bpf_loop's
        // r6-r8 over BPF's own bytes
        MutantCase{JitMutant::LinkOffBy8, "stack-switch: a helper's callback", "frame",
                   "stack-switch: a helper's callback switches to the callback top and links",
                   "at the call, the callback top"},
        MutantCase{JitMutant::NoSwitchBack, "stack-switch: a helper's callback switches back", "frame",
                   "stack-switch: a helper's callback switches back to the helper's stack",
                   "at the return (the task stack's return address is at"},
        MutantCase{JitMutant::CallbackTopKept, "stack-switch: a helper that calls back, on the buffer", "frame",
                   "stack-switch: a helper that calls back, on the buffer (the callback top set and put back)",
                   "after the call, <callback top> is not put back"},
        MutantCase{JitMutant::CallbackGapShort, "stack-switch: a helper that calls back, on the buffer", "frame",
                   "stack-switch: a helper that calls back, on the buffer (the callback top set and put back)",
                   "at the call, <callback top> is not the frame's bottom less the helper's stack"},
        MutantCase{JitMutant::LoopSpillInFrame, "stack-switch: inlined bpf_loop", "frame",
                   "stack-switch: inlined bpf_loop (r6-r8 kept in the frame's 24 bytes)",
                   "BPF's frame or the frame record changed"},
        // movsx from 8 bits sign-extends 16: replayed, the values differ
        MutantCase{JitMutant::SignExtendWidth, "alu64 r1 = (s8) r2", "alu64", "r1 = (s8) r2",
                   "(the difference is real)"},
        // sdiv by a register without the -1 case: INT64_MIN / -1 traps
        MutantCase{JitMutant::SignedDivNoMinusOne, "alu64 r1 s/= r4", "alu64", "r1 s/= r4",
                   "quotient overflow (#DE)"},
        MutantCase{JitMutant::SignedDivNoMinusOne, "alu32 r1 s%= r4", "alu32", "r1 s%= r4",
                   "quotient overflow (#DE)"},
        // gotol one instruction too far
        MutantCase{JitMutant::GotolOffByOne, "jmp32 gotol", "jmp32", "gotol",
                   "(the difference is real)"}),
    [](const auto &info) { return "m" + std::to_string(info.index); });

// The obligations the Z3 engines discharged for every case under every
// scheme that proves it, re-checked by the z3 and cvc5 binaries.
TEST(Obligations, EveryCaseIsReprovedByZ3AndCvc5) {
  std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/cases/expected.json");
  auto j = nlohmann::json::parse(in);
  std::vector<ObligationFile> files;
  std::string dir = test::tempPath("obligations");
  std::filesystem::remove_all(dir);
  size_t safe = 0;
  for (auto &[key, per] : j["verdicts"].items()) {
    if (key.find('+') != std::string::npos)
      continue;
    for (auto &[scheme, verdict] : per.items()) {
      if (verdict != "safe" || scheme == "why")
        continue;
      Object obj = test::loadCase(key);
      CallGraph g(obj);
      VerifyOptions o;
      if (scheme.rfind("kernel-", 0) == 0) // kernel-X: the kernel scheme of kernel X
        o.kernel = kernelRules(scheme.substr(7));
      else
        o.scheme = *schemeFromName(scheme);
      o.collectObligations = true;
      o.timeoutSeconds = 60;
      Report rep = verify(obj, g, o);
      std::string why;
      for (auto &p : rep.programs)
        why += p.name + ": " + verdictName(p.verdict) + " " + p.reason + "; ";
      ASSERT_EQ(rep.verdict, Verdict::Safe) << key << " " << scheme << ": " << why;
      ++safe;
      auto fs = writeObligations(rep, test::casePath(key), dir + "/" + key + "." + scheme);
      files.insert(files.end(), fs.begin(), fs.end());
    }
  }
  // the search's certificate: one file per object and scheme, naming the
  // programs it proves
  ASSERT_GE(files.size(), safe);
  size_t certificates = 0;
  for (auto &f : files)
    certificates += f.engine == "certificate";
  EXPECT_GE(certificates, safe * 9 / 10) << "most proofs are the search's certificate";
  // the Z3 engines' own obligations too: the bounded engine's per program
  // and property, Spacer's invariant against each Horn rule
  auto engineFiles = [&](const char *key, VerifyOptions::Engine engine, const std::string &name) {
    Object obj = test::loadCase(key);
    CallGraph g(obj);
    VerifyOptions o;
    o.scheme = Scheme::PerProg;
    o.engine = engine;
    o.collectObligations = true;
    o.timeoutSeconds = 60;
    Report rep = verify(obj, g, o);
    std::string why;
    for (auto &p : rep.programs)
      why += p.name + ": " + verdictName(p.verdict) + " " + p.reason + "; ";
    EXPECT_EQ(rep.verdict, Verdict::Safe) << key << " " << name << ": " << why;
    auto fs = writeObligations(rep, test::casePath(key), dir + "/" + key + "." + name);
    EXPECT_GE(fs.size(), engine == VerifyOptions::Engine::Bounded ? rep.programs.size() : 1u) << key;
    for (auto &f : fs)
      EXPECT_EQ(f.engine, name) << key;
    files.insert(files.end(), fs.begin(), fs.end());
  };
  for (const char *key : {"recursion", "tailcalls", "tail_256"})
    engineFiles(key, VerifyOptions::Engine::Bounded, "bounded");
  for (const char *key : {"kfuncs", "nested"})
    engineFiles(key, VerifyOptions::Engine::Unbounded, "spacer");
  auto checks = recheckObligations(files, 60, 2);
  ASSERT_EQ(checks.size(), files.size());
  for (auto &c : checks) {
    EXPECT_TRUE(c.proved()) << c.file.path << ": z3 " << c.z3.answer << ", cvc5 " << c.cvc5.answer;
    EXPECT_FALSE(c.conflict()) << c.file.path;
  }
  // the header names what the file proves
  std::ifstream f(files[0].path);
  std::string head((std::istreambuf_iterator<char>(f)), {});
  EXPECT_NE(head.find("; pstack-verify proof obligation: the answer must be unsat"), std::string::npos);
  EXPECT_NE(head.find("; program:  "), std::string::npos);
  EXPECT_NE(head.find("; scheme:   "), std::string::npos);
}

// A wrong obligation is not re-proved: an alias obligation with the
// buffer's bound removed is satisfiable, and both solvers say so.
TEST(Obligations, ASatisfiableFileIsReportedNotProved) {
  std::string dir = test::tempPath("obligations-bad");
  std::filesystem::create_directories(dir);
  ObligationFile f{dir + "/bad.smt2", "p", "alias", "bounded"};
  std::ofstream(f.path) << "(set-logic ALL)\n(declare-fun lo () Int)\n(declare-fun hi () Int)\n"
                           "(assert (< lo hi))\n(assert (> hi 64))\n(check-sat)\n";
  auto checks = recheckObligations({f}, 10, 1);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].z3.answer, "sat");
  EXPECT_EQ(checks[0].cvc5.answer, "sat");
  EXPECT_FALSE(checks[0].proved());
  EXPECT_NE(recheckTable(checks).find("0 re-proved by both solvers"), std::string::npos);
}

// Where Spacer's lemmas are not inductive on their own, nothing partial is
// written and the CLI says why.
TEST(Obligations, AnInvariantThatCannotBeExportedIsNamed) {
  Object obj = test::loadCase("kprobe_chain");
  CallGraph g(obj);
  VerifyOptions o;
  o.scheme = Scheme::PerProg;
  o.engine = VerifyOptions::Engine::Unbounded;
  o.collectObligations = true;
  Report rep = verify(obj, g, o);
  ASSERT_EQ(rep.verdict, Verdict::Safe);
  auto why = notExported(rep);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0].rfind("kchain: proved by Spacer, but its inductive invariant could not be exported", 0), 0u)
      << why[0];
  EXPECT_TRUE(writeObligations(rep, test::casePath("kprobe_chain"), test::tempPath("none")).empty());
}

TEST(Obligations, CliEmitSmtWritesAndRechecks) {
  std::string dir = test::tempPath("emit-smt");
  std::filesystem::remove_all(dir);
  auto r = test::run({PSTACK_CLI, "--scheme", "per-prog", "--emit-smt", dir, test::casePath("kfuncs")});
  EXPECT_EQ(r.status, 0) << r.err;
  // the search's certificate: one file for both programs
  EXPECT_NE(r.err.find("1 obligations: 1 re-proved by both solvers, 0 disagreements"), std::string::npos)
      << r.err;
  std::ifstream cert(dir + "/kfuncs.certificate.part1.smt2");
  std::string head((std::istreambuf_iterator<char>(cert)), {});
  EXPECT_NE(head.find("; program:  kf_a kf_b\n"), std::string::npos) << head.substr(0, 400);
  EXPECT_NE(head.find("; engine:   explicit search, its certificate checked by Z3\n"), std::string::npos);
  // the bounded engine's, per program and property
  std::filesystem::remove_all(dir);
  auto b = test::run({PSTACK_CLI, "--scheme", "per-prog", "--engine", "bounded", "--emit-smt", dir,
                      test::casePath("kfuncs")});
  EXPECT_EQ(b.status, 0) << b.err;
  EXPECT_NE(b.err.find("4 obligations: 4 re-proved by both solvers, 0 disagreements"), std::string::npos)
      << b.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/kfuncs.kf_a.bounded.alias.smt2"));
}

} // namespace
