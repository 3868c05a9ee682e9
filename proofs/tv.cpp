// Translation validation of jitgen: for every BPF instruction form, the
// x86-64 jitgen emits — decoded back by LLVM MC, run on the symbolic x86
// semantics of x86sym.cpp — leaves the registers and memory the BPF
// instruction's meaning gives, for all inputs; and the frame sequences
// (prologue, epilogue, calls, tail calls) of every scheme keep r9 and the
// callee-saved registers and put frames where the layout says.
//
// Each obligation is one query "some input makes them differ", which must
// be unsat. A model is a counterexample: printed, and for register-only
// forms replayed in the harness beside the interpreter.
#include "proofs/proofs.h"
#include "proofs/x86sym.h"
#include "jitgen/x86.h"
#include "frontend/isa.h"

#include <algorithm>
#include <type_traits>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace pstack {

const char *tvStatusName(TvStatus s) {
  return s == TvStatus::Proved ? "proved" : s == TvStatus::Failed ? "FAILED" : "unknown";
}

namespace {
using namespace tv;

constexpr unsigned kMap[11] = {0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5}; // BPF reg -> x86 (r10: rbp)
constexpr uint32_t kFrame = 64;

// ---------------------------------------------------------------- inputs

Insn mk(uint8_t opcode, uint8_t dst, uint8_t src, int16_t off, int64_t imm) {
  Insn in;
  in.opcode = opcode, in.dst = dst, in.src = src, in.off = off, in.imm = imm;
  in.wide = opcode == 0x18;
  return in;
}

// A one-program object around `insns` (and optional other functions), with
// the layout `places` gives each function.
struct Synthetic {
  Object obj;
  Layout layout;
};

Synthetic synth(std::vector<std::vector<Insn>> bodies, std::vector<FramePlan> plans,
                std::vector<uint32_t> frames = {}) {
  Synthetic s;
  Program p;
  p.name = "tv";
  p.section = "kprobe/tv";
  p.type = ProgType::Kprobe;
  p.entry = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    Function f;
    f.name = i == 0 ? "tv" : "g" + std::to_string(i);
    f.section = i == 0 ? "kprobe/tv" : ".text";
    f.isProgram = i == 0;
    uint32_t idx = 0;
    for (auto &in : bodies[i]) {
      in.index = idx;
      idx += in.wide ? 2 : 1;
    }
    f.insns = bodies[i];
    f.frame.bytes = frames.size() > i ? frames[i] : kFrame;
    s.obj.functions.push_back(f);
    p.functions.push_back(i);
  }
  s.obj.programs.push_back(p);
  s.layout.proved.insert("tv");
  std::set<std::string> regions;
  for (size_t i = 0; i < plans.size(); ++i) {
    plans[i].program = "tv";
    plans[i].function = s.obj.functions[i].name;
    plans[i].frame = s.obj.functions[i].frame.bytes;
    s.layout.frames.push_back(plans[i]);
    if (!plans[i].region.empty() && regions.insert(plans[i].region).second) {
      Buffer b;
      b.name = plans[i].region;
      b.bytes = 4096;
      b.guard = 8;
      s.layout.buffers.push_back(b);
    }
  }
  return s;
}

FramePlan place(FramePlan::Place p, const std::string &region = "", int64_t offset = 0) {
  FramePlan f;
  f.place = p;
  f.region = region;
  f.offset = offset;
  return f;
}

// ---------------------------------------------------------- BPF meaning

struct Bpf {
  std::array<z3::expr, 11> r;
  z3::expr mem;
  std::optional<z3::expr> taken;
  std::vector<std::pair<z3::expr, unsigned>> accesses; // address, bytes
};

z3::expr bswap(z3::context &, const z3::expr &v, unsigned bytes) {
  z3::expr r = v.extract(7, 0);
  for (unsigned i = 1; i < bytes; ++i)
    r = z3::concat(r, v.extract(8 * i + 7, 8 * i));
  return r;
}

// The forms bpfMeaning gives a meaning to; any other is never proved.
bool hasBpfMeaning(isa::Form f) {
  switch (f) {
  case isa::Form::Alu: case isa::Form::ByteSwap: case isa::Form::LdImm64: case isa::Form::Load:
  case isa::Form::Store: case isa::Form::StoreImm: case isa::Form::Atomic: case isa::Form::Ja:
  case isa::Form::CondJump: case isa::Form::SignedDivMod: case isa::Form::MovSx:
  case isa::Form::Bswap: case isa::Form::LoadSx: case isa::Form::LoadAcquire:
  case isa::Form::StoreRelease: case isa::Form::Gotol: case isa::Form::MayGoto:
    return true;
  default:
    return false;
  }
}

// `counter`: where may_goto's count lives (the layout's slot), for may_goto
Bpf bpfMeaning(z3::context &c, const Machine &m, const Insn &in, Bpf s,
               const std::optional<z3::expr> &counter = std::nullopt) {
  auto bv = [&](uint64_t v, unsigned bits) { return c.bv_val(v, bits); };
  const uint8_t cls = in.cls(), op = isa::op(in.opcode);
  const bool x = in.opcode & isa::SRC_X;
  const isa::Form form = isa::form(in);
  z3::expr imm64 = bv(uint64_t(int64_t(int32_t(in.imm))), 64);
  if (cls == isa::ALU || cls == isa::ALU64) {
    bool w = cls == isa::ALU64;
    unsigned n = w ? 64 : 32;
    z3::expr a = w ? s.r[in.dst] : s.r[in.dst].extract(31, 0);
    z3::expr b = x ? (w ? s.r[in.src] : s.r[in.src].extract(31, 0)) : (w ? imm64 : imm64.extract(31, 0));
    z3::expr zero = bv(0, n);
    z3::expr res(c);
    if (form == isa::Form::SignedDivMod) {
      // a zero divisor: 0 (sdiv) or the dividend (smod); -1: the negation
      // (INT_MIN / -1 wraps) and 0; else truncating signed division
      z3::expr minusOne = bv(uint64_t(-1), n);
      res = op == isa::DIV ? z3::ite(b == zero, zero, z3::ite(b == minusOne, -a, sdivUF(a, b)))
                           : z3::ite(b == zero, a, z3::ite(b == minusOne, zero, sremUF(a, b)));
      s.r[in.dst] = w ? res : z3::zext(res, 32);
      return s;
    }
    if (form == isa::Form::MovSx) {
      unsigned from = unsigned(in.off);
      res = z3::sext(s.r[in.src].extract(from - 1, 0), n - from);
      s.r[in.dst] = w ? res : z3::zext(res, 32);
      return s;
    }
    switch (op) {
    case isa::ADD: res = a + b; break;
    case isa::SUB: res = a - b; break;
    case isa::MUL: res = a * b; break;
    case isa::DIV: res = z3::ite(b == zero, zero, udivUF(a, b)); break;
    case isa::OR: res = a | b; break;
    case isa::AND: res = a & b; break;
    case isa::LSH: res = z3::shl(a, b & bv(n - 1, n)); break;
    case isa::RSH: res = z3::lshr(a, b & bv(n - 1, n)); break;
    case isa::NEG: res = -a; break;
    case isa::MOD: res = z3::ite(b == zero, a, uremUF(a, b)); break;
    case isa::XOR: res = a ^ b; break;
    case isa::MOV: res = b; break;
    case isa::ARSH: res = z3::ashr(a, b & bv(n - 1, n)); break;
    case isa::END: {
      unsigned bits = unsigned(in.imm);
      z3::expr v = s.r[in.dst].extract(bits - 1, 0);
      if (x || form == isa::Form::Bswap) // to_be, and bswap (cpu v4)
        v = bswap(c, v, bits / 8);
      s.r[in.dst] = bits == 64 ? v : z3::zext(v, 64 - bits);
      return s;
    }
    }
    s.r[in.dst] = w ? res : z3::zext(res, 32);
    return s;
  }
  if (form == isa::Form::MayGoto) {
    // the count in its slot: none left, the jump; else one taken
    z3::expr cnt = m.load(s.mem, *counter, 8);
    s.accesses.push_back({*counter, 8});
    s.taken = cnt == bv(0, 64);
    s.mem = z3::ite(cnt == bv(0, 64), s.mem, m.store(s.mem, *counter, cnt - bv(1, 64), 8));
    return s;
  }
  if (cls == isa::JMP || cls == isa::JMP32) {
    bool w = cls == isa::JMP;
    z3::expr a = w ? s.r[in.dst] : s.r[in.dst].extract(31, 0);
    z3::expr b = x ? (w ? s.r[in.src] : s.r[in.src].extract(31, 0)) : (w ? imm64 : imm64.extract(31, 0));
    z3::expr t(c);
    switch (op) {
    case isa::JEQ: t = a == b; break;
    case isa::JGT: t = z3::ugt(a, b); break;
    case isa::JGE: t = z3::uge(a, b); break;
    case isa::JSET: t = (a & b) != bv(0, w ? 64 : 32); break;
    case isa::JNE: t = a != b; break;
    case isa::JSGT: t = a > b; break;
    case isa::JSGE: t = a >= b; break;
    case isa::JLT: t = z3::ult(a, b); break;
    case isa::JLE: t = z3::ule(a, b); break;
    case isa::JSLT: t = a < b; break;
    case isa::JSLE: t = a <= b; break;
    default: t = c.bool_val(true); break; // ja
    }
    s.taken = t;
    return s;
  }
  unsigned size = isa::accessBytes(in.opcode);
  if (form == isa::Form::LdImm64) {
    s.r[in.dst] = bv(uint64_t(in.imm), 64);
    return s;
  }
  if (form == isa::Form::Load || form == isa::Form::LoadSx || form == isa::Form::LoadAcquire) {
    z3::expr a = s.r[in.src] + bv(uint64_t(int64_t(in.off)), 64);
    s.accesses.push_back({a, size});
    z3::expr v = m.load(s.mem, a, size);
    s.r[in.dst] = size == 8                      ? v
                  : form == isa::Form::LoadSx ? z3::sext(v, 64 - 8 * size)
                                              : z3::zext(v, 64 - 8 * size);
    return s;
  }
  z3::expr a = s.r[in.dst] + bv(uint64_t(int64_t(in.off)), 64);
  s.accesses.push_back({a, size});
  if (form == isa::Form::StoreImm) {
    s.mem = m.store(s.mem, a, imm64.extract(8 * size - 1, 0), size);
    return s;
  }
  if (form == isa::Form::Store || form == isa::Form::StoreRelease) {
    s.mem = m.store(s.mem, a, s.r[in.src].extract(8 * size - 1, 0), size);
    return s;
  }
  // atomics
  unsigned bits = 8 * size;
  z3::expr old = m.load(s.mem, a, size);
  z3::expr v = s.r[in.src].extract(bits - 1, 0);
  auto ext = [&](const z3::expr &e) { return bits == 64 ? e : z3::zext(e, 64 - bits); };
  int32_t aop = int32_t(in.imm);
  switch (aop & ~int32_t(isa::ATOMIC_FETCH)) {
  case isa::ADD: s.mem = m.store(s.mem, a, old + v, size); break;
  case isa::OR: s.mem = m.store(s.mem, a, old | v, size); break;
  case isa::AND: s.mem = m.store(s.mem, a, old & v, size); break;
  case isa::XOR: s.mem = m.store(s.mem, a, old ^ v, size); break;
  case isa::ATOMIC_XCHG & ~isa::ATOMIC_FETCH: s.mem = m.store(s.mem, a, v, size); break; // xchg
  case isa::ATOMIC_CMPXCHG & ~isa::ATOMIC_FETCH: {
    z3::expr r0 = s.r[0].extract(bits - 1, 0);
    s.mem = z3::ite(old == r0, m.store(s.mem, a, v, size), s.mem);
    s.r[0] = ext(old);
    return s;
  }
  }
  if (aop & isa::ATOMIC_FETCH)
    s.r[in.src] = ext(old);
  return s;
}

