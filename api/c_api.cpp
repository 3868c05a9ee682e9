// The C API (include/pstack.h) over Session. No exception crosses it: each
// is turned into a negative errno (or NULL and errno) and a message for
// pstack_last_error().
#include "hostkernel/hostkernel.h"
#include "pstack.h"
#include "pstack/pstack.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

struct pstack_object {
  pstack::Session session;
};

struct pstack_report {
  const pstack_object *obj = nullptr;
  pstack::Report report;
  pstack::Environment env;
  std::string json;
  // strings handed out by pstack_report__trace_step stay owned here
  std::vector<std::vector<std::string>> sources;
};

namespace {

thread_local std::string lastError;

int fail(int err, const std::string &why) {
  lastError = why;
  errno = err;
  return -err;
}

// libbpf's rule for options structs: a caller built against a newer header
// may pass a larger struct, whose unknown tail must be zero.
bool optsValid(const void *opts, size_t known) {
  if (!opts)
    return true;
  size_t sz = *static_cast<const size_t *>(opts);
  if (sz < sizeof(size_t))
    return false;
  const char *p = static_cast<const char *>(opts);
  for (size_t i = known; i < sz; ++i)
    if (p[i])
      return false;
  return true;
}

template <typename T, typename F>
auto field(const T *opts, F T::*member, F fallback) {
  if (!opts || opts->sz < size_t(reinterpret_cast<const char *>(&(opts->*member)) -
                                 reinterpret_cast<const char *>(opts)) + sizeof(F))
    return fallback;
  return opts->*member;
}

} // namespace

extern "C" {

const char *pstack_last_error(void) { return lastError.c_str(); }

const char *pstack_version(void) { return PSTACK_VERSION; }

struct pstack_object *pstack_object__open_file(const char *path) {
  if (!path) {
    fail(EINVAL, "no path");
    return nullptr;
  }
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      fail(EISDIR, std::string(path) + ": is a directory, not a BPF object");
      return nullptr;
    }
    std::ifstream probe(path);
    if (!probe) {
      fail(ENOENT, std::string(path) + ": cannot open");
      return nullptr;
    }
    return new pstack_object{pstack::Session::open(path)};
  } catch (const pstack::InputError &e) {
    fail(EINVAL, e.what());
  } catch (const std::bad_alloc &) {
    fail(ENOMEM, "out of memory");
  } catch (const std::exception &e) {
    fail(EINVAL, std::string("internal error: ") + e.what());
  }
  return nullptr;
}

struct pstack_object *pstack_object__open_mem(const void *buf, size_t size, const char *name) {
  if (!buf || !size) {
    fail(EINVAL, "no bytes");
    return nullptr;
  }
  try {
    const auto *b = static_cast<const uint8_t *>(buf);
    return new pstack_object{
        pstack::Session::open(name ? name : "<memory>", std::vector<uint8_t>(b, b + size))};
  } catch (const pstack::InputError &e) {
    fail(EINVAL, e.what());
  } catch (const std::bad_alloc &) {
    fail(ENOMEM, "out of memory");
  } catch (const std::exception &e) {
    fail(EINVAL, std::string("internal error: ") + e.what());
  }
  return nullptr;
}

void pstack_object__close(struct pstack_object *obj) { delete obj; }

size_t pstack_object__program_cnt(const struct pstack_object *obj) {
  return obj ? obj->session.object().programs.size() : 0;
}

const char *pstack_object__program_name(const struct pstack_object *obj, size_t i) {
  if (!obj || i >= obj->session.object().programs.size())
    return nullptr;
  return obj->session.object().programs[i].name.c_str();
}

const char *pstack_object__program_section(const struct pstack_object *obj, size_t i) {
  if (!obj || i >= obj->session.object().programs.size())
    return nullptr;
  return obj->session.object().programs[i].section.c_str();
}

int pstack_object__frame_size(const struct pstack_object *obj, const char *function) {
  if (!obj || !function)
    return -EINVAL;
  const pstack::Function *f = obj->session.object().function(function);
  return f ? int(f->frame.bytes) : -ENOENT;
}

