// The bounded engine on the case studies: verdicts per scheme, minimal
// traces, buffer sizes, the kernel's limits, and mutations that must flip
// a safe verdict.
#include "tests/support.h"

#include "model/model.h"

#include <gtest/gtest.h>

using namespace pstack;

namespace {
struct Loaded {
  std::unique_ptr<Object> obj;
  std::unique_ptr<CallGraph> graph;
};
Loaded load(const std::string &name, const std::string &env = "") {
  Loaded l;
  l.obj = std::make_unique<Object>(test::loadCase(name));
  if (!env.empty())
    applyEnvironment(*l.obj, loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/" + env),
                     env);
  l.graph = std::make_unique<CallGraph>(*l.obj);
  return l;
}
Report run(const std::string &name, Scheme s, VerifyOptions o = {}, const std::string &env = "") {
  Loaded l = load(name, env);
  o.scheme = s;
  if (!env.empty())
    o.env = loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/" + env);
  return verify(*l.obj, *l.graph, o);
}
} // namespace

TEST(Model, RecursionUnsafeUnderPerSubprogWithTheReviewersTrace) {
  Report r = run("recursion", Scheme::PerSubprog);
  EXPECT_EQ(r.verdict, Verdict::Unsafe);
  ASSERT_EQ(r.violations.size(), 1u);
  const Violation &v = r.violations[0];
  EXPECT_EQ(v.kind, "alias");
  ASSERT_EQ(v.trace.size(), 3u) << "entry -> subprog1 -> tail_call -> entry";
  EXPECT_EQ(v.trace[0].event, "enter");
  EXPECT_EQ(v.trace[0].function, "entry");
  EXPECT_EQ(v.trace[1].event, "call");
  EXPECT_EQ(v.trace[1].function, "subprog1");
  EXPECT_EQ(v.trace[1].insn, std::optional<uint32_t>(4));
  EXPECT_EQ(v.trace[2].event, "tail_call");
  EXPECT_EQ(v.trace[2].function, "entry");
  EXPECT_EQ(v.trace[2].insn, std::optional<uint32_t>(7));
  ASSERT_TRUE(v.trace[2].source.has_value());
  EXPECT_NE(v.trace[2].source->text.find("bpf_tail_call"), std::string::npos);
  // the two entry frames clash, in the same buffer, at the same bytes
  EXPECT_TRUE(v.trace[0].clash);
  EXPECT_FALSE(v.trace[1].clash);
  EXPECT_TRUE(v.trace[2].clash);
  EXPECT_EQ(v.trace[0].region, v.trace[2].region);
  EXPECT_EQ(v.trace[2].lo, 0);
  EXPECT_EQ(v.trace[2].hi, 96);
}

TEST(Model, RecursionSafeUnderPerProgWith34EntryFramesPlusSubprog1) {
  Report r = run("recursion", Scheme::PerProg);
  EXPECT_EQ(r.verdict, Verdict::Safe);
  ASSERT_EQ(r.buffers.size(), 1u);
  EXPECT_EQ(r.buffers[0].bytes, 34u * 96 + 64); // 33 tail calls
  EXPECT_EQ(r.bytesPerCpu, 3328u);
}

TEST(Model, RecursionPerProgOneGranuleSmallerOverflows) {
  VerifyOptions o;
  o.bufferSize = 3328 - 8;
  Report r = run("recursion", Scheme::PerProg, o);
  EXPECT_EQ(r.verdict, Verdict::Unsafe);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].kind, "overflow");
  const auto &last = r.violations[0].trace.back();
  EXPECT_EQ(last.function, "subprog1");
  EXPECT_EQ(last.lo, 3264);
  EXPECT_EQ(last.hi, 3328);
  int tails = 0;
  for (auto &s : r.violations[0].trace)
    tails += s.event == "tail_call";
  EXPECT_EQ(tails, 33);
}

TEST(Model, TailCallLimitBoundsThePerProgBuffer) {
  VerifyOptions o;
  o.env.tailCallLimit = 3;
  Report r = run("recursion", Scheme::PerProg, o);
  EXPECT_EQ(r.verdict, Verdict::Safe);
  EXPECT_EQ(r.bytesPerCpu, 4u * 96 + 64);
}

