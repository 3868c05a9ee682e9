// Private to proofs/: a symbolic semantics, in Z3 bit-vectors, for the
// x86-64 instructions jitgen emits, read from LLVM MC's decoding (X86Insn),
// not from the emitter. Paths fork at conditional branches; infeasible ones
// are pruned by the solver.
#pragma once

#include "jitgen/jitgen.h"

#include <z3++.h>

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pstack::tv {

struct RegRef {
  unsigned idx = 0;  // 0..15, hardware numbering
  unsigned bits = 64;
};
std::optional<RegRef> regRef(const std::string &name);

// Unsigned division and remainder by a non-zero divisor, as uninterpreted
// functions shared by the BPF and the x86 semantics: both sides must then
// divide the same operands, and the solver never bit-blasts a divider. A
// proof that needed more of division would fail, never pass wrongly.
z3::expr udivUF(const z3::expr &a, const z3::expr &b);
// x86 idiv's quotient and remainder where they do not trap (truncating
// toward zero), as uninterpreted functions like the unsigned ones
z3::expr sdivUF(const z3::expr &a, const z3::expr &b);
z3::expr sremUF(const z3::expr &a, const z3::expr &b);
z3::expr uremUF(const z3::expr &a, const z3::expr &b);

// What a `call` does, as the caller may assume.
enum class CallContract {
  Clobbers,     // C code or a function that sets its own r9: caller-saved
                // registers and r9 change, callee-saved ones and the
                // caller's stack (at and above rsp) do not
  KeepsR9,      // a BPF function called with r9 moved for it: as Clobbers,
                // but r9 comes back as it went in
};

struct State {
  std::array<z3::expr, 16> r;
  z3::expr zf, cf, sf, of;
  z3::expr mem;     // (Array (_ BitVec 64) (_ BitVec 8))
  z3::expr path;    // path condition
  uint32_t pc = 0;
  std::string stop; // why the path ended: "at:<offset>", "jmp-reg", "ret", "fault:<why>"
  std::vector<z3::expr> r9AtCall; // r9 at each call, in order
  std::vector<z3::expr> rspAtCall; // rsp at each call, in order
  std::vector<z3::expr> memAtCall; // memory at each call, in order
  struct CallArgs {
    z3::expr rdi, rsi;
  };
  std::vector<CallArgs> argsAtCall;    // the first two arguments of each call
  std::vector<z3::expr> resultOfCall;  // rax each call returned
  std::vector<z3::expr> raxAtJmpReg;
  unsigned steps = 0;
  std::map<uint32_t, unsigned> visits;
};

class Machine {
public:
  Machine(z3::context &c, const std::vector<X86Insn> &code, z3::expr gsBase);
  z3::context &c;
  z3::expr gsBase;

  State initial(const std::string &prefix);
  // Runs from `s` until a path reaches an offset in `stops`, a `ret`, an
  // indirect jump, a fault, or the step bound; returns every end state.
  // `contract` says what a call does; unknown instructions throw.
  std::vector<State> run(State s, const std::set<uint32_t> &stops, CallContract contract,
                         unsigned maxSteps = 400);

  z3::expr load(const z3::expr &mem, const z3::expr &addr, unsigned bytes) const;
  z3::expr store(const z3::expr &mem, const z3::expr &addr, const z3::expr &val, unsigned bytes) const;
  z3::expr bv(uint64_t v, unsigned bits = 64) const { return c.bv_val(v, bits); }

private:
  friend struct X86Step; // x86sym.cpp: one instruction's step, by family
  std::map<uint32_t, const X86Insn *> at_;
  std::vector<X86Insn> code_;
  unsigned fresh_ = 0;
  z3::expr freshBv(const std::string &n, unsigned bits = 64);
  z3::expr freshBool(const std::string &n);
  z3::expr readReg(const State &s, const std::string &name) const;
  void writeReg(State &s, const std::string &name, const z3::expr &v) const;
  z3::expr addr(const State &s, const X86Operand &m) const;
  bool feasible(const z3::expr &e);
  void step(State &s, std::vector<State> &forks, CallContract contract);
};

} // namespace pstack::tv
