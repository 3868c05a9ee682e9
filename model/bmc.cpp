// Pass: the bounded engine (Z3, incremental).
// Reads:  System, Bounds, TailReach, maxHeight.
// Writes: EngineResult.
// Encoding: one symbolic path per query. A stack of height H is H positions;
//   position i holds the node pushed there (p_i), the node it ends as after
//   its tail calls (n_i, k_i = fewest tail calls p_i -> n_i), and the frame's
//   region and bytes [lo_i, hi_i). Position i is pushed by an edge out of
//   n_{i-1} (the frame below cannot change once something is on top of it).
//   Placement depends only on the final node and the frame below (for every
//   scheme: fixed buffers, the kernel stack, r9-relative per-prog), which is
//   what makes fewest-tail-calls complete. H grows 1, 2, ... up to the
//   largest height the system allows; each H is a push/pop query per
//   property on the solver that keeps the positions.
// Invariant: `safe` only when every height up to maxHeight is unsat for every
//   property; a sat model is replayed on System before it becomes a trace.
#include "model/engine.h"
#include "model/reach.h"

#include <z3++.h>

#include <chrono>

namespace pstack::detail {

namespace {

class Bmc {
public:
  Bmc(const System &sys, const Bounds &b, size_t program)
      : sys_(sys), b_(b), program_(program), tr_(tailReach(sys)), s_(ctx_) {
    z3::params p(ctx_);
    p.set("timeout", unsigned(std::max(1.0, sys.opts.timeoutSeconds * 1000)));
    s_.set(p);
  }
  EngineResult run();

private:
  const System &sys_;
  const Bounds &b_;
  size_t program_;
  TailReach tr_;
  z3::context ctx_;
  z3::expr num(int64_t v) { return ctx_.int_val(v); }
  z3::solver s_;
  struct Pos {
    z3::expr pushed, node, tails, edge, region, lo, hi, tc, depth, async, ks;
    std::vector<z3::expr> liveBelow; // kernel scheme: program q live below
  };
  std::vector<Pos> pos_;
  z3::expr height_ = ctx_.int_const("height"); // frames on the stack
  // position i's constraints hold only when the stack is that high
  void add(size_t i, const z3::expr &e) { s_.add(i == 0 ? e : z3::implies(height_ > num(int64_t(i)), e)); }

