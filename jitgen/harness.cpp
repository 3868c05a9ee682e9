// The harness: links a JitImage into executable memory, points GS at a fake
// per-CPU area (arch_prctl(ARCH_SET_GS)), runs programs with the runtime's
// helper stubs, and checks the guard words around every buffer.
#include "jitgen/jitgen.h"
#include "jitgen/runtime.h"
#include "jitgen/x86.h"

#include <asm/prctl.h>
#include <chrono>
#include <csetjmp>
#include <set>
#include <csignal>
#include <cstring>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pstack {
namespace {
using namespace jit;

constexpr uint8_t kGuardByte = 0xeb;   // as the kernel's 0xEB9F... guard pattern
constexpr uint32_t kHarnessGuard = 16; // see emit.cpp

thread_local sigjmp_buf *faultJump = nullptr;
thread_local int faultSignal = 0;

void onFault(int sig, siginfo_t *, void *) {
  if (!faultJump) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  faultSignal = sig;
  siglongjmp(*faultJump, 1);
}

class Linked : public Executor {
public:
  Linked(const Object &obj, const JitImage &img, Runtime &rt) : obj_(obj), img_(img), rt_(rt) {}
  ~Linked() override {
    if (code_)
      munmap(code_, size_);
  }

  std::string link();
  uint64_t callFunctionAt(uint64_t addr, const uint64_t args[5]) override {
    if (!starts_.count(addr)) {
      rt_.fail("a callback address that is no function of the image");
      return 0;
    }
    auto fn = reinterpret_cast<uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t)>(addr);
    return fn(args[0], args[1], args[2], args[3], args[4]);
  }
  uint64_t runProgram(const std::string &program, void *ctx) override {
    auto it = entries_.find(program);
    if (it == entries_.end()) {
      rt_.fail("no program " + program + " in the image");
      return 0;
    }
    rt_.programStack.push_back(program);
    auto fn = reinterpret_cast<uint64_t (*)(void *)>(it->second);
    uint64_t r = fn(ctx);
    rt_.programStack.pop_back();
    return r;
  }

private:
  const Object &obj_;
  const JitImage &img_;
  Runtime &rt_;
  uint8_t *code_ = nullptr;
  size_t size_ = 0;
  std::map<std::pair<std::string, std::string>, uint64_t> funcAddr_; // (program, function) -> address
  std::map<std::string, uint64_t> entries_;  // program -> entry
  std::map<std::string, uint64_t> landing_;  // program -> tail-call landing
  std::set<uint64_t> starts_;
};

