// Pass: the explicit engine.
// Reads:  System (edges, placement), Bounds.
// Writes: EngineResult — first violation of each kind with its path, the
//         highest byte of every region, frames that can be live together.
// Invariant: breadth first over activation stacks, so the first violation
//         of a kind has the fewest events; a search cut short (states, stack
//         height, time) without a violation is `unknown`, never `safe`.
#include "model/engine.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <deque>
#include <set>
#include <unordered_map>

namespace pstack::detail {

namespace {
constexpr size_t kMaxStates = 200000;
constexpr size_t kMaxHeight = 256;

// The programs live below a frame, a bit each, 8 to a byte.
void putPrograms(std::string &k, const std::vector<bool> &below) {
  uint8_t byte = 0;
  for (size_t i = 0; i < below.size(); ++i) {
    byte |= uint8_t(below[i]) << (i % 8);
    if (i % 8 == 7 || i + 1 == below.size()) {
      k.push_back(char(byte));
      byte = 0;
    }
  }
}

// What makes two stacks the same state, packed as raw bytes (a hash key;
// this runs for every transition, so no text formatting). Frames below the
// top never act again (stacks only grow or have their top replaced), so of
// them only what the properties read counts: node, region and bytes (hi is
// lo + the node's frame). Kernel-stack frames below the top not even that:
// they lie one after another and never alias, and the only thing of theirs
// a property or a transition reads is how deep they reach — the top's
// kernelStack — and which programs they belong to (the recursion counter:
// the top's programsBelow). Without this, two programs that tail-call each
// other from under their subprogs' frames made 2^33 stacks that differ only
// in which program's frames lie below. The top's tail-call count is left
// out: it is compared on its own (see `seen` below).
// `rootRegion`: the buffer keyed as -1 (see symmetricRoots), or none.
// `recursionCounter`: whether programsBelow can forbid a transition (some
// program has a private stack and something starts new activations);
// otherwise it is left out of the key (packing it cost 70% of a search over
// a 1,000-program array).
//
// `kernelStack`: whether the top's kernel-stack depth is part of the key.
// The search leaves it out (see `seen` below: a deeper kernel stack covers
// a shallower one); the cache of earlier searches keeps it.
void putFrame(std::string &k, const FrameState &f, bool top, int32_t rootRegion,
              bool recursionCounter, bool kernelStack = true) {
  auto put = [&](const auto &v) { k.append(reinterpret_cast<const char *>(&v), sizeof v); };
  if (!top && f.region == 0)
    return;
  put(uint64_t(f.node));
  put(int32_t(f.region == rootRegion ? -1 : f.region));
  if (f.region != 0 || kernelStack) // (a kernel-stack frame's lo is its depth)
    put(int64_t(f.lo));
  if (top) {
    put(uint32_t(f.depth));
    put(uint8_t(f.asyncLive));
    if (kernelStack)
      put(int64_t(f.kernelStack));
    if (recursionCounter && f.programsBelow)
      putPrograms(k, *f.programsBelow);
  }
}
void putCount(std::string &k, uint32_t tailCount) {
  k.append(reinterpret_cast<const char *>(&tailCount), sizeof tailCount);
}
constexpr int32_t kNoRoot = INT32_MIN;

// Under per-prog, the searches of two programs differ only in whose buffer
// the frames are in — as long as every frame is r9-relative (no own or
// planned buffer) and nothing starts a new activation (nesting, re-entry,
// an async callback), which could enter the other program's buffer. Then
// the root program's buffer is keyed as -1 (with its bound), and one
// program's safe search serves the next (ExploreCache), its bytes moved to
// the next program's buffer.
bool symmetricRoots(const System &sys) {
  for (auto &ni : sys.nodes)
    if (ni.placement != Placement::Relative)
      return false;
  for (auto &edges : sys.pushesFrom)
    for (auto &e : edges)
      if (newActivation(e.kind))
        return false;
  return true;
}
} // namespace

EngineResult explicitEngine(const System &sys, const Bounds &b, size_t program, const Deadline &dl,
                            ExploreCache *cache) {
  EngineResult res;
  const bool recursionCounter = sys.recursionCounter;
  const bool wantCoLive = !cache || cache->coLive;
  struct Node {
    std::vector<FrameState> stack;
    int parent = -1;
    Choice choice;
  };
  // (a deque: a state's stack stays where it is while others are added,
  // so it is expanded in place, not copied)
  std::deque<Node> states;
  std::deque<int> queue;
  // Key (without the top's tail-call count and kernel-stack depth) -> the
  // (count, depth) pairs it was reached with, none covering another. A state
  // reached again with as many tail calls or more and a kernel stack as
  // shallow or shallower is covered: the count only ever forbids tail calls
  // (System::tail), and the depth only moves kernel-stack frames up (no
  // guard reads it; frames in buffers do not depend on it; the one property
  // that reads it, the kernel-stack budget, is monotone in it), so every
  // path from the later state is a path from the earlier one through the
  // same frames, its kernel-stack bytes no higher; what is reported (bytes
  // reached, frames live together) is the earlier one's or below. Reached
  // with fewer tail calls or a deeper stack, it is explored again. Without
  // the count, a prog array of N programs that tail-call each other has N x
  // 34 states per program instead of N; without the depth, tail calls from
  // under subprogs' frames make a state per reachable sum of those frames.
  struct Reached {
    uint32_t tailCount;
    int64_t kernelStack;
  };
  std::unordered_map<std::string, std::vector<Reached>> seen;
  std::string cacheKey;
  std::set<std::pair<size_t, size_t>> coLive;
  std::set<std::string> kinds;
  std::set<uint32_t> merged; // cache summaries taken in

  auto pathTo = [&](int idx) {
    std::vector<Choice> path;
    for (int i = idx; states[i].parent >= 0; i = states[i].parent)
      path.push_back(states[i].choice);
    return std::vector<Choice>(path.rbegin(), path.rend());
  };
  // `below`: the stack under the new top (the parent's stack, whose top is
  // kept for a push and replaced for a tail call); `prefix`: its key.
  std::string key;
  int32_t rootRegion = kNoRoot;
  std::string header; // every key starts with it
  if (cache) {
    if (!cache->symmetric)
      cache->symmetric = symmetricRoots(sys);
    if (*cache->symmetric) {
      rootRegion = sys.enter(program).region;
      auto bound = b.region.find(rootRegion);
      int64_t bytes = bound == b.region.end() ? -1 : bound->second;
      header.assign(reinterpret_cast<const char *>(&bytes), sizeof bytes);
    }
  }
  auto fromKey = [&](int r) { return r == -1 && rootRegion != kNoRoot ? int(rootRegion) : r; };
  auto toKey = [&](int r) { return r == rootRegion ? -1 : r; };
  auto add = [&](const std::vector<FrameState> &below, size_t keep, const std::string &prefix,
                 FrameState &&top, int parent, Choice c) {
    key.assign(prefix);
    putFrame(key, top, true, rootRegion, recursionCounter, false);
    auto &front = seen[key];
    for (const Reached &r : front)
      if (r.tailCount <= top.tailCount && r.kernelStack >= top.kernelStack)
        return;
    std::erase_if(front, [&](const Reached &r) {
      return r.tailCount >= top.tailCount && r.kernelStack <= top.kernelStack;
    });
    front.push_back({top.tailCount, top.kernelStack});
    if (cache) {
      // a state an earlier safe search went on from (see ExploreCache)
      cacheKey.assign(prefix);
      putFrame(cacheKey, top, true, rootRegion, recursionCounter);
      putCount(cacheKey, top.tailCount);
      auto hit = cache->states.find(cacheKey);
      // taken only where it adds nothing per program beyond the state
      // itself: its kernel stack, and (buffers alike up to the root's) the
      // root buffer's bytes (ExploreCache)
      auto exact = [&](const ExploreCache::Summary &sum) {
        if (sum.kernelStackMax != top.kernelStack)
          return false;
        if (rootRegion == kNoRoot)
          return true;
        auto most = sum.regionHi.find(-1);
        if (most == sum.regionHi.end())
          return true;
        int64_t own = top.region == rootRegion ? sys.reach(top) : 0;
        for (size_t i = 0; i < keep; ++i)
          if (below[i].region == rootRegion)
            own = std::max(own, sys.reach(below[i]));
        return most->second == own;
      };
      if (hit != cache->states.end() && exact(cache->summaries[hit->second])) {
        ++cache->hits;
        if (merged.insert(hit->second).second) {
          const auto &sum = cache->summaries[hit->second];
          for (auto &[r, hi] : sum.regionHi)
            res.regionHi[fromKey(r)] = std::max(res.regionHi[fromKey(r)], hi);
          res.kernelStackMax = std::max(res.kernelStackMax, sum.kernelStackMax);
          if (wantCoLive)
            coLive.insert(sum.coLive.begin(), sum.coLive.end());
          res.nodeLiveTwice |= sum.nodeLiveTwice;
        }
        return;
      }
    }
    std::vector<FrameState> st(below.begin(), below.begin() + keep);
    st.push_back(std::move(top));
    states.push_back({std::move(st), parent, c});
    int idx = int(states.size() - 1);
    const auto &stack = states[idx].stack;
    const FrameState &t = stack.back();
    if (t.region != 0)
      res.regionHi[t.region] = std::max(res.regionHi[t.region], sys.reach(t));
    res.kernelStackMax = std::max(res.kernelStackMax, t.kernelStack);
    for (size_t i = 0; i + 1 < stack.size(); ++i) {
      if (wantCoLive)
        coLive.insert({std::min(stack[i].node, t.node), std::max(stack[i].node, t.node)});
      res.nodeLiveTwice |= stack[i].node == t.node;
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
  add({}, 0, header, sys.enter(program), -1, {});
  bool cut = false;
  std::string pushPrefix, tailPrefix;
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
    const std::vector<FrameState> &st = states[idx].stack;
    const FrameState &top = st.back();
    if (st.size() >= kMaxHeight) {
      cut = true;
      res.reason = "activation stacks higher than " + std::to_string(kMaxHeight) + " frames";
      continue;
    }
    tailPrefix = header;
    for (size_t i = 0; i + 1 < st.size(); ++i)
      putFrame(tailPrefix, st[i], false, rootRegion, recursionCounter);
    pushPrefix = tailPrefix;
    putFrame(pushPrefix, top, false, rootRegion, recursionCounter);
    const auto &pushes = sys.pushesFrom[top.node];
    for (size_t i = 0; i < pushes.size(); ++i)
      if (auto f = sys.push(top, pushes[i]))
        add(st, st.size(), pushPrefix, std::move(*f), idx, {false, i});
    const auto &tails = sys.tailsFrom[top.node];
    for (size_t i = 0; i < tails.size(); ++i)
      if (auto f = sys.tail(top, tails[i]))
        add(st, st.size() - 1, tailPrefix, std::move(*f), idx, {true, i});
  }
  res.states = states.size();
  res.coLive.assign(coLive.begin(), coLive.end());
  if (!res.violations.empty())
    res.verdict = Verdict::Unsafe;
  else if (cut)
    res.verdict = Verdict::Unknown;
  else
    res.verdict = Verdict::Safe;
  if (cache && res.verdict == Verdict::Safe) {
    const auto id = uint32_t(cache->summaries.size());
    auto rank = [](const ExploreCache::Summary &s) {
      auto root = s.regionHi.find(-1);
      return std::pair{s.kernelStackMax, root == s.regionHi.end() ? int64_t(0) : root->second};
    };
    std::map<int, int64_t> regionHi; // the root's buffer as -1
    for (auto &[r, hi] : res.regionHi)
      regionHi[toKey(r)] = hi;
    cache->summaries.push_back({regionHi, res.kernelStackMax, res.coLive, res.nodeLiveTwice});
    for (auto &n : states) {
      key = header;
      for (size_t i = 0; i < n.stack.size(); ++i)
        putFrame(key, n.stack[i], i + 1 == n.stack.size(), rootRegion, recursionCounter);
      putCount(key, n.stack.back().tailCount);
      // where several searches saw it, keep the smallest summary: the one
      // a later search can take exactly
      auto [it, fresh] = cache->states.try_emplace(key, id);
      if (!fresh && rank(cache->summaries[it->second]) > rank(cache->summaries[id]))
        it->second = id;
    }
  }
  return res;
}



// Pass: the summary engine — the explicit search of every program at once.
// Reads:  System (edges, placement), Bounds.
// Writes: per program, the explicit engine's result when that program is
//         safe (the same verdict, bytes per buffer and kernel stack as its
//         own search); nothing where a violation, a cut (height) or a
//         system it does not handle leaves the program to explicitEngine.
// Invariant: a state's future is a function of its key (the search's
//         `seen` key: frames in buffers, the top, without its kernel-stack
//         depth) and its tail-call count, up to moving every kernel-stack
//         frame by the same bytes (explicitEngine says why). So one graph of
//         keys serves every program, and what each key reaches is computed
//         once, for each tail-call count: layer t is the key's future with t
//         tail calls made. Pushes (calls, synchronous callbacks) stay in a
//         layer and go one frame deeper, tail calls go to layer t + 1, an
//         async callback starts layer 0 of the keys where one is live (those
//         never start another: computed first). Layer t only depends on
//         layer t + 1 by the same rule for every t below the limit, so once
//         two layers agree every layer below is the same.
namespace {
// A key's future, relative to the key's own kernel-stack depth and height.
struct Future {
  int64_t ks = 0;   // deepest kernel stack reached, minus the key's own
  uint32_t h = 0;   // highest stack, minus the key's own height
  bool bad = false; // some state breaks a property other than the kernel-stack budget
  std::vector<std::pair<int, int64_t>> regions; // highest byte per buffer, by region id
  bool operator==(const Future &) const = default;
};
void mergeRegions(std::vector<std::pair<int, int64_t>> &into,
                  const std::vector<std::pair<int, int64_t>> &from) {
  if (from.empty())
    return;
  std::vector<std::pair<int, int64_t>> out;
  out.reserve(into.size() + from.size());
  size_t i = 0, j = 0;
  while (i < into.size() || j < from.size()) {
    if (j == from.size() || (i < into.size() && into[i].first < from[j].first))
      out.push_back(into[i++]);
    else if (i == into.size() || from[j].first < into[i].first)
      out.push_back(from[j++]);
    else {
      out.push_back({into[i].first, std::max(into[i].second, from[j].second)});
      ++i, ++j;
    }
  }
  into = std::move(out);
}
} // namespace

bool summaryHandles(const System &sys, bool symmetricToo) {
  // Without a tail-call limit a chain of tail calls from under subprogs
  // grows without bound (no layers end it); nesting and re-entry start
  // activations that can start more: the search decides those alone.
  if (!sys.tailLimit)
    return false;
  for (auto &edges : sys.pushesFrom)
    for (auto &e : edges)
      if (e.kind == Event::Nest || e.kind == Event::Reenter)
        return false;
  // Every frame r9-relative: a tail call keeps the caller's buffer, so the
  // states of N programs that tail-call each other are N x N here, where
  // the program-by-program searches share one program's (symmetricRoots).
  return symmetricToo || !symmetricRoots(sys);
}

namespace {
// The summary graph's keys, as putFrame spells them (kernel stack left out)
// but without the text: a stack's key is its prefix (the frames below the
// top that putFrame keys: those in buffers) and its top. Prefixes are
// interned as a trie (the prefix below, one frame), so a key is a few
// words, hashed and compared as such. Equal keys here are exactly equal
// putFrame strings: its records have fixed lengths (a frame below 20 bytes,
// a top 17 or 25, plus, where the recursion counter is keyed, one byte per
// 8 programs: programsBelow is always set, to one bit per program), so no
// two stacks of different shapes spell one string.
struct PrefixKey {
  uint32_t parent = 0;
  int32_t region = 0;
  uint64_t node = 0;
  int64_t lo = 0;
  bool operator==(const PrefixKey &) const = default;
};
struct TopKey {
  uint32_t prefix = 0;
  int32_t region = 0;
  uint64_t node = 0;
  int64_t lo = 0;       // (0 on the kernel stack: not keyed)
  uint32_t depth = 0;
  uint32_t below = 0;   // programsBelow's bytes, interned (0: none keyed)
  uint8_t asyncLive = 0;
  bool operator==(const TopKey &) const = default;
};
// (every input bit reaches every output bit: the table takes the low bits)
inline uint64_t fmix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}
inline uint64_t mix(uint64_t h, uint64_t v) { return fmix(h ^ (v + 0x9e3779b97f4a7c15ull)); }
struct KeyHash {
  size_t operator()(const PrefixKey &k) const {
    return size_t(mix(mix(mix(k.parent, uint64_t(uint32_t(k.region))), k.node), uint64_t(k.lo)));
  }
  size_t operator()(const TopKey &k) const {
    uint64_t h = mix(mix(k.prefix, uint64_t(uint32_t(k.region)) | uint64_t(k.asyncLive) << 32), k.node);
    return size_t(mix(mix(h, uint64_t(k.lo)), uint64_t(k.depth) | uint64_t(k.below) << 32));
  }
};
// Key -> id, open addressing over one array (a std::unordered_map's nodes
// are each their own allocation: a cache miss per lookup).
template <class K> class FlatIndex {
public:
  // the id of `k`, and whether it is new (then `fresh` is its id)
  std::pair<uint32_t, bool> try_emplace(const K &k, uint32_t fresh) {
    if ((used_ + 1) * 4 > slots_.size() * 3)
      grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = KeyHash{}(k) & mask;; i = (i + 1) & mask) {
      Slot &s = slots_[i];
      if (s.id == kEmpty) {
        s.key = k;
        s.id = fresh;
        ++used_;
        return {fresh, true};
      }
      if (s.key == k)
        return {s.id, false};
    }
  }
  size_t size() const { return used_; }

private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  struct Slot {
    K key;
    uint32_t id = kEmpty;
  };
  std::vector<Slot> slots_;
  size_t used_ = 0;
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(64, old.size() * 2), Slot{});
    used_ = 0;
    for (const Slot &s : old)
      if (s.id != kEmpty)
        try_emplace(s.key, s.id);
  }
};
} // namespace

