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
#include "frontend/bounds.h"
#include "frontend/internal.h"
#include "frontend/isa.h"

#include <algorithm>
#include <array>
#include <climits>
#include <deque>
#include <queue>
#include <set>
#include <unordered_map>

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
    Scalar, // a number (or a pointer that is not into any stack): `num`
    Fp,     // r10 + [lo, hi]; `wide`: unknown offset
    Arg,    // argument pointer `arg` (1..5) on entry + [lo, hi]
    MapPtr, // ld_imm64 of map `sym`
    FuncPtr,// ld_imm64 of function `sym`
    Top     // may be a stack pointer with unknown offset
  } kind = Bot;
  int64_t lo = 0, hi = 0;
  bool wide = false;       // Fp/Arg with an unknown offset
  bool maybeOther = false; // Fp/Arg: or a non-stack value
  uint8_t arg = 0;
  int32_t sym = -1;
  ScalarBounds num;              // Scalar, Arg: what is known of it as a number
  // Scalar, Arg: registers and slots with the same nonzero id hold one value
  // (a copy, the kernel's find_equal_scalars): a jump that bounds one bounds all
  uint32_t id = 0;

  static Val make(Kind k) { Val v; v.kind = k; return v; }
  static Val scalar() { return make(Scalar); }
  static Val number(const ScalarBounds &b) { Val v = make(Scalar); v.num = b; return v; }
  static Val constant(int64_t c) { return number(ScalarBounds::constant(uint64_t(c))); }
  static Val fp(int64_t off) { Val v = make(Fp); v.lo = v.hi = off; return v; }
  static Val argp(uint8_t a) { Val v = make(Arg); v.arg = a; return v; }
  static Val top() { return make(Top); }

  bool isConst() const { return kind == Scalar && num.isConst(); }
  int64_t constValue() const { return int64_t(num.value); }
  bool isStack() const { return kind == Fp || kind == Arg || kind == Top; }
  bool nonStack() const { return kind == Scalar || kind == MapPtr || kind == FuncPtr; }
  // what is known of this value as a number (a map or function address:
  // nothing)
  ScalarBounds asNumber() const { return kind == Scalar || kind == Arg ? num : ScalarBounds::unknown(); }
  bool numeric() const { return kind == Scalar || kind == Arg; }
  // (a pointer, where the kernel only accepts a number, is an unknown one)
  bool exactFp() const { return kind == Fp && !wide && lo == hi; }
  bool operator==(const Val &o) const {
    return kind == o.kind && lo == o.lo && hi == o.hi && wide == o.wide &&
           maybeOther == o.maybeOther && arg == o.arg && sym == o.sym && num == o.num && id == o.id;
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
    Val r = Val::number(join(a.asNumber(), b.asNumber()));
    r.id = a.kind == Val::Scalar && b.kind == Val::Scalar && a.id == b.id ? a.id : 0;
    return r;
  }
  if (a.isStack() && b.isStack()) {
    if (a.kind != b.kind || (a.kind == Val::Arg && a.arg != b.arg))
      return Val::top();
    Val r = a;
    r.lo = std::min(a.lo, b.lo);
    r.hi = std::max(a.hi, b.hi);
    r.wide = a.wide || b.wide;
    r.maybeOther = a.maybeOther || b.maybeOther;
    r.num = join(a.num, b.num);
    r.id = a.id == b.id ? a.id : 0;
    return r;
  }
  // one stack pointer, one non-stack value
  Val r = a.isStack() ? a : b;
  r.maybeOther = true;
  return r;
}

// Spilled slots by r10 offset, in offset order: a std::map's interface over
// one sorted vector (a state is copied at every instruction; a map's nodes
// made the frame analysis most of a batch run's time).
class Slots {
public:
  using value_type = std::pair<int64_t, Val>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;
  iterator begin() { return v_.begin(); }
  iterator end() { return v_.end(); }
  const_iterator begin() const { return v_.begin(); }
  const_iterator end() const { return v_.end(); }
  iterator find(int64_t k) {
    auto it = lower(k);
    return it != v_.end() && it->first == k ? it : v_.end();
  }
  const_iterator find(int64_t k) const {
    auto it = std::lower_bound(v_.begin(), v_.end(), k,
                               [](const value_type &e, int64_t x) { return e.first < x; });
    return it != v_.end() && it->first == k ? it : v_.end();
  }
  size_t count(int64_t k) const { return find(k) != v_.end() ? 1 : 0; }
  Val &operator[](int64_t k) {
    auto it = lower(k);
    if (it == v_.end() || it->first != k)
      it = v_.insert(it, {k, Val{}});
    return it->second;
  }
  iterator erase(iterator it) { return v_.erase(it); }
  // adds a slot above every slot held (building in order)
  void append(int64_t k, Val v) { v_.emplace_back(k, std::move(v)); }
  void reserve(size_t n) { v_.reserve(n); }
  bool operator==(const Slots &o) const { return v_ == o.v_; }

private:
  std::vector<value_type> v_;
  iterator lower(int64_t k) {
    return std::lower_bound(v_.begin(), v_.end(), k,
                            [](const value_type &e, int64_t x) { return e.first < x; });
  }
};

