// --kernel running: the probe of the running kernel (as root), its per-boot
// cache, the refusal without rights, and the CLI against the running
// kernel's own verifier (../shared/oracle/kernel-verifier --host).
// Tests that need root (loading BPF) skip, saying so, without it.
#include "tests/support.h"

#include "hostkernel/hostkernel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <grp.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace pstack;

namespace {

std::string oracleDir() { return std::string(PSTACK_SOURCE_DIR) + "/../shared/oracle"; }

std::string release() {
  struct utsname u {};
  uname(&u);
  return u.release;
}

std::string answersTable(const HostProbeResult &r) {
  std::ostringstream o;
  o << "running kernel " << r.rules.release << ", bpf_jit_enable " << r.jitEnable << ", round "
    << r.rules.round << ", may_goto slot " << r.rules.mayGotoSlot << "\n";
  for (auto &a : r.answers)
    o << "  " << a.probe << (a.type.empty() ? "" : " (" + a.type + ")") << ": " << a.answer
      << (a.detail.empty() ? "" : " -- " + a.detail) << "\n";
  for (auto &[t, why] : r.rules.unprobedTypes)
    o << "  unprobed " << progTypeName(t) << ": " << why << "\n";
  return o.str();
}

const HostProbeAnswer *answer(const HostProbeResult &r, const std::string &probe) {
  for (auto &a : r.answers)
    if (a.probe == probe)
      return &a;
  return nullptr;
}

std::string freshDir(const std::string &name) {
  std::string d = test::tempPath(name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

#define NEED_ROOT()                                                                                \
  do {                                                                                             \
    if (geteuid() != 0)                                                                            \
      GTEST_SKIP() << "loading BPF programs into the running kernel needs root";                  \
  } while (0)

} // namespace

// This machine's kernel (6.18.44 when written): private stacks for raw_tp,
// tracepoint, perf_event and tp_btf (per ../shared/DESIGN.md "Ground truth"
// and kernel-verifier --host); never for iterators, LSM, writable raw
// tracepoints or the network types (bpf_enable_priv_stack).
TEST(HostKernel, ProbeAnswersPerProgramType) {
  NEED_ROOT();
  HostProbeOptions o;
  o.useCache = false;
  HostProbeResult r = probeRunningKernel(o);
  std::cerr << answersTable(r);
  EXPECT_FALSE(r.fromCache);
  EXPECT_EQ(r.rules.name, "running");
  EXPECT_EQ(r.rules.release, release());
  // rounding: probed, and as the source says for this kernel
  ASSERT_TRUE(answer(r, "round"));
  EXPECT_NE(answer(r, "round")->answer, "unknown") << answer(r, "round")->detail;
  if (r.jitEnable > 0) {
    EXPECT_EQ(r.rules.round, 16u);
  }
  for (ProgType t : {ProgType::Tracepoint, ProgType::RawTracepoint, ProgType::PerfEvent, ProgType::Tracing})
    EXPECT_TRUE(r.rules.givesPrivateStack(t)) << progTypeName(t) << "\n" << answersTable(r);
  for (const char *p : {"tracepoint", "raw_tp", "perf_event", "tp_btf"}) {
    ASSERT_TRUE(answer(r, p)) << p;
    EXPECT_EQ(answer(r, p)->answer, "private") << p << ": " << answer(r, p)->detail;
  }
  // never a private stack (bpf_enable_priv_stack): the probe must have
  // been answered "none" (the 640-byte chain refused for its stack), not
  // merely failed
  for (const char *p : {"iter", "raw_tp.w", "xdp", "socket", "tc"}) {
    ASSERT_TRUE(answer(r, p)) << p;
    EXPECT_EQ(answer(r, p)->answer, "none") << p << ": " << answer(r, p)->detail;
  }
  // raw_tp.w speaks for its own ProgType where the frontend has one
  EXPECT_TRUE(answer(r, "raw_tp.w")->type.empty() || answer(r, "raw_tp.w")->type == "raw_tracepoint_writable")
      << answer(r, "raw_tp.w")->type;
  // fentry and LSM programs need ftrace trampolines: a kernel built without
  // a function tracer (this machine's) loads none of them at all
  ASSERT_TRUE(answer(r, "fentry") && answer(r, "lsm"));
  EXPECT_TRUE(answer(r, "fentry")->answer == "private" || answer(r, "fentry")->answer == "unloadable")
      << answer(r, "fentry")->answer << ": " << answer(r, "fentry")->detail;
  EXPECT_TRUE(answer(r, "lsm")->answer == "none" || answer(r, "lsm")->answer == "unloadable")
      << answer(r, "lsm")->answer << ": " << answer(r, "lsm")->detail;
  for (ProgType t : {ProgType::Iter, ProgType::Lsm, ProgType::Xdp, ProgType::SocketFilter, ProgType::SchedCls})
    EXPECT_FALSE(r.rules.givesPrivateStack(t)) << progTypeName(t);
  // A type is left unprobed only where its attach variants answer
  // differently (6.18.44-fc-v1045: kprobe.multi private, kprobe none;
  // other builds of the same release give all of them private stacks):
  // its programs are then `unknown` under --kernel running, never guessed.
  for (auto &[t, why] : r.rules.unprobedTypes) {
    EXPECT_EQ(t, ProgType::Kprobe) << progTypeName(t) << ": " << why;
    EXPECT_NE(why.find("its variants differ"), std::string::npos) << why;
    EXPECT_NE(answer(r, "kprobe")->answer, answer(r, "kprobe.multi")->answer) << why;
    // each variant's own answer is kept, for the programs of that variant
    for (const char *v : {"kprobe", "kprobe.multi"})
      EXPECT_EQ(r.rules.privateByVariant.at(v), answer(r, v)->answer == "private") << v;
  }
  // kprobe: this kernel build's own answer (builds differ); where the
  // variants agree, the type follows them
  const HostProbeAnswer *kp = answer(r, "kprobe");
  ASSERT_TRUE(kp);
  for (const char *p : {"kprobe.multi", "uprobe.multi", "uprobe.s"})
    ASSERT_TRUE(answer(r, p)) << p;
  if (!r.rules.unprobedTypes.count(ProgType::Kprobe)) {
    EXPECT_EQ(r.rules.givesPrivateStack(ProgType::Kprobe), kp->answer == "private");
  }
  EXPECT_EQ(r.rules.privateStackMin, 64u);
  EXPECT_EQ(r.rules.bpfLoopInline, 24u);
}

TEST(HostKernel, CacheRoundTripsAndACorruptFileIsRewritten) {
  NEED_ROOT();
  HostProbeOptions o;
  o.cacheDir = freshDir("hostkernel-cache");
  std::string path = hostKernelCachePath(o);
  EXPECT_EQ(path, o.cacheDir + "/kernel-running.json");
  HostProbeResult first = probeRunningKernel(o);
  EXPECT_FALSE(first.fromCache);
  EXPECT_EQ(first.cachePath, path);
  ASSERT_TRUE(std::filesystem::exists(path)) << first.cacheNote;

  HostProbeResult second = probeRunningKernel(o);
  EXPECT_TRUE(second.fromCache);
  EXPECT_EQ(second.rules.release, first.rules.release);
  EXPECT_EQ(second.rules.round, first.rules.round);
  EXPECT_EQ(second.rules.privateStackTypes, first.rules.privateStackTypes);
  EXPECT_EQ(second.rules.unprobedTypes, first.rules.unprobedTypes);
  EXPECT_EQ(second.rules.privateByVariant, first.rules.privateByVariant);
  EXPECT_EQ(second.rules.mayGotoSlot, first.rules.mayGotoSlot);
  EXPECT_EQ(second.answers.size(), first.answers.size());

  // the second call read the file: what the file says is what comes back
  auto j = nlohmann::json::parse(std::ifstream(path));
  j["release"] = "from-the-cache";
  std::ofstream(path) << j.dump();
  EXPECT_EQ(runningKernelRules(o).release, "from-the-cache");

  // another boot's answer is not used, and is replaced
  j["boot_id"] = "00000000-0000-0000-0000-000000000000";
  std::ofstream(path) << j.dump();
  HostProbeResult other = probeRunningKernel(o);
  EXPECT_FALSE(other.fromCache);
  EXPECT_EQ(other.rules.release, release());
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(path))["boot_id"], other.bootId);

