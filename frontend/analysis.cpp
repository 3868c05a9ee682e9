// Pass: frame size, tail-call operands and callbacks of one function.
// Reads:  Function::insns, calls; ld_imm64 targets from the loader.
// Writes: Function::frame, stackAccesses, pointerArgs, argDeepest,
//         tailCalls (map, slot), callbacks.
// Throws: InputError for a jump outside the function.
// Invariant: every byte below r10 the function can touch — directly, through
//         a pointer derived from r10, or through a helper/callee given such a
//         pointer — is at most `frame.bytes` below r10, or the function is
//         marked `bounded = false` with the instruction that defeats the
//         bound. Soundness leans on what the kernel verifier enforces: stack
//         pointers can only be spilled to the stack (never to maps or ctx),
//         and helpers touch [p, p + size) above the pointer they get.
#include "frontend/internal.h"
#include "frontend/isa.h"

#include <algorithm>
#include <array>
#include <climits>
#include <deque>
#include <set>

namespace pstack::detail {

namespace {

constexpr int32_t kKernelFrameCap = 512; // MAX_BPF_STACK
// The upper end of an Fp interval with no upper bound: r10 + a non-negative
// unknown. Accesses only go up from `lo`, so the deepest byte stays known.
constexpr int64_t kOpenHi = int64_t(1) << 40;

// Abstract value of a register or a spilled stack slot.
struct Val {
  enum Kind : uint8_t {
    Bot,    // no information yet (unreached)
    Scalar, // a number or a pointer that is not into any stack
    Const,  // the number lo (== hi)
    NonNeg, // a number >= lo >= 0 (a zero-extended load, a loop counter ...)
    Fp,     // r10 + [lo, hi]; `wide`: unknown offset
    Arg,    // argument pointer `arg` (1..5) on entry + [lo, hi]
    MapPtr, // ld_imm64 of map `sym`
    FuncPtr,// ld_imm64 of function `sym`
    Top     // may be a stack pointer with unknown offset
  } kind = Bot;
  int64_t lo = 0, hi = 0;
  bool wide = false;       // Fp/Arg with an unknown offset
  bool below32 = false;    // NonNeg: and < 2^32 (a 32-bit result, a narrow load)
  bool maybeOther = false; // Fp/Arg: or a non-stack value
  uint8_t arg = 0;
  int32_t sym = -1;

  static Val scalar() { return Val{Scalar}; }
  static Val constant(int64_t c) { Val v{Const}; v.lo = v.hi = c; return v; }
  static Val nonNeg(int64_t lo, bool below32 = false) {
    Val v{NonNeg};
    v.lo = std::max<int64_t>(lo, 0);
    v.below32 = below32;
    return v;
  }
  // a number in [0, 2^32): shifted left by at most 31 it stays >= 0
  bool fits32() const {
    return (kind == NonNeg && below32) || (kind == Const && lo >= 0 && lo < (int64_t(1) << 32));
  }
  // the least value this scalar can have, if it is known to be >= 0
  std::optional<int64_t> minNonNeg() const {
    if (kind == NonNeg || (kind == Const && lo >= 0))
      return lo;
    return std::nullopt;
  }
  static Val fp(int64_t off) { Val v{Fp}; v.lo = v.hi = off; return v; }
  static Val argp(uint8_t a) { Val v{Arg}; v.arg = a; return v; }
  static Val top() { return Val{Top}; }

  bool isStack() const { return kind == Fp || kind == Arg || kind == Top; }
  bool nonStack() const {
    return kind == Scalar || kind == Const || kind == NonNeg || kind == MapPtr || kind == FuncPtr;
  }
  bool exactFp() const { return kind == Fp && !wide && lo == hi; }
  bool operator==(const Val &o) const {
    return kind == o.kind && lo == o.lo && hi == o.hi && wide == o.wide &&
           below32 == o.below32 && maybeOther == o.maybeOther && arg == o.arg && sym == o.sym;
  }
  bool operator!=(const Val &o) const { return !(*this == o); }
};

Val join(const Val &a, const Val &b) {
  if (a.kind == Val::Bot)
    return b;
  if (b.kind == Val::Bot || a == b)
    return a;
  if (a.kind == Val::Top || b.kind == Val::Top)
    return Val::top();
  if (a.nonStack() && b.nonStack()) {
    auto ma = a.minNonNeg(), mb = b.minNonNeg();
    if (ma && mb)
      return Val::nonNeg(std::min(*ma, *mb), a.fits32() && b.fits32()); // both >= 0: so is either
    return Val::scalar();
  }
  if (a.isStack() && b.isStack()) {
    if (a.kind != b.kind || (a.kind == Val::Arg && a.arg != b.arg))
      return Val::top();
    Val r = a;
    r.lo = std::min(a.lo, b.lo);
    r.hi = std::max(a.hi, b.hi);
    r.wide = a.wide || b.wide;
    r.maybeOther = a.maybeOther || b.maybeOther;
    return r;
  }
  // one stack pointer, one non-stack value
  Val r = a.isStack() ? a : b;
  r.maybeOther = true;
  return r;
}

struct State {
  bool reached = false;
  std::array<Val, 11> r{};
  std::map<int64_t, Val> slots; // 8-byte spills at exact r10 offsets
  bool anySlotPtr = false;      // a stack pointer went to an unknown slot