struct State {
  bool reached = false;
  std::array<Val, 11> r{};
  Slots slots; // 8-byte spills at exact r10 offsets
  bool anySlotPtr = false;      // a stack pointer went to an unknown slot
  // a pointer into this frame was stored outside it (into a caller's
  // frame): a callee given a caller's pointer may find it and write here
  bool frameEscaped = false;

  // every register and spilled slot
  template <class F> void forEachValue(F f) {
    for (auto &v : r)
      f(v);
    for (auto &[o, v] : slots)
      f(v);
  }
  bool operator==(const State &o) const {
    return reached == o.reached && r == o.r && slots == o.slots && anySlotPtr == o.anySlotPtr &&
           frameEscaped == o.frameEscaped;
  }
};

State joinStates(const State &a, State &&b) {
  if (!a.reached)
    return std::move(b);
  if (!b.reached)
    return a;
  State s;
  s.reached = true;
  for (int i = 0; i < 11; ++i)
    s.r[i] = join(a.r[i], b.r[i]);
  // a slot missing on one side holds a scalar there (one walk over both,
  // in offset order)
  auto ia = a.slots.begin(), ea = a.slots.end();
  auto ib = b.slots.begin(), eb = b.slots.end();
  while (ia != ea || ib != eb) {
    if (ib == eb || (ia != ea && ia->first < ib->first)) {
      s.slots.append(ia->first, join(ia->second, Val::scalar()));
      ++ia;
    } else if (ia == ea || ib->first < ia->first) {
      s.slots.append(ib->first, join(ib->second, Val::scalar()));
      ++ib;
    } else {
      s.slots.append(ia->first, join(ia->second, ib->second));
      ++ia, ++ib;
    }
  }
  s.anySlotPtr = a.anySlotPtr || b.anySlotPtr;
  s.frameEscaped = a.frameEscaped || b.frameEscaped;
  return s;
}

