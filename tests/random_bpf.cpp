// Random BPF assembly (see random_bpf.h for what it holds and the rules it
// keeps).
//
// llvm-mc-14's BPF parser lacks some forms clang-14 -mcpu=v3 emits straight
// to objects: the atomic fetch forms, xchg and cmpxchg. Those are written as
// `.byte` lines holding the encoded instruction. (LLVM 14 has no BPF mod,
// jset or store-immediate at all, and the frontend rejects them, so they are
// never generated.)
#include "tests/random_bpf.h"

#include "model/model.h"
#include "tests/support.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pstack::test {
namespace {

class Rng {
public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL) {}
  uint64_t next() { // splitmix64: the same sequence everywhere
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return n ? uint32_t(next() % n) : 0; }
  uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); } // [lo, hi]
  bool chance(uint32_t pct) { return below(100) < pct; }

  int32_t imm32() {
    switch (below(7)) {
    case 0: return int32_t(below(16));
    case 1: return -int32_t(below(16)) - 1;
    case 2: return int32_t(uint32_t(next()));
    case 3: { int32_t v = int32_t(1u << below(31)); return chance(50) ? v - 1 : v; }
    case 4: return chance(50) ? INT32_MAX : INT32_MIN;
    case 5: return -int32_t(below(1u << 20));
    default: return int32_t(below(256));
    }
  }
  uint64_t imm64() {
    switch (below(4)) {
    case 0: return next();
    case 1: return uint64_t(1) << below(64);
    case 2: return ~uint64_t(0) - below(4);
    default: return uint64_t(int64_t(imm32())) ^ (uint64_t(below(1u << 16)) << 32);
    }
  }

private:
  uint64_t s_;
};

enum class Kind { Program, Subprog, Callback };

struct FnSpec {
  std::string name;
  Kind kind = Kind::Program;
  uint32_t nargs = 1;   // subprogs: r1 = ctx, r2..r<nargs> scalars
  uint32_t height = 1;  // frames on its deepest call chain, itself included
  bool tailCalls = false;
  bool generated = false;
  bool forEach = false; // a callback of bpf_for_each_map_elem, not bpf_loop
  uint32_t frame = 8;   // bytes, multiple of 8
};

constexpr uint32_t kCtxGate = 248; // the tail-call counter in the context
constexpr uint32_t kArrValue = 64, kHashValue = 16;

