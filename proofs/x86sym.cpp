// The symbolic x86-64 semantics (see x86sym.h). Written from the Intel SDM's
// descriptions of each instruction; opcode names are LLVM's.
#include "proofs/x86sym.h"

#include <cctype>
#include <stdexcept>

namespace pstack::tv {

std::optional<RegRef> regRef(const std::string &n) {
  static const char *r64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static const char *r32[16] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                                "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
  static const char *r16[16] = {"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
                                "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"};
  static const char *r8[16] = {"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
                               "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"};
  for (unsigned i = 0; i < 16; ++i) {
    if (n == r64[i]) return RegRef{i, 64};
    if (n == r32[i]) return RegRef{i, 32};
    if (n == r16[i]) return RegRef{i, 16};
    if (n == r8[i]) return RegRef{i, 8};
  }
  return std::nullopt;
}

z3::expr udivUF(const z3::expr &a, const z3::expr &b) {
  unsigned n = a.get_sort().bv_size();
  z3::context &c = a.ctx();
  return c.function(("udiv" + std::to_string(n)).c_str(), c.bv_sort(n), c.bv_sort(n), c.bv_sort(n))(a, b);
}
z3::expr uremUF(const z3::expr &a, const z3::expr &b) {
  unsigned n = a.get_sort().bv_size();
  z3::context &c = a.ctx();
  return c.function(("urem" + std::to_string(n)).c_str(), c.bv_sort(n), c.bv_sort(n), c.bv_sort(n))(a, b);
}

z3::expr sdivUF(const z3::expr &a, const z3::expr &b) {
  unsigned n = a.get_sort().bv_size();
  z3::context &c = a.ctx();
  return c.function(("sdiv" + std::to_string(n)).c_str(), c.bv_sort(n), c.bv_sort(n), c.bv_sort(n))(a, b);
}
z3::expr sremUF(const z3::expr &a, const z3::expr &b) {
  unsigned n = a.get_sort().bv_size();
  z3::context &c = a.ctx();
  return c.function(("srem" + std::to_string(n)).c_str(), c.bv_sort(n), c.bv_sort(n), c.bv_sort(n))(a, b);
}

namespace {
// "ADD64ri8" -> mnemonic ADD, width 64, form "ri8"
struct OpName {
  std::string mnem, form;
  unsigned width = 0;
};
OpName parse(const std::string &op) {
  OpName o;
  size_t d = op.find_first_of("0123456789");
  if (d == std::string::npos) {
    o.mnem = op;
    return o;
  }
  o.mnem = op.substr(0, d);
  size_t e = op.find_first_not_of("0123456789", d);
  o.width = unsigned(std::stoul(op.substr(d, e - d)));
  o.form = e == std::string::npos ? "" : op.substr(e);
  return o;
}
const X86Operand *memOf(const X86Insn &x) {
  for (auto &o : x.operands)
    if (o.kind == X86Operand::Kind::Mem)
      return &o;
  return nullptr;
}
std::vector<const X86Operand *> regsOf(const X86Insn &x) {
  std::vector<const X86Operand *> v;
  for (auto &o : x.operands)
    if (o.kind == X86Operand::Kind::Reg)
      v.push_back(&o);
  return v;
}
std::optional<int64_t> immOf(const X86Insn &x) {
  std::optional<int64_t> v;
  for (auto &o : x.operands)
    if (o.kind == X86Operand::Kind::Imm)
      v = o.imm;
  return v;
}
const char *nameOfWidth(unsigned idx, unsigned bits) {
  static const char *r64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  static const char *r32[16] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                                "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
  return bits == 64 ? r64[idx] : r32[idx];
}
} // namespace

Machine::Machine(z3::context &ctx, const std::vector<X86Insn> &code, z3::expr gs)
    : c(ctx), gsBase(gs), code_(code) {
  for (auto &x : code_)
    at_[x.offset] = &x;
}

z3::expr Machine::freshBv(const std::string &n, unsigned bits) {
  return c.bv_const((n + "!" + std::to_string(fresh_++)).c_str(), bits);
}
z3::expr Machine::freshBool(const std::string &n) {
  return c.bool_const((n + "!" + std::to_string(fresh_++)).c_str());
}

State Machine::initial(const std::string &prefix) {
  static const char *names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                  "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  auto b = [&](const char *n) { return c.bv_const((prefix + n).c_str(), 64); };
  State s{{b(names[0]), b(names[1]), b(names[2]), b(names[3]), b(names[4]), b(names[5]),
           b(names[6]), b(names[7]), b(names[8]), b(names[9]), b(names[10]), b(names[11]),
           b(names[12]), b(names[13]), b(names[14]), b(names[15])},
          c.bool_const((prefix + "zf").c_str()),
          c.bool_const((prefix + "cf").c_str()),
          c.bool_const((prefix + "sf").c_str()),
          c.bool_const((prefix + "of").c_str()),
          c.constant((prefix + "mem").c_str(), c.array_sort(c.bv_sort(64), c.bv_sort(8))),
          c.bool_val(true)};
  return s;
}

z3::expr Machine::load(const z3::expr &mem, const z3::expr &a, unsigned bytes) const {
  z3::expr v = z3::select(mem, a);
  for (unsigned i = 1; i < bytes; ++i)
    v = z3::concat(z3::select(mem, a + c.bv_val(i, 64)), v);
  return v;
}

z3::expr Machine::store(const z3::expr &mem, const z3::expr &a, const z3::expr &val,
                        unsigned bytes) const {
  z3::expr m = mem;
  for (unsigned i = 0; i < bytes; ++i)
    m = z3::store(m, a + c.bv_val(i, 64), val.extract(8 * i + 7, 8 * i));
  return m;
}

z3::expr Machine::readReg(const State &s, const std::string &name) const {
  auto r = regRef(name);
  if (!r)
    throw std::runtime_error("tv: register " + name);
  z3::expr v = s.r[r->idx];
  return r->bits == 64 ? v : v.extract(r->bits - 1, 0);
}

void Machine::writeReg(State &s, const std::string &name, const z3::expr &v) const {
  auto r = regRef(name);
  if (!r)
    throw std::runtime_error("tv: register " + name);
  z3::expr old = s.r[r->idx];
  switch (r->bits) {
  case 64: s.r[r->idx] = v; break;
  case 32: s.r[r->idx] = z3::zext(v, 32); break; // a 32-bit write clears the top
  default: s.r[r->idx] = z3::concat(old.extract(63, r->bits), v); break;
  }
  s.r[r->idx] = s.r[r->idx].simplify();
}

z3::expr Machine::addr(const State &s, const X86Operand &m) const {
  z3::expr a = c.bv_val(uint64_t(m.disp), 64);
  if (!m.base.empty())
    a = readReg(s, m.base) + a;
  if (!m.index.empty())
    a = a + readReg(s, m.index) * c.bv_val(m.scale, 64);
  if (m.segment == "gs")
    a = a + gsBase;
  else if (!m.segment.empty())
    throw std::runtime_error("tv: segment " + m.segment);
  return a.simplify();
}

bool Machine::feasible(const z3::expr &e) {
  z3::expr s = e.simplify();
  if (s.is_false())
    return false;
  if (s.is_true())
    return true;
  z3::solver sol(c);
  z3::params p(c);
  p.set("timeout", 20000u);
  sol.set(p);
  sol.add(s);
  return sol.check() != z3::unsat;
}

std::vector<State> Machine::run(State s0, const std::set<uint32_t> &stops, CallContract contract,
                                unsigned maxSteps) {
  std::vector<State> work{std::move(s0)}, done;
  while (!work.empty()) {
    State s = std::move(work.back());
    work.pop_back();
    for (;;) {
      if (!s.stop.empty())
        break; // a fork that already ended (a fault)
      if (stops.count(s.pc)) {
        s.stop = "at:" + std::to_string(s.pc);
        break;
      }
      if (s.steps++ > maxSteps) {
        s.stop = "bound";
        break;
      }
      std::vector<State> forks;
      step(s, forks, contract);
      for (auto &f : forks)
        work.push_back(std::move(f));
      if (!s.stop.empty())
        break;
    }
    done.push_back(std::move(s));
  }
  return done;
}

// One instruction's step (Machine::step), one function per family of
// instructions: each says whether the instruction was its own. The decoded
// instruction's parts, the state and the machine's helpers, by the names
// the semantics are written with.
struct X86Step {
  Machine &M;
  z3::context &c;
  State &s;
  std::vector<State> &forks;
  CallContract contract;
  const X86Insn &x;
  uint32_t next; // the fall-through
  const X86Operand *m;
  std::vector<const X86Operand *> regs;
  std::optional<int64_t> imm;
  unsigned w, bytes; // the operation's width in bits and bytes
  std::string mn, fm; // mnemonic and form: "ADD64ri8" -> ADD, ri8

