// --kernel running: what the running kernel does with BPF stacks, asked by
// loading small probe programs (load only: nothing is attached, every fd is
// closed at once) and reading the verifier's answer. The answer is cached
// per boot (cache.cpp).
//
// The probes, each a chain of static subprogs built here as raw
// instructions (BPF-to-BPF calls to static subprogs need no BTF):
//  - rounding: a socket filter whose chain is 8 + 496 bytes: 512 when frames
//    are rounded to 16 (JITed, 6.9+), 32 + 512 = 544 when rounded to 32:
//    loaded => 16, "combined stack size" => 32 (any other answer: 32);
//  - private stacks, per program type (and per variant where one ProgType
//    stands for several kernel types or attach types): four frames of 160
//    bytes, 640 in all: loaded => that type gets private stacks (each frame
//    of BPF_PRIV_STACK_MIN_SIZE or more has its own buffer); refused with
//    "combined stack size" => none; refused for any other reason => unknown.
//
// Not probed: struct_ops (a private stack only when the struct_ops map asks
// for one: loading needs a struct_ops map and its BTF, the table's rule
// applies: none), the cgroup, sk_*, lwt, flow_dissector, netfilter, syscall
// and ext types (no kernel gives them private stacks: bpf_enable_priv_stack
// lists none of them), and async callbacks as roots of their own (that needs
// a map with a bpf_timer and its BTF: asyncCallbackRoots stays true, as for
// every kernel in the table).
#include "hostkernel/hostkernel.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace pstack {

// cache.cpp
std::optional<HostProbeResult> readHostProbeCache(const std::string &path, const std::string &bootId,
                                                  int jitEnable, std::string &note);
bool writeHostProbeCache(const std::string &path, const HostProbeResult &r, std::string &note);
std::optional<ProgType> progTypeNamed(const std::string &name);

namespace {

#ifndef BPF_F_SLEEPABLE
#define BPF_F_SLEEPABLE (1U << 4)
#endif
// enum bpf_attach_type values newer than Debian 12's <linux/bpf.h> (6.1)
constexpr uint32_t kTraceUprobeMulti = 48; // BPF_TRACE_UPROBE_MULTI (6.6)

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

// A chain of functions, function i touching sizes[i] bytes below r10 and
// calling function i + 1: *(u64 *)(r10 - S) = 0; call +2; r0 = 0; exit.
std::vector<bpf_insn> chain(const std::vector<int16_t> &sizes) {
  std::vector<bpf_insn> p;
  for (size_t i = 0; i < sizes.size(); ++i) {
    p.push_back(insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, int16_t(-sizes[i]), 0));
    if (i + 1 < sizes.size())
      p.push_back(insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 2)); // next function: 2 insns on
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
    p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  }
  return p;
}

struct ProbeSpec {
  const char *probe;            // as libbpf's SEC() prefix names it
  std::optional<ProgType> type; // the ProgType it speaks for (none: not representable)
  bpf_prog_type progType;
  uint32_t attach = 0;          // expected_attach_type
  uint32_t flags = 0;           // prog_flags
  const char *btfName = nullptr; // attach_btf_id: this vmlinux BTF type ...
  int btfKind = 0;               // ... of this kind
};

