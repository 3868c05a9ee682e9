// The bounded engine on the case studies: verdicts per scheme, minimal
// traces, buffer sizes, the kernel's limits, and mutations that must flip
// a safe verdict.
#include "tests/support.h"
#include "tests/random_bpf.h"

#include "model/engine.h"
#include "model/pipeline.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

using namespace pstack;

namespace {
// through the pipeline every caller uses (model/pipeline.h)
struct Loaded {
  Pipeline pipe;
  const Object *obj = nullptr;
  const CallGraph *graph = nullptr;
};
Loaded load(const std::string &name, const std::string &env = "") {
  Loaded l;
  l.pipe = env.empty() ? makePipeline(test::loadCase(name))
                       : makePipeline(test::loadCase(name),
                                      loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/" + env),
                                      env);
  l.obj = l.pipe.object.get();
  l.graph = l.pipe.graph.get();
  return l;
}
Report run(const std::string &name, Scheme s, VerifyOptions o = {}, const std::string &env = "") {
  o.scheme = s;
  // an environment file replaces o.env, as the CLI's --env does
  return env.empty() ? load(name).pipe.with(o.env).verify(o) : load(name, env).pipe.verify(o);
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
  ASSERT_EQ(r.layout.buffers.size(), 1u);
  EXPECT_EQ(r.layout.buffers[0].bytes, 34u * 96 + 64); // 33 tail calls
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
    for (auto k : {kernelRules("6.1"), kernelRules("6.13")}) {
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
  o.kernel = kernelRules("6.13");
  Report r13 = run("kprobe_chain", Scheme::Kernel, o);
  EXPECT_EQ(r13.verdict, Verdict::Safe);
  EXPECT_TRUE(r13.programs.at(0).privateStack);
  EXPECT_EQ(r13.layout.buffers.size(), 4u);
  EXPECT_EQ(r13.bytesPerCpu, 4u * (160 + 16)) << "each buffer: frame plus two 8-byte guards";
  o.kernel = kernelRules("6.1");
  Report r1 = run("kprobe_chain", Scheme::Kernel, o);
  EXPECT_EQ(r1.verdict, Verdict::Unsafe);
  EXPECT_EQ(r1.violations.at(0).kind, "kernel_limit");
}

TEST(Model, EveryCaseAgreesWithEveryKernel) {
  // accepted by the real verifier <=> no kernel_limit from us (kernel scheme);
  // 6.18 is the running kernel the facts were taken from (upstream 6.13+
  // rules: private stacks for kprobe, tracepoint, raw_tp, perf_event, tracing)
  int compared = 0;
  for (const auto &name : test::caseNames()) {
    const auto &k = test::caseFacts()[name]["kernel"];
    for (auto [ver, kv] : {std::pair{"6.18", kernelRules("6.13")}, std::pair{"6.12", kernelRules("6.12")},
                           std::pair{"6.1", kernelRules("6.1")}}) {
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
        ++compared;
      }
    }
  }
  EXPECT_GE(compared, 60);
}

TEST(Model, ShrinkingABufferByOneGranuleFlipsEverySafePerProgVerdict) {
  // mutation check: a proof that survives a smaller buffer proved nothing
  for (const auto &name : test::caseNames()) {
    Report r = run(name, Scheme::PerProg);
    if (r.verdict != Verdict::Safe || r.layout.buffers.empty())
      continue;
    uint64_t biggest = 0;
    for (auto &b : r.layout.buffers)
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

TEST(Model, PlannedFallsBackToR9RelativeWhenAFrameCanBeLiveTwice) {
  Report r = run("recursion", Scheme::Planned);
  EXPECT_EQ(r.verdict, Verdict::Safe);
  EXPECT_NE(r.planNote.find("live twice"), std::string::npos) << r.planNote;
  EXPECT_TRUE(r.planOffsets.empty());
  EXPECT_EQ(r.bytesPerCpu, 34u * 96 + 64);
}

TEST(Model, PlannedLayoutIsMinimalAndBeatsTheKernelsBytesPerCpu) {
  Report planned = run("nested", Scheme::Planned, {}, "nested.env.json");
  Report kernel = run("nested", Scheme::Kernel, {}, "nested.env.json");
  EXPECT_EQ(planned.verdict, Verdict::Safe);
  // prog0 -> work -> leaf are live together: 256 + 128 + 64
  EXPECT_EQ(planned.planOffsets.at("prog0").size(), 3u);
  uint64_t prog0 = 0;
  for (auto &b : planned.layout.buffers)
    if (b.name == "prog0")
      prog0 = b.bytes;
  EXPECT_EQ(prog0, 448u);
  EXPECT_LT(planned.bytesPerCpu, kernel.bytesPerCpu);
  EXPECT_EQ(planned.kernelBytesPerCpu, std::optional<uint64_t>(kernel.bytesPerCpu));
  // frames that are never live together share bytes: kfuncs' kf_a calls
  // shared and global_sum one after the other
  Report kf = run("kfuncs", Scheme::Planned);
  EXPECT_EQ(kf.verdict, Verdict::Safe);
  EXPECT_EQ(kf.planOffsets.at("kf_a").at("shared"), kf.planOffsets.at("kf_a").at("global_sum"))
      << "both sit right above kf_a's frame";
}

TEST(Model, MovingOnePlannedOrFixedFrameBy8FlipsEverySafeVerdict) {
  // mutation check: a layout proof that survives a moved frame proved nothing
  int flipped = 0;
  for (const auto &name : test::caseNames())
    for (Scheme s : {Scheme::Planned, Scheme::PerSubprog, Scheme::Kernel}) {
      Report r = run(name, s);
      if (r.verdict != Verdict::Safe)
        continue;
      // a frame that lives in a buffer of its own, or the planned frame
      // that ends at its buffer's end (moving it up must leave the buffer or
      // hit a frame)
      std::string victim;
      if (!r.planOffsets.empty()) {
        Loaded l = load(name);
        int64_t bestEnd = -1;
        for (auto &[prog, offs] : r.planOffsets)
          for (auto &[fn, off] : offs) {
            int64_t end = off + int64_t(l.obj->function(fn)->frame.bytes);
            if (l.obj->function(fn)->frame.bytes > 0 && end > bestEnd) {
              bestEnd = end;
              victim = prog + "/" + fn;
            }
          }
      } else {
        for (auto &b : r.layout.buffers)
          if (b.name.find('/') != std::string::npos && b.bytes > 0) {
            victim = b.name;
            break;
          }
      }
      if (victim.empty())
        continue;
      VerifyOptions o;
      o.shiftFrame = {victim, 8};
      Report m = run(name, s, o);
      EXPECT_EQ(m.verdict, Verdict::Unsafe) << name << " " << schemeName(s) << " " << victim;
      ASSERT_FALSE(m.violations.empty());
      EXPECT_FALSE(m.violations[0].trace.empty());
      ++flipped;
    }
  EXPECT_GE(flipped, 20);
}

// The three engines — explicit search, bounded Z3, Spacer — agree on every
// case under every scheme whenever they decide; the Z3 engines are
// complete here except where noted by an `unknown` with a reason.
class EngineAgreement : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineAgreement, SameVerdictFromEveryEngine) {
  std::string env = GetParam() == "nested" ? "nested.env.json" : "";
  int spacerDecided = 0, total = 0;
  for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned,
                   Scheme::StackSwitch}) {
    std::map<std::string, Report> by;
    for (auto [name, e] : {std::pair{"explicit", VerifyOptions::Engine::Explicit},
                           std::pair{"bounded", VerifyOptions::Engine::Bounded},
                           std::pair{"unbounded", VerifyOptions::Engine::Unbounded}}) {
      VerifyOptions o;
      o.engine = e;
      // the bounded engine decides well within a minute (generous for a
      // loaded CI machine); Spacer may give up, which is allowed below
      o.timeoutSeconds = e == VerifyOptions::Engine::Unbounded ? 8 : 60;
      by.emplace(name, run(GetParam(), s, o, env));
    }
    const Report &ex = by.at("explicit"), &bmc = by.at("bounded"), &spacer = by.at("unbounded");
    EXPECT_NE(ex.verdict, Verdict::Unknown) << schemeName(s);
    EXPECT_EQ(bmc.verdict, ex.verdict) << schemeName(s) << ": "
                                       << (bmc.programs.empty() ? "" : bmc.programs[0].reason);
    if (spacer.verdict != Verdict::Unknown) {
      EXPECT_EQ(spacer.verdict, ex.verdict) << schemeName(s);
      ++spacerDecided;
    }
    ++total;
    // a proof by Spacer comes with its inductive invariant
    for (auto &p : spacer.programs)
      if (p.verdict == Verdict::Safe && p.engine == "spacer") {
        EXPECT_FALSE(p.invariant.empty());
      }
  }
  EXPECT_GE(spacerDecided, total - 1) << "Spacer left more than one scheme unknown";
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineAgreement, ::testing::ValuesIn(test::caseNames()),
                         [](const auto &info) { return info.param; });

