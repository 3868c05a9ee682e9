// The reference BPF interpreter: every function activation gets its own
// zeroed 512-byte stack, as BPF means it. Map memory and helper semantics
// come from the shared Runtime (runtime.h), so the interpreter and the JIT
// harness differ only in how they execute instructions.
#include "jitgen/jitgen.h"
#include "jitgen/runtime.h"
#include "frontend/isa.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace pstack {
namespace {

// What ld_imm64 of a function's address loads: a token naming the function
// (by index in Object::functions), never a real address.
constexpr uint64_t kFuncToken = 0xF000'0000'0000'0000ULL;
constexpr uint64_t kFuncTokenMask = 0xFFFF'FFFF'0000'0000ULL;
constexpr uint32_t kStackBytes = 512;
// 8 frames per chain, 34 chains through tail calls, and nesting on top
constexpr uint32_t kMaxFrames = 1024;

// Thrown inside the interpreter to abandon the whole run; caught by
// interpret(), never out of it.
struct Abort {
  std::string message;
};

// One ALU operation at the width of U (uint64_t or uint32_t): shift
// counts masked to the width, division by zero 0, modulo by zero the
// dividend, as BPF defines them.
template <class U> U aluOp(uint8_t aop, U d, U s, bool &known) {
  using S = std::make_signed_t<U>;
  constexpr U mask = sizeof(U) * 8 - 1;
  switch (aop) {
  case isa::ADD: return U(d + s);
  case isa::SUB: return U(d - s);
  case isa::MUL: return U(d * s);
  case isa::DIV: return s ? U(d / s) : U(0);
  case isa::OR: return U(d | s);
  case isa::AND: return U(d & s);
  case isa::LSH: return U(d << (s & mask));
  case isa::RSH: return U(d >> (s & mask));
  case isa::NEG: return U(U(0) - d);
  case isa::MOD: return s ? U(d % s) : d;
  case isa::XOR: return U(d ^ s);
  case isa::MOV: return s;
  case isa::ARSH: return U(S(d) >> (s & mask));
  }
  known = false;
  return d;
}

// sdiv/smod (cpu v4) at the width of U, as BPF defines them: a zero
// divisor gives 0 (sdiv) or the dividend (smod); -1 gives the negation
// (INT_MIN / -1 wraps to INT_MIN) and 0, never a trap.
template <class U> U signedDivMod(bool mod, U d, U s) {
  using S = std::make_signed_t<U>;
  if (s == 0)
    return mod ? d : U(0);
  if (S(s) == S(-1))
    return mod ? U(0) : U(U(0) - d);
  return mod ? U(S(d) % S(s)) : U(S(d) / S(s));
}

// The low `bits` of v, sign-extended to 64 bits.
uint64_t signExtend(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return v;
  const unsigned shift = 64 - bits;
  return uint64_t(int64_t(v << shift) >> shift);
}

// may_goto's per-activation budget (BPF_MAX_LOOPS): the count the kernel
// stores in the counter slot at a function's entry; each may_goto takes one
// and jumps once none is left.
constexpr uint64_t kMayGotoBudget = 8u << 20;

// A conditional jump's test at the width of U (64-bit JMP, 32-bit JMP32).
template <class U> bool jumpTaken(uint8_t jop, U a, U b, bool &known) {
  using S = std::make_signed_t<U>;
  switch (jop) {
  case isa::JEQ: return a == b;
  case isa::JGT: return a > b;
  case isa::JGE: return a >= b;
  case isa::JSET: return (a & b) != 0;
  case isa::JNE: return a != b;
  case isa::JSGT: return S(a) > S(b);
  case isa::JSGE: return S(a) >= S(b);
  case isa::JLT: return a < b;
  case isa::JLE: return a <= b;
  case isa::JSLT: return S(a) < S(b);
  case isa::JSLE: return S(a) <= S(b);
  }
  known = false;
  return false;
}

std::string hex(uint64_t v) {
  std::ostringstream o;
  o << "0x" << std::hex << v;
  return o.str();
}

// Per-function tables built once per run.
struct FnInfo {
  const Function *fn = nullptr;
  size_t index = 0;               // in Object::functions
  std::vector<int32_t> posOf;     // slot index -> position in insns (-1: none)
  std::vector<const CallSite *> callAt; // by position
  std::vector<const LoadImmRef *> immAt; // by position
};

class Interp final : public jit::Executor {
public:
  Interp(const Object &obj, const RunRequest &req, jit::Runtime &rt) : obj_(obj), req_(req), rt_(rt) {
    fns_.resize(obj.functions.size());
    for (size_t i = 0; i < obj.functions.size(); ++i) {
      const Function &f = obj.functions[i];
      FnInfo &fi = fns_[i];
      fi.fn = &f;
      fi.index = i;
      uint32_t slots = 0;
      for (auto &in : f.insns)
        slots = std::max<uint32_t>(slots, in.index + (in.wide ? 2 : 1));
      fi.posOf.assign(slots + 1, -1);
      fi.callAt.assign(f.insns.size(), nullptr);
      fi.immAt.assign(f.insns.size(), nullptr);
      for (size_t p = 0; p < f.insns.size(); ++p)
        fi.posOf[f.insns[p].index] = int32_t(p);
      for (auto &cs : f.calls)
        if (cs.insn < slots && fi.posOf[cs.insn] >= 0)
          fi.callAt[size_t(fi.posOf[cs.insn])] = &cs;
      for (auto &[idx, ref] : f.loadImms)
        if (idx < slots && fi.posOf[idx] >= 0)
          fi.immAt[size_t(fi.posOf[idx])] = &ref;
    }
  }

