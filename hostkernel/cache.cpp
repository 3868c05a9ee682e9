// The probe's answer, kept once per boot: a JSON file keyed by the boot id
// (and bpf_jit_enable, which root may change within a boot, and the probe
// version). A file that does not parse, or answers another boot, is ignored
// and rewritten.
#include "hostkernel/hostkernel.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unistd.h>

namespace pstack {

// A ProgType by its progTypeName(), over every value the enum has in this
// build (progTypeName says "unknown" past the last one).
std::optional<ProgType> progTypeNamed(const std::string &name) {
  for (int t = 0; t < 256; ++t)
    if (name == progTypeName(ProgType(t)) && (t == 0 || name != "unknown"))
      return ProgType(t);
  return std::nullopt;
}

namespace {

constexpr const char *kSchema = "pstack-verify/kernel-running/1";
// bump when the probes change: caches of an older probe are re-probed
constexpr int kProbeVersion = 2; // 2: private_by_variant

} // namespace

std::string hostKernelCachePath(const HostProbeOptions &opts) {
  std::filesystem::path dir;
  if (!opts.cacheDir.empty())
    dir = opts.cacheDir;
  else if (const char *x = getenv("XDG_CACHE_HOME"); x && *x)
    dir = std::filesystem::path(x) / "pstack-verify";
  else if (const char *h = getenv("HOME"); h && *h)
    dir = std::filesystem::path(h) / ".cache" / "pstack-verify";
  else
    return "";
  return (dir / "kernel-running.json").string();
}

std::optional<HostProbeResult> readHostProbeCache(const std::string &path, const std::string &bootId,
                                                  int jitEnable, std::string &note) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  try {
    auto j = nlohmann::json::parse(text.str());
    if (j.at("schema").get<std::string>() != kSchema || j.at("probe_version").get<int>() != kProbeVersion) {
      note = path + ": written by another version: probed again";
      return std::nullopt;
    }
    if (j.at("boot_id").get<std::string>() != bootId || j.at("jit_enable").get<int>() != jitEnable)
      return std::nullopt; // another boot, or the JIT switched since
    HostProbeResult r;
    r.bootId = bootId;
    r.jitEnable = jitEnable;
    KernelRules &k = r.rules;
    k.name = "running";
    k.release = j.at("release").get<std::string>();
    k.round = j.at("round").get<uint32_t>();
    if (k.round != 16 && k.round != 32)
      throw std::runtime_error("round " + std::to_string(k.round));
    k.privateStackMin = j.at("private_stack_min").get<uint32_t>();
    k.asyncCallbackRoots = j.at("async_callback_roots").get<bool>();
    k.bpfLoopInline = j.at("bpf_loop_inline").get<uint32_t>();
    k.mayGotoSlot = j.at("may_goto_slot").get<uint32_t>();
    for (auto &t : j.at("private_stack_types")) {
      auto type = progTypeNamed(t.get<std::string>());
      if (!type)
        throw std::runtime_error("program type " + t.get<std::string>());
      k.privateStackTypes.insert(*type);
    }
    for (auto &[name, why] : j.at("unprobed_types").items()) {
      auto type = progTypeNamed(name);
      if (!type)
        throw std::runtime_error("program type " + name);
      k.unprobedTypes[*type] = why.get<std::string>();
    }
    for (auto &[variant, priv] : j.at("private_by_variant").items())
      k.privateByVariant[variant] = priv.get<bool>();
    for (auto &a : j.at("answers"))
      r.answers.push_back({a.at("probe").get<std::string>(), a.at("type").get<std::string>(),
                           a.at("answer").get<std::string>(), a.at("detail").get<std::string>()});
    return r;
  } catch (const std::exception &e) {
    note = path + ": not a cache this version can read (" + e.what() + "): probed again";
    return std::nullopt;
  }
}

bool writeHostProbeCache(const std::string &path, const HostProbeResult &r, std::string &note) {
  const KernelRules &k = r.rules;
  nlohmann::json j;
  j["schema"] = kSchema;
  j["probe_version"] = kProbeVersion;
  j["boot_id"] = r.bootId;
  j["jit_enable"] = r.jitEnable;
  j["release"] = k.release;
  j["round"] = k.round;
  j["private_stack_min"] = k.privateStackMin;
  j["async_callback_roots"] = k.asyncCallbackRoots;
  j["bpf_loop_inline"] = k.bpfLoopInline;
  j["may_goto_slot"] = k.mayGotoSlot;
  j["private_stack_types"] = nlohmann::json::array();
  for (ProgType t : k.privateStackTypes)
    j["private_stack_types"].push_back(progTypeName(t));
  j["unprobed_types"] = nlohmann::json::object();
  for (auto &[t, why] : k.unprobedTypes)
    j["unprobed_types"][progTypeName(t)] = why;
  j["private_by_variant"] = nlohmann::json::object();
  for (auto &[variant, priv] : k.privateByVariant)
    j["private_by_variant"][variant] = priv;
  j["answers"] = nlohmann::json::array();
  for (auto &a : r.answers)
    j["answers"].push_back({{"probe", a.probe}, {"type", a.type}, {"answer", a.answer}, {"detail", a.detail}});
  std::error_code ec;
  std::filesystem::path p(path);
  std::filesystem::create_directories(p.parent_path(), ec);
  // write a sibling, then rename: a reader never sees half a file
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      note = "cannot write " + path + ": not cached";
      std::filesystem::remove(tmp, ec);
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    note = "cannot write " + path + " (" + ec.message() + "): not cached";
    std::filesystem::remove(tmp, ec);
    return false;
  }
  return true;
}

} // namespace pstack
