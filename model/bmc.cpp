// Pass: the bounded engine (Z3, incremental).
// Reads:  System, Bounds (per program), TailReach, maxHeight.
// Writes: one EngineResult per program.
// Encoding: one per object, shared by the programs it is asked about: the
//   first position holds the entry of any of them (a variable `root` names
//   which), so the positions, the push and tail-call cases and the
//   placement are built once. One symbolic path per query. A stack of height H is H positions;
//   position i holds the node pushed there (p_i), the node it ends as after
//   its tail calls (n_i, k_i = fewest tail calls p_i -> n_i), and the frame's
//   region and bytes [lo_i, hi_i). Position i is pushed by an edge out of
//   n_{i-1} (the frame below cannot change once something is on top of it).
//   Placement depends only on the final node and the frame below (for every
//   scheme: fixed buffers, the kernel stack, r9-relative per-prog), which is
//   what makes fewest-tail-calls complete. H grows 1, 2, ... up to the
//   largest height the system allows; each H is a push/pop query per
//   property on the solver that keeps the positions.
// Invariant: a program is `safe` only when every height up to its own
//   maxHeight is unsat for every property with `root` among the programs
//   still open (each program's height bound and buffer bounds are stated
//   under `root == p`); a sat model is replayed on System, from the
//   program its root names, before it becomes a trace.
#include "model/encode.h"
#include "model/engine.h"
#include "model/watchdog.h"
#include "model/reach.h"

#include <z3++.h>


namespace pstack::detail {

namespace {

constexpr size_t kLemmaHeight = 16;
constexpr size_t kMaxCases = 20000;

// The encoding is (cases per position) x height; past kMaxCases Z3 spends
// minutes (and gigabytes) just taking it in, beyond any timeout's reach. The
// explicit engine's exhaustive search decides such programs alone.
size_t encodingCases(const System &sys, const TailReach &tr) {
  size_t cases = sys.nodes.size();
  for (size_t a = 0; a < sys.nodes.size(); ++a)
    cases += sys.pushesFrom[a].size() + tr.dist[a].size();
  return cases;
}

EngineResult tooLarge(size_t total, const std::string &shape) {
  EngineResult res;
  res.verdict = Verdict::Unknown;
  res.reason = "bounded engine: the encoding would have " + std::to_string(total) + " cases" +
               shape + ", over its limit of " + std::to_string(kMaxCases);
  return res;
}

class Bmc {
public:
  // `programs[j]` is checked against `bounds[j]` up to `limits[j]` frames.
  Bmc(const System &sys, const std::vector<size_t> &programs, const std::vector<const Bounds *> &bounds,
      const std::vector<size_t> &limits, const Deadline &dl, const TailReach &tr)
      : sys_(sys), programs_(programs), bounds_(bounds), limits_(limits), dl_(dl), tr_(tr),
        s_(ctx_) {
    size_t most = std::max(sys.nodes.size(), sys.obj.programs.size());
    for (auto &edges : sys.pushesFrom)
      most = std::max(most, edges.size());
    while ((size_t(1) << idBits_) <= most)
      ++idBits_;
    for (auto &ni : sys.nodes)
      if (ni.placement == Placement::Fixed)
        maxFixedRegion_ = std::max<int64_t>(maxFixedRegion_, ni.fixedRegion);
    results_.resize(programs.size());
    root_ = ctx_.bv_const("root", idBits_);
  }
  // One result per program, in the order given.
  std::vector<EngineResult> run(const std::vector<bool> &cyclic);
  struct OutOfTime {};

private:
  const System &sys_;
  const std::vector<size_t> &programs_;
  const std::vector<const Bounds *> &bounds_;
  const std::vector<size_t> &limits_;
  const Deadline &dl_;
  const TailReach &tr_;
  std::vector<EngineResult> results_;
  z3::context ctx_;
  SolverWatchdog watchdog_{ctx_, dl_};
  z3::expr num(int64_t v) { return ctx_.int_val(v); }
  // Node and edge numbers are bit-vectors: the many `n == k` cases of the
  // encoding then bit-blast, which Z3 decides far faster than integer
  // equalities (measured: 1,000 functions, 10 s -> well under 1 s).
  unsigned idBits_ = 1;
  z3::expr id(int64_t v) { return ctx_.bv_val(uint64_t(v), idBits_); }
  z3::solver s_;
  struct Pos {
    z3::expr pushed, node, tails, edge, region, lo, hi, tc, depth, async, ks;
    z3::expr prog; // the program the final node belongs to
  };
  // kernel scheme: a frame of program q is live below position i (the
  // recursion counter). Stated over the positions' programs, so that it is
  // i terms, not one per node of q.
  z3::expr liveBelow(size_t i, size_t q) {
    z3::expr_vector any(ctx_);
    for (size_t j = 0; j < i; ++j)
      any.push_back(pos_[j].prog == id(int64_t(q)));
    return any.empty() ? ctx_.bool_val(false) : z3::mk_or(any);
  }
  std::vector<Pos> pos_;
  std::vector<bool> cyclic_; // node lies on a cycle of push and tail edges
  int64_t maxFixedRegion_ = 0; // regions 1..this are per-node buffers
  z3::expr height_ = ctx_.int_const("height"); // frames on the stack
  z3::expr root_{ctx_}; // the program whose entry is at the bottom (set once idBits_ is known)
  // position i's constraints hold only when the stack is that high
  void add(size_t i, const z3::expr &e) { s_.add(i == 0 ? e : z3::implies(height_ > num(int64_t(i)), e)); }
  // `root` is one of the programs at indices `open` (into programs_)
  z3::expr rootIn(const std::vector<size_t> &open) {
    z3::expr_vector any(ctx_);
    for (size_t j : open)
      any.push_back(root_ == id(int64_t(programs_[j])));
    return any.empty() ? ctx_.bool_val(false) : z3::mk_or(any);
  }