  uint64_t insns = 0;
  uint32_t tailCalls = 0;
  // the call chain ("program/function", outermost first) at every helper
  // and kfunc call, from the frame entered from C (a program run, a
  // callback a helper calls) to the caller: what a frame-pointer unwinder
  // must find between the call and the harness
  std::vector<std::vector<std::string>> backtraces;

  // Runs program `name` from its entry with r1 = ctx (a new program run:
  // tail count 0).
  uint64_t runTop(const std::string &name, uint64_t ctx) {
    const Program *p = obj_.program(name);
    if (!p)
      throw Abort{"no program named " + name + " in " + obj_.path};
    uint64_t args[5] = {ctx, 0, 0, 0, 0};
    Boundary b(*this, true);
    return run(p->entry, args, 0, &p->name);
  }

  uint64_t callFunctionAt(uint64_t addr, const uint64_t args[5]) override {
    if ((addr & kFuncTokenMask) != kFuncToken || (addr & ~kFuncTokenMask) >= fns_.size()) {
      if (rt_.error.empty()) // (bpf_loop may ask again millions of times)
        rt_.fail("callback address " + hex(addr) + " is no function the program loaded");
      return 0;
    }
    const std::string *prog = currentProgram_ ? currentProgram_ : &req_.program;
    // bpf_loop's callback is a BPF call in the JIT (inlined loop): no new
    // chain starts there
    Boundary b(*this, !inLoop_);
    return run(size_t(addr & ~kFuncTokenMask), args, 0, prog);
  }

  uint64_t runProgram(const std::string &program, void *ctx) override {
    const Program *p = obj_.program(program);
    if (!p) {
      rt_.fail("nested program " + program + " does not exist");
      return 0;
    }
    rt_.programStack.push_back(program);
    struct Pop {
      jit::Runtime &rt;
      ~Pop() { rt.programStack.pop_back(); }
    } pop{rt_};
    uint64_t args[5] = {uint64_t(uintptr_t(ctx)), 0, 0, 0, 0};
    Boundary b(*this, true);
    return run(p->entry, args, 0, &p->name);
  }

private:
  std::vector<std::string> chain_;
  size_t chainBase_ = 0;
  bool inLoop_ = false;
  struct Boundary {
    Interp &in;
    size_t saved;
    bool savedLoop;
    Boundary(Interp &i, bool starts) : in(i), saved(i.chainBase_), savedLoop(i.inLoop_) {
      if (starts)
        in.chainBase_ = in.chain_.size();
      in.inLoop_ = false;
    }
    ~Boundary() {
      in.chainBase_ = saved;
      in.inLoop_ = savedLoop;
    }
  };
  void recordBacktrace() {
    backtraces.emplace_back(chain_.begin() + std::ptrdiff_t(chainBase_), chain_.end());
  }
  const Object &obj_;
  const RunRequest &req_;
  jit::Runtime &rt_;
  std::vector<FnInfo> fns_;
  uint32_t depth_ = 0;
  const std::string *currentProgram_ = nullptr;
  std::vector<uint64_t> stacks_; // the live activations' 512-byte stacks

public:
  // r0 at the last exit held no value (it came from a failed tail call)
  bool lastExitUndefined_ = false;

private:

