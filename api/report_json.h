// Private to the CLI and the library: a Report as the JSON document of
// DESIGN.md's CLI contract (one element of "objects").
#pragma once

#include "frontend/frontend.h"
#include "model/model.h"

#include <nlohmann/json.hpp>

namespace pstack {

nlohmann::json reportJson(const std::string &path, const Object &obj, const CallGraph &g,
                          const Report &rep);

} // namespace pstack
