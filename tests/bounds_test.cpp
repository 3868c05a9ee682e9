// The frame analysis's number bounds (frontend/bounds.h): exact results on
// the index shapes the kernel bounds (masks, offsets, branches), the 6.1
// rules that give up, and a randomized soundness check against concrete BPF
// arithmetic.
#include "frontend/bounds.h"

#include <gtest/gtest.h>

#include <random>

using namespace pstack::detail;

namespace {

constexpr uint8_t ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50,
                  LSH = 0x60, RSH = 0x70, MOD = 0x90, XOR = 0xa0, ARSH = 0xc0;
constexpr uint8_t JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40, JNE = 0x50, JSGT = 0x60,
                  JSGE = 0x70, JLT = 0xa0, JLE = 0xb0, JSLT = 0xc0, JSLE = 0xd0;

ScalarBounds K(int64_t c) { return ScalarBounds::constant(uint64_t(c)); }

bool contains(const ScalarBounds &b, uint64_t v) {
  return b.umin <= v && v <= b.umax && b.smin <= int64_t(v) && int64_t(v) <= b.smax &&
         (v & ~b.mask) == b.value;
}

// BPF's meaning of an ALU operation (the kernel's interpreter), for the check.
uint64_t concrete(uint8_t op, uint64_t a, uint64_t b, bool is64) {
  if (!is64)
    a = uint32_t(a), b = uint32_t(b);
  unsigned w = is64 ? 64 : 32;
  uint64_t r = 0;
  switch (op) {
  case ADD: r = a + b; break;
  case SUB: r = a - b; break;
  case MUL: r = a * b; break;
  case OR: r = a | b; break;
  case AND: r = a & b; break;
  case XOR: r = a ^ b; break;
  case LSH: r = a << (b & (w - 1)); break;
  case RSH: r = a >> (b & (w - 1)); break;
  case ARSH:
    r = is64 ? uint64_t(int64_t(a) >> (b & 63)) : uint32_t(int32_t(uint32_t(a)) >> (b & 31));
    break;
  }
  return is64 ? r : uint32_t(r);
}

bool holds(uint8_t op, uint64_t a, uint64_t b, bool jmp32) {
  if (jmp32)
    a = uint32_t(a), b = uint32_t(b);
  int64_t sa = jmp32 ? int32_t(uint32_t(a)) : int64_t(a), sb = jmp32 ? int32_t(uint32_t(b)) : int64_t(b);
  switch (op) {
  case JEQ: return a == b;
  case JNE: return a != b;
  case JGT: return a > b;
  case JGE: return a >= b;
  case JLT: return a < b;
  case JLE: return a <= b;
  case JSGT: return sa > sb;
  case JSGE: return sa >= sb;
  case JSLT: return sa < sb;
  case JSLE: return sa <= sb;
  case JSET: return (a & b) != 0;
  }
  return true;
}

} // namespace

TEST(ScalarBounds, MaskedIndexPlusOffset) { // vb[(x & 7) + 2]
  ScalarBounds i = aluBounds(AND, ScalarBounds::unknown(), K(7), true);
  EXPECT_EQ(i.umin, 0u);
  EXPECT_EQ(i.umax, 7u);
  i = aluBounds(ADD, i, K(2), true);
  EXPECT_EQ(i.umin, 2u);
  EXPECT_EQ(i.umax, 9u);
  EXPECT_EQ(i.smin, 2);
  i = aluBounds(LSH, i, K(3), true);
  EXPECT_EQ(i.umin, 16u);
  EXPECT_EQ(i.umax, 72u);
}

TEST(ScalarBounds, ThirtyTwoBitIndexKeepsItsLowerBound) { // w1 &= 7; w1 += 2; r1 <<= 3
  ScalarBounds i = aluBounds(AND, ScalarBounds::unknown(), K(7), false);
  i = aluBounds(ADD, i, K(2), false);
  EXPECT_EQ(i.umin, 2u);
  EXPECT_EQ(i.umax, 9u);
  // a 32-bit result that may pass 2^32 is any 32-bit number
  ScalarBounds big = aluBounds(ADD, ScalarBounds::urange(0, 0xffffffffu), K(1), false);
  EXPECT_EQ(big.umin, 0u);
  EXPECT_EQ(big.umax, 0xffffffffu);
}