  bool operator==(const State &o) const {
    return reached == o.reached && r == o.r && slots == o.slots && anySlotPtr == o.anySlotPtr;
  }
};

State joinStates(const State &a, const State &b) {
  if (!a.reached)
    return b;
  if (!b.reached)
    return a;
  State s;
  s.reached = true;
  for (int i = 0; i < 11; ++i)
    s.r[i] = join(a.r[i], b.r[i]);
  // a slot missing on one side holds a scalar there
  for (auto &[off, v] : a.slots) {
    auto it = b.slots.find(off);
    s.slots[off] = join(v, it == b.slots.end() ? Val::scalar() : it->second);
  }
  for (auto &[off, v] : b.slots)
    if (!a.slots.count(off))
      s.slots[off] = join(v, Val::scalar());
  s.anySlotPtr = a.anySlotPtr || b.anySlotPtr;
  return s;
}

// Widening: a value whose offset interval still moves after many visits
// gets an unknown offset, so loops terminate.
void widen(State &s, const State &old) {
  auto w = [](Val &v, const Val &o) {
    if ((v.kind == Val::Fp || v.kind == Val::Arg) && o.kind == v.kind) {
      if (v.lo < o.lo)
        v.wide = true; // the deepest byte moves: unknown
      else if (v.hi > o.hi)
        v.hi = kOpenHi; // only the top moves: open it
    }
  };
  for (int i = 0; i < 11; ++i)
    w(s.r[i], old.r[i]);
  for (auto &[off, v] : s.slots) {
    auto it = old.slots.find(off);
    if (it != old.slots.end())
      w(v, it->second);
  }
}

int accessSize(uint8_t opcode) { return int(isa::accessBytes(opcode)); }

// `off` is the v4 variant: 1 makes div/mod signed (sdiv, smod).
int64_t alu(uint8_t op, int64_t a, int64_t b, bool is64, bool &ok, int16_t off = 0) {
  ok = true;
  if (off == 1 && (op == 0x30 || op == 0x90)) {
    // the kernel's semantics: x s/ 0 = 0, x s% 0 = x, INT_MIN s/ -1 = INT_MIN,
    // INT_MIN s% -1 = 0
    if (is64) {
      if (b == 0)
        return op == 0x30 ? 0 : a;
      if (b == -1)
        return op == 0x30 ? int64_t(0 - uint64_t(a)) : 0;
      return op == 0x30 ? a / b : a % b;
    }
    int32_t x = int32_t(uint32_t(a)), y = int32_t(uint32_t(b));
    int32_t r;
    if (y == 0)
      r = op == 0x30 ? 0 : x;
    else if (y == -1)
      r = op == 0x30 ? int32_t(0u - uint32_t(x)) : 0;
    else
      r = op == 0x30 ? x / y : x % y;
    return int64_t(uint32_t(r));
  }
  if (off != 0) {
    ok = false; // no other ALU operation has a variant
    return 0;
  }
  uint64_t ua = uint64_t(a), ub = uint64_t(b);
  if (!is64) // a 32-bit operation sees only the low halves (and a divisor
    ua = uint32_t(ua), ub = uint32_t(ub); // of 0x100000000 is zero)
  uint64_t r;
  unsigned width = is64 ? 64 : 32;
  switch (op) {
  case 0x00: r = ua + ub; break;
  case 0x10: r = ua - ub; break;
  case 0x20: r = ua * ub; break;
  case 0x30: r = ub ? (is64 ? ua / ub : uint32_t(ua) / uint32_t(ub)) : 0; break;
  case 0x40: r = ua | ub; break;
  case 0x50: r = ua & ub; break;
  case 0x60: r = ua << (ub & (width - 1)); break;
  case 0x70: r = is64 ? ua >> (ub & 63) : uint32_t(ua) >> (ub & 31); break;
  case 0x80: r = uint64_t(-a); break;
  case 0x90: r = ub ? (is64 ? ua % ub : uint32_t(ua) % uint32_t(ub)) : ua; break;
  case 0xa0: r = ua ^ ub; break;
  case 0xb0: r = ub; break;
  case 0xc0: r = is64 ? uint64_t(a >> (ub & 63)) : uint64_t(uint32_t(int32_t(ua) >> (ub & 31))); break;
  default: ok = false; return 0;
  }
  return is64 ? int64_t(r) : int64_t(uint32_t(r));
}

// Helpers that take a callback: which register holds it, which holds the
// context pointer handed to the callback, and as which callback argument.
struct CallbackHelper {
  int32_t id;
  const char *name;
  uint8_t cbReg, ctxReg, cbCtxArg;
  bool async;
};
const CallbackHelper kCallbackHelpers[] = {
    {164, "bpf_for_each_map_elem", 2, 3, 4, false},
    {170, "bpf_timer_set_callback", 2, 0, 0, true},
    {180, "bpf_find_vma", 3, 4, 3, false},
    {181, "bpf_loop", 2, 3, 2, false},
    {209, "bpf_user_ringbuf_drain", 2, 3, 2, false},
};
struct CallbackKfunc {
  const char *name;
  uint8_t cbReg;
  bool async;
};
const CallbackKfunc kCallbackKfuncs[] = {
    {"bpf_rbtree_add_impl", 3, false},
    {"bpf_list_push_front_impl", 0, false},
    {"bpf_wq_set_callback_impl", 2, true},
    {"bpf_task_work_schedule_signal", 3, true},
    {"bpf_task_work_schedule_resume", 3, true},
};

class Analyzer {
public:
  Analyzer(Object &obj, Function &fn, const std::map<uint32_t, LdImmTarget> &ldimm)
      : obj_(obj), fn_(fn), ldimm_(ldimm) {}
  void run();

private:
  Object &obj_;
  Function &fn_;
  const std::map<uint32_t, LdImmTarget> &ldimm_;
  std::vector<std::string> syms_;
  std::map<uint32_t, size_t> pos_; // insn index -> position in fn_.insns
  std::vector<State> in_;
  // collected results
  int64_t deepest_ = 0;
  std::optional<uint32_t> deepestInsn_;
  std::vector<UnboundedAccess> unbounded_;
  std::set<std::string> funcAddrTaken_;
  std::set<std::string> funcAddrUsed_;
  bool collecting_ = false;