std::string Linked::link() {
  // functions, 16-byte aligned, then one trampoline per helper/kfunc:
  // jmp *0(%rip); .quad target
  std::vector<uint64_t> offs;
  size_t at = 0;
  for (auto &f : img_.functions) {
    offs.push_back(at);
    at = (at + f.code.size() + 15) & ~size_t(15);
  }
  std::map<std::string, size_t> tramp;
  for (auto &f : img_.functions)
    for (auto &x : f.fixups) {
      std::string key = x.kind == JitFixup::Kind::Helper         ? "h" + std::to_string(x.id)
                        : x.kind == JitFixup::Kind::Kfunc        ? "k" + x.name
                        : x.kind == JitFixup::Kind::KernelFunc ? "f" + x.name
                                                                 : "";
      if (!key.empty() && !tramp.count(key)) {
        tramp[key] = at;
        at += 16;
      }
    }
  size_ = (at + 4095) & ~size_t(4095);
  if (!size_)
    size_ = 4096;
  void *m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return "mmap failed";
  code_ = static_cast<uint8_t *>(m);
  std::memset(code_, 0xcc, size_); // int3 between functions
  auto base = uint64_t(uintptr_t(code_));
  for (size_t i = 0; i < img_.functions.size(); ++i) {
    auto &f = img_.functions[i];
    std::memcpy(code_ + offs[i], f.code.data(), f.code.size());
    uint64_t a = base + offs[i];
    funcAddr_[{f.program, f.function}] = a;
    starts_.insert(a);
    const Program *p = obj_.program(f.program);
    if (p && obj_.functions[p->entry].name == f.function) {
      entries_[f.program] = a;
      landing_[f.program] = a + f.tailLanding;
    }
  }
  for (auto &[key, off] : tramp) {
    uint8_t *t = code_ + off;
    uint64_t target = 0;
    if (key[0] == 'h') {
      target = uint64_t(uintptr_t(Runtime::helperEntry(std::stoi(key.substr(1)))));
    } else if (key[0] == 'k') {
      target = uint64_t(uintptr_t(Runtime::kfuncEntry()));
    } else {
      // the kernel functions the JIT calls: LD_ABS/LD_IND's skb loads
      const std::string name = key.substr(1);
      uint32_t bytes = name == "bpf_skb_load_helper_8_no_cache"    ? 1
                       : name == "bpf_skb_load_helper_16_no_cache" ? 2
                       : name == "bpf_skb_load_helper_32_no_cache" ? 4
                                                                   : 0;
      if (!bytes)
        return "the emitted code calls kernel function " + name + ", which the harness lacks";
      target = uint64_t(uintptr_t(Runtime::skbLoadEntry(bytes)));
    }
    const uint8_t jmp[6] = {0xff, 0x25, 0, 0, 0, 0};
    std::memcpy(t, jmp, 6);
    std::memcpy(t + 6, &target, 8);
  }
  for (size_t i = 0; i < img_.functions.size(); ++i) {
    auto &f = img_.functions[i];
    uint8_t *fc = code_ + offs[i];
    for (auto &x : f.fixups) {
      uint8_t *field = fc + x.offset;
      auto rel = [&](uint64_t target) {
        int64_t d = int64_t(target) - int64_t(uintptr_t(field + 4));
        int32_t v = int32_t(d);
        std::memcpy(field, &v, 4);
      };
      auto abs = [&](uint64_t v) { std::memcpy(field, &v, 8); };
      switch (x.kind) {
      case JitFixup::Kind::Call: {
        auto it = funcAddr_.find({x.program, x.function});
        if (it == funcAddr_.end())
          return "call to " + x.name + ", which is not in the image";
        rel(it->second);
        break;
      }
      case JitFixup::Kind::Helper:
        rel(base + tramp["h" + std::to_string(x.id)]);
        break;
      case JitFixup::Kind::Kfunc:
        rel(base + tramp["k" + x.name]);
        break;
      case JitFixup::Kind::KernelFunc:
        rel(base + tramp["f" + x.name]);
        break;
      case JitFixup::Kind::MapAddr: {
        uint64_t a = rt_.mapAddress(x.name);
        if (!a)
          return "map " + x.name + " is not in the runtime";
        abs(a);
        break;
      }
      case JitFixup::Kind::FuncAddr: {
        auto it = funcAddr_.find({x.program, x.function});
        if (it == funcAddr_.end())
          return "address of " + x.name + ", which is not in the image";
        abs(it->second);
        break;
      }
      case JitFixup::Kind::DataAddr:
        abs(rt_.dataAddress(x.name) + uint64_t(x.addend));
        break;
      case JitFixup::Kind::PerCpuOff:
        break; // emitted as the offset in the per-CPU area already
      }
    }
  }
  if (mprotect(code_, size_, PROT_READ | PROT_EXEC))
    return "mprotect failed";
  rt_.fillProgArrays([&](const std::string &prog) -> uint64_t {
    auto it = landing_.find(prog);
    return it == landing_.end() ? 0 : it->second;
  });
  return "";
}

} // namespace

