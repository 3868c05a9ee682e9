// Private to model/: what the three engines share — the property check on a
// concrete stack, replay of a path of edges through System (every trace is
// replayed on the concrete semantics, whichever engine found it), and the
// engines' entry points.
#pragma once

#include "model/system.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pstack::detail {

// One event of a path: a push edge or a tail edge, out of the top frame.
struct Choice {
  bool tail = false;
  size_t index = 0; // into sys.pushesFrom[top] or sys.tailsFrom[top]
};

// Per-region upper bound for the overflow property: per-prog buffers have
// one (given or computed); fixed buffers hold their frame by construction.
struct Bounds {
  std::map<int, int64_t> region; // region id -> bytes
};

struct Problem {
  std::string kind; // alias|overflow
  std::string message;
  size_t other = 0; // position in the stack of the other clashing frame
};

// The properties, for the top frame of `stack` against everything below.
std::optional<Problem> checkTop(const System &sys, const Bounds &b,
                                const std::vector<FrameState> &stack);

// Replays a path from `program`'s entry. Returns the stack after every
// event (history[0] = after enter), or nullopt when a guard forbids a step.
std::optional<std::vector<std::vector<FrameState>>>
replay(const System &sys, size_t program, const std::vector<Choice> &path);

// Builds the user's trace from a replayed history whose last stack breaks
// a property.
Violation makeViolation(const System &sys, size_t program,
                        const std::vector<std::vector<FrameState>> &history, const Problem &p);

struct EngineResult {
  Verdict verdict = Verdict::Unknown;
  std::string reason;                // for unknown
  std::vector<Violation> violations; // first (minimal) of each kind
  std::map<int, int64_t> regionHi;   // highest byte reached per region (explicit engine)
  int64_t kernelStackMax = 0;
  uint64_t states = 0;               // explored states / solver queries
  std::string invariant;             // unbounded engine: the inductive invariant
  // pairs of nodes whose frames can be live together (explicit engine)
  std::vector<std::pair<size_t, size_t>> coLive;
  bool nodeLiveTwice = false;
  bool incomplete = false; // bounded engine: stacks can outgrow any bound
  std::vector<Obligation> obligations; // Z3 engines, when safe and asked for
};

EngineResult explicitEngine(const System &sys, const Bounds &b, size_t program);
EngineResult boundedEngine(const System &sys, const Bounds &b, size_t program);
EngineResult unboundedEngine(const System &sys, const Bounds &b, size_t program);

} // namespace pstack::detail
