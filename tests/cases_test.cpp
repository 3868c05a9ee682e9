// Every case of cases/cases.json: programs, frames, edges and maps as the
// frontend reads them from the object clang built, against the facts
// written down from llvm-objdump and the real kernel.
#include "tests/support.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <tuple>

using namespace pstack;
using nlohmann::json;

class CaseTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CaseTest, ProgramsSectionsTypesFunctions) {
  const json &facts = test::caseFacts()[GetParam()];
  Object obj = test::loadCase(GetParam());
  ASSERT_EQ(obj.programs.size(), facts["programs"].size());
  for (auto &[name, p] : facts["programs"].items()) {
    const Program *prog = obj.program(name);
    ASSERT_NE(prog, nullptr) << name;
    EXPECT_EQ(prog->section, p["section"].get<std::string>()) << name;
    std::string type = p["type"];
    if (type == "unknown" || obj.functions[prog->entry].section.rfind(".text", 0) == 0)
      EXPECT_EQ(prog->type, ProgType::Unknown) << name;
    else
      EXPECT_EQ(progTypeName(prog->type), type) << name;
    std::set<std::string> want, got;
    for (auto &f : p["functions"])
      want.insert(f.get<std::string>());
    for (size_t f : prog->functions)
      got.insert(obj.functions[f].name);
    EXPECT_EQ(got, want) << name;
    EXPECT_EQ(obj.functions[prog->functions.front()].name, name) << "entry first";
  }
}

TEST_P(CaseTest, FrameSizes) {
  const json &facts = test::caseFacts()[GetParam()];
  Object obj = test::loadCase(GetParam());
  for (auto &[name, bytes] : facts["frames"].items()) {
    const Function *f = obj.function(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->frame.bytes, bytes.get<uint32_t>()) << name;
    EXPECT_TRUE(f->frame.bounded) << name << ": "
                                  << (f->frame.unbounded.empty() ? "" : f->frame.unbounded[0].reason);
  }
}

TEST_P(CaseTest, EdgesMatchObjdump) {
  const json &facts = test::caseFacts()[GetParam()];
  Object obj = test::loadCase(GetParam());
  CallGraph g(obj);
  using E = std::tuple<std::string, std::string, std::string, uint32_t>;
  std::set<E> want, got;
  for (auto &e : facts["edges"])
    want.insert({e["from"], e["to"], e["kind"], e["insn"].get<uint32_t>()});
  for (auto &e : g.edges()) {
    const Function &from = obj.functions[g.nodes()[e.from].function];
    got.insert({g.nodeName(e.from), g.nodeName(e.to), edgeKindName(e.kind),
                from.sectionInsn(e.insn)});
  }
  EXPECT_EQ(got, want);
  // async flags of callbacks
  for (auto &e : facts["edges"])
    if (e["kind"] == "callback")
      for (auto &ge : g.edges()) {
        if (ge.kind == EdgeKind::Callback && g.nodeName(ge.to) == e["to"].get<std::string>()) {
          EXPECT_EQ(ge.async, e["async"].get<bool>()) << e.dump();
        }
      }
}

TEST_P(CaseTest, Maps) {
  const json &facts = test::caseFacts()[GetParam()];
  Object obj = test::loadCase(GetParam());
  for (auto &[name, m] : facts["maps"].items()) {
    const Map *map = obj.map(name);
    ASSERT_NE(map, nullptr) << name;
    EXPECT_EQ(map->type, m["type"].get<uint32_t>()) << name;
    EXPECT_EQ(map->maxEntries, m["max_entries"].get<uint32_t>()) << name;
    if (m.contains("slots")) {
      std::map<uint32_t, std::string> want;
      for (auto &[k, v] : m["slots"].items())
        want[uint32_t(std::stoul(k))] = v;
      EXPECT_EQ(map->progSlots, want) << name;
    }
  }
}

TEST_P(CaseTest, EveryInstructionHasSourceLine) {
  Object obj = test::loadCase(GetParam());
  EXPECT_EQ(obj.lineInfoSource, "BTF.ext");
  for (auto &f : obj.functions)
    for (auto &in : f.insns) {
      ASSERT_TRUE(in.loc) << f.name << " insn " << in.index;
      EXPECT_EQ(in.loc->file.substr(in.loc->file.rfind('/') + 1),
                test::caseFacts()[GetParam()]["source"].get<std::string>());
    }
}

