// What the frame analysis knows of a number, the way the kernel verifier
// knows it: known bits (a tnum: `value` bits known, `mask` bits unknown) and
// signed and unsigned 64-bit ranges, kept consistent with each other.
//
// The frame of a function is the deepest byte below r10 it touches, and for
// r10 + a variable offset that is r10 + the offset's least value. The kernel
// sizes the frame it JITs from its own bounds, so ours must never be tighter
// than the kernel's: every operation here gives a superset of what the
// kernel's verifier (6.1 and later) computes, and is as tight where it can be
// (an operation the oldest kernel we model does not bound gives "unknown").
#pragma once

#include <cstdint>

namespace pstack::detail {

struct ScalarBounds {
  uint64_t value = 0, mask = ~uint64_t(0); // known bits
  int64_t smin = INT64_MIN, smax = INT64_MAX;
  uint64_t umin = 0, umax = ~uint64_t(0);

  static ScalarBounds unknown() { return {}; }
  static ScalarBounds constant(uint64_t c);
  // [lo, hi] unsigned (a zero-extended load of n bytes: [0, 2^(8n) - 1])
  static ScalarBounds urange(uint64_t lo, uint64_t hi);
  static ScalarBounds srange(int64_t lo, int64_t hi);

  bool isConst() const { return mask == 0; }
  bool isUnknown() const { return *this == ScalarBounds{}; }
  bool nonNegative() const { return smin >= 0; }
  bool fits32() const { return umax <= 0xffffffffu; }
  // the low 32 bits, zero-extended (what an ALU32 operation reads)
  ScalarBounds subreg() const;
  bool operator==(const ScalarBounds &) const = default;
};

// Both: a value either may have.
ScalarBounds join(const ScalarBounds &a, const ScalarBounds &b);
// `now` after `old` at a loop head: a bound still moving goes to its limit.
ScalarBounds widen(const ScalarBounds &old, const ScalarBounds &now);

// dst = dst OP src for a BPF ALU operation (op: the opcode's 0xf0 bits, as
// BPF_ADD = 0x00 ... BPF_ARSH = 0xc0; `off` nonzero: v4's signed div/mod).
ScalarBounds aluBounds(uint8_t op, const ScalarBounds &dst, const ScalarBounds &src, bool is64, int16_t off = 0);
// v4's movsx: the low `bits` bits sign-extended (then zero-extended from 32
// bits when !is64).
ScalarBounds signExtendBounds(const ScalarBounds &src, unsigned bits, bool is64);

// A conditional jump `if dst OP src` (op: the 0xf0 bits of a BPF_JMP/JMP32
// opcode), one of them known: the bounds of dst on one edge, or nullopt if
// the edge cannot be taken. Only the non-constant side is narrowed (the
// kernel's reg_set_min_max); a 32-bit jump narrows only where it means the
// same as the 64-bit one.
struct Narrowed {
  bool live = true; // false: no value of dst and src takes this edge
  ScalarBounds dst, src;
};
Narrowed narrow(uint8_t op, bool jmp32, bool taken, const ScalarBounds &dst, const ScalarBounds &src);

} // namespace pstack::detail