// ----------------------------------------------------------- obligations

struct Prover {
  TvOptions opts;
  std::vector<TvObligation> out;

  // proves `bad` unsat; a model is described with `describe`
  std::string current; // group and name of the obligation being checked
  unsigned part = 0, fileSeq = 0;
  template <class Describe>
  TvStatus check(z3::context &c, const z3::expr &bad, std::string &detail, Describe describe) {
    z3::solver s(c);
    z3::params p(c);
    p.set("timeout", unsigned(opts.timeoutSeconds * 1000));
    s.set(p);
    s.add(bad);
    if (!opts.smtDir.empty()) {
      char seq[16];
      std::snprintf(seq, sizeof seq, "%05u.", fileSeq++);
      std::string n = seq + current + "." + std::to_string(part++);
      for (char &ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-')
          ch = '_';
      std::ofstream o(opts.smtDir + "/" + n + ".smt2");
      o << "; pstack-verify translation validation: " << current
        << "\n; the query: some input makes the x86 and the BPF differ (must be unsat)\n"
        << "(set-logic ALL)\n" << s.to_smt2("unsat");
    }
    switch (s.check()) {
    case z3::unsat: return TvStatus::Proved;
    case z3::sat: detail = describe(s.get_model()); return TvStatus::Failed;
    default: detail = "solver: " + s.reason_unknown(); return TvStatus::Unknown;
    }
  }

  // A precondition that no input meets would prove anything: every
  // obligation first shows that some input reaches one of its paths.
  bool vacuous(z3::context &c, const z3::expr &pre, const std::vector<State> &ends) {
    z3::expr any = c.bool_val(false);
    for (auto &e : ends)
      any = any || e.path;
    z3::solver s(c);
    s.add(pre && any);
    return s.check() == z3::unsat;
  }

  // An obligation over the ends of a symbolic run: first, as vacuous(),
  // some input must meet `pre` on some path; then each end's facts, in
  // order, one query each (together they time out: byte-wise memory at
  // symbolic addresses), and the first not proved is the answer.
  // `facts(end)` gives a z3::expr (one fact), a std::vector<z3::expr> or,
  // labelled, a std::vector<Fact>;
  // `describe(model, end, what)` the counterexample of a fact labelled `what`.
  struct Fact {
    z3::expr bad;
    std::string what;
  };
  struct Answer {
    TvStatus status = TvStatus::Proved;
    std::string detail;
  };
  template <class Facts, class Describe>
  Answer eachEnd(z3::context &c, const z3::expr &pre, const std::vector<State> &ends, Facts facts,
                 Describe describe, const char *vacuity = "vacuous: no input meets the precondition") {
    if (vacuous(c, pre, ends))
      return {TvStatus::Failed, vacuity};
    for (auto &e : ends) {
      using Given = std::decay_t<decltype(facts(e))>;
      std::vector<Fact> fs;
      if constexpr (std::is_same_v<Given, z3::expr>) {
        fs.push_back({facts(e), ""});
      } else if constexpr (std::is_same_v<Given, std::vector<z3::expr>>) {
        for (auto &bad : facts(e))
          fs.push_back({bad, ""});
      } else {
        fs = facts(e);
      }
      for (const Fact &f : fs) {
        std::string d;
        TvStatus st = check(c, pre && e.path && f.bad, d,
                            [&](const z3::model &mdl) { return describe(mdl, e, f.what); });
        if (st != TvStatus::Proved)
          return {st, d};
      }
    }
    return {};
  }

  // stack-switch, a switch to the buffer (an entry's, a helper's
  // callback's) from `s` to `e`: rsp and rbp at `top` - 16, where the link
  // frame holds the return address (read from the task stack at rsp0) and
  // the caller's rbp; r12 the task rsp, the caller's r12 saved there
  static std::vector<z3::expr> switchFacts(const Machine &mc, const State &s, const State &e, const z3::expr &top,
                                           uint64_t rsp0) {
    auto bv = [&](uint64_t v) { return top.ctx().bv_val(v, 64); };
    return {e.r[4] != top - bv(16) || e.r[5] != e.r[4],
            mc.load(e.mem, top - bv(8), 8) != mc.load(s.mem, bv(rsp0), 8),
            mc.load(e.mem, top - bv(16), 8) != s.r[5],
            e.r[12] != bv(rsp0 - 8) || mc.load(e.mem, bv(rsp0 - 8), 8) != s.r[12]};
  }

  // the obligation's answer, timed from t0
  void addSince(const std::string &group, const std::string &name,
                std::chrono::steady_clock::time_point t0, TvStatus st, const std::string &detail) {
    add(group, name, st, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), detail);
  }
  void add(const std::string &group, const std::string &name, TvStatus st, double secs,
           const std::string &detail) {
    out.push_back({group, name, st, secs, detail});
    if (opts.progress)
      opts.progress(out.back());
  }
  // the synthetic object emitted by the emitter under test (mutant included)
  // stack-switch: the synthetic layouts become the scheme's (one buffer
  // for the program, frames of round_up(F, 8) + 56), helpers on the buffer
  // or on the task stack
  bool ss = false, ssOnBuffer = true;
  JitImage emit(const Synthetic &sy) const {
    JitOptions jo;
    if (!ss)
      return jitCompileMutant(sy.obj, sy.layout, jo, opts.mutant);
    Layout l = sy.layout;
    l.scheme = Scheme::StackSwitch;
    l.stackSwitch.helpersOnBuffer = ssOnBuffer;
    l.buffers = {Buffer{"tv", kSsBuffer, 0, false}};
    for (size_t i = 0; i < l.frames.size(); ++i) {
      l.frames[i].place = FramePlan::Place::ProgramBuffer;
      l.frames[i].region = "tv";
      l.frames[i].offset = 0;
      // as the model counts a stack-switch frame (layout.h)
      const Function &fn = sy.obj.functions[i];
      bool loop = false, mayGoto = false;
      for (auto &cb : fn.callbacks)
        loop |= cb.via == "bpf_loop";
      for (auto &in : fn.insns)
        mayGoto |= isa::form(in) == isa::Form::MayGoto;
      l.frames[i].frame = stackSwitchBody(fn.frame.bytes, loop, mayGoto, fn.callsBackFromHelper()) +
                          l.stackSwitch.frameOverhead;
    }
    return jitCompileMutant(sy.obj, l, jo, opts.mutant);
  }
  static constexpr uint64_t kSsBuffer = 4096;
  // the GS base and this CPU's per-CPU offset where a proof fixes them
  static constexpr uint64_t kGs = 0x00007e0000000000ULL, kCpuOff = 0x0000000100000000ULL;
  void ssEntry(const std::string &name);
  void ssBodyFrame(const std::string &name, bool landing);
  void ssEpilogue(const std::string &name);
  void ssSwitchBack(const std::string &name, bool callback = false);
  void ssCallSite(const std::string &name, bool helper);
  // a callback a helper calls: the synthetic program `tv` calling
  // bpf_for_each_map_elem with callback g1
  Synthetic ssCallbackObject() const;
  void ssCallbackEntry(const std::string &name);
  void ssCallbackTop(const std::string &name);
  void ssInlinedLoop(const std::string &name);

  bool wanted(const std::string &group, const std::string &name) {
    current = group + " " + name;
    part = 0;
    return opts.only.empty() || current.find(opts.only) != std::string::npos;
  }

  void insnForm(const std::string &group, const std::string &name, const Insn &in, FramePlan::Place pl);
  std::string replay(const Insn &in, const z3::model &mdl, const std::vector<z3::expr> &regs);
  void callSite(const std::string &name, std::vector<FramePlan> plans, bool helper, bool tailCaller);
  void tailCall(const std::string &name, FramePlan::Place pl);
  void prologue(const std::string &name, FramePlan plan, bool landing);
  void legacyLoad(const std::string &name, const Insn &ld, FramePlan::Place pl);
};

