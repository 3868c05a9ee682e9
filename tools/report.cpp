#include "tools/report.h"

#include <iomanip>
#include <sstream>

namespace pstack::cli {

uint32_t chainRounding(const Options &o) { return o.kernel == "6.1" ? 32 : 16; }

namespace {
std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string joinNames(const Object &obj, const Program &p) {
  std::string s;
  for (size_t f : p.functions) {
    if (!s.empty())
      s += " ";
    const Function &fn = obj.functions[f];
    s += fn.name + ":" + std::to_string(fn.frame.bytes) + (fn.frame.bounded ? "" : "?");
  }
  return s;
}
} // namespace

nlohmann::json toJson(const ObjectResult &r, const Options &o) {
  using nlohmann::json;
  json j;
  j["path"] = r.path;
  if (!r.object || !r.report) {
    j["verdict"] = "error";
    j["error"] = r.error;
    return j;
  }
  const Object &obj = *r.object;
  const CallGraph &g = *r.graph;
  const Report &rep = *r.report;
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
    if (o.scheme == "kernel")
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
      jf["frame_bounded"] = fn.frame.bounded;
      jf["insns"] = fn.insns.empty() ? 0 : fn.insns.back().index + (fn.insns.back().wide ? 2 : 1);
      if (!fn.frame.bounded) {
        json u = json::array();
        for (auto &a : fn.frame.unbounded)
          u.push_back({{"insn", a.insn}, {"reason", a.reason}});
        jf["unbounded"] = u;
      }
      fns.push_back(jf);
    }
    jp["functions"] = fns;
    auto chain = g.deepestChain(p, chainRounding(o));
    json path = json::array();
    for (size_t n : chain.path)
      path.push_back(obj.functions[g.nodes()[n].function].name);
    jp["deepest_chain"] = {{"bytes", chain.bytes}, {"frames", chain.frames}, {"path", path},
                           {"recursive", chain.recursive}, {"rounding", chainRounding(o)}};
    progs.push_back(jp);
  }
  j["programs"] = progs;
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
  for (auto &b : rep.buffers)
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
                                                      : json(rep.kernelStackWithout)}};
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

std::string toText(const ObjectResult &r, const Options &o) {
  std::ostringstream os;
  if (!r.object || !r.report) {
    os << r.path << ": error: " << r.error << "\n";
    return os.str();
  }
  const Object &obj = *r.object;
  const CallGraph &g = *r.graph;
  os << r.path << " (" << obj.programs.size() << " programs, " << obj.functions.size()
     << " functions, line info: " << (obj.lineInfoSource.empty() ? "none" : obj.lineInfoSource)
     << ")\n";
  struct Row {
    std::string cells[6];
  };
  std::vector<Row> rows;
  rows.push_back({{"Program", "Section", "Type", "Frames (bytes)",
                   "Deepest chain (" + std::string(o.kernel == "6.1" ? "6.1" : "6.13") + ")",
                   "Verdict"}});
  for (size_t p = 0; p < obj.programs.size(); ++p) {
    const Program &pr = obj.programs[p];
    auto chain = g.deepestChain(p, chainRounding(o));
    std::string c = std::to_string(chain.frames) + " frames, " + std::to_string(chain.bytes) + " B";
    if (chain.recursive)
      c += ", recursive";
    const ProgramReport &prr = r.report->programs.at(p);
    std::string verdict = verdictName(prr.verdict);
    if (o.scheme == "kernel" && prr.privateStack)
      verdict += " (private stack)";
    rows.push_back({{pr.name, pr.section, progTypeName(pr.type), joinNames(obj, pr), c, verdict}});
  }
  size_t w[6] = {0};
  for (auto &row : rows)
    for (int i = 0; i < 6; ++i)
      w[i] = std::max(w[i], row.cells[i].size());
  for (size_t k = 0; k < rows.size(); ++k) {
    for (int i = 0; i < 6; ++i)
      os << std::left << std::setw(i < 5 ? int(w[i]) : 0) << rows[k].cells[i] << (i < 5 ? "  " : "\n");
    if (k == 0) {
      for (int i = 0; i < 6; ++i)
        os << std::string(w[i], '-') << (i < 5 ? "  " : "\n");
    }
  }
  // Findings that keep a frame from being bounded: never silently dropped.
  for (auto &f : obj.functions)
    for (auto &u : f.frame.unbounded) {
      os << "  note: " << f.name << " insn " << u.insn;
      if (auto *in = f.insnAt(u.insn); in && in->loc)
        os << " (" << in->loc->str() << ")";
      os << ": " << u.reason << "; frame taken as " << f.frame.bytes << " B\n";
    }
  for (auto &c : g.cycles()) {
    os << "  note: recursion:";
    for (size_t n : c)
      os << " " << g.nodeName(n);
    os << "\n";
  }
  for (auto &f : obj.functions)
    for (auto &tc : f.tailCalls)
      if (!tc.resolved)
        os << "  note: " << f.name << " insn " << tc.insn << ": tail call through "
           << (tc.map ? *tc.map : std::string("an unknown map"))
           << " is unresolved: taken as reaching every compatible program ("
           << tc.targets.size() << ")\n";
  const Report &rep = *r.report;
  for (auto &p : rep.programs)
    if (p.verdict == Verdict::Unknown)
      os << "  unknown: " << p.name << ": " << p.reason << "\n";
  for (auto &v : rep.violations) {
    os << "\n" << v.kind << " in " << v.program << ": " << v.message << "\n";
    for (size_t i = 0; i < v.trace.size(); ++i) {
      const TraceStep &st = v.trace[i];
      os << "  " << (st.clash ? "*" : " ") << " #" << i << " " << std::left << std::setw(9)
         << st.event << " " << st.program << "/" << st.function;
      if (st.insn)
        os << " (from insn " << *st.insn << ")";
      os << "  " << st.region << " [" << st.lo << ", " << st.hi << ")";
      if (st.source)
        os << "  " << st.source->str() << (st.source->text.empty() ? "" : ": " + trim(st.source->text));
      os << "\n";
    }
  }
  bool atLeast = false;
  for (auto &b : rep.buffers)
    atLeast |= b.atLeast;
  if (!rep.planNote.empty())
    os << "  plan: " << rep.planNote << "\n";
  for (auto &[prog, offs] : rep.planOffsets) {
    os << "  plan " << prog << ":";
    for (auto &[fn, off] : offs)
      os << " " << fn << "@" << off;
    os << "\n";
  }
  if (!rep.engineDisagreement.empty())
    os << "  ENGINES DISAGREE (a bug of pstack-verify, please report): " << rep.engineDisagreement
       << "\n";
  os << "scheme " << schemeName(rep.scheme) << ": " << (atLeast ? "at least " : "")
     << rep.bytesPerCpu << " bytes per CPU in " << rep.buffers.size()
     << " buffers";
  if (rep.kernelBytesPerCpu)
    os << " (the kernel scheme: " << *rep.kernelBytesPerCpu << ")";
  os << "; kernel stack " << rep.kernelStackWith << " B";
  if (rep.scheme == Scheme::Kernel && o.kernel != "6.1") {
    if (rep.kernelStackWithoutUnbounded)
      os << " (unbounded without private stacks: a nesting cycle)";
    else
      os << " (" << rep.kernelStackWithout << " B without private stacks)";
  }
  os << "\nverdict: " << verdictName(rep.verdict) << "\n";
  return os.str();
}

} // namespace pstack::cli