TEST(Model, SpacerDecidesWhereTheBoundedEngineCannot) {
  // no tail-call limit (kernels before the tail-call-count fixes): the
  // recursion case's stacks grow without bound
  VerifyOptions o;
  o.env.tailCallLimit.reset();
  o.engine = VerifyOptions::Engine::Bounded;
  Report bmc = run("recursion", Scheme::PerSubprog, o);
  EXPECT_EQ(bmc.verdict, Verdict::Unknown);
  EXPECT_NE(bmc.programs.at(0).reason.find("not complete"), std::string::npos);
  o.engine = VerifyOptions::Engine::Unbounded;
  Report spacer = run("recursion", Scheme::PerSubprog, o);
  EXPECT_EQ(spacer.verdict, Verdict::Unsafe);
  ASSERT_FALSE(spacer.violations.empty());
  EXPECT_EQ(spacer.violations[0].kind, "alias");
  EXPECT_EQ(spacer.violations[0].trace.back().event, "tail_call");
  // per-prog with a fixed buffer: without the limit, no buffer is enough
  o.bufferSize = 1024;
  Report grow = run("recursion", Scheme::PerProg, o);
  EXPECT_EQ(grow.verdict, Verdict::Unsafe);
  EXPECT_EQ(grow.violations.at(0).kind, "overflow");
  // the nesting cycle under the kernel scheme: the recursion counter makes
  // it safe, which Spacer proves with an invariant
  VerifyOptions k;
  k.engine = VerifyOptions::Engine::Unbounded;
  Report cyc = run("nested", Scheme::Kernel, k, "nested_cycle.env.json");
  EXPECT_EQ(cyc.verdict, Verdict::Safe);
  EXPECT_FALSE(cyc.programs.at(0).invariant.empty());
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
  expectError("{\"stack_switch\": {\"irq\": 1}}", "key \"stack_switch.irq\": unknown key");
  expectError("{\"stack_switch\": {\"helpers\": \"elsewhere\"}}", "key \"stack_switch.helpers\"");
  expectError("{\"stack_switch\": {\"helper_reserve_by_name\": {\"bpf_loop\": -8}}}",
              "key \"stack_switch.helper_reserve_by_name.bpf_loop\"");
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

// A prog array the environment names, with a slot past max_entries: an
// error naming the key (it used to drop the tail call and call it safe);
// an empty one: no tail call lands (it used to be ignored, leaving every
// program of the type as a target).
TEST(Model, EnvironmentProgArraysAreCheckedAndEmptyMeansNoTarget) {
  std::string p = test::tempPath("env-slots.json");
  std::string text = R"({"prog_arrays": {"jmp_table": {"1": "entry"}}})";
  test::writeFile(p, std::vector<uint8_t>(text.begin(), text.end()));
  Object obj = test::loadCase("recursion");
  try {
    applyEnvironment(obj, loadEnvironment(p), p);
    ADD_FAILURE() << "slot 1 of a 1-entry prog array accepted";
  } catch (const InputError &e) {
    EXPECT_NE(std::string(e.what()).find("key \"prog_arrays.jmp_table.1\": slot 1 is beyond the map's "
                                         "max_entries (1)"),
              std::string::npos)
        << e.what();
  }
  text = R"({"prog_arrays": {"jmp_table": {}}})";
  test::writeFile(p, std::vector<uint8_t>(text.begin(), text.end()));
  Environment env = loadEnvironment(p);
  ASSERT_EQ(env.progArrays.count("jmp_table"), 1u);
  applyEnvironment(obj, env, p);
  for (auto &f : obj.functions)
    for (auto &tc : f.tailCalls) {
      EXPECT_TRUE(tc.resolved);
      EXPECT_TRUE(tc.targets.empty()) << f.name;
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

// cases/expected.json: the verdict of every case under every scheme.
class ExpectedVerdicts : public ::testing::TestWithParam<std::string> {};

TEST_P(ExpectedVerdicts, MatchTheTable) {
  std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/cases/expected.json");
  auto table = nlohmann::json::parse(in)["verdicts"];
  std::string key = GetParam(), name = key, env;
  if (auto plus = key.find('+'); plus != std::string::npos) {
    name = key.substr(0, plus);
    env = key.substr(plus + 1);
  }
  for (auto &[scheme, want] : table[key].items()) {
    if (scheme == "why")
      continue;
    VerifyOptions o;
    Scheme s = Scheme::Kernel;
    if (scheme.rfind("kernel-", 0) == 0)
      o.kernel = kernelRules(scheme.substr(7));
    else
      s = *schemeFromName(scheme);
    Report r = run(name, s, o, env);
    std::string got = verdictName(r.verdict);
    if (r.verdict == Verdict::Unsafe) {
      std::set<std::string> kinds;
      for (auto &v : r.violations) {
        kinds.insert(v.kind);
        EXPECT_FALSE(v.trace.empty()) << key << " " << scheme;
        bool sourced = false;
        for (auto &st : v.trace)
          sourced |= st.source.has_value();
        EXPECT_TRUE(sourced) << key << " " << scheme << ": a trace without source lines";
      }
      got = "unsafe:";
      for (auto &k : kinds)
        got += (got.back() == ':' ? "" : ",") + k;
    }
    EXPECT_EQ(got, want.get<std::string>()) << key << " under " << scheme;
    EXPECT_TRUE(r.engineDisagreement.empty()) << r.engineDisagreement;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ExpectedVerdicts, ::testing::ValuesIn([] {
                           std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/cases/expected.json");
                           std::vector<std::string> keys;
                           nlohmann::json doc = nlohmann::json::parse(in);
                           for (auto &[k, v] : doc["verdicts"].items())
                             keys.push_back(k);
                           return keys;
                         }()),
                         [](const auto &info) {
                           std::string n = info.param;
                           for (auto &c : n)
                             if (!isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           return n;
                         });

TEST(Model, ATimeoutIsUnknownNeverSafe) {
  VerifyOptions o;
  o.timeoutSeconds = 1e-6;
  Report r = run("recursion", Scheme::PerProg, o);
  EXPECT_EQ(r.verdict, Verdict::Unknown);
  EXPECT_FALSE(r.programs.at(0).reason.empty());
  bool lowerBound = false;
  for (auto &b : r.layout.buffers)
    lowerBound |= b.atLeast;
  EXPECT_TRUE(lowerBound || r.layout.buffers.empty()) << "sizes from a cut search are lower bounds";
}

// The explicit engine's searches of one object share what earlier ones
// proved (model/engine.h, ExploreCache). That must change nothing a user
// sees: every case, every scheme, with and without the sharing, gives the
// same verdicts, violations (kind, message, trace), kernel stack per
// program, and — over all programs — bytes per buffer and frames live
// together.
namespace {
struct Searched {
  std::vector<std::string> perProgram; // verdict, kernel stack, violations
  std::map<int, int64_t> regionHi;     // max over programs
  std::set<std::pair<size_t, size_t>> coLive;
  bool nodeLiveTwice = false;
};
Searched searchAll(const Object &obj, const CallGraph &g, const VerifyOptions &o,
                   detail::ExploreCache *cache) {
  detail::System sys(obj, g, o);
  Searched out;
  for (size_t p = 0; p < obj.programs.size(); ++p) {
    auto r = detail::explicitEngine(sys, detail::Bounds{}, p, detail::Deadline(60), cache);
    std::string line = obj.programs[p].name + " " + verdictName(r.verdict) + " " +
                       std::to_string(r.kernelStackMax);
    for (auto &v : r.violations) {
      line += " | " + v.kind + ": " + v.message + " @";
      for (auto &s : v.trace)
        line += " " + s.event + ":" + s.function + "[" + std::to_string(s.lo) + "," +
                std::to_string(s.hi) + ")";
    }
    out.perProgram.push_back(line);
    for (auto &[reg, hi] : r.regionHi)
      out.regionHi[reg] = std::max(out.regionHi[reg], hi);
    out.coLive.insert(r.coLive.begin(), r.coLive.end());
    out.nodeLiveTwice |= r.nodeLiveTwice;
  }
  return out;
}
} // namespace

TEST(ExploreCache, ChangesNoResultOnAnyCase) {
  size_t hits = 0;
  for (const std::string &name : test::caseNames())
    for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned,
                     Scheme::StackSwitch})
      for (const char *env : {"", "nested.env.json", "nested_cycle.env.json"}) {
        if (*env && name != "nested")
          continue;
        Loaded l = load(name, env);
        VerifyOptions o;
        o.scheme = s;
        if (*env)
          o.env = loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/" + env);
        detail::ExploreCache cache;
        cache.coLive = true; // as plan synthesis asks (verify does not read them)
        Searched plain = searchAll(*l.obj, *l.graph, o, nullptr);
        Searched shared = searchAll(*l.obj, *l.graph, o, &cache);
        SCOPED_TRACE(name + " " + schemeName(s) + " " + env);
        EXPECT_EQ(shared.perProgram, plain.perProgram);
        EXPECT_EQ(shared.regionHi, plain.regionHi);
        EXPECT_EQ(shared.coLive, plain.coLive);
        EXPECT_EQ(shared.nodeLiveTwice, plain.nodeLiveTwice);
        hits += cache.hits;
      }
  EXPECT_GT(hits, 0u) << "no search ever took an earlier one's states: the test shows nothing";
}

// big (256 B) and small (32 B) both tail-call leaf (64 B); big is searched
// first. small's kernel stack is 64, not the 256 of big's search, although
// both reach the same state; small2 then takes small's search whole.
TEST(ExploreCache, EachProgramKeepsItsOwnKernelStack) {
  Object obj = loadObject(PSTACK_TAIL_SHARED_OBJ);
  const std::string envPath = std::string(PSTACK_SOURCE_DIR) + "/tests/data/tail_shared.env.json";
  applyEnvironment(obj, loadEnvironment(envPath), envPath);
  CallGraph g(obj);
  VerifyOptions o;
  o.env = loadEnvironment(envPath);
  ASSERT_EQ(obj.programs.size(), 5u);
  EXPECT_EQ(obj.programs[0].name, "big") << "the test needs big searched before small";
  detail::ExploreCache cache;
  Searched shared = searchAll(obj, g, o, &cache);
  EXPECT_EQ(shared.perProgram, (std::vector<std::string>{"big safe 256", "small safe 64",
                                                         "small2 safe 64", "mid safe 64",
                                                         "leaf safe 64"}));
  EXPECT_GE(cache.hits, 1u); // small2 -> leaf
  EXPECT_EQ(shared.perProgram, searchAll(obj, g, o, nullptr).perProgram);
  // and through verify(), as the report shows it
  // big's 256 bytes are its own; everything that reaches leaf needs its 64
  const std::map<std::string, uint64_t> want = {
      {"big", 256}, {"small", 64}, {"small2", 64}, {"mid", 64}, {"leaf", 64}};
  Report r = verify(obj, g, o);
  std::map<std::string, uint64_t> ks;
  for (auto &p : r.programs)
    ks[p.name] = p.kernelStackBytes;
  EXPECT_EQ(ks, want);
  // per-prog: a tail call keeps r9, so leaf's 64 bytes land in the caller's
  // buffer; small's buffer is 64, not big's 256 (their searches are alike
  // up to whose buffer it is, and share)
  o.scheme = Scheme::PerProg;
  detail::ExploreCache perProg;
  Searched sharedPP = searchAll(obj, g, o, &perProg);
  Searched plainPP = searchAll(obj, g, o, nullptr);
  EXPECT_EQ(sharedPP.perProgram, plainPP.perProgram);
  EXPECT_EQ(sharedPP.regionHi, plainPP.regionHi);
  EXPECT_GE(perProg.hits, 1u);
  Report pp = verify(obj, g, o);
  std::map<std::string, uint64_t> bytes;
  for (auto &b : pp.layout.buffers)
    bytes[b.name] = b.bytes;
  EXPECT_EQ(bytes, want); // per-prog buffers: the same figures
}

// The search of every program at once (detail::summaryEngine) gives each
// program it decides exactly what that program's own search gives — safe,
// the same kernel stack, the same bytes per buffer (per program, not only
// the maximum) — and decides every program whose own search is safe, none
// other (a violation is left to the program's search, with its minimal
// trace). Over every case, scheme and environment, with the tail-call
// limit at 33, 2 and 0, the kernel-stack budget at its size and at 200
// bytes, and buffers unbounded or 96 bytes.
namespace {
struct Compared {
  size_t decided = 0, unsafeSeen = 0, cut = 0, leftOpen = 0, handledSystems = 0;
  // where its own graph outgrows the bound on stacks held, the engine may
  // leave a safe program to that program's search (random objects)
  bool mayLeaveSafe = false;
};
// `seconds`: each program's own search; one cut short proves nothing here
void compareSummary(const Object &obj, const CallGraph &g, const VerifyOptions &o,
                    const std::string &what, Compared &c, double seconds = 60) {
  detail::System sys(obj, g, o);
  const bool handled = detail::summaryHandles(sys);
  // what it does not take: no tail-call limit, nesting, re-entry, every
  // frame r9-relative (per-prog, stack-switch: the searches share then)
  bool expected = sys.tailLimit.has_value();
  bool relative = true;
  for (auto &ni : sys.nodes)
    relative &= ni.placement == detail::Placement::Relative;
  for (auto &edges : sys.pushesFrom)
    for (auto &e : edges) {
      expected &= e.kind != detail::Event::Nest && e.kind != detail::Event::Reenter;
      relative &= !detail::newActivation(e.kind);
    }
  EXPECT_EQ(handled, expected && !relative) << what;
  c.handledSystems += handled;
  for (bool tight : {false, true}) {
    detail::Bounds b;
    for (auto &ni : sys.nodes) {
      if (ni.placement == detail::Placement::Fixed)
        b.region[ni.fixedRegion] = ni.frame;
      if (tight && ni.programRegion >= 0)
        b.region[ni.programRegion] = 96;
    }
    auto together = detail::summaryEngine(sys, b, detail::Deadline(60));
    ASSERT_EQ(together.size(), obj.programs.size());
    for (size_t p = 0; p < obj.programs.size(); ++p) {
      SCOPED_TRACE(what + (tight ? " tight " : " ") + obj.programs[p].name);
      auto alone = detail::explicitEngine(sys, b, p, detail::Deadline(seconds));
      c.unsafeSeen += alone.verdict == Verdict::Unsafe;
      if (alone.verdict == Verdict::Unknown && seconds < 60) {
        ++c.cut;
        continue;
      }
      if (!handled) {
        EXPECT_FALSE(together[p]) << "decided a system it does not handle";
        continue;
      }
      if (alone.verdict != Verdict::Safe) {
        EXPECT_FALSE(together[p]) << "safe where the program's own search is "
                                  << verdictName(alone.verdict);
      } else if (!c.mayLeaveSafe) {
        EXPECT_TRUE(together[p]) << "a safe program left open";
      }
      if (!together[p]) {
        c.leftOpen += alone.verdict == Verdict::Safe;
        continue;
      }
      ++c.decided;
      EXPECT_EQ(together[p]->verdict, Verdict::Safe);
      EXPECT_EQ(together[p]->kernelStackMax, alone.kernelStackMax);
      EXPECT_EQ(together[p]->regionHi, alone.regionHi);
    }
  }
}
} // namespace

TEST(SummaryEngine, EachProgramGetsItsOwnSearchsResult) {
  Compared c;
  for (const std::string &name : test::caseNames())
    for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned,
                     Scheme::StackSwitch})
      for (const char *env : {"", "nested.env.json", "nested_cycle.env.json"})
        for (std::optional<uint32_t> limit : {std::optional<uint32_t>(33), std::optional<uint32_t>(2),
                                              std::optional<uint32_t>(0)})
          for (uint32_t budget : {16384u, 200u}) {
            if (*env && name != "nested")
              continue;
            Loaded l = load(name, env);
            VerifyOptions o;
            o.scheme = s;
            if (*env)
              o.env = loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/" + env);
            o.env.tailCallLimit = limit;
            o.env.kernelStackBudget = budget;
            compareSummary(*l.obj, *l.graph, o,
                           name + " " + schemeName(s) + " " + env + " limit " +
                               std::to_string(*limit) + " budget " + std::to_string(budget),
                           c);
          }
  EXPECT_GT(c.decided, 500u);
  EXPECT_GT(c.unsafeSeen, 20u) << "no violation to leave open: the test shows little";
}

// The same on the object whose programs tail-call each other from under
// their subprogs' frames (each tail call keeps the frames below: the kernel
// stack grows with every one) and on the one whose searches share states.
TEST(SummaryEngine, TailCallsFromUnderSubprogsAndSharedStates) {
  Compared c;
  Object obj = loadObject(PSTACK_TAIL_SHARED_OBJ);
  const std::string envPath = std::string(PSTACK_SOURCE_DIR) + "/tests/data/tail_shared.env.json";
  applyEnvironment(obj, loadEnvironment(envPath), envPath);
  CallGraph g(obj);
  for (Scheme s : {Scheme::Kernel, Scheme::PerProg, Scheme::StackSwitch})
    for (uint32_t limit : {33u, 3u, 1u}) {
      VerifyOptions o;
      o.env = loadEnvironment(envPath);
      o.scheme = s;
      o.env.tailCallLimit = limit;
      compareSummary(obj, g, o, std::string(schemeName(s)) + " limit " + std::to_string(limit), c);
    }
  EXPECT_GT(c.decided, 10u);
  // big's 256 bytes are its own; every program that reaches leaf needs 64
  VerifyOptions o;
  o.env = loadEnvironment(envPath);
  Report r = verify(obj, g, o);
  std::map<std::string, uint64_t> ks;
  for (auto &p : r.programs)
    ks[p.name] = p.kernelStackBytes;
  EXPECT_EQ(ks, (std::map<std::string, uint64_t>{
                    {"big", 256}, {"small", 64}, {"small2", 64}, {"mid", 64}, {"leaf", 64}}));
}

// ... and on random objects (tests/random_bpf.h: subprogs, bpf_loop
// callbacks, tail-call cycles between programs through a prog array).
TEST(SummaryEngine, RandomObjectsGetTheirOwnSearchsResult) {
  Compared c;
  c.mayLeaveSafe = true;
  std::string work = test::tempPath("summary-random.o");
  for (uint64_t seed = 0; seed < 120; ++seed) {
    auto ro = test::randomObject(seed);
    Object obj = test::loadRandomObject(ro, work);
    CallGraph g(obj);
    for (Scheme s : {Scheme::Kernel, Scheme::PerProg, Scheme::PerSubprog})
      for (uint32_t limit : {33u, 2u}) {
        VerifyOptions o;
        o.scheme = s;
        o.env.tailCallLimit = limit;
        o.env.kernelStackBudget = seed % 3 ? 16384 : 512;
        compareSummary(obj, g, o,
                       "seed " + std::to_string(seed) + " " + schemeName(s) + " limit " +
                           std::to_string(limit),
                       c, 2);
      }
  }
  EXPECT_GT(c.decided, 300u);
  EXPECT_GT(c.unsafeSeen, 20u);
  EXPECT_LT(c.leftOpen * 10, c.decided) << "most safe programs are decided together";
}

// --cross-check: Z3 checks the summary search's proof — its states as an
// inductive invariant of the Horn rules (detail::Certificate) — in one
// query per object. It must confirm every program the search proved, under
// every scheme (those whose frames are all r9-relative too: the search
// takes them on when a certificate is asked for, with each program's own
// search's figures), and refuse a certificate with one state, one frame
// below a state or one byte of bound less than the proof needs.
namespace {
struct Certified {
  size_t confirmed = 0, systems = 0;
};
// Bounds as verify() gives the certificate: the fixed ones, and every
// program's buffer sized to what its search reached.
detail::Bounds certificateBounds(const detail::Bounds &given,
                                 const std::vector<std::optional<detail::EngineResult>> &together) {
  detail::Bounds all = given;
  for (auto &r : together)
    if (r)
      for (auto &[region, hi] : r->regionHi)
        if (!given.region.count(region))
          all.region[region] = std::max(all.region[region], hi);
  return all;
}
void certifySystem(const Object &obj, const CallGraph &g, const VerifyOptions &o, bool tight,
                   const std::string &what, Certified &c, bool compareAlone) {
  SCOPED_TRACE(what + (tight ? " tight" : ""));
  detail::System sys(obj, g, o);
  detail::Bounds b;
  for (auto &ni : sys.nodes) {
    if (ni.placement == detail::Placement::Fixed)
      b.region[ni.fixedRegion] = ni.frame;
    if (tight && ni.programRegion >= 0)
      b.region[ni.programRegion] = 96;
  }
  detail::Certificate cert;
  auto together = detail::summaryEngine(sys, b, detail::Deadline(60), &cert);
  std::vector<size_t> safe;
  for (size_t p = 0; p < together.size(); ++p)
    if (together[p]) {
      safe.push_back(p);
      if (compareAlone) {
        auto alone = detail::explicitEngine(sys, b, p, detail::Deadline(60));
        EXPECT_EQ(alone.verdict, Verdict::Safe) << obj.programs[p].name;
        EXPECT_EQ(together[p]->kernelStackMax, alone.kernelStackMax) << obj.programs[p].name;
        EXPECT_EQ(together[p]->regionHi, alone.regionHi) << obj.programs[p].name;
      }
    }
  EXPECT_EQ(cert.programs, safe) << "the certificate is for the programs found safe";
  if (safe.empty())
    return;
  ++c.systems;
  auto got = detail::certificateEngine(sys, certificateBounds(b, together), cert, detail::Deadline(60));
  ASSERT_EQ(got.size(), safe.size());
  for (size_t j = 0; j < got.size(); ++j) {
    EXPECT_EQ(got[j].verdict, Verdict::Safe) << obj.programs[safe[j]].name << ": " << got[j].reason;
    c.confirmed += got[j].verdict == Verdict::Safe;
  }
}
} // namespace

TEST(Certificate, Z3ConfirmsTheSearchsProofOfEveryCase) {
  Certified c;
  for (const std::string &name : test::caseNames())
    for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned,
                     Scheme::StackSwitch})
      for (uint32_t limit : {33u, 2u})
        for (bool tight : {false, true}) {
          Loaded l = load(name);
          VerifyOptions o;
          o.scheme = s;
          o.env.tailCallLimit = limit;
          bool relative = s == Scheme::PerProg || s == Scheme::StackSwitch;
          certifySystem(*l.obj, *l.graph, o, tight,
                        name + " " + schemeName(s) + " limit " + std::to_string(limit), c, relative);
        }
  EXPECT_GT(c.confirmed, 1000u);
  // the kernel-stack budget binding: 6.1 (no private stacks) at 200 bytes
  for (const std::string &name : test::caseNames()) {
    Loaded l = load(name);
    VerifyOptions o;
    o.kernel = kernelRules("6.1");
    o.env.kernelStackBudget = 200;
    certifySystem(*l.obj, *l.graph, o, false, name + " 6.1 budget 200", c, false);
  }
}

