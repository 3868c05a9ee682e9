#include "tools/report.h"

#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace pstack::cli {

uint32_t chainRounding(const Options &o) { return o.kernel == "6.1" ? 32 : 16; }

namespace {
// the kernel whose rounding the chain column uses: "running" says which
std::string chainKernel(const Report &rep, const Options &o) {
  if (rep.kernel.release.empty())
    return o.kernel;
  return rep.kernel.name + " " + rep.kernel.release;
}

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Lines around a step's source line, from the file when it is there (the
// object names it), else the line BTF carries; `>` marks the line itself.
std::string sourceContext(const SourceLoc &loc) {
  static std::map<std::string, std::vector<std::string>> files;
  auto it = files.find(loc.file);
  if (it == files.end()) {
    std::vector<std::string> lines;
    std::ifstream in(loc.file);
    for (std::string l; std::getline(in, l);)
      lines.push_back(l);
    it = files.emplace(loc.file, std::move(lines)).first;
  }
  std::ostringstream os;
  const auto &lines = it->second;
  if (lines.size() < loc.line) {
    if (!loc.text.empty())
      os << "        > " << std::setw(5) << loc.line << " | " << loc.text << "\n";
    return os.str();
  }
  uint32_t from = loc.line > 2 ? loc.line - 2 : 1, to = std::min<uint32_t>(loc.line + 2, lines.size());
  for (uint32_t l = from; l <= to; ++l) {
    os << "        " << (l == loc.line ? '>' : ' ') << " " << std::setw(5) << l << " | "
       << lines[l - 1] << "\n";
    if (l == loc.line && loc.column) {
      // under the column, keeping the line's tabs so that it lines up
      std::string pad = lines[l - 1].substr(0, loc.column - 1);
      for (auto &c : pad)
        if (c != '\t')
          c = ' ';
      os << "                | " << pad << "^\n";
    }
  }
  return os.str();
}

// A table cell: the first functions, then how many more (a program of
// 10,000 functions would otherwise be one line of 150 KB; JSON has them all).
std::string joinNames(const Object &obj, const Program &p) {
  constexpr size_t kShown = 12;
  std::string s;
  for (size_t i = 0; i < p.functions.size() && i < kShown; ++i) {
    if (!s.empty())
      s += " ";
    const Function &fn = obj.functions[p.functions[i]];
    s += fn.name + ":" + std::to_string(fn.frame.bytes) + (fn.frame.bounded ? "" : "?");
  }
  if (p.functions.size() > kShown)
    s += " ... " + std::to_string(p.functions.size() - kShown) + " more";
  return s;
}
} // namespace

nlohmann::json toJson(const ObjectResult &r, const Options &) {
  if (!r.object || !r.report)
    return {{"path", r.path}, {"verdict", "error"}, {"error", r.error}};
  nlohmann::json j = reportJson(r.path, *r.object, *r.graph, *r.report);
  if (!r.envFile.empty())
    j["env"] = r.envFile;
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
  auto plural = [](size_t n, const char *word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
  };
  if (obj.programs.empty()) {
    // only .text: subprograms no program calls; nothing runs, nothing to prove
    os << r.path << ": no programs (" << plural(obj.functions.size(), "function")
       << ", none in a program section)\nverdict: none\n";
    return os.str();
  }
  os << r.path << " (" << plural(obj.programs.size(), "program") << ", "
     << plural(obj.functions.size(), "function")
     << ", line info: " << (obj.lineInfoSource.empty() ? "none" : obj.lineInfoSource) << ")\n";
  struct Row {
    std::string cells[6];
  };
  std::vector<Row> rows;
  rows.push_back({{"Program", "Section", "Type", "Frames (bytes)",
                   "Deepest chain (" + chainKernel(*r.report, o) + ")",
                   "Verdict"}});
  for (size_t p = 0; p < obj.programs.size(); ++p) {
    const Program &pr = obj.programs[p];
    auto chain = g.deepestChain(p, r.report->kernel.round);
    std::string c = std::to_string(chain.frames) + (chain.frames == 1 ? " frame, " : " frames, ") +
                    std::to_string(chain.bytes) + " B";
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
      os << "  note: " << f.name << " insn " << f.sectionInsn(u.insn); // as llvm-objdump numbers it
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
      if (o.explain && st.source)
        os << sourceContext(*st.source);
    }
  }
  bool atLeast = false;
  for (auto &b : rep.layout.buffers)
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
     << rep.bytesPerCpu << " bytes per CPU in " << rep.layout.buffers.size()
     << (rep.layout.buffers.size() == 1 ? " buffer" : " buffers");
  if (rep.kernelBytesPerCpu)
    os << " (the kernel scheme: " << *rep.kernelBytesPerCpu << ")";
  os << "; kernel stack " << rep.kernelStackWith << " B";
  if (rep.scheme == Scheme::Kernel && rep.kernel.hasPrivateStacks()) {
    if (rep.kernelStackWithoutUnbounded)
      os << " (unbounded without private stacks: a nesting cycle)";
    else
      os << " (" << (rep.kernelStackWithoutAtLeast ? "at least " : "") << rep.kernelStackWithout
         << " B without private stacks)";
  }
  os << "\nverdict: " << verdictName(rep.verdict) << "\n";
  return os.str();
}

std::string toDot(const ObjectResult &r) {
  const CallGraph &g = *r.graph;
  std::map<size_t, std::string> fill;
  std::set<std::pair<size_t, size_t>> path;
  if (r.report) {
    for (size_t n = 0; n < g.nodes().size(); ++n) {
      Verdict v = r.report->programs.at(g.nodes()[n].program).verdict;
      fill[n] = v == Verdict::Safe ? "palegreen" : v == Verdict::Unsafe ? "lightpink" : "khaki";
    }
    // the first counterexample: each step acts on the frame of the one before
    if (!r.report->violations.empty()) {
      std::map<std::string, size_t> byName;
      for (size_t n = 0; n < g.nodes().size(); ++n)
        byName[g.nodeName(n)] = n;
      const auto &trace = r.report->violations.front().trace;
      for (size_t i = 1; i < trace.size(); ++i) {
        auto a = byName.find(trace[i - 1].program + "/" + trace[i - 1].function);
        auto b = byName.find(trace[i].program + "/" + trace[i].function);
        if (a != byName.end() && b != byName.end())
          path.insert({a->second, b->second});
      }
    }
  }
  return g.dot(fill, path);
}

} // namespace pstack::cli
