// Ground truth, live: the real kernel verifier (../shared/oracle) against
// the kernel scheme. `--host` loads into the running kernel (6.18, private
// stacks: our --kernel 6.13 rules); without it, Debian's 6.1 boots under
// qemu (our --kernel 6.1). Skipped, saying why, where that is not possible.
// ctest label: oracle.
#include "tests/support.h"

#include "model/model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

using namespace pstack;

namespace {

struct OracleProgram {
  int load = 0;
  std::string stackDepth;
  std::vector<std::string> lines;
};
// object file name -> program -> answer; objects libbpf cannot open are absent
using OracleAnswers = std::map<std::string, std::map<std::string, OracleProgram>>;

std::string oracleDir() { return std::string(PSTACK_SOURCE_DIR) + "/../shared/oracle"; }

std::string skipReason(bool host) {
  if (!std::filesystem::exists(oracleDir() + "/kernel-verifier"))
    return "../shared/oracle is not present";
  if (geteuid() != 0)
    return "the oracle loads BPF programs and installs packages: needs root";
  if (!host && !getenv("CI") && !getenv("PSTACK_ORACLE_QEMU"))
    return "the 6.1 oracle boots qemu (about a minute): set PSTACK_ORACLE_QEMU=1 (CI does)";
  return "";
}

OracleAnswers ask(bool host, std::string &raw) {
  std::vector<std::string> argv{"/bin/bash", oracleDir() + "/kernel-verifier"};
  if (host)
    argv.push_back("--host");
  for (auto &name : test::caseNames())
    argv.push_back(test::casePath(name));
  auto r = test::run(argv);
  raw = r.out + r.err;
  OracleAnswers out;
  std::string object, program;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("ORACLE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string path, prog, load;
      f >> path >> prog >> load;
      // the qemu oracle renames objects <folder>__<file>
      object = std::filesystem::path(path).filename().string();
      if (auto us = object.find("__"); us != std::string::npos)
        object = object.substr(us + 2);
      program = prog;
      if (load.rfind("load=", 0) == 0)
        out[object][program].load = std::stoi(load.substr(5));
      else
        program.clear(); // open-failed
    } else if (!program.empty() && line.rfind("  | ", 0) == 0) {
      std::string text = line.substr(4);
      out[object][program].lines.push_back(text);
      if (text.rfind("stack depth ", 0) == 0)
        out[object][program].stackDepth = text.substr(12);
    }
  }
  return out;
}

// A rejection the stack does not explain (a missing kfunc on 6.1, ...).
bool stackReason(const OracleProgram &p) {
  for (auto &l : p.lines)
    for (const char *k : {"combined stack", "too deep", "Too large", "tail_call", "recursive",
                          "stack depth"})
      if (l.find(k) != std::string::npos && l.find("stack depth") == std::string::npos)
        return true;
  return false;
}

void agree(bool host) {
  std::string why = skipReason(host);
  if (!why.empty())
    GTEST_SKIP() << why;
  std::string raw;
  OracleAnswers answers = ask(host, raw);
  if (answers.empty())
    GTEST_SKIP() << "the oracle gave no answer (cannot load BPF here?):\n" << raw;
  int compared = 0;
  for (auto &name : test::caseNames()) {
    auto it = answers.find(name + ".o");
    if (it == answers.end())
      continue; // libbpf could not open it (cross_section.o): nothing to compare
    Object obj = test::loadCase(name);
    CallGraph g(obj);
    VerifyOptions o;
    o.kernel = host ? KernelVersion::V6_13 : KernelVersion::V6_1;
    o.engine = VerifyOptions::Engine::Explicit;
    Report r = verify(obj, g, o);
    std::set<std::string> limited;
    std::string ours;
    for (auto &v : r.violations)
      if (v.kind == "kernel_limit") {
        limited.insert(v.program);
        ours += "\n  ours: " + v.program + ": " + v.message;
      }
    // libbpf loads the whole object: one rejected program fails them all
    bool kernelAccepts = true, stackRejected = false;
    std::string theirs;
    for (auto &[prog, a] : it->second) {
      kernelAccepts &= a.load == 0;
      stackRejected |= a.load != 0 && stackReason(a);
      for (auto &l : a.lines)
        theirs += "\n  kernel: " + prog + ": " + l;
    }
    if (!kernelAccepts && !stackRejected)
      continue; // rejected for a reason that is not the stack
    EXPECT_EQ(limited.empty(), kernelAccepts)
        << name << " on " << (host ? "the running kernel" : "6.1") << theirs << ours;
    // frames: the kernel's stack depth line against ours (+24 for an
    // inlined bpf_loop), for accepted programs
    if (kernelAccepts)
      for (auto &[prog, a] : it->second) {
        const Program *p = obj.program(prog);
        if (!p || a.stackDepth.empty())
          continue;
        std::multiset<uint32_t> kernel, mine;
        std::istringstream sd(a.stackDepth);
        for (std::string n; std::getline(sd, n, '+');)
          kernel.insert(uint32_t(std::stoul(n)));
        for (size_t f : p->functions) {
          uint32_t b = obj.functions[f].frame.bytes;
          for (auto &cb : obj.functions[f].callbacks)
            b += cb.via == "bpf_loop" ? 24 : 0;
          mine.insert(b);
        }
        EXPECT_EQ(mine, kernel) << name << "/" << prog << ": kernel says " << a.stackDepth;
      }
    ++compared;
  }
  EXPECT_GE(compared, 10) << raw;
}

} // namespace

TEST(Oracle, RunningKernelAgreesWithKernelScheme613) { agree(true); }
TEST(Oracle, Linux61UnderQemuAgreesWithKernelScheme61) { agree(false); }
