// Batch runs: objects and directories, in parallel, with progress, a
// veristat-like summary, CSV, and the comparison of two CSV runs.
#pragma once

#include "tools/report.h"

#include <map>
#include <string>
#include <vector>

namespace pstack::cli {

// One object to verify: its path as found, and the environment file that
// applies to it ("" for none).
struct Input {
  std::string path;
  std::string envFile;
};

// OBJECT arguments with every directory replaced by the .o files under it
// (sorted); a missing path stays, to be reported as unreadable. `envs[i]`
// is the environment of args[i]. In a directory, ELF files of another
// machine (host objects of a build tree) are skipped: one note line per
// directory goes to `notes`. Named on the command line, they stay.
std::vector<Input> expandObjects(const std::vector<std::string> &args,
                                 const std::vector<std::string> &envs,
                                 std::vector<std::string> &notes);

// Reads and verifies every object on `jobs` threads; results in input order.
// `envs`: every environment file named by an input, loaded. Progress goes
// to stderr (unless o.quiet): a bar on a terminal, plain lines otherwise.
std::vector<ObjectResult> runAll(const std::vector<Input> &inputs, const Options &o,
                                 const VerifyOptions &vo,
                                 const std::map<std::string, Environment> &envs, unsigned jobs);

// Where a batch writes an object's outputs under an --emit-* directory:
// the object's path as given, made relative (a leading "/" dropped, ".."
// written "__"), without its ".o".
std::string outputSubpath(const std::string &objectPath);

std::string summaryTable(const std::vector<ObjectResult> &results);
std::string toCsv(const std::vector<ObjectResult> &results);

// Compares two CSV runs (old, new), rows keyed by the object's path as
// given and the program: rows whose verdict or bytes per CPU changed,
// programs added or gone, and the time ratio. `regressed`: something got
// worse (a verdict that was safe is no longer safe, a program or object
// that was verified is gone or unreadable, bytes per CPU went up).
// Throws InputError.
std::string compareCsv(const std::string &oldPath, const std::string &newPath, bool &changed,
                       bool &regressed);

} // namespace pstack::cli
