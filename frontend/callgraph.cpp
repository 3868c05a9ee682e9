// Pass: call graph over (program, function) pairs.
// Reads:  Object (programs' reachable functions, calls, callbacks, tail calls).
// Writes: CallGraph nodes and edges; cycles via Boost's strong_components.
#include "frontend/frontend.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>
#include <cctype>
#include <tuple>

namespace pstack {

const char *edgeKindName(EdgeKind k) {
  switch (k) {
  case EdgeKind::Call: return "call";
  case EdgeKind::TailCall: return "tail_call";
  case EdgeKind::Callback: return "callback";
  case EdgeKind::Nest: return "nest";
  case EdgeKind::Reenter: return "reenter";
  }
  return "?";
}

uint32_t kernelFrameCost(uint32_t bytes, uint32_t round) {
  if (round >= 32) // the interpreter's granularity: even an empty frame counts
    bytes = std::max<uint32_t>(bytes, 1);
  return round ? (bytes + round - 1) / round * round : bytes;
}

CallGraph::CallGraph(const Object &obj) : obj_(obj) {
  std::map<std::string, size_t> fnIndex;
  for (size_t i = 0; i < obj.functions.size(); ++i)
    fnIndex[obj.functions[i].name] = i;
  for (size_t p = 0; p < obj.programs.size(); ++p)
    for (size_t f : obj.programs[p].functions) {
      index_.emplace(key(p, f), nodes_.size());
      nodes_.push_back({p, f});
    }
  std::map<std::string, size_t> progIndex;
  for (size_t p = 0; p < obj.programs.size(); ++p)
    progIndex[obj.programs[p].name] = p;
  // each function's callees and tail-call targets by index, found once (a
  // function is a node of every program that links it)
  struct Targets {
    bool made = false;
    std::vector<size_t> calls, callbacks;            // function indices
    std::vector<std::vector<size_t>> tails;          // per site: program indices
  };
  std::vector<Targets> targets(obj.functions.size());
  auto targetsOf = [&](size_t f) -> const Targets & {
    Targets &t = targets[f];
    if (t.made)
      return t;
    t.made = true;
    for (auto &c : obj.functions[f].calls)
      if (c.kind == CallKind::Local)
        t.calls.push_back(fnIndex.at(c.target));
    for (auto &cb : obj.functions[f].callbacks)
      t.callbacks.push_back(fnIndex.at(cb.callback));
    for (auto &tc : obj.functions[f].tailCalls) {
      auto &to = t.tails.emplace_back();
      for (auto &name : tc.targets)
        if (auto it = progIndex.find(name); it != progIndex.end())
          to.push_back(it->second);
    }
    return t;
  };
  auto at = [&](size_t p, size_t f) {
    auto it = index_.find(key(p, f));
    if (it == index_.end())
      throw std::out_of_range("call graph: no node for a callee");
    return it->second;
  };
  for (size_t n = 0; n < nodes_.size(); ++n) {
    auto [p, f] = std::pair{nodes_[n].program, nodes_[n].function};
    const Function &fn = obj.functions[f];
    const Targets &t = targetsOf(f);
    size_t k = 0;
    for (auto &c : fn.calls)
      if (c.kind == CallKind::Local)
        edges_.push_back({n, at(p, t.calls[k++]), EdgeKind::Call, c.insn, true, false});
    k = 0;
    for (auto &cb : fn.callbacks)
      edges_.push_back({n, at(p, t.callbacks[k++]), EdgeKind::Callback, cb.insn, true, cb.async});
    k = 0;
    for (auto &tc : fn.tailCalls)
      for (size_t q : t.tails[k++])
        edges_.push_back({n, at(q, obj.programs[q].entry), EdgeKind::TailCall, tc.insn,
                          tc.resolved, false});
  }
  // the edges that build one chain, by caller (a prog array of 1,000
  // programs has a million tail edges: not scanned once per frame)
  chainOut_.assign(nodes_.size(), {});
  for (auto &e : edges_)
    if (e.kind != EdgeKind::TailCall && !(e.kind == EdgeKind::Callback && e.async))
      chainOut_[e.from].push_back(e.to);
}

std::optional<size_t> CallGraph::node(size_t program, size_t function) const {
  auto it = index_.find(key(program, function));
  if (it == index_.end())
    return std::nullopt;
  return it->second;
}

std::string CallGraph::nodeName(size_t n) const {
  return obj_.programs[nodes_[n].program].name + "/" + obj_.functions[nodes_[n].function].name;
}

std::vector<std::vector<size_t>> CallGraph::cycles() const {
  using G = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  G g(nodes_.size());
  std::set<size_t> selfLoop;
  for (auto &e : edges_) {
    boost::add_edge(e.from, e.to, g);
    if (e.from == e.to)
      selfLoop.insert(e.from);
  }
  std::vector<int> comp(nodes_.size());
  int n = nodes_.empty() ? 0 : boost::strong_components(g, comp.data());
  std::vector<std::vector<size_t>> groups(n);
  for (size_t v = 0; v < nodes_.size(); ++v)
    groups[comp[v]].push_back(v);
  std::vector<std::vector<size_t>> out;
  for (auto &grp : groups)
    if (grp.size() > 1 || (grp.size() == 1 && selfLoop.count(grp[0])))
      out.push_back(grp);
  std::sort(out.begin(), out.end());
  return out;
}

CallGraph::Chain CallGraph::deepestChain(size_t program, uint32_t round) const {
  Chain best;
  auto cost = [&](size_t n) {
    return kernelFrameCost(obj_.functions[nodes_[n].function].frame.bytes, round);
  };
  auto start = node(program, obj_.programs[program].entry);
  if (!start)
    return best;
  std::vector<size_t> path;
  std::vector<bool> onPath(nodes_.size(), false);
  std::function<void(size_t, uint32_t)> dfs = [&](size_t n, uint32_t sum) {
    path.push_back(n);
    onPath[n] = true;
    sum += cost(n);
    if (sum > best.bytes || (sum == best.bytes && path.size() > best.frames)) {
      best.bytes = sum;
      best.frames = uint32_t(path.size());
      best.path = path;
    }
    for (size_t to : chainOut_[n]) {
      if (onPath[to]) {
        best.recursive = true;
        continue;
      }
      if (path.size() < 64) // far beyond the kernel's 8 frames
        dfs(to, sum);
    }
    onPath[n] = false;
    path.pop_back();
  };
  dfs(*start, 0);
  // frames: the longest chain in frames may differ from the deepest in bytes
  uint32_t maxFrames = 0;
  std::function<void(size_t, uint32_t)> depth = [&](size_t n, uint32_t d) {
    onPath[n] = true;
    maxFrames = std::max(maxFrames, d);
    for (size_t to : chainOut_[n])
      if (!onPath[to] && d < 64)
        depth(to, d + 1);
    onPath[n] = false;
  };
  depth(*start, 1);
  best.frames = std::max(best.frames, maxFrames);
  return best;
}

std::string CallGraph::dot(const std::map<size_t, std::string> &fill,
                           const std::set<std::pair<size_t, size_t>> &highlight) const {
  std::ostringstream os;
  os << "digraph callgraph {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (size_t p = 0; p < obj_.programs.size(); ++p) {
    os << "  subgraph \"cluster_" << obj_.programs[p].name << "\" {\n    label=\""
       << obj_.programs[p].name << " (" << obj_.programs[p].section << ")\";\n";
    for (size_t n = 0; n < nodes_.size(); ++n)
      if (nodes_[n].program == p) {
        const Function &f = obj_.functions[nodes_[n].function];
        os << "    n" << n << " [label=\"" << f.name << "\\n" << f.frame.bytes << " B"
           << (f.frame.bounded ? "" : " (unbounded)") << "\""
           << (f.isProgram ? ", penwidth=2" : "");
        if (auto it = fill.find(n); it != fill.end())
          os << ", style=filled, fillcolor=\"" << it->second << "\"";
        os << "];\n";
      }
    os << "  }\n";
  }
  // An unresolved tail call may reach every compatible program: one edge
  // per call site to a node for its prog array, not one per target (a
  // 1,000-program array would draw a million edges). A target on the
  // highlighted path keeps its own edge.
  std::map<std::string, size_t> arrays; // map name ("" unknown) -> targets
  std::set<std::tuple<size_t, uint32_t>> drawnToArray;
  auto arrayOf = [&](const GraphEdge &e) {
    const Function &f = obj_.functions[nodes_[e.from].function];
    for (auto &tc : f.tailCalls)
      if (tc.insn == e.insn)
        return std::pair{tc.map.value_or(""), tc.targets.size()};
    return std::pair{std::string(), size_t(0)};
  };
  auto arrayNode = [](const std::string &map) {
    std::string id = "array_";
    for (char c : map)
      id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return id;
  };
  for (auto &e : edges_) {
    bool red = highlight.count({e.from, e.to}) != 0;
    std::string to = "n" + std::to_string(e.to);
    if (e.kind == EdgeKind::TailCall && !e.resolved && !red) {
      auto [map, n] = arrayOf(e);
      arrays[map] = std::max(arrays[map], n);
      if (!drawnToArray.insert({e.from, e.insn}).second)
        continue;
      to = arrayNode(map);
    }
    os << "  n" << e.from << " -> " << to << " [label=\"" << edgeKindName(e.kind) << " @" << e.insn << "\"";
    // one colour per edge: the counterexample's red wins
    std::string color = red                                            ? "red"
                        : e.kind == EdgeKind::TailCall                 ? "blue"
                        : e.kind == EdgeKind::Callback && e.async      ? "orange"
                                                                       : "";
    if (e.kind == EdgeKind::TailCall)
      os << ", style=dashed" << (e.resolved ? "" : ", fontcolor=red");
    else if (e.kind == EdgeKind::Callback)
      os << ", style=dotted";
    if (!color.empty())
      os << ", color=" << color;
    if (red)
      os << ", penwidth=3";
    os << "];\n";
  }
  for (auto &[map, n] : arrays)
    os << "  " << arrayNode(map) << " [shape=cylinder, label=\"prog array "
       << (map.empty() ? "(unknown map)" : map) << "\\nunresolved slot: any of " << n
       << " programs\", color=blue];\n";
  os << "  legend [shape=plaintext, fontname=\"sans\", label=\"legend\\l"
        "solid: BPF-to-BPF call\\l"
        "dashed blue: tail call (red label: slot not known)\\l"
        "dotted: callback (orange: async)\\l"
        "red, bold: the first counterexample's path\\l"
        "fill: green safe, pink unsafe, khaki unknown\\l"
        "bold box: a program's entry\\l\"];\n";
  os << "}\n";
  return os.str();
}

} // namespace pstack
