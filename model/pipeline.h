// The stages every caller runs, in one place: read → environment → call
// graph → verify. The CLI's batch runs, the library's Session, the fuzz
// targets, the tests and the benchmarks all go through it, so that an
// environment is applied (and checked against the object) under the same
// condition for verifying as for emitting code.
//
// Plain types only, as model.h.
#pragma once

#include "model/model.h"

#include <memory>
#include <string>
#include <vector>

namespace pstack {

// One object ready to verify: as read, with an environment applied, and
// its call graph. Copies share the object and graph (they are immutable).
struct Pipeline {
  std::string path;                       // as given (names it in messages)
  std::shared_ptr<const Object> object;   // the environment applied
  std::shared_ptr<const CallGraph> graph; // of `object`
  Environment env;                        // the one applied
  std::string envName;                    // where it came from ("" none)

  // The same object under `env` (named `envName` in errors): itself when
  // `env` says nothing about programs or prog arrays, else a copy of the
  // object as read with `env` applied and its own graph. Throws InputError
  // (naming `envName` and the key) when `env` does not fit the object.
  // Only a pipeline without an environment can take another.
  Pipeline with(const Environment &env, const std::string &envName = "environment") const;

  // verify() under `opts` with this pipeline's environment (opts.env is
  // replaced by it).
  Report verify(VerifyOptions opts) const;
};

// Builds the pipeline of an object already read. Throws InputError when
// `env` does not fit it.
Pipeline makePipeline(Object obj, const Environment &env = {}, const std::string &envName = "");
// Reads `path` (InputError when it cannot be read), then as above.
Pipeline openPipeline(const std::string &path, const Environment &env = {},
                      const std::string &envName = "");
// ... from bytes in memory, named `name`.
Pipeline openPipeline(const std::string &name, const std::vector<uint8_t> &bytes,
                      const Environment &env = {}, const std::string &envName = "");

// Does `env` name programs or prog arrays (what applyEnvironment checks or
// changes)? A limit alone (tail calls, kernel stack) changes no object.
bool namesObject(const Environment &env);

} // namespace pstack