TEST(ScalarBounds, OrSetsALowerBound) { // vb[(x & 3) | 4]
  ScalarBounds i = aluBounds(OR, aluBounds(AND, ScalarBounds::unknown(), K(3), true), K(4), true);
  EXPECT_EQ(i.umin, 4u);
  EXPECT_EQ(i.umax, 7u);
}

TEST(ScalarBounds, SixOneRulesGiveUp) {
  ScalarBounds a = ScalarBounds::urange(1, 10), b = ScalarBounds::urange(2, 3);
  // 6.1 bounds mul, or, xor, shifts only by a constant
  EXPECT_TRUE(aluBounds(MUL, a, b, true).isUnknown());
  EXPECT_TRUE(aluBounds(OR, a, b, true).isUnknown());
  EXPECT_TRUE(aluBounds(LSH, a, b, true).isUnknown());
  // and never division or modulo, constants included
  EXPECT_TRUE(aluBounds(DIV, K(10), K(2), true).isUnknown());
  EXPECT_TRUE(aluBounds(MOD, K(10), K(3), true).isUnknown());
  // a subtraction that may wrap has no unsigned bounds
  ScalarBounds d = aluBounds(SUB, ScalarBounds::urange(0, 5), ScalarBounds::urange(0, 8), true);
  EXPECT_EQ(d.smin, -8);
  EXPECT_EQ(d.smax, 5);
  EXPECT_EQ(d.umax, ~uint64_t(0));
  // shifts by the width or more: undefined, unknown
  EXPECT_TRUE(aluBounds(LSH, a, K(64), true).isUnknown());
  // 32-bit mul: both factors below 2^16
  EXPECT_TRUE(aluBounds(MUL, ScalarBounds::urange(0, 70000), K(2), false).isUnknown());
  EXPECT_EQ(aluBounds(MUL, ScalarBounds::urange(0, 7), K(8), false).umax, 56u);
}

TEST(ScalarBounds, BranchesNarrow) { // if (i < 8) vb[i]
  ScalarBounds i = ScalarBounds::unknown();
  Narrowed lt = narrow(JLT, false, true, i, K(8));
  ASSERT_TRUE(lt.live);
  EXPECT_EQ(lt.dst.umin, 0u);
  EXPECT_EQ(lt.dst.umax, 7u);
  Narrowed ge = narrow(JLT, false, false, i, K(8));
  EXPECT_EQ(ge.dst.umin, 8u);
  // signed: if (i s> 3) with i an int loaded as u32: [4, 2^32 - 1]
  Narrowed sg = narrow(JSGT, false, true, ScalarBounds::urange(0, 0xffffffffu), K(3));
  EXPECT_EQ(sg.dst.smin, 4);
  EXPECT_EQ(sg.dst.umin, 4u);
  // the constant on the left: if (8 > i)
  Narrowed flip = narrow(JGT, false, true, K(8), i);
  EXPECT_EQ(flip.src.umax, 7u);
  // a jump no value takes
  EXPECT_FALSE(narrow(JGT, false, true, ScalarBounds::urange(0, 7), K(9)).live);
  EXPECT_FALSE(narrow(JEQ, false, true, ScalarBounds::urange(0, 7), K(9)).live);
  EXPECT_TRUE(narrow(JGT, false, false, ScalarBounds::urange(0, 7), K(9)).live);
  // JSET's fall-through clears the bits
  Narrowed js = narrow(JSET, false, false, ScalarBounds::urange(0, 15), K(8));
  EXPECT_EQ(js.dst.umax, 7u);
}

TEST(ScalarBounds, ThirtyTwoBitJumpsNarrowOnlyWhereTheyMeanTheSame) {
  // w1 < 8 on a value that may exceed 32 bits says nothing of the 64 bits
  Narrowed wide = narrow(JLT, true, true, ScalarBounds::unknown(), K(8));
  EXPECT_TRUE(wide.dst.isUnknown());
  Narrowed narrowOk = narrow(JLT, true, true, ScalarBounds::urange(0, 0xffffffffu), K(8));
  EXPECT_EQ(narrowOk.dst.umax, 7u);
  // signed 32-bit test of a value below 2^31
  Narrowed s = narrow(JSGE, true, true, ScalarBounds::urange(0, 100), K(10));
  EXPECT_EQ(s.dst.umin, 10u);
}