  // memory an instruction may touch: a live stack, or what the runtime owns
  bool owned(uint64_t addr, uint64_t bytes) const {
    for (uint64_t s : stacks_)
      if (addr >= s && bytes <= kStackBytes && addr - s <= kStackBytes - bytes)
        return true;
    return rt_.owns(addr, bytes);
  }

  [[noreturn]] void abort(const std::string &prog, const Function &f, uint32_t index,
                          const std::string &why) {
    throw Abort{"program " + prog + ", function " + f.name + ", insn " + std::to_string(index) +
                ": " + why};
  }

  // One activation of function `fnIdx` (and whatever replaces it by tail
  // calls); returns its r0.
  uint64_t run(size_t fnIdx, const uint64_t args[5], uint32_t tailCount, const std::string *prog) {
    struct Depth {
      Interp &in;
      const std::string *savedProg;
      ~Depth() {
        --in.depth_;
        in.currentProgram_ = savedProg;
        in.chain_.pop_back();
      }
    } depthGuard{*this, currentProgram_};
    ++depth_;
    currentProgram_ = prog;
    const FnInfo *fi = &fns_[fnIdx];
    chain_.push_back(*prog + "/" + fi->fn->name);
    if (depth_ > kMaxFrames)
      abort(*prog, *fi->fn, 0, "call depth over " + std::to_string(kMaxFrames) + " frames");

    auto stack = std::make_unique<std::array<uint64_t, kStackBytes / 8>>();
    stack->fill(0);
    stacks_.push_back(uint64_t(uintptr_t(stack->data())));
    struct StackGuard {
      std::vector<uint64_t> &v;
      ~StackGuard() { v.pop_back(); }
    } stackGuard{stacks_};
    uint64_t r[11] = {};
    uint64_t mayGoto = kMayGotoBudget;
    bool r0Undefined = false;
    auto resetFrame = [&] {
      stack->fill(0);
      r[10] = uint64_t(uintptr_t(stack->data())) + kStackBytes;
      mayGoto = kMayGotoBudget; // a tail call lands before the slot's set-up
    };
    resetFrame();
    for (int i = 0; i < 5; ++i)
      r[i + 1] = args[i];

    size_t pc = 0;
    for (;;) {
      const Function &f = *fi->fn;
      if (pc >= f.insns.size())
        abort(*prog, f, f.insns.empty() ? 0 : f.insns.back().index,
              "execution runs past the end of the function");
      const Insn &in = f.insns[pc];
      if (++insns > req_.maxInsns)
        abort(*prog, f, in.index,
              "instruction budget of " + std::to_string(req_.maxInsns) + " exhausted");
      auto bad = [&](const std::string &why) { abort(*prog, f, in.index, why); };
      auto jumpTo = [&](int64_t off) {
        int64_t t = int64_t(in.index) + 1 + off;
        if (t < 0 || uint64_t(t) >= fi->posOf.size() || fi->posOf[size_t(t)] < 0)
          bad("jump to slot " + std::to_string(t) + " lies outside the function");
        pc = size_t(fi->posOf[size_t(t)]);
      };
      uint8_t op = in.opcode;
      const uint8_t cls = isa::cls(op);
      const isa::Form form = isa::form(in);
      if (in.dst > 10)
        bad("register r" + std::to_string(in.dst) + " does not exist");
      if (in.src > 10 && form != isa::Form::Call && form != isa::Form::LdImm64) // (a pseudo kind)
        bad("register r" + std::to_string(in.src) + " does not exist");
      uint64_t &dst = r[in.dst];
      uint64_t srcv = in.src <= 10 ? r[in.src] : 0;
      // r10 is read-only: a write would move the frame under the program
      if (isa::writes(in) & (1u << 10))
        bad("write to r10");
      if (isa::writes(in) & 1u)
        r0Undefined = false; // (a failed tail call sets it again below)
      // arena pointers are out of scope: refused by name, never run as the
      // plain mov it resembles
      if (form == isa::Form::AddrSpaceCast)
        bad(std::string(isa::formName(form)) + " is not interpreted (opcode " + hex(op) + ")");
      if (form == isa::Form::Unknown)
        bad("unknown opcode " + hex(op) + " (off " + std::to_string(in.off) + ")");
      switch (cls) {
      case isa::ALU64:
      case isa::ALU: {
        bool is64 = cls == isa::ALU64;
        uint8_t aop = isa::op(op);
        bool x = op & isa::SRC_X;
        if (aop == isa::END) { // byte swap
          uint64_t v = dst;
          if (in.imm != 16 && in.imm != 32 && in.imm != 64)
            bad("byte swap of " + std::to_string(in.imm) + " bits");
          if (form == isa::Form::Bswap) { // unconditional, then zero-extended
            dst = in.imm == 16   ? uint64_t(__builtin_bswap16(uint16_t(v)))
                  : in.imm == 32 ? uint64_t(__builtin_bswap32(uint32_t(v)))
                                 : __builtin_bswap64(v);
          } else if (!x) { // to_le: truncate
            dst = in.imm == 16 ? uint16_t(v) : in.imm == 32 ? uint32_t(v) : v;
          } else { // to_be: swap
            dst = in.imm == 16   ? uint64_t(__builtin_bswap16(uint16_t(v)))
                  : in.imm == 32 ? uint64_t(__builtin_bswap32(uint32_t(v)))
                                 : __builtin_bswap64(v);
          }
          ++pc;
          break;
        }
        if (form == isa::Form::SignedDivMod) {
          const bool mod = aop == isa::MOD;
          if (is64)
            dst = signedDivMod<uint64_t>(mod, dst, x ? srcv : uint64_t(in.imm));
          else
            dst = signedDivMod<uint32_t>(mod, uint32_t(dst), x ? uint32_t(srcv) : uint32_t(in.imm));
          ++pc;
          break;
        }
        if (form == isa::Form::MovSx) { // movsx: the source's low off bits
          const uint64_t v = signExtend(srcv, unsigned(in.off));
          dst = is64 ? v : uint64_t(uint32_t(v));
          ++pc;
          break;
        }
        bool known = true;
        if (is64)
          dst = aluOp<uint64_t>(aop, dst, x ? srcv : uint64_t(in.imm), known);
        else // 32-bit: the result zero-extended
          dst = aluOp<uint32_t>(aop, uint32_t(dst), x ? uint32_t(srcv) : uint32_t(in.imm), known);
        if (!known)
          bad("unknown opcode " + hex(op));
        ++pc;
        break;
      }
      case isa::JMP:
      case isa::JMP32: {
        bool is64 = cls == isa::JMP;
        uint8_t jop = isa::op(op);
        bool x = op & isa::SRC_X;
        if (form == isa::Form::Exit) {
          lastExitUndefined_ = r0Undefined;
          return r[0];
        }
        if (form == isa::Form::Call) {
          const CallSite *cs = fi->callAt[pc];
          if (!cs)
            bad("call with no known target");
          switch (cs->kind) {
          case CallKind::Local: {
            const Function *callee = obj_.function(cs->target);
            if (!callee)
              bad("call to unknown function " + cs->target);
            size_t idx = size_t(callee - obj_.functions.data());
            uint64_t a[5] = {r[1], r[2], r[3], r[4], r[5]};
            r[0] = run(idx, a, tailCount, prog);
            r0Undefined = lastExitUndefined_;
            ++pc;
            break;
          }
          case CallKind::Kfunc:
            recordBacktrace();
            r[0] = rt_.kfunc(cs->target);
            if (!rt_.error.empty())
              bad(rt_.error);
            ++pc;
            break;
          case CallKind::Helper:
            if (cs->helper == 12) {
              // bpf_tail_call(ctx, prog_array, index)
              const Map *m = rt_.mapAt(r[2]);
              if (!m || !m->isProgArray())
                bad("bpf_tail_call given something that is not a prog array");
              jit::ProgArrayMem *pa = rt_.progArray(m->name);
              uint32_t slot = uint32_t(r[3]);
              if (!pa || slot >= pa->maxEntries || pa->slots[slot] == 0 ||
                  tailCount >= jit::kMaxTailCalls) {
                // a tail call that fails falls through; bpf_tail_call
                // returns nothing (RET_VOID): r0 holds no value after it
                r0Undefined = true;
                ++pc;
                break;
              }
              uint64_t v = pa->slots[slot];
              if (v == 0 || v > obj_.programs.size())
                bad("prog array " + m->name + " slot " + std::to_string(slot) +
                    " holds no program");
              const Program &target = obj_.programs[size_t(v - 1)];
              ++tailCount;
              ++tailCalls;
              uint64_t ctx = r[1];
              fi = &fns_[target.entry];
              prog = &target.name;
              chain_.back() = target.name + "/" + fi->fn->name;
              currentProgram_ = prog;
              resetFrame();
              for (int i = 0; i < 10; ++i)
                r[i] = 0;
              r[1] = ctx;
              pc = 0;
              break;
            }
            if (cs->helper != 181)
              recordBacktrace();
            inLoop_ = cs->helper == 181;
            r[0] = rt_.helper(cs->helper, r[1], r[2], r[3], r[4], r[5]);
            inLoop_ = false;
            if (!rt_.error.empty())
              bad(rt_.error);
            ++pc;
            break;
          }
          break;
        }
        if (form == isa::Form::Ja) {
          jumpTo(in.off);
          break;
        }
        if (form == isa::Form::Gotol) {
          jumpTo(int32_t(in.imm));
          break;
        }
        if (form == isa::Form::MayGoto) {
          if (mayGoto == 0) {
            jumpTo(in.off);
          } else {
            --mayGoto;
            ++pc;
          }
          break;
        }
        bool known = true;
        const bool taken = is64 ? jumpTaken<uint64_t>(jop, dst, x ? srcv : uint64_t(in.imm), known)
                                : jumpTaken<uint32_t>(jop, uint32_t(dst),
                                                      x ? uint32_t(srcv) : uint32_t(in.imm), known);
        if (!known)
          bad("unknown opcode " + hex(op));
        if (taken)
          jumpTo(in.off);
        else
          ++pc;
        break;
      }
      case isa::LD: {
        if (form == isa::Form::LegacyLoad) {
          // LD_ABS/LD_IND as the kernel rewrites them (bpf_gen_ld_abs): a
          // call of the skb load helper on r6 at imm (+ src), r1-r5
          // clobbered, and a failed load returns 0 from this function
          const uint64_t offset = uint64_t(int64_t(int32_t(in.imm))) +
                                  (isa::mode(op) == isa::IND ? srcv : 0);
          bool loaded = false;
          r[0] = rt_.skbLoad(r[6], int32_t(offset), isa::accessBytes(op), loaded);
          if (!rt_.error.empty())
            bad(rt_.error);
          if (!loaded)
            return 0;
          ++pc;
          break;
        }
        if (form != isa::Form::LdImm64 || !in.wide)
          bad("unknown opcode " + hex(op));
        const LoadImmRef *ref = fi->immAt[pc];
        if (!ref) {
          dst = uint64_t(in.imm);
        } else {
          switch (ref->kind) {
          case LoadImmRef::Kind::Map:
            dst = rt_.mapAddress(ref->name);
            if (!dst)
              bad("ld_imm64 of unknown map " + ref->name);
            break;
          case LoadImmRef::Kind::Func: {
            const Function *t = obj_.function(ref->name);
            if (!t)
              bad("ld_imm64 of unknown function " + ref->name);
            dst = kFuncToken | uint64_t(t - obj_.functions.data());
            break;
          }
          case LoadImmRef::Kind::Data:
            dst = rt_.dataAddress(ref->name);
            break;
          }
        }
        ++pc;
        break;
      }
      case isa::LDX:
      case isa::ST:
      case isa::STX: {
        const uint32_t bytes = isa::accessBytes(op);
        if (form == isa::Form::Atomic) {
          if (bytes != 4 && bytes != 8)
            bad("atomic of " + std::to_string(bytes) + " bytes");
          auto *p = reinterpret_cast<uint8_t *>(uintptr_t(dst + uint64_t(int64_t(in.off))));
          if (!owned(uint64_t(uintptr_t(p)), bytes))
            bad("atomic at " + hex(uint64_t(uintptr_t(p))) + ", outside any memory of this run");
          uint64_t old = 0;
          std::memcpy(&old, p, bytes); // little endian: a W read zero-extends
          uint64_t s = srcv;
          uint64_t nv = 0;
          uint64_t mask = bytes == 8 ? ~uint64_t(0) : 0xffffffffULL;
          switch (in.imm) {
          case isa::ADD: case isa::ADD | isa::ATOMIC_FETCH: nv = old + s; break;
          case isa::OR: case isa::OR | isa::ATOMIC_FETCH: nv = old | s; break;
          case isa::AND: case isa::AND | isa::ATOMIC_FETCH: nv = old & s; break;
          case isa::XOR: case isa::XOR | isa::ATOMIC_FETCH: nv = old ^ s; break;
          case isa::ATOMIC_XCHG: nv = s; break;
          case isa::ATOMIC_CMPXCHG: nv = (old == (r[0] & mask)) ? s : old; break;
          default: bad("unknown atomic operation " + hex(uint64_t(in.imm)));
          }
          nv &= mask;
          std::memcpy(p, &nv, bytes);
          if (in.imm == isa::ATOMIC_CMPXCHG)
            r[0] = old;
          else if (in.imm & isa::ATOMIC_FETCH)
            r[in.src] = old;
          ++pc;
          break;
        }
        if (form == isa::Form::Load || form == isa::Form::LoadSx || form == isa::Form::LoadAcquire) {
          // load-acquire: a plain load at this one-CPU level
          auto *p = reinterpret_cast<const uint8_t *>(uintptr_t(srcv + uint64_t(int64_t(in.off))));
          if (!owned(uint64_t(uintptr_t(p)), bytes))
            bad("load of " + std::to_string(bytes) + " bytes at " + hex(uint64_t(uintptr_t(p))) +
                ", outside any memory of this run");
          uint64_t v = 0;
          std::memcpy(&v, p, bytes);
          dst = form == isa::Form::LoadSx ? signExtend(v, 8 * bytes) : v;
        } else {
          auto *p = reinterpret_cast<uint8_t *>(uintptr_t(dst + uint64_t(int64_t(in.off))));
          if (!owned(uint64_t(uintptr_t(p)), bytes))
            bad("store of " + std::to_string(bytes) + " bytes at " + hex(uint64_t(uintptr_t(p))) +
                ", outside any memory of this run");
          uint64_t v = form == isa::Form::StoreImm ? uint64_t(in.imm) : srcv;
          std::memcpy(p, &v, bytes);
        }
        ++pc;
        break;
      }
      default:
        bad("unknown opcode " + hex(op));
      }
    }
  }
};

} // namespace