// Every variant of a ProgType is probed: the type gets private stacks only
// when all of its variants do (libbpf's kprobe, uprobe, kprobe.multi,
// uprobe.multi and uprobe.s are all ProgType::Kprobe; tp_btf and fentry are
// both ProgType::Tracing).
const std::vector<ProbeSpec> &probes() {
  static const std::vector<ProbeSpec> specs = {
      {"kprobe", ProgType::Kprobe, BPF_PROG_TYPE_KPROBE},
      {"kprobe.multi", ProgType::Kprobe, BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI},
      {"uprobe.multi", ProgType::Kprobe, BPF_PROG_TYPE_KPROBE, kTraceUprobeMulti},
      {"uprobe.s", ProgType::Kprobe, BPF_PROG_TYPE_KPROBE, 0, BPF_F_SLEEPABLE},
      {"tracepoint", ProgType::Tracepoint, BPF_PROG_TYPE_TRACEPOINT},
      {"raw_tp", ProgType::RawTracepoint, BPF_PROG_TYPE_RAW_TRACEPOINT},
      // its own kernel type: used once the frontend has a ProgType for it
      // (by name: "raw_tracepoint_writable"), else answered and reported only
      {"raw_tp.w", progTypeNamed("raw_tracepoint_writable"), BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE},
      {"perf_event", ProgType::PerfEvent, BPF_PROG_TYPE_PERF_EVENT},
      {"tp_btf", ProgType::Tracing, BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, 0,
       "btf_trace_sched_switch", BTF_KIND_TYPEDEF},
      {"fentry", ProgType::Tracing, BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, 0, "bpf_fentry_test1",
       BTF_KIND_FUNC},
      {"iter", ProgType::Iter, BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, 0, "bpf_iter_task",
       BTF_KIND_FUNC},
      {"lsm", ProgType::Lsm, BPF_PROG_TYPE_LSM, BPF_LSM_MAC, 0, "bpf_lsm_file_open", BTF_KIND_FUNC},
      {"xdp", ProgType::Xdp, BPF_PROG_TYPE_XDP},
      {"socket", ProgType::SocketFilter, BPF_PROG_TYPE_SOCKET_FILTER},
      {"tc", ProgType::SchedCls, BPF_PROG_TYPE_SCHED_CLS},
  };
  return specs;
}

struct Load {
  bool loaded = false;
  int err = 0;
  std::string log;
};

Load load(const ProbeSpec &s, const std::vector<bpf_insn> &insns, uint32_t attachBtfId) {
  std::vector<char> logBuf(1 << 16); // per call: callers may probe from several threads
  Load out;
  for (int attempt = 0; attempt < 5; ++attempt) {
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    std::fill(logBuf.begin(), logBuf.end(), 0);
    static const char license[] = "GPL";
    a.prog_type = s.progType;
    a.insns = uint64_t(uintptr_t(insns.data()));
    a.insn_cnt = uint32_t(insns.size());
    a.license = uint64_t(uintptr_t(license));
    a.log_level = 1;
    a.log_buf = uint64_t(uintptr_t(logBuf.data()));
    a.log_size = uint32_t(logBuf.size());
    a.prog_flags = s.flags;
    a.expected_attach_type = s.attach;
    a.attach_btf_id = attachBtfId;
    std::strncpy(a.prog_name, "pstack_probe", sizeof a.prog_name - 1);
    long fd = syscall(__NR_bpf, BPF_PROG_LOAD, &a, sizeof a);
    out.err = fd < 0 ? errno : 0;
    out.log.assign(logBuf.data(), strnlen(logBuf.data(), logBuf.size()));
    if (fd >= 0) {
      close(int(fd));
      out.loaded = true;
      return out;
    }
    if (out.err != EAGAIN && out.err != EINTR)
      break;
  }
  return out;
}

std::string lastLine(const std::string &log) {
  std::istringstream in(log);
  std::string last;
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l.rfind("processed ", 0) != 0 && l.rfind("verification time", 0) != 0 &&
        l.rfind("stack depth", 0) != 0)
      last = l;
  return last;
}

std::string why(const Load &l) {
  std::string d = std::strerror(l.err);
  if (auto last = lastLine(l.log); !last.empty())
    d += ": " + last;
  return d;
}

bool stackRefusal(const Load &l) { return l.log.find("combined stack size") != std::string::npos; }

[[noreturn]] void noRights(const std::string &what) {
  throw HostKernelError("--kernel running: cannot load BPF programs into the running kernel (" + what +
                        "): run as root, or name the kernel with --kernel 6.1|6.6|6.12|6.13");
}