TEST(Certificate, Z3ConfirmsTheSearchsProofOfRandomObjects) {
  Certified c;
  std::string work = test::tempPath("certificate-random.o");
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto ro = test::randomObject(seed);
    Object obj = test::loadRandomObject(ro, work);
    CallGraph g(obj);
    for (Scheme s : {Scheme::Kernel, Scheme::PerProg, Scheme::PerSubprog})
      for (uint32_t limit : {33u, 2u}) {
        VerifyOptions o;
        o.scheme = s;
        o.env.tailCallLimit = limit;
        certifySystem(obj, g, o, false, "seed " + std::to_string(seed) + " " + schemeName(s), c,
                      s == Scheme::PerProg);
      }
  }
  EXPECT_GT(c.systems, 100u);
}

// Each part of the certificate is needed: without any one state the
// programs reach, with one state's kernel-stack bound a byte looser than
// its future allows, without one frame below a state, or with a buffer a
// byte smaller than the search found, Z3 does not confirm it, and names a
// rule it could not discharge.
TEST(Certificate, EveryPartIsNeededAndAWrongOneIsRefused) {
  auto refused = [](const detail::System &sys, const detail::Bounds &b, const detail::Certificate &c,
                    const std::string &rulePrefix) {
    auto got = detail::certificateEngine(sys, b, c, detail::Deadline(60));
    bool all = !got.empty();
    for (auto &r : got)
      all &= r.verdict == Verdict::Unknown && r.reason.find("is not discharged") != std::string::npos &&
             r.reason.find("rule " + rulePrefix) != std::string::npos;
    return all;
  };
  size_t states = 0, bounds = 0, pairs = 0, buffers = 0;
  for (const char *name : {"recursion", "callbacks", "tailcalls", "nested"})
    for (Scheme s : {Scheme::Kernel, Scheme::PerProg}) {
      SCOPED_TRACE(std::string(name) + " " + schemeName(s));
      Loaded l = load(name);
      VerifyOptions o;
      o.scheme = s;
      if (s == Scheme::Kernel)
        o.kernel = kernelRules("6.1"); // frames on the kernel stack
      detail::System sys(*l.obj, *l.graph, o);
      detail::Certificate cert;
      auto together = detail::summaryEngine(sys, detail::Bounds{}, detail::Deadline(60), &cert);
      ASSERT_FALSE(cert.programs.empty());
      detail::Bounds b = certificateBounds(detail::Bounds{}, together);
      auto ok = detail::certificateEngine(sys, b, cert, detail::Deadline(60));
      for (auto &r : ok)
        ASSERT_EQ(r.verdict, Verdict::Safe) << r.reason;
      // (one check per state of a few hundred: every state of the small
      // ones, a spread of the others)
      const size_t step = std::max<size_t>(1, cert.tops.size() / 24);
      for (size_t i = 0; i < cert.tops.size(); i += step) {
        detail::Certificate c = cert;
        c.tops.erase(c.tops.begin() + long(i));
        EXPECT_TRUE(refused(sys, b, c, "")) << "state " << i << " left out";
        ++states;
        // a looser kernel-stack bound where the state calls deeper: the
        // call's frame then reaches past what its own state allows
        const bool calls = !sys.pushesFrom[cert.tops[i].node].empty();
        if (s == Scheme::Kernel && calls) {
          c = cert;
          for (auto &layer : c.tops[i].layers)
            layer.ksMax += 1;
          EXPECT_TRUE(refused(sys, b, c, "")) << "state " << i << " bound loosened";
          ++bounds;
        }
        if (!cert.tops[i].pairs.empty()) {
          c = cert;
          c.tops[i].pairs.pop_back();
          EXPECT_TRUE(refused(sys, b, c, "")) << "state " << i << " lost a frame below";
          ++pairs;
        }
      }
      for (auto &[region, bytes] : b.region) {
        detail::Bounds smaller = b;
        smaller.region[region] = bytes - 1;
        EXPECT_TRUE(refused(sys, smaller, cert, "err_overflow_")) << sys.regionNames[region];
        ++buffers;
      }
    }
  EXPECT_GT(states, 30u);
  EXPECT_GT(bounds, 5u);
  EXPECT_GT(pairs, 5u);
  EXPECT_GT(buffers, 5u);
}