std::string hex(uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

uint64_t val(const z3::model &m, const z3::expr &e) {
  z3::expr v = m.eval(e, true);
  uint64_t out = 0;
  if (v.is_numeral())
    Z3_get_numeral_uint64(v.ctx(), v, &out);
  return out;
}

void Prover::insnForm(const std::string &group, const std::string &name, const Insn &in0,
                      FramePlan::Place pl) {
  if (!wanted(group, name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  auto finish = [&](TvStatus st, const std::string &d) {
    addSince(group, name, t0, st, d);
  };
  bool jump = in0.cls() == 5 || in0.cls() == 6;
  std::vector<Insn> body{in0};
  if (jump && isa::form(in0) == isa::Form::Gotol)
    body.front().imm = 1; // gotol's offset is its imm
  else if (jump)
    body.front().off = 1;
  body.push_back(mk(0x95, 0, 0, 0, 0));
  if (jump) // the target, and one more: a jump one too far lands there
    body.push_back(mk(0x95, 0, 0, 0, 0)), body.push_back(mk(0x95, 0, 0, 0, 0));
  FramePlan plan = place(pl, pl == FramePlan::Place::KernelStack ? "" : "tv/tv");
  Synthetic sy = synth({body}, {plan});
  JitImage img;
  try {
    img = emit(sy);
  } catch (const JitError &e) {
    return finish(TvStatus::Failed, std::string("not emitted: ") + e.what());
  }
  const JitFunction &f = img.functions.at(0);
  std::vector<X86Insn> code = decodeX86(f.code);
  const Insn &in = sy.obj.functions[0].insns[0];
  if (!hasBpfMeaning(isa::form(in)))
    return finish(TvStatus::Unknown, std::string("no BPF meaning for ") +
                                         isa::formName(isa::form(in)) + " here");
  uint32_t start = f.insnOffsets.at(0), next = f.insnOffsets.at(in.wide ? 2 : 1);
  std::optional<uint32_t> takenAt;
  if (jump)
    takenAt = f.insnOffsets.at(2);

  z3::context c;
  z3::expr gs = c.bv_const("gsbase", 64);
  Machine mc(c, code, gs);
  State s = mc.initial("x86_");
  s.pc = start;
  // the native stack pointer is a constant: the scratch the sequence pushes
  // then simplifies away (BPF memory is kept clear of it, below)
  s.r[4] = c.bv_val(uint64_t(0x00007fff00000000ULL), 64);
  Bpf b{{s.r[0], s.r[0], s.r[0], s.r[0], s.r[0], s.r[0], s.r[0], s.r[0], s.r[0], s.r[0], s.r[0]},
        s.mem, std::nullopt, {}};
  unsigned fp = pl == FramePlan::Place::KernelStack ? 5 : 9;
  for (unsigned i = 0; i < 10; ++i)
    b.r[i] = s.r[kMap[i]];
  b.r[10] = s.r[fp];
  std::optional<z3::expr> counter;
  if (f.mayGotoSlot)
    counter = s.r[5] + c.bv_val(uint64_t(int64_t(f.mayGotoSlot)), 64);
  Bpf after = bpfMeaning(c, mc, in, b, counter);
  std::set<uint32_t> stops{next};
  if (takenAt)
    stops.insert(*takenAt);
  std::vector<State> ends;
  try {
    ends = mc.run(s, stops, CallContract::Clobbers);
  } catch (const std::exception &e) {
    return finish(TvStatus::Unknown, e.what());
  }
  // inputs: the BPF memory accesses stay clear of the native stack the
  // sequence may use as scratch (below rsp) and do not wrap
  z3::expr rsp = s.r[4];
  z3::expr pre = z3::ugt(rsp, c.bv_val(1 << 20, 64)) && z3::ult(rsp, c.bv_val(uint64_t(-1) - (1 << 20), 64));
  for (auto &[a, n] : after.accesses)
    pre = pre && (z3::uge(a, rsp) || z3::ule(a + c.bv_val(n, 64), rsp - c.bv_val(256, 64))) &&
          z3::ule(a, a + c.bv_val(n, 64));
  std::vector<z3::expr> inputs;
  for (unsigned i = 0; i < 11; ++i)
    inputs.push_back(b.r[i]);
  if (vacuous(c, pre, ends))
    return finish(TvStatus::Failed, "vacuous: no input meets the precondition");
  TvStatus worst = TvStatus::Proved;
  std::string detail;
  for (auto &e : ends) {
    z3::expr bad(c);
    std::string what;
    if (e.stop.rfind("fault:", 0) == 0) {
      bad = pre && e.path;
      what = e.stop.substr(6);
    } else if (e.stop == "bound" || e.stop == "ret" || e.stop == "jmp-reg") {
      bad = pre && e.path;
      what = "the code leaves the instruction's sequence (" + e.stop + ")";
    } else {
      uint32_t at = uint32_t(std::stoul(e.stop.substr(3)));
      z3::expr diff = c.bool_val(false);
      for (unsigned i = 0; i < 10; ++i)
        diff = diff || e.r[kMap[i]] != after.r[i];
      diff = diff || e.r[fp] != b.r[10] || e.r[4] != rsp || e.r[12] != s.r[12] ||
             e.r[fp == 9 ? 5 : 9] != s.r[fp == 9 ? 5 : 9];
      z3::expr a = c.bv_const("probe", 64);
      // stack-switch: nothing below rsp either (an interrupt's headroom
      // is all the model leaves there)
      z3::expr probed = ss ? c.bool_val(true) : (z3::uge(a, rsp) || z3::ult(a, rsp - c.bv_val(256, 64)));
      diff = diff || (probed && z3::select(e.mem, a) != z3::select(after.mem, a));
      if (takenAt)
        diff = diff || ((at == *takenAt ? c.bool_val(true) : c.bool_val(false)) != *after.taken);
      else if (at != next)
        diff = c.bool_val(true);
      bad = pre && e.path && diff;
      what = "registers or memory differ";
    }
    std::string d;
    TvStatus st = check(c, bad, d, [&](const z3::model &mdl) {
      std::ostringstream o;
      o << what << " for";
      for (unsigned i = 0; i <= 10; ++i)
        if (i == in.dst || i == in.src || i == 0 || i == 10)
          o << " r" << i << "=" << hex(val(mdl, b.r[i]));
      if (!jump && e.stop.rfind("at:", 0) == 0)
        for (unsigned i = 0; i < 10; ++i)
          if (val(mdl, after.r[i]) != val(mdl, e.r[kMap[i]]))
            o << "; BPF gives r" << i << "=" << hex(val(mdl, after.r[i])) << ", x86 gives "
              << hex(val(mdl, e.r[kMap[i]]));
      if (opts.replayFailures)
        o << "; " << replay(in, mdl, inputs);
      return o.str();
    });
    if (st == TvStatus::Failed || (st == TvStatus::Unknown && worst == TvStatus::Proved)) {
      worst = st;
      detail = d;
    }
    if (st == TvStatus::Failed)
      break;
  }
  finish(worst, detail);
}

// Runs the counterexample: the registers set to the model's values, the
// instruction, then r0 = its destination (or 1 if a jump is taken), in the
// harness and the interpreter.
std::string Prover::replay(const Insn &in, const z3::model &mdl, const std::vector<z3::expr> &regs) {
  uint8_t cls = in.cls();
  bool jump = cls == 5 || cls == 6;
  if (!(cls == 4 || cls == 7 || jump) || isa::form(in) == isa::Form::MayGoto)
    return "replay: memory forms are not replayed";
  std::vector<Insn> body;
  for (uint8_t r : {in.dst, in.src})
    if (r < 10)
      body.push_back(mk(0x18, r, 0, 0, int64_t(val(mdl, regs[r]))));
  if (in.dst != 0 && in.src != 0)
    body.push_back(mk(0x18, 0, 0, 0, int64_t(val(mdl, regs[0]))));
  Insn form = in;
  if (jump) {
    if (isa::form(in) == isa::Form::Gotol)
      form.imm = 2;
    else
      form.off = 2;
    body.push_back(form);
    body.push_back(mk(0xb7, 0, 0, 0, 0));
    body.push_back(mk(0x95, 0, 0, 0, 0));
    body.push_back(mk(0xb7, 0, 0, 0, 1));
    body.push_back(mk(0x95, 0, 0, 0, 0));
  } else {
    body.push_back(form);
    body.push_back(mk(0xbf, 0, in.dst, 0, 0));
    body.push_back(mk(0x95, 0, 0, 0, 0));
  }
  Synthetic sy = synth({body}, {place(FramePlan::Place::OwnBuffer, "tv/tv")});
  RunRequest req;
  req.program = "tv";
  RunResult ref = interpret(sy.obj, req);
  RunResult jit = runJit(sy.obj, emit(sy), req);
  if (!ref.ok || !jit.ok)
    return "replay could not run: " + (ref.ok ? jit.error : ref.error);
  std::ostringstream o;
  o << "replayed in the harness: interpreter r0=" << hex(ref.r0) << ", jit r0=" << hex(jit.r0)
    << (ref.r0 != jit.r0 ? " (the difference is real)" : " (no difference at run time)");
  return o.str();
}

// A call site: r9 where the layout wants it for the callee, and back after.
void Prover::callSite(const std::string &name, std::vector<FramePlan> plans, bool helper, bool tailCaller) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<Insn>> bodies;
  Insn call = mk(0x85, 0, helper ? 0 : 1, 0, helper ? 5 : 0);
  bodies.push_back({call});
  if (tailCaller) {
    // a tail call elsewhere in the caller's program makes it tail-reachable
    bodies[0].push_back(mk(0x85, 0, 0, 0, 12));
  }
  bodies[0].push_back(mk(0x95, 0, 0, 0, 0));
  if (!helper)
    bodies.push_back({mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)});
  Synthetic sy = synth(bodies, plans, {64, 32});
  Function &f = sy.obj.functions[0];
  f.calls.push_back({0, helper ? CallKind::Helper : CallKind::Local, helper ? 5 : 0, helper ? "" : "g1"});
  if (tailCaller) {
    f.calls.push_back({1, CallKind::Helper, 12, ""});
    TailCallSite t;
    t.insn = 1;
    t.targets = {"tv"};
    f.tailCalls.push_back(t);
  }
  JitImage img = emit(sy);
  const JitFunction &jf = img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  s.pc = jf.insnOffsets.at(0);
  s.r[4] = c.bv_val(uint64_t(0x00007fff00000000ULL), 64);
  const JitFunction *g = helper ? nullptr : img.find("tv", "g1");
  bool moved = g && !(g->plan.place == FramePlan::Place::OwnBuffer || g->plan.place == FramePlan::Place::KernelStack);
  CallContract contract = moved && !jf.tailCallReachable ? CallContract::KeepsR9 : CallContract::Clobbers;
  auto ends = mc.run(s, {jf.insnOffsets.at(1)}, contract);
  int64_t want = 0;
  if (g && g->plan.place == FramePlan::Place::ProgramBuffer)
    want = g->plan.frame;
  if (g && g->plan.place == FramePlan::Place::ProgramBufferAt)
    want = (g->plan.offset + g->plan.frame) - (jf.plan.offset + jf.plan.frame);
  const z3::expr r9in = s.r[9];
  auto [worst, detail] = eachEnd(
      c, c.bool_val(true), ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(e.stop.rfind("at:", 0) != 0);
        if (e.stop.rfind("at:", 0) == 0) {
          bad = e.r[9] != r9in || e.r[3] != s.r[3] || e.r[13] != s.r[13] || e.r[14] != s.r[14] ||
                e.r[15] != s.r[15] || e.r[5] != s.r[5] || e.r[12] != s.r[12] || e.r[4] != s.r[4];
          if (moved && !e.r9AtCall.empty())
            bad = bad || e.r9AtCall[0] != r9in + c.bv_val(uint64_t(want), 64);
        }
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        std::ostringstream o;
        o << "r9 " << hex(val(mdl, r9in)) << " before the call";
        if (!e.r9AtCall.empty())
          o << ", " << hex(val(mdl, e.r9AtCall[0])) << " at it (the layout wants +" << want << ")";
        if (e.stop.rfind("at:", 0) == 0)
          o << ", " << hex(val(mdl, e.r[9])) << " after it";
        else
          o << "; the path ends: " << e.stop;
        return o.str();
      },
      "vacuous: no input reaches a path");
  addSince("frame", name, t0, worst, detail);
}

