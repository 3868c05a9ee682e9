// The differential test: thousands of random BPF programs (calls, tail
// calls, bpf_loop callbacks, stack and map traffic, atomics, every ALU and
// jump form), assembled by llvm-mc, loaded by the frontend, proved by the
// model under each scheme in turn, JITed from that layout, validated over
// the decoded bytes, and run in the harness beside the interpreter: r0 and
// every map byte must agree, and no guard word may change.
#include "frontend/isa.h"
#include "jitgen/jitgen.h"
#include "jitgen/mutants.h"
#include "model/model.h"
#include "tests/random_bpf.h"
#include "tests/support.h"

#include <gtest/gtest.h>

using namespace pstack;

namespace {

struct Tally {
  size_t objects = 0, runs = 0, tailCalls = 0, unproved = 0, v4 = 0;
  size_t v4Insns = 0, legacyLoads = 0; // in the objects that ran
  std::map<Scheme, size_t> perScheme;
};

// The generator's options for a seed: every other run of four seeds (one
// per scheme) with the cpu v4 forms and the legacy packet loads.
test::RandomOptions optionsFor(uint64_t seed) {
  test::RandomOptions ro;
  ro.v4 = (seed / 4) % 2 == 1;
  return ro;
}

// Seeds [from, to): each object under one scheme (the seed picks it).
void differential(uint64_t from, uint64_t to, Tally &t) {
  const Scheme schemes[] = {Scheme::Kernel, Scheme::PerProg, Scheme::PerSubprog, Scheme::Planned};
  std::string work = test::tempPath("random-diff.o");
  for (uint64_t seed = from; seed < to; ++seed) {
    auto ro = test::randomObject(seed, optionsFor(seed));
    Object obj = test::loadRandomObject(ro, work);
    CallGraph g(obj);
    VerifyOptions o;
    o.scheme = schemes[seed % 4];
    o.engine = VerifyOptions::Engine::Explicit; // the layout, quickly
    // tail-call cycles between programs can take the search past what a
    // test should wait for: those objects are skipped as unknown
    o.timeoutSeconds = 0.05;
    Report rep = verify(obj, g, o);
    SCOPED_TRACE("seed " + std::to_string(seed) + " scheme " + schemeName(o.scheme));
    // only proved layouts: an unknown verdict sized its buffers from a
    // search cut short, and an unsafe one may differ (the model's to say)
    if (rep.verdict != Verdict::Safe) {
      ++t.unproved;
      continue;
    }
    JitOptions jo;
    JitImage img;
    try {
      img = jitCompile(obj, rep.layout, jo);
    } catch (const JitError &e) {
      ADD_FAILURE() << e.what() << "\n" << ro.asmText;
      return;
    }
    auto findings = validateJit(obj, img);
    ASSERT_TRUE(findings.empty()) << findings[0].function << ": " << findings[0].message;
    ++t.objects;
    ++t.perScheme[o.scheme];
    t.v4 += optionsFor(seed).v4;
    for (auto &f : obj.functions)
      for (auto &in : f.insns) {
        const isa::Form form = isa::form(in);
        t.v4Insns += isa::isV4(form);
        t.legacyLoads += form == isa::Form::LegacyLoad;
      }
    for (auto &p : ro.programs) {
      RunRequest req;
      req.program = p;
      req.ctx = test::randomContext(seed);
      RunResult ref = interpret(obj, req);
      ASSERT_TRUE(ref.ok) << p << ": " << ref.error << "\n" << ro.asmText;
      RunResult jit = runJit(obj, img, req);
      ASSERT_TRUE(jit.ok) << p << ": " << jit.error << "\n" << ro.asmText;
      ASSERT_EQ(jit.r0, ref.r0) << p << "\n" << ro.asmText;
      ASSERT_EQ(jit.maps, ref.maps) << p << "\n" << ro.asmText;
      ASSERT_TRUE(jit.guardsBroken.empty()) << p << ": " << jit.guardsBroken[0];
      ++t.runs;
      t.tailCalls += ref.tailCalls;
    }
  }
}

// PSTACK_DIFF_SEEDS objects (default 1400; the sanitizer run takes fewer).
TEST(JitDifferential, ThousandsOfRandomProgramsRunLikeTheInterpreter) {
  uint64_t n = 1400;
  if (const char *e = getenv("PSTACK_DIFF_SEEDS"))
    n = std::stoull(e);
  Tally t;
  differential(1, 1 + n, t);
  std::cerr << t.objects << " objects (" << t.v4 << " with " << t.v4Insns << " cpu v4 instructions and "
            << t.legacyLoads << " legacy packet loads), "
            << t.runs << " program runs, " << t.tailCalls << " tail calls, " << t.unproved
            << " not proved safe in time (skipped)\n";
  EXPECT_GE(t.objects, n * 7 / 10);
  EXPECT_GE(t.v4, t.objects / 3);
  EXPECT_GT(t.v4Insns, 5 * t.v4);
  EXPECT_GT(t.legacyLoads, t.v4 / 2);
  EXPECT_GE(t.runs, 2 * t.objects);
  EXPECT_GT(t.tailCalls, t.objects);
  for (Scheme s : {Scheme::Kernel, Scheme::PerProg, Scheme::PerSubprog, Scheme::Planned})
    EXPECT_GT(t.perScheme[s], n / 8) << schemeName(s);
}

// stack-switch, both helper variants: the same random objects, emitted
// with rsp on the programs' buffers, validated, run beside the interpreter
// with every guard intact, and the frame-pointer unwinder's backtrace equal
// to the interpreter's call chain at every helper and kfunc call (inlined
// bpf_loop callbacks included). A third of the seeds call some callbacks
// through bpf_for_each_map_elem: they start below the helper's stack
// (<callback top>). Objects with what the scheme's JIT refuses by name (a
// function entered from a helper and called from BPF too) are counted,
// not run.
TEST(JitDifferential, StackSwitchRunsLikeTheInterpreterAndUnwinds) {
  uint64_t n = 700;
  if (const char *e = getenv("PSTACK_DIFF_SEEDS"))
    n = std::stoull(e) / 2;
  std::string work = test::tempPath("random-ss.o");
  size_t objects = 0, refused = 0, unproved = 0, runs = 0, backtraces = 0, tailCalls = 0, v4 = 0;
  size_t forEach = 0; // objects run with a bpf_for_each_map_elem callback
  for (uint64_t seed = 1; seed <= n; ++seed) {
    // half the objects with cpu v4 forms and legacy packet loads
    test::RandomOptions opts = optionsFor(seed);
    opts.forEach = seed % 3 == 0;
    auto ro = test::randomObject(seed, opts);
    Object obj = test::loadRandomObject(ro, work);
    CallGraph g(obj);
    VerifyOptions o;
    o.scheme = Scheme::StackSwitch;
    o.env.stackSwitch.helpersOnBuffer = seed % 2;
    o.engine = VerifyOptions::Engine::Explicit;
    o.timeoutSeconds = 0.05;
    Report rep = verify(obj, g, o);
    SCOPED_TRACE("seed " + std::to_string(seed) + (seed % 2 ? " on_buffer" : " task_stack"));
    if (rep.verdict != Verdict::Safe) {
      ++unproved;
      continue;
    }
    JitImage img;
    try {
      img = jitCompile(obj, rep.layout);
    } catch (const JitError &e) {
      std::string w = e.what();
      ASSERT_NE(w.find("entered from a helper"), std::string::npos) << w << "\n" << ro.asmText;
      ++refused;
      continue;
    }
    auto findings = validateJit(obj, img);
    ASSERT_TRUE(findings.empty()) << findings[0].function << " +" << findings[0].offset << " `"
                                  << findings[0].insn << "`: " << findings[0].message << "\n"
                                  << ro.asmText;
    ++objects;
    v4 += optionsFor(seed).v4;
    bool each = false;
    for (auto &f : obj.functions)
      for (auto &cb : f.callbacks)
        each |= cb.via == "bpf_for_each_map_elem";
    forEach += each;
    for (auto &p : ro.programs) {
      RunRequest req;
      req.program = p;
      req.ctx = test::randomContext(seed);
      RunResult ref = interpret(obj, req);
      ASSERT_TRUE(ref.ok) << p << ": " << ref.error << "\n" << ro.asmText;
      RunResult jit = runJit(obj, img, req);
      ASSERT_TRUE(jit.ok) << p << ": " << jit.error << "\n" << ro.asmText;
      if (ref.r0Defined) { // a failed tail call leaves r0 without a value
        ASSERT_EQ(jit.r0, ref.r0) << p << "\n" << ro.asmText;
      }
      ASSERT_EQ(jit.maps, ref.maps) << p << "\n" << ro.asmText;
      ASSERT_TRUE(jit.guardsBroken.empty()) << p << ": " << jit.guardsBroken[0];
      BacktraceMatch m = compareBacktraces(ref, jit);
      ASSERT_EQ(m.matched, m.total) << p << ": " << m.firstMismatch << "\n" << ro.asmText;
      backtraces += m.total;
      tailCalls += ref.tailCalls;
      ++runs;
    }
  }
  std::cerr << "stack-switch: " << objects << " objects (" << v4 << " with cpu v4 forms and legacy loads), " << runs << " program runs, " << tailCalls
            << " tail calls, " << backtraces << " backtraces matched, " << forEach
            << " objects with bpf_for_each_map_elem callbacks; " << refused
            << " refused by name, " << unproved << " not proved safe in time\n";
  EXPECT_GE(objects, n * 8 / 10);
  // (about 140 per object over the default 700 seeds; 88 over the
  // sanitizer run's 75: the bound is that unwinding happens, not its rate)
  EXPECT_GT(backtraces, 40 * objects);
  EXPECT_GT(tailCalls, objects / 2);
  EXPECT_GT(forEach, objects / 20);
}

// The same programs catch the emitter's semantic mutants at run time.
TEST(JitDifferential, RandomProgramsCatchShiftAndZeroExtensionMutants) {
  for (JitMutant m : {JitMutant::ShiftNotMasked, JitMutant::NoZeroExtend32}) {
    bool caught = false;
    std::string work = test::tempPath("random-mutant.o");
    for (uint64_t seed = 1; seed < 200 && !caught; ++seed) {
      auto ro = test::randomObject(seed);
      Object obj = test::loadRandomObject(ro, work);
      CallGraph g(obj);
      VerifyOptions o;
      o.engine = VerifyOptions::Engine::Explicit;
      o.timeoutSeconds = 0.05;
      Report rep = verify(obj, g, o);
      if (rep.verdict != Verdict::Safe)
        continue;
      JitOptions jo;
      JitImage img = jitCompileMutant(obj, rep.layout, jo, m);
      for (auto &p : ro.programs) {
        RunRequest req;
        req.program = p;
        req.ctx = test::randomContext(seed);
        RunResult ref = interpret(obj, req), jit = runJit(obj, img, req);
        if (!jit.ok || jit.r0 != ref.r0 || jit.maps != ref.maps)
          caught = true;
      }
    }
    EXPECT_TRUE(caught) << "mutant " << int(m) << " survived 200 random objects";
  }
}

} // namespace
