#include "model/reach.h"

#include <climits>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <tuple>

namespace pstack::detail {

TailReach tailReach(const System &sys) {
  TailReach tr;
  const size_t N = sys.nodes.size();
  tr.dist.assign(N, {});
  tr.firstEdge.assign(N, {});
  // one breadth-first search per node over dense scratch arrays (a prog
  // array of N programs that all tail-call each other has N^2 edges, so
  // each search looks at N^2 of them: no map lookup per edge)
  constexpr uint32_t kUnseen = UINT32_MAX;
  std::vector<uint32_t> dist(N, kUnseen);
  std::vector<size_t> first(N), order;
  for (size_t p = 0; p < N; ++p) {
    order.assign(1, p);
    dist[p] = 0;
    for (size_t head = 0; head < order.size(); ++head) {
      const size_t n = order[head];
      const auto &edges = sys.tailsFrom[n];
      for (size_t i = 0; i < edges.size(); ++i) {
        const size_t m = edges[i].to;
        if (dist[m] != kUnseen)
          continue;
        dist[m] = dist[n] + 1;
        first[m] = n == p ? i : first[n];
        order.push_back(m);
      }
      if (order.size() == N)
        break; // every node reached: nothing left to find
    }
    for (size_t m : order) {
      tr.dist[p].emplace(m, dist[m]);
      if (m != p)
        tr.firstEdge[p].emplace(m, first[m]);
      dist[m] = kUnseen;
    }
  }
  return tr;
}

std::vector<size_t> TailReach::path(const System &sys, size_t from, size_t to) const {
  std::vector<size_t> out;
  while (from != to) {
    size_t e = firstEdge[from].at(to);
    out.push_back(e);
    from = sys.tailsFrom[from][e].to;
  }
  return out;
}

std::vector<bool> nodesOnCycles(const System &sys) {
  // Tarjan's strongly connected components over push and tail edges
  const size_t N = sys.nodes.size();
  std::vector<int> index(N, -1), low(N, 0);
  std::vector<bool> onStack(N, false), cyclic(N, false);
  std::vector<size_t> stack;
  int counter = 0;
  std::function<void(size_t)> visit = [&](size_t v) {
    index[v] = low[v] = counter++;
    stack.push_back(v);
    onStack[v] = true;
    auto edge = [&](size_t w) {
      if (w == v)
        cyclic[v] = true;
      if (index[w] < 0) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (onStack[w]) {
        low[v] = std::min(low[v], index[w]);
      }
    };
    for (auto &e : sys.pushesFrom[v])
      edge(e.to);
    for (auto &e : sys.tailsFrom[v])
      edge(e.to);
    if (low[v] == index[v]) {
      std::vector<size_t> comp;
      size_t w;
      do {
        w = stack.back();
        stack.pop_back();
        onStack[w] = false;
        comp.push_back(w);
      } while (w != v);
      if (comp.size() > 1)
        for (size_t c : comp)
          cyclic[c] = true;
    }
  };
  for (size_t v = 0; v < N; ++v)
    if (index[v] < 0)
      visit(v);
  return cyclic;
}

std::optional<size_t> maxHeight(const System &sys, const TailReach &tr, size_t program,
                                HeightMemo *shared) {
  using Key = HeightMemo::Key;
  // A height computed to the end is the same whichever program's stack
  // the frame is in: kept in `shared`. What a call that found the stack
  // unbounded computed is not (its values are cut short): it stays local.
  HeightMemo local;
  std::map<Key, size_t> &memo = local.height;
  const std::map<Key, size_t> *known = shared ? &shared->height : nullptr;
  std::set<Key> onPath;
  bool unbounded = false;
  size_t work = 0;
  const bool guard = sys.opts.scheme == Scheme::Kernel;
  std::function<size_t(const Key &)> height = [&](const Key &k) -> size_t {
    if (unbounded)
      return 0;
    if (known)
      if (auto it = known->find(k); it != known->end())
        return it->second;
    if (auto it = memo.find(k); it != memo.end())
      return it->second;
    if (onPath.count(k) || ++work > 2000000) {
      unbounded = true;
      return 0;
    }
    onPath.insert(k);
    auto [n, depth, tc, async, below] = k;
    size_t best = 1;
    for (auto &e : sys.pushesFrom[n]) {
      size_t q = sys.nodes[e.to].program;
      uint32_t d2 = depth + 1, tc2 = tc;
      bool async2 = async;
      std::vector<bool> below2 = below;
      if (guard)
        below2[sys.nodes[n].program] = true;
      if (newActivation(e.kind)) {
        if (guard && sys.privateProgram[q] && below2[q])
          continue;
        if (e.kind == Event::Async && async)
          continue;
        async2 = async || e.kind == Event::Async;
        d2 = 1;
        tc2 = 0;
      } else if (depth >= sys.opts.maxCallDepth) {
        continue;
      }
      for (auto &[m, k2] : tr.dist[e.to]) {
        if (sys.tailLimit && tc2 + k2 > *sys.tailLimit)
          continue;
        // without a limit the count is not part of the state: a cycle then
        // shows as unbounded height
        uint32_t tc3 = sys.tailLimit ? tc2 + k2 : 0;
        best = std::max(best, 1 + height(Key{m, k2 ? 1u : d2, tc3, async2, below2}));
      }
    }
    onPath.erase(k);
    memo[k] = best;
    return best;
  };
  std::vector<bool> none(guard ? sys.obj.programs.size() : 0, false);
  size_t root = sys.entry(program);
  size_t best = 0;
  for (auto &[m, k2] : tr.dist[root]) {
    if (sys.tailLimit && k2 > *sys.tailLimit)
      continue;
    best = std::max(best, height(Key{m, 1, sys.tailLimit ? k2 : 0, false, none}));
  }
  if (unbounded)
    return std::nullopt;
  if (shared)
    shared->height.merge(memo);
  return best;
}

} // namespace pstack::detail
