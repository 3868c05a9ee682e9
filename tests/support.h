// Shared by the tests: where the compiled cases and the corpus are, and the
// facts of cases/cases.json.
#pragma once

#include "frontend/frontend.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pstack::test {

std::string casePath(const std::string &name); // build/cases/<name>.o
const nlohmann::json &caseFacts();             // cases/cases.json "cases"
std::vector<std::string> caseNames();
Object loadCase(const std::string &name);
std::vector<uint8_t> readFile(const std::string &path);
void writeFile(const std::string &path, const std::vector<uint8_t> &bytes);
std::string tempPath(const std::string &name);
std::string corpusDir(); // "" when ../shared/corpus is absent

struct RunResult {
  int status = -1;
  std::string out, err;
};
RunResult run(const std::vector<std::string> &argv);

} // namespace pstack::test