TEST(Model, RecursionUnderKernelSchemeStaysOnTheKernelStack) {
  Report r = run("recursion", Scheme::Kernel);
  EXPECT_EQ(r.verdict, Verdict::Safe);
  EXPECT_FALSE(r.programs.at(0).privateStack) << "a program with a tail call keeps the normal stack";
  EXPECT_EQ(r.kernelStackWith, 34u * 96 + 64);
}

TEST(Model, NestedHierarchySafeUnderKernelWithItsKernelStackFigure) {
  Report r = run("nested", Scheme::Kernel, {}, "nested.env.json");
  EXPECT_EQ(r.verdict, Verdict::Safe);
  for (auto &p : r.programs)
    EXPECT_TRUE(p.privateStack) << p.name;
  EXPECT_EQ(r.kernelStackWith, 0u) << "every frame is >= 64 bytes: all private";
  // without private stacks: prog0 (256) -> prog1 (192) -> prog12 (96) -> work (128) -> leaf (64)
  EXPECT_EQ(r.kernelStackWithout, 736u);
}

TEST(Model, NestingCycleWithReentryIsUnsafeWithoutTheKernelsRecursionGuard) {
  for (Scheme s : {Scheme::PerSubprog, Scheme::PerProg}) {
    Report r = run("nested", s, {}, "nested_cycle.env.json");
    EXPECT_EQ(r.verdict, Verdict::Unsafe) << schemeName(s);
    ASSERT_FALSE(r.violations.empty());
    const Violation &v = r.violations[0];
    EXPECT_EQ(v.kind, "alias");
    EXPECT_EQ(v.program, "prog0");
    ASSERT_EQ(v.trace.size(), 2u) << "minimal: prog0, then prog0 again";
    EXPECT_EQ(v.trace[1].event, "reenter");
  }
  Report k = run("nested", Scheme::Kernel, {}, "nested_cycle.env.json");
  EXPECT_EQ(k.verdict, Verdict::Safe) << "the recursion counter stops a private-stack program "
                                         "from running again on its CPU";
}

TEST(Model, OverLimitChainsAreKernelLimit) {
  struct Want {
    const char *name, *needle;
  } wants[] = {{"over_limit_chain", "combined stack size of 4 calls is 640"},
               {"over_limit_depth", "the call stack of 9 frames is too deep"},
               {"over_limit_tailcall", "call stack of previous frames is 320 bytes"}};
  for (auto &w : wants)
    for (auto k : {KernelVersion::V6_1, KernelVersion::V6_13}) {
      VerifyOptions o;
      o.kernel = k;
      Report r = run(w.name, Scheme::Kernel, o);
      EXPECT_EQ(r.verdict, Verdict::Unsafe) << w.name;
      ASSERT_EQ(r.violations.size(), 1u) << w.name;
      EXPECT_EQ(r.violations[0].kind, "kernel_limit");
      EXPECT_NE(r.violations[0].message.find(w.needle), std::string::npos) << r.violations[0].message;
    }
}

TEST(Model, KprobeChainAcceptedOn613RejectedOn61) {
  VerifyOptions o;
  o.kernel = KernelVersion::V6_13;
  Report r13 = run("kprobe_chain", Scheme::Kernel, o);
  EXPECT_EQ(r13.verdict, Verdict::Safe);
  EXPECT_TRUE(r13.programs.at(0).privateStack);
  EXPECT_EQ(r13.buffers.size(), 4u);
  EXPECT_EQ(r13.bytesPerCpu, 4u * (160 + 16)) << "each buffer: frame plus two 8-byte guards";
  o.kernel = KernelVersion::V6_1;
  Report r1 = run("kprobe_chain", Scheme::Kernel, o);
  EXPECT_EQ(r1.verdict, Verdict::Unsafe);
  EXPECT_EQ(r1.violations.at(0).kind, "kernel_limit");
}