  z3::expr table(const z3::expr &n, const std::function<int64_t(size_t)> &val) {
    // a nested ite over every node: small tables, constant-folded by Z3
    z3::expr out = ctx_.int_val(int64_t(0));
    for (size_t k = sys_.nodes.size(); k-- > 0;)
      out = z3::ite(n == ctx_.int_val(int64_t(k)), ctx_.int_val(val(k)), out);
    return out;
  }
  z3::expr F(const z3::expr &n) {
    return table(n, [&](size_t k) { return int64_t(sys_.nodes[k].frame); });
  }
  int64_t shiftOf(size_t k) const {
    if (!sys_.opts.shiftFrame || sys_.nodeName(k) != sys_.opts.shiftFrame->first)
      return 0;
    Placement pl = sys_.nodes[k].placement;
    return pl == Placement::Fixed || pl == Placement::Static ? sys_.opts.shiftFrame->second : 0;
  }
  void addPosition();
  z3::expr violation(const std::string &kind);
  std::vector<Choice> pathFromModel(const z3::model &m, size_t height);
};

void Bmc::addPosition() {
  size_t i = pos_.size();
  auto I = [&](const char *n) { return ctx_.int_const((std::string(n) + std::to_string(i)).c_str()); };
  Pos p{I("p"), I("n"), I("k"), I("e"), I("r"), I("lo"), I("hi"), I("tc"), I("d"),
        ctx_.bool_const(("async" + std::to_string(i)).c_str()), I("ks"), {}};
  const size_t N = sys_.nodes.size();
  if (sys_.opts.scheme == Scheme::Kernel)
    for (size_t q = 0; q < sys_.obj.programs.size(); ++q) {
      // live below i: live below i-1, or the frame at i-1 belongs to q
      z3::expr lv = ctx_.bool_val(false);
      if (i > 0) {
        lv = pos_[i - 1].liveBelow[q];
        for (size_t k = 0; k < N; ++k)
          if (sys_.nodes[k].program == q)
            lv = lv || pos_[i - 1].node == num(int64_t(k));
      }
      p.liveBelow.push_back(lv.simplify());
    }
  add(i, p.node >= 0 && p.node < ctx_.int_val(int64_t(N)));

  // the push: from the final node below, or the program's entry
  z3::expr_vector ways(ctx_);
  // pushed-frame attributes before tail calls: tail count, depth, async,
  // and for r9-relative frames the base (region, lo)
  z3::expr tcPushed = ctx_.int_const(("tcp" + std::to_string(i)).c_str());
  z3::expr dPushed = ctx_.int_const(("dp" + std::to_string(i)).c_str());
  z3::expr relRegion = ctx_.int_const(("rr" + std::to_string(i)).c_str());
  z3::expr relLo = ctx_.int_const(("rl" + std::to_string(i)).c_str());
  if (i == 0) {
    size_t entry = sys_.entry(program_);
    ways.push_back(p.pushed == ctx_.int_val(int64_t(entry)) && p.edge == -1 && tcPushed == 0 &&
                   dPushed == 1 && !p.async &&
                   relRegion == num(std::max(0, sys_.nodes[entry].programRegion)) && relLo == 0);
  } else {
    const Pos &below = pos_[i - 1];
    for (size_t a = 0; a < N; ++a)
      for (size_t j = 0; j < sys_.pushesFrom[a].size(); ++j) {
        const PushEdge &e = sys_.pushesFrom[a][j];
        z3::expr w = below.node == num(a) && p.pushed == num(e.to) && p.edge == num(j);
        if (newActivation(e.kind)) {
          size_t q = sys_.nodes[e.to].program;
          if (sys_.opts.scheme == Scheme::Kernel && sys_.privateProgram[q])
            w = w && !p.liveBelow[q]; // the recursion counter
          if (e.kind == Event::Async)
            w = w && !below.async;
          w = w && tcPushed == 0 && dPushed == 1 &&
              p.async == (below.async || ctx_.bool_val(e.kind == Event::Async)) &&
              relRegion == num(std::max(0, sys_.nodes[e.to].programRegion)) && relLo == 0;
        } else {
          w = w && below.depth < num(sys_.opts.maxCallDepth) && tcPushed == below.tc &&
              dPushed == below.depth + 1 && p.async == below.async && relRegion == below.region &&
              relLo == below.lo + F(below.node);
        }
        ways.push_back(w);
      }
  }
  add(i, z3::mk_or(ways));

  // the tail calls: fewest from pushed to final
  z3::expr_vector tails(ctx_);
  for (size_t a = 0; a < N; ++a)
    for (auto &[m, k] : tr_.dist[a])
      tails.push_back(p.pushed == num(a) && p.node == num(m) && p.tails == num(k));
  add(i, z3::mk_or(tails));
  add(i, p.tc == tcPushed + p.tails);
  if (sys_.tailLimit)
    add(i, p.tc <= num(*sys_.tailLimit));
  add(i, p.depth == z3::ite(p.tails > 0, ctx_.int_val(1), dPushed));

  // placement of the final frame
  z3::expr ksBelow = i == 0 ? ctx_.int_val(0) : pos_[i - 1].ks;
  z3::expr_vector place(ctx_);
  for (size_t k = 0; k < N; ++k) {
    const NodeInfo &ni = sys_.nodes[k];
    z3::expr Fk = num(ni.frame), sh = num(shiftOf(k)), off = num(ni.offset);
    z3::expr at = p.node == num(k);
    switch (ni.placement) {
    case Placement::KernelStack:
      place.push_back(at && p.region == 0 && p.lo == ksBelow && p.hi == ksBelow + Fk && p.ks == p.hi);
      break;
    case Placement::Fixed:
      place.push_back(at && p.region == ni.fixedRegion && p.lo == sh && p.hi == Fk + sh &&
                      p.ks == ksBelow);
      break;
    case Placement::Static:
      place.push_back(at && p.region == ni.programRegion && p.lo == off + sh &&
                      p.hi == off + sh + Fk && p.ks == ksBelow);
      break;
    case Placement::Relative:
      if (sys_.opts.perProgR9AtTop)
        // r9 stays at the pushed frame's top across tail calls
        place.push_back(at && p.region == relRegion && p.hi == relLo + F(p.pushed) &&
                        p.lo == p.hi - Fk && p.ks == ksBelow);
      else
        place.push_back(at && p.region == relRegion && p.lo == relLo && p.hi == relLo + Fk &&
                        p.ks == ksBelow);
      break;
    }
  }
  add(i, z3::mk_or(place));
  pos_.push_back(p);
}

// The property broken by the top frame, at whatever height the stack has.
z3::expr Bmc::violation(const std::string &kind) {
  z3::expr_vector atHeight(ctx_);
  for (size_t t = 0; t < pos_.size(); ++t) {
    const Pos &top = pos_[t];
    z3::expr_vector any(ctx_);
    if (kind == "alias") {
      for (size_t j = 0; j < t; ++j) {
        const Pos &f = pos_[j];
        any.push_back(f.region == top.region && top.region != 0 && f.lo < top.hi &&
                      top.lo < f.hi && f.hi > f.lo && top.hi > top.lo);
      }
    } else {
      any.push_back(top.region == 0 && top.hi > num(int64_t(sys_.kernelBudget())));
      any.push_back(top.region != 0 && top.lo < 0);
      for (auto &[r, bytes] : b_.region)
        any.push_back(top.region == r && top.hi > num(bytes));
    }
    if (!any.empty())
      atHeight.push_back(height_ == num(int64_t(t + 1)) && z3::mk_or(any));
  }
  return atHeight.empty() ? ctx_.bool_val(false) : z3::mk_or(atHeight);
}

std::vector<Choice> Bmc::pathFromModel(const z3::model &m, size_t height) {
  std::vector<Choice> path;
  auto val = [&](const z3::expr &e) { return m.eval(e, true).get_numeral_int64(); };
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

EngineResult Bmc::run() {
  EngineResult res;
  auto limit = maxHeight(sys_, tr_, program_);
  if (!limit) {
    res.verdict = Verdict::Unknown;
    res.reason = "bounded engine is not complete here: stacks can grow without bound";
    return res;
  }
  while (pos_.size() < *limit)
    addPosition();
  s_.add(height_ >= 1 && height_ <= num(int64_t(*limit)));
  for (const char *kind : {"alias", "overflow"}) {
    s_.push();
    s_.add(violation(kind));
    z3::check_result r = s_.check();
    ++res.states;
    if (r == z3::unknown) {
      res.verdict = Verdict::Unknown;
      res.reason = "solver: " + s_.reason_unknown();
      return res;
    }
    if (r == z3::sat) {
      // minimal: the fewest frames, then the fewest tail calls
      z3::model m = s_.get_model();
      auto shrink = [&](const std::function<z3::expr(int64_t)> &smaller, const z3::expr &measure) {
        for (;;) {
          int64_t cur = m.eval(measure, true).get_numeral_int64();
          s_.push();
          s_.add(smaller(cur));
          ++res.states;
          bool better = s_.check() == z3::sat;
          if (better)
            m = s_.get_model();
          s_.pop();
          if (!better)
            return cur;
        }
      };
      int64_t h = shrink([&](int64_t c) { return height_ < num(c); }, height_);
      s_.add(height_ == num(h));
      z3::expr total = ctx_.int_val(0);
      for (int64_t i = 0; i < h; ++i)
        total = total + pos_[size_t(i)].tails;
      shrink([&](int64_t c) { return total < num(c); }, total);
      auto history = replay(sys_, program_, pathFromModel(m, size_t(h)));
      if (!history)
        throw std::logic_error("bounded engine: a model does not replay on the semantics");
      auto problem = checkTop(sys_, b_, history->back());
      if (!problem)
        throw std::logic_error("bounded engine: a model's stack breaks no property");
      res.violations.push_back(makeViolation(sys_, program_, *history, *problem));
    }
    s_.pop();
  }
  res.verdict = res.violations.empty() ? Verdict::Safe : Verdict::Unsafe;
  return res;
}

} // namespace

EngineResult boundedEngine(const System &sys, const Bounds &b, size_t program) {
  try {
    return Bmc(sys, b, program).run();
  } catch (const z3::exception &e) {
    EngineResult r;
    r.reason = std::string("Z3: ") + e.msg();
    return r;
  }
}

} // namespace pstack::detail
