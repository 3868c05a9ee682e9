#include "pstack/pstack.h"

#include "api/report_json.h"

namespace pstack {

const char *version() { return PSTACK_VERSION; }

Session Session::open(const std::string &path) {
  Session s;
  s.path_ = path;
  s.object_ = std::make_shared<Object>(loadObject(path));
  s.graph_ = std::make_shared<CallGraph>(*s.object_);
  return s;
}

Session Session::open(const std::string &name, const std::vector<uint8_t> &bytes) {
  Session s;
  s.path_ = name;
  s.object_ = std::make_shared<Object>(loadObjectFromMemory(name, bytes));
  s.graph_ = std::make_shared<CallGraph>(*s.object_);
  return s;
}

Report Session::verify(const VerifyOptions &opts) const {
  if (opts.env.progArrays.empty() && opts.env.nest.empty() && opts.env.reenter.empty())
    return pstack::verify(*object_, *graph_, opts);
  // the environment changes tail-call targets: verify a copy
  Object copy = *object_;
  applyEnvironment(copy, opts.env, "environment");
  CallGraph g(copy);
  return pstack::verify(copy, g, opts);
}

std::string Session::json(const Report &report) const {
  return reportJson(path_, *object_, *graph_, report).dump(2);
}

JitImage Session::jit(const Report &report, const JitOptions &opts, const Environment &env) const {
  if (env.progArrays.empty())
    return jitCompile(*object_, report, opts);
  Object copy = *object_;
  applyEnvironment(copy, env, "environment");
  return jitCompile(copy, report, opts);
}

std::vector<JitFinding> Session::validate(const JitImage &img) const { return validateJit(*object_, img); }

std::string Session::listing(const JitImage &img, const JitFunction &fn) const {
  return jitListing(*object_, img, fn);
}

RunResult Session::run(const JitImage &img, const RunRequest &req) const { return runJit(*object_, img, req); }

RunResult Session::interpret(const RunRequest &req) const { return pstack::interpret(*object_, req); }

} // namespace pstack