  // corrupt: ignored, probed again, rewritten
  for (const char *bad : {"{ not json", "", "{\"schema\": \"pstack-verify/kernel-running/1\"}",
                          "[1, 2, 3]"}) {
    std::ofstream(path, std::ios::trunc) << bad;
    HostProbeResult again = probeRunningKernel(o);
    EXPECT_FALSE(again.fromCache) << bad;
    EXPECT_EQ(again.rules.privateStackTypes, first.rules.privateStackTypes) << bad;
    auto rewritten = nlohmann::json::parse(std::ifstream(path), nullptr, false);
    ASSERT_FALSE(rewritten.is_discarded()) << bad;
    EXPECT_EQ(rewritten["release"], release()) << bad;
    EXPECT_TRUE(probeRunningKernel(o).fromCache) << bad;
  }
}

// Without the rights to load BPF: exit 2, saying why and what to do instead.
TEST(HostKernel, WithoutRightsTheCliExits2SayingSo) {
  if (geteuid() != 0)
    GTEST_SKIP() << "dropping to an unprivileged user needs root to start from";
  if (!std::filesystem::exists("/usr/bin/setpriv"))
    GTEST_SKIP() << "no setpriv(1) to drop privileges";
  std::string cache = freshDir("hostkernel-nobody");
  std::filesystem::permissions(cache, std::filesystem::perms::all);
  auto r = test::run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "/usr/bin/env", "XDG_CACHE_HOME=" + cache, PSTACK_CLI, "--kernel", "running",
                      test::casePath("kprobe_chain")});
  if (r.status == 126 || r.status == 127)
    GTEST_SKIP() << "the CLI cannot be run as uid 65534 from where it was built:\n" << r.err;
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--kernel running: cannot load BPF programs into the running kernel ("),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("run as root, or name the kernel with --kernel 6.1|6.6|6.12|6.13"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// The library says so too (HostKernelError), in a child that drops root.
TEST(HostKernel, WithoutRightsTheLibraryThrows) {
  if (geteuid() != 0)
    GTEST_SKIP() << "dropping to an unprivileged user needs root to start from";
  std::string cache = freshDir("hostkernel-nobody-lib");
  std::filesystem::permissions(cache, std::filesystem::perms::all);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    int code = 3;
    std::string msg;
    if (setgroups(0, nullptr) == 0 && setresgid(65534, 65534, 65534) == 0 &&
        setresuid(65534, 65534, 65534) == 0) {
      HostProbeOptions o;
      o.cacheDir = cache;
      try {
        runningKernelRules(o);
        code = 1;
      } catch (const HostKernelError &e) {
        msg = e.what();
        code = 0;
      } catch (...) {
        code = 4;
      }
    }
    (void)!write(pipefd[1], msg.data(), msg.size());
    _exit(code);
  }
  close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;)
    msg.append(buf, size_t(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error, 3: could not drop root, 4: another exception";
  EXPECT_NE(msg.find("cannot load BPF programs into the running kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Operation not permitted"), std::string::npos) << msg;
}

// pstack-verify --kernel running against the running kernel's verifier, on
// the case whose answer depends on the kernel build: a kprobe chain of four
// 160-byte frames (640 bytes).
TEST(HostKernel, CliAgreesWithTheRunningKernelOnKprobeChain) {
  NEED_ROOT();
  if (!std::filesystem::exists(oracleDir() + "/kernel-verifier"))
    GTEST_SKIP() << "../shared/oracle is not present";
  auto oracle = test::run({"/bin/bash", oracleDir() + "/kernel-verifier", "--host",
                           test::casePath("kprobe_chain")});
  ASSERT_EQ(oracle.status, 0) << oracle.out << oracle.err;
  std::optional<int> load;
  std::istringstream in(oracle.out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("ORACLE ", 0) == 0 && line.find(" kchain load=") != std::string::npos)
      load = std::stoi(line.substr(line.find("load=") + 5));
  ASSERT_TRUE(load) << oracle.out;

  std::string cache = freshDir("hostkernel-cli");
  auto r = test::run({"/usr/bin/env", "XDG_CACHE_HOME=" + cache, PSTACK_CLI, "--kernel", "running",
                      "--format", "json", test::casePath("kprobe_chain")});
  ASSERT_TRUE(r.status == 0 || r.status == 1) << r.out << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["kernel"], "running");
  EXPECT_EQ(doc["kernel_release"], release());
  // what the probe found is in the document
  HostProbeOptions o;
  o.cacheDir = cache + "/pstack-verify";
  KernelRules k = runningKernelRules(o); // the CLI's cache
  EXPECT_EQ(doc["kernel_rules"]["round"], k.round);
  EXPECT_EQ(doc["kernel_rules"]["private_stack_types"].size(), k.privateStackTypes.size());
  EXPECT_EQ(doc["kernel_rules"]["unprobed_types"].size(), k.unprobedTypes.size());
  std::string verdict;
  for (auto &p : doc["objects"][0]["programs"])
    if (p["name"] == "kchain")
      verdict = p["verdict"];
  bool limited = false;
  for (auto &v : doc["objects"][0]["violations"])
    limited |= v["kind"] == "kernel_limit" && v["program"] == "kchain";
  EXPECT_EQ(*load == 0, verdict == "safe") << oracle.out << r.out;
  EXPECT_EQ(*load != 0, limited) << oracle.out << r.out;
  // the answer was cached for the next run
  EXPECT_TRUE(std::filesystem::exists(cache + "/pstack-verify/kernel-running.json"));
}