// The tail-call sequence: the bounds check, the count (incremented, at most
// 33), the slot, callee-saved registers restored from their slots, rsp back
// at rbp, r9 at the frame's base for an r9-relative frame.
void Prover::tailCall(const std::string &name, FramePlan::Place pl) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Insn> body{mk(0xbf, 6, 1, 0, 0), mk(0xbf, 7, 1, 0, 0), mk(0xbf, 8, 1, 0, 0),
                         mk(0xbf, 9, 1, 0, 0), mk(0x85, 0, 0, 0, 12), mk(0x95, 0, 0, 0, 0)};
  Synthetic sy = synth({body}, {place(pl, pl == FramePlan::Place::KernelStack ? "" : "tv")});
  Function &f = sy.obj.functions[0];
  f.calls.push_back({4, CallKind::Helper, 12, ""});
  TailCallSite t;
  t.insn = 4;
  t.targets = {"tv"};
  f.tailCalls.push_back(t);
  JitImage img = emit(sy);
  const JitFunction &jf = img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  s.pc = jf.insnOffsets.at(4);
  // the frame as the prologue leaves it (proved by the prologue obligations)
  uint64_t rbp = 0x00007fff00001000ULL;
  s.r[5] = c.bv_val(rbp, 64);
  s.r[4] = c.bv_val(rbp - jf.normalStack - 8 - 8 * jf.savedRegs.size(), 64);
  auto ends = mc.run(s, {jf.insnOffsets.at(5)}, CallContract::Clobbers);
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  int64_t tcc = -int64_t(jf.normalStack) - 8;
  z3::expr count = mc.load(s.mem, s.r[5] + bv(uint64_t(tcc)), 4);
  z3::expr idx = s.r[2].extract(31, 0);
  z3::expr max = mc.load(s.mem, s.r[6], 4);
  z3::expr slot = mc.load(s.mem, s.r[6] + bv(8) + z3::zext(idx, 32) * bv(8), 8);
  z3::expr taken = z3::ult(idx, max) && z3::ult(count, c.bv_val(33, 32)) && slot != bv(0);
  // the stack is far from the prog array
  z3::expr pre = z3::uge(s.r[6], s.r[5] + bv(4096)) && z3::ult(s.r[6], bv(1ull << 56));
  // both the jump and the fall-through must be reachable
  for (const char *kind : {"jmp-reg", "at:"}) {
    std::vector<State> some;
    for (auto &e : ends)
      if (e.stop.rfind(kind, 0) == 0)
        some.push_back(e);
    if (vacuous(c, pre, some))
      return addSince("frame", name, t0, TvStatus::Failed,
                      std::string("vacuous: no input reaches the ") + (kind[0] == 'j' ? "jump" : "fall-through"));
  }
  auto [worst, detail] = eachEnd(
      c, pre, ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(true);
        if (e.stop == "jmp-reg") {
          bad = !taken || e.r[0].extract(31, 0) != count + c.bv_val(1, 32) || e.r[1] != slot ||
                e.r[4] != s.r[5] || e.r[5] != s.r[5];
          for (size_t k = 0; k < jf.savedRegs.size(); ++k)
            bad = bad ||
                  e.r[jf.savedRegs[k]] != mc.load(s.mem, s.r[5] + bv(uint64_t(tcc - 8 * int64_t(k + 1))), 8);
          if (pl == FramePlan::Place::ProgramBuffer)
            bad = bad || e.r[9] != s.r[9] - bv(jf.plan.frame);
        } else if (e.stop.rfind("at:", 0) == 0) {
          bad = taken || e.r[9] != s.r[9] || e.r[3] != s.r[3] || e.r[13] != s.r[13] ||
                e.r[14] != s.r[14] || e.r[15] != s.r[15] || e.r[5] != s.r[5] || e.r[4] != s.r[4];
        }
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        std::ostringstream o;
        o << "index " << val(mdl, idx) << " of " << val(mdl, max) << ", count " << val(mdl, count)
          << ", slot " << hex(val(mdl, slot)) << ": ";
        if (e.stop == "jmp-reg")
          o << "jumps with count " << val(mdl, e.r[0].extract(31, 0)) << " in rax (the kernel's rule: "
            << val(mdl, count) + 1 << ")";
        else
          o << "path ends " << e.stop;
        return o.str();
      });
  addSince("frame", name, t0, worst, detail);
}

