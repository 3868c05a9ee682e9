// pstack/pstack.h — C++ API of pstack-verify.
//
//   auto s = pstack::Session::open("prog.bpf.o");
//   pstack::VerifyOptions o;
//   o.scheme = pstack::Scheme::PerProg;
//   pstack::Report r = s.verify(o);
//   for (auto &v : r.violations) ...
//
// The types are those of frontend/frontend.h (Object, Program, Function,
// CallGraph) and model/model.h (VerifyOptions, Environment, Report,
// Violation, TraceStep); neither exposes LLVM, libbpf, Boost or Z3.
#pragma once

#include "frontend/frontend.h"
#include "model/model.h"

#include <memory>
#include <string>
#include <vector>

namespace pstack {

// A BPF object read, with its call graph, ready to verify any number of
// times. Throws InputError when the object cannot be read.
class Session {
public:
  static Session open(const std::string &path);
  static Session open(const std::string &name, const std::vector<uint8_t> &bytes);

  const Object &object() const { return *object_; }
  const CallGraph &graph() const { return *graph_; }
  const std::string &path() const { return path_; }

  // Verifies under `opts` (its environment's prog-array contents replace
  // the object's tail-call targets for this run).
  Report verify(const VerifyOptions &opts = {}) const;

  // A report as the JSON object pstack-verify prints per object.
  std::string json(const Report &report) const;

private:
  Session() = default;
  std::string path_;
  std::shared_ptr<Object> object_;
  std::shared_ptr<CallGraph> graph_;
};

} // namespace pstack
