// The real-world corpus (../shared/corpus): every object reads without a
// crash — a result or an InputError — and known facts hold.
#include "tests/support.h"

#include "model/model.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace pstack;
namespace fs = std::filesystem;

namespace {
std::string corpus(const std::string &rel) { return test::corpusDir() + "/ebpf-samples/" + rel; }

class Corpus : public ::testing::Test {
protected:
  void SetUp() override {
    if (test::corpusDir().empty())
      GTEST_SKIP() << "../shared/corpus is not present";
  }
};
} // namespace

TEST_F(Corpus, EveryObjectReadsOrGivesAClearError) {
  int ok = 0, errors = 0;
  for (auto &e : fs::recursive_directory_iterator(test::corpusDir())) {
    if (!e.is_regular_file() || e.path().extension() != ".o")
      continue;
    try {
      Object o = loadObject(e.path().string());
      CallGraph g(o);
      for (size_t p = 0; p < o.programs.size(); ++p)
        (void)g.deepestChain(p, 16);
      // every scheme gives a verdict per program; unknown carries a reason
      for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg}) {
        VerifyOptions vo;
        vo.scheme = s;
        vo.timeoutSeconds = 5;
        Report r = verify(o, g, vo);
        EXPECT_EQ(r.programs.size(), o.programs.size());
        for (auto &p : r.programs)
          if (p.verdict == Verdict::Unknown) {
            EXPECT_FALSE(p.reason.empty()) << e.path() << " " << p.name;
          }
        for (auto &v : r.violations)
          EXPECT_FALSE(v.trace.empty()) << e.path() << " " << v.kind;
      }
      ++ok;
    } catch (const InputError &err) {
      EXPECT_NE(std::string(err.what()).find(e.path().string()), std::string::npos);
      ++errors;
    }
  }
  EXPECT_GT(ok, 140) << ok << " read, " << errors << " errors";
}

TEST_F(Corpus, InvalidObjectsAreRejected) {
  for (auto name : {"invalid/badsymsize.o", "invalid/invalid-lddw.o"}) {
    try {
      loadObject(corpus(name));
      ADD_FAILURE() << name << " was read";
    } catch (const InputError &e) {
      SUCCEED() << e.what();
    }
  }
}

TEST_F(Corpus, Bpf2BpfCalls) {
  Object o = loadObject(corpus("build/bpf2bpf.o"));
  ASSERT_EQ(o.programs.size(), 1u);
  const Function *func = o.function("func");
  ASSERT_NE(func, nullptr);
  int local = 0;
  for (auto &c : func->calls)
    local += c.kind == CallKind::Local;
  EXPECT_EQ(local, 2);
  // func passes r10-80 to add1 and add2, which write through it
  EXPECT_GE(func->frame.bytes, 80u);
}

TEST_F(Corpus, Sockex3TailCallsAreUnresolvedAndReachEverySocketProgram) {
  Object o = loadObject(corpus("linux/sockex3_kern.o"));
  EXPECT_EQ(o.programs.size(), 5u);
  const Map *jt = o.map("jmp_table");
  ASSERT_NE(jt, nullptr);
  EXPECT_TRUE(jt->isProgArray());
  EXPECT_FALSE(jt->btfDefined);
  for (auto &f : o.functions)
    for (auto &tc : f.tailCalls) {
      EXPECT_EQ(tc.map, std::optional<std::string>("jmp_table"));
      EXPECT_FALSE(tc.resolved);
      EXPECT_EQ(tc.targets.size(), 5u);
    }
}

TEST_F(Corpus, EmNoneObjectsFromOldLlvmLoad) {
  Object o = loadObject(corpus("bpf_cilium_test/bpf_lb-DLB_L3.o"));
  EXPECT_GE(o.programs.size(), 3u);
  EXPECT_NE(o.program("from_netdev"), nullptr); // named by its symbol
}