// --scheme stack-switch: rsp on the program's buffer. Each BPF frame is an
// x86 frame (its bytes rounded to 8, plus return address, saved rbp,
// rbx/r13/r14/r15 and the tail-call count: 56), below a 16-byte link frame;
// the deepest frame needs interrupt headroom (168) and, where it calls a
// helper or kfunc running on the buffer, that callee's stack (default 1024).
namespace {
const Violation *violationOf(const Report &r, const std::string &program) {
  for (auto &v : r.violations)
    if (v.program == program)
      return &v;
  return nullptr;
}
std::map<std::string, uint64_t> bufferBytes(const Report &r) {
  std::map<std::string, uint64_t> out;
  for (auto &b : r.layout.buffers)
    out[b.name] = b.bytes;
  return out;
}
} // namespace

TEST(StackSwitch, X86FramesBelowTheLinkFrameWithHeadroom) {
  Report r = run("nested", Scheme::StackSwitch, {}, "nested.env.json");
  EXPECT_EQ(r.verdict, Verdict::Safe);
  auto bytes = bufferBytes(r);
  // prog0 (256 B) calls bpf_nest_run: 16 + (256 + 56) + 168 + 1024, and 8
  // for the r12 the nested programs' entries keep below the kfunc; its
  // chain to leaf (work 128, leaf 64) needs less: 16 + 312 + 184 + 120 + 168
  EXPECT_EQ(bytes["prog0"], 16u + 312 + 168 + 1024 + 8);
  EXPECT_EQ(bytes["prog2"], 16u + 120 + 168 + 1024);
  for (auto &fp : r.layout.frames) {
    if (fp.function == "work") {
      EXPECT_EQ(fp.frame, 128u + 56) << fp.program;
    }
  }
  // on the task stack: the return address into the entry and its r12;
  // nested programs are entered on the buffer (the kfunc runs there)
  for (auto &p : r.programs)
    EXPECT_EQ(p.kernelStackBytes, 16u) << p.name;
}