RunResult runJit(const Object &obj, const JitImage &img, const RunRequest &req) {
  RunResult res;
  Runtime rt(obj, req);
  Linked linked(obj, img, rt);
  rt.exec = &linked;
  if (std::string e = linked.link(); !e.empty()) {
    res.error = "link: " + e;
    return res;
  }
  if (!rt.error.empty()) {
    res.error = rt.error;
    return res;
  }
  // The per-CPU area: guard bytes everywhere but in the buffers, a slack
  // of guard bytes on both sides, and inaccessible pages beyond, so that
  // code from a broken layout (--replay) overflows into what is checked,
  // or faults, and never into the harness's own memory.
  struct Area {
    size_t slack = 1 << 20, size = 0, page = 4096;
    uint8_t *map = nullptr, *base = nullptr;
    explicit Area(uint64_t bytes) {
      size = (bytes + 2 * slack + 2 * page + page - 1) / page * page;
      void *m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED)
        return;
      map = static_cast<uint8_t *>(m);
      mprotect(map, page, PROT_NONE);
      mprotect(map + size - page, page, PROT_NONE);
      base = map + page + slack;
      std::memset(map + page, kGuardByte, size - 2 * page);
    }
    ~Area() {
      if (map)
        munmap(map, size);
    }
    uint8_t &operator[](int64_t i) { return base[i]; }
  } area(img.perCpuBytes);
  if (!area.base) {
    res.error = "mmap of the per-CPU area failed";
    return res;
  }
  for (auto &b : img.buffers)
    std::memset(area.base + b.offset, 0, b.bytes);
  alignas(64) uint64_t gsArea[16] = {};
  gsArea[kThisCpuOff / 8] = uint64_t(uintptr_t(area.base));
  unsigned long oldGs = 0;
  syscall(SYS_arch_prctl, ARCH_GET_GS, &oldGs);
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, uintptr_t(gsArea)) != 0) {
    res.error = "arch_prctl(ARCH_SET_GS) failed";
    return res;
  }
  Runtime *prevRt = Runtime::current;
  Runtime::current = &rt;
  std::vector<uint8_t> ctx = req.ctx;
  if (ctx.size() < 256)
    ctx.resize(256, 0);
  rt.packets.push_back({uint64_t(uintptr_t(ctx.data())), ctx.size()});

  // faults in emitted code (a broken emitter) end the run, not the process
  struct sigaction sa {}, oldSegv{}, oldBus{}, oldIll{}, oldFpe{};
  sa.sa_sigaction = onFault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &oldSegv);
  sigaction(SIGBUS, &sa, &oldBus);
  sigaction(SIGILL, &sa, &oldIll);
  sigaction(SIGFPE, &sa, &oldFpe);
  sigjmp_buf jb;
  faultJump = &jb;
  faultSignal = 0;
  if (sigsetjmp(jb, 1) == 0) {
    if (!obj.program(req.program)) {
      rt.fail("no program named " + req.program);
    } else {
      auto t0 = std::chrono::steady_clock::now();
      for (uint32_t i = 0; i < std::max<uint32_t>(req.repeat, 1); ++i) {
        res.r0 = linked.runProgram(req.program, ctx.data());
        rt.runPending();
      }
      res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } else {
    rt.fail(std::string("the emitted code faulted (") + strsignal(faultSignal) + ")");
    rt.programStack.clear();
  }
  faultJump = nullptr;
  sigaction(SIGSEGV, &oldSegv, nullptr);
  sigaction(SIGBUS, &oldBus, nullptr);
  sigaction(SIGILL, &oldIll, nullptr);
  sigaction(SIGFPE, &oldFpe, nullptr);
  Runtime::current = prevRt;
  syscall(SYS_arch_prctl, ARCH_SET_GS, oldGs);

  for (auto &b : img.buffers) {
    int64_t lo = int64_t(b.offset - b.guard - kHarnessGuard), hi = int64_t(b.offset + b.bytes + b.guard + kHarnessGuard);
    bool broken = false;
    for (int64_t i = lo; i < int64_t(b.offset); ++i)
      broken |= area[i] != kGuardByte;
    for (int64_t i = int64_t(b.offset + b.bytes); i < hi; ++i)
      broken |= area[i] != kGuardByte;
    if (broken)
      res.guardsBroken.push_back(b.name);
  }
  // the slack on either side of the whole area
  bool slackBroken = false;
  for (size_t i = 0; i < area.slack; ++i)
    slackBroken |= area.map[area.page + i] != kGuardByte;
  for (size_t i = img.perCpuBytes; i < img.perCpuBytes + area.slack; ++i)
    slackBroken |= area.base[i] != kGuardByte;
  if (slackBroken)
    res.guardsBroken.push_back("(outside every buffer)");
  res.maps = rt.snapshot();
  res.error = rt.error;
  res.ok = rt.error.empty();
  return res;
}

} // namespace pstack
