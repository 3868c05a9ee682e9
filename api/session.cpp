#include "pstack/pstack.h"

#include "api/report_json.h"

namespace pstack {

const char *version() { return PSTACK_VERSION; }

Session Session::open(const std::string &path) {
  Session s;
  s.pipe_ = openPipeline(path);
  return s;
}

Session Session::open(const std::string &name, const std::vector<uint8_t> &bytes) {
  Session s;
  s.pipe_ = openPipeline(name, bytes);
  return s;
}

Report Session::verify(const VerifyOptions &opts) const { return pipe_.with(opts.env).verify(opts); }

std::string Session::json(const Report &report) const {
  return reportJson(pipe_.path, *pipe_.object, *pipe_.graph, report).dump(2);
}

JitImage Session::jit(const Report &report, const JitOptions &opts, const Environment &env) const {
  // the object as verified: the same environment, applied the same way
  return jitCompile(*pipe_.with(env).object, report.layout, opts);
}

std::vector<JitFinding> Session::validate(const JitImage &img) const { return validateJit(*pipe_.object, img); }

std::string Session::listing(const JitImage &img, const JitFunction &fn) const {
  return jitListing(*pipe_.object, img, fn);
}

RunResult Session::run(const JitImage &img, const RunRequest &req) const { return runJit(*pipe_.object, img, req); }

RunResult Session::interpret(const RunRequest &req) const { return pstack::interpret(*pipe_.object, req); }

} // namespace pstack