int pstack_object__verify(struct pstack_object *obj, const struct pstack_verify_opts *opts,
                          struct pstack_report **report) {
  if (report)
    *report = nullptr;
  if (!obj)
    return fail(EINVAL, "no object");
  if (!optsValid(opts, sizeof(pstack_verify_opts)))
    return fail(EINVAL, "pstack_verify_opts: bad sz or unknown non-zero fields");
  pstack::VerifyOptions vo;
  const char *scheme = field(opts, &pstack_verify_opts::scheme, (const char *)nullptr);
  if (scheme) {
    auto s = pstack::schemeFromName(scheme);
    if (!s)
      return fail(EINVAL, std::string("unknown scheme '") + scheme + "'");
    vo.scheme = *s;
  }
  const char *kernel = field(opts, &pstack_verify_opts::kernel, (const char *)nullptr);
  if (kernel) {
    try {
      vo.kernel = pstack::resolveKernelRules(kernel);
    } catch (const std::invalid_argument &e) {
      return fail(EINVAL, e.what());
    } catch (const pstack::HostKernelError &e) {
      return fail(EPERM, e.what());
    }
  }
  double timeout = field(opts, &pstack_verify_opts::timeout_s, 0.0);
  if (timeout < 0)
    return fail(EINVAL, "negative timeout");
  if (timeout > 0)
    vo.timeoutSeconds = timeout;
  unsigned long long buffer = field(opts, &pstack_verify_opts::buffer_size, 0ull);
  if (buffer)
    vo.bufferSize = buffer;
  if (const char *engine = field(opts, &pstack_verify_opts::engine, (const char *)nullptr)) {
    using E = pstack::VerifyOptions::Engine;
    std::string e = engine;
    if (e == "auto")
      vo.engine = E::Auto;
    else if (e == "explicit")
      vo.engine = E::Explicit;
    else if (e == "bounded")
      vo.engine = E::Bounded;
    else if (e == "unbounded")
      vo.engine = E::Unbounded;
    else
      return fail(EINVAL, "unknown engine '" + e + "' (auto, explicit, bounded or unbounded)");
  }
  if (const char *r9 = field(opts, &pstack_verify_opts::per_prog_r9, (const char *)nullptr)) {
    std::string w = r9;
    if (w != "base" && w != "top")
      return fail(EINVAL, "per_prog_r9 is \"base\" or \"top\", not '" + w + "'");
    vo.perProgR9AtTop = w == "top";
  }
  try {
    const char *env = field(opts, &pstack_verify_opts::env_path, (const char *)nullptr);
    const char *envJson = field(opts, &pstack_verify_opts::env_json, (const char *)nullptr);
    if (env && envJson)
      return fail(EINVAL, "env_path and env_json both set: give one environment");
    if (env)
      vo.env = pstack::loadEnvironment(env);
    if (envJson)
      vo.env = pstack::parseEnvironment("env_json", envJson);
    auto rep = std::make_unique<pstack_report>();
    rep->obj = obj;
    rep->env = vo.env;
    rep->report = obj->session.verify(vo);
    rep->json = obj->session.json(rep->report);
    int verdict = rep->report.verdict == pstack::Verdict::Safe     ? PSTACK_SAFE
                  : rep->report.verdict == pstack::Verdict::Unsafe ? PSTACK_UNSAFE
                                                                   : PSTACK_UNKNOWN;
    if (report)
      *report = rep.release();
    return verdict;
  } catch (const pstack::InputError &e) {
    return fail(EINVAL, e.what());
  } catch (const std::bad_alloc &) {
    return fail(ENOMEM, "out of memory");
  } catch (const std::exception &e) {
    return fail(EINVAL, std::string("internal error: ") + e.what());
  }
}

enum pstack_verdict pstack_report__verdict(const struct pstack_report *rep) {
  if (!rep)
    return PSTACK_UNKNOWN;
  switch (rep->report.verdict) {
  case pstack::Verdict::Safe: return PSTACK_SAFE;
  case pstack::Verdict::Unsafe: return PSTACK_UNSAFE;
  default: return PSTACK_UNKNOWN;
  }
}