// A program type the probe could not settle is never reported safe: pinned.o's
// kprobe programs (safe under every table) come back unknown, saying why.
TEST(HostKernel, AProgramOfAnUnprobedTypeIsNeverSafe) {
  Object obj = test::loadCase("pinned");
  CallGraph g(obj);
  VerifyOptions o;
  o.engine = VerifyOptions::Engine::Explicit;
  o.kernel = kernelRules("6.13");
  Report before = verify(obj, g, o);
  ASSERT_EQ(before.verdict, Verdict::Safe);
  o.kernel.name = "running";
  o.kernel.privateStackTypes.erase(ProgType::Kprobe);
  o.kernel.unprobedTypes[ProgType::Kprobe] = "probe refused for another reason than its stack: kprobe (test)";
  Report r = verify(obj, g, o);
  EXPECT_EQ(r.verdict, Verdict::Unknown);
  ASSERT_FALSE(r.programs.empty());
  for (auto &p : r.programs) {
    EXPECT_EQ(p.verdict, Verdict::Unknown) << p.name;
    EXPECT_NE(p.reason.find("could not be asked whether kprobe programs get a private stack"),
              std::string::npos)
        << p.reason;
  }
}

// Where a type's attach variants answered differently, each program follows
// its own section's variant (kretprobe and uprobe load as kprobe does); a
// variant nobody probed stays unknown, never safe.
TEST(HostKernel, AProgramFollowsTheVariantOfItsSection) {
  KernelRules k = kernelRules("6.13");
  k.name = "running";
  k.privateStackTypes.erase(ProgType::Kprobe);
  k.unprobedTypes[ProgType::Kprobe] = "its variants differ: private stacks for kprobe.multi, none for kprobe";
  k.privateByVariant = {{"kprobe", false}, {"kprobe.multi", true}};
  auto prog = [](const char *section) {
    Program p;
    p.section = section;
    p.type = ProgType::Kprobe;
    return p;
  };
  EXPECT_EQ(k.givesPrivateStack(prog("kprobe/do_nanosleep")), std::optional<bool>(false));
  EXPECT_EQ(k.givesPrivateStack(prog("kretprobe/do_nanosleep")), std::optional<bool>(false));
  EXPECT_EQ(k.givesPrivateStack(prog("uprobe/bin:fn")), std::optional<bool>(false));
  EXPECT_EQ(k.givesPrivateStack(prog("kprobe.multi/do_*")), std::optional<bool>(true));
  EXPECT_EQ(k.givesPrivateStack(prog("kretprobe.multi/do_*")), std::optional<bool>(true));
  EXPECT_EQ(k.givesPrivateStack(prog("kprobe.session/do_*")), std::nullopt);
  Program tp = prog("tracepoint/syscalls/sys_enter_read");
  tp.type = ProgType::Tracepoint;
  EXPECT_EQ(k.givesPrivateStack(tp), std::optional<bool>(true));

  // pinned.o's kprobes (plain kprobe/ sections): decided as "none" now,
  // where before the whole type made them unknown
  Object obj = test::loadCase("pinned");
  CallGraph g(obj);
  VerifyOptions o;
  o.engine = VerifyOptions::Engine::Explicit;
  o.kernel = k;
  Report r = verify(obj, g, o);
  EXPECT_EQ(r.verdict, Verdict::Safe);
  k.privateByVariant.erase("kprobe");
  o.kernel = k;
  EXPECT_EQ(verify(obj, g, o).verdict, Verdict::Unknown);
}
