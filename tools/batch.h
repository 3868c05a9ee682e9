// Batch runs: objects and directories, in parallel, with progress, a
// veristat-like summary, CSV, and the comparison of two CSV runs.
#pragma once

#include "tools/report.h"

#include <string>
#include <vector>

namespace pstack::cli {

// OBJECT arguments with every directory replaced by the .o files under it
// (sorted); a missing path stays, to be reported as unreadable.
std::vector<std::string> expandObjects(const std::vector<std::string> &args);

// Reads and verifies every object on `jobs` threads; results in input order.
// Progress goes to stderr: a bar on a terminal, plain lines otherwise.
std::vector<ObjectResult> runAll(const std::vector<std::string> &paths, const Options &o,
                                 const VerifyOptions &vo, unsigned jobs);

std::string summaryTable(const std::vector<ObjectResult> &results);
std::string toCsv(const std::vector<ObjectResult> &results);

// Compares two CSV runs (old, new): rows whose verdict or bytes per CPU
// changed, programs added or gone, and the time ratio. Throws InputError.
std::string compareCsv(const std::string &oldPath, const std::string &newPath, bool &changed);

} // namespace pstack::cli
