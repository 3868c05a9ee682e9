// The report as JSON ("pstack-verify/1"): shared by the CLI and the C API.
#include "api/report_json.h"

namespace pstack {

nlohmann::json reportJson(const std::string &path, const Object &obj, const CallGraph &g,
                          const Report &rep) {
  using nlohmann::json;
  json j;
  j["path"] = path;
  const uint32_t rounding = rep.kernel.round;
  j["verdict"] = verdictName(rep.verdict);
  j["line_info"] = obj.lineInfoSource.empty() ? json(nullptr) : json(obj.lineInfoSource);
  json progs = json::array();
  for (size_t p = 0; p < obj.programs.size(); ++p) {
    const Program &pr = obj.programs[p];
    json jp;
    jp["name"] = pr.name;
    jp["section"] = pr.section;
    jp["type"] = progTypeName(pr.type);
    const ProgramReport &prr = rep.programs.at(p);
    jp["verdict"] = verdictName(prr.verdict);
    if (!prr.reason.empty())
      jp["reason"] = prr.reason;
    if (rep.scheme == Scheme::Kernel)
      jp["private_stack"] = prr.privateStack;
    jp["kernel_stack_bytes"] = prr.kernelStackBytes;
    if (!prr.engine.empty())
      jp["engine"] = prr.engine;
    if (!prr.invariant.empty())
      jp["invariant"] = prr.invariant;
    json fns = json::array();
    for (size_t f : pr.functions) {
      const Function &fn = obj.functions[f];
      json jf;
      jf["name"] = fn.name;
      jf["frame_size"] = fn.frame.bytes;
      if (rep.scheme == Scheme::Kernel) // as the kernel's `stack depth` line shows it
        jf["stack_depth"] = kernelStackDepth(fn, rep.kernel);
      jf["frame_bounded"] = fn.frame.bounded;
      jf["insns"] = fn.insns.empty() ? 0 : fn.insns.back().index + (fn.insns.back().wide ? 2 : 1);
      if (!fn.frame.bounded) {
        json u = json::array();
        for (auto &a : fn.frame.unbounded)
          u.push_back({{"insn", fn.sectionInsn(a.insn)}, {"reason", a.reason}});
        jf["unbounded"] = u;
      }
      fns.push_back(jf);
    }
    jp["functions"] = fns;
    auto chain = g.deepestChain(p, rounding);
    json path = json::array();
    for (size_t n : chain.path)
      path.push_back(obj.functions[g.nodes()[n].function].name);
    jp["deepest_chain"] = {{"bytes", chain.bytes}, {"frames", chain.frames}, {"path", path},
                           {"recursive", chain.recursive}, {"rounding", rounding}};
    progs.push_back(jp);
  }
  j["programs"] = progs;
  if (obj.programs.empty()) {
    // only .text (subprograms no program calls): nothing runs, nothing to prove
    j["verdict"] = "none";
    j["note"] = "no programs";
  }
  json edges = json::array();
  for (auto &e : g.edges()) {
    const Function &from = obj.functions[g.nodes()[e.from].function];
    json je = {{"from", g.nodeName(e.from)}, {"to", g.nodeName(e.to)},
               {"kind", edgeKindName(e.kind)}, {"insn", from.sectionInsn(e.insn)}};
    if (e.kind == EdgeKind::TailCall)
      je["resolved"] = e.resolved;
    if (e.kind == EdgeKind::Callback)
      je["async"] = e.async;
    edges.push_back(je);
  }
  j["edges"] = edges;
  json maps = json::array();
  for (auto &m : obj.maps) {
    json jm = {{"name", m.name}, {"type", mapTypeName(m.type)}, {"key_size", m.keySize},
               {"value_size", m.valueSize}, {"max_entries", m.maxEntries},
               {"btf", m.btfDefined}};
    if (m.isProgArray()) {
      json slots = json::object();
      for (auto &[s, prog] : m.progSlots)
        slots[std::to_string(s)] = prog;
      jm["slots"] = slots;
    }
    maps.push_back(jm);
  }
  j["maps"] = maps;
  json cyc = json::array();
  for (auto &c : g.cycles()) {
    json names = json::array();
    for (size_t n : c)
      names.push_back(g.nodeName(n));
    cyc.push_back(names);
  }
  j["cycles"] = cyc;
  json plan = {{"scheme", schemeName(rep.scheme)}, {"bytes_per_cpu", rep.bytesPerCpu}};
  json bufs = json::array();
  for (auto &b : rep.layout.buffers)
    bufs.push_back({{"name", b.name}, {"bytes", b.bytes}, {"guard", b.guard}, {"at_least", b.atLeast}});
  plan["buffers"] = bufs;
  if (!rep.planOffsets.empty())
    plan["offsets"] = rep.planOffsets;
  if (!rep.planNote.empty())
    plan["note"] = rep.planNote;
  if (rep.kernelBytesPerCpu)
    plan["kernel_scheme_bytes_per_cpu"] = *rep.kernelBytesPerCpu;
  if (!rep.engineDisagreement.empty())
    j["engine_disagreement"] = rep.engineDisagreement;
  j["plan"] = plan;
  j["kernel_stack"] = {{"with_private_stacks", rep.kernelStackWith},
                       {"without_private_stacks", rep.kernelStackWithoutUnbounded
                                                      ? json(nullptr)
                                                      : json(rep.kernelStackWithout)},
                       {"without_private_stacks_at_least", rep.kernelStackWithoutAtLeast}};
  json viols = json::array();
  for (auto &v : rep.violations) {
    json jv = {{"kind", v.kind}, {"program", v.program}, {"message", v.message}};
    json tr = json::array();
    for (auto &st : v.trace) {
      json js = {{"event", st.event}, {"program", st.program}, {"function", st.function},
                 {"region", st.region}, {"lo", st.lo}, {"hi", st.hi}, {"clash", st.clash}};
      js["insn"] = st.insn ? json(*st.insn) : json(nullptr);
      if (st.source)
        js["source"] = st.source->str();
      tr.push_back(js);
    }
    jv["trace"] = tr;
    viols.push_back(jv);
  }
  j["violations"] = viols;
  return j;
}

} // namespace pstack
