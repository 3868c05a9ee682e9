// The harness: links a JitImage into executable memory, points GS at a fake
// per-CPU area (arch_prctl(ARCH_SET_GS)), runs programs with the runtime's
// helper stubs, and checks the guard words around every buffer.
#include "jitgen/jitgen.h"
#include "jitgen/runtime.h"
#include "jitgen/x86.h"

#include <asm/prctl.h>
#include <pthread.h>
#include <algorithm>
#include <tuple>
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
constexpr size_t kTrampBytes = 96;
constexpr uint8_t kHelperFill = 0x5a; // a helper's stack use, stack-switch on the buffer

// What a trampoline records at every helper and kfunc call, for the
// unwinder: the caller's rbp, the return address, rsp, which trampoline.
struct CallInfo {
  uint64_t rbp, ret, rsp, key;
};
thread_local CallInfo callInfo;
// stack-switch, helpers on the buffer: the harness's helpers are C++ with
// no stack budget, so the trampoline moves them to the harness's own stack
// at this rsp (16-aligned, below the C++ frame that entered BPF)
thread_local uint64_t harnessSp = 0;

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
    // a helper calling back: the callback's own helper calls must run below
    // this helper's live C++ frames on the harness's stack, not over them
    // (as runProgram does for a nested program)
    volatile char here = 0;
    uint64_t savedSp = harnessSp;
    harnessSp = (uint64_t(uintptr_t(&here)) - 4096) & ~uint64_t(15);
    const HelperStack helper = lastHelper_; // the helper calling back
    uint64_t r = fn(args[0], args[1], args[2], args[3], args[4]);
    harnessSp = savedSp;
    checkHelperStack(helper);
    lastHelper_ = helper; // (it may call back again)
    return r;
  }
  uint64_t runProgram(const std::string &program, void *ctx) override {
    auto it = entries_.find(program);
    if (it == entries_.end()) {
      rt_.fail("no program " + program + " in the image");
      return 0;
    }
    rt_.programStack.push_back(program);
    auto fn = reinterpret_cast<uint64_t (*)(void *)>(it->second);
    volatile char here = 0;
    uint64_t savedSp = harnessSp;
    harnessSp = (uint64_t(uintptr_t(&here)) - 4096) & ~uint64_t(15);
    const HelperStack helper = lastHelper_;
    uint64_t r = fn(ctx);
    harnessSp = savedSp;
    // (no helper of this activation is live any more: a timer's callback,
    // run after the program, is no helper's)
    lastHelper_ = helper;
    rt_.programStack.pop_back();
    return r;
  }
  void atCallOut() override;
  void setStacks(uint64_t areaLo, uint64_t areaHi) {
    areaLo_ = areaLo, areaHi_ = areaHi;
    pthread_attr_t at;
    if (pthread_getattr_np(pthread_self(), &at) == 0) {
      void *addr = nullptr;
      size_t size = 0;
      pthread_attr_getstack(&at, &addr, &size);
      taskLo_ = uint64_t(uintptr_t(addr)), taskHi_ = taskLo_ + size;
      pthread_attr_destroy(&at);
    }
  }
  std::vector<std::vector<std::string>> backtraces;
  std::vector<std::vector<std::string>> exceptionWalks;

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
  std::vector<std::string> trampKeys_;        // callInfo.key -> "h<id>" | "k<name>"
  uint64_t areaLo_ = 0, areaHi_ = 0, taskLo_ = 0, taskHi_ = 0;
  // stack-switch, helpers on the buffer: the bytes the last helper called
  // may use below its caller's frame (its reserve, filled with a pattern
  // at the call); a callback it calls must leave them as they were
  struct HelperStack {
    uint64_t bottom = 0, bytes = 0;
    std::string name;
  };
  HelperStack lastHelper_;
  void checkHelperStack(const HelperStack &h) {
    for (uint64_t a = h.bottom - h.bytes; h.bytes > 8 && a < h.bottom - 8; ++a)
      if (*reinterpret_cast<const uint8_t *>(uintptr_t(a)) != kHelperFill) {
        rt_.fail("stack-switch: a callback of " + h.name + " wrote " + std::to_string(h.bottom - a) +
                 " bytes below its caller's frame, inside the " + std::to_string(h.bytes) +
                 " bytes the helper may use there");
        return;
      }
  }
  // the function a code address is in (nullptr: not JITed code)
  const JitFunction *functionAt(uint64_t addr, uint64_t *start = nullptr) const {
    auto it = byStart_.upper_bound(addr);
    if (it == byStart_.begin())
      return nullptr;
    --it;
    if (addr >= it->first + it->second->code.size())
      return nullptr;
    if (start)
      *start = it->first;
    return it->second;
  }
  std::map<uint64_t, const JitFunction *> byStart_;
};

