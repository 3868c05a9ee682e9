// Private to model/: what the three engines share — the property check on a
// concrete stack, replay of a path of edges through System (every trace is
// replayed on the concrete semantics, whichever engine found it), and the
// engines' entry points.
#pragma once

#include "model/system.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
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
  bool certificate = false; // proved by checking the explicit search's certificate
};

// The time one program may take: --timeout is per program, and every
// engine and solver call for it draws on the same budget, encoding
// included (a large object must come back `unknown` in time, not late).
class Deadline {
public:
  explicit Deadline(double seconds)
      : seconds_(seconds), end_(std::chrono::steady_clock::now() +
                                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(seconds))) {}
  bool expired() const { return std::chrono::steady_clock::now() >= end_; }
  // what is left, for a solver's timeout parameter (at least 1 ms)
  unsigned solverMs() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - std::chrono::steady_clock::now());
    return unsigned(std::clamp<int64_t>(left.count(), 1, int64_t(UINT32_MAX)));
  }
  std::string reason() const;
  double seconds() const { return seconds_; }
  std::chrono::steady_clock::time_point end() const { return end_; }

private:
  double seconds_;
  std::chrono::steady_clock::time_point end_;
};

// What the explicit searches of one System and Bounds that ended `safe`
// saw, for the searches of the other programs (a prog array of N programs
// that tail-call each other: every program reaches the same states).
// Every state such a search visited has all it reaches among the states
// visited (or covered by the count rule), all free of violations; a later
// search meeting one of them (same frames, same tail-call count) need not
// go on from it. What it would have seen beyond is taken from the summary
// of the whole earlier search: bytes per buffer and frames live together
// only ever grow into maxima and unions over all programs (buffer sizes,
// plans), so this changes no figure; the kernel stack is per program, so a
// state is taken only when its own kernel stack is the summary's maximum
// (then nothing beyond it can be deeper). Where programs' searches are
// alike up to whose buffer the frames are in (per-prog, explore.cpp), the
// bytes of the root's buffer are per program too: taken only when the
// state's own frames reach the summary's highest byte.
struct ExploreCache {
  struct Summary {
    std::map<int, int64_t> regionHi;
    int64_t kernelStackMax = 0;
    std::vector<std::pair<size_t, size_t>> coLive;
    bool nodeLiveTwice = false;
  };
  std::vector<Summary> summaries;
  std::unordered_map<std::string, uint32_t> states; // state key with its count -> summary
  size_t hits = 0;
  // collect the pairs of frames live together (EngineResult::coLive): only
  // plan synthesis reads them, and on a large object they cost a tenth of
  // the search
  bool coLive = false;
  std::optional<bool> symmetric; // programs' searches alike up to their buffer (explore.cpp)
};

// `cache`: shared by the searches of one System with one Bounds, or null.
EngineResult explicitEngine(const System &sys, const Bounds &b, size_t program, const Deadline &dl,
                            ExploreCache *cache = nullptr);
// The explicit search of every program at once, over one graph of states
// shared by all of them (explore.cpp): per program, the result its own
// explicitEngine search would give (verdict, bytes per buffer, kernel
// stack) when that program is safe; nothing where its own search must
// decide (a violation, with its minimal trace; a cut; nesting, re-entry,
// no tail-call limit). Frames live together (coLive, nodeLiveTwice) are
// not collected: plan synthesis searches program by program.
//
// `cert`: when given, also the proof of the programs found safe, as an
// inductive invariant over horn.cpp's relations (see Certificate).
struct Certificate;
std::vector<std::optional<EngineResult>> summaryEngine(const System &sys, const Bounds &b,
                                                       const Deadline &dl, Certificate *cert = nullptr);

// The summary search's proof, for a solver to check: an interpretation of
// the unbounded engine's relations (horn.cpp: Top per node, Pair per node)
// that every Horn rule of the system must keep (enter, push, tail call)
// and no error rule may fire on. Each `Top` is one state key of the search
// (the top frame, and the frames in buffers below it, which Pair holds):
// exact in everything the key holds; its tail-call count ranges over the
// counts the key is reached with; its kernel-stack depth is at most the
// budget minus the deepest the key's future goes with that count (the
// weakest bound that keeps the budget: then every successor keeps its own).
// A solver that finds every rule discharged has proved the programs safe
// from their entries, independently of how the search found the states.
struct Certificate {
  struct Layer {
    uint32_t tcLo = 0, tcHi = 0; // tail-call counts, inclusive
    int64_t ksMax = 0;           // kernel-stack bytes at most
  };
  struct Frame {
    int region = 0;
    int64_t lo = 0, hi = 0;
  };
  struct Top {
    size_t node = 0;
    Frame frame;                 // region 0 (kernel stack): lo, hi relative to ks (hi == ks)
    uint32_t depth = 1;
    bool async = false;
    std::vector<bool> below;     // programs live below (the recursion counter), when tracked
    std::vector<Layer> layers;
    std::vector<Frame> pairs;    // frames in buffers below it
  };
  std::vector<Top> tops;
  std::vector<size_t> programs;  // whose entries it starts from (the programs found safe)
};

// Checks `cert` against the Horn rules of `sys` in one solver query (the
// rules of every program in cert.programs, one encoding): per program in
// cert.programs, Safe when the solver discharged every rule (with the
// query, as SMT-LIB2, among the first result's obligations when
// collectObligations), else Unknown with the rule it could not discharge.
std::vector<EngineResult> certificateEngine(const System &sys, const Bounds &b, const Certificate &cert,
                                            const Deadline &dl);
// Whether summaryEngine takes `sys` on (else it leaves every program open);
// `symmetricToo`: also where every frame is r9-relative (see explore.cpp).
bool summaryHandles(const System &sys, bool symmetricToo = false);
// The bounded engine over `programs` at once (one encoding, shared): one
// result per program, `bounds[j]` the buffer bounds of programs[j].
// `tr`: tailReach(sys), the same for every program (computed once).
struct TailReach;
std::vector<EngineResult> boundedEngine(const System &sys, const std::vector<size_t> &programs,
                                        const std::vector<const Bounds *> &bounds, const Deadline &dl,
                                        const TailReach &tr);
EngineResult unboundedEngine(const System &sys, const Bounds &b, size_t program, const Deadline &dl);

} // namespace pstack::detail