static const pstack::ProgramReport *program(const struct pstack_report *rep, size_t i) {
  return rep && i < rep->report.programs.size() ? &rep->report.programs[i] : nullptr;
}

size_t pstack_report__program_cnt(const struct pstack_report *rep) {
  return rep ? rep->report.programs.size() : 0;
}

const char *pstack_report__program_name(const struct pstack_report *rep, size_t i) {
  auto *p = program(rep, i);
  return p ? p->name.c_str() : nullptr;
}

int pstack_report__program_verdict(const struct pstack_report *rep, size_t i) {
  auto *p = program(rep, i);
  if (!p)
    return fail(ERANGE, "no such program");
  return p->verdict == pstack::Verdict::Safe     ? PSTACK_SAFE
         : p->verdict == pstack::Verdict::Unsafe ? PSTACK_UNSAFE
                                                 : PSTACK_UNKNOWN;
}

const char *pstack_report__program_reason(const struct pstack_report *rep, size_t i) {
  auto *p = program(rep, i);
  return p ? p->reason.c_str() : nullptr;
}

unsigned long long pstack_report__program_kernel_stack(const struct pstack_report *rep, size_t i) {
  auto *p = program(rep, i);
  return p ? p->kernelStackBytes : 0;
}

unsigned long long pstack_report__program_bytes_per_cpu(const struct pstack_report *rep, size_t i) {
  auto *p = program(rep, i);
  if (!p)
    return 0;
  // the buffers its frames are placed in (each scheme's buffers belong to
  // one program), guards included
  std::set<std::string> regions;
  for (auto &f : rep->report.layout.frames)
    if (f.program == p->name && !f.region.empty())
      regions.insert(f.region);
  unsigned long long n = 0;
  for (auto &b : rep->report.layout.buffers)
    if (regions.count(b.name))
      n += b.bytes + 2 * b.guard;
  return n;
}

size_t pstack_report__program_violation_cnt(const struct pstack_report *rep, size_t i) {
  auto *p = program(rep, i);
  if (!p)
    return 0;
  size_t n = 0;
  for (auto &v : rep->report.violations)
    n += v.program == p->name;
  return n;
}

unsigned long long pstack_report__bytes_per_cpu(const struct pstack_report *rep) {
  return rep ? rep->report.bytesPerCpu : 0;
}

size_t pstack_report__violation_cnt(const struct pstack_report *rep) {
  return rep ? rep->report.violations.size() : 0;
}

static const pstack::Violation *violation(const struct pstack_report *rep, size_t i) {
  return rep && i < rep->report.violations.size() ? &rep->report.violations[i] : nullptr;
}

const char *pstack_report__violation_kind(const struct pstack_report *rep, size_t i) {
  auto *v = violation(rep, i);
  return v ? v->kind.c_str() : nullptr;
}

const char *pstack_report__violation_program(const struct pstack_report *rep, size_t i) {
  auto *v = violation(rep, i);
  return v ? v->program.c_str() : nullptr;
}

const char *pstack_report__violation_message(const struct pstack_report *rep, size_t i) {
  auto *v = violation(rep, i);
  return v ? v->message.c_str() : nullptr;
}

size_t pstack_report__trace_len(const struct pstack_report *rep, size_t i) {
  auto *v = violation(rep, i);
  return v ? v->trace.size() : 0;
}