// Widening: a value whose offset interval still moves after many visits
// gets an unknown offset, so loops terminate.
void widen(State &s, const State &old) {
  auto w = [](Val &v, const Val &o) {
    if (v.numeric() && o.kind == v.kind)
      v.num = widen(o.num, v.num);
    if ((v.kind == Val::Fp || v.kind == Val::Arg) && o.kind == v.kind) {
      if (v.lo < o.lo)
        v.wide = true; // the deepest byte moves: unknown
      else if (v.hi > o.hi)
        v.hi = kOpenHi; // only the top moves: open it
      if (v.wide)
        v.lo = v.hi = 0; // an unknown offset has no bounds left to move
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

// A fresh id for the copy made at `in`: the instruction's own, taken back
// from values an earlier pass of a loop left with it (they are no copies of
// the new one).
uint32_t newCopyId(State &s, const Insn &in) {
  uint32_t id = in.index + 1;
  s.forEachValue([&](Val &v) {
    if (v.id == id)
      v.id = 0;
  });
  return id;
}

// What the jump `in` tells on one of its edges: the compared register (and
// its copies) narrowed; false if no value takes that edge (the kernel does
// not walk it either: it decides the branch from the same ranges), and then
// `s` is left as it was.
bool narrowEdge(const Insn &in, State &s, bool taken) {
  if (isa::form(in) != isa::Form::CondJump)
    return true; // goto, gotol, call, exit, may_goto
  const uint8_t op = isa::op(in.opcode);
  const bool jmp32 = in.cls() == isa::JMP32;
  const bool regSrc = in.opcode & isa::SRC_X;
  Val &d = s.r[in.dst];
  Val src = regSrc ? s.r[in.src] : Val::constant(jmp32 ? int64_t(uint32_t(in.imm)) : int64_t(in.imm));
  if (!d.numeric() || !src.numeric())
    return true; // (an argument: narrowed as the number it may be)
  Narrowed n = narrow(op, jmp32, taken, d.num, src.num);
  if (!n.live)
    return false;
  auto set = [&](Val &v, const ScalarBounds &b) {
    if (v.id)
      s.forEachValue([&](Val &x) {
        if (x.numeric() && x.id == v.id)
          x.num = b;
      });
    v.num = b;
  };
  set(d, n.dst);
  if (regSrc && in.src != in.dst)
    set(s.r[in.src], n.src);
  return true;
}

// Every number unknown (kept: copies stay copies only if equal anyway).
void forgetNumbers(State &s) {
  s.forEachValue([](Val &v) {
    if (v.numeric())
      v.num = ScalarBounds::unknown(), v.id = 0;
  });
}

int accessSize(uint8_t opcode) { return int(isa::accessBytes(opcode)); }

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
  Analyzer(Object &obj, Function &fn, const std::map<uint32_t, LdImmTarget> &ldimm,
           uint8_t numberArgs)
      : obj_(obj), fn_(fn), ldimm_(ldimm), numberArgs_(numberArgs) {}
  void run();

private:
  Object &obj_;
  Function &fn_;
  const std::map<uint32_t, LdImmTarget> &ldimm_;
  uint8_t numberArgs_; // bit a: no caller passes a stack pointer in r<a>
  std::vector<std::string> syms_;
  // insn index -> position in fn_.insns (kNoPos: the second slot of an ld_imm64)
  static constexpr uint32_t kNoPos = UINT32_MAX;
  std::vector<uint32_t> pos_;
  bool isInsn(int64_t index) const {
    return index >= 0 && uint64_t(index) < pos_.size() && pos_[size_t(index)] != kNoPos;
  }
  // the state before each instruction; its memory is kept for the next
  // function analysed on this thread (a large object's functions would
  // otherwise each fault in fresh pages)
  std::vector<State> &in_ = statePool();
  static std::vector<State> &statePool() {
    static thread_local std::vector<State> pool;
    return pool;
  }
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
  void alu(const Insn &in, State &s);
  void call(const Insn &in, State &s);
  void store(State &s, const Val &addr, int64_t off, int size, const Val &v);
  Val load(const State &s, const Val &addr, int64_t off, int size);
  // at most two: a conditional jump's target first, then the next instruction
  struct Successors {
    uint32_t n = 0;
    uint32_t at[2] = {0, 0};
    void push_back(uint32_t i) { at[n++] = i; }
    size_t size() const { return n; }
    uint32_t operator[](size_t i) const { return at[i]; }
  };
  Successors successors(const Insn &in, size_t p) const;
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
  if (addr.kind != Val::Fp) {
    if (v.kind == Val::Fp || v.kind == Val::Top)
      s.frameEscaped = true;
    return; // caller's stack through Arg: see call()
  }
  if (addr.exactFp()) {
    int64_t a = addr.lo + off;
    // drop every slot the store overlaps, then record an aligned spill
    for (auto it = s.slots.begin(); it != s.slots.end();)
      if (it->first < a + size && a < it->first + 8)
        it = s.slots.erase(it);
      else
        ++it;
    if (size == 8 && !(v.kind == Val::Scalar && v.num.isUnknown() && v.id == 0))
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
    return Val::number(ScalarBounds::urange(0, (uint64_t(1) << (8 * size)) - 1));
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
  // (a local callee reads only the registers it uses: see settleCallees)
  auto passed = [&](int a) {
    return a <= nargs && !(cs && cs->kind == CallKind::Local && !(cs->calleeArgs & (1u << a)));
  };
  Val ret = Val::scalar();
  bool passesStack = false;
  for (int a = 1; a <= nargs; ++a) {
    const Val &v = s.r[a];
    if (!v.isStack() || !passed(a))
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
      // The callee reads a pointer it finds in our frame as a plain number
      // (see load()); that is only sound where it cannot reach one: none at
      // or above the pointer (up to r10), none in the bytes it touches below
      // it (settled in finishFrames), or when the kernel verifies the
      // callee alone (it reads our frame as PTR_TO_MEM: what it loads there
      // is a number to it too).
      if (v.kind == Val::Fp && !cs->calleeAlone) {
        bool reached = s.anySlotPtr;
        for (auto &[o, sv] : s.slots)
          if (sv.isStack()) {
            if (o + 8 > v.lo)
              reached = true;
            else
              pa.ptrSlot = int32_t(std::max<int64_t>(pa.ptrSlot, o));
          }
        if (reached)
          noteUnbounded(in.index, "passes a frame holding stack pointers to " + cs->target);
      }
      fn_.pointerArgs.push_back(pa);
      touch(in.index, v, 0, 1, true); // the pointer itself is in the frame
    } else {
      // helpers and kfuncs touch [p, p + size): nothing below p
      touch(in.index, v, 0, 1, true);
    }
  }
  if (cs && cs->kind == CallKind::Local && collecting_)
    for (uint8_t a = 1; a <= 5; ++a) {
      const Val &v = s.r[a];
      if (v.kind == Val::FuncPtr) {
        funcAddrUsed_.insert(syms_[v.sym]);
        fn_.functionArgs.push_back({in.index, cs->target, a, syms_[v.sym], 0});
      } else if (v.kind == Val::Arg && !v.wide && v.lo == 0 && v.hi == 0) {
        fn_.functionArgs.push_back({in.index, cs->target, a, "", v.arg});
      }
    }
  if (cs && cs->kind == CallKind::Helper && cs->helper == 12 && collecting_) {
    TailCallSite tc;
    tc.insn = in.index;
    if (s.r[2].kind == Val::MapPtr)
      tc.map = syms_[s.r[2].sym];
    if (s.r[3].isConst())
      tc.slot = s.r[3].constValue();
    fn_.tailCalls.push_back(std::move(tc));
  }
  if (cs && collecting_) {
    auto addCallback = [&](const Val &cb, const std::string &via, bool async, uint8_t ctxReg,
                           uint8_t cbCtxArg) {
      std::optional<PointerArg> context;
      if (ctxReg && s.r[ctxReg].isStack()) {
        const Val &v = s.r[ctxReg];
        if (v.kind == Val::Top || v.wide)
          context = PointerArg{in.index, "", cbCtxArg, INT32_MIN, false, 0};
        else
          context = PointerArg{in.index, "", cbCtxArg, int32_t(v.lo), v.kind == Val::Arg, v.arg};
      }
      if (cb.kind == Val::Arg && !cb.wide && cb.lo == 0 && cb.hi == 0) {
        // a callback the caller passed in: settled by finishFrames
        fn_.callbackArgs.push_back({in.index, via, cb.arg, async, context});
        return;
      }
      if (cb.kind != Val::FuncPtr) {
        noteUnbounded(in.index, via + " takes a callback that is not a known function");
        return;
      }
      const std::string &name = syms_[cb.sym];
      funcAddrUsed_.insert(name);
      fn_.callbacks.push_back({in.index, via, name, async});
      if (context) {
        context->callee = name;
        fn_.pointerArgs.push_back(*context);
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
  // pointer into this frame may have written there; given only pointers
  // into its callers' frames (our own arguments), not, unless a pointer to
  // this frame was left where it can find one. What it writes is never a
  // stack pointer: the verifier refuses to spill one into another frame
  // than the writer's own (check_stack_write_fixed_off: "cannot spill
  // pointers to stack into stack frame of the caller"; a write at a
  // variable offset leaves STACK_MISC).
  bool intoThisFrame = s.frameEscaped;
  for (int a = 1; a <= nargs; ++a)
    intoThisFrame |= passed(a) && (s.r[a].kind == Val::Fp || s.r[a].kind == Val::Top);
  for (int a = 1; a <= 5; ++a)
    s.r[a] = Val::scalar();
  if (passesStack && intoThisFrame && cs && cs->kind == CallKind::Local)
    for (auto &[o, sv] : s.slots)
      sv = join(sv, Val::scalar());
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
  using isa::Form;
  auto &r = s.r;
  const Form form = isa::form(in);
  switch (form) {
  case Form::ByteSwap:
  case Form::Bswap:
    r[in.dst] = Val::scalar(); // the kernel keeps no bounds of a swapped number
    return;
  case Form::AddrSpaceCast:
    r[in.dst] = Val::scalar(); // the kernel's PTR_TO_ARENA, or a number: never the stack
    return;
  case Form::MovSx: { // sign-extend the low off bits of src
    const bool is64 = in.cls() == isa::ALU64;
    const Val &src = r[in.src];
    if (src.isStack())
      r[in.dst] = is64 ? Val::top() : Val::scalar(); // a stack pointer we cannot follow
    else
      r[in.dst] = Val::number(signExtendBounds(src.asNumber(), unsigned(in.off), is64));
    return;
  }
  case Form::Alu:
  case Form::SignedDivMod:
    alu(in, s);
    return;
  case Form::LdImm64: {
    auto it = ldimm_.find(in.index);
    if (it == ldimm_.end()) {
      r[in.dst] = in.src == 0 ? Val::constant(in.imm) : Val::scalar();
    } else if (it->second.kind == LdImmTarget::Map) {
      Val v = Val::make(Val::MapPtr);
      v.sym = symId(it->second.name);
      r[in.dst] = v;
    } else if (it->second.kind == LdImmTarget::Func) {
      Val v = Val::make(Val::FuncPtr);
      v.sym = symId(it->second.name);
      if (collecting_)
        funcAddrTaken_.insert(it->second.name);
      r[in.dst] = v;
    } else {
      r[in.dst] = Val::scalar();
    }
    return;
  }
  case Form::LegacyLoad: // LD_ABS / LD_IND: r0 = packet bytes
    r[0] = Val::scalar();
    return;
  case Form::Load:
  case Form::LoadSx:
  case Form::LoadAcquire: { // dst = *(src + off); ldsx sign-extends
    const int size = accessSize(in.opcode);
    const Val base = r[in.src];
    touch(in.index, base, in.off, size, in.src != 10);
    if (form == Form::LoadSx) {
      const int64_t half = int64_t(1) << (8 * size - 1);
      r[in.dst] = Val::number(ScalarBounds::srange(-half, half - 1));
    } else {
      r[in.dst] = load(s, base, in.off, size);
    }
    return;
  }
  case Form::Store:
  case Form::StoreRelease:
  case Form::StoreImm:
  case Form::Atomic: { // *(dst + off) = ...
    const int size = accessSize(in.opcode);
    const Val base = r[in.dst];
    touch(in.index, base, in.off, size, in.dst != 10);
    if (form == Form::StoreImm) {
      // The slot holds an unknown number: 6.1 keeps no value for it (from
      // 6.3 a constant), so both sides of a later test of it are walked,
      // and counted
      store(s, base, in.off, size, Val::scalar());
    } else if (form == Form::Atomic) {
      store(s, base, in.off, size, Val::scalar());
      for (uint8_t reg = 0; reg <= 10; ++reg) // BPF_FETCH: the old value (cmpxchg: r0)
        if (isa::writes(in) & (1u << reg))
          r[reg] = Val::scalar();
    } else {
      store(s, base, in.off, size, r[in.src]);
    }
    return;
  }
  case Form::Call:
    call(in, s);
    return;
  case Form::Ja:
  case Form::Gotol:
  case Form::CondJump:
  case Form::MayGoto:
  case Form::Exit:
    return; // no register effect (a jump's edges narrow: narrowEdge)
  case Form::Unknown:
    break;
  }
  // the loader refuses these; a caller that built its own Insn gets told
  throw InputError(obj_.path, "section " + fn_.section + " function " + fn_.name,
                   "instruction " + std::to_string(in.index) + " (`" + in.text() +
                       "`) is not one the kernel accepts");
}

// ALU and ALU64 arithmetic, mov, neg, shifts, signed div/mod.
void Analyzer::alu(const Insn &in, State &s) {
  auto &r = s.r;
  const bool is64 = in.cls() == isa::ALU64;
  const uint8_t op = isa::op(in.opcode);
  Val &dst = r[in.dst];
  if (op == isa::NEG) { // the kernel keeps no bounds of a negated number
    dst = Val::scalar();
    return;
  }
  const bool regSrc = in.opcode & isa::SRC_X;
  Val src = regSrc ? r[in.src] : Val::constant(int32_t(in.imm));
  if (!is64) { // a pointer cut to 32 bits is a number
    dst = Val::number(aluBounds(op, dst.asNumber(), src.asNumber(), false, in.off));
    return;
  }
  if (op == isa::MOV) { // a copy of an unknown number shares its id
    if (src.numeric() && !src.num.isConst() && regSrc) {
      if (src.id == 0)
        r[in.src].id = src.id = newCopyId(s, in);
    } else {
      src.id = 0;
    }
    dst = src;
    return;
  }
  const bool addSub = op == isa::ADD || op == isa::SUB;
  // r10 + a bounded number: the offset interval moves by its range (the
  // kernel rejects stack accesses whose offset bounds it cannot establish,
  // so such a sum does not wrap in a program it accepts)
  auto shift = [](Val &p, const ScalarBounds &n, bool subtract) {
    constexpr int64_t kFar = int64_t(1) << 29; // the kernel's BPF_MAX_VAR_OFF
    // (p - n moves by -n: no negation of INT64_MIN, only bounds within kFar)
    int64_t lo = subtract ? (n.smax >= kFar || n.smax <= -kFar ? INT64_MIN : -n.smax) : n.smin;
    int64_t hi = subtract ? (n.smin <= -kFar ? INT64_MAX : -n.smin) : n.smax;
    if (lo <= -kFar) {
      p.wide = true; // r10 + a number with no lower bound
      return;
    }
    p.lo += lo;
    p.hi = (p.hi >= kOpenHi || hi >= kFar) ? kOpenHi : p.hi + hi;
    if (std::abs(p.lo) > (1 << 20) || (p.hi < kOpenHi && std::abs(p.hi) > (1 << 20)))
      p.wide = true;
  };
  if (addSub && (dst.kind == Val::Fp || dst.kind == Val::Arg)) {
    dst.id = 0;
    if (src.nonStack()) {
      // an argument may be a number after all: that number moves too
      dst.num = dst.kind == Val::Arg ? aluBounds(op, dst.num, src.asNumber(), true)
                                     : ScalarBounds::unknown();
      shift(dst, src.asNumber(), op == isa::SUB);
    } else {
      dst = Val::scalar(); // pointer difference (or pointer + pointer)
    }
    return;
  }
  if (op == isa::ADD && (src.kind == Val::Fp || src.kind == Val::Arg) && dst.nonStack()) {
    Val v = src;
    v.id = 0;
    v.num = v.kind == Val::Arg ? aluBounds(op, dst.asNumber(), v.num, true) : ScalarBounds::unknown();
    shift(v, dst.asNumber(), false);
    dst = v;
    return;
  }
  if (addSub && dst.kind == Val::Top) {
    dst = Val::top();
    return;
  }
  if (op == isa::ADD && src.isStack()) {
    dst = Val::top();
    return;
  }
  // Any other operation on what may be a stack pointer (an argument that
  // is a number after all): the kernel refuses it on a pointer, so where
  // it accepts the program the operand was a number, of unknown value.
  dst = Val::number(aluBounds(op, dst.asNumber(), src.asNumber(), true, in.off));
}

Analyzer::Successors Analyzer::successors(const Insn &in, size_t p) const {
  Successors out;
  uint32_t next = in.index + (in.wide ? 2 : 1);
  auto target = [&](int64_t t) {
    if (!isInsn(t))
      throw InputError(obj_.path, "section " + fn_.section + " function " + fn_.name,
                       "jump at instruction " + std::to_string(in.index) +
                           " lands outside the function or inside an ld_imm64 (target " +
                           std::to_string(t) + ")");
    out.push_back(uint32_t(t));
  };
  switch (isa::form(in)) {
  case isa::Form::Exit:
    return out;
  case isa::Form::Call:
    break; // returns to the next instruction
  case isa::Form::Ja:
  case isa::Form::Gotol: // (offset in imm)
    target(*isa::jumpTarget(in));
    return out;
  case isa::Form::CondJump:
  case isa::Form::MayGoto: // a conditional jump by off, the kernel decides
    target(*isa::jumpTarget(in));
    break;
  default:
    break;
  }
  if (p + 1 < fn_.insns.size())
    out.push_back(next);
  return out;
}

void Analyzer::run() {
  pos_.assign(fn_.insns.empty() ? 0 : fn_.insns.back().index + 1, kNoPos);
  for (size_t p = 0; p < fn_.insns.size(); ++p)
    pos_[fn_.insns[p].index] = uint32_t(p);
  // an unreached state is never read but for `reached` (the first state
  // to arrive replaces it whole): the pool's old contents stay
  in_.resize(fn_.insns.size());
  for (State &st : in_)
    st.reached = false;
  if (fn_.insns.empty())
    return;
  State entry;
  entry.reached = true;
  for (auto &v : entry.r)
    v = Val::scalar();
  entry.r[10] = Val::fp(0);
  if (!fn_.isProgram)
    for (uint8_t a = 1; a <= 5; ++a)
      if (!(numberArgs_ & (1u << a)))
        entry.r[a] = Val::argp(a);
  in_[0] = entry;
  std::vector<int> visits(fn_.insns.size(), 0);
  // lowest position first: forward code (most of it) is then walked in
  // order, each instruction once its predecessors are done
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> work;
  work.push(0);
  std::vector<bool> queued(fn_.insns.size(), false);
  queued[0] = true;
  // Widening bounds every chain of states; this cap only makes sure a bug
  // in it costs an `unknown`, never a hang.
  size_t budget = 200000 + 64 * fn_.insns.size();
  bool settled = true;
  while (!work.empty()) {
    if (budget-- == 0) {
      settled = false;
      break;
    }
    size_t p = work.top();
    work.pop();
    queued[p] = false;
    // (successors() throws only for jumps, transfer() never for them: the
    // order of the two does not change which error an object gets)
    const Successors succ = successors(fn_.insns[p], p);
    if (succ.size() == 1 && !in_[pos_[succ[0]]].reached) {
      // straight-line code, the common case: the one successor's state is
      // this one's after the instruction (what the general path below
      // gives), made in its place: one copy per instruction, not three
      const size_t q = pos_[succ[0]];
      in_[q] = in_[p];
      transfer(fn_.insns[p], in_[q]);
      ++visits[q];
      if (!queued[q]) {
        queued[q] = true;
        work.push(q);
      }
      continue;
    }
    State s = in_[p];
    transfer(fn_.insns[p], s);
    State spare;
    for (size_t i = 0; i < succ.size(); ++i) {
      size_t q = pos_[succ[i]]; // (successors() checked it)
      // (the last edge takes `s` itself: a copy per instruction, not three)
      if (i + 1 < succ.size())
        spare = s;
      State &edge = i + 1 < succ.size() ? spare : s;
      // a conditional jump lists its target first, then the next instruction.
      // An edge no value takes is still walked, unnarrowed: the kernel
      // prunes it too, but its code must stay in the object's facts (a
      // callback address or tail call there is still linked and JITed)
      // (narrowEdge leaves a dead edge's state as it was)
      if (succ.size() == 2)
        narrowEdge(fn_.insns[p], edge, i == 0);
      if (!in_[q].reached) {
        // the first state to reach q is q's state (what joinStates gives;
        // this is q's first visit, so no widening), moved in whole
        ++visits[q];
        in_[q] = std::move(edge);
        if (!queued[q]) {
          queued[q] = true;
          work.push(q);
        }
        continue;
      }
      State merged = joinStates(in_[q], std::move(edge));
      // widening where a back edge arrives (q at or before p): every cycle
      // has one, so loops still settle, and a value a loop body computes
      // afresh from narrowed numbers keeps its bounds at the joins inside
      if (++visits[q] > 8 && q <= p)
        widen(merged, in_[q]);
      if (visits[q] > 64)
        forgetNumbers(merged); // a loop the widening did not settle
      if (!(merged == in_[q])) {
        in_[q] = std::move(merged);
        if (!queued[q]) {
          queued[q] = true;
          work.push(q);
        }
      }
    }
  }
  if (!settled) {
    fn_.frame.bytes = kKernelFrameCap;
    fn_.frame.bounded = false;
    fn_.frame.unbounded = {{0, "the frame analysis did not settle (please report this object)"}};
    return;
  }
  // Collect effects from the fixpoint states.
  // (each state is read here for the last time: transferred in place)
  collecting_ = true;
  for (size_t p = 0; p < fn_.insns.size(); ++p) {
    if (!in_[p].reached)
      continue;
    transfer(fn_.insns[p], in_[p]);
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

namespace {

// Registers an instruction may read (bit n: rn): a local call what its
// callee reads of r1-r5 (`calleeArgs`), a helper its arguments, a kfunc
// r1-r5; an instruction of no known form, all.
uint16_t readsOf(const Insn &in, const CallSite *cs, const std::vector<uint8_t> &live,
                 const std::unordered_map<std::string, size_t> &byName) {
  using isa::Form;
  const auto bit = [](unsigned r) { return uint16_t(r <= 10 ? 1u << r : 0); };
  const uint16_t src = (in.opcode & isa::SRC_X) ? bit(in.src) : 0;
  switch (isa::form(in)) {
  case Form::Alu:
  case Form::SignedDivMod:
    return uint16_t(src | (isa::op(in.opcode) == isa::MOV ? 0 : bit(in.dst)));
  case Form::MovSx:
  case Form::AddrSpaceCast:
  case Form::Load:
  case Form::LoadSx:
  case Form::LoadAcquire:
    return bit(in.src);
  case Form::ByteSwap:
  case Form::Bswap:
  case Form::StoreImm:
    return bit(in.dst);
  case Form::LdImm64:
  case Form::Ja:
  case Form::Gotol:
  case Form::MayGoto:
    return 0;
  case Form::LegacyLoad:
    return uint16_t(bit(6) | bit(in.src));
  case Form::Store:
  case Form::StoreRelease:
    return uint16_t(bit(in.dst) | bit(in.src));
  case Form::Atomic:
    return uint16_t(bit(in.dst) | bit(in.src) | bit(0));
  case Form::CondJump:
    return uint16_t(bit(in.dst) | src);
  case Form::Exit:
    return bit(0);
  case Form::Call: {
    if (cs && cs->kind == CallKind::Helper)
      return uint16_t(((1u << (helperArgs(cs->helper) + 1)) - 1) & 0x3e);
    if (cs && cs->kind == CallKind::Local) {
      auto it = byName.find(cs->target);
      return it == byName.end() ? 0x3e : live[it->second];
    }
    return 0x3e;
  }
  default:
    return 0x7ff;
  }
}

// r1-r5 a function may read before writing them (bit a: r<a>), its
// callees' reads at its calls taken from `live`.
uint8_t entryReads(const Function &fn, const std::vector<uint8_t> &live,
                   const std::unordered_map<std::string, size_t> &byName) {
  const size_t n = fn.insns.size();
  if (n == 0)
    return 0;
  std::unordered_map<uint32_t, size_t> pos;
  for (size_t p = 0; p < n; ++p)
    pos[fn.insns[p].index] = p;
  std::unordered_map<uint32_t, const CallSite *> calls;
  for (auto &c : fn.calls)
    calls[c.insn] = &c;
  std::vector<uint16_t> in(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t p = n; p-- > 0;) {
      const Insn &insn = fn.insns[p];
      const isa::Form form = isa::form(insn);
      uint16_t out = 0;
      auto edge = [&](int64_t t) {
        auto it = t >= 0 ? pos.find(uint32_t(t)) : pos.end();
        out |= it == pos.end() ? uint16_t(0x7ff) : in[it->second]; // (the analysis refuses it)
      };
      if (form != isa::Form::Exit) {
        if (auto t = isa::jumpTarget(insn))
          edge(*t);
        if (form != isa::Form::Ja && form != isa::Form::Gotol && p + 1 < n)
          out |= in[p + 1];
      }
      auto c = calls.find(insn.index);
      const uint16_t v = uint16_t(readsOf(insn, c == calls.end() ? nullptr : c->second, live, byName) |
                                  (out & ~isa::writes(insn)));
      if (v != in[p]) {
        in[p] = v;
        changed = true;
      }
    }
  }
  return uint8_t(in[0] & 0x3e);
}

} // namespace

void settleCallees(Object &obj) {
  std::unordered_map<std::string, size_t> byName;
  for (size_t i = 0; i < obj.functions.size(); ++i)
    byName[obj.functions[i].name] = i;
  // the least fixpoint: a register no path reads (through callees too) is
  // dead at entry, whatever recursion there is
  std::vector<uint8_t> live(obj.functions.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < obj.functions.size(); ++i) {
      uint8_t l = uint8_t(live[i] | entryReads(obj.functions[i], live, byName));
      if (l != live[i]) {
        live[i] = l;
        changed = true;
      }
    }
  }
  for (auto &f : obj.functions)
    for (auto &c : f.calls) {
      if (c.kind != CallKind::Local)
        continue;
      auto it = byName.find(c.target);
      c.calleeArgs = it == byName.end() ? 0x3e : live[it->second];
      c.calleeAlone = it != byName.end() && obj.functions[it->second].verifiedAlone;
    }
}

void analyzeFunction(Object &obj, Function &fn, const std::map<uint32_t, LdImmTarget> &ldimm,
                     uint8_t numberArgs) {
  fn.frame = {};
  fn.stackAccesses.clear();
  fn.pointerArgs.clear();
  std::fill(std::begin(fn.argDeepest), std::end(fn.argDeepest), 0);
  fn.tailCalls.clear();
  fn.callbacks.clear();
  fn.callbackArgs.clear();
  fn.functionArgs.clear();
  Analyzer(obj, fn, ldimm, numberArgs).run();
}

std::map<std::string, uint8_t> numberArguments(const Object &obj) {
  // Which arguments of a static subprog are never stack pointers: no call
  // site, and no helper running it as a callback, passes one there (the
  // kernel knows each argument's type from the caller; without this a
  // spilled argument looks like a pointer into some caller's frame). Global
  // functions (callable from other objects) and callbacks of what we do not
  // know keep every argument a possible pointer, unless the kernel verifies
  // the function alone: then it types the arguments from BTF (scalar, ctx,
  // PTR_TO_MEM, arena, BTF object: btf_prepare_func_args), never as stack
  // pointers, and the caller checks the memory it passes against its own
  // frame.
  std::set<std::string> opaque, callbacks;
  std::map<std::string, uint8_t> stackArgs;
  for (auto &f : obj.functions) {
    for (auto &pa : f.pointerArgs)
      stackArgs[pa.callee] |= uint8_t(1u << pa.arg);
    for (auto &fa : f.functionArgs)
      callbacks.insert(fa.func);
    for (auto &cb : f.callbacks) {
      callbacks.insert(cb.callback);
      bool known = false;
      for (auto &h : kCallbackHelpers)
        known |= cb.via == h.name;
      for (auto &k : kCallbackKfuncs)
        known |= cb.via == k.name;
      if (!known)
        opaque.insert(cb.callback);
    }
  }
  std::map<std::string, uint8_t> out;
  for (auto &f : obj.functions) {
    if (f.verifiedAlone && !callbacks.count(f.name)) {
      out[f.name] = 0x3e;
      continue;
    }
    if (f.isProgram || f.global || opaque.count(f.name))
      continue;
    uint8_t bits = uint8_t(0x3e & ~stackArgs[f.name]); // r1..r5
    if (bits)
      out[f.name] = bits;
  }
  return out;
}

namespace {

// Callbacks passed as arguments (the kernel follows the function pointer
// through the call): the functions each argument may hold, from every call
// site in the object, through functions that pass it on.
void settleCallbackArgs(Object &obj) {
  using Slot = std::pair<std::string, uint8_t>; // function, argument
  std::map<Slot, std::set<std::string>> holds;
  std::set<Slot> usedAsCallback;
  for (auto &f : obj.functions)
    for (auto &c : f.callbackArgs)
      usedAsCallback.insert({f.name, c.arg});
  for (bool changed = true; changed;) {
    changed = false;
    for (auto &f : obj.functions)
      for (auto &fa : f.functionArgs) {
        Slot to{fa.callee, fa.arg};
        if (fa.func.empty()) {
          for (auto &name : std::set<std::string>(holds[{f.name, fa.ownArg}]))
            changed |= holds[to].insert(name).second;
          if (usedAsCallback.count(to))
            changed |= usedAsCallback.insert({f.name, fa.ownArg}).second;
        } else {
          changed |= holds[to].insert(fa.func).second;
        }
      }
  }
  for (auto &f : obj.functions) {
    for (auto &c : f.callbackArgs) {
      auto &names = holds[{f.name, c.arg}];
      if (names.empty()) {
        f.frame.unbounded.push_back(
            {c.insn, c.via + " takes a callback from argument r" + std::to_string(c.arg) +
                         " that no caller in the object sets to a known function"});
        f.frame.bounded = false;
      }
      for (auto &name : names) {
        f.callbacks.push_back({c.insn, c.via, name, c.async});
        if (c.context) {
          f.pointerArgs.push_back(*c.context);
          f.pointerArgs.back().callee = name;
        }
      }
    }
    // a function address handed to a callee that does not use it as a
    // callback: it may be called any time (as an unknown async callback)
    for (auto &fa : f.functionArgs)
      if (!fa.func.empty() && !usedAsCallback.count({fa.callee, fa.arg}))
        f.callbacks.push_back({fa.insn, "unknown", fa.func, true});
  }
}

} // namespace

void finishFrames(Object &obj) {
  settleCallbackArgs(obj);
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
  // A callee that touches a slot holding a stack pointer below the pointer
  // it got (or whose reach is not known) would read that pointer as a number
  for (auto &f : obj.functions)
    for (auto &pa : f.pointerArgs) {
      if (pa.ptrSlot == INT32_MIN || pa.fromArg || pa.offset == INT32_MIN)
        continue;
      auto it = byName.find(pa.callee);
      bool reach = it == byName.end() || !it->second->frame.bounded || pa.arg > 5 ||
                   int64_t(pa.offset) - it->second->argDeepest[pa.arg] < int64_t(pa.ptrSlot) + 8;
      bool dup = false;
      for (auto &u : f.frame.unbounded)
        dup |= u.insn == pa.insn;
      if (reach && !dup) {
        f.frame.unbounded.push_back({pa.insn, "passes a frame holding stack pointers to " + pa.callee});
        f.frame.bounded = false;
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