  z3::expr immBv(unsigned bits) const { return c.bv_val(uint64_t(*imm), bits); }
  static std::string regName(const X86Operand *o) { return o->reg; }
  void setLogic(const z3::expr &res) {
    s.zf = (res == c.bv_val(0, res.get_sort().bv_size())).simplify();
    s.sf = (res.extract(res.get_sort().bv_size() - 1, res.get_sort().bv_size() - 1) == c.bv_val(1, 1)).simplify();
    s.cf = c.bool_val(false);
    s.of = c.bool_val(false);
  }
  void setArith(const z3::expr &a, const z3::expr &b, const z3::expr &res, bool sub) {
    unsigned n = res.get_sort().bv_size();
    auto msb = [&](const z3::expr &e) { return e.extract(n - 1, n - 1) == c.bv_val(1, 1); };
    s.zf = (res == c.bv_val(0, n)).simplify();
    s.sf = msb(res).simplify();
    if (sub) {
      s.cf = z3::ult(a, b).simplify();
      s.of = ((msb(a) != msb(b)) && (msb(res) != msb(a))).simplify();
    } else {
      s.cf = z3::ult(res, a).simplify();
      s.of = ((msb(a) == msb(b)) && (msb(res) != msb(a))).simplify();
    }
  }
  void freshFlags() {
    s.zf = freshBool("zf"), s.cf = freshBool("cf"), s.sf = freshBool("sf"), s.of = freshBool("of");
  }
  z3::expr readReg(const State &st, const std::string &n) const { return M.readReg(st, n); }
  void writeReg(State &st, const std::string &n, const z3::expr &v) const { M.writeReg(st, n, v); }
  z3::expr load(const z3::expr &mem, const z3::expr &a, unsigned n) const { return M.load(mem, a, n); }
  z3::expr store(const z3::expr &mem, const z3::expr &a, const z3::expr &v, unsigned n) const {
    return M.store(mem, a, v, n);
  }
  z3::expr addr(const State &st, const X86Operand &o) const { return M.addr(st, o); }
  bool feasible(const z3::expr &e) { return M.feasible(e); }
  z3::expr freshBv(const std::string &n, unsigned bits = 64) { return M.freshBv(n, bits); }
  z3::expr freshBool(const std::string &n) { return M.freshBool(n); }