// The frame-pointer unwinder, as the kernel's (arch/x86/kernel/
// unwind_frame.c): from the caller's rbp, each frame record is [rbp] the
// next rbp and [rbp + 8] the return address; a frame pointer outside the
// stacks it knows (the task stack, the per-CPU area of the buffers), or not
// 8-aligned, ends the walk as refused, as get_stack_info() does. A return
// address outside JITed code is the harness's (the kernel's) frame: the
// walk has left BPF. The entry's switch return (stack-switch) is the
// switch's own record, not a BPF frame. The backtrace is the BPF frames,
// outermost first, as the interpreter's call chain.
void Linked::atCallOut() {
  std::vector<std::string> bt;
  CallInfo ci = callInfo;
  auto known = [&](uint64_t p) {
    return p % 8 == 0 && ((p >= areaLo_ && p + 16 <= areaHi_) || (p >= taskLo_ && p + 16 <= taskHi_));
  };
  uint64_t start = 0;
  const JitFunction *f = functionAt(ci.ret, &start);
  if (f)
    bt.push_back(f->program + "/" + f->function);
  uint64_t bp = ci.rbp;
  // the bpf_throw-style walk: the same frames up to the activation's
  // boundary; under stack-switch the boundary's link frame must be where
  // its switch put it (its buffer's top - 16: the exception's unwinding
  // restores the main frame and returns through the switch back there)
  std::vector<std::string> walk;
  bool boundary = false;
  for (int n = 0; f && n < 4096; ++n) {
    if (!known(bp)) {
      bt.push_back("<refused: frame pointer 0x" + [&] {
        char b[32];
        snprintf(b, sizeof b, "%llx", (unsigned long long)bp);
        return std::string(b);
      }() + " on no known stack>");
      break;
    }
    uint64_t next = *reinterpret_cast<const uint64_t *>(uintptr_t(bp));
    uint64_t ret = *reinterpret_cast<const uint64_t *>(uintptr_t(bp + 8));
    f = functionAt(ret, &start);
    if (!f)
      break; // the harness's frame: out of BPF
    if (!(f->stackSwitch && ret == start + f->switchReturn)) {
      bt.push_back(f->program + "/" + f->function);
    } else if (!boundary) {
      boundary = true;
      walk = bt;
      auto buf = std::find_if(img_.buffers.begin(), img_.buffers.end(),
                              [&](const JitBuffer &b) { return b.name == f->plan.region; });
      if (!f->switchToCallbackTop && buf != img_.buffers.end() &&
          next != areaLo_ + buf->offset + buf->bytes - 16) {
        char b[96];
        snprintf(b, sizeof b, "<link frame at +%lld of %s, its top - 16 is +%llu>",
                 (long long)(int64_t(next) - int64_t(areaLo_) - int64_t(buf->offset)), buf->name.c_str(),
                 (unsigned long long)(buf->bytes - 16));
        walk.insert(walk.begin(), b); // (reversed below: last)
      }
    }
    bp = next;
  }
  if (!boundary)
    walk = bt; // no switch: the boundary is the frame C entered
  std::reverse(bt.begin(), bt.end());
  backtraces.push_back(std::move(bt));
  std::reverse(walk.begin(), walk.end());
  exceptionWalks.push_back(std::move(walk));
  // stack-switch, helpers on the buffer: the helper's own stack use, as
  // the model budgets it (its reserve and an interrupt's headroom below
  // the calling frame), written below the caller's rsp; a buffer that is
  // too small breaks the guard words
  if (img_.scheme == Scheme::StackSwitch && img_.stackSwitch.helpersOnBuffer &&
      ci.key < trampKeys_.size() && ci.rsp >= areaLo_ && ci.rsp < areaHi_) {
    const StackSwitchCosts &c = img_.stackSwitch;
    const std::string &key = trampKeys_[ci.key];
    const char *hn = key[0] == 'h' ? bpfHelperName(std::stoi(key.substr(1))) : nullptr;
    std::string name = key[0] == 'h' ? (hn ? hn : "") : key.substr(1);
    uint64_t reserve = c.irqHeadroom + c.reserveOf(name);
    uint64_t bottom = ci.rsp + 8; // the calling frame's bottom
    if (reserve > 8 && bottom - reserve >= areaLo_ - (1 << 20)) {
      std::memset(reinterpret_cast<void *>(uintptr_t(bottom - reserve)), kHelperFill, reserve - 8);
      lastHelper_ = {bottom, c.reserveOf(name), name};
    }
  }
}