std::string readLine(const std::string &path) {
  std::ifstream in(path);
  std::string l;
  std::getline(in, l);
  while (!l.empty() && (l.back() == '\n' || l.back() == ' '))
    l.pop_back();
  return l;
}

// Whether this process may load tracing programs: CAP_SYS_ADMIN, or
// CAP_BPF with CAP_PERFMON, in its effective set (root in a user namespace
// without them may still load socket filters). An EPERM without them is
// a matter of rights, not of the program type.
bool tracingRights() {
  std::ifstream in("/proc/self/status");
  for (std::string l; std::getline(in, l);)
    if (l.rfind("CapEff:", 0) == 0) {
      uint64_t eff = std::strtoull(l.c_str() + 7, nullptr, 16);
      auto has = [&](int cap) { return (eff >> cap) & 1; };
      return has(21) || (has(39) && has(38)); // CAP_SYS_ADMIN; CAP_BPF, CAP_PERFMON
    }
  return geteuid() == 0;
}

// "6.18.44-fc-v669" -> (6, 18)
std::pair<int, int> version(const std::string &release) {
  int major = 0, minor = 0;
  std::sscanf(release.c_str(), "%d.%d", &major, &minor);
  return {major, minor};
}

HostProbeResult probe(const std::string &bootId, int jitEnable) {
  HostProbeResult r;
  r.bootId = bootId;
  r.jitEnable = jitEnable;
  KernelRules &k = r.rules;
  k.name = "running";
  struct utsname u {};
  uname(&u);
  k.release = u.release;
  auto [major, minor] = version(k.release);
  auto atLeast = [&, major = major, minor = minor](int M, int m) {
    return major > M || (major == M && minor >= m);
  };

  // rounding, and whether we may load at all (the plainest program type)
  ProbeSpec socket{"round", std::nullopt, BPF_PROG_TYPE_SOCKET_FILTER};
  Load round = load(socket, chain({8, 496}), 0);
  if (!round.loaded && (round.err == EPERM || round.err == ENOSYS))
    noRights(std::string("bpf(BPF_PROG_LOAD): ") + std::strerror(round.err));
  HostProbeAnswer ra{"round", "", "", ""};
  if (round.loaded) {
    k.round = 16;
    ra.answer = "16";
  } else if (stackRefusal(round)) {
    k.round = 32;
    ra.answer = "32";
  } else {
    // not answered: the coarser rounding, which counts every chain at
    // least as long as the kernel does (never optimistic), even where the
    // source says 16 (round_up_stack_depth: JITed, 6.9+)
    k.round = 32;
    ra.answer = "unknown";
    ra.detail = why(round) + " (taken as 32" +
                (jitEnable > 0 && atLeast(6, 9) ? std::string(", though the source says 16 here)") : ")");
  }
  r.answers.push_back(ra);

  // vmlinux BTF, for the types that attach to a BTF type
  struct btf *vmlinux = btf__load_vmlinux_btf();
  std::string btfError = vmlinux ? "" : std::string("no vmlinux BTF: ") + std::strerror(errno);

  // per ProgType: answers of its variants
  std::map<ProgType, std::vector<const HostProbeAnswer *>> byType;
  r.answers.reserve(1 + probes().size());
  for (const ProbeSpec &s : probes()) {
    HostProbeAnswer a;
    a.probe = s.probe;
    a.type = s.type ? progTypeName(*s.type) : "";
    uint32_t btfId = 0;
    if (s.btfName) {
      int id = vmlinux ? btf__find_by_name_kind(vmlinux, s.btfName, s.btfKind) : -1;
      if (id <= 0) {
        a.answer = "unknown";
        a.detail = vmlinux ? std::string(s.btfName) + " is not in vmlinux BTF" : btfError;
      }
      btfId = id > 0 ? uint32_t(id) : 0;
    }
    if (a.answer.empty()) {
      Load l = load(s, chain({160, 160, 160, 160}), btfId);
      if (l.loaded) {
        a.answer = "private";
      } else if (stackRefusal(l)) {
        a.answer = "none";
      } else {
        if (l.err == EPERM && !tracingRights())
          noRights(std::string("bpf(BPF_PROG_LOAD) of a ") + s.probe + " program: " + std::strerror(l.err));
        a.detail = why(l);
        // Refused for another reason than its stack. If the plainest
        // program of that kind is refused too, this kernel loads no
        // program of it at all (fentry and LSM without ftrace, ...): no
        // program of that kind can run, so its stack rules are moot and
        // the variant says nothing about its ProgType's other variants.
        Load plain = load(s, {insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
                              insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)},
                          btfId);
        a.answer = plain.loaded ? "unknown" : "unloadable";
        if (!plain.loaded)
          a.detail = "even r0 = 0; exit is refused: " + why(plain);
      }
    }
    r.answers.push_back(a);
    if (s.type)
      byType[*s.type].push_back(&r.answers.back());
  }
  btf__free(vmlinux);

  for (auto &[type, answers] : byType) {
    std::string unknown, yes, no;
    for (auto *a : answers) {
      if (a->answer == "unloadable")
        continue;
      std::string &to = a->answer == "private" ? yes : a->answer == "none" ? no : unknown;
      to += (to.empty() ? "" : ", ") + a->probe + (a->detail.empty() ? "" : " (" + a->detail + ")");
    }
    if (!unknown.empty())
      k.unprobedTypes[type] = "probe refused for another reason than its stack: " + unknown;
    else if (!yes.empty() && !no.empty()) {
      k.unprobedTypes[type] = "its variants differ: private stacks for " + yes + ", none for " + no;
      for (auto *a : answers)
        if (a->answer == "private" || a->answer == "none")
          k.privateByVariant[a->probe] = a->answer == "private";
    }
    else if (!yes.empty())
      k.privateStackTypes.insert(type);
  }

  // Not probed (see above), from the source:
  k.privateStackMin = 64; // BPF_PRIV_STACK_MIN_SIZE (6.13+)
  k.asyncCallbackRoots = true;
  k.bpfLoopInline = 24; // optimize_bpf_loop: three 8-byte spill slots
  // may_goto's hidden slot (do_misc_fixups): none before 6.9 (no may_goto);
  // 8 bytes (the iteration count) from 6.9; 16 (count and start time) where
  // the JIT supports the timed may_goto (bpf_jit_supports_timed_may_goto:
  // x86-64 from 6.15, arm64 later) -- taken from the release, not probed.