  bool arithmetic();
  bool moves();
  bool multiplyShiftSwap();
  bool divide();
  bool exchange();
  bool stackOps();
  bool control();
};

// Binary arithmetic and logic, compare and test, and no-ops.
bool X86Step::arithmetic() {
  // a lock prefix, decoded on its own: one CPU, so atomicity is moot
  if (x.opcode == "NOOPL" || x.opcode == "NOOPW" || x.opcode == "NOOP" || x.opcode == "LOCK_PREFIX") {
    s.pc = next;
    return true;
  }
  // binary arithmetic and logic, compare and test
  if (mn == "ADD" || mn == "SUB" || mn == "AND" || mn == "OR" || mn == "XOR" || mn == "CMP" ||
      mn == "TEST" || mn == "LOCK_ADD" || mn == "LOCK_OR" || mn == "LOCK_AND" || mn == "LOCK_XOR") {
    std::string op = mn.rfind("LOCK_", 0) == 0 ? mn.substr(5) : mn;
    z3::expr a(c), b(c);
    std::optional<std::string> dstReg;
    std::optional<z3::expr> dstMem;
    if (fm == "rr") {
      dstReg = regName(regs.front());
      a = readReg(s, *dstReg);
      b = readReg(s, regName(regs.back()));
    } else if (fm == "ri" || fm == "ri8" || fm == "ri32") {
      dstReg = regName(regs.front());
      a = readReg(s, *dstReg);
      b = immBv(w);
    } else if (fm == "i32" || fm == "i8" || fm == "i16") {
      dstReg = nameOfWidth(0, w);
      a = readReg(s, *dstReg);
      b = immBv(w);
    } else if (fm == "rm") {
      dstReg = regName(regs.front());
      a = readReg(s, *dstReg);
      b = load(s.mem, addr(s, *m), bytes);
    } else if (fm == "mr" || fm == "mi" || fm == "mi8" || fm == "mi32") {
      dstMem = addr(s, *m);
      a = load(s.mem, *dstMem, bytes);
      b = fm == "mr" ? readReg(s, regName(regs.back())) : immBv(w);
    } else {
      throw std::runtime_error("tv: x86 form " + x.opcode + " (" + x.text + ")");
    }
    z3::expr res(c);
    if (op == "ADD") res = a + b, setArith(a, b, res, false);
    else if (op == "SUB" || op == "CMP") res = a - b, setArith(a, b, res, true);
    else if (op == "AND" || op == "TEST") res = a & b, setLogic(res);
    else if (op == "OR") res = a | b, setLogic(res);
    else res = a ^ b, setLogic(res);
    if (op != "CMP" && op != "TEST") {
      if (dstReg)
        writeReg(s, *dstReg, res);
      else
        s.mem = store(s.mem, *dstMem, res, bytes);
    }
    s.pc = next;
    return true;
  }
  return false;
}

// Moves, extensions, cqo/cdq and lea.
bool X86Step::moves() {
  if (mn == "MOV") {
    if (fm == "rr") {
      writeReg(s, regName(regs.front()), readReg(s, regName(regs.back())));
    } else if (fm == "ri" || fm == "ri32") {
      writeReg(s, regName(regs.front()), immBv(w));
    } else if (fm == "rm") {
      writeReg(s, regName(regs.front()), load(s.mem, addr(s, *m), bytes));
    } else if (fm == "mr" || fm == "mr_NOREX") {
      s.mem = store(s.mem, addr(s, *m), readReg(s, regName(regs.back())), bytes);
    } else if (fm == "mi" || fm == "mi32") {
      s.mem = store(s.mem, addr(s, *m), immBv(w), bytes);
    } else {
      throw std::runtime_error("tv: x86 form " + x.opcode);
    }
    s.pc = next;
    return true;
  }
  if (mn == "MOVZX") {
    // MOVZX64rm8, MOVZX32rr16, ...
    unsigned from = unsigned(std::stoul(fm.substr(2)));
    z3::expr v = fm.rfind("rm", 0) == 0 ? load(s.mem, addr(s, *m), from / 8)
                                        : readReg(s, regName(regs.back())).extract(from - 1, 0);
    writeReg(s, regName(regs.front()), z3::zext(v, w - from));
    s.pc = next;
    return true;
  }
  if (mn == "MOVSX") {
    // MOVSX64rr8, MOVSX64rm16, MOVSX64rr32 (movsxd), MOVSX32rr8, ...
    unsigned from = unsigned(std::stoul(fm.substr(2)));
    z3::expr v = fm.rfind("rm", 0) == 0 ? load(s.mem, addr(s, *m), from / 8)
                                        : readReg(s, regName(regs.back())).extract(from - 1, 0);
    writeReg(s, regName(regs.front()), z3::sext(v, w - from));
    s.pc = next;
    return true;
  }
  if (x.opcode == "CQO" || x.opcode == "CDQ") {
    // rdx:rax = rax sign-extended (edx:eax from eax)
    unsigned n = x.opcode == "CQO" ? 64 : 32;
    writeReg(s, nameOfWidth(2, n), z3::ashr(readReg(s, nameOfWidth(0, n)), c.bv_val(n - 1, n)));
    s.pc = next;
    return true;
  }
  if (mn == "LEA") {
    writeReg(s, regName(regs.front()), addr(s, *m));
    s.pc = next;
    return true;
  }
  return false;
}

// Multiplication, negation, shifts, rotations and byte swaps.
bool X86Step::multiplyShiftSwap() {
  if (mn == "IMUL") {
    std::string d = regName(regs.front());
    z3::expr a = fm == "rr" ? readReg(s, d) : readReg(s, regName(regs[1]));
    z3::expr b = fm == "rr" ? readReg(s, regName(regs.back())) : immBv(w);
    writeReg(s, d, a * b);
    freshFlags();
    s.pc = next;
    return true;
  }
  if (mn == "NEG" || mn == "NOT") {
    std::string d = regName(regs.front());
    writeReg(s, d, mn == "NEG" ? -readReg(s, d) : ~readReg(s, d));
    freshFlags();
    s.pc = next;
    return true;
  }
  if (mn == "SHL" || mn == "SHR" || mn == "SAR" || mn == "ROR" || mn == "ROL") {
    std::string d = regName(regs.front());
    z3::expr v = readReg(s, d);
    unsigned mask = w == 64 ? 63 : 31;
    z3::expr n(c);
    if (fm == "r1")
      n = c.bv_val(1, w);
    else if (fm == "ri")
      n = c.bv_val(uint64_t(*imm) & mask, w);
    else if (fm == "rCL")
      n = (z3::zext(readReg(s, "cl"), w - 8) & c.bv_val(mask, w));
    else
      throw std::runtime_error("tv: x86 form " + x.opcode);
    z3::expr r(c);
    if (mn == "SHL") r = z3::shl(v, n);
    else if (mn == "SHR") r = z3::lshr(v, n);
    else if (mn == "SAR") r = z3::ashr(v, n);
    else {
      z3::expr k = z3::urem(n, c.bv_val(w, w));
      r = mn == "ROR" ? (z3::lshr(v, k) | z3::shl(v, c.bv_val(w, w) - k))
                      : (z3::shl(v, k) | z3::lshr(v, c.bv_val(w, w) - k));
    }
    writeReg(s, d, r);
    freshFlags();
    s.pc = next;
    return true;
  }
  if (mn == "BSWAP") {
    std::string d = regName(regs.front());
    z3::expr v = readReg(s, d);
    z3::expr r = v.extract(7, 0);
    for (unsigned i = 1; i < w / 8; ++i)
      r = z3::concat(r, v.extract(8 * i + 7, 8 * i));
    writeReg(s, d, r);
    s.pc = next;
    return true;
  }
  return false;
}

// Unsigned and signed division, with their #DE faults.
bool X86Step::divide() {
  if (mn == "DIV") {
    // rdx:rax / src (edx:eax for 32 bits); #DE on a zero divisor or a
    // quotient that does not fit
    z3::expr src = fm == "r" ? readReg(s, regName(regs.front())) : load(s.mem, addr(s, *m), bytes);
    std::string ax = nameOfWidth(0, w), dx = nameOfWidth(2, w);
    z3::expr lo = readReg(s, ax), hi = readReg(s, dx).simplify();
    z3::expr zero = c.bv_val(0, w);
    State f = s;
    f.path = (s.path && src == zero).simplify();
    f.stop = "fault:division by zero (#DE)";
    if (feasible(f.path))
      forks.push_back(f);
    s.path = (s.path && src != zero).simplify();
    z3::expr q(c), r(c);
    if (hi.is_numeral() && hi.get_numeral_uint64() == 0) {
      q = udivUF(lo, src), r = uremUF(lo, src);
    } else {
      z3::expr n = z3::concat(hi, lo), d = z3::zext(src, w);
      z3::expr q2 = z3::udiv(n, d);
      State o = s;
      o.path = (s.path && z3::ugt(q2, z3::zext(c.bv_val(uint64_t(-1), w), w))).simplify();
      o.stop = "fault:quotient overflow (#DE)";
      if (feasible(o.path))
        forks.push_back(o);
      q = q2.extract(w - 1, 0), r = z3::urem(n, d).extract(w - 1, 0);
    }
    writeReg(s, ax, q);
    writeReg(s, dx, r);
    freshFlags();
    s.pc = next;
    return true;
  }
  if (mn == "IDIV") {
    // rdx:rax / src, signed (edx:eax for 32 bits); #DE on a zero divisor
    // or a quotient that does not fit (INT_MIN / -1). Only the form after
    // cqo/cdq (rdx the sign of rax) is given a meaning.
    z3::expr src = fm == "r" ? readReg(s, regName(regs.front())) : load(s.mem, addr(s, *m), bytes);
    std::string ax = nameOfWidth(0, w), dx = nameOfWidth(2, w);
    z3::expr lo = readReg(s, ax), hi = readReg(s, dx);
    if (feasible(s.path && hi != z3::ashr(lo, c.bv_val(w - 1, w))))
      throw std::runtime_error("tv: idiv with " + dx + " not the sign of " + ax + " (" + x.text + ")");
    z3::expr zero = c.bv_val(0, w), minusOne = c.bv_val(uint64_t(-1), w);
    z3::expr intMin = c.bv_val(uint64_t(1) << (w - 1), w);
    State f = s;
    f.path = (s.path && src == zero).simplify();
    f.stop = "fault:division by zero (#DE)";
    if (feasible(f.path))
      forks.push_back(f);
    State o = s;
    o.path = (s.path && lo == intMin && src == minusOne).simplify();
    o.stop = "fault:quotient overflow (#DE)";
    if (feasible(o.path))
      forks.push_back(o);
    s.path = (s.path && src != zero && !(lo == intMin && src == minusOne)).simplify();
    // by -1 (INT_MIN aside, which traps): the negation and 0, as the SDM's
    // truncating division gives them; other divisors stay uninterpreted
    writeReg(s, ax, z3::ite(src == minusOne, -lo, sdivUF(lo, src)));
    writeReg(s, dx, z3::ite(src == minusOne, zero, sremUF(lo, src)));
    freshFlags();
    s.pc = next;
    return true;
  }
  return false;
}

// Exchanges and the atomic read-modify-writes.
bool X86Step::exchange() {
  if (mn == "XCHG") {
    z3::expr a = addr(s, *m);
    std::string rg = regName(regs.front());
    z3::expr old = load(s.mem, a, bytes);
    s.mem = store(s.mem, a, readReg(s, rg), bytes);
    writeReg(s, rg, old);
    s.pc = next;
    return true;
  }
  if (mn == "LXADD" || mn == "XADD") {
    z3::expr a = addr(s, *m);
    std::string rg = regName(regs.front());
    z3::expr old = load(s.mem, a, bytes);
    z3::expr v = readReg(s, rg);
    s.mem = store(s.mem, a, old + v, bytes);
    writeReg(s, rg, old);
    setArith(old, v, old + v, false);
    s.pc = next;
    return true;
  }
  if (mn == "LCMPXCHG" || mn == "CMPXCHG") {
    z3::expr a = addr(s, *m);
    std::string ax = w == 64 ? "rax" : "eax";
    z3::expr acc = readReg(s, ax), old = load(s.mem, a, bytes);
    z3::expr src = readReg(s, regName(regs.back()));
    z3::expr eq = (acc == old).simplify();
    setArith(acc, old, acc - old, true);
    // equal: the memory takes src; else the accumulator takes the memory
    // (a 32-bit accumulator write clears rax's top half; no write, no clear)
    z3::expr newAcc = z3::ite(eq, s.r[0], w == 64 ? old : z3::zext(old, 32));
    s.mem = z3::ite(eq, store(s.mem, a, src, bytes), s.mem);
    s.r[0] = newAcc.simplify();
    s.pc = next;
    return true;
  }
  return false;
}

// Push, pop and leave.
bool X86Step::stackOps() {
  if (x.opcode == "PUSH64rmm") { // push qword [mem] (stack-switch's link frame)
    const X86Operand *pm = nullptr;
    for (auto &o : x.operands)
      if (o.kind == X86Operand::Kind::Mem)
        pm = &o;
    if (!pm)
      throw std::runtime_error("tv: push without its memory operand (" + x.text + ")");
    z3::expr v = load(s.mem, addr(s, *pm), 8); // read before rsp moves
    s.r[4] = (s.r[4] - c.bv_val(8, 64)).simplify();
    s.mem = store(s.mem, s.r[4], v, 8);
    s.pc = next;
    return true;
  }
  if (x.opcode == "PUSH64r") {
    z3::expr v = readReg(s, regName(regs.front()));
    s.r[4] = (s.r[4] - c.bv_val(8, 64)).simplify();
    s.mem = store(s.mem, s.r[4], v, 8);
    s.pc = next;
    return true;
  }
  if (x.opcode == "POP64r") {
    z3::expr v = load(s.mem, s.r[4], 8);
    s.r[4] = (s.r[4] + c.bv_val(8, 64)).simplify();
    writeReg(s, regName(regs.front()), v);
    s.pc = next;
    return true;
  }
  if (x.opcode == "LEAVE64" || x.opcode == "LEAVE") {
    s.r[4] = s.r[5];
    s.r[5] = load(s.mem, s.r[4], 8);
    s.r[4] = (s.r[4] + c.bv_val(8, 64)).simplify();
    s.pc = next;
    return true;
  }
  return false;
}

// Returns, jumps, conditional jumps and calls.
bool X86Step::control() {
  if (x.opcode == "RET64" || x.opcode == "RETQ" || x.opcode == "RET") {
    s.stop = "ret";
    return true;
  }
  if (x.opcode == "JMP64r") {
    s.stop = "jmp-reg";
    s.raxAtJmpReg.push_back(s.r[0]);
    return true;
  }
  if (x.opcode == "JMP_1" || x.opcode == "JMP_4") {
    s.pc = uint32_t(int64_t(next) + *imm);
    return true;
  }
  if (x.opcode == "JCC_1" || x.opcode == "JCC_4") {
    int64_t rel = x.operands[0].imm;
    int64_t cc = x.operands.back().imm;
    z3::expr cond(c);
    switch (cc) {
    case 2: cond = s.cf; break;
    case 3: cond = !s.cf; break;
    case 4: cond = s.zf; break;
    case 5: cond = !s.zf; break;
    case 6: cond = s.cf || s.zf; break;
    case 7: cond = !s.cf && !s.zf; break;
    case 8: cond = s.sf; break;
    case 9: cond = !s.sf; break;
    case 12: cond = s.sf != s.of; break;
    case 13: cond = s.sf == s.of; break;
    case 14: cond = s.zf || (s.sf != s.of); break;
    case 15: cond = !s.zf && (s.sf == s.of); break;
    default: throw std::runtime_error("tv: condition code " + std::to_string(cc));
    }
    State taken = s;
    taken.path = (s.path && cond).simplify();
    taken.pc = uint32_t(int64_t(next) + rel);
    s.path = (s.path && !cond).simplify();
    s.pc = next;
    bool t = feasible(taken.path), f = feasible(s.path);
    if (t && f) {
      // loops: a back edge taken twice more ends the path (reported)
      if (++taken.visits[taken.pc] > 3)
        taken.stop = "bound";
      forks.push_back(taken);
    } else if (t) {
      if (++taken.visits[taken.pc] > 3)
        taken.stop = "bound";
      s = taken;
    }
    return true;
  }
  if (x.opcode == "CALL64pcrel32") {
    s.r9AtCall.push_back(s.r[9]);
    s.rspAtCall.push_back(s.r[4]);
    s.memAtCall.push_back(s.mem);
    s.argsAtCall.push_back({s.r[7], s.r[6]});
    for (unsigned r : {0u, 1u, 2u, 6u, 7u, 8u, 10u, 11u})
      s.r[r] = freshBv("callclob");
    if (contract == CallContract::Clobbers)
      s.r[9] = freshBv("callr9");
    s.resultOfCall.push_back(s.r[0]);
    freshFlags();
    s.pc = next;
    return true;
  }
  return false;
}

void Machine::step(State &s, std::vector<State> &forks, CallContract contract) {
  auto it = at_.find(s.pc);
  if (it == at_.end()) {
    s.stop = "fault:no instruction at " + std::to_string(s.pc);
    return;
  }
  const X86Insn &x = *it->second;
  OpName on = parse(x.opcode);
  const X86Operand *m = memOf(x);
  bool needsMem = x.opcode.find("rm") != std::string::npos || x.opcode.find("mr") != std::string::npos ||
                  x.opcode.find("mi") != std::string::npos || x.opcode.rfind("LEA64r", 0) == 0 ||
                  x.opcode.rfind("LCMPXCHG", 0) == 0 || x.opcode.rfind("LXADD", 0) == 0;
  if (needsMem && !m)
    throw std::runtime_error("tv: no memory operand decoded in " + x.opcode + " (" + x.text + ")");
  X86Step st{*this,     c,        s,        forks,        contract, x, x.offset + x.size,
             m,         regsOf(x), immOf(x), on.width, on.width / 8, on.mnem, on.form};
  if (st.arithmetic() || st.moves() || st.multiplyShiftSwap() || st.divide() || st.exchange() ||
      st.stackOps() || st.control())
    return;
  throw std::runtime_error("tv: no semantics for x86 " + x.opcode + " (" + x.text + ")");
}

} // namespace pstack::tv
