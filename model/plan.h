// Private to model/: plan synthesis for the `planned` scheme.
#pragma once

#include "model/model.h"

#include <map>
#include <set>
#include <string>

namespace pstack::detail {

struct PlanResult {
  // node -> offset in its program's buffer; empty: no static layout exists
  // (a frame can be live twice, or the search did not finish) and the plan
  // is the r9-relative per-prog layout
  std::map<size_t, int64_t> offsets;
  std::map<size_t, int64_t> programBytes; // program -> buffer bytes (static plans)
  std::string note;
};

// Frames that are never live together may share bytes: Z3 Optimize finds,
// per program, the offsets with the smallest buffer such that every two
// frames that can be live at once are disjoint.
PlanResult synthesizePlan(const Object &obj, const CallGraph &g, const VerifyOptions &o);

} // namespace pstack::detail
