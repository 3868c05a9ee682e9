// Private to model/: facts about the transition system that the Z3 engines
// build their encodings from — tail-call distances, and how high a stack
// can grow (the bounded engine is complete only below that height).
#pragma once

#include "model/system.h"

#include <map>
#include <optional>
#include <tuple>
#include <vector>

namespace pstack::detail {

struct TailReach {
  // dist[p][n]: fewest tail calls from a frame of p to one of n (0: p == n)
  std::vector<std::map<size_t, uint32_t>> dist;
  // first tail edge (index into sys.tailsFrom[p]) of a shortest path p -> n
  std::vector<std::map<size_t, size_t>> firstEdge;
  std::vector<size_t> path(const System &sys, size_t from, size_t to) const;
};
TailReach tailReach(const System &sys);

// Nodes that lie on a cycle of push and tail edges (only they can be on one
// stack twice).
std::vector<bool> nodesOnCycles(const System &sys);

// The most frames a stack rooted at `program` can hold, or nullopt when it
// can grow without bound (nesting or re-entry cycles the kernel's guards do
// not cut, or tail calls without a limit feeding calls).
// `memo`: heights of abstract frames, which do not depend on the program a
// stack is rooted at: shared by the calls for one System (or null).
struct HeightMemo;
std::optional<size_t> maxHeight(const System &sys, const TailReach &tr, size_t program,
                                HeightMemo *memo = nullptr);
struct HeightMemo {
  // abstract frame: final node, depth, tail count, async live, programs
  // live below (kernel recursion guard only)
  using Key = std::tuple<size_t, uint32_t, uint32_t, bool, std::vector<bool>>;
  std::map<Key, size_t> height;
};

} // namespace pstack::detail