#if defined(__x86_64__)
  const bool timedMayGoto = atLeast(6, 15);
#else
  const bool timedMayGoto = false;
#endif
  k.mayGotoSlot = !atLeast(6, 9) ? 0 : timedMayGoto ? 16 : 8;
  return r;
}

} // namespace

HostProbeResult probeRunningKernel(const HostProbeOptions &opts) {
  const std::string bootId = readLine("/proc/sys/kernel/random/boot_id");
  int jitEnable = -1;
  if (std::string j = readLine("/proc/sys/net/core/bpf_jit_enable"); !j.empty())
    jitEnable = std::atoi(j.c_str());
  std::string path = opts.useCache ? hostKernelCachePath(opts) : "";
  std::string note;
  if (!path.empty() && !bootId.empty()) {
    if (auto cached = readHostProbeCache(path, bootId, jitEnable, note)) {
      cached->fromCache = true;
      cached->cachePath = path;
      return *cached;
    }
  } else if (!path.empty()) {
    note = "no boot id (/proc/sys/kernel/random/boot_id): not cached";
  }
  HostProbeResult r = probe(bootId, jitEnable);
  r.cachePath = path;
  if (!path.empty() && !bootId.empty())
    writeHostProbeCache(path, r, note);
  r.cacheNote = note;
  return r;
}

KernelRules runningKernelRules(const HostProbeOptions &opts) { return probeRunningKernel(opts).rules; }

} // namespace pstack
