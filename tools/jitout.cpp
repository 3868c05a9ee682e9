// --emit-plan, --emit-jit, --replay: print what jitgen gives.
#include "jitgen/jitgen.h"
#include "proofs/proofs.h"
#include "tools/batch.h"
#include "tools/report.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace pstack::cli {

namespace {

nlohmann::json planJson(const ObjectResult &r) {
  const Report &rep = *r.report;
  nlohmann::json j;
  j["object"] = r.path;
  j["scheme"] = schemeName(rep.scheme);
  j["verdict"] = r.object->programs.empty() ? "none" : verdictName(rep.verdict);
  j["bytes_per_cpu"] = rep.bytesPerCpu;
  j["buffers"] = nlohmann::json::array();
  for (auto &b : rep.layout.buffers)
    j["buffers"].push_back({{"name", b.name}, {"bytes", b.bytes}, {"guard", b.guard},
                            {"at_least", b.atLeast}});
  j["frames"] = nlohmann::json::array();
  for (auto &f : rep.layout.frames)
    j["frames"].push_back({{"program", f.program}, {"function", f.function},
                           {"place", placeName(f.place)}, {"region", f.region},
                           {"frame", f.frame}, {"offset", f.offset},
                           {"async_entry", f.asyncEntry}});
  return j;
}

// What differs between the interpreter's run and the JIT's, in words.
std::string differences(const RunResult &ref, const RunResult &jit) {
  std::ostringstream s;
  // (r0 after a failed tail call holds no value: not compared)
  if (ref.r0Defined && ref.r0 != jit.r0)
    s << "    r0: interpreter " << ref.r0 << " (0x" << std::hex << ref.r0 << "), jit " << std::dec
      << jit.r0 << " (0x" << std::hex << jit.r0 << ")" << std::dec << "\n";
  for (auto &[name, bytes] : ref.maps) {
    auto it = jit.maps.find(name);
    if (it == jit.maps.end() || it->second == bytes)
      continue;
    for (size_t i = 0; i < bytes.size() && i < it->second.size(); ++i)
      if (bytes[i] != it->second[i]) {
        s << "    map " << name << " byte " << i << ": interpreter 0x" << std::hex
          << unsigned(bytes[i]) << ", jit 0x" << unsigned(it->second[i]) << std::dec << "\n";
        break;
      }
  }
  for (auto &g : jit.guardsBroken)
    s << "    guard words of " << g << " overwritten\n";
  return s.str();
}

} // namespace

// The place of one object's output under an --emit-* path: the path itself
// for one object; in a batch, PATH/<the object's path as given, without .o>
// (plus `suffix`), so that objects with one basename in two folders do not
// overwrite each other.
static std::string outputPath(const std::string &base, const ObjectResult &r, const Options &o,
                              const std::string &suffix = "") {
  if (!o.batchOutputs)
    return base;
  return (std::filesystem::path(base) / (outputSubpath(r.path) + suffix)).string();
}

