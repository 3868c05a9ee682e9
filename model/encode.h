// Private to model/: the symbolic form of System::placeAbsolute, shared by
// the two Z3 engines (their own placement of r9-relative frames differs:
// the bounded engine knows the pushed frame, Spacer the replaced one).
#pragma once

#include "model/system.h"

#include <z3++.h>

#include <optional>

namespace pstack::detail {

// The constraints making (r, lo, hi, ks) the frame of `node` above
// `ksBelow` kernel-stack bytes; nullopt for an r9-relative node.
inline std::optional<z3::expr> absolutePlacement(const System &sys, size_t node, const z3::expr &r,
                                                 const z3::expr &lo, const z3::expr &hi,
                                                 const z3::expr &ks, const z3::expr &ksBelow) {
  z3::context &c = r.ctx();
  const NodeInfo &ni = sys.nodes[node];
  z3::expr F = c.int_val(int64_t(ni.frame)), sh = c.int_val(sys.shiftOf(node));
  switch (ni.placement) {
  case Placement::KernelStack:
    return r == 0 && lo == ksBelow && hi == ksBelow + F && ks == hi;
  case Placement::Fixed:
    return r == ni.fixedRegion && lo == sh && hi == sh + F && ks == ksBelow;
  case Placement::Static:
    return r == ni.programRegion && lo == c.int_val(ni.offset) + sh && hi == lo + F &&
           ks == ksBelow;
  case Placement::Relative:
    return std::nullopt;
  }
  return std::nullopt;
}

} // namespace pstack::detail