int pstack_report__trace_step(const struct pstack_report *rep, size_t i, size_t j,
                              struct pstack_trace_step *step) {
  if (!step || step->sz < offsetof(pstack_trace_step, depth) + sizeof(step->depth))
    return fail(EINVAL, "pstack_trace_step: bad sz");
  auto *v = violation(rep, i);
  if (!v || j >= v->trace.size())
    return fail(ERANGE, "no such violation or step");
  auto *r = const_cast<pstack_report *>(rep);
  if (r->sources.size() < r->report.violations.size())
    r->sources.resize(r->report.violations.size());
  auto &src = r->sources[i];
  if (src.size() < v->trace.size())
    src.resize(v->trace.size());
  const pstack::TraceStep &s = v->trace[j];
  step->event = s.event.c_str();
  step->program = s.program.c_str();
  step->function = s.function.c_str();
  step->insn = s.insn ? (long long)*s.insn : -1;
  if (s.source) {
    src[j] = s.source->str();
    step->source = src[j].c_str();
  } else {
    step->source = nullptr;
  }
  step->region = s.region.c_str();
  step->lo = s.lo;
  step->hi = s.hi;
  step->clash = s.clash;
  step->depth = s.depth;
  return 0;
}

const char *pstack_report__json(const struct pstack_report *rep) {
  return rep ? rep->json.c_str() : nullptr;
}

void pstack_report__free(struct pstack_report *rep) { delete rep; }

} // extern "C"

struct pstack_jit {
  const pstack_object *obj = nullptr;
  pstack::JitImage img;
  std::vector<std::string> names, listings;
  std::string findings;
};

int pstack_report__jit(const struct pstack_report *rep, const struct pstack_jit_opts *opts,
                       struct pstack_jit **jit) {
  if (jit)
    *jit = nullptr;
  if (!rep || !jit || !rep->obj)
    return fail(EINVAL, "no report or no place for the result");
  if (!optsValid(opts, sizeof(pstack_jit_opts)))
    return fail(EINVAL, "pstack_jit_opts: bad sz or unknown non-zero fields");
  pstack::JitOptions jo;
  jo.allowUnproved = field(opts, &pstack_jit_opts::allow_unproved, 0) != 0;
  try {
    auto j = std::make_unique<pstack_jit>();
    j->obj = rep->obj;
    j->img = rep->obj->session.jit(rep->report, jo, rep->env);
    for (auto &f : j->img.functions) {
      j->names.push_back(f.program + "/" + f.function);
      j->listings.push_back(rep->obj->session.listing(j->img, f));
    }
    *jit = j.release();
    return 0;
  } catch (const pstack::JitError &e) {
    std::string w = e.what();
    return fail(w.find("refusing") != std::string::npos ? EPERM : ENOTSUP, w);
  } catch (const std::exception &e) {
    return fail(EINVAL, e.what());
  }
}

size_t pstack_jit__func_cnt(const struct pstack_jit *jit) { return jit ? jit->img.functions.size() : 0; }

const char *pstack_jit__func_name(const struct pstack_jit *jit, size_t i) {
  return jit && i < jit->names.size() ? jit->names[i].c_str() : nullptr;
}

const void *pstack_jit__func_code(const struct pstack_jit *jit, size_t i, size_t *size) {
  if (!jit || i >= jit->img.functions.size())
    return nullptr;
  if (size)
    *size = jit->img.functions[i].code.size();
  return jit->img.functions[i].code.data();
}

const char *pstack_jit__func_listing(const struct pstack_jit *jit, size_t i) {
  return jit && i < jit->listings.size() ? jit->listings[i].c_str() : nullptr;
}

unsigned long long pstack_jit__per_cpu_bytes(const struct pstack_jit *jit) {
  return jit ? jit->img.perCpuBytes : 0;
}

int pstack_jit__validate(struct pstack_jit *jit) {
  if (!jit)
    return fail(EINVAL, "no jit");
  try {
    auto fs = jit->obj->session.validate(jit->img);
    jit->findings.clear();
    for (auto &f : fs)
      jit->findings += f.program + "/" + f.function + " +" + std::to_string(f.offset) + " `" + f.insn +
                       "`: " + f.message + "\n";
    return int(fs.size());
  } catch (const std::exception &e) {
    return fail(EINVAL, e.what());
  }
}

const char *pstack_jit__findings(const struct pstack_jit *jit) { return jit ? jit->findings.c_str() : ""; }

void pstack_jit__free(struct pstack_jit *jit) { delete jit; }