TEST(StackSwitch, HelpersOnTheTaskStackLeaveOnlyInterruptHeadroom) {
  VerifyOptions o;
  o.env = loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/nested.env.json");
  o.env.stackSwitch.helpersOnBuffer = false;
  Loaded l = load("nested", "nested.env.json");
  o.scheme = Scheme::StackSwitch;
  auto bytes = bufferBytes(verify(*l.obj, *l.graph, o));
  EXPECT_EQ(bytes["prog0"], 16u + 312 + 184 + 120 + 168); // the chain prog0 -> work -> leaf
  EXPECT_EQ(bytes["prog2"], 16u + 120 + 120 + 168);       // prog2 -> leaf
  // the kfunc on the task stack: each nesting level leaves its return
  // address and the nested entry's (return address, r12) there too
  std::map<std::string, uint64_t> ks;
  for (auto &p : verify(*l.obj, *l.graph, o).programs)
    ks[p.name] = p.kernelStackBytes;
  EXPECT_EQ(ks["prog0"], 16u + 24 + 24); // prog0 -> prog1 -> prog11
  EXPECT_EQ(ks["prog1"], 16u + 24);
  EXPECT_EQ(ks["prog2"], 16u);
  // a per-callee reserve: bpf_nest_run's 256 bytes under prog0's frame
  o.env.stackSwitch.helpersOnBuffer = true;
  o.env.stackSwitch.helperReserveByName["bpf_nest_run"] = 256;
  bytes = bufferBytes(verify(*l.obj, *l.graph, o));
  EXPECT_EQ(bytes["prog0"], 16u + 312 + 184 + 120 + 168) << "the chain to leaf (800) over the call (752)";
  o.env.stackSwitch.helperReserveByName["bpf_nest_run"] = 600;
  bytes = bufferBytes(verify(*l.obj, *l.graph, o));
  EXPECT_EQ(bytes["prog0"], 16u + 312 + 168 + 600 + 8);
}