  void addPosition();
  // The encoding of a large object can itself outlast --timeout: checked
  // every few thousand terms.
  size_t ticks_ = 0;
  void tick() {
    if ((++ticks_ & 4095) == 0 && dl_.expired())
      throw OutOfTime{};
  }
  z3::check_result check() {
    if (dl_.expired())
      throw OutOfTime{};
    z3::params p(ctx_);
    p.set("timeout", dl_.solverMs());
    s_.set(p);
    return s_.check();
  }
  z3::expr violationAt(const std::string &kind, size_t t);
  std::vector<Choice> pathFromModel(const z3::model &m, size_t height);
  // decides `kind` for the programs at indices `open`; false when the
  // solver gave up (they stay undecided)
  bool decide(const std::string &kind, std::vector<size_t> open);
};

void Bmc::addPosition() {
  size_t i = pos_.size();
  auto I = [&](const char *n) { return ctx_.int_const((std::string(n) + std::to_string(i)).c_str()); };
  auto V = [&](const char *n) {
    return ctx_.bv_const((std::string(n) + std::to_string(i)).c_str(), idBits_);
  };
  Pos p{V("p"), V("n"), I("k"), V("e"), I("r"), I("lo"), I("hi"), I("tc"), I("d"),
        ctx_.bool_const(("async" + std::to_string(i)).c_str()), I("ks"), V("prog")};
  const size_t N = sys_.nodes.size();
  if (dl_.expired())
    throw OutOfTime{};
  add(i, z3::ult(p.node, id(int64_t(N))));

  // the push: from the final node below, or the entry of the root program
  z3::expr_vector ways(ctx_);
  // pushed-frame attributes before tail calls: tail count, depth, async,
  // and for r9-relative frames the base (region, lo)
  z3::expr tcPushed = ctx_.int_const(("tcp" + std::to_string(i)).c_str());
  z3::expr dPushed = ctx_.int_const(("dp" + std::to_string(i)).c_str());
  z3::expr relRegion = ctx_.int_const(("rr" + std::to_string(i)).c_str());
  z3::expr relLo = ctx_.int_const(("rl" + std::to_string(i)).c_str());
  z3::expr pushedF = ctx_.int_const(("pf" + std::to_string(i)).c_str());
  z3::expr ksAdd = ctx_.int_const(("ka" + std::to_string(i)).c_str()); // System::taskStackOnPush
  if (i == 0) {
    for (size_t program : programs_) {
      size_t entry = sys_.entry(program);
      ways.push_back(root_ == id(int64_t(program)) && p.pushed == id(int64_t(entry)) &&
                     p.edge == id(0) && tcPushed == 0 && dPushed == 1 && !p.async &&
                     relRegion == num(std::max(0, sys_.nodes[entry].programRegion)) &&
                     relLo == num(sys_.activationBase) &&
                     pushedF == num(int64_t(sys_.nodes[entry].frame)) &&
                     ksAdd == num(int64_t(sys_.taskStackOnPush(Event::Enter, 0))));
    }
  } else {
    const Pos &below = pos_[i - 1];
    for (size_t a = 0; a < N; ++a)
      for (size_t j = 0; j < sys_.pushesFrom[a].size(); ++j) {
        tick();
        const PushEdge &e = sys_.pushesFrom[a][j];
        z3::expr w = below.node == id(a) && p.pushed == id(e.to) && p.edge == id(j);
        if (newActivation(e.kind)) {
          size_t q = sys_.nodes[e.to].program;
          if (sys_.opts.scheme == Scheme::Kernel && sys_.privateProgram[q])
            w = w && !liveBelow(i, q); // the recursion counter
          if (e.kind == Event::Async)
            w = w && !below.async;
          w = w && tcPushed == 0 && dPushed == 1 &&
              p.async == (below.async || ctx_.bool_val(e.kind == Event::Async)) &&
              relRegion == num(std::max(0, sys_.nodes[e.to].programRegion)) &&
              relLo == num(sys_.activationBase);
        } else {
          w = w && below.depth < num(sys_.opts.maxCallDepth) && tcPushed == below.tc &&
              dPushed == below.depth + 1 && p.async == below.async && relRegion == below.region &&
              // r9 += F(caller): for an r9-relative frame below, that is its
              // hi (stated so, the solver needs no case split on the node)
              relLo == (sys_.nodes[a].placement == Placement::Relative
                            ? below.hi
                            : below.lo + num(int64_t(sys_.nodes[a].frame))) +
                           num(int64_t(e.gap));
        }
        ways.push_back(w && pushedF == num(int64_t(sys_.nodes[e.to].frame)) &&
                       ksAdd == num(int64_t(sys_.taskStackOnPush(e.kind, e.gap))));
      }
  }
  add(i, z3::mk_or(ways));

  // the tail calls: fewest from pushed to final
  z3::expr_vector tails(ctx_);
  for (size_t a = 0; a < N; ++a)
    for (auto &[m, k] : tr_.dist[a]) {
      tick();
      tails.push_back(p.pushed == id(a) && p.node == id(m) && p.tails == num(k));
    }
  add(i, z3::mk_or(tails));
  add(i, p.tc == tcPushed + p.tails);
  if (sys_.tailLimit)
    add(i, p.tc <= num(*sys_.tailLimit));
  add(i, p.depth == z3::ite(p.tails > 0, ctx_.int_val(1), dPushed));

  // placement of the final frame
  z3::expr ksBelow = i == 0 ? ctx_.int_val(0) : pos_[i - 1].ks;
  z3::expr_vector place(ctx_);
  for (size_t k = 0; k < N; ++k) {
    tick();
    z3::expr at = p.node == id(int64_t(k)) && p.prog == id(int64_t(sys_.nodes[k].program));
    if (auto abs = absolutePlacement(sys_, k, p.region, p.lo, p.hi, p.ks, ksBelow)) {
      place.push_back(at && *abs);
      continue;
    }
    z3::expr Fk = num(sys_.nodes[k].frame);
    if (sys_.opts.perProgR9AtTop) // r9 stays at the pushed frame's top across tail calls
      place.push_back(at && p.region == relRegion && p.hi == relLo + pushedF &&
                      p.lo == p.hi - Fk && p.ks == ksBelow + ksAdd);
    else
      place.push_back(at && p.region == relRegion && p.lo == relLo && p.hi == relLo + Fk &&
                      p.ks == ksBelow + ksAdd);
  }
  add(i, z3::mk_or(place));
  // Redundant facts (each follows from the placement above) that spare the
  // solver case splits over nodes: a frame never has negative size, and a
  // node that lies on no cycle of the graph is on the stack at most once.
  add(i, p.hi >= p.lo);
  z3::expr onCycle = ctx_.bool_val(false);
  for (size_t k = 0; k < N; ++k)
    if (cyclic_[k])
      onCycle = onCycle || p.node == id(int64_t(k));
  // (pairwise: quadratic in the height, so only for short stacks, where
  // they pay off; tall stacks come from tail-call chains, whose nodes are
  // on cycles anyway)
  for (size_t j = 0; j < i && i < kLemmaHeight; ++j) {
    add(i, z3::implies(p.node == pos_[j].node, onCycle));
    // a buffer of one (program, function) holds frames of that node only
    add(i, z3::implies(p.region == pos_[j].region && p.region >= 1 &&
                           p.region <= num(maxFixedRegion_),
                       p.node == pos_[j].node));
  }
  pos_.push_back(p);
}

// The property broken by the top frame of a stack of height t + 1.
z3::expr Bmc::violationAt(const std::string &kind, size_t t) {
  const Pos &top = pos_[t];
  z3::expr_vector any(ctx_);
  if (kind == "alias") {
    for (size_t j = 0; j < t; ++j) {
      const Pos &f = pos_[j];
      any.push_back(f.region == top.region && top.region != 0 && f.lo < top.hi && top.lo < f.hi &&
                    f.hi > f.lo && top.hi > top.lo);
    }
  } else {
    any.push_back(top.region == 0 && top.hi > num(int64_t(sys_.kernelBudget())));
    if (sys_.opts.scheme == Scheme::StackSwitch) // its entries' bytes on the task stack
      any.push_back(top.region != 0 && top.ks > num(int64_t(sys_.kernelBudget())));
    any.push_back(top.region != 0 && top.lo < 0);
    // each program's buffer bounds, under its root; programs that agree on
    // a region's bound share one term (with every program agreeing, the
    // common case, it needs no root at all)
    // (stack-switch: what the region must hold beyond the top frame)
    z3::expr reserve = num(0);
    for (size_t k = 0; k < sys_.nodes.size(); ++k)
      if (sys_.nodes[k].reserve)
        reserve = z3::ite(top.node == id(int64_t(k)), num(sys_.nodes[k].reserve), reserve);
    std::map<int, std::map<int64_t, std::vector<size_t>>> byRegion; // region -> bytes -> programs
    for (size_t j = 0; j < programs_.size(); ++j)
      for (auto &[r, bytes] : bounds_[j]->region)
        byRegion[r][bytes].push_back(j);
    for (auto &[r, values] : byRegion)
      for (auto &[bytes, progs] : values) {
        z3::expr out = top.region == r && top.hi + reserve > num(bytes);
        any.push_back(progs.size() == programs_.size() ? out : out && rootIn(progs));
      }
  }
  return any.empty() ? ctx_.bool_val(false) : z3::mk_or(any);
}

std::vector<Choice> Bmc::pathFromModel(const z3::model &m, size_t height) {
  std::vector<Choice> path;
  auto val = [&](const z3::expr &e) { return int64_t(m.eval(e, true).get_numeral_uint64()); };
  size_t root = size_t(val(pos_[0].pushed));
  for (size_t e : tr_.path(sys_, root, size_t(val(pos_[0].node))))
    path.push_back({true, e});
  for (size_t i = 1; i < height; ++i) {
    path.push_back({false, size_t(val(pos_[i].edge))});
    for (size_t e : tr_.path(sys_, size_t(val(pos_[i].pushed)), size_t(val(pos_[i].node))))
      path.push_back({true, e});
  }
  return path;
}

bool Bmc::decide(const std::string &kind, std::vector<size_t> open) {
  const size_t H = pos_.size();
  s_.push();
  z3::expr_vector atHeight(ctx_);
  for (size_t t = 0; t < H; ++t)
    atHeight.push_back(height_ == num(int64_t(t + 1)) && violationAt(kind, t));
  s_.add(z3::mk_or(atHeight));
  // One query for every open program at once; each model names a program
  // (its root), whose smallest violation is then found with the root
  // fixed, and that program leaves the query. The query that comes back
  // unsat proves the property for all that are left.
  while (!open.empty()) {
    s_.push();
    s_.add(rootIn(open));
    z3::check_result r = check();
    for (size_t j : open)
      ++results_[j].states;
    if (r == z3::unknown) {
      for (size_t j : open)
        results_[j].reason = "solver: " + s_.reason_unknown();
      s_.pop();
      s_.pop();
      return false;
    }
    if (r == z3::unsat) {
      // The obligation files are per program, cut from the one encoding
      // (`root` fixed): each is the problem this query solved for that
      // program alone, so the re-checking solvers see no more than that.
      if (sys_.opts.collectObligations)
        for (size_t j : open) {
          s_.push();
          s_.add(root_ == id(int64_t(programs_[j])));
          results_[j].obligations.push_back(
              {sys_.obj.programs[programs_[j]].name, kind, "bounded", s_.to_smt2("unsat")});
          s_.pop();
        }
      s_.pop();
      break;
    }
    z3::model m = s_.get_model();
    const size_t program = size_t(m.eval(root_, true).get_numeral_uint64());
    const size_t j = size_t(std::find(programs_.begin(), programs_.end(), program) - programs_.begin());
    s_.push();
    s_.add(root_ == id(int64_t(program)));
    auto tighten = [&](const z3::expr &measure) {
      for (;;) {
        int64_t cur = m.eval(measure, true).get_numeral_int64();
        s_.push();
        s_.add(measure < num(cur));
        ++results_[j].states;
        // (out of time here: the violation stands, just not the
        // smallest one)
        bool better = !dl_.expired() && check() == z3::sat;
        if (better)
          m = s_.get_model();
        s_.pop();
        if (!better)
          return cur;
      }
    };
    size_t h = size_t(tighten(height_));
    s_.add(height_ == num(int64_t(h)));
    z3::expr total = ctx_.int_val(0);
    for (size_t i = 0; i < h; ++i)
      total = total + pos_[i].tails;
    tighten(total);
    auto history = replay(sys_, program, pathFromModel(m, h));
    if (!history)
      throw std::logic_error("bounded engine: a model does not replay on the semantics");
    auto problem = checkTop(sys_, *bounds_[j], history->back());
    if (!problem)
      throw std::logic_error("bounded engine: a model's stack breaks no property");
    results_[j].violations.push_back(makeViolation(sys_, program, *history, *problem));
    s_.pop();
    s_.pop();
    open.erase(std::find(open.begin(), open.end(), j));
  }
  s_.pop();
  return true;
}

std::vector<EngineResult> Bmc::run(const std::vector<bool> &cyclic) {
  cyclic_ = cyclic;
  size_t H = 0;
  for (size_t l : limits_)
    H = std::max(H, l);
  std::vector<bool> decided(programs_.size(), false);
  try {
    while (pos_.size() < H)
      addPosition();
    z3::expr_vector heights(ctx_);
    for (size_t j = 0; j < programs_.size(); ++j)
      heights.push_back(root_ == id(int64_t(programs_[j])) && height_ <= num(int64_t(limits_[j])));
    s_.add(height_ >= 1 && z3::mk_or(heights));
    // Frames on the kernel stack are laid one after another: when every
    // frame is there, two can never alias, and the alias query is skipped.
    bool anyBuffer = false;
    for (auto &ni : sys_.nodes)
      anyBuffer |= ni.placement != Placement::KernelStack;
    // One query per property over every height at once (the height is a
    // variable), then the fewest frames and the fewest tail calls by
    // tightening; all on the solver that keeps the positions.
    std::vector<size_t> all(programs_.size());
    for (size_t j = 0; j < all.size(); ++j)
      all[j] = j;
    bool complete = true;
    for (const char *kind : {"alias", "overflow"})
      if ((anyBuffer || std::string(kind) != "alias") && !(complete = decide(kind, all)))
        break;
    if (complete)
      decided.assign(programs_.size(), true);
  } catch (const OutOfTime &) {
    for (auto &r : results_)
      r.reason = "bounded engine: " + dl_.reason();
  } catch (const z3::exception &e) {
    // interrupted by the watchdog, or Z3 failed on its own
    for (auto &r : results_)
      r.reason = dl_.expired() ? "bounded engine: " + dl_.reason() : std::string("Z3: ") + e.msg();
  }
  for (size_t j = 0; j < programs_.size(); ++j)
    results_[j].verdict = !results_[j].violations.empty() ? Verdict::Unsafe
                          : decided[j]                    ? Verdict::Safe
                                                          : Verdict::Unknown;
  return std::move(results_);
}

} // namespace

std::vector<EngineResult> boundedEngine(const System &sys, const std::vector<size_t> &programs,
                                        const std::vector<const Bounds *> &bounds, const Deadline &dl,
                                        const TailReach &tr) {
  std::vector<EngineResult> out(programs.size());
  // (checked before a Z3 context exists: making one costs time too)
  const size_t cases = encodingCases(sys, tr);
  if (cases > kMaxCases) {
    for (auto &r : out)
      r = tooLarge(cases, " per position");
    return out;
  }
  // Each program's height bound; those whose stacks are unbounded or
  // whose encoding would be over the cap are decided apart (not at all).
  std::vector<size_t> mine, limits;
  std::vector<const Bounds *> mineBounds;
  std::vector<size_t> index;
  HeightMemo memo;
  for (size_t j = 0; j < programs.size(); ++j) {
    auto limit = maxHeight(sys, tr, programs[j], &memo);
    if (!limit) {
      out[j].reason = "bounded engine is not complete here: stacks can grow without bound";
      out[j].incomplete = true;
    } else if (cases * *limit > kMaxCases) {
      out[j] = tooLarge(cases * *limit, " (" + std::to_string(*limit) + " positions)");
    } else {
      mine.push_back(programs[j]);
      mineBounds.push_back(bounds[j]);
      limits.push_back(*limit);
      index.push_back(j);
    }
  }
  if (mine.empty())
    return out;
  if (dl.expired()) {
    for (size_t j : index)
      out[j].reason = "bounded engine: " + dl.reason();
    return out;
  }
  std::vector<EngineResult> got;
  try {
    got = Bmc(sys, mine, mineBounds, limits, dl, tr).run(nodesOnCycles(sys));
  } catch (const z3::exception &e) {
    got.assign(mine.size(), EngineResult{});
    for (auto &r : got)
      r.reason = dl.expired() ? "bounded engine: " + dl.reason() : std::string("Z3: ") + e.msg();
  }
  for (size_t k = 0; k < index.size(); ++k)
    out[index[k]] = std::move(got[k]);
  return out;
}

} // namespace pstack::detail