  int32_t symId(const std::string &s) {
    auto it = std::find(syms_.begin(), syms_.end(), s);
    if (it != syms_.end())
      return int32_t(it - syms_.begin());
    syms_.push_back(s);
    return int32_t(syms_.size() - 1);
  }
  const CallSite *callAt(uint32_t idx) const {
    for (auto &c : fn_.calls)
      if (c.insn == idx)
        return &c;
    return nullptr;
  }
  void noteUnbounded(uint32_t insn, const std::string &why) {
    if (!collecting_)
      return;
    for (auto &u : unbounded_)
      if (u.insn == insn)
        return;
    unbounded_.push_back({insn, why});
  }
  // An access to [base + off, base + off + size).
  void touch(uint32_t insn, const Val &base, int64_t off, int64_t size, bool viaPointer);
  void transfer(const Insn &in, State &s);
  void call(const Insn &in, State &s);
  void store(State &s, const Val &addr, int64_t off, int size, const Val &v);
  Val load(const State &s, const Val &addr, int64_t off, int size);
  std::vector<uint32_t> successors(const Insn &in, size_t p) const;
};

void Analyzer::touch(uint32_t insn, const Val &base, int64_t off, int64_t size, bool viaPointer) {
  if (!collecting_)
    return;
  switch (base.kind) {
  case Val::Fp: {
    if (base.wide) {
      noteUnbounded(insn, "stack access at an unknown offset from r10");
      return;
    }
    int64_t lo = base.lo + off;
    if (-lo > deepest_) {
      deepest_ = -lo;
      deepestInsn_ = insn;
    }
    fn_.stackAccesses.push_back({insn, int32_t(std::clamp<int64_t>(lo, INT32_MIN, INT32_MAX)),
                                 uint32_t(std::min<int64_t>(size + (base.hi - base.lo), kKernelFrameCap)),
                                 viaPointer});
    return;
  }
  case Val::Arg: {
    if (base.wide) {
      noteUnbounded(insn, "access at an unknown offset from argument pointer r" +
                              std::to_string(base.arg) + " (may be the caller's stack)");
      return;
    }
    int64_t lo = base.lo + off;
    auto &d = fn_.argDeepest[base.arg];
    // record use even at non-negative offsets: the argument is touched
    d = int32_t(std::max<int64_t>(d, std::max<int64_t>(-lo, 0)));
    return;
  }
  case Val::Top:
    noteUnbounded(insn, "access through a register that may point into the stack at an unknown offset");
    return;
  default:
    return;
  }
}

void Analyzer::store(State &s, const Val &addr, int64_t off, int size, const Val &v) {
  if (addr.kind != Val::Fp)
    return; // caller's stack through Arg: see call()
  if (addr.exactFp()) {
    int64_t a = addr.lo + off;
    // drop every slot the store overlaps, then record an aligned spill
    for (auto it = s.slots.begin(); it != s.slots.end();)
      if (it->first < a + size && a < it->first + 8)
        it = s.slots.erase(it);
      else
        ++it;
    if (size == 8 && v.kind != Val::Scalar)
      s.slots[a] = v;
    return;
  }
  if (addr.wide) {
    if (v.isStack())
      s.anySlotPtr = true;
    for (auto &[o, sv] : s.slots)
      sv = join(sv, v.isStack() ? v : Val::scalar());
    return;
  }
  // a store somewhere in [lo, hi]: weak update of every slot it may hit
  for (auto &[o, sv] : s.slots)
    if (o < addr.hi + off + size && addr.lo + off < o + 8)
      sv = join(sv, size == 8 ? v : Val::scalar());
  if (v.isStack() && size == 8 && addr.hi - addr.lo > 4096) {
    s.anySlotPtr = true; // an open range: any slot may now hold it
    return;
  }
  if (v.isStack() && size == 8)
    for (int64_t a = addr.lo + off; a <= addr.hi + off; a += 8)
      if (!s.slots.count(a))
        s.slots[a] = join(v, Val::scalar());
}

Val Analyzer::load(const State &s, const Val &addr, int64_t off, int size) {
  // a load of 1, 2 or 4 bytes is zero-extended: never a pointer, never < 0
  if (size < 8)
    return Val::nonNeg(0, true);
  if (addr.kind == Val::Arg || addr.kind == Val::Top)
    return Val::scalar(); // pointers stored in a caller's frame: see call()
  if (addr.kind != Val::Fp)
    return Val::scalar();
  if (addr.exactFp()) {
    auto it = s.slots.find(addr.lo + off);
    Val v = it != s.slots.end() && size == 8 ? it->second : Val::scalar();
    return s.anySlotPtr ? join(v, Val::top()) : v;
  }
  Val r = Val::scalar();
  for (auto &[o, sv] : s.slots)
    if (addr.wide || (o < addr.hi + off + size && addr.lo + off < o + 8))
      r = join(r, sv);
  return s.anySlotPtr ? join(r, Val::top()) : r;
}

void Analyzer::call(const Insn &in, State &s) {
  const CallSite *cs = callAt(in.index);
  int nargs = 5;
  if (cs && cs->kind == CallKind::Helper)
    nargs = helperArgs(cs->helper);
  Val ret = Val::scalar();
  bool passesStack = false;
  for (int a = 1; a <= nargs; ++a) {
    const Val &v = s.r[a];
    if (!v.isStack())
      continue;
    passesStack = true;
    ret = join(ret, v);
    if (!collecting_)
      continue;
    if (cs && cs->kind == CallKind::Local) {
      // the callee may touch bytes below the pointer: settled in finishFrames
      if (v.kind == Val::Top || v.wide) {
        fn_.pointerArgs.push_back({in.index, cs->target, uint8_t(a), INT32_MIN, false, 0});
        continue;
      }
      PointerArg pa{in.index, cs->target, uint8_t(a), int32_t(v.lo), v.kind == Val::Arg, v.arg};
      fn_.pointerArgs.push_back(pa);
      touch(in.index, v, 0, 1, true); // the pointer itself is in the frame
      // The callee reads a pointer it finds in our frame as a plain number
      // (see load()); that is only sound when our frame holds none.
      for (auto &[o, sv] : s.slots)
        if (v.kind == Val::Fp && sv.isStack())
          noteUnbounded(in.index, "passes a frame holding stack pointers to " + cs->target);
    } else {
      // helpers and kfuncs touch [p, p + size): nothing below p
      touch(in.index, v, 0, 1, true);
    }
  }
  if (cs && cs->kind == CallKind::Helper && cs->helper == 12 && collecting_) {
    TailCallSite tc;
    tc.insn = in.index;
    if (s.r[2].kind == Val::MapPtr)
      tc.map = syms_[s.r[2].sym];
    if (s.r[3].kind == Val::Const)
      tc.slot = s.r[3].lo;
    fn_.tailCalls.push_back(std::move(tc));
  }
  if (cs && collecting_) {
    auto addCallback = [&](const Val &cb, const std::string &via, bool async, uint8_t ctxReg,
                           uint8_t cbCtxArg) {
      if (cb.kind != Val::FuncPtr) {
        noteUnbounded(in.index, via + " takes a callback that is not a known function");
        return;
      }
      const std::string &name = syms_[cb.sym];
      funcAddrUsed_.insert(name);
      fn_.callbacks.push_back({in.index, via, name, async});
      if (ctxReg && s.r[ctxReg].isStack()) {
        const Val &v = s.r[ctxReg];
        if (v.kind == Val::Top || v.wide)
          fn_.pointerArgs.push_back({in.index, name, cbCtxArg, INT32_MIN, false, 0});
        else
          fn_.pointerArgs.push_back(
              {in.index, name, cbCtxArg, int32_t(v.lo), v.kind == Val::Arg, v.arg});
      }
    };
    if (cs->kind == CallKind::Helper) {
      for (auto &h : kCallbackHelpers)
        if (h.id == cs->helper)
          addCallback(s.r[h.cbReg], h.name, h.async, h.ctxReg, h.cbCtxArg);
    } else {
      bool known = false;
      for (auto &k : kCallbackKfuncs)
        if (cs->target == k.name) {
          known = true;
          if (k.cbReg)
            addCallback(s.r[k.cbReg], k.name, k.async, 0, 0);
        }
      if (!known && cs->kind == CallKind::Kfunc)
        for (int a = 1; a <= 5; ++a)
          if (s.r[a].kind == Val::FuncPtr) // unknown kfunc: may run it any time
            addCallback(s.r[a], cs->target, true, 0, 0);
    }
  }
  // After the call: r1-r5 are dead, r0 is the result. A callee given a
  // pointer into this frame may have written anything there.
  for (int a = 1; a <= 5; ++a)
    s.r[a] = Val::scalar();
  if (passesStack && cs && cs->kind == CallKind::Local)
    for (auto &[o, sv] : s.slots)
      sv = join(sv, ret);
  // Helpers never return stack pointers (the kernel has no such return
  // type); a kfunc may hand back a buffer it was given (bpf_dynptr_slice),
  // unless its prototype returns a scalar or a struct pointer (the
  // verifier's PTR_TO_BTF_ID: an iterator's next task, a cpumask); a
  // subprog any pointer it was given.
  bool btfTyped = cs && cs->kind == CallKind::Kfunc &&
                  (cs->returns == KfuncReturn::Scalar || cs->returns == KfuncReturn::BtfObject);
  bool mayReturnStack = passesStack && !(cs && cs->kind == CallKind::Helper) && !btfTyped;
  s.r[0] = mayReturnStack ? ret : Val::scalar();
}

void Analyzer::transfer(const Insn &in, State &s) {
  uint8_t cls = in.cls();
  auto &r = s.r;
  switch (cls) {
  case 0x07: // ALU64
  case 0x04: { // ALU32
    bool is64 = cls == 0x07;
    uint8_t op = in.opcode & 0xf0;
    if (op == 0xd0) { // byte swap (to_le/to_be; ALU64: v4's bswap)
      r[in.dst] = Val::scalar();
      return;
    }
    Val src = (in.opcode & 0x08) ? r[in.src] : Val::constant(int32_t(in.imm));
    Val &dst = r[in.dst];
    if (op == 0xb0 && in.off != 0) {
      // v4: movsx (off 8, 16, 32: sign-extend the low bits of src) or, for
      // ALU64 X with off 1, addr_space_cast (an arena pointer converted
      // between address spaces). A number either way; a stack pointer
      // cast is no stack pointer we can follow.
      if (in.off == 1 && is64) {
        dst = src.isStack() ? Val::top() : Val::scalar();
        return;
      }
      if (src.kind == Val::Const && (in.off == 8 || in.off == 16 || (in.off == 32 && is64))) {
        int64_t v = in.off == 8 ? int64_t(int8_t(src.lo)) : in.off == 16 ? int64_t(int16_t(src.lo))
                                                                         : int64_t(int32_t(src.lo));
        dst = Val::constant(is64 ? v : int64_t(uint32_t(v)));
      } else {
        dst = is64 ? (src.isStack() ? Val::top() : Val::scalar()) : Val::nonNeg(0, true);
      }
      return;
    }
    if (!is64) {
      if (dst.kind == Val::Const && src.kind == Val::Const && op != 0x80) {
        bool ok;
        int64_t v = alu(op, dst.lo, src.lo, false, ok, in.off);
        dst = ok ? Val::constant(v) : Val::scalar();
      } else if (op == 0xb0 && src.kind == Val::Const) {
        dst = Val::constant(int64_t(uint32_t(src.lo)));
      } else {
        dst = Val::nonNeg(0, true); // a 32-bit result is zero-extended
      }
      return;
    }
    if (op == 0xb0) { // mov
      dst = src;
      return;
    }
    // r10 + a number known to be >= 0: the deepest byte is still known (the
    // kernel itself rejects stack accesses whose offset bounds it cannot
    // establish, so such a sum does not wrap in a program it accepts)
    auto shiftUp = [](Val &p, int64_t by) {
      p.lo += by;
      p.hi = kOpenHi;
      if (std::abs(p.lo) > (1 << 20))
        p.wide = true;
    };
    if ((op == 0x00 || op == 0x10) && (dst.kind == Val::Fp || dst.kind == Val::Arg)) {
      if (src.kind == Val::Const) {
        int64_t d = op == 0x00 ? src.lo : -src.lo;
        dst.lo += d;
        dst.hi = dst.hi >= kOpenHi ? kOpenHi : dst.hi + d;
        if (std::abs(dst.lo) > (1 << 20) || (dst.hi < kOpenHi && std::abs(dst.hi) > (1 << 20)))
          dst.wide = true;
      } else if (op == 0x00 && src.kind == Val::NonNeg) {
        shiftUp(dst, src.lo);
      } else if (op == 0x00 && src.nonStack()) {
        dst.wide = true; // r10 + unknown scalar
      } else {
        dst = Val::scalar(); // pointer difference
      }
      return;
    }
    if (op == 0x00 && src.kind == Val::Fp && dst.nonStack()) {
      Val v = src;
      if (dst.kind == Val::Const) {
        v.lo += dst.lo;
        v.hi = v.hi >= kOpenHi ? kOpenHi : v.hi + dst.lo;
      } else if (dst.kind == Val::NonNeg) {
        shiftUp(v, dst.lo);
      } else {
        v.wide = true;
      }
      dst = v;
      return;
    }
    if (dst.kind == Val::Top || (op == 0x00 && src.isStack())) {
      dst = Val::top();
      return;
    }
    if (dst.kind == Val::Const && src.kind == Val::Const) {
      bool ok;
      int64_t v = alu(op, dst.lo, src.lo, true, ok, in.off);
      dst = ok ? Val::constant(v) : Val::scalar();
      return;
    }
    if (in.off != 0) { // sdiv, smod: signed, so nothing stays known >= 0
      dst = Val::scalar();
      return;
    }
    // what stays known to be >= 0 (and small: these come from zero-extended
    // values and constants)
    auto a = dst.minNonNeg(), b = src.minNonNeg();
    if (op == 0x00 && a && b)
      dst = Val::nonNeg(*a + *b);
    else if (op == 0x50 && src.kind == Val::Const && src.lo >= 0)
      dst = Val::nonNeg(0, src.fits32() || dst.fits32()); // x & c, c >= 0
    else if (op == 0x70 && src.kind == Val::Const && (src.lo & 63) >= 1)
      dst = Val::nonNeg(0, dst.fits32()); // logical shift right
    else if (op == 0x60 && src.kind == Val::Const && (src.lo & 63) <= 31 && a && dst.fits32())
      dst = Val::nonNeg(*a << (src.lo & 63)); // below 2^32, shifted by <= 31: below 2^63
    else
      dst = Val::scalar();
    return;
  }
  case 0x00: { // LD: only ld_imm64 is valid
    if (!in.wide) {
      r[0] = Val::scalar(); // legacy LD_ABS/LD_IND
      return;
    }
    auto it = ldimm_.find(in.index);
    if (it == ldimm_.end()) {
      r[in.dst] = in.src == 0 ? Val::constant(in.imm) : Val::scalar();
    } else if (it->second.kind == LdImmTarget::Map) {
      Val v{Val::MapPtr};
      v.sym = symId(it->second.name);
      r[in.dst] = v;
    } else if (it->second.kind == LdImmTarget::Func) {
      Val v{Val::FuncPtr};
      v.sym = symId(it->second.name);
      if (collecting_)
        funcAddrTaken_.insert(it->second.name);
      r[in.dst] = v;
    } else {
      r[in.dst] = Val::scalar();
    }
    return;
  }
  case 0x01: { // LDX; BPF_MEMSX (v4's ldsx) sign-extends
    Val base = r[in.src];
    int size = accessSize(in.opcode);
    touch(in.index, base, in.off, size, in.src != 10);
    r[in.dst] = isa::form(in) == isa::Form::LoadSx ? Val::scalar() : load(s, base, in.off, size);
    return;
  }
  case 0x02: { // ST: store of an immediate (v4 emits them; a DW store
               // sign-extends imm, and keeps a constant as a spill does)
    Val base = r[in.dst];
    int size = accessSize(in.opcode);
    touch(in.index, base, in.off, size, in.dst != 10);
    store(s, base, in.off, size, size == 8 ? Val::constant(int32_t(in.imm)) : Val::scalar());
    return;
  }
  case 0x03: { // STX, atomics
    Val base = r[in.dst];
    int size = accessSize(in.opcode);
    bool atomic = (in.opcode & 0xe0) == 0xc0;
    if (isa::form(in) == isa::Form::LoadAcquire) { // dst = *(src + off)
      touch(in.index, r[in.src], in.off, size, in.src != 10);
      r[in.dst] = load(s, r[in.src], in.off, size);
      return;
    }
    if (isa::form(in) == isa::Form::StoreRelease) { // *(dst + off) = src
      touch(in.index, base, in.off, size, in.dst != 10);
      store(s, base, in.off, size, r[in.src]);
      return;
    }
    touch(in.index, base, in.off, size, in.dst != 10);
    if (atomic) {
      store(s, base, in.off, size, Val::scalar());
      if (in.imm & 0x01) { // BPF_FETCH: old value into src (cmpxchg: r0)
        if ((in.imm & 0xf0) == 0xf0)
          r[0] = Val::scalar();
        else
          r[in.src] = Val::scalar();
      }
    } else {
      store(s, base, in.off, size, r[in.src]);
    }
    return;
  }
  case 0x05:
  case 0x06: // jumps: no register effect
    if (in.isCall())
      call(in, s);
    return;
  default:
    return;
  }
}

std::vector<uint32_t> Analyzer::successors(const Insn &in, size_t p) const {
  std::vector<uint32_t> out;
  uint8_t cls = in.cls();
  uint32_t next = in.index + (in.wide ? 2 : 1);
  auto target = [&](int64_t t) {
    if (t < 0 || !pos_.count(uint32_t(t)))
      throw InputError(obj_.path, "section " + fn_.section + " function " + fn_.name,
                       "jump at instruction " + std::to_string(in.index) +
                           " lands outside the function or inside an ld_imm64 (target " +
                           std::to_string(t) + ")");
    out.push_back(uint32_t(t));
  };
  if (cls == 0x05 || cls == 0x06) {
    uint8_t op = in.opcode & 0xf0;
    if (in.isExit())
      return out;
    if (in.isCall()) {
      if (p + 1 < fn_.insns.size())
        out.push_back(next);
      return out;
    }
    // gotol (JMP32 | JA, v4): the offset is the 32-bit imm; may_goto
    // (JMP | JCOND) is a conditional jump by off, like the others
    auto t = isa::jumpTarget(in);
    if (!t)
      throw InputError(obj_.path, "section " + fn_.section + " function " + fn_.name,
                       "instruction " + std::to_string(in.index) + " (`" + in.text + "`) is " +
                           isa::formName(isa::form(in)) + ", which the analysis does not know");
    target(*t);
    if (op != 0x00 && p + 1 < fn_.insns.size())
      out.push_back(next);
    return out;
  }
  if (p + 1 < fn_.insns.size())
    out.push_back(next);
  return out;
}

void Analyzer::run() {
  for (size_t p = 0; p < fn_.insns.size(); ++p)
    pos_[fn_.insns[p].index] = p;
  in_.assign(fn_.insns.size(), State{});
  if (fn_.insns.empty())
    return;
  State entry;
  entry.reached = true;
  for (auto &v : entry.r)
    v = Val::scalar();
  entry.r[10] = Val::fp(0);
  if (!fn_.isProgram)
    for (uint8_t a = 1; a <= 5; ++a)
      entry.r[a] = Val::argp(a);
  in_[0] = entry;
  std::vector<int> visits(fn_.insns.size(), 0);
  std::deque<size_t> work{0};
  std::vector<bool> queued(fn_.insns.size(), false);
  queued[0] = true;
  while (!work.empty()) {
    size_t p = work.front();
    work.pop_front();
    queued[p] = false;
    State s = in_[p];
    transfer(fn_.insns[p], s);
    for (uint32_t t : successors(fn_.insns[p], p)) {
      size_t q = pos_.at(t);
      State merged = joinStates(in_[q], s);
      if (++visits[q] > 8)
        widen(merged, in_[q]);
      if (!(merged == in_[q])) {
        in_[q] = std::move(merged);
        if (!queued[q]) {
          queued[q] = true;
          work.push_back(q);
        }
      }
    }
  }
  // Collect effects from the fixpoint states.
  collecting_ = true;
  for (size_t p = 0; p < fn_.insns.size(); ++p) {
    if (!in_[p].reached)
      continue;
    State s = in_[p];
    transfer(fn_.insns[p], s);
  }
  // A function address taken but not handed to a known callback taker: the
  // model must still see it, conservatively as an async callback.
  for (auto &name : funcAddrTaken_)
    if (!funcAddrUsed_.count(name)) {
      uint32_t at = 0;
      for (auto &in : fn_.insns) {
        auto it = ldimm_.find(in.index);
        if (it != ldimm_.end() && it->second.kind == LdImmTarget::Func && it->second.name == name) {
          at = in.index;
          break;
        }
      }
      fn_.callbacks.push_back({at, "unknown", name, true});
    }
  fn_.frame.bytes = uint32_t(std::min<int64_t>(deepest_, INT32_MAX));
  fn_.frame.deepestInsn = deepestInsn_;
  fn_.frame.unbounded = unbounded_;
  fn_.frame.bounded = unbounded_.empty();
}

} // namespace

void analyzeFunction(Object &obj, Function &fn, const std::map<uint32_t, LdImmTarget> &ldimm) {
  Analyzer(obj, fn, ldimm).run();
}

void finishFrames(Object &obj) {
  std::map<std::string, Function *> byName;
  for (auto &f : obj.functions)
    byName[f.name] = &f;
  // Pointer arguments: a callee touching `d` bytes below the pointer it got
  // makes the caller's frame reach `-offset + d` bytes. Iterate to a fixpoint
  // over the call graph; growth beyond the kernel cap means recursion that
  // cannot be bounded.
  bool changed = true;
  for (int round = 0; changed && round < 64; ++round) {
    changed = false;
    for (auto &f : obj.functions)
      for (auto &pa : f.pointerArgs) {
        auto it = byName.find(pa.callee);
        if (it == byName.end() || pa.arg > 5)
          continue;
        int64_t d = it->second->argDeepest[pa.arg];
        if (pa.offset == INT32_MIN) {
          if (d > 0 || it->second->argDeepest[pa.arg] != 0) {
            bool dup = false;
            for (auto &u : f.frame.unbounded)
              dup |= u.insn == pa.insn;
            if (!dup) {
              f.frame.unbounded.push_back(
                  {pa.insn, "passes a stack pointer with an unknown offset to " + pa.callee});
              f.frame.bounded = false;
            }
          }
          continue;
        }
        int64_t need = -int64_t(pa.offset) + d;
        if (pa.fromArg) {
          if (need > f.argDeepest[pa.ownArg]) {
            f.argDeepest[pa.ownArg] = int32_t(std::min<int64_t>(need, 1 << 20));
            changed = true;
          }
        } else if (need > int64_t(f.frame.bytes)) {
          f.frame.bytes = uint32_t(std::min<int64_t>(need, 1 << 20));
          f.frame.deepestInsn = pa.insn;
          changed = true;
        }
      }
  }
  for (auto &f : obj.functions) {
    if (changed && f.frame.bytes > uint32_t(kKernelFrameCap)) {
      f.frame.bounded = false;
      f.frame.unbounded.push_back({0, "stack reached through pointer arguments grows without bound"});
    }
    f.frame.bytes = (f.frame.bytes + 7) & ~7u;
    if (!f.frame.bounded)
      f.frame.bytes = std::max<uint32_t>(f.frame.bytes, kKernelFrameCap);
  }
}

} // namespace pstack::detail