// A callback bpf_for_each_map_elem calls is entered from C: it starts
// below the helper's stack (on the buffer: its reserve and the 8 bytes of
// r12 the callback's entry keeps), behind a link frame of its own; the
// caller keeps the per-CPU callback top it replaces in 8 more bytes.
TEST(StackSwitch, AHelpersCallbackStartsBelowTheHelpersStack) {
  Loaded l = load("callbacks");
  VerifyOptions o;
  o.scheme = Scheme::StackSwitch;
  Report r = verify(*l.obj, *l.graph, o);
  for (auto &fp : r.layout.frames) {
    if (fp.function == "each_prog") {
      EXPECT_EQ(fp.frame, 32u + 8 + 56) << "BPF's 32, the kept callback top, the x86 overhead";
    }
    if (fp.function == "each_cb") {
      EXPECT_EQ(fp.frame, 128u + 56);
    }
  }
  // link, each_prog, the helper's reserve + r12, the callback's link
  // frame, each_cb, headroom
  EXPECT_EQ(bufferBytes(r)["each_prog"], 16u + 96 + (1024 + 8) + 16 + 184 + 168);
  o.env.stackSwitch.helperReserveByName["bpf_for_each_map_elem"] = 256;
  r = verify(*l.obj, *l.graph, o);
  EXPECT_EQ(bufferBytes(r)["each_prog"], 16u + 96 + (256 + 8) + 16 + 184 + 168);
  o.env.stackSwitch.helpersOnBuffer = false; // the helper on the task stack
  r = verify(*l.obj, *l.graph, o);
  EXPECT_EQ(bufferBytes(r)["each_prog"], 16u + 96 + 16 + 184 + 168);
  // every engine places it there: a buffer one byte short overflows at it
  using E = VerifyOptions::Engine;
  for (E e : {E::Explicit, E::Bounded, E::Unbounded}) {
    VerifyOptions b = o;
    b.engine = e;
    b.bufferSize = 16 + 96 + 16 + 184 + 168 - 1;
    Report rb = verify(*l.obj, *l.graph, b);
    const Violation *v = violationOf(rb, "each_prog");
    ASSERT_NE(v, nullptr) << int(e);
    EXPECT_EQ(v->kind, "overflow") << int(e);
    ASSERT_FALSE(v->trace.empty());
    EXPECT_EQ(v->trace.back().function, "each_cb") << int(e);
    EXPECT_EQ(v->trace.back().lo, 16 + 96 + 16) << int(e);
  }
}

