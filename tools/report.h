// Rendering of results for the CLI: text tables, JSON, DOT.
#pragma once

#include "frontend/frontend.h"
#include "model/model.h"
#include "api/report_json.h"

#include <nlohmann/json.hpp>
#include <memory>
#include <string>

namespace pstack::cli {

struct Options {
  std::string scheme = "kernel";
  std::string kernel = "6.13";
  std::string format = "text";
  std::string dotFile;
  double timeout = 10;
  std::optional<uint64_t> bufferSize;
  bool r9AtTop = false;
  std::string engine = "auto";
  bool explain = false; // traces with the source lines around each step
  std::string emitJit;  // --emit-jit DIR
  std::string emitPlan; // --emit-plan FILE
  std::string emitSmt;  // --emit-smt DIR
  bool replay = false;  // --replay: JIT the layout, run it beside the interpreter
  bool quiet = false;   // -q: no progress lines
  bool batchOutputs = false; // more than one object: --emit-* per object under a directory
  std::string sourceRoot; // --source-root: SARIF URIs relative to it
};

// Kernel rounding of frames on a call chain: 32 bytes on 6.1, 16 on 6.12+.
uint32_t chainRounding(const Options &o);

struct ObjectResult {
  std::string path;
  // from its pipeline (model/pipeline.h): the environment applied
  std::shared_ptr<const Object> object;
  std::shared_ptr<const CallGraph> graph;
  std::optional<Report> report;
  double seconds = 0; // reading and verifying it
  std::string error; // set when the object could not be read
  bool envMismatch = false; // the error: its environment does not fit it
  std::string envFile;      // the --env that applies ("" for none)
  Environment env;
  bool replayDiffers = false; // --replay: the JIT and the interpreter disagree
};

// --emit-plan, --emit-jit and --replay for every verified object; prints
// to stdout/stderr. False when something could not be written or emitted.
bool jitOutputs(std::vector<ObjectResult> &results, const Options &o);

nlohmann::json toJson(const ObjectResult &r, const Options &o);
std::string toText(const ObjectResult &r, const Options &o);

// The call graph coloured by program verdict, the first counterexample's
// path drawn in red.
std::string toDot(const ObjectResult &r);

} // namespace pstack::cli
