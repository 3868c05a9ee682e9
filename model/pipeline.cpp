// Pass: pipeline — read → environment → call graph → verify, for every
// caller alike.
// Reads:  a path or bytes, an Environment, VerifyOptions.
// Writes: Pipeline, Report.
// Throws: InputError (an unreadable object, an environment that names what
//         the object does not have).
#include "model/pipeline.h"

#include <stdexcept>

namespace pstack {

bool namesObject(const Environment &env) {
  return !env.progArrays.empty() || !env.nest.empty() || !env.reenter.empty();
}

Pipeline makePipeline(Object obj, const Environment &env, const std::string &envName) {
  Pipeline p;
  p.path = obj.path;
  if (namesObject(env))
    applyEnvironment(obj, env, envName.empty() ? "environment" : envName);
  p.env = env;
  p.envName = envName;
  auto o = std::make_shared<const Object>(std::move(obj));
  p.graph = std::make_shared<const CallGraph>(*o);
  p.object = std::move(o);
  return p;
}

Pipeline openPipeline(const std::string &path, const Environment &env, const std::string &envName) {
  Pipeline p = makePipeline(loadObject(path), env, envName);
  p.path = path;
  return p;
}

Pipeline openPipeline(const std::string &name, const std::vector<uint8_t> &bytes,
                      const Environment &env, const std::string &envName) {
  Pipeline p = makePipeline(loadObjectFromMemory(name, bytes), env, envName);
  p.path = name;
  return p;
}

Pipeline Pipeline::with(const Environment &e, const std::string &name) const {
  if (namesObject(env))
    throw std::logic_error("Pipeline::with: " + path + " has an environment applied already");
  Pipeline p;
  if (namesObject(e)) {
    p = makePipeline(Object(*object), e, name);
  } else {
    p = *this;
    p.env = e;
    p.envName = name;
  }
  p.path = path;
  return p;
}

Report Pipeline::verify(VerifyOptions opts) const {
  opts.env = env;
  return pstack::verify(*object, *graph, opts);
}

} // namespace pstack