// What stack-switch entries leave on the task stack counts against the
// kernel-stack budget, in every engine: 16 per program entered there; with
// helpers on the task stack, 24 more per nesting level (prog0 -> prog1 ->
// prog11: 64).
TEST(StackSwitch, TheEntriesTaskStackBytesMeetTheBudget) {
  Loaded l = load("nested", "nested.env.json");
  using E = VerifyOptions::Engine;
  for (bool onBuffer : {true, false})
    for (E e : {E::Explicit, E::Bounded, E::Unbounded}) {
      VerifyOptions o;
      o.scheme = Scheme::StackSwitch;
      o.engine = e;
      o.env = loadEnvironment(std::string(PSTACK_SOURCE_DIR) + "/cases/nested.env.json");
      o.env.stackSwitch.helpersOnBuffer = onBuffer;
      const uint64_t deepest = onBuffer ? 16 : 64;
      o.env.kernelStackBudget = uint32_t(deepest);
      Report r = verify(*l.obj, *l.graph, o);
      EXPECT_EQ(r.verdict, Verdict::Safe) << int(e) << " " << onBuffer;
      o.env.kernelStackBudget = uint32_t(deepest - 1);
      r = verify(*l.obj, *l.graph, o);
      EXPECT_EQ(r.verdict, Verdict::Unsafe) << int(e) << " " << onBuffer;
      const Violation *v = violationOf(r, "prog0");
      ASSERT_NE(v, nullptr) << int(e) << " " << onBuffer;
      // (Spacer's derivation through two nestings does not replay as a
      // trace: the explicit search's trace stands in for it)
      EXPECT_EQ(v->kind, "overflow");
      EXPECT_NE(v->message.find("kernel stack reaches " + std::to_string(deepest) + " bytes"), std::string::npos)
          << v->message;
      ASSERT_EQ(v->trace.size(), onBuffer ? 1u : 3u) << int(e);
      if (onBuffer)
        EXPECT_EQ(v->trace.back().function, "prog0") << int(e);
      else // prog0 -> prog1 -> prog11 or prog12
        EXPECT_EQ(v->trace[1].function, "prog1") << int(e);
    }
}

