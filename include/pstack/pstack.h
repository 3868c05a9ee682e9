// pstack/pstack.h — C++ API of pstack-verify.
//
//   auto s = pstack::Session::open("prog.bpf.o");
//   pstack::VerifyOptions o;
//   o.scheme = pstack::Scheme::PerProg;
//   pstack::Report r = s.verify(o);
//   for (auto &v : r.violations) ...
//
// The types are those of frontend/frontend.h (Object, Program, Function,
// CallGraph), model/model.h (VerifyOptions, Environment, Report,
// Violation, TraceStep) and jitgen/jitgen.h (JitImage, JitFinding,
// RunRequest, RunResult); none exposes LLVM, libbpf, Boost or Z3.
//
//   pstack::JitImage img = s.jit(r);          // throws JitError unless safe
//   assert(s.validate(img).empty());          // the decoded code vs the layout
//   pstack::RunResult out = s.run(img, {"prog"}); // in the user-space harness
#pragma once

#include "frontend/frontend.h"
#include "model/model.h"
#include "model/pipeline.h"
#include "jitgen/jitgen.h"

#include <memory>
#include <string>
#include <vector>

namespace pstack {

// The library's version, "MAJOR.MINOR.PATCH" (pstack-verify --version).
const char *version();

// A BPF object read, with its call graph, ready to verify any number of
// times. Throws InputError when the object cannot be read (a missing file,
// a directory, not a BPF ELF).
class Session {
public:
  static Session open(const std::string &path);
  static Session open(const std::string &name, const std::vector<uint8_t> &bytes);

  const Object &object() const { return *pipe_.object; }
  const CallGraph &graph() const { return *pipe_.graph; }
  const std::string &path() const { return pipe_.path; }
  // read, with its call graph (model/pipeline.h); no environment applied
  const Pipeline &pipeline() const { return pipe_; }

  // Verifies under `opts` (its environment's prog-array contents replace
  // the object's tail-call targets for this run).
  Report verify(const VerifyOptions &opts = {}) const;

  // A report as the JSON object pstack-verify prints per object.
  std::string json(const Report &report) const;

  // x86-64 code from the layout `report` proved (JitError when a program
  // is not proved safe, unless opts.allowUnproved). `env`: the environment
  // the report was verified with (applied as verify() applies it).
  JitImage jit(const Report &report, const JitOptions &opts = {}, const Environment &env = {}) const;
  // The decoded code checked against its layout; empty when valid.
  std::vector<JitFinding> validate(const JitImage &img) const;
  // A listing of one function: x86 beside BPF and source lines.
  std::string listing(const JitImage &img, const JitFunction &fn) const;
  // Runs a program of the image in the harness (and `interpret` the same
  // request for BPF's own meaning).
  RunResult run(const JitImage &img, const RunRequest &req) const;
  RunResult interpret(const RunRequest &req) const;

private:
  Session() = default;
  Pipeline pipe_;
};

} // namespace pstack