std::string R(int r) { return "r" + std::to_string(r); }
std::string W(int r) { return "w" + std::to_string(r); }
std::string sz(uint32_t bytes) {
  return bytes == 1 ? "u8" : bytes == 2 ? "u16" : bytes == 4 ? "u32" : "u64";
}
std::string mem(int base, int32_t off) {
  std::string o = off < 0 ? " - " + std::to_string(-int64_t(off)) : " + " + std::to_string(off);
  return R(base) + o;
}
std::string hex64(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// An instruction llvm-mc-14 cannot parse, as its bytes.
std::string rawInsn(uint8_t op, int dst, int src, int16_t off, int32_t imm, const std::string &what) {
  uint8_t b[8] = {op,
                  uint8_t((src << 4) | dst),
                  uint8_t(uint16_t(off) & 0xff),
                  uint8_t(uint16_t(off) >> 8),
                  uint8_t(uint32_t(imm) & 0xff),
                  uint8_t((uint32_t(imm) >> 8) & 0xff),
                  uint8_t((uint32_t(imm) >> 16) & 0xff),
                  uint8_t(uint32_t(imm) >> 24)};
  char buf[128];
  std::snprintf(buf, sizeof buf, "\t.byte 0x%02x, 0x%02x, 0x%02x, 0x%02x, 0x%02x, 0x%02x, 0x%02x, 0x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
  return std::string(buf) + "\t# " + what;
}

const int kScalarRegs[] = {0, 1, 2, 3, 4, 5, 7, 8, 9};

class Gen {
public:
  Gen(Rng &rng, const RandomOptions &o, std::vector<FnSpec> &fns, uint32_t tailBudget)
      : rng_(rng), o_(o), fns_(fns), tailBudget_(tailBudget) {}

  std::vector<std::string> function(size_t idx) {
    fnIdx_ = idx;
    FnSpec &f = fns_[idx];
    out_.clear();
    def_ = 0;
    pinned_ = 0;
    height_ = 1;
    if (f.kind == Kind::Callback && f.forEach) {
      // the context is r4; the key (0..3) stands in for bpf_loop's index
      line(R(6) + " = " + R(4));
      line(W(1) + " = *(u32 *)(r2 + 0)");
      def_ = bit(1);
    } else if (f.kind == Kind::Callback) {
      line(R(6) + " = " + R(2));
      def_ = bit(1); // the loop index
    } else {
      line(R(6) + " = " + R(1));
      for (uint32_t a = 2; a <= f.nargs; ++a)
        def_ |= bit(int(a));
    }
    line("r0 = 0");
    for (uint32_t k = 8; k <= f.frame; k += 8)
      line("*(u64 *)(r10 - " + std::to_string(k) + ") = r0");
    def_ |= bit(0);
    for (int r : {7, 8, 9}) {
      if (!rng_.chance(60))
        continue;
      switch (rng_.below(3)) {
      case 0: line(R(r) + " = " + std::to_string(rng_.imm32())); break;
      case 1: line(R(r) + " = " + hex64(rng_.imm64()) + " ll"); break;
      default:
        line(R(r) + " = *(u64 *)(r6 + " + std::to_string(8 * rng_.below(32)) + ")");
      }
      def_ |= bit(r);
    }
    block(0, rng_.range(3, o_.maxStatements + 6), false);
    epilogue();
    f.height = height_;
    f.generated = true;
    std::vector<std::string> lines;
    lines.swap(out_);
    return lines;
  }

private:
  Rng &rng_;
  const RandomOptions &o_;
  std::vector<FnSpec> &fns_;
  uint32_t tailBudget_;
  size_t fnIdx_ = 0;
  std::vector<std::string> out_;
  uint32_t def_ = 0;    // registers holding a scalar on every path here
  uint32_t pinned_ = 0; // registers that must not be written (a map value pointer)
  uint32_t height_ = 1;
  uint32_t labels_ = 0;

  static uint32_t bit(int r) { return 1u << r; }
  const FnSpec &fn() const { return fns_[fnIdx_]; }
  bool isDef(int r) const { return def_ & bit(r); }
  void line(const std::string &s) { out_.push_back("\t" + s); }
  void raw(const std::string &s) { out_.push_back(s); }
  std::string label() { return ".Lf" + std::to_string(fnIdx_) + "_" + std::to_string(labels_++); }
  void place(const std::string &l) { out_.push_back(l + ":"); }

  // A register holding a scalar; makes one when none does.
  int src() {
    std::vector<int> c;
    for (int r : kScalarRegs)
      if (isDef(r))
        c.push_back(r);
    if (c.empty()) {
      int r = dst();
      line(R(r) + " = " + std::to_string(rng_.imm32()));
      def_ |= bit(r);
      return r;
    }
    return c[rng_.below(uint32_t(c.size()))];
  }
  // A register that may be written.
  int dst() {
    std::vector<int> c;
    for (int r : kScalarRegs)
      if (!(pinned_ & bit(r)))
        c.push_back(r);
    return c[rng_.below(uint32_t(c.size()))];
  }
  // A written register: defined when it was not (so that ALU ops read
  // defined values).
  int defDst() {
    int r = dst();
    if (!isDef(r)) {
      line(R(r) + " = " + std::to_string(rng_.imm32()));
      def_ |= bit(r);
    }
    return r;
  }
  void killArgs() { def_ &= ~(bit(1) | bit(2) | bit(3) | bit(4) | bit(5)); }

  // --------------------------------------------------------- statements

  void block(uint32_t nest, uint32_t n, bool valueBlock, int base = -1, uint32_t baseBytes = 0) {
    for (uint32_t i = 0; i < n; ++i)
      statement(nest, valueBlock, base, baseBytes);
  }

  void statement(uint32_t nest, bool valueBlock, int base, uint32_t baseBytes) {
    bool isCb = fn().kind == Kind::Callback;
    for (;;) {
      switch (rng_.below(o_.v4 ? 26 : 22)) {
      case 0: case 1: case 2: aluReg(rng_.chance(50)); return;
      case 3: case 4: case 5: aluImm(rng_.chance(50)); return;
      case 6: unary(); return;
      case 7: {
        int d = dst();
        if (rng_.chance(50))
          line(R(d) + " = " + hex64(rng_.imm64()) + " ll");
        else
          line((rng_.chance(50) ? R(d) : W(d)) + " = " + std::to_string(rng_.imm32()));
        def_ |= bit(d);
        return;
      }
      case 8: stackStore(); return;
      case 9: stackLoad(); return;
      case 10: ctxAccess(); return;
      case 11:
        if (!o_.atomics)
          continue;
        atomic(10, -int32_t(slot(rng_.chance(80) ? 8 : 4)));
        return;
      case 12:
        if (valueBlock) {
          valueOp(base, baseBytes);
          return;
        }
        if (nest >= o_.maxNesting)
          continue;
        ifBlock(nest);
        return;
      case 13:
        if (valueBlock)
          continue;
        if (nest >= o_.maxNesting)
          continue;
        ifElse(nest);
        return;
      case 14: case 15:
        if (valueBlock) {
          valueOp(base, baseBytes);
          return;
        }
        if (!o_.maps)
          continue;
        if (rng_.chance(50))
          arrayOp();
        else
          hashOp();
        return;
      case 16:
        if (valueBlock || !o_.helpers)
          continue;
        line("call " + std::to_string(std::vector<int>{5, 7, 8, 14}[rng_.below(4)]));
        killArgs();
        def_ |= bit(0);
        return;
      case 17: case 18:
        if (valueBlock || isCb || !o_.calls)
          continue;
        if (!localCall())
          continue;
        return;
      case 19:
        if (valueBlock || isCb || !o_.loops)
          continue;
        if (!loopCall())
          continue;
        return;
      case 20:
        if (valueBlock || !fn().tailCalls || !o_.tailCalls)
          continue;
        tailCall();
        return;
      case 22: case 23: case 24:
        v4Form();
        return;
      case 25:
        if (valueBlock || (pinned_ & 0x3f))
          continue;
        legacyLoad();
        return;
      default:
        if (valueBlock) {
          valueOp(base, baseBytes);
          return;
        }
        aluReg(true);
        return;
      }
    }
  }

  // A cpu v4 form (written as bytes: llvm-mc-14 knows none of them).
  void v4Form() {
    const uint8_t alu64 = 0x07, alu32 = 0x04;
    switch (rng_.below(8)) {
    case 0: { // sdiv / smod, register or immediate
      bool is64 = rng_.chance(50), mod = rng_.chance(50), x = rng_.chance(60);
      int d = defDst();
      uint8_t op = uint8_t((mod ? 0x90 : 0x30) | (is64 ? alu64 : alu32));
      if (x) {
        int s = rng_.chance(20) ? d : src();
        raw(rawInsn(uint8_t(op | 0x08), d, s, 1, 0, std::string(mod ? "smod" : "sdiv") + (is64 ? "64 " : "32 ") + R(d) + ", " + R(s)));
      } else {
        int32_t k = rng_.chance(25) ? -1 : rng_.imm32();
        if (k == 0)
          k = -7;
        raw(rawInsn(op, d, 0, 1, k, std::string(mod ? "smod" : "sdiv") + (is64 ? "64 " : "32 ") + R(d) + ", " + std::to_string(k)));
      }
      return;
    }
    case 1: { // movsx
      bool is64 = rng_.chance(60);
      int16_t from = is64 ? int16_t(8 << rng_.below(3)) : int16_t(8 << rng_.below(2));
      int s = src(), d = dst();
      raw(rawInsn(uint8_t(0xbc | (is64 ? alu64 : alu32)), d, s, from, 0,
                  R(d) + " = (s" + std::to_string(from) + ") " + R(s)));
      def_ |= bit(d);
      return;
    }
    case 2: { // bswap
      int d = defDst();
      int32_t bits = 16 << rng_.below(3);
      raw(rawInsn(0xd7, d, 0, 0, bits, R(d) + " = bswap" + std::to_string(bits) + " " + R(d)));
      return;
    }
    case 3: { // ldsx from the frame
      uint32_t b = 1u << rng_.below(3);
      int d = dst();
      uint8_t size = b == 1 ? 0x10 : b == 2 ? 0x08 : 0x00;
      raw(rawInsn(uint8_t(0x81 | size), d, 10, int16_t(-int32_t(slot(b))), 0,
                  R(d) + " = *(s" + std::to_string(8 * b) + " *)(r10 - ...)"));
      def_ |= bit(d);
      return;
    }
    case 4: { // load-acquire / store-release on the frame
      uint32_t b = size();
      uint8_t size = b == 1 ? 0x10 : b == 2 ? 0x08 : b == 4 ? 0x00 : 0x18;
      int16_t off = int16_t(-int32_t(slot(b)));
      if (rng_.chance(50)) {
        int s = src();
        raw(rawInsn(uint8_t(0xc3 | size), 10, s, off, 0x110, "store_release(r10 - ..., " + R(s) + ")"));
      } else {
        int d = dst();
        raw(rawInsn(uint8_t(0xc3 | size), d, 10, off, 0x100, R(d) + " = load_acquire(r10 - ...)"));
        def_ |= bit(d);
      }
      return;
    }
    case 5: case 6: { // gotol / may_goto over one increment: taken, it is skipped
      int d = defDst();
      if (rng_.chance(50))
        raw(rawInsn(0x06, 0, 0, 0, 1, "gotol +1"));
      else
        raw(rawInsn(0xe5, 0, 0, 1, 0, "may_goto +1"));
      line(R(d) + " += 1");
      return;
    }
    default: { // unconditional bswap of a computed value, then a 32-bit movsx
      int d = defDst();
      raw(rawInsn(0xd7, d, 0, 0, 32, R(d) + " = bswap32 " + R(d)));
      raw(rawInsn(0xbc, d, d, 16, 0, W(d) + " = (s16) " + W(d)));
      return;
    }
    }
  }

  // LD_ABS / LD_IND on the context (r6) as the packet: r0 the value, r1-r5
  // clobbered; an offset past the 256 bytes returns 0 from the function.
  void legacyLoad() {
    uint32_t b = 1u << rng_.below(3);
    uint8_t size = b == 1 ? 0x10 : b == 2 ? 0x08 : 0x00;
    int32_t off = int32_t(rng_.below(256 / b + (rng_.chance(10) ? 8 : 0)));
    if (rng_.chance(50)) {
      raw(rawInsn(uint8_t(0x20 | size), 0, 0, 0, off, "r0 = ld_abs" + std::to_string(8 * b) + " " + std::to_string(off)));
    } else {
      int t = 7 + int(rng_.below(3)); // r7-r9: kept across the call
      if (pinned_ & bit(t))
        t = 0;
      line(R(t) + " = " + std::to_string(off / 2));
      def_ |= bit(t);
      raw(rawInsn(uint8_t(0x40 | size), 0, t, 0, off - off / 2, "r0 = ld_ind" + std::to_string(8 * b)));
    }
    killArgs();
    def_ |= bit(0);
  }

  void aluImm(bool is64) {
    static const char *ops[] = {"+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "s>>=", "^=", "="};
    uint32_t k = rng_.below(11);
    int d = k == 10 ? dst() : defDst();
    int64_t imm = rng_.imm32();
    if (k >= 6 && k <= 8)
      imm = rng_.below(is64 ? 64 : 32);
    if (k == 3 && imm == 0)
      imm = 7;
    line((is64 ? R(d) : W(d)) + " " + ops[k] + " " + std::to_string(imm));
    def_ |= bit(d);
  }

  void aluReg(bool is64) {
    static const char *ops[] = {"+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "s>>=", "^=", "="};
    uint32_t k = rng_.below(11);
    int s = src();
    int d = k == 10 ? dst() : defDst();
    if (!is64 && k == 3 && !o_.alu32DivHighBits && !(pinned_ & bit(s)))
      line(W(s) + " = " + W(s)); // see RandomOptions::alu32DivHighBits
    line((is64 ? R(d) + " " + ops[k] + " " + R(s) : W(d) + " " + ops[k] + " " + W(s)));
    def_ |= bit(d);
  }

  void unary() {
    int d = defDst();
    if (rng_.chance(30)) {
      line(rng_.chance(50) ? R(d) + " = -" + R(d) : W(d) + " = -" + W(d));
      return;
    }
    static const char *sw[] = {"be16", "be32", "be64", "le16", "le32", "le64"};
    line(R(d) + " = " + sw[rng_.below(6)] + " " + R(d));
  }

  // A size-aligned offset below r10 (as a positive distance) for `bytes`.
  uint32_t slot(uint32_t bytes) {
    uint32_t n = fn().frame / bytes;
    return bytes * rng_.range(1, n);
  }
  uint32_t size() { return 1u << rng_.below(4); }

  void stackStore() {
    uint32_t b = size();
    int s = src();
    line("*(" + sz(b) + " *)(r10 - " + std::to_string(slot(b)) + ") = " + R(s));
  }
  void stackLoad() {
    uint32_t b = size();
    int d = dst();
    line(R(d) + " = *(" + sz(b) + " *)(r10 - " + std::to_string(slot(b)) + ")");
    def_ |= bit(d);
  }
  void ctxAccess() {
    uint32_t b = size();
    if (rng_.chance(50)) {
      uint32_t off = b * rng_.below(kCtxGate / b); // below the gate
      int s = src();
      line("*(" + sz(b) + " *)(r6 + " + std::to_string(off) + ") = " + R(s));
    } else {
      uint32_t off = b * rng_.below(256 / b);
      int d = dst();
      line(R(d) + " = *(" + sz(b) + " *)(r6 + " + std::to_string(off) + ")");
      def_ |= bit(d);
    }
  }

  // An atomic on [base + off] (off a multiple of 4; of 8 for 64 bits).
  void atomic(int base, int32_t off) {
    bool is64 = off % 8 == 0 && rng_.chance(70);
    // imm: 0x00 add, 0x40 or, 0x50 and, 0xa0 xor, |1 fetch, 0xe1 xchg, 0xf1 cmpxchg
    static const int32_t kinds[] = {0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1};
    int32_t imm = kinds[rng_.below(10)];
    if (!is64 && !o_.atomics32)
      imm = 0x00;
    int s = src();
    if (imm & 1) { // the source (or r0) receives the old value: must be writable
      if ((pinned_ & bit(s)) || (imm == 0xf1 && (pinned_ & bit(0)))) {
        imm = 0x00;
      }
    }
    if (imm == 0xf1 && !isDef(0)) {
      line("r0 = " + std::to_string(rng_.imm32()));
      def_ |= bit(0);
    }
    std::string p = "*(" + std::string(is64 ? "u64" : "u32") + " *)(" + mem(base, off) + ")";
    std::string v = is64 ? R(s) : W(s);
    if (imm == 0x00) {
      line("lock " + p + " += " + v);
      return;
    }
    if (is64 && (imm == 0x40 || imm == 0x50 || imm == 0xa0)) {
      line("lock " + p + (imm == 0x40 ? " |= " : imm == 0x50 ? " &= " : " ^= ") + v);
      return;
    }
    std::string what;
    const char *name = imm == 0x01 ? "add" : imm == 0x41 ? "or" : imm == 0x51 ? "and" : "xor";
    if (imm == 0xe1)
      what = v + " = xchg(" + p + ", " + v + ")";
    else if (imm == 0xf1)
      what = (is64 ? R(0) : W(0)) + " = cmpxchg(" + p + ", " + (is64 ? R(0) : W(0)) + ", " + v + ")";
    else if (imm & 1)
      what = v + " = atomic_fetch_" + name + "(" + p + ", " + v + ")";
    else
      what = "lock " + p + " " + name + "= " + v;
    raw(rawInsn(is64 ? 0xdb : 0xc3, base, s, int16_t(off), imm, what));
  }

  std::string cond() {
    static const char *ops[] = {"==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<="};
    const char *op = ops[rng_.below(10)];
    bool is32 = rng_.chance(40);
    int a = src();
    std::string b;
    if (rng_.chance(50))
      b = is32 ? W(src()) : R(src());
    else
      b = std::to_string(rng_.chance(50) ? int32_t(rng_.below(32)) : rng_.imm32());
    return "if " + (is32 ? W(a) : R(a)) + " " + op + " " + b;
  }

  void ifBlock(uint32_t nest) {
    std::string end = label();
    line(cond() + " goto " + end);
    uint32_t before = def_;
    block(nest + 1, rng_.range(1, o_.maxStatements), false);
    def_ &= before;
    place(end);
  }

  void ifElse(uint32_t nest) {
    std::string els = label(), end = label();
    line(cond() + " goto " + els);
    uint32_t before = def_;
    block(nest + 1, rng_.range(1, o_.maxStatements), false);
    uint32_t a = def_;
    line("goto " + end);
    place(els);
    def_ = before;
    block(nest + 1, rng_.range(1, o_.maxStatements), false);
    def_ &= a;
    place(end);
  }

  // The map value in `base` (bytes long): loads, stores and atomics.
  void valueOp(int base, uint32_t bytes) {
    uint32_t b = size();
    int32_t off = int32_t(b * rng_.below(bytes / b));
    switch (rng_.below(4)) {
    case 0: {
      int d = dst();
      line(R(d) + " = *(" + sz(b) + " *)(" + mem(base, off) + ")");
      def_ |= bit(d);
      return;
    }
    case 1:
      line("*(" + sz(b) + " *)(" + mem(base, off) + ") = " + R(src()));
      return;
    default:
      if (!o_.atomics)
        return;
      atomic(base, int32_t(8 * rng_.below(bytes / 8)) + (rng_.chance(20) ? 4 : 0));
      return;
    }
  }

  // r0 = lookup; if (r0) { base = r0; ops on the value }
  void lookupBlock(uint32_t valueBytes) {
    line("call 1");
    killArgs();
    def_ &= ~bit(0); // a pointer, or NULL
    std::string end = label();
    line("if r0 == 0 goto " + end);
    int base = int(rng_.range(1, 5));
    line(R(base) + " = r0");
    uint32_t before = def_;
    pinned_ |= bit(base);
    block(0, rng_.range(1, 6), true, base, valueBytes);
    pinned_ &= ~bit(base);
    def_ &= before;
    def_ &= ~(bit(0) | bit(base));
    place(end);
  }

  void arrayOp() {
    uint32_t k = 8 * rng_.range(1, fn().frame / 8);
    int t = dst();
    if (rng_.chance(70)) {
      line(R(t) + " = " + std::to_string(rng_.chance(90) ? rng_.below(4) : rng_.range(4, 9)));
    } else {
      int s = src();
      line(W(t) + " = " + W(s));
      line(W(t) + " &= " + std::to_string(rng_.chance(85) ? 3 : 7));
    }
    def_ |= bit(t);
    line("*(u32 *)(r10 - " + std::to_string(k) + ") = " + R(t));
    line("r1 = arr ll");
    line("r2 = r10");
    line("r2 += -" + std::to_string(k));
    lookupBlock(kArrValue);
  }

  void hashOp() {
    if (fn().frame < 16) {
      arrayOp();
      return;
    }
    uint32_t kk = 8 * rng_.range(1, fn().frame / 8);
    int t = dst();
    line(R(t) + " = " + std::to_string(rng_.below(10)));
    def_ |= bit(t);
    line("*(u64 *)(r10 - " + std::to_string(kk) + ") = " + R(t));
    switch (rng_.below(3)) {
    case 0: { // update
      uint32_t kv = 8 * rng_.range(2, fn().frame / 8);
      if (rng_.chance(70)) {
        line("*(u64 *)(r10 - " + std::to_string(kv) + ") = " + R(src()));
        line("*(u64 *)(r10 - " + std::to_string(kv - 8) + ") = " + R(src()));
      }
      line("r1 = hm ll");
      line("r2 = r10");
      line("r2 += -" + std::to_string(kk));
      line("r3 = r10");
      line("r3 += -" + std::to_string(kv));
      line("r4 = " + std::to_string(rng_.chance(70) ? 0 : rng_.below(3)));
      line("call 2");
      killArgs();
      def_ |= bit(0);
      return;
    }
    case 1: // delete
      line("r1 = hm ll");
      line("r2 = r10");
      line("r2 += -" + std::to_string(kk));
      line("call 3");
      killArgs();
      def_ |= bit(0);
      return;
    default:
      line("r1 = hm ll");
      line("r2 = r10");
      line("r2 += -" + std::to_string(kk));
      lookupBlock(kHashValue);
      return;
    }
  }

  bool localCall() {
    const FnSpec &me = fn();
    // the callee's chain below this function's frame (and the program's)
    uint32_t below = me.kind == Kind::Program ? 1 : 2;
    if (o_.maxCallDepth <= below)
      return false;
    uint32_t maxCallee = o_.maxCallDepth - below;
    std::vector<size_t> c;
    for (size_t j = 0; j < fns_.size(); ++j) {
      const FnSpec &g = fns_[j];
      if (g.kind != Kind::Subprog || !g.generated || g.height > maxCallee)
        continue;
      if (me.kind == Kind::Subprog && (j <= fnIdx_ || g.tailCalls))
        continue;
      c.push_back(j);
    }
    if (c.empty())
      return false;
    const FnSpec &g = fns_[c[rng_.below(uint32_t(c.size()))]];
    for (uint32_t a = 2; a <= g.nargs; ++a) {
      if (rng_.chance(60))
        line(R(int(a)) + " = " + R(src()));
      else
        line(R(int(a)) + " = " + std::to_string(rng_.imm32()));
      def_ |= bit(int(a));
    }
    line("r1 = r6");
    line("call " + g.name);
    killArgs();
    def_ |= bit(0);
    height_ = std::max(height_, g.height + 1);
    return true;
  }

  bool loopCall() {
    std::vector<const FnSpec *> cbs;
    for (auto &g : fns_)
      if (g.kind == Kind::Callback)
        cbs.push_back(&g);
    if (cbs.empty())
      return false;
    const FnSpec &cb = *cbs[rng_.below(uint32_t(cbs.size()))];
    if (cb.forEach) {
      line("r1 = arr ll");
      line("r2 = " + cb.name + " ll");
      line("r3 = r6");
      line("r4 = 0");
      line("call 164");
      killArgs();
      def_ |= bit(0);
      height_ = std::max<uint32_t>(height_, 2);
      return true;
    }
    if (rng_.chance(60)) {
      line("r1 = " + std::to_string(rng_.below(o_.maxLoopIterations + 1)));
    } else {
      line(W(1) + " = " + W(src()));
      uint32_t m = 1;
      while (m * 2 <= o_.maxLoopIterations)
        m *= 2;
      line(W(1) + " &= " + std::to_string(m - 1));
    }
    line("r2 = " + cb.name + " ll");
    line("r3 = r6");
    line("r4 = 0");
    line("call 181");
    killArgs();
    def_ |= bit(0);
    height_ = std::max<uint32_t>(height_, 2);
    return true;
  }

  void tailCall() {
    // the gate: ctx[248] counts attempts
    int t = int(rng_.range(1, 5));
    std::string skip = label();
    line(R(t) + " = *(u64 *)(r6 + " + std::to_string(kCtxGate) + ")");
    line(R(t) + " += 1");
    line("*(u64 *)(r6 + " + std::to_string(kCtxGate) + ") = " + R(t));
    line("if " + R(t) + " > " + std::to_string(tailBudget_) + " goto " + skip);
    def_ |= bit(t);
    if (rng_.chance(65)) {
      line("r3 = " + std::to_string(rng_.below(5)));
    } else {
      int s = src();
      line("r3 = " + R(s));
      if (rng_.chance(60))
        line("r3 &= 3");
    }
    line("r1 = r6");
    line("r2 = pa ll");
    line("call 12");
    place(skip);
    killArgs();
    def_ &= ~bit(0); // a failed tail call leaves r0 as it was: not read
  }

  void epilogue() {
    // r7 = a checksum of the registers; add it into an `arr` value
    if (!isDef(7)) {
      line("r7 = " + R(src()));
      def_ |= bit(7);
    }
    uint32_t n = rng_.range(2, 5);
    static const char *ops[] = {"+=", "^=", "*=", "-="};
    for (uint32_t i = 0; i < n; ++i) {
      const char *op = ops[rng_.below(4)];
      int s = src();
      if (rng_.chance(25))
        line(W(7) + " " + op + " " + W(s));
      else
        line(R(7) + " " + op + " " + R(s));
    }
    line("r1 = " + std::to_string(rng_.below(4)));
    line("*(u32 *)(r10 - 8) = r1");
    line("r1 = arr ll");
    line("r2 = r10");
    line("r2 += -8");
    line("call 1");
    std::string end = label();
    line("if r0 == 0 goto " + end);
    int32_t off = int32_t(8 * rng_.below(kArrValue / 8));
    if (rng_.chance(75))
      line("lock *(u64 *)(r0 + " + std::to_string(off) + ") += r7");
    else
      line("*(u64 *)(r0 + " + std::to_string(off) + ") = r7");
    place(end);
    line("r0 = r7");
    if (fn().kind == Kind::Callback) {
      if (rng_.chance(50))
        line("r0 &= 1");
      else
        line("r0 = 0");
    }
    line("exit");
  }
};

} // namespace

RandomObject randomObject(uint64_t seed, const RandomOptions &opts) {
  Rng rng(seed);
  RandomObject ro;
  ro.seed = seed;
  uint32_t nprog = rng.range(std::max(1u, opts.minPrograms), std::max(opts.minPrograms, opts.maxPrograms));
  uint32_t nsub = opts.calls ? rng.range(0, opts.maxSubprogs) : 0;
  uint32_t ncb = opts.loops ? rng.range(0, opts.maxCallbacks) : 0;

  std::vector<FnSpec> fns;
  for (uint32_t i = 0; i < nprog; ++i) {
    FnSpec f;
    f.name = "p" + std::to_string(i);
    f.kind = Kind::Program;
    f.tailCalls = opts.tailCalls;
    fns.push_back(f);
    ro.programs.push_back(f.name);
  }
  for (uint32_t i = 0; i < nsub; ++i) {
    FnSpec f;
    f.name = "f" + std::to_string(i);
    f.kind = Kind::Subprog;
    f.nargs = rng.range(1, 5);
    f.tailCalls = opts.tailCalls && rng.chance(30);
    fns.push_back(f);
  }
  for (uint32_t i = 0; i < ncb; ++i) {
    FnSpec f;
    f.name = "cb" + std::to_string(i);
    f.kind = Kind::Callback;
    f.nargs = 2;
    f.forEach = opts.forEach && rng.chance(50);
    fns.push_back(f);
  }
  for (auto &f : fns)
    f.frame = rng.chance(20) ? 8 : 8 * rng.range(1, std::max(1u, opts.maxFrameBytes / 8));

  uint32_t budget = rng.chance(30) ? rng.range(0, 6) : rng.range(0, opts.maxTailCallBudget);
  Gen gen(rng, opts, fns, budget);
  std::vector<std::vector<std::string>> bodies(fns.size());
  // callees first: callbacks, then subprograms from the last, then programs
  for (size_t i = fns.size(); i-- > 0;)
    if (fns[i].kind == Kind::Callback)
      bodies[i] = gen.function(i);
  for (size_t i = fns.size(); i-- > 0;)
    if (fns[i].kind == Kind::Subprog)
      bodies[i] = gen.function(i);
  for (size_t i = 0; i < fns.size(); ++i)
    if (fns[i].kind == Kind::Program)
      bodies[i] = gen.function(i);

  // prog array slots
  auto &slots = ro.progArrays["pa"];
  for (uint32_t s = 0; s < 4; ++s)
    if (rng.chance(70))
      slots[s] = ro.programs[rng.below(nprog)];

  std::ostringstream a;
  a << "# random BPF object, seed " << seed << "\n";
  a << "\t.section maps,\"aw\",@progbits\n";
  auto mapDef = [&](const char *name, int type, int key, int value, int entries) {
    a << "\t.globl " << name << "\n\t.p2align 2\n" << name << ":\n\t.long " << type << ", " << key
      << ", " << value << ", " << entries << ", 0\n";
  };
  mapDef("arr", 2, 4, int(kArrValue), 4);
  mapDef("hm", 1, 8, int(kHashValue), 8);
  mapDef("pa", 3, 4, 4, 4);
  for (size_t i = 0; i < fns.size(); ++i) {
    const FnSpec &f = fns[i];
    if (f.kind == Kind::Program)
      a << "\t.section \"raw_tp/" << f.name << "\",\"ax\",@progbits\n\t.globl " << f.name << "\n";
    else
      a << "\t.text\n";
    a << "\t.p2align 3\n\t.type " << f.name << ",@function\n" << f.name << ":\n";
    for (auto &l : bodies[i])
      a << l << "\n";
    a << ".Lend_" << f.name << ":\n\t.size " << f.name << ", .Lend_" << f.name << "-" << f.name
      << "\n";
  }
  a << "\t.section license,\"aw\",@progbits\n\t.globl _license\n_license:\n\t.asciz \"GPL\"\n";
  ro.asmText = a.str();
  return ro;
}

Object assembleAndLoad(const std::string &asmText, const std::string &workPath) {
  std::string s = workPath + ".s";
  {
    std::ofstream out(s);
    out << asmText;
    if (!out)
      throw std::runtime_error("cannot write " + s);
  }
  auto r = run({LLVM_MC, "-triple", "bpfel", "-mcpu=v3", "-filetype=obj", s, "-o", workPath});
  if (r.status != 0)
    throw std::runtime_error("llvm-mc failed on " + s + ": " + r.err);
  return loadObject(workPath);
}

Object loadRandomObject(const RandomObject &ro, const std::string &workPath) {
  Object obj = assembleAndLoad(ro.asmText, workPath);
  Environment env;
  env.progArrays = ro.progArrays;
  applyEnvironment(obj, env, "<random seed " + std::to_string(ro.seed) + ">");
  return obj;
}

std::vector<uint8_t> randomContext(uint64_t seed) {
  Rng rng(seed ^ 0xC0FFEEULL);
  std::vector<uint8_t> ctx(256, 0);
  for (size_t i = 0; i < 248; i += 8) {
    uint64_t v = rng.chance(50) ? rng.below(64) : rng.next();
    for (int b = 0; b < 8; ++b)
      ctx[i + size_t(b)] = uint8_t(v >> (8 * b));
  }
  return ctx;
}

} // namespace pstack::test