RunResult interpret(const Object &obj, const RunRequest &req) {
  RunResult res;
  jit::Runtime rt(obj, req);
  Interp interp(obj, req, rt);
  rt.exec = &interp;
  struct Current {
    jit::Runtime *saved;
    explicit Current(jit::Runtime *now) : saved(jit::Runtime::current) { jit::Runtime::current = now; }
    ~Current() { jit::Runtime::current = saved; }
  } current(&rt);
  std::map<std::string, size_t> progIndex;
  for (size_t i = 0; i < obj.programs.size(); ++i)
    progIndex.emplace(obj.programs[i].name, i);
  rt.fillProgArrays([&](const std::string &prog) -> uint64_t {
    auto it = progIndex.find(prog);
    return it == progIndex.end() ? 0 : 1 + it->second;
  });

  std::vector<uint64_t> ctx((std::max<size_t>(req.ctx.size(), 256) + 7) / 8, 0);
  if (!req.ctx.empty())
    std::memcpy(ctx.data(), req.ctx.data(), req.ctx.size());

  std::string error;
  try {
    if (!obj.program(req.program))
      throw Abort{"no program named " + req.program + " in " + obj.path};
    if (rt.error.empty()) {
      rt.packets.push_back({uint64_t(uintptr_t(ctx.data())), req.ctx.size() < 256 ? 256 : req.ctx.size()});
      rt.programStack.push_back(req.program);
      res.r0 = interp.runTop(req.program, uint64_t(uintptr_t(ctx.data())));
      res.r0Defined = !interp.lastExitUndefined_;
      rt.programStack.pop_back();
      rt.runPending();
    }
  } catch (const Abort &a) {
    error = a.message;
  } catch (const std::exception &e) {
    error = std::string("interpreter: ") + e.what();
  }
  res.insns = interp.insns;
  res.tailCalls = interp.tailCalls;
  res.backtraces = std::move(interp.backtraces);
  res.exceptionWalks = res.backtraces; // bpf_throw walks the same chain
  res.maps = rt.snapshot();
  if (error.empty() && !rt.error.empty())
    error = rt.error;
  res.ok = error.empty();
  res.error = error;
  return res;
}

} // namespace pstack
