#include "fuzz/targets.h"

#include "frontend/frontend.h"
#include "jitgen/jitgen.h"
#include "model/pipeline.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

namespace pstack::fuzz {
namespace {

std::string casesDir;

// An invariant of ours broke: say which and abort, so that libFuzzer keeps
// the input and the regression test fails.
[[noreturn]] void broken(const std::string &what) {
  fprintf(stderr, "pstack fuzz: invariant broken: %s\n", what.c_str());
  abort();
}

void count(Outcome &out, const Report &rep) {
  for (auto &p : rep.programs)
    ++out.verdicts[p.verdict == Verdict::Safe ? 0 : p.verdict == Verdict::Unsafe ? 1 : 2];
  for (auto &v : rep.violations)
    if (v.trace.empty())
      broken("a " + v.kind + " violation without a trace");
  for (auto &p : rep.programs)
    if (p.verdict == Verdict::Unknown && p.reason.empty())
      broken("unknown verdict without a reason for " + p.name);
}

VerifyOptions quick(Scheme s) {
  VerifyOptions vo;
  vo.scheme = s;
  vo.timeoutSeconds = 0.5;
  return vo;
}

const Pipeline &bundled(const std::string &name) {
  static std::map<std::string, Pipeline> cache;
  auto &p = cache[name];
  if (!p.object)
    p = openPipeline(casesDir + "/" + name);
  return p;
}

} // namespace

void setCasesDir(const std::string &dir) { casesDir = dir; }

Outcome frontend(const uint8_t *data, size_t size) {
  Outcome out;
  try {
    Pipeline pipe = openPipeline("fuzz.o", std::vector<uint8_t>(data, data + size));
    out.programs = pipe.object->programs.size();
    for (size_t p = 0; p < pipe.object->programs.size(); ++p)
      (void)pipe.graph->deepestChain(p, 16);
    (void)pipe.graph->cycles();
  } catch (const InputError &e) {
    out.rejected = true;
    out.error = e.what();
  }
  return out;
}

Outcome environment(const uint8_t *data, size_t size) {
  Outcome out;
  Environment env;
  try {
    env = parseEnvironment("fuzz.env.json", std::string(reinterpret_cast<const char *>(data), size));
  } catch (const InputError &e) {
    out.rejected = true;
    out.error = e.what();
    return out;
  }
  for (auto name : {"nested.o", "tailcalls.o"}) {
    Pipeline pipe;
    try {
      pipe = bundled(name).with(env, "fuzz.env.json");
    } catch (const InputError &e) {
      out.rejected = true;
      out.error = e.what();
      continue;
    }
    ++out.programs;
    for (Scheme s : {Scheme::Kernel, Scheme::PerProg, Scheme::StackSwitch})
      count(out, pipe.verify(quick(s)));
  }
  return out;
}

Outcome pipeline(const uint8_t *data, size_t size) {
  Outcome out;
  Pipeline pipe;
  try {
    pipe = openPipeline("fuzz.o", std::vector<uint8_t>(data, data + size));
  } catch (const InputError &e) {
    out.rejected = true;
    out.error = e.what();
    return out;
  }
  const Object &o = *pipe.object;
  out.programs = o.programs.size();
  for (Scheme s : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned,
                   Scheme::StackSwitch}) {
    Report rep = pipe.verify(quick(s));
    count(out, rep);
    bool allSafe = !rep.programs.empty();
    for (auto &p : rep.programs)
      allSafe &= p.verdict == Verdict::Safe;
    if (!allSafe)
      continue;
    JitImage img;
    try {
      img = jitCompile(o, rep.layout);
    } catch (const JitError &) {
      continue; // a form the JIT refuses (LD_ABS, cpu v4, ...): said clearly
    }
    auto findings = validateJit(o, img);
    if (!findings.empty())
      broken(std::string("JIT of a proved ") + schemeName(s) + " layout fails validation: " +
             findings[0].message);
    out.jitted += img.functions.size();
  }
  return out;
}

} // namespace pstack::fuzz