TEST(Model, EveryCaseAgreesWithBothKernels) {
  // accepted by the real verifier <=> no kernel_limit from us (kernel scheme)
  for (const auto &name : test::caseNames()) {
    const auto &k = test::caseFacts()[name]["kernel"];
    for (auto [ver, kv] : {std::pair{"6.18", KernelVersion::V6_13}, std::pair{"6.1", KernelVersion::V6_1}}) {
      if (!k.contains(ver))
        continue;
      VerifyOptions o;
      o.kernel = kv;
      Report r = run(name, Scheme::Kernel, o);
      for (auto &[prog, verdict] : k[ver].items()) {
        if (verdict != "accepted" && verdict != "rejected")
          continue;
        if (name == "kfuncs" && std::string(ver) == "6.1")
          continue; // 6.1 lacks the kfuncs: rejected for that, not for stack
        bool limited = false;
        for (auto &v : r.violations)
          limited |= v.kind == "kernel_limit" && v.program == prog;
        EXPECT_EQ(limited, verdict == "rejected") << name << "/" << prog << " on " << ver;
      }
    }
  }
}

TEST(Model, ShrinkingABufferByOneGranuleFlipsEverySafePerProgVerdict) {
  // mutation check: a proof that survives a smaller buffer proved nothing
  for (const auto &name : test::caseNames()) {
    Report r = run(name, Scheme::PerProg);
    if (r.verdict != Verdict::Safe || r.buffers.empty())
      continue;
    uint64_t biggest = 0;
    for (auto &b : r.buffers)
      biggest = std::max(biggest, b.bytes);
    VerifyOptions o;
    o.bufferSize = biggest - 8;
    Report m = run(name, Scheme::PerProg, o);
    EXPECT_EQ(m.verdict, Verdict::Unsafe) << name;
    ASSERT_FALSE(m.violations.empty()) << name;
    EXPECT_EQ(m.violations[0].kind, "overflow") << name;
    EXPECT_FALSE(m.violations[0].trace.empty());
  }
}

TEST(Model, PlannedIsUnknownNeverSafe) {
  Report r = run("recursion", Scheme::Planned);
  EXPECT_EQ(r.verdict, Verdict::Unknown);
  EXPECT_FALSE(r.programs.at(0).reason.empty());
}

TEST(Environment, ErrorsNameTheKey) {
  std::string p = test::tempPath("env.json");
  auto expectError = [&](const std::string &text, const std::string &needle) {
    test::writeFile(p, std::vector<uint8_t>(text.begin(), text.end()));
    try {
      loadEnvironment(p);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const InputError &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expectError("{\"nest\": {\"prog0\": \"prog1\"}}", "key \"nest.prog0\"");
  expectError("{\"tail_call_limit\": -1}", "key \"tail_call_limit\"");
  expectError("{\"reentr\": []}", "key \"reentr\": unknown key");
  expectError("{\"prog_arrays\": {\"jmp\": {\"x\": \"a\"}}}", "key \"prog_arrays.jmp.x\"");
  expectError("[1, 2", "not valid JSON");
  Object obj = test::loadCase("nested");
  Environment env;
  env.nest["prog0"] = {"nosuch"};
  try {
    applyEnvironment(obj, env, "e.json");
    ADD_FAILURE();
  } catch (const InputError &e) {
    EXPECT_NE(std::string(e.what()).find("key \"nest.prog0\": no program named nosuch"), std::string::npos)
        << e.what();
  }
}

TEST(Model, PerProgWithR9AtTheTopLetsALargerTailCalleeReachIntoTheCaller) {
  Report base = run("recursion_top", Scheme::PerProg);
  EXPECT_EQ(base.verdict, Verdict::Safe);
  VerifyOptions o;
  o.perProgR9AtTop = true;
  Report top = run("recursion_top", Scheme::PerProg, o);
  EXPECT_EQ(top.verdict, Verdict::Unsafe);
  const Violation *alias = nullptr;
  for (auto &v : top.violations)
    if (v.kind == "alias")
      alias = &v;
  ASSERT_NE(alias, nullptr) << "big's frame grows down into small's live frame";
  ASSERT_EQ(alias->trace.size(), 3u);
  EXPECT_EQ(alias->trace[0].function, "small");
  EXPECT_EQ(alias->trace[1].function, "relay");
  EXPECT_EQ(alias->trace[2].event, "tail_call");
  EXPECT_EQ(alias->trace[2].function, "big");
  EXPECT_EQ(alias->trace[2].hi, 32 + 64); // ends where relay's frame ended
  EXPECT_EQ(alias->trace[2].lo, 96 - 256);
  EXPECT_TRUE(alias->trace[0].clash);
  EXPECT_TRUE(alias->trace[2].clash);
}
