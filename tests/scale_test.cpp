// Scale: a prog array of 1,000 programs that all tail-call each other
// (1,002,001 tail edges, chains to the limit of 33). It is decided, each
// program with its own figures; what cannot be decided in time or in
// bounded memory is `unknown` with its reason — never `safe`.
#include "tests/support.h"

#include "model/model.h"

#include <gtest/gtest.h>

using namespace pstack;

namespace {
struct Scale : ::testing::Test {
  static void SetUpTestSuite() {
    obj = new Object(loadObject(PSTACK_SCALE_OBJ));
    graph = new CallGraph(*obj);
  }
  static void TearDownTestSuite() {
    delete graph;
    delete obj;
  }
  static Object *obj;
  static CallGraph *graph;
};
Object *Scale::obj;
CallGraph *Scale::graph;
} // namespace

TEST_F(Scale, ObjectHasEveryProgramAndTailEdge) {
  EXPECT_EQ(obj->programs.size(), 1001u);
  const Map *jmp = obj->map("jmp");
  ASSERT_NE(jmp, nullptr);
  EXPECT_TRUE(jmp->isProgArray());
  // the array is filled by user space: a tail call may reach every xdp
  // program of the object, the dispatcher included
  size_t tailEdges = 0;
  for (auto &e : graph->edges())
    tailEdges += e.kind == EdgeKind::TailCall;
  EXPECT_EQ(tailEdges, 1001u * 1001u);
}

// Decided end to end with the default engine and time limit: every
// program safe, proved by the exhaustive explicit search, each with its own
// kernel stack: t_i's 32 bytes, and the dispatcher's 16 replaced by a
// t_i's 32 after one tail call.
TEST_F(Scale, EveryProgramIsDecidedSafe) {
  VerifyOptions vo;
  Report r = verify(*obj, *graph, vo);
  ASSERT_EQ(r.programs.size(), 1001u);
  EXPECT_EQ(r.verdict, Verdict::Safe);
  for (auto &p : r.programs) {
    EXPECT_EQ(p.verdict, Verdict::Safe) << p.name << ": " << p.reason;
    EXPECT_EQ(p.engine, "explicit") << p.name;
    EXPECT_EQ(p.kernelStackBytes, 32u) << p.name;
  }
  EXPECT_EQ(r.kernelStackWith, 32u);
  // (the figure without private stacks has one --timeout for all programs:
  // under a sanitizer it may be only a lower bound, and says so)
  EXPECT_GE(r.kernelStackWithout, 32u);
}

// The bounded engine's encoding would be a million cases per position: it says so
// instead of handing Z3 something it needs minutes and gigabytes to take in.
TEST_F(Scale, OversizedEncodingIsUnknownWithItsSize) {
  VerifyOptions vo;
  vo.engine = VerifyOptions::Engine::Bounded;
  vo.timeoutSeconds = 2;
  Report r = verify(*obj, *graph, vo);
  ASSERT_EQ(r.programs.size(), 1001u);
  EXPECT_EQ(r.verdict, Verdict::Unknown);
  for (auto &p : r.programs) {
    EXPECT_EQ(p.verdict, Verdict::Unknown) << p.name;
  }
}

// A time limit far below what the search needs: every program's search is
// cut short, and each says so.
TEST_F(Scale, TimeoutIsUnknownNeverSafe) {
  VerifyOptions vo;
  vo.engine = VerifyOptions::Engine::Explicit;
  vo.timeoutSeconds = 0.002;
  Report r = verify(*obj, *graph, vo);
  EXPECT_EQ(r.verdict, Verdict::Unknown);
  size_t timedOut = 0;
  for (auto &p : r.programs) {
    EXPECT_NE(p.verdict, Verdict::Safe) << p.name;
    timedOut += p.reason.find("timeout after 0.002 s") != std::string::npos;
  }
  EXPECT_EQ(timedOut, r.programs.size());
}

// The CLI maps it to exit status 3 (no counterexample, something unknown).
TEST_F(Scale, CliExitsThreeOnTimeout) {
  auto res = test::run({PSTACK_CLI, "--engine", "explicit", "--timeout", "0.002", "--format", "csv",
                        PSTACK_SCALE_OBJ});
  EXPECT_EQ(res.status, 3) << res.err;
}