// The same object with .BTF.ext removed falls back to DWARF's .debug_line,
// read by our own parser: it names the same file, line and column as BTF
// for every instruction BTF gives a statement position (column > 0; BTF's
// column-0 records mark a function's declaration line, DWARF its body).
TEST_P(CaseTest, DwarfLinesAgreeWithBtfLines) {
  if (system("command -v llvm-objcopy-14 >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "llvm-objcopy-14 is not installed";
  std::string stripped = test::tempPath(GetParam() + ".dwarf-only.o");
  std::string cmd = "llvm-objcopy-14 --remove-section .BTF.ext '" + test::casePath(GetParam()) +
                    "' '" + stripped + "'";
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  Object btf = test::loadCase(GetParam());
  Object dwarf = loadObject(stripped);
  EXPECT_EQ(dwarf.lineInfoSource, "DWARF");
  ASSERT_EQ(btf.functions.size(), dwarf.functions.size());
  size_t compared = 0;
  for (size_t i = 0; i < btf.functions.size(); ++i)
    for (size_t k = 0; k < btf.functions[i].insns.size(); ++k) {
      const auto &b = btf.functions[i].insns[k].loc;
      const auto &d = dwarf.functions[i].insns[k].loc;
      ASSERT_TRUE(d) << btf.functions[i].name << " insn " << k;
      if (!b || b->column == 0)
        continue;
      ++compared;
      EXPECT_EQ(d->file, b->file) << btf.functions[i].name << " insn " << k;
      EXPECT_EQ(d->line, b->line) << btf.functions[i].name << " insn " << k;
      EXPECT_EQ(d->column, b->column) << btf.functions[i].name << " insn " << k;
    }
  EXPECT_GT(compared, 10u);
}

// DWARF's lines (no .BTF.ext): the paths the table made stay valid when the
// object moves and when only a copied instruction is left of it.
TEST(Recursion, DwarfSourceLinesOutliveTheObject) {
  if (system("command -v llvm-objcopy-14 >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "llvm-objcopy-14 is not installed";
  std::string stripped = test::tempPath("recursion.dwarf-lifetime.o");
  std::string cmd = "llvm-objcopy-14 --remove-section .BTF.ext '" + test::casePath("recursion") +
                    "' '" + stripped + "'";
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  std::optional<Object> first(loadObject(stripped));
  ASSERT_EQ(first->lineInfoSource, "DWARF");
  const Insn *at = first->function("subprog1")->insnAt(7);
  ASSERT_TRUE(at && at->loc);
  const std::string where = at->loc->str();
  EXPECT_NE(where.find("recursion.c:27"), std::string::npos) << where;
  Object moved = std::move(*first);
  first.reset();
  Insn kept = *moved.function("subprog1")->insnAt(7);
  { Object gone = std::move(moved); }
  ASSERT_TRUE(kept.loc);
  EXPECT_EQ(kept.loc->str(), where);
  EXPECT_EQ(kept.loc->toSourceLoc().str(), where);
}

INSTANTIATE_TEST_SUITE_P(Cases, CaseTest, ::testing::ValuesIn(test::caseNames()),
                         [](const auto &info) { return info.param; });

// ----------------------------------------------------------- specific facts

TEST(Recursion, TailCallSiteResolvesToEntryThroughSlotZero) {
  Object obj = test::loadCase("recursion");
  const Function *sub = obj.function("subprog1");
  ASSERT_NE(sub, nullptr);
  ASSERT_EQ(sub->tailCalls.size(), 1u);
  const TailCallSite &tc = sub->tailCalls[0];
  EXPECT_EQ(tc.insn, 7u);
  EXPECT_EQ(tc.map, std::optional<std::string>("jmp_table"));
  EXPECT_EQ(tc.slot, std::optional<int64_t>(0));
  EXPECT_TRUE(tc.resolved);
  EXPECT_EQ(tc.targets, std::vector<std::string>{"entry"});
  CallGraph g(obj);
  auto cycles = g.cycles();
  ASSERT_EQ(cycles.size(), 1u);
  EXPECT_EQ(cycles[0].size(), 2u);
}

TEST(Recursion, TailCallLineNamesTheBpfTailCallSourceLine) {
  Object obj = test::loadCase("recursion");
  const Insn *in = obj.function("subprog1")->insnAt(7);
  ASSERT_NE(in, nullptr);
  ASSERT_TRUE(in->loc);
  EXPECT_NE(in->loc->text.find("bpf_tail_call(ctx, &jmp_table, 0)"), std::string::npos)
      << in->loc->text;
  EXPECT_EQ(in->loc->line, 27u);
}

// Insn::loc views strings of the object's line table: they stay valid when
// the Object moves (the table is not in it), when the Object is gone but an
// instruction copied out of it is not (the handle keeps the table), and in
// a copy of the Object after the original is gone.
TEST(Recursion, SourceLinesOutliveTheObjectTheyCameFrom) {
  std::optional<Object> first(test::loadCase("recursion"));
  const std::string path = first->function("subprog1")->insnAt(7)->loc->str();
  Object moved = std::move(*first);
  first.reset();
  std::optional<Object> copy(moved);
  Insn kept = *moved.function("subprog1")->insnAt(7);
  { Object gone = std::move(moved); }
  for (const Insn *in : {static_cast<const Insn *>(&kept), copy->function("subprog1")->insnAt(7)}) {
    ASSERT_TRUE(in->loc);
    EXPECT_EQ(in->loc->str(), path);
    EXPECT_NE(in->loc->text.find("bpf_tail_call(ctx, &jmp_table, 0)"), std::string::npos);
    EXPECT_EQ(in->loc->line, 27u);
  }
  copy.reset();
  EXPECT_NE(kept.loc->text.find("bpf_tail_call(ctx, &jmp_table, 0)"), std::string::npos);
  SourceLoc owned = kept.loc->toSourceLoc();
  kept = Insn{};
  EXPECT_EQ(owned.str(), path);
  EXPECT_NE(owned.text.find("bpf_tail_call"), std::string::npos);
}

TEST(TailCalls, VariableSlotReachesEveryInitialisedSlotAndEmptyMapIsUnresolved) {
  Object obj = test::loadCase("tailcalls");
  const Function *d = obj.function("dispatch");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->tailCalls.size(), 3u);
  EXPECT_EQ(d->tailCalls[0].slot, std::optional<int64_t>(1));
  EXPECT_EQ(d->tailCalls[0].targets, std::vector<std::string>{"t1"});
  EXPECT_TRUE(d->tailCalls[0].resolved);
  EXPECT_FALSE(d->tailCalls[1].slot.has_value());
  // a variable slot: every xdp program, since user space may fill any slot
  EXPECT_EQ(d->tailCalls[1].targets, (std::vector<std::string>{"t0", "t1", "t2", "dispatch"}));
  EXPECT_FALSE(d->tailCalls[1].resolved);
  EXPECT_EQ(d->tailCalls[2].map, std::optional<std::string>("empty"));
  EXPECT_FALSE(d->tailCalls[2].resolved);
  EXPECT_EQ(d->tailCalls[2].targets.size(), 4u); // every xdp program
}

TEST(Callbacks, SyncAndAsyncWithTheHelperThatTakesThem) {
  Object obj = test::loadCase("callbacks");
  auto cb = [&](const std::string &fn) {
    const Function *f = obj.function(fn);
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(f->callbacks.size(), 1u) << fn;
    return f->callbacks.at(0);
  };
  EXPECT_EQ(cb("loop_prog").via, "bpf_loop");
  EXPECT_FALSE(cb("loop_prog").async);
  EXPECT_EQ(cb("each_prog").via, "bpf_for_each_map_elem");
  EXPECT_FALSE(cb("each_prog").async);
  EXPECT_EQ(cb("timer_prog").via, "bpf_timer_set_callback");
  EXPECT_TRUE(cb("timer_prog").async);
}

TEST(Kfuncs, CallsAreKfuncsByExternSymbol) {
  Object obj = test::loadCase("kfuncs");
  std::set<std::string> kfuncs;
  for (auto &f : obj.functions)
    for (auto &c : f.calls)
      if (c.kind == CallKind::Kfunc)
        kfuncs.insert(c.target);
  std::set<std::string> want;
  for (auto &k : test::caseFacts()["kfuncs"]["kfunc_calls"])
    want.insert(k.is_string() ? k.get<std::string>() : k["kfunc"].get<std::string>());
  EXPECT_EQ(kfuncs, want);
}

TEST(Frames, DeepestAccessIsRecordedWithItsInstruction) {
  Object obj = test::loadCase("frames");
  const Function *f = obj.function("fr_257");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->frame.bytes, 264u);
  ASSERT_TRUE(f->frame.deepestInsn.has_value());
  bool found = false;
  for (auto &a : f->stackAccesses)
    found |= a.lo == -257;
  EXPECT_TRUE(found) << "an access at r10-257";
}

TEST(CallGraph, DeepestChainCountsFramesWithKernelRounding) {
  Object obj = test::loadCase("over_limit_chain");
  CallGraph g(obj);
  auto c16 = g.deepestChain(0, 16), c32 = g.deepestChain(0, 32);
  EXPECT_EQ(c16.frames, 4u);
  EXPECT_EQ(c16.bytes, 640u);
  EXPECT_EQ(c32.bytes, 640u);
  Object depth = test::loadCase("over_limit_depth");
  CallGraph gd(depth);
  auto d16 = gd.deepestChain(0, 16), d32 = gd.deepestChain(0, 32);
  EXPECT_EQ(d16.frames, 9u);
  EXPECT_EQ(d16.bytes, 9u * 16); // 8-byte frames, rounded to 16 (6.12+, JITed)
  EXPECT_EQ(d32.bytes, 9u * 32); // ... and to 32 (6.1)
  Object frames = test::loadCase("frames");
  CallGraph gf(frames);
  // `frames` calls fr_none (0 bytes): 6.1 still counts 32 for it
  EXPECT_GT(gf.deepestChain(0, 32).bytes, gf.deepestChain(0, 16).bytes);
}

TEST(CallGraph, DotNamesEveryNodeAndEdgeKind) {
  Object obj = test::loadCase("recursion");
  CallGraph g(obj);
  std::string dot = g.dot();
  EXPECT_NE(dot.find("digraph callgraph"), std::string::npos);
  EXPECT_NE(dot.find("subprog1\\n64 B"), std::string::npos);
  EXPECT_NE(dot.find("tail_call @7"), std::string::npos);
  EXPECT_NE(dot.find("call @4"), std::string::npos);
}

// Ground truth: the kernel's verifier printed `stack depth A+B+...` for each
// program (cases.json, from ../shared/oracle/kernel-verifier --host: 6.18,
// and --image 6.12). Our frames, with the 24 bytes the kernel adds to a
// caller of an inlined bpf_loop and the hidden slot it adds to a function
// with a may_goto (8 bytes on 6.12; 16 on 6.18, whose x86-64 JIT has the
// timed may_goto), must be the same multiset.
void kernelAgreement(const char *detail, uint32_t mayGotoSlot, int least);
namespace {
bool hasMayGoto(const Function &f) {
  for (auto &in : f.insns)
    if (in.opcode == 0xe5) // BPF_JMP | BPF_JCOND
      return true;
  return false;
}
} // namespace

TEST(KernelAgreement, FramesMatchTheVerifiersStackDepthLine) {
  for (auto [detail, mayGotoSlot, least] :
       {std::tuple<const char *, uint32_t, int>{"6.18_detail", 16, 20}, {"6.12_detail", 8, 8},
        {"6.1_detail", 0, 20}})
    kernelAgreement(detail, mayGotoSlot, least);
}

void kernelAgreement(const char *detail, uint32_t mayGotoSlot, int least) {
  int compared = 0, withMayGoto = 0;
  for (const auto &name : test::caseNames()) {
    const json &k = test::caseFacts()[name]["kernel"];
    if (!k.contains(detail))
      continue;
    Object obj = test::loadCase(name);
    for (auto &[prog, d] : k[detail].items()) {
      if (!d.contains("stack_depth") || d["stack_depth"].is_null() || d["load"] != 0)
        continue; // a rejected program's line stops where the verifier did
      std::multiset<uint32_t> kernel, ours;
      std::string s = d["stack_depth"];
      for (size_t at = 0; at <= s.size();) {
        size_t plus = s.find('+', at);
        kernel.insert(uint32_t(std::stoul(s.substr(at, plus - at))));
        at = plus == std::string::npos ? s.size() + 1 : plus + 1;
      }
      const Program *p = obj.program(prog);
      ASSERT_NE(p, nullptr) << name << "/" << prog;
      for (size_t f : p->functions) {
        const Function &fn = obj.functions[f];
        uint32_t b = fn.frame.bytes;
        for (auto &cb : fn.callbacks)
          if (cb.via == "bpf_loop")
            b += 24; // inlined bpf_loop keeps its state in the caller's frame
        if (hasMayGoto(fn)) {
          b += mayGotoSlot;
          ++withMayGoto;
        }
        ours.insert(b);
      }
      EXPECT_EQ(ours, kernel) << detail << " " << name << "/" << prog << ": kernel says " << s;
      ++compared;
    }
  }
  EXPECT_GE(compared, least) << detail;
  if (mayGotoSlot) { // 6.1 has no may_goto
    EXPECT_EQ(withMayGoto, 2) << detail << ": may_goto.c's mg_loop and mg_sub";
  }
}
