// ScalarBounds of a number, as the kernel verifier keeps them (see bounds.h).
// Where the kernel's rule depends on its version, the oldest modelled
// kernel's (6.1: only add, sub and and are bounded for a non-constant
// operand; division, modulo, negation and byte swaps give an unknown value)
// is taken: it gives the widest result.
#include "frontend/bounds.h"

#include <algorithm>
#include <bit>
#include <optional>

namespace pstack::detail {

namespace {

constexpr uint64_t kSign = uint64_t(1) << 63;
constexpr uint64_t kLow32 = 0xffffffffu;

struct Bits {
  uint64_t value, mask;
};

Bits bitsOf(const ScalarBounds &b) { return {b.value, b.mask}; }
void setBits(ScalarBounds &b, Bits t) {
  b.value = t.value & ~t.mask;
  b.mask = t.mask;
}

// The known bits every number in [lo, hi] shares: the common prefix.
Bits bitsOfRange(uint64_t lo, uint64_t hi) {
  uint64_t chi = lo ^ hi;
  unsigned n = chi ? 64 - unsigned(std::countl_zero(chi)) : 0;
  if (n > 63)
    return {0, ~uint64_t(0)};
  uint64_t delta = (uint64_t(1) << n) - 1;
  return {lo & ~delta, delta};
}
Bits intersect(Bits a, Bits b) {
  uint64_t v = a.value | b.value, mu = a.mask & b.mask;
  return {v & ~mu, mu};
}
Bits bitsAdd(Bits a, Bits b) {
  uint64_t sm = a.mask + b.mask, sv = a.value + b.value;
  uint64_t sigma = sm + sv, chi = sigma ^ sv;
  uint64_t mu = chi | a.mask | b.mask;
  return {sv & ~mu, mu};
}
Bits bitsSub(Bits a, Bits b) {
  uint64_t dv = a.value - b.value;
  uint64_t alpha = dv + a.mask, beta = dv - b.mask, chi = alpha ^ beta;
  uint64_t mu = chi | a.mask | b.mask;
  return {dv & ~mu, mu};
}
Bits bitsAnd(Bits a, Bits b) {
  uint64_t alpha = a.value | a.mask, beta = b.value | b.mask, v = a.value & b.value;
  return {v, alpha & beta & ~v};
}
Bits bitsOr(Bits a, Bits b) {
  uint64_t v = a.value | b.value, mu = a.mask | b.mask;
  return {v, mu & ~v};
}
Bits bitsXor(Bits a, Bits b) {
  uint64_t v = a.value ^ b.value, mu = a.mask | b.mask;
  return {v & ~mu, mu};
}

bool consistent(const ScalarBounds &b) {
  return b.umin <= b.umax && b.smin <= b.smax && (b.value & b.mask) == 0 &&
         b.umin <= (b.value | b.mask) && b.umax >= b.value;
}

// Make the three views agree (the kernel's reg_bounds_sync): ranges from the
// known bits, each range from the other where the sign is settled, known
// bits from the unsigned range.
void sync(ScalarBounds &b) {
  b.smin = std::max(b.smin, int64_t(b.value | (b.mask & kSign)));
  b.smax = std::min(b.smax, int64_t(b.value | (b.mask & ~kSign)));
  b.umin = std::max(b.umin, b.value);
  b.umax = std::min(b.umax, b.value | b.mask);
  if (b.smin >= 0 || b.smax < 0) {
    uint64_t lo = std::max(uint64_t(b.smin), b.umin), hi = std::min(uint64_t(b.smax), b.umax);
    b.smin = int64_t(lo), b.umin = lo, b.smax = int64_t(hi), b.umax = hi;
  } else if (int64_t(b.umax) >= 0) {
    b.smin = int64_t(b.umin);
    uint64_t hi = std::min(uint64_t(b.smax), b.umax);
    b.smax = int64_t(hi), b.umax = hi;
  } else if (int64_t(b.umin) < 0) {
    uint64_t lo = std::max(uint64_t(b.smin), b.umin);
    b.smin = int64_t(lo), b.umin = lo;
    b.smax = int64_t(b.umax);
  }
  if (b.umin <= b.umax)
    setBits(b, intersect(bitsOf(b), bitsOfRange(b.umin, b.umax)));
}

void signedFromUnsigned(ScalarBounds &b) {
  if (b.umax <= uint64_t(INT64_MAX))
    b.smin = int64_t(b.umin), b.smax = int64_t(b.umax);
  else
    b.smin = INT64_MIN, b.smax = INT64_MAX;
}

// A 64-bit result cut to its low 32 bits and zero-extended; a result that
// may have passed 2^32 is any 32-bit number (the kernel's overflow rule).
ScalarBounds truncate32(ScalarBounds r) {
  ScalarBounds t;
  t.value = r.value & kLow32;
  t.mask = r.mask & kLow32;
  if (r.umax <= kLow32)
    t.umin = r.umin, t.umax = r.umax;
  else
    t.umin = 0, t.umax = kLow32;
  t.smin = int64_t(t.umin), t.smax = int64_t(t.umax);
  sync(t);
  return t;
}

ScalarBounds alu64(uint8_t op, const ScalarBounds &a, const ScalarBounds &b, unsigned width) {
  ScalarBounds r;
  bool srcKnown = b.isConst();
  if (!srcKnown && op != 0x00 && op != 0x10 && op != 0x50)
    return ScalarBounds::unknown();
  switch (op) {
  case 0x00: { // add
    setBits(r, bitsAdd(bitsOf(a), bitsOf(b)));
    int64_t lo, hi;
    if (!__builtin_add_overflow(a.smin, b.smin, &lo) && !__builtin_add_overflow(a.smax, b.smax, &hi))
      r.smin = lo, r.smax = hi;
    uint64_t ulo, uhi;
    if (!__builtin_add_overflow(a.umin, b.umin, &ulo) && !__builtin_add_overflow(a.umax, b.umax, &uhi))
      r.umin = ulo, r.umax = uhi;
    break;
  }
  case 0x10: { // sub
    setBits(r, bitsSub(bitsOf(a), bitsOf(b)));
    int64_t lo, hi;
    if (!__builtin_sub_overflow(a.smin, b.smax, &lo) && !__builtin_sub_overflow(a.smax, b.smin, &hi))
      r.smin = lo, r.smax = hi;
    if (a.umin >= b.umax)
      r.umin = a.umin - b.umax, r.umax = a.umax - b.umin;
    break;
  }
  case 0x20: // mul: both known >= 0 and below 2^32 (6.1's rule)
    if (a.isConst())
      return ScalarBounds::constant(a.value * b.value);
    if (a.smin < 0 || b.smin < 0 || a.umax > kLow32 || b.umax > kLow32)
      return ScalarBounds::unknown();
    r.umin = a.umin * b.umin;
    r.umax = a.umax * b.umax;
    signedFromUnsigned(r);
    break;
  case 0x50: // and
    setBits(r, bitsAnd(bitsOf(a), bitsOf(b)));
    r.umin = r.value;
    r.umax = std::min(a.umax, b.umax);
    if (a.smin >= 0 && b.smin >= 0)
      signedFromUnsigned(r);
    break;
  case 0x40: // or
    setBits(r, bitsOr(bitsOf(a), bitsOf(b)));
    r.umin = std::max(a.umin, b.umin);
    r.umax = r.value | r.mask;
    if (a.smin >= 0 && b.smin >= 0)
      signedFromUnsigned(r);
    break;
  case 0xa0: // xor
    setBits(r, bitsXor(bitsOf(a), bitsOf(b)));
    r.umin = r.value;
    r.umax = r.value | r.mask;
    if (a.smin >= 0 && b.smin >= 0)
      signedFromUnsigned(r);
    break;
  case 0x60: { // lsh
    uint64_t k = b.value;
    if (k >= width)
      return ScalarBounds::unknown();
    setBits(r, {a.value << k, a.mask << k});
    if (k == 0 || a.umax <= (uint64_t(1) << (63 - k)))
      r.umin = a.umin << k, r.umax = a.umax << k;
    break;
  }
  case 0x70: { // rsh
    uint64_t k = b.value;
    if (k >= width)
      return ScalarBounds::unknown();
    setBits(r, {a.value >> k, a.mask >> k});
    r.umin = a.umin >> k, r.umax = a.umax >> k;
    break;
  }
  case 0xc0: { // arsh (64-bit only here)
    uint64_t k = b.value;
    if (k >= width)
      return ScalarBounds::unknown();
    setBits(r, {uint64_t(int64_t(a.value) >> k), uint64_t(int64_t(a.mask) >> k)});
    r.smin = a.smin >> k, r.smax = a.smax >> k;
    break;
  }
  default: // div, mod, neg, end: the kernel keeps no bounds
    return ScalarBounds::unknown();
  }
  sync(r);
  if (!consistent(r))
    return ScalarBounds::unknown();
  return r;
}

} // namespace

ScalarBounds ScalarBounds::constant(uint64_t c) {
  ScalarBounds b;
  b.value = c, b.mask = 0;
  b.smin = b.smax = int64_t(c);
  b.umin = b.umax = c;
  return b;
}

ScalarBounds ScalarBounds::urange(uint64_t lo, uint64_t hi) {
  ScalarBounds b;
  b.umin = lo, b.umax = hi;
  sync(b);
  return b;
}

ScalarBounds ScalarBounds::srange(int64_t lo, int64_t hi) {
  ScalarBounds b;
  b.smin = lo, b.smax = hi;
  sync(b);
  return b;
}

ScalarBounds ScalarBounds::subreg() const {
  ScalarBounds t;
  t.value = value & kLow32;
  t.mask = mask & kLow32;
  if (fits32())
    t.umin = umin, t.umax = umax;
  else
    t.umin = 0, t.umax = kLow32;
  t.smin = int64_t(t.umin), t.smax = int64_t(t.umax);
  sync(t);
  return t;
}

ScalarBounds join(const ScalarBounds &a, const ScalarBounds &b) {
  ScalarBounds r;
  uint64_t mu = a.mask | b.mask | (a.value ^ b.value);
  r.value = a.value & ~mu, r.mask = mu;
  r.smin = std::min(a.smin, b.smin), r.smax = std::max(a.smax, b.smax);
  r.umin = std::min(a.umin, b.umin), r.umax = std::max(a.umax, b.umax);
  return r;
}

ScalarBounds widen(const ScalarBounds &old, const ScalarBounds &now) {
  ScalarBounds r = now;
  if (now.smin < old.smin)
    r.smin = INT64_MIN;
  if (now.smax > old.smax)
    r.smax = INT64_MAX;
  if (now.umin < old.umin)
    r.umin = 0;
  if (now.umax > old.umax)
    r.umax = ~uint64_t(0);
  // the known bits only ever shrink under join: they settle by themselves
  return r;
}

ScalarBounds aluBounds(uint8_t op, const ScalarBounds &dst, const ScalarBounds &src, bool is64, int16_t off) {
  if (off != 0 && op != 0xb0) // sdiv, smod
    return is64 ? ScalarBounds::unknown() : ScalarBounds::urange(0, kLow32);
  if (op == 0xb0) // mov
    return is64 ? src : src.subreg();
  if (is64)
    return alu64(op, dst, src, 64);
  ScalarBounds a = dst.subreg(), b = src.subreg();
  if (op == 0x20 && !(a.isConst() && b.isConst()) && (a.umax > 0xffff || b.umax > 0xffff))
    return ScalarBounds::unknown(); // 6.1's 32-bit mul: both factors below 2^16
  if (op == 0xc0) { // arsh of a 32-bit value: as rsh while its sign bit is 0
    if (a.umax >= (uint64_t(1) << 31))
      return b.isConst() && b.value < 32 ? ScalarBounds::urange(0, kLow32) : ScalarBounds::unknown();
    op = 0x70;
  }
  ScalarBounds r = alu64(op, a, b, 32);
  if (r.isUnknown())
    return r; // the kernel's early "unknown" is not zero-extended
  return truncate32(r);
}

ScalarBounds signExtendBounds(const ScalarBounds &src, unsigned bits, bool is64) {
  uint64_t m = bits == 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1;
  ScalarBounds r;
  if (src.isConst()) {
    uint64_t v = src.value & m;
    if (bits < 64 && (v >> (bits - 1)) & 1)
      v |= ~m;
    r = ScalarBounds::constant(v);
  } else if (src.umax <= (m >> 1)) {
    r = src; // sign bit clear: the value itself
  } else {
    r = ScalarBounds::srange(-int64_t(m >> 1) - 1, int64_t(m >> 1));
  }
  return is64 ? r : r.subreg();
}

namespace {

uint8_t negateJump(uint8_t op) {
  switch (op) {
  case 0x10: return 0x50; // == / !=
  case 0x50: return 0x10;
  case 0x20: return 0xb0; // >  / <=
  case 0xb0: return 0x20;
  case 0x30: return 0xa0; // >= / <
  case 0xa0: return 0x30;
  case 0x60: return 0xd0; // s>  / s<=
  case 0xd0: return 0x60;
  case 0x70: return 0xc0; // s>= / s<
  case 0xc0: return 0x70;
  default: return op;
  }
}
// a OP b  <=>  b FLIP(OP) a
uint8_t flipJump(uint8_t op) {
  switch (op) {
  case 0x20: return 0xa0;
  case 0xa0: return 0x20;
  case 0x30: return 0xb0;
  case 0xb0: return 0x30;
  case 0x60: return 0xc0;
  case 0xc0: return 0x60;
  case 0x70: return 0xd0;
  case 0xd0: return 0x70;
  default: return op;
  }
}

// x OP c holds (op already negated for a fall-through edge; 0x41 is "no bit
// of c set", JSET's fall-through). Liveness from the ranges alone, as the
// kernel's is_branch_taken decides it.
bool refine(uint8_t op, ScalarBounds &x, uint64_t c) {
  int64_t sc = int64_t(c);
  ScalarBounds r = x;
  switch (op) {
  case 0x10:
    if (c < x.umin || c > x.umax || sc < x.smin || sc > x.smax)
      return false;
    x = ScalarBounds::constant(c);
    return true;
  case 0x50:
    return !(x.isConst() && x.value == c);
  case 0x40:
    return ((x.value | x.mask) & c) != 0;
  case 0x41:
    if (x.value & c)
      return false;
    r.value &= ~c, r.mask &= ~c;
    break;
  case 0x20:
    if (x.umax <= c)
      return false;
    r.umin = std::max(r.umin, c + 1);
    break;
  case 0x30:
    if (x.umax < c)
      return false;
    r.umin = std::max(r.umin, c);
    break;
  case 0xa0:
    if (x.umin >= c)
      return false;
    r.umax = std::min(r.umax, c - 1);
    break;
  case 0xb0:
    if (x.umin > c)
      return false;
    r.umax = std::min(r.umax, c);
    break;
  case 0x60:
    if (x.smax <= sc)
      return false;
    r.smin = std::max(r.smin, sc + 1);
    break;
  case 0x70:
    if (x.smax < sc)
      return false;
    r.smin = std::max(r.smin, sc);
    break;
  case 0xc0:
    if (x.smin >= sc)
      return false;
    r.smax = std::min(r.smax, sc - 1);
    break;
  case 0xd0:
    if (x.smin > sc)
      return false;
    r.smax = std::min(r.smax, sc);
    break;
  default:
    return true;
  }
  sync(r);
  if (consistent(r))
    x = r; // else keep what was known: the kernel would go on with it
  return true;
}

// A 32-bit comparison of x with c as a 64-bit one, where x's value fits.
std::optional<std::pair<uint8_t, uint64_t>> widenJmp32(uint8_t op, const ScalarBounds &x, uint64_t c) {
  c &= kLow32;
  bool isSigned = op == 0x60 || op == 0x70 || op == 0xc0 || op == 0xd0;
  if (isSigned) {
    if (x.umax >= (uint64_t(1) << 31))
      return std::nullopt;
    return std::pair{op, uint64_t(int64_t(int32_t(uint32_t(c))))};
  }
  if (!x.fits32())
    return std::nullopt;
  return std::pair{op, c};
}

} // namespace

Narrowed narrow(uint8_t op, bool jmp32, bool taken, const ScalarBounds &dst, const ScalarBounds &src) {
  Narrowed n{true, dst, src};
  uint8_t o = taken ? op : (op == 0x40 ? uint8_t(0x41) : negateJump(op));
  ScalarBounds *x;
  uint64_t c;
  if (jmp32 ? src.subreg().isConst() : src.isConst()) {
    x = &n.dst, c = src.value;
  } else if (jmp32 ? dst.subreg().isConst() : dst.isConst()) {
    x = &n.src, c = dst.value, o = o == 0x41 ? o : flipJump(o);
  } else {
    return n; // neither known: nothing learnt (the kernel then learns little)
  }
  if (jmp32) {
    auto w = widenJmp32(o == 0x41 ? 0x40 : o, *x, c);
    if (!w)
      return n;
    c = w->second;
  }
  n.live = refine(o, *x, c);
  return n;
}

} // namespace pstack::detail