std::string Linked::link() {
  // functions, 16-byte aligned, then one trampoline per helper/kfunc that
  // records the call for the unwinder (callInfo) and jumps to the stub
  // (stack-switch with helpers on the buffer: calls it on the harness's
  // stack)
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
        at += kTrampBytes;
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
    byStart_[a] = &f;
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
    X86 a;
    a.movabs(R11, uint64_t(uintptr_t(&callInfo)));
    a.store(8, R11, 0, RBP);      // mov [r11], rbp
    a.load(8, R10, RSP, 0);       // mov r10, [rsp]: the return address
    a.store(8, R11, 8, R10);
    a.store(8, R11, 16, RSP);
    a.movImm(true, R10, int32_t(trampKeys_.size()));
    a.store(8, R11, 24, R10);
    trampKeys_.push_back(key);
    bool switchStack = img_.scheme == Scheme::StackSwitch && img_.stackSwitch.helpersOnBuffer;
    if (switchStack) {
      a.movRR(true, R10, RSP);
      a.movabs(R11, uint64_t(uintptr_t(&harnessSp)));
      a.load(8, RSP, R11, 0);
      a.push(R10), a.push(R10);
      a.byte(0xff), a.byte(0x15); // call *disp(%rip): the quad below
      uint32_t disp = a.pos();
      a.imm32(0);
      a.aluImm(true, ALU_ADD, RSP, 8);
      a.pop(RSP); // the private rsp
      a.ret();
      a.patch32(disp, int32_t(a.pos() - (disp + 4)));
    } else {
      a.byte(0xff), a.byte(0x25), a.imm32(0); // jmp *0(%rip)
    }
    a.imm64(target);
    if (a.b.size() > kTrampBytes)
      return "trampoline of " + std::to_string(a.b.size()) + " bytes";
    std::memcpy(t, a.b.data(), a.b.size());
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

BacktraceMatch compareBacktraces(const RunResult &interpreter, const RunResult &jit) {
  BacktraceMatch m;
  auto text = [](const std::vector<std::string> &bt) {
    std::string s;
    for (auto &f : bt)
      s += (s.empty() ? "" : " > ") + f;
    return s.empty() ? std::string("(none)") : s;
  };
  auto count = [&](const auto &ref, const auto &got, const char *what) {
    size_t n = std::max(ref.size(), got.size());
    uint32_t matched = 0;
    for (size_t i = 0; i < n; ++i) {
      bool a = i < ref.size(), b = i < got.size();
      if (a && b && ref[i] == got[i]) {
        ++matched;
      } else if (m.firstMismatch.empty()) {
        m.firstMismatch = std::string(what) + std::to_string(i + 1) + ": interpreter " +
                          (a ? text(ref[i]) : "(no call)") + ", unwinder " + (b ? text(got[i]) : "(no call)");
      }
    }
    m.total += uint32_t(n), m.matched += matched;
    return std::pair{uint32_t(n), matched};
  };
  count(interpreter.backtraces, jit.backtraces, "call ");
  std::tie(m.walks, m.walksMatched) = count(interpreter.exceptionWalks, jit.exceptionWalks, "exception walk at call ");
  return m;
}

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
  linked.setStacks(uint64_t(uintptr_t(area.base)), uint64_t(uintptr_t(area.base)) + img.perCpuBytes);
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
  res.backtraces = std::move(linked.backtraces);
  res.exceptionWalks = std::move(linked.exceptionWalks);
  res.error = rt.error;
  res.ok = rt.error.empty();
  return res;
}

} // namespace pstack