// The prologue: rbp frames the return address, and r9 is the frame's top in
// its buffer (this CPU's per-CPU base, from %gs, plus the layout's offset).
// `landing`: entered by a tail call (count non-zero in rax): r9 moves from
// the replaced frame's base by this frame's size.
void Prover::prologue(const std::string &name, FramePlan plan, bool landing) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Insn> body{mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)};
  std::vector<std::vector<Insn>> bodies{body};
  Synthetic sy = synth(bodies, {plan});
  if (landing) {
    // a tail call somewhere makes the entry a landing
    Function &f = sy.obj.functions[0];
    f.insns.insert(f.insns.begin(), mk(0x85, 0, 0, 0, 12));
    uint32_t i = 0;
    for (auto &in : f.insns)
      in.index = i++;
    f.calls.push_back({0, CallKind::Helper, 12, ""});
    TailCallSite t;
    t.insn = 0;
    t.targets = {"tv"};
    f.tailCalls.push_back(t);
  }
  JitImage img = emit(sy);
  const JitFunction &jf = img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  z3::expr gs = c.bv_const("gsbase", 64);
  Machine mc(c, code, gs);
  State s = mc.initial("x86_");
  s.pc = landing ? jf.tailLanding : 0;
  s.r[4] = c.bv_val(uint64_t(0x00007fff00000000ULL), 64); // concrete: pushes simplify
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  auto ends = mc.run(s, {jf.insnOffsets.begin()->second}, CallContract::Clobbers);
  z3::expr perCpu = mc.load(s.mem, gs + bv(uint64_t(jit::kThisCpuOff)), 8);
  uint64_t bufOff = 0;
  for (auto &b : img.buffers)
    if (b.name == plan.region)
      bufOff = b.offset;
  z3::expr pre = landing ? s.r[0].extract(31, 0) != c.bv_val(0, 32) : c.bool_val(true);
  // the per-CPU variable this_cpu_off is not on the stack
  z3::expr slot = gs + bv(uint64_t(jit::kThisCpuOff));
  pre = pre && (z3::uge(slot, s.r[4] + bv(64)) || z3::ule(slot + bv(8), s.r[4] - bv(256))) &&
        z3::ugt(s.r[4], bv(1 << 20)) && z3::ult(s.r[4], bv(1ull << 48));
  auto [worst, detail] = eachEnd(
      c, pre, ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(e.stop.rfind("at:", 0) != 0);
        if (e.stop.rfind("at:", 0) == 0) {
          if (!landing)
            bad = bad || e.r[5] != s.r[4] - bv(8) || mc.load(e.mem, e.r[5], 8) != s.r[5];
          switch (plan.place) {
          case FramePlan::Place::KernelStack:
            bad = bad || z3::ugt(e.r[4], e.r[5] - bv(jf.normalStack));
            break;
          case FramePlan::Place::OwnBuffer:
          case FramePlan::Place::ProgramBufferAt:
            bad = bad || e.r[9] != perCpu + bv(bufOff + uint64_t(plan.offset) + jf.plan.frame);
            break;
          case FramePlan::Place::ProgramBuffer:
            bad = bad || e.r[9] != (landing ? s.r[9] : perCpu + bv(bufOff)) + bv(jf.plan.frame);
            break;
          }
        }
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        return "r9 " + hex(val(mdl, e.r[9])) + " at the body, this CPU's base " + hex(val(mdl, perCpu)) +
               " (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, the entry's switch (from the entry to `call body`): r12
// holds the task rsp with the caller's r12 saved there; rsp, rbp are at
// this CPU's buffer top - 16, where the link frame holds the kernel return
// address (read from the task stack) and the caller's rbp; the tail count
// (rax) and the callee-saved registers pass unchanged.
void Prover::ssEntry(const std::string &name) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  Synthetic sy = synth({{mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)}}, {place(FramePlan::Place::ProgramBuffer, "tv")});
  JitImage img = emit(sy);
  const JitFunction &jf = img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  z3::expr gs = c.bv_const("gsbase", 64);
  Machine mc(c, code, gs);
  State s = mc.initial("x86_");
  s.pc = 0;
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const uint64_t rsp0 = 0x00007fff00000000ULL;
  s.r[4] = bv(rsp0);
  auto ends = mc.run(s, {jf.switchReturn - 5}, CallContract::Clobbers);
  z3::expr perCpu = mc.load(s.mem, gs + bv(uint64_t(jit::kThisCpuOff)), 8);
  z3::expr top = perCpu + bv(img.buffers.at(0).offset + img.buffers.at(0).bytes);
  z3::expr slot = gs + bv(uint64_t(jit::kThisCpuOff));
  // the buffer, the task stack's top words and this_cpu_off are apart
  z3::expr pre = (z3::ule(top, bv(rsp0 - 64)) || z3::uge(top - bv(64), bv(rsp0 + 64))) &&
                 z3::ugt(top, bv(1 << 20)) && z3::ult(top, bv(1ull << 47)) &&
                 (z3::uge(slot, bv(rsp0 + 64)) || z3::ule(slot + bv(8), bv(rsp0 - 64))) &&
                 (z3::uge(slot, top + bv(64)) || z3::ule(slot + bv(8), top - bv(64)));
  auto [worst, detail] = eachEnd(
      c, pre, ends,
      [&](const State &e) {
        if (e.stop.rfind("at:", 0) != 0)
          return std::vector<z3::expr>{c.bool_val(true)};
        std::vector<z3::expr> facts = switchFacts(mc, s, e, top, rsp0);
        facts.push_back(e.r[0] != s.r[0] || e.r[3] != s.r[3] || e.r[13] != s.r[13] || e.r[14] != s.r[14] ||
                        e.r[15] != s.r[15] || e.r[9] != s.r[9]);
        return facts;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        return "rsp " + hex(val(mdl, e.r[4])) + " at the call, the buffer's top " + hex(val(mdl, top)) +
               " (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, the switch back (from the body's return to the entry's
// ret): with rsp = rbp = the link frame (as the body's leave; ret leave
// them) and r12 the task rsp, it returns with rsp at the task stack's
// return address, the caller's rbp and r12 back, rax (r0) unchanged.
void Prover::ssSwitchBack(const std::string &name, bool callback) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  // (callback: the switch back of a callback a helper calls, into the helper)
  Synthetic sy = callback ? ssCallbackObject()
                          : synth({{mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)}},
                                  {place(FramePlan::Place::ProgramBuffer, "tv")});
  JitImage img = emit(sy);
  const JitFunction &jf = callback ? *img.find("tv", "g1") : img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const uint64_t link = 0x00007f0000100000ULL - 16, task = 0x00007fff00000000ULL - 8;
  s.pc = jf.switchReturn;
  s.r[4] = bv(link);
  s.r[5] = bv(link);
  s.r[12] = bv(task);
  auto ends = mc.run(s, {}, CallContract::Clobbers);
  auto [worst, detail] = eachEnd(
      c, c.bool_val(true), ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(e.stop != "ret");
        if (e.stop == "ret")
          bad = e.r[4] != bv(task + 8) || e.r[5] != mc.load(s.mem, bv(link), 8) ||
                e.r[12] != mc.load(s.mem, bv(task), 8) || e.r[0] != s.r[0] || e.r[3] != s.r[3] ||
                e.r[13] != s.r[13] || e.r[14] != s.r[14] || e.r[15] != s.r[15];
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        return "rsp " + hex(val(mdl, e.r[4])) + " at the return (the task stack's return address is at " +
               hex(task + 8) + "; path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, a frame (the body of an entry, or a subprog; `landing`:
// from the tail-call landing): rbp frames the return address, rsp ends
// exactly round_up(F, 8) + 40 below rbp (the model's frame less the return
// address and saved rbp), the tail count and rbx r13 r14 r15 in their
// slots, r12 (the task rsp) unchanged.
void Prover::ssBodyFrame(const std::string &name, bool landing) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  Synthetic sy = synth({{mk(0x85, 0, 1, 0, 0), mk(0x95, 0, 0, 0, 0)}, {mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)}},
                       {place(FramePlan::Place::ProgramBuffer, "tv"), place(FramePlan::Place::ProgramBuffer, "tv")},
                       {64, 40});
  sy.obj.functions[0].calls.push_back({0, CallKind::Local, 0, "g1"});
  JitImage img = emit(sy);
  const JitFunction &jf = *img.find("tv", "g1");
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const uint64_t rsp0 = 0x00007f0000100000ULL - 64;
  s.pc = landing ? jf.tailLanding : 0;
  s.r[4] = bv(rsp0);
  if (landing)
    s.r[5] = bv(rsp0); // a tail call jumps with rsp = rbp
  auto ends = mc.run(s, {jf.insnOffsets.at(0)}, CallContract::Clobbers);
  const uint64_t S = jf.normalStack;
  auto [worst, detail] = eachEnd(
      c, c.bool_val(true), ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(e.stop.rfind("at:", 0) != 0);
        if (e.stop.rfind("at:", 0) == 0) {
          z3::expr rbp = landing ? bv(rsp0) : bv(rsp0 - 8);
          bad = e.r[5] != rbp || e.r[4] != rbp - bv(S + 40) || e.r[12] != s.r[12] ||
                mc.load(e.mem, rbp - bv(S + 8), 8) != s.r[0];
          if (!landing)
            bad = bad || mc.load(e.mem, rbp, 8) != s.r[5];
          const unsigned saved[4] = {3, 13, 14, 15};
          for (unsigned k = 0; k < 4; ++k)
            bad = bad || mc.load(e.mem, rbp - bv(S + 16 + 8 * k), 8) != s.r[saved[k]];
          if (jf.plan.frame != S + 56)
            bad = c.bool_val(true);
        }
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        return "rsp " + hex(val(mdl, e.r[4])) + ", rbp " + hex(val(mdl, e.r[5])) + " at the body (frame " +
               std::to_string(jf.plan.frame) + "; path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, a frame's exit: from the frame the prologue leaves (rsp at
// its bottom), rbx r13 r14 r15 come back from their slots, rsp returns to
// the return address above rbp and rbp to the saved one; r12 and r0 kept.
void Prover::ssEpilogue(const std::string &name) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  Synthetic sy = synth({{mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)}}, {place(FramePlan::Place::ProgramBuffer, "tv")});
  JitImage img = emit(sy);
  const JitFunction &jf = img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const uint64_t rbp = 0x00007f0000100000ULL - 48, S = jf.normalStack;
  s.pc = jf.insnOffsets.at(1);
  s.r[5] = bv(rbp);
  s.r[4] = bv(rbp - S - 40);
  auto ends = mc.run(s, {}, CallContract::Clobbers);
  auto [worst, detail] = eachEnd(
      c, c.bool_val(true), ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(e.stop != "ret");
        if (e.stop == "ret") {
          bad = e.r[4] != bv(rbp + 8) || e.r[5] != mc.load(s.mem, bv(rbp), 8) || e.r[12] != s.r[12] ||
                e.r[0] != s.r[0];
          const unsigned saved[4] = {3, 13, 14, 15};
          for (unsigned k = 0; k < 4; ++k)
            bad = bad || e.r[saved[k]] != mc.load(s.mem, bv(rbp - S - 16 - 8 * k), 8);
        }
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        return "rsp " + hex(val(mdl, e.r[4])) + " at the return (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, a call: a BPF callee or a helper on the buffer is called
// with rsp at the frame's bottom; a helper on the task stack with rsp =
// r12 (the task rsp), and rsp is back at the frame's bottom after; rbp,
// r12 and the callee-saved registers are kept either way.
void Prover::ssCallSite(const std::string &name, bool helper) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<Insn>> bodies{{mk(0x85, 0, helper ? 0 : 1, 0, helper ? 5 : 0), mk(0x95, 0, 0, 0, 0)}};
  if (!helper)
    bodies.push_back({mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)});
  std::vector<FramePlan> plans(bodies.size(), place(FramePlan::Place::ProgramBuffer, "tv"));
  Synthetic sy = synth(bodies, plans, {64, 32});
  sy.obj.functions[0].calls.push_back({0, helper ? CallKind::Helper : CallKind::Local, helper ? 5 : 0, helper ? "" : "g1"});
  JitImage img = emit(sy);
  const JitFunction &jf = img.functions.at(0);
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const uint64_t rbp = 0x00007f0000100000ULL - 48, S = jf.normalStack;
  s.pc = jf.insnOffsets.at(0);
  s.r[5] = bv(rbp);
  s.r[4] = bv(rbp - S - 40);
  auto ends = mc.run(s, {jf.insnOffsets.at(1)}, CallContract::Clobbers);
  bool task = helper && !ssOnBuffer;
  auto [worst, detail] = eachEnd(
      c, c.bool_val(true), ends,
      [&](const State &e) {
        z3::expr bad = c.bool_val(e.stop.rfind("at:", 0) != 0);
        if (e.stop.rfind("at:", 0) == 0) {
          bad = e.r[4] != s.r[4] || e.r[5] != s.r[5] || e.r[12] != s.r[12] || e.r[3] != s.r[3] ||
                e.r[13] != s.r[13] || e.r[14] != s.r[14] || e.r[15] != s.r[15] || e.rspAtCall.size() != 1;
          if (e.rspAtCall.size() == 1)
            bad = bad || e.rspAtCall[0] != (task ? s.r[12] : s.r[4]);
        }
        return bad;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        std::string o = "rsp " + hex(val(mdl, s.r[4])) + " before";
        if (!e.rspAtCall.empty())
          o += ", " + hex(val(mdl, e.rspAtCall[0])) + " at the call (r12 " + hex(val(mdl, s.r[12])) + ")";
        return o + ", " + hex(val(mdl, e.r[4])) + " after (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

Synthetic Prover::ssCallbackObject() const {
  Synthetic sy = synth({{mk(0x85, 0, 0, 0, 164), mk(0x95, 0, 0, 0, 0)}, {mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)}},
                       {place(FramePlan::Place::ProgramBuffer, "tv"), place(FramePlan::Place::ProgramBuffer, "tv")},
                       {64, 32});
  sy.obj.functions[0].calls.push_back({0, CallKind::Helper, 164, ""});
  sy.obj.functions[0].callbacks.push_back({0, "bpf_for_each_map_elem", "g1", false});
  return sy;
}

// stack-switch, a callback a helper calls, from its entry to `call body`:
// rsp and rbp at the link frame 16 bytes below the top T the per-CPU
// <callback top> holds, the link frame the helper's return address and
// rbp, r12 the rsp it was entered with (the caller's r12 kept there), the
// arguments (rdi, rsi, rdx, rcx, r8) and callee-saved registers unchanged.
void Prover::ssCallbackEntry(const std::string &name) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  JitImage img = emit(ssCallbackObject());
  const JitFunction &jf = *img.find("tv", "g1");
  const JitBuffer *slotBuf = nullptr;
  for (auto &b : img.buffers)
    if (b.name == kStackSwitchCallbackTop)
      slotBuf = &b;
  if (!slotBuf || !jf.switchReturn)
    return addSince("frame", name, t0, TvStatus::Failed, "no <callback top>, or no switch in the callback");
  auto code = decodeX86(jf.code);
  z3::context c;
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  // GS and this CPU's offset fixed (the switch's arithmetic on them is the
  // entry's, proved with both symbolic): byte-wise memory at addresses that
  // are loads of loads times out; the top the slot holds stays symbolic
  Machine mc(c, code, bv(kGs));
  State s = mc.initial("x86_");
  s.pc = 0;
  const uint64_t rsp0 = 0x00007fff00000000ULL, slotAt = kCpuOff + slotBuf->offset;
  s.mem = mc.store(s.mem, bv(kGs + jit::kThisCpuOff), bv(kCpuOff), 8);
  z3::expr top = c.bv_const("callback_top", 64);
  s.mem = mc.store(s.mem, bv(slotAt), top, 8);
  s.r[4] = bv(rsp0);
  auto ends = mc.run(s, {jf.switchReturn - 5}, CallContract::Clobbers);
  auto apart = [&](const z3::expr &a, uint64_t an, const z3::expr &b, uint64_t bn) {
    return z3::uge(a, b + bv(bn)) || z3::ule(a + bv(an), b);
  };
  // the top is apart from the task stack's words, the slot and
  // this_cpu_off, and nothing wraps
  z3::expr pre = apart(top - bv(64), 128, bv(rsp0 - 64), 128) && z3::ugt(top, bv(1 << 20)) &&
                 z3::ult(top, bv(1ull << 47)) && apart(top - bv(64), 128, bv(slotAt), 8) &&
                 apart(top - bv(64), 128, bv(kGs + jit::kThisCpuOff), 8);
  auto [worst, detail] = eachEnd(
      c, pre, ends,
      [&](const State &e) {
        if (e.stop.rfind("at:", 0) != 0)
          return std::vector<z3::expr>{c.bool_val(true)};
        std::vector<z3::expr> facts = switchFacts(mc, s, e, top, rsp0);
        facts.push_back(e.r[7] != s.r[7] || e.r[6] != s.r[6] || e.r[2] != s.r[2] || e.r[1] != s.r[1] ||
                        e.r[8] != s.r[8]);
        facts.push_back(e.r[3] != s.r[3] || e.r[13] != s.r[13] || e.r[14] != s.r[14] || e.r[15] != s.r[15]);
        return facts;
      },
      [&](const z3::model &mdl, const State &e, const std::string &) {
        return "rsp " + hex(val(mdl, e.r[4])) + " at the call, the callback top " + hex(val(mdl, top)) +
               " (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, the call of a helper that calls back into BPF, from its
// BPF instruction to the next: at the call <callback top> holds the
// frame's bottom less callbackGap's bytes (the link frame's excepted) and
// rsp is the frame's bottom (on the buffer) or r12 (on the task stack);
// after it <callback top> holds what it held before, BPF's frame bytes and
// the frame record are unchanged, and so are rsp, rbp, r12 and the
// callee-saved registers.
void Prover::ssCallbackTop(const std::string &name) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  JitImage img = emit(ssCallbackObject());
  const JitFunction &jf = *img.find("tv", "tv");
  const JitBuffer *slotBuf = nullptr;
  for (auto &b : img.buffers)
    if (b.name == kStackSwitchCallbackTop)
      slotBuf = &b;
  if (!slotBuf)
    return addSince("frame", name, t0, TvStatus::Failed, "no <callback top>");
  auto code = decodeX86(jf.code);
  z3::context c;
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  Machine mc(c, code, bv(kGs)); // GS and this CPU's offset fixed, as in ssCallbackEntry
  State s = mc.initial("x86_");
  const uint64_t rbp = 0x00007f0000100000ULL - 48, S = jf.normalStack;
  s.mem = mc.store(s.mem, bv(kGs + jit::kThisCpuOff), bv(kCpuOff), 8);
  z3::expr slot = bv(kCpuOff + slotBuf->offset); // what it held before: symbolic
  s.pc = jf.insnOffsets.at(0);
  s.r[5] = bv(rbp);
  s.r[4] = bv(rbp - S - 40);
  auto ends = mc.run(s, {jf.insnOffsets.at(1)}, CallContract::Clobbers);
  const StackSwitchCosts &costs = img.stackSwitch;
  const uint64_t want = rbp - S - 40 - (costs.callbackGap("bpf_for_each_map_elem") - costs.linkBytes);
  z3::expr pre = c.bool_val(true);
  const bool task = !ssOnBuffer;
  auto [worst, detail] = eachEnd(
      c, pre, ends,
      [&](const State &e) {
        if (e.stop.rfind("at:", 0) != 0 || e.memAtCall.size() != 1)
          return std::vector<Fact>{{c.bool_val(true), "the path"}};
        z3::expr frameSame = c.bool_val(true);
        for (uint64_t a = rbp - 64; a < rbp + 16; a += 8) // BPF's 64 bytes, saved rbp, return address
          frameSame = frameSame && mc.load(e.mem, bv(a), 8) == mc.load(s.mem, bv(a), 8);
        return std::vector<Fact>{
            {mc.load(e.memAtCall[0], slot, 8) != bv(want),
             "at the call, <callback top> is not the frame's bottom less the helper's stack"},
            {e.rspAtCall[0] != (task ? s.r[12] : s.r[4]), "rsp at the call"},
            {e.argsAtCall[0].rdi != s.r[7] || e.argsAtCall[0].rsi != s.r[6], "the arguments at the call"},
            {mc.load(e.mem, slot, 8) != mc.load(s.mem, slot, 8), "after the call, <callback top> is not put back"},
            {!frameSame, "the frame's bytes changed"},
            {e.r[4] != s.r[4] || e.r[5] != s.r[5] || e.r[12] != s.r[12] || e.r[3] != s.r[3] ||
                 e.r[13] != s.r[13] || e.r[14] != s.r[14] || e.r[15] != s.r[15],
             "registers after the call"}};
      },
      [&](const z3::model &mdl, const State &e, const std::string &what) {
        std::string o = what;
        if (!e.memAtCall.empty())
          o += " (<callback top> " + hex(val(mdl, mc.load(e.memAtCall[0], slot, 8))) + " at the call, " +
               hex(val(mdl, mc.load(e.mem, slot, 8))) + " after, " + hex(val(mdl, mc.load(s.mem, slot, 8))) +
               " before; want " + hex(want) + " at the call)";
        return o + " (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// stack-switch, bpf_loop inlined (0 < nr <= 2, flags 0): BPF's r6-r8
// (rbx, r13, r14, the loop's counter, bound and context meanwhile) kept in
// the 24 bytes below BPF's own in the frame (layout.h: stackSwitchBody)
// and back after the loop; the callback called with rsp at the frame's
// bottom (nothing pushed below it), r1 = the index, r2 = the context; r0
// the number of calls; BPF's frame bytes, the frame record, rsp, rbp,
// r12 and r9's rbx unchanged.
void Prover::ssInlinedLoop(const std::string &name) {
  if (!wanted("frame", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  Synthetic sy = synth({{mk(0x85, 0, 0, 0, 181), mk(0x95, 0, 0, 0, 0)}, {mk(0xb7, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)}},
                       {place(FramePlan::Place::ProgramBuffer, "tv"), place(FramePlan::Place::ProgramBuffer, "tv")},
                       {64, 32});
  sy.obj.functions[0].calls.push_back({0, CallKind::Helper, 181, ""});
  sy.obj.functions[0].callbacks.push_back({0, "bpf_loop", "g1", false});
  JitImage img = emit(sy);
  const JitFunction &jf = *img.find("tv", "tv");
  auto code = decodeX86(jf.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const uint64_t rbp = 0x00007f0000100000ULL - 48, S = jf.normalStack;
  s.pc = jf.insnOffsets.at(0);
  s.r[5] = bv(rbp);
  s.r[4] = bv(rbp - S - 40);
  auto ends = mc.run(s, {jf.insnOffsets.at(1)}, CallContract::Clobbers);
  // r1 = nr (rdi), r3 = ctx (rdx), r4 = flags (rcx)
  z3::expr pre = s.r[1] == bv(0) && z3::ugt(s.r[7], bv(0)) && z3::ule(s.r[7], bv(2));
  if (S != 64 + kStackSwitchLoopSpill)
    return addSince("frame", name, t0, TvStatus::Failed,
                    "the frame is " + std::to_string(S) + " bytes, not 64 + 24");
  auto [worst, detail] = eachEnd(
      c, pre, ends,
      [&](const State &e) {
        if (e.stop.rfind("at:", 0) != 0)
          return std::vector<Fact>{{c.bool_val(true), "the path"}};
        z3::expr frameSame = c.bool_val(true);
        for (uint64_t a = rbp - 64; a < rbp + 16; a += 8)
          frameSame = frameSame && mc.load(e.mem, bv(a), 8) == mc.load(s.mem, bv(a), 8);
        z3::expr calls = c.bool_val(true);
        for (size_t k = 0; k < e.rspAtCall.size(); ++k)
          calls = calls && e.rspAtCall[k] == s.r[4] && e.argsAtCall[k].rdi == bv(k) &&
                  e.argsAtCall[k].rsi == s.r[2];
        return std::vector<Fact>{
            {e.r[3] != s.r[3] || e.r[13] != s.r[13] || e.r[14] != s.r[14], "r6-r8 not back after the loop"},
            {!calls, "a call of the callback"},
            {e.r[0] != bv(e.rspAtCall.size()), "r0 is not the calls made"},
            {!frameSame, "BPF's frame or the frame record changed"},
            {e.r[4] != s.r[4] || e.r[5] != s.r[5] || e.r[12] != s.r[12] || e.r[15] != s.r[15],
             "rsp, rbp, r12 or r9 after the loop"}};
      },
      [&](const z3::model &mdl, const State &e, const std::string &what) {
        return what + ": nr " + hex(val(mdl, s.r[7])) + ", " + std::to_string(e.rspAtCall.size()) +
               " calls (path: " + e.stop + ")";
      });
  addSince("frame", name, t0, worst, detail);
}

// LD_ABS / LD_IND as the kernel rewrites them (bpf_gen_ld_abs): one call,
// with rdi the skb (BPF r6) and esi the offset (imm, or src + imm, as an
// int); BPF's r6-r9, the frame register and rsp kept across it; a
// non-negative result is r0 at the next instruction, a negative one reaches
// the function's exit with r0 = 0.
void Prover::legacyLoad(const std::string &name, const Insn &ld, FramePlan::Place pl) {
  if (!wanted("ld_abs", name))
    return;
  auto t0 = std::chrono::steady_clock::now();
  auto finish = [&](TvStatus st, const std::string &d) {
    addSince("ld_abs", name, t0, st, d);
  };
  std::vector<Insn> body{ld, mk(0xbf, 0, 0, 0, 0), mk(0x95, 0, 0, 0, 0)};
  Synthetic sy = synth({body}, {place(pl, pl == FramePlan::Place::KernelStack ? "" : "tv/tv")});
  JitImage img;
  try {
    img = emit(sy);
  } catch (const JitError &e) {
    return finish(TvStatus::Failed, std::string("not emitted: ") + e.what());
  }
  const JitFunction &f = img.functions.at(0);
  auto code = decodeX86(f.code);
  z3::context c;
  Machine mc(c, code, c.bv_const("gsbase", 64));
  State s = mc.initial("x86_");
  s.pc = f.insnOffsets.at(0);
  s.r[4] = c.bv_val(uint64_t(0x00007fff00000000ULL), 64);
  const uint32_t next = f.insnOffsets.at(1), exitAt = f.insnOffsets.at(2);
  std::vector<State> ends;
  try {
    ends = mc.run(s, {next, exitAt}, CallContract::Clobbers);
  } catch (const std::exception &e) {
    return finish(TvStatus::Unknown, e.what());
  }
  auto bv = [&](uint64_t v) { return c.bv_val(v, 64); };
  const unsigned fp = pl == FramePlan::Place::KernelStack ? 5 : 9;
  z3::expr offset = bv(uint64_t(int64_t(int32_t(ld.imm))));
  if (isa::mode(ld.opcode) == isa::IND)
    offset = s.r[kMap[ld.src]] + offset;
  z3::expr pre = c.bool_val(true);
  TvStatus worst = TvStatus::Proved;
  std::string detail;
  std::vector<State> some[2];
  for (auto &e : ends)
    if (e.stop == "at:" + std::to_string(next) || e.stop == "at:" + std::to_string(exitAt))
      some[e.stop == "at:" + std::to_string(exitAt)].push_back(e);
  for (int k = 0; k < 2; ++k)
    if (vacuous(c, pre, some[k]))
      return finish(TvStatus::Failed, std::string("vacuous: no input reaches the ") +
                                          (k ? "exit (a failed load)" : "next instruction"));
  for (auto &e : ends) {
    z3::expr bad = c.bool_val(true);
    std::string what = "path ends " + e.stop;
    if ((e.stop == "at:" + std::to_string(next) || e.stop == "at:" + std::to_string(exitAt)) &&
        e.argsAtCall.size() == 1) {
      z3::expr result = e.resultOfCall[0];
      bool ok = e.stop == "at:" + std::to_string(next);
      bad = e.argsAtCall[0].rdi != s.r[kMap[6]] ||
            e.argsAtCall[0].rsi.extract(31, 0) != offset.extract(31, 0) ||
            e.r[4] != s.r[4] || e.r[fp] != s.r[fp];
      for (unsigned r = 6; r <= 9; ++r)
        bad = bad || e.r[kMap[r]] != s.r[kMap[r]];
      if (ok)
        bad = bad || !(result >= bv(0)) || e.r[0] != result;
      else
        bad = bad || !(result < bv(0)) || e.r[0] != bv(0);
      what = ok ? "the loaded value is not r0, or r6-r9, the frame or the call's arguments differ"
                : "a failed load does not return 0, or r6-r9, the frame or the call's arguments differ";
    }
    std::string d;
    TvStatus st = check(c, pre && e.path && bad, d, [&](const z3::model &mdl) {
      return what + " (r6=" + hex(val(mdl, s.r[kMap[6]])) + ")";
    });
    if (st != TvStatus::Proved) {
      worst = st;
      detail = d;
      break;
    }
  }
  finish(worst, detail);
}

std::string regName(uint8_t r) { return "r" + std::to_string(r); }

// The inputs the obligations range over: the ALU operations' names, the
// registers that stress the emitter's special cases — rax (r0), rdx (r3),
// rcx (r4), rdi (r1) — immediates at the edges, jump conditions, access
// sizes and atomics.
const char *kAluNames[14] = {"+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=",
                                   "^=", "=", "s>>=", "end"};
const uint8_t kRegs[4] = {0, 1, 3, 4};
const int32_t kImms[] = {0, 1, -1, 31, 32, 63, 0x7fffffff, INT32_MIN};
const std::pair<uint8_t, const char *> kJumps[] = {
    {0x10, "=="}, {0x20, ">"}, {0x30, ">="}, {0x40, "&"}, {0x50, "!="}, {0x60, "s>"},
    {0x70, "s>="}, {0xa0, "<"}, {0xb0, "<="}, {0xc0, "s<"}, {0xd0, "s<="}};
const std::pair<uint8_t, const char *> kSizes[] = {{0x10, "u8"}, {0x08, "u16"}, {0x00, "u32"}, {0x18, "u64"}};
const std::pair<int32_t, const char *> kAtomics[] = {
    {0x00, "add"}, {0x40, "or"}, {0x50, "and"}, {0xa0, "xor"}, {0x01, "fetch_add"}, {0x41, "fetch_or"},
    {0x51, "fetch_and"}, {0xa1, "fetch_xor"}, {0xe1, "xchg"}, {0xf1, "cmpxchg"}};
const std::pair<uint8_t, const char *> kSxSizes[] = {{0x10, "s8"}, {0x08, "s16"}, {0x00, "s32"}};
const std::pair<uint8_t, const char *> kLdSizes[] = {{0x10, "b"}, {0x08, "h"}, {0x00, "w"}};

// Every ALU64/ALU32 operation, register and immediate sources; byte swaps; ld_imm64.
void aluForms(Prover &pv) {
  using P = FramePlan::Place;
  for (uint8_t cls : {7, 4}) {
    std::string grp = cls == 7 ? "alu64" : "alu32";
    for (uint8_t op = 0; op <= 0xc; ++op) {
      uint8_t opc = uint8_t(op << 4);
      for (uint8_t d : kRegs) {
        if (op == 8) { // neg
          pv.insnForm(grp, regName(d) + " = -" + regName(d), mk(uint8_t(opc | cls), d, 0, 0, 0), P::OwnBuffer);
          continue;
        }
        for (uint8_t s : kRegs)
          pv.insnForm(grp, regName(d) + " " + kAluNames[op] + " " + regName(s),
                      mk(uint8_t(opc | 0x08 | cls), d, s, 0, 0), P::OwnBuffer);
        for (int32_t k : kImms) {
          bool shift = op == 6 || op == 7 || op == 0xc;
          if (shift && (k < 0 || k >= (cls == 7 ? 64 : 32)))
            continue; // the verifier rejects out-of-range shift immediates
          pv.insnForm(grp, regName(d) + " " + kAluNames[op] + " " + std::to_string(k),
                      mk(uint8_t(opc | cls), d, 0, 0, k), P::OwnBuffer);
        }
      }
    }
  }
  for (uint8_t d : {0, 1}) {
    for (int bits : {16, 32, 64}) {
      pv.insnForm("alu32", regName(d) + " = le" + std::to_string(bits) + " " + regName(d),
                  mk(0xd4, d, 0, 0, bits), P::OwnBuffer);
      pv.insnForm("alu32", regName(d) + " = be" + std::to_string(bits) + " " + regName(d),
                  mk(0xdc, d, 0, 0, bits), P::OwnBuffer);
    }
    pv.insnForm("alu64", regName(d) + " = 0x123456789abcdef0 ll", mk(0x18, d, 0, 0, 0x123456789abcdef0),
                P::OwnBuffer);
  }
}

// Every jump condition in both widths, and goto.
void jumpForms(Prover &pv) {
  using P = FramePlan::Place;
  for (uint8_t cls : {5, 6}) {
    std::string grp = cls == 5 ? "jmp" : "jmp32";
    for (auto [op, nm] : kJumps) {
      for (uint8_t d : {0, 1})
        for (uint8_t s : {1, 4})
          pv.insnForm(grp, "if " + regName(d) + " " + nm + " " + regName(s) + " goto",
                      mk(uint8_t(op | 0x08 | cls), d, s, 0, 0), P::OwnBuffer);
      for (int32_t k : {0, 1, -1, INT32_MIN})
        pv.insnForm(grp, "if r1 " + std::string(nm) + " " + std::to_string(k) + " goto",
                    mk(uint8_t(op | cls), 1, 0, 0, k), P::OwnBuffer);
    }
  }
  pv.insnForm("jmp", "goto", mk(0x05, 0, 0, 0, 0), P::OwnBuffer);
}

// Loads, stores and stores of immediates of every size, private and kernel-stack frames.
void memoryForms(Prover &pv) {
  using P = FramePlan::Place;
  for (auto [sz, nm] : kSizes) {
    for (P pl : {P::OwnBuffer, P::KernelStack}) {
      std::string where = pl == P::KernelStack ? " (kernel stack)" : " (private)";
      pv.insnForm("ldx", std::string("r1 = *(") + nm + " *)(r10 - 16)" + where, mk(uint8_t(0x61 | sz), 1, 10, -16, 0), pl);
      pv.insnForm("stx", std::string("*(") + nm + " *)(r10 - 16) = r1" + where, mk(uint8_t(0x63 | sz), 10, 1, -16, 0), pl);
      pv.insnForm("stx", std::string("*(") + nm + " *)(r10 - 64) = r2" + where, mk(uint8_t(0x63 | sz), 10, 2, -64, 0), pl);
      pv.insnForm("st", std::string("*(") + nm + " *)(r10 - 8) = -2" + where, mk(uint8_t(0x62 | sz), 10, 0, -8, -2), pl);
    }
    pv.insnForm("ldx", std::string("r0 = *(") + nm + " *)(r2 + 8)", mk(uint8_t(0x61 | sz), 0, 2, 8, 0), P::OwnBuffer);
    pv.insnForm("stx", std::string("*(") + nm + " *)(r0 + 0) = r6", mk(uint8_t(0x63 | sz), 0, 6, 0, 0), P::OwnBuffer);
    pv.insnForm("st", std::string("*(") + nm + " *)(r2 - 4) = 0x12345678", mk(uint8_t(0x62 | sz), 2, 0, -4, 0x12345678), P::OwnBuffer);
  }
}

// Every atomic in both widths, through r10, rax and others.
void atomicForms(Prover &pv) {
  using P = FramePlan::Place;
  for (uint8_t sz : {0x00, 0x18})
    for (auto [aop, nm] : kAtomics)
      for (auto [base, src] : std::initializer_list<std::pair<uint8_t, uint8_t>>{{10, 1}, {2, 0}, {0, 1}, {1, 1}})
        pv.insnForm("atomic", std::string(nm) + (sz ? "64" : "32") + " *(" + regName(base) + " - 8) " + regName(src),
                    mk(uint8_t(0xc3 | sz), base, src, -8, aop), P::OwnBuffer);
}

// cpu v4: signed division and modulo (0 and -1 included), sign-extending moves and
// loads, bswap, load-acquire / store-release, gotol, may_goto.
void v4Forms(Prover &pv) {
  using P = FramePlan::Place;
  for (uint8_t cls : {7, 4}) {
    std::string grp = cls == 7 ? "alu64" : "alu32";
    for (uint8_t op : {0x30, 0x90}) {
      const char *nm = op == 0x30 ? "s/=" : "s%=";
      for (uint8_t d : kRegs) {
        for (uint8_t s : kRegs)
          pv.insnForm(grp, regName(d) + " " + nm + " " + regName(s), mk(uint8_t(op | 0x08 | cls), d, s, 1, 0),
                      P::OwnBuffer);
        for (int32_t k : {0, 1, -1, 3, -7, 0x7fffffff, INT32_MIN})
          pv.insnForm(grp, regName(d) + " " + nm + " " + std::to_string(k), mk(uint8_t(op | cls), d, 0, 1, k),
                      P::OwnBuffer);
      }
    }
    std::vector<int16_t> widths = cls == 7 ? std::vector<int16_t>{8, 16, 32} : std::vector<int16_t>{8, 16};
    for (int16_t from : widths)
      for (uint8_t d : {0, 1, 4})
        for (uint8_t s : {0, 1, 2, 4})
          pv.insnForm(grp, regName(d) + " = (s" + std::to_string(from) + ") " + regName(s),
                      mk(uint8_t(0xb8 | cls), d, s, from, 0), P::OwnBuffer);
  }
  for (uint8_t d : {0, 1})
    for (int bits : {16, 32, 64})
      pv.insnForm("alu64", regName(d) + " = bswap" + std::to_string(bits) + " " + regName(d),
                  mk(0xd7, d, 0, 0, bits), P::OwnBuffer);
  for (auto [sz, nm] : kSxSizes) {
    for (P pl : {P::OwnBuffer, P::KernelStack}) {
      std::string where = pl == P::KernelStack ? " (kernel stack)" : " (private)";
      pv.insnForm("ldx", std::string("r1 = *(") + nm + " *)(r10 - 16)" + where, mk(uint8_t(0x81 | sz), 1, 10, -16, 0), pl);
    }
    pv.insnForm("ldx", std::string("r0 = *(") + nm + " *)(r2 + 8)", mk(uint8_t(0x81 | sz), 0, 2, 8, 0), P::OwnBuffer);
  }
  for (auto [sz, nm] : kSizes) {
    pv.insnForm("atomic", std::string("r0 = load_acquire((") + nm + " *)(r2 + 8))",
                mk(uint8_t(0xc3 | sz), 0, 2, 8, isa::LOAD_ACQ), P::OwnBuffer);
    pv.insnForm("atomic", std::string("store_release((") + nm + " *)(r2 - 4), r1)",
                mk(uint8_t(0xc3 | sz), 2, 1, -4, isa::STORE_REL), P::OwnBuffer);
    pv.insnForm("atomic", std::string("store_release((") + nm + " *)(r10 - 16), r1) (private)",
                mk(uint8_t(0xc3 | sz), 10, 1, -16, isa::STORE_REL), P::OwnBuffer);
  }
  pv.insnForm("jmp32", "gotol", mk(0x06, 0, 0, 0, 0), P::OwnBuffer);
  pv.insnForm("jmp", "may_goto (private)", mk(0xe5, 0, 0, 0, 0), P::OwnBuffer);
  pv.insnForm("jmp", "may_goto (kernel stack)", mk(0xe5, 0, 0, 0, 0), P::KernelStack);
}

// LD_ABS / LD_IND: the kernel's rewrite into a helper call.
void legacyLoads(Prover &pv) {
  using P = FramePlan::Place;
  for (auto [sz, nm] : kLdSizes)
    for (P pl : {P::OwnBuffer, P::KernelStack}) {
      std::string where = pl == P::KernelStack ? " (kernel stack)" : " (private)";
      pv.legacyLoad(std::string("ldabs") + nm + " 14" + where, mk(uint8_t(0x20 | sz), 0, 0, 0, 14), pl);
      pv.legacyLoad(std::string("ldind") + nm + " r7 - 2" + where, mk(uint8_t(0x40 | sz), 0, 7, 0, -2), pl);
      pv.legacyLoad(std::string("ldind") + nm + " r1" + where, mk(uint8_t(0x40 | sz), 0, 1, 0, 0), pl);
    }
}

// The frame sequences of the r9 schemes: prologues, call sites, tail calls.
void frameSequences(Prover &pv) {
  using P = FramePlan::Place;
  pv.prologue("prologue: kernel stack frame (rbp)", place(P::KernelStack), false);
  pv.prologue("prologue: own buffer (kernel, per-subprog)", place(P::OwnBuffer, "tv/tv"), false);
  pv.prologue("prologue: planned offset 96", place(P::ProgramBufferAt, "tv", 96), false);
  pv.prologue("prologue: program buffer entry (per-prog)", place(P::ProgramBuffer, "tv"), false);
  pv.prologue("prologue: program buffer, tail-call landing", place(P::ProgramBuffer, "tv"), true);
  pv.callSite("call: own-buffer callee (push r9/pop r9)",
              {place(P::OwnBuffer, "tv/tv"), place(P::OwnBuffer, "tv/g1")}, false, false);
  pv.callSite("call: per-prog callee (add r9, F / sub r9, F)",
              {place(P::ProgramBuffer, "tv"), place(P::ProgramBuffer, "tv")}, false, false);
  pv.callSite("call: per-prog callee from a tail-calling program (push, add, pop)",
              {place(P::ProgramBuffer, "tv"), place(P::ProgramBuffer, "tv")}, false, true);
  pv.callSite("call: planned callee (add r9, delta / sub r9, delta)",
              {place(P::ProgramBufferAt, "tv", 0), place(P::ProgramBufferAt, "tv", 64)}, false, false);
  pv.callSite("call: helper from a private frame (push r9/pop r9)", {place(P::OwnBuffer, "tv/tv")}, true, false);
  pv.callSite("call: kernel-stack callee from a private frame",
              {place(P::OwnBuffer, "tv/tv"), place(P::KernelStack)}, false, false);
  pv.tailCall("tail call: kernel stack", P::KernelStack);
  pv.tailCall("tail call: program buffer (r9 back to the frame base)", P::ProgramBuffer);
}

// stack-switch: the forms it emits otherwise (no push below the frame:
// memory must be equal everywhere, below rsp too), and its frame sequences.
void stackSwitchObligations(Prover &pv) {
  using P = FramePlan::Place;
  pv.ss = true;
  for (uint8_t cls : {7, 4}) {
    std::string grp = std::string(cls == 7 ? "alu64" : "alu32") + " (stack-switch)";
    for (uint8_t op : {3, 9, 6, 7, 0xc}) {
      uint8_t opc = uint8_t(op << 4);
      bool shift = op == 6 || op == 7 || op == 0xc;
      for (uint8_t d : kRegs) {
        for (uint8_t s : kRegs)
          pv.insnForm(grp, regName(d) + " " + kAluNames[op] + " " + regName(s),
                      mk(uint8_t(opc | 0x08 | cls), d, s, 0, 0), P::KernelStack);
        if (!shift)
          for (int32_t k : kImms)
            pv.insnForm(grp, regName(d) + " " + kAluNames[op] + " " + std::to_string(k),
                        mk(uint8_t(opc | cls), d, 0, 0, k), P::KernelStack);
      }
    }
  }
  for (uint8_t cls : {7, 4}) {
    std::string grp = std::string(cls == 7 ? "alu64" : "alu32") + " (stack-switch)";
    for (uint8_t op : {0x30, 0x90}) {
      const char *nm = op == 0x30 ? "s/=" : "s%=";
      for (uint8_t d : kRegs) {
        for (uint8_t s : kRegs)
          pv.insnForm(grp, regName(d) + " " + nm + " " + regName(s), mk(uint8_t(op | 0x08 | cls), d, s, 1, 0),
                      P::KernelStack);
        for (int32_t k : {0, 1, -1, 3, -7, 0x7fffffff, INT32_MIN})
          pv.insnForm(grp, regName(d) + " " + nm + " " + std::to_string(k), mk(uint8_t(op | cls), d, 0, 1, k),
                      P::KernelStack);
      }
    }
  }
  for (auto [sz, nm] : kLdSizes) // helpers on the buffer: rsp kept across the call
    pv.legacyLoad(std::string("ldind") + nm + " r7 - 2 (stack-switch)", mk(uint8_t(0x40 | sz), 0, 7, 0, -2),
                  P::KernelStack);
  for (uint8_t sz : {0x00, 0x18})
    for (auto [aop, nm] : kAtomics)
      for (auto [base, src] : std::initializer_list<std::pair<uint8_t, uint8_t>>{{10, 1}, {2, 0}, {0, 1}, {0, 0}, {1, 1}})
        pv.insnForm("atomic (stack-switch)", std::string(nm) + (sz ? "64" : "32") + " *(" + regName(base) + " - 8) " + regName(src),
                    mk(uint8_t(0xc3 | sz), base, src, -8, aop), P::KernelStack);
  // may_goto's counter at the bottom of the frame (stackSwitchBody)
  pv.insnForm("jmp (stack-switch)", "may_goto", mk(0xe5, 0, 0, 0, 0), P::KernelStack);
  pv.ssEntry("stack-switch: the entry's switch to the buffer's top and the link frame");
  pv.ssSwitchBack("stack-switch: the switch back to the task stack");
  pv.ssBodyFrame("stack-switch: a frame of round_up(F, 8) + 56 below its return address", false);
  pv.ssBodyFrame("stack-switch: the tail-call landing's frame", true);
  pv.ssEpilogue("stack-switch: a frame's exit (leave; ret)");
  pv.ssCallSite("stack-switch: call of a BPF function", false);
  pv.ssCallSite("stack-switch: helper on the buffer", true);
  pv.ssCallbackEntry("stack-switch: a helper's callback switches to the callback top and links");
  pv.ssSwitchBack("stack-switch: a helper's callback switches back to the helper's stack", true);
  pv.ssCallbackTop("stack-switch: a helper that calls back, on the buffer (the callback top set and put back)");
  pv.ssInlinedLoop("stack-switch: inlined bpf_loop (r6-r8 kept in the frame's 24 bytes)");
  pv.ssOnBuffer = false;
  pv.ssCallSite("stack-switch: helper on the task stack (rsp = r12, back to the frame's bottom)", true);
  pv.ssCallbackTop("stack-switch: a helper that calls back, on the task stack (the callback top set and put back)");
  pv.tailCall("stack-switch: tail call (the frame unwound to rbp, the link frame kept)", P::KernelStack);
  pv.ss = false;
}

} // namespace

std::vector<TvObligation> validateTranslation(const TvOptions &opts) {
  Prover pv;
  pv.opts = opts;
  if (!opts.smtDir.empty())
    std::filesystem::create_directories(opts.smtDir);
  aluForms(pv);
  jumpForms(pv);
  memoryForms(pv);
  atomicForms(pv);
  v4Forms(pv);
  legacyLoads(pv);
  frameSequences(pv);
  stackSwitchObligations(pv);
  return pv.out;
}

std::vector<ObligationFile> tvObligationFiles(const std::string &smtDir) {
  std::vector<ObligationFile> out;
  for (auto &e : std::filesystem::directory_iterator(smtDir))
    if (e.path().extension() == ".smt2")
      out.push_back({e.path().string(), "jit", e.path().stem().string(), "tv"});
  std::sort(out.begin(), out.end(), [](auto &a, auto &b) { return a.path < b.path; });
  return out;
}

std::string tvTable(const std::vector<TvObligation> &obs) {
  std::map<std::string, std::array<size_t, 3>> byGroup;
  std::map<std::string, double> secs;
  std::ostringstream s;
  for (auto &o : obs) {
    byGroup[o.group][size_t(o.status)]++;
    secs[o.group] += o.seconds;
  }
  int width = 10; // the longest group's name ("alu32 (stack-switch)")
  for (auto &o : obs)
    width = std::max(width, int(o.group.size()) + 2);
  s << std::left << std::setw(width) << "group" << std::right << std::setw(8) << "proved" << std::setw(8)
    << "failed" << std::setw(9) << "unknown" << std::setw(10) << "seconds" << "\n";
  size_t tot[3] = {0, 0, 0};
  double all = 0;
  for (auto &[g, n] : byGroup) {
    s << std::left << std::setw(width) << g << std::right << std::setw(8) << n[0] << std::setw(8) << n[1]
      << std::setw(9) << n[2] << std::setw(10) << std::fixed << std::setprecision(2) << secs[g] << "\n";
    for (int i = 0; i < 3; ++i)
      tot[i] += n[size_t(i)];
    all += secs[g];
  }
  s << std::left << std::setw(width) << "total" << std::right << std::setw(8) << tot[0] << std::setw(8)
    << tot[1] << std::setw(9) << tot[2] << std::setw(10) << std::fixed << std::setprecision(2) << all << "\n";
  for (auto &o : obs)
    if (o.status != TvStatus::Proved)
      s << tvStatusName(o.status) << ": " << o.group << " " << o.name << ": " << o.detail << "\n";
  return s.str();
}

} // namespace pstack