TEST(StackSwitch, ReentryReusesTheLiveBufferAndIsFound) {
  Report r = run("nested", Scheme::StackSwitch, {}, "nested_cycle.env.json");
  EXPECT_EQ(r.verdict, Verdict::Unsafe);
  const Violation *v = violationOf(r, "prog0");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->kind, "alias");
  ASSERT_EQ(v->trace.size(), 2u) << "enter prog0, reenter prog0: the fewest events";
  EXPECT_EQ(v->trace[1].event, "reenter");
  for (auto &st : v->trace) {
    EXPECT_EQ(st.region, "prog0");
    EXPECT_EQ(st.lo, 16) << "below the link frame";
    EXPECT_EQ(st.hi, 16 + 312);
  }
}

TEST(StackSwitch, ABufferWithoutRoomForTheCalleeOverflowsAtTheCallingFrame) {
  VerifyOptions o;
  o.bufferSize = 16 + 312 + 168 + 1024 + 8 - 1;
  Report r = run("nested", Scheme::StackSwitch, o, "nested.env.json");
  EXPECT_EQ(r.verdict, Verdict::Unsafe);
  const Violation *v = violationOf(r, "prog0");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->kind, "overflow");
  EXPECT_NE(v->message.find("the 1200 bytes below it"), std::string::npos) << v->message;
  ASSERT_EQ(v->trace.size(), 1u);
  EXPECT_EQ(v->trace[0].function, "prog0");
  // one byte more and it fits
  o.bufferSize = 16 + 312 + 168 + 1024 + 8;
  EXPECT_EQ(run("nested", Scheme::StackSwitch, o, "nested.env.json").verdict, Verdict::Safe);
}
namespace {

// The bounded engine's one encoding per object (programs as initial
// states) answers per program as the explicit search does: every program's
// verdict agrees, and some object has safe and unsafe programs side by
// side (so the shared query has had to tell them apart).
TEST(SharedEncoding, EveryProgramGetsTheExplicitSearchsVerdict) {
  size_t mixed = 0;
  for (const std::string &name : test::caseNames())
    for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog}) {
      VerifyOptions o;
      o.timeoutSeconds = 60;
      o.engine = VerifyOptions::Engine::Explicit;
      Report ex = run(name, s, o);
      o.engine = VerifyOptions::Engine::Bounded;
      Report bmc = run(name, s, o);
      ASSERT_EQ(bmc.programs.size(), ex.programs.size());
      std::set<Verdict> seen;
      for (size_t p = 0; p < ex.programs.size(); ++p) {
        if (bmc.programs[p].verdict == Verdict::Unknown)
          continue; // refused or incomplete (said in its reason): not a disagreement
        EXPECT_EQ(bmc.programs[p].verdict, ex.programs[p].verdict)
            << name << " " << schemeName(s) << " " << ex.programs[p].name;
        seen.insert(bmc.programs[p].verdict);
      }
      mixed += seen.count(Verdict::Safe) && seen.count(Verdict::Unsafe);
    }
  EXPECT_GT(mixed, 0u) << "no object with safe and unsafe programs: the test shows nothing";
}

// One pipeline for every caller: an environment is applied (and checked)
// the same way whatever it is for; a limit alone copies nothing.
TEST(Pipeline, AnEnvironmentIsAppliedOnceAndCheckedAlike) {
  Pipeline base = makePipeline(test::loadCase("tailcalls"));
  Environment limit;
  limit.tailCallLimit = 3;
  Pipeline same = base.with(limit);
  EXPECT_EQ(same.object.get(), base.object.get()); // nothing to apply: shared
  EXPECT_EQ(same.env.tailCallLimit, std::optional<uint32_t>(3));
  Environment bad;
  bad.nest["no_such_program"] = {};
  EXPECT_THROW(base.with(bad, "bad.env.json"), InputError);
  // with a prog array's contents: a copy of its own, its tail calls taken
  // from the environment, the object as read left alone
  const Map *pa = nullptr;
  for (auto &m : base.object->maps)
    if (m.isProgArray())
      pa = &m;
  ASSERT_TRUE(pa);
  Environment slots;
  slots.progArrays[pa->name] = {{0, base.object->programs[0].name}};
  Pipeline filled = base.with(slots);
  EXPECT_NE(filled.object.get(), base.object.get());
  EXPECT_NE(filled.graph.get(), base.graph.get());
  EXPECT_EQ(filled.object->map(pa->name)->progSlots, slots.progArrays[pa->name]);
  EXPECT_NE(base.object->map(pa->name)->progSlots, slots.progArrays[pa->name]);
  // and an environment is applied once: a second one is a caller's bug
  EXPECT_THROW(filled.with(slots), std::logic_error);
}

} // namespace
