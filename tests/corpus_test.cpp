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

// Frame sizes cross-checked against llvm-objdump: every `(r10 - N)` access
// the disassembler shows in a function is within the frame we measured.
TEST_F(Corpus, FramesCoverEveryR10OffsetLlvmObjdumpShows) {
  if (system("command -v llvm-objdump-14 >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "llvm-objdump-14 is not installed";
  int objects = 0, accesses = 0;
  for (auto &e : fs::recursive_directory_iterator(test::corpusDir())) {
    if (!e.is_regular_file() || e.path().extension() != ".o")
      continue;
    Object o;
    try {
      o = loadObject(e.path().string());
    } catch (const InputError &) {
      continue;
    }
    ++objects;
    std::string cmd = "llvm-objdump-14 -d --no-show-raw-insn '" + e.path().string() + "' 2>/dev/null";
    FILE *p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[4096];
    std::string section;
    const Function *fn = nullptr;
    while (fgets(buf, sizeof buf, p)) {
      std::string line = buf;
      if (line.rfind("Disassembly of section ", 0) == 0) {
        section = line.substr(23, line.find(':', 23) - 23);
        fn = nullptr;
        for (auto &f : o.functions)
          if (f.section == section && f.offset == 0)
            fn = &f;
        continue;
      }
      // "0000000000000068 <name>:" — a function, or a branch label inside one
      if (auto lt = line.find(" <"); lt != std::string::npos && line.find(">:") != std::string::npos) {
        std::string name = line.substr(lt + 2, line.find(">:") - lt - 2);
        for (auto &f : o.functions)
          if (f.section == section && (f.name == name || f.name == section + ":" + name))
            fn = &f;
        continue;
      }
      auto at = line.find("(r10 - ");
      if (at == std::string::npos || !fn)
        continue;
      uint32_t n = uint32_t(std::stoul(line.substr(at + 7)));
      ++accesses;
      EXPECT_GE(fn->frame.bytes, n) << e.path() << " " << fn->name << ": " << line;
    }
    pclose(p);
  }
  EXPECT_GT(objects, 140);
  EXPECT_GT(accesses, 10000) << "the corpus has tens of thousands of stack accesses";
}