TEST(ScalarBounds, SignExtension) {
  EXPECT_EQ(signExtendBounds(K(0xff), 8, true).value, ~uint64_t(0));
  ScalarBounds small = signExtendBounds(ScalarBounds::urange(0, 100), 8, true);
  EXPECT_EQ(small.umax, 100u);
  ScalarBounds any = signExtendBounds(ScalarBounds::unknown(), 16, true);
  EXPECT_EQ(any.smin, -32768);
  EXPECT_EQ(any.smax, 32767);
}

// Random operands drawn from random bounds: every concrete result lies in
// the computed bounds, every value that takes an edge is in the narrowed
// bounds, and no value takes an edge called dead.
TEST(ScalarBounds, SoundAgainstConcreteArithmetic) {
  std::mt19937_64 rng(20261202);
  auto randomBounds = [&](uint64_t &sample) {
    int shape = int(rng() % 4);
    uint64_t a = rng(), b = rng();
    if (shape == 0)
      a %= 64, b %= 64;
    else if (shape == 1)
      a %= 1u << 20, b %= 1u << 20;
    else if (shape == 2)
      a = uint64_t(int64_t(a % 200) - 100), b = uint64_t(int64_t(b % 200) - 100);
    ScalarBounds r;
    if (shape == 2) {
      int64_t lo = std::min(int64_t(a), int64_t(b)), hi = std::max(int64_t(a), int64_t(b));
      r = ScalarBounds::srange(lo, hi);
      sample = uint64_t(lo + int64_t(rng() % uint64_t(hi - lo + 1)));
    } else {
      uint64_t lo = std::min(a, b), hi = std::max(a, b);
      r = ScalarBounds::urange(lo, hi);
      sample = hi == lo ? lo : lo + rng() % (hi - lo + 1);
      if (hi - lo == ~uint64_t(0))
        sample = rng();
    }
    if (rng() % 3 == 0) { // a constant
      r = ScalarBounds::constant(sample);
    }
    return r;
  };
  const uint8_t ops[] = {ADD, SUB, MUL, OR, AND, XOR, LSH, RSH, ARSH};
  const uint8_t jumps[] = {JEQ, JNE, JGT, JGE, JLT, JLE, JSGT, JSGE, JSLT, JSLE, JSET};
  for (int iter = 0; iter < 200000; ++iter) {
    uint64_t x, y;
    ScalarBounds a = randomBounds(x), b = randomBounds(y);
    ASSERT_TRUE(contains(a, x));
    ASSERT_TRUE(contains(b, y));
    bool is64 = rng() % 2;
    uint8_t op = ops[rng() % std::size(ops)];
    if (op == LSH || op == RSH || op == ARSH) {
      y %= is64 ? 64 : 32;
      b = rng() % 2 ? ScalarBounds::constant(y) : ScalarBounds::urange(0, is64 ? 63 : 31);
    }
    ScalarBounds r = aluBounds(op, a, b, is64);
    ASSERT_TRUE(contains(r, concrete(op, x, y, is64)))
        << "op " << int(op) << (is64 ? " 64" : " 32") << " x " << x << " y " << y;
    uint8_t j = jumps[rng() % std::size(jumps)];
    bool jmp32 = rng() % 4 == 0;
    if (rng() % 2)
      b = ScalarBounds::constant(y);
    bool taken = holds(j, x, y, jmp32);
    Narrowed n = narrow(j, jmp32, taken, a, b);
    ASSERT_TRUE(n.live) << "jump " << int(j) << " x " << x << " y " << y;
    ASSERT_TRUE(contains(n.dst, x)) << "jump " << int(j) << (taken ? " taken" : " not taken")
                                    << " x " << x << " y " << y;
    ASSERT_TRUE(contains(n.src, y));
  }
}