bool jitOutputs(std::vector<ObjectResult> &results, const Options &o) {
  bool ok = true;
  for (auto &r : results) {
    if (!r.report || !r.object)
      continue;
    const Report &rep = *r.report;
    if (!o.emitPlan.empty()) {
      std::string path = outputPath(o.emitPlan, r, o, ".json");
      std::error_code ec;
      if (o.batchOutputs)
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
      std::ofstream out(path);
      out << planJson(r).dump(2) << "\n";
      if (!out) {
        std::cerr << "pstack-verify: " << path << ": cannot write the plan\n";
        ok = false;
      }
    }
    if (!o.emitJit.empty()) {
      std::string dir = outputPath(o.emitJit, r, o);
      try {
        JitImage img = jitCompile(*r.object, rep.layout);
        auto findings = validateJit(*r.object, img);
        writeJit(*r.object, img, dir);
        for (auto &f : findings)
          std::cerr << "pstack-verify: " << r.path << ": jit validation: " << f.program << "/"
                    << f.function << " +0x" << std::hex << f.offset << std::dec << " `" << f.insn
                    << "`: " << f.message << "\n";
        if (!findings.empty())
          ok = false;
        else
          std::cerr << "pstack-verify: " << r.path << ": " << img.functions.size()
                    << (img.functions.size() == 1 ? " function" : " functions") << " emitted to "
                    << dir << ", decoded and validated against the " << schemeName(rep.scheme)
                    << " layout\n";
      } catch (const JitError &e) {
        std::cerr << "pstack-verify: " << r.path << ": " << e.what() << "\n";
        // an unproved layout is the verdict's business; anything else is ours
        if (rep.verdict == Verdict::Safe)
          ok = false;
      } catch (const InputError &e) {
        std::cerr << "pstack-verify: " << e.what() << "\n";
        ok = false;
      }
    }
    if (!o.emitSmt.empty()) {
      std::string dir = outputPath(o.emitSmt, r, o);
      try {
        auto files = writeObligations(rep, r.path, dir);
        auto checks = recheckObligations(files, o.timeout);
        std::cerr << "pstack-verify: " << r.path << ": " << files.size()
                  << (files.size() == 1 ? " obligation" : " obligations") << " written to " << dir << ", re-checked:\n"
                  << recheckTable(checks);
        for (auto &c : checks)
          if (!c.proved())
            ok = false;
        for (auto &n : notExported(rep))
          std::cerr << "pstack-verify: " << r.path << ": " << n << "\n";
        if (rep.verdict == Verdict::Safe && files.empty() && notExported(rep).empty())
          std::cerr << "pstack-verify: " << r.path
                    << ": no SMT obligations: the explicit search proved it alone\n";
      } catch (const InputError &e) {
        std::cerr << "pstack-verify: " << e.what() << "\n";
        ok = false;
      }
    }
    if (o.replay) {
      JitOptions jo;
      jo.allowUnproved = true;
      std::cout << "replay of " << r.path << " under " << schemeName(rep.scheme) << " ("
                << verdictName(rep.verdict) << "):\n";
      try {
        JitImage img = jitCompile(*r.object, rep.layout, jo);
        for (auto &p : r.object->programs) {
          RunRequest req;
          req.program = p.name;
          req.nest = r.env.nest;
          RunResult ref = interpret(*r.object, req);
          RunResult jit = runJit(*r.object, img, req);
          std::cout << "  " << p.name << ": ";
          if (!ref.ok || !jit.ok) {
            std::cout << "not run: " << (!ref.ok ? "interpreter: " + ref.error : "jit: " + jit.error)
                      << "\n";
            continue;
          }
          std::string d = differences(ref, jit);
          if (d.empty()) {
            if (ref.r0Defined)
              std::cout << "jit and interpreter agree (r0 = " << jit.r0 << ")\n";
            else
              std::cout << "jit and interpreter agree (r0 undefined: a tail call failed before the "
                           "exit; maps compared)\n";
          } else {
            r.replayDiffers = true;
            std::cout << "the emitted code differs from BPF's meaning:\n" << d;
          }
          // the frame-pointer unwinder at every helper and kfunc call
          BacktraceMatch bm = compareBacktraces(ref, jit);
          std::cout << "    unwinder: " << bm.matched << " of " << bm.total << " backtraces match ("
                    << bm.total - bm.walks << " at helper and kfunc calls, " << bm.walks
                    << " bpf_throw-style walks to the activation's frame)";
          if (!bm.firstMismatch.empty())
            std::cout << " (first difference: " << bm.firstMismatch << ")";
          std::cout << "\n";
        }
      } catch (const JitError &e) {
        std::cout << "  cannot emit: " << e.what() << "\n";
        ok = false;
      }
    }
  }
  return ok;
}

} // namespace pstack::cli
