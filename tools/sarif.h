// SARIF 2.1.0 for CI: one rule per violation kind, one result per violation,
// the trace as a codeFlow.
#pragma once

#include "tools/report.h"

namespace pstack::cli {

nlohmann::json toSarif(const std::vector<ObjectResult> &results, const Options &o);

} // namespace pstack::cli
