// Pass: the explicit engine.
// Reads:  System (edges, placement), Bounds.
// Writes: EngineResult — first violation of each kind with its path, the
//         highest byte of every region, frames that can be live together.
// Invariant: breadth first over activation stacks, so the first violation
//         of a kind has the fewest events; a search cut short (states, stack
//         height, time) without a violation is `unknown`, never `safe`.
#include "model/engine.h"

#include <chrono>
#include <deque>
#include <set>
#include <unordered_map>

namespace pstack::detail {

namespace {
constexpr size_t kMaxStates = 200000;
constexpr size_t kMaxHeight = 256;

// The fields that make two stacks the same state, packed as raw bytes
// (a hash key; this runs for every transition, so no text formatting).
std::string stateKey(const std::vector<FrameState> &st) {
  std::string k;
  k.reserve(st.size() * 33);
  auto put = [&](const auto &v) { k.append(reinterpret_cast<const char *>(&v), sizeof v); };
  for (auto &f : st) {
    put(uint64_t(f.node));
    put(int32_t(f.region));
    put(int64_t(f.lo));
    put(uint32_t(f.tailCount));
    put(uint32_t(f.depth));
    put(uint8_t(f.asyncLive));
  }
  return k;
}
} // namespace

EngineResult explicitEngine(const System &sys, const Bounds &b, size_t program, const Deadline &dl) {
  EngineResult res;
  struct Node {
    std::vector<FrameState> stack;
    int parent = -1;
    Choice choice;
  };
  std::vector<Node> states;
  std::deque<int> queue;
  std::unordered_map<std::string, int> seen;
  std::set<std::pair<size_t, size_t>> coLive;
  std::set<std::string> kinds;

  auto pathTo = [&](int idx) {
    std::vector<Choice> path;
    for (int i = idx; states[i].parent >= 0; i = states[i].parent)
      path.push_back(states[i].choice);
    return std::vector<Choice>(path.rbegin(), path.rend());
  };
  auto add = [&](std::vector<FrameState> st, int parent, Choice c) {
    std::string k = stateKey(st);
    if (seen.count(k))
      return;
    states.push_back({std::move(st), parent, c});
    int idx = int(states.size() - 1);
    seen[k] = idx;
    const auto &stack = states[idx].stack;
    const FrameState &top = stack.back();
    if (top.region != 0)
      res.regionHi[top.region] = std::max(res.regionHi[top.region], top.hi);
    res.kernelStackMax = std::max(res.kernelStackMax, top.kernelStack);
    for (size_t i = 0; i + 1 < stack.size(); ++i) {
      coLive.insert({std::min(stack[i].node, top.node), std::max(stack[i].node, top.node)});
      res.nodeLiveTwice |= stack[i].node == top.node;
    }
    if (auto p = checkTop(sys, b, stack)) {
      // a violating state is not expanded; keep the first of each kind
      if (kinds.insert(p->kind).second) {
        auto history = replay(sys, program, pathTo(idx));
        if (!history)
          throw std::logic_error("explicit engine: a path it found does not replay");
        res.violations.push_back(makeViolation(sys, program, *history, *p));
      }
      return;
    }
    queue.push_back(idx);
  };
  add({sys.enter(program)}, -1, {});
  bool cut = false;
  while (!queue.empty()) {
    if (states.size() > kMaxStates) {
      cut = true;
      res.reason = "more than " + std::to_string(kMaxStates) + " activation stacks";
      break;
    }
    if (dl.expired()) {
      cut = true;
      res.reason = dl.reason();
      break;
    }
    int idx = queue.front();
    queue.pop_front();
    const std::vector<FrameState> st = states[idx].stack;
    const FrameState &top = st.back();
    if (st.size() >= kMaxHeight) {
      cut = true;
      res.reason = "activation stacks higher than " + std::to_string(kMaxHeight) + " frames";
      continue;
    }
    const auto &pushes = sys.pushesFrom[top.node];
    for (size_t i = 0; i < pushes.size(); ++i)
      if (auto f = sys.push(top, pushes[i])) {
        auto next = st;
        next.push_back(*f);
        add(std::move(next), idx, {false, i});
      }
    const auto &tails = sys.tailsFrom[top.node];
    for (size_t i = 0; i < tails.size(); ++i)
      if (auto f = sys.tail(top, tails[i])) {
        auto next = st;
        next.back() = *f;
        add(std::move(next), idx, {true, i});
      }
  }
  res.states = states.size();
  res.coLive.assign(coLive.begin(), coLive.end());
  if (!res.violations.empty())
    res.verdict = Verdict::Unsafe;
  else if (cut)
    res.verdict = Verdict::Unknown;
  else
    res.verdict = Verdict::Safe;
  return res;
}

} // namespace pstack::detail