std::vector<std::optional<EngineResult>> summaryEngine(const System &sys, const Bounds &b,
                                                       const Deadline &dl, Certificate *cert) {
  const size_t P = sys.obj.programs.size();
  std::vector<std::optional<EngineResult>> out(P);
  // (a certificate is wanted where the program-by-program searches would
  // be quicker too: they leave no states behind to check)
  if (!summaryHandles(sys, cert != nullptr))
    return out;
  const bool rc = sys.recursionCounter;
  const uint32_t limit = *sys.tailLimit;
  // past the search's own bound on states, or with stacks this large held,
  // each program's own search decides (as before this engine)
  constexpr size_t kMaxKeys = kMaxStates, kMaxFrames = 2000000;
  size_t frames = 0;

  struct Edge {
    uint32_t to;
    int64_t dks;   // kernel-stack depth of `to` minus the key's
    uint8_t kind;  // 0 push (same layer), 1 tail (next layer), 2 async (layer 0, async keys)
  };
  struct Key {
    std::vector<FrameState> rep; // a stack with this key (tail-call count 0)
    uint32_t prefix = 0;         // the key of rep's frames below the top
    std::vector<Edge> edges;
    uint32_t depth = 1;
    bool asyncLive = false;
    // the fewest tail calls it is reached with (its tail calls exist below
    // the limit), and the count its edges were made at (none: not yet)
    uint32_t tc = 0, expandedAt = UINT32_MAX;
    Future own;
  };
  std::deque<Key> keys; // (a key stays where it is while others are added)
  FlatIndex<TopKey> index;
  // prefixes (0: none) and programsBelow's bytes (0: nothing keyed)
  FlatIndex<PrefixKey> prefixes;
  std::unordered_map<std::string, uint32_t> belows;
  std::string bytes;
  // `prefix` with the frame `f` (not the top) on it: putFrame(f, top = false)
  auto prefixWith = [&](uint32_t prefix, const FrameState &f) -> uint32_t {
    if (f.region == 0)
      return prefix; // a kernel-stack frame below the top is not keyed
    PrefixKey k{prefix, int32_t(f.region), uint64_t(f.node), int64_t(f.lo)};
    return prefixes.try_emplace(k, uint32_t(prefixes.size() + 1)).first;
  };
  // the top `f` over `prefix`: putFrame(f, top = true, kernelStack = false)
  auto topKey = [&](uint32_t prefix, const FrameState &f) {
    TopKey k;
    k.prefix = prefix;
    k.region = int32_t(f.region);
    k.node = uint64_t(f.node);
    k.lo = f.region != 0 ? int64_t(f.lo) : 0;
    k.depth = uint32_t(f.depth);
    k.asyncLive = uint8_t(f.asyncLive);
    if (rc && f.programsBelow && !f.programsBelow->empty()) {
      bytes.clear();
      putPrograms(bytes, *f.programsBelow);
      k.below = belows.try_emplace(bytes, uint32_t(belows.size() + 1)).first->second;
    }
    return k;
  };
  std::vector<uint32_t> rootOf(P), statesOf(P, 0);
  std::vector<int64_t> rootKs(P);
  // breadth first by tail calls (a push costs none: to the front, a tail
  // call one: to the back), so a key is mostly expanded once, at its least
  // count; reached later with fewer, it is expanded again
  std::deque<std::pair<uint32_t, uint32_t>> work; // key, count
  // the key of `below[0, keep)` under `top` (`prefix`: the key of those),
  // reached with `tc` tail calls
  auto intern = [&](const std::vector<FrameState> &below, size_t keep, uint32_t prefix,
                    FrameState &&top, uint32_t tc, bool front, size_t program) -> uint32_t {
    const auto [id, fresh] = index.try_emplace(topKey(prefix, top), uint32_t(keys.size()));
    if (!fresh) {
      if (tc < keys[id].tc) {
        keys[id].tc = tc;
        front ? work.emplace_front(id, tc) : work.emplace_back(id, tc);
      }
      return id;
    }
    Key k;
    k.prefix = prefix;
    top.tailCount = 0; // the count is the layer, not part of the key
    k.rep.assign(below.begin(), below.begin() + keep);
    k.rep.push_back(std::move(top));
    frames += k.rep.size();
    const FrameState &t = k.rep.back();
    k.depth = t.depth;
    k.asyncLive = t.asyncLive;
    k.tc = tc;
    if (t.region != 0) {
      // the properties of a top in a buffer read only frames in the key;
      // a top on the kernel stack has only the budget, read from the depth
      k.own.regions.push_back({t.region, sys.reach(t)});
      k.own.bad = checkTop(sys, b, k.rep).has_value();
    }
    keys.push_back(std::move(k));
    front ? work.emplace_front(id, tc) : work.emplace_back(id, tc);
    ++statesOf[program];
    return id;
  };
  for (size_t p = 0; p < P; ++p) {
    FrameState root = sys.enter(p);
    rootKs[p] = root.kernelStack;
    rootOf[p] = intern({}, 0, 0, std::move(root), 0, false, p);
    while (!work.empty()) {
      if (keys.size() > kMaxKeys || frames > kMaxFrames || dl.expired())
        return out;
      const auto [id, tc] = work.front();
      work.pop_front();
      if (tc != keys[id].tc || keys[id].expandedAt <= tc)
        continue; // reached with fewer tail calls since, or expanded at this count
      // its tail calls are refused at the limit, and exist below it; the
      // pushes pass the lower count on (expanded again: the same edges, or
      // tail calls added)
      const bool tails = tc < limit;
      keys[id].expandedAt = tc;
      const std::vector<FrameState> &st = keys[id].rep;
      const FrameState &top = st.back();
      const uint32_t tailPrefix = keys[id].prefix;
      const uint32_t pushPrefix = prefixWith(tailPrefix, top);
      std::vector<Edge> edges;
      for (const PushEdge &e : sys.pushesFrom[top.node])
        if (auto f = sys.push(top, e)) {
          const int64_t dks = f->kernelStack - top.kernelStack;
          const bool async = e.kind == Event::Async;
          // an async callback starts its own count
          edges.push_back({intern(st, st.size(), pushPrefix, std::move(*f), async ? 0 : tc, true, p),
                           dks, uint8_t(async ? 2 : 0)});
        }
      if (tails)
        for (const TailEdge &e : sys.tailsFrom[top.node])
          if (auto f = sys.tail(top, e)) {
            const int64_t dks = f->kernelStack - top.kernelStack;
            edges.push_back(
                {intern(st, st.size() - 1, tailPrefix, std::move(*f), tc + 1, false, p), dks, 1});
          }
      keys[id].edges = std::move(edges);
    }
  }

  // The layers, async keys first; in each, deeper keys first (a push goes
  // one frame deeper in the same layer).
  const size_t K = keys.size();
  std::vector<Future> final0(K); // layer 0, as computed
  // for the certificate: each key's future kernel stack per layer, from the
  // limit down to the layer where its stratum stopped (those below are it)
  std::vector<std::vector<int64_t>> ksLayer;
  std::vector<uint32_t> stoppedAt(K, 0);
  if (cert)
    ksLayer.assign(size_t(limit) + 1, std::vector<int64_t>(K, 0));
  for (bool asyncStratum : {true, false}) {
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < K; ++i)
      if (keys[i].asyncLive == asyncStratum)
        order.push_back(i);
    if (order.empty())
      continue;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t c) { return keys[a].depth > keys[c].depth; });
    std::vector<Future> next(K), cur(K); // layers t + 1 and t
    for (int64_t t = limit; t >= 0; --t) {
      if (dl.expired())
        return out;
      for (uint32_t i : order) {
        Future v = keys[i].own;
        for (const Edge &e : keys[i].edges) {
          const Future *to;
          uint32_t dh = 0;
          if (e.kind == 0) {
            if (keys[e.to].asyncLive != asyncStratum || keys[e.to].depth <= keys[i].depth)
              throw std::logic_error("summary engine: a call that is not one frame deeper");
            to = &cur[e.to];
            dh = 1;
          } else if (e.kind == 1) {
            if (t == int64_t(limit))
              continue; // the kernel refuses the tail call past the limit
            to = &next[e.to];
          } else {
            if (!keys[e.to].asyncLive)
              throw std::logic_error("summary engine: an async callback outside the async keys");
            to = &final0[e.to];
            dh = 1;
          }
          v.ks = std::max(v.ks, e.dks + to->ks);
          v.h = std::max(v.h, dh + to->h);
          v.bad |= to->bad;
          mergeRegions(v.regions, to->regions);
        }
        if (cert)
          ksLayer[size_t(t)][i] = v.ks;
        cur[i] = std::move(v);
      }
      bool same = t < int64_t(limit);
      for (uint32_t i : order)
        if (same && !(cur[i] == next[i]))
          same = false;
      std::swap(cur, next); // `next` now holds layer t
      if (cert)
        for (uint32_t i : order)
          stoppedAt[i] = uint32_t(t);
      if (same)
        break; // every layer below is this one
    }
    for (uint32_t i : order)
      final0[i] = std::move(next[i]);
  }

  for (size_t p = 0; p < P; ++p) {
    const Future &v = final0[rootOf[p]];
    const int64_t ks = rootKs[p] + v.ks;
    if (v.bad || uint64_t(ks) > sys.kernelBudget() || 1 + v.h >= kMaxHeight)
      continue; // a violation or a cut: the program's own search finds it
    EngineResult r;
    r.verdict = Verdict::Safe;
    r.kernelStackMax = ks;
    for (auto &[region, hi] : v.regions)
      r.regionHi[region] = hi;
    r.states = statesOf[p];
    out[p] = std::move(r);
  }
  if (cert) {
    // The states the safe programs reach, as (key, tail-call count): the
    // invariant holds those and nothing else (a key only a refused
    // program reaches may break a property).
    cert->tops.clear();
    cert->programs.clear();
    if (limit >= 64)
      return out; // (counts kept as bits of a word)
    std::vector<uint64_t> counts(K, 0);
    std::vector<std::pair<uint32_t, uint32_t>> stack;
    auto reach = [&](uint32_t k, uint32_t t) {
      if (!(counts[k] >> t & 1)) {
        counts[k] |= uint64_t(1) << t;
        stack.push_back({k, t});
      }
    };
    for (size_t p = 0; p < P; ++p)
      if (out[p]) {
        cert->programs.push_back(p);
        reach(rootOf[p], 0);
      }
    while (!stack.empty()) {
      auto [k, t] = stack.back();
      stack.pop_back();
      if (keys[k].own.bad)
        throw std::logic_error("summary engine: a program found safe reaches a state that is not");
      for (const Edge &e : keys[k].edges)
        if (e.kind == 0)
          reach(e.to, t);
        else if (e.kind == 1 && t < limit)
          reach(e.to, t + 1);
        else if (e.kind == 2)
          reach(e.to, 0);
    }
    const int64_t budget = int64_t(std::min<uint64_t>(sys.kernelBudget(), INT64_MAX / 2));
    for (uint32_t k = 0; k < K; ++k) {
      if (!counts[k])
        continue;
      const std::vector<FrameState> &st = keys[k].rep;
      const FrameState &t = st.back();
      Certificate::Top top;
      top.node = t.node;
      top.frame = {t.region, t.lo, t.hi};
      if (t.region == 0) // relative to the kernel-stack depth: hi == ks
        top.frame = {0, t.lo - t.kernelStack, t.hi - t.kernelStack};
      top.depth = t.depth;
      top.async = t.asyncLive;
      if (rc && t.programsBelow)
        top.below = *t.programsBelow;
      for (uint32_t c = 0; c <= limit; ++c) {
        if (!(counts[k] >> c & 1))
          continue;
        const int64_t ksMax = budget - ksLayer[std::max(c, stoppedAt[k])][k];
        if (!top.layers.empty() && top.layers.back().tcHi + 1 == c && top.layers.back().ksMax == ksMax)
          top.layers.back().tcHi = c;
        else
          top.layers.push_back({c, c, ksMax});
      }
      for (size_t i = 0; i + 1 < st.size(); ++i)
        if (st[i].region != 0)
          top.pairs.push_back({st[i].region, st[i].lo, st[i].hi});
      cert->tops.push_back(std::move(top));
    }
  }
  return out;
}

} // namespace pstack::detail
