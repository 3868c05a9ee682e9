// The case matrix (cases/CMakeLists.txt): every case built by clang-14 (its
// default CPU: the reference build), clang-14 -mcpu=v3, clang-19 -mcpu=v3
// and clang-19 -mcpu=v4. The code differs; the facts must not: the same
// verdict under every scheme of cases/expected.json, the same frame for
// every function, the same edges, the same buffers and kernel-stack figures.
#include "tests/support.h"

#include "model/pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

using namespace pstack;
using nlohmann::json;

namespace {

struct Build {
  const char *name;
  const char *dir;
};
const Build kBuilds[] = {
    {"clang14_v3", PSTACK_CASES_DIR_14V3},
    {"clang19_v3", PSTACK_CASES_DIR_19V3},
    {"clang19_v4", PSTACK_CASES_DIR_19V4},
};

const json &expectedVerdicts() {
  static json table = [] {
    std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/cases/expected.json");
    return json::parse(in)["verdicts"];
  }();
  return table;
}

bool v4Only(const std::string &name) {
  std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/cases/" + name + ".c");
  std::string first;
  std::getline(in, first);
  return first.rfind("// build: clang-19 -mcpu=v4", 0) == 0;
}

// Everything a user sees of one object under one scheme, but instruction
// numbers (which differ between builds).
struct Facts {
  std::string verdict;
  std::map<std::string, uint32_t> frames;
  std::multiset<std::tuple<std::string, std::string, std::string>> edges;
  std::vector<std::pair<std::string, uint64_t>> buffers;
  uint64_t bytesPerCpu = 0, kernelStackWith = 0, kernelStackWithout = 0;
};

Facts facts(const std::string &path, const std::string &env, const std::string &scheme) {
  Pipeline pipe = env.empty() ? openPipeline(path)
                              : openPipeline(path, loadEnvironment(std::string(PSTACK_SOURCE_DIR) +
                                                                   "/cases/" + env),
                                             env);
  const Object &obj = *pipe.object;
  const CallGraph &g = *pipe.graph;
  VerifyOptions o;
  o.scheme = Scheme::Kernel;
  if (scheme.rfind("kernel-", 0) == 0)
    o.kernel = kernelRules(scheme.substr(7));
  else
    o.scheme = *schemeFromName(scheme);
  Report r = pipe.verify(o);
  Facts f;
  f.verdict = verdictName(r.verdict);
  if (r.verdict == Verdict::Unsafe) {
    std::set<std::string> kinds;
    for (auto &v : r.violations)
      kinds.insert(v.kind);
    f.verdict = "unsafe:";
    for (auto &k : kinds)
      f.verdict += (f.verdict.back() == ':' ? "" : ",") + k;
  }
  for (auto &fn : obj.functions) {
    f.frames[fn.name] = fn.frame.bytes;
    EXPECT_TRUE(fn.frame.bounded) << path << " " << fn.name << ": "
                                  << (fn.frame.unbounded.empty() ? "" : fn.frame.unbounded[0].reason);
  }
  for (auto &e : g.edges())
    f.edges.insert({g.nodeName(e.from), g.nodeName(e.to), edgeKindName(e.kind)});
  for (auto &b : r.layout.buffers)
    f.buffers.push_back({b.name, b.bytes});
  f.bytesPerCpu = r.bytesPerCpu;
  f.kernelStackWith = r.kernelStackWith;
  f.kernelStackWithout = r.kernelStackWithout;
  return f;
}

class CaseMatrix : public ::testing::TestWithParam<std::tuple<std::string, size_t>> {};

TEST_P(CaseMatrix, SameVerdictsFramesAndEdgesAsTheReferenceBuild) {
  auto [key, b] = GetParam();
  std::string name = key, env;
  if (auto plus = key.find('+'); plus != std::string::npos) {
    name = key.substr(0, plus);
    env = key.substr(plus + 1);
  }
  if (v4Only(name))
    GTEST_SKIP() << name << " is built by clang-19 -mcpu=v4 only";
  const Build &build = kBuilds[b];
  std::string path = std::string(build.dir) + "/" + name + ".o";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  for (auto &[scheme, want] : expectedVerdicts()[key].items()) {
    if (scheme == "why")
      continue;
    // the reference build's facts, once per process (nested_cycle takes
    // seconds per scheme)
    static std::map<std::string, Facts> refs;
    auto it = refs.find(key + " " + scheme);
    if (it == refs.end())
      it = refs.emplace(key + " " + scheme, facts(test::casePath(name), env, scheme)).first;
    const Facts &ref = it->second;
    Facts got = facts(path, env, scheme);
    EXPECT_EQ(got.verdict, want.get<std::string>()) << build.name << " " << key << " " << scheme;
    EXPECT_EQ(got.verdict, ref.verdict) << build.name << " " << key << " " << scheme;
    EXPECT_EQ(got.frames, ref.frames) << build.name << " " << key;
    EXPECT_EQ(got.edges, ref.edges) << build.name << " " << key;
    EXPECT_EQ(got.buffers, ref.buffers) << build.name << " " << key << " " << scheme;
    EXPECT_EQ(got.bytesPerCpu, ref.bytesPerCpu) << build.name << " " << key << " " << scheme;
    EXPECT_EQ(got.kernelStackWith, ref.kernelStackWith) << build.name << " " << key << " " << scheme;
    EXPECT_EQ(got.kernelStackWithout, ref.kernelStackWithout)
        << build.name << " " << key << " " << scheme;
  }
  // and the frames are the ones cases/cases.json writes down
  if (!test::caseFacts().contains(name))
    return;
  for (auto &[fn, bytes] : test::caseFacts()[name]["frames"].items()) {
    Object obj = loadObject(path);
    const Function *f = obj.function(fn);
    ASSERT_NE(f, nullptr) << build.name << " " << fn;
    EXPECT_EQ(f->frame.bytes, bytes.get<uint32_t>()) << build.name << " " << fn;
  }
}

std::vector<std::tuple<std::string, size_t>> params() {
  std::vector<std::tuple<std::string, size_t>> out;
  for (auto &[k, v] : expectedVerdicts().items())
    for (size_t b = 0; b < std::size(kBuilds); ++b)
      out.push_back({k, b});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Builds, CaseMatrix, ::testing::ValuesIn(params()), [](const auto &info) {
  std::string n = std::get<0>(info.param) + "_" + kBuilds[std::get<1>(info.param)].name;
  for (auto &c : n)
    if (!isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return n;
});

// The builds really differ: clang-14's default CPU has no 32-bit jumps,
// -mcpu=v3 has them, and clang-19 -mcpu=v4 stores immediates (BPF_ST),
// which no other build does. Counted over every case.
TEST(CaseMatrix, TheBuildsDifferInTheirCode) {
  auto count = [](const std::string &dir, auto pred) {
    size_t n = 0;
    for (auto &name : test::caseNames()) {
      if (v4Only(name))
        continue;
      Object obj = loadObject(dir + "/" + name + ".o");
      for (auto &f : obj.functions)
        for (auto &in : f.insns)
          n += pred(in);
    }
    return n;
  };
  auto jmp32 = [](const Insn &in) { return in.cls() == 0x06; };
  auto stImm = [](const Insn &in) { return in.cls() == 0x02; };
  EXPECT_EQ(count(PSTACK_CASES_DIR, jmp32), 0u);
  EXPECT_EQ(count(PSTACK_CASES_DIR, stImm), 0u);
  EXPECT_GT(count(PSTACK_CASES_DIR_14V3, jmp32), 0u);
  EXPECT_EQ(count(PSTACK_CASES_DIR_19V3, stImm), 0u);
  EXPECT_GT(count(PSTACK_CASES_DIR_19V4, stImm), 0u);
}

} // namespace
