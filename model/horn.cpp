// Pass: the unbounded engine (Z3 Spacer, constrained Horn clauses).
// Reads:  System, Bounds.
// Writes: EngineResult (with the inductive invariant when safe).
// Encoding: two relations over frames, linear clauses (one body atom each):
//   Top(n, r, lo, hi, tc, d, async, ks, below)  — a reachable top frame;
//   Pair(xr, xlo, xhi, <Top's arguments>)      — frame x is live below it.
//   A push out of the top makes the old top a Pair member; pushes and tail
//   calls carry every Pair member along (frames below never change). Err is
//   derived from a Pair that overlaps in one buffer, or a Top that leaves
//   its region. Alias and overflow concern at most two frames, so this is
//   exact, not an abstraction; recursion through nesting, re-entry or an
//   unlimited tail-call chain is then Spacer's to decide.
// Invariant: a derivation of Err is replayed on System before it becomes a
//   trace; `safe` only when Spacer answers unsat.
#include "model/encode.h"
#include "model/engine.h"
#include "model/watchdog.h"

#include <z3++.h>

#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace pstack::detail {

namespace {

class Horn {
public:
  Horn(const System &sys, const Bounds &b, size_t program, const Deadline &dl)
      : sys_(sys), b_(b), program_(program), dl_(dl), fp_(ctx_) {}
  EngineResult run();

private:
  const System &sys_;
  const Bounds &b_;
  size_t program_;
  const Deadline &dl_;
  z3::context ctx_;
  SolverWatchdog watchdog_{ctx_, dl_};
  z3::expr num(int64_t v) { return ctx_.int_val(v); }
  z3::fixedpoint fp_;
  unsigned P_ = 1; // width of the `below` program set
  std::vector<std::string> ruleNames_;
  std::map<std::string, Choice> choiceOf_;

  struct Frame {
    z3::expr r, lo, hi, tc, d, async, ks, below;
  };
  Frame vars(const std::string &suffix) {
    auto I = [&](const char *s) { return ctx_.int_const((s + suffix).c_str()); };
    return {I("r"), I("lo"), I("hi"), I("tc"), I("d"),
            ctx_.bool_const(("async" + suffix).c_str()), I("ks"),
            ctx_.bv_const(("below" + suffix).c_str(), P_)};
  }
  z3::expr_vector args(const Frame &f) {
    z3::expr_vector v(ctx_);
    for (auto *e : {&f.r, &f.lo, &f.hi, &f.tc, &f.d, &f.async, &f.ks, &f.below})
      v.push_back(*e);
    return v;
  }
  z3::expr bit(size_t prog) {
    return z3::shl(ctx_.bv_val(1, P_), ctx_.bv_val(uint64_t(prog), P_));
  }
  struct Rule {
    std::string name;
    z3::expr body, head;
  };
  std::vector<Rule> rules_;
  // The obligations of a Spacer proof: the invariant substituted into each
  // rule, quantifier-free; each must be unsat (checked here too).
  void obligations(EngineResult &res);
  void rule(const z3::expr &body, const z3::expr &head, const std::string &name,
            const z3::expr_vector &bound) {
    rules_.push_back({name, body, head});
    z3::expr r = bound.empty() ? z3::implies(body, head) : z3::forall(bound, z3::implies(body, head));
    fp_.add_rule(r, ctx_.str_symbol(name.c_str()));
    ruleNames_.push_back(name);
  }
  // Constraints making `f` the frame `placeNew` gives node k pushed by `ev`
  // on top of `below`.
  z3::expr placeNew(size_t k, const Frame *below, Event ev, const Frame &f, int64_t callerF, uint32_t gap);
  z3::expr placeTail(size_t k, const Frame &top, const Frame &f);
};

// `callerF`: the frame size of the node below (r9 moves by it on a call),
// and the edge's gap (stack-switch: a callback a helper calls).
z3::expr Horn::placeNew(size_t k, const Frame *below, Event ev, const Frame &f, int64_t callerF,
                        uint32_t gap) {
  z3::expr ks = below ? below->ks : ctx_.int_val(0);
  if (auto abs = absolutePlacement(sys_, k, f.r, f.lo, f.hi, f.ks, ks))
    return *abs;
  z3::expr F = num(sys_.nodes[k].frame);
  z3::expr ksNew = ks + num(int64_t(sys_.taskStackOnPush(ev, gap)));
  if (below && (ev == Event::Call || ev == Event::Callback))
    return f.r == below->r && f.lo == below->lo + num(callerF + gap) && f.hi == f.lo + F && f.ks == ksNew;
  return f.r == sys_.nodes[k].programRegion && f.lo == num(sys_.activationBase) &&
         f.hi == f.lo + F && f.ks == ksNew;
}

z3::expr Horn::placeTail(size_t k, const Frame &top, const Frame &f) {
  z3::expr ksBelow = top.ks - z3::ite(top.r == 0, top.hi - top.lo, ctx_.int_val(0));
  if (auto abs = absolutePlacement(sys_, k, f.r, f.lo, f.hi, f.ks, ksBelow))
    return *abs;
  z3::expr F = num(sys_.nodes[k].frame);
  if (sys_.opts.perProgR9AtTop)
    return f.r == top.r && f.hi == top.hi && f.lo == top.hi - F && f.ks == ksBelow;
  return f.r == top.r && f.lo == top.lo && f.hi == top.lo + F && f.ks == ksBelow;
}

EngineResult Horn::run() {
  EngineResult res;
  // Only what the scheme needs is tracked; the rest is fixed to 0, which
  // keeps Spacer's lemmas small: the program set for the recursion counter,
  // the kernel-stack depth when some frame is on the kernel stack, frames
  // in buffers (the only ones that can alias) for Pair.
  bool guard = false, kstack = false, buffers = false;
  for (size_t p = 0; p < sys_.obj.programs.size(); ++p)
    guard |= sys_.opts.scheme == Scheme::Kernel && sys_.privateProgram[p];
  for (auto &ni : sys_.nodes) {
    kstack |= ni.placement == Placement::KernelStack ||
              sys_.opts.scheme == Scheme::StackSwitch; // (its return addresses and r12)
    buffers |= ni.placement != Placement::KernelStack;
  }
  if (guard)
    P_ = unsigned(std::max<size_t>(1, sys_.obj.programs.size()));
  z3::params p(ctx_);
  p.set("engine", "spacer");
  p.set("timeout", dl_.solverMs());
  fp_.set(p);

  // One Top and one Pair relation per node (the node is the "location"):
  // Spacer then learns lemmas per function instead of case splits on n.
  z3::sort I = ctx_.int_sort(), B = ctx_.bool_sort(), BV = ctx_.bv_sort(P_);
  z3::sort_vector topSorts(ctx_), pairSorts(ctx_);
  for (auto s : {I, I, I})
    pairSorts.push_back(s);
  for (auto s : {I, I, I, I, I, B, I, BV}) {
    topSorts.push_back(s);
    pairSorts.push_back(s);
  }
  std::vector<z3::func_decl> tops, pairs;
  for (size_t n = 0; n < sys_.nodes.size(); ++n) {
    tops.push_back(ctx_.function(("Top_" + std::to_string(n)).c_str(), topSorts, B));
    pairs.push_back(ctx_.function(("Pair_" + std::to_string(n)).c_str(), pairSorts, B));
    fp_.register_relation(tops.back());
    fp_.register_relation(pairs.back());
  }
  z3::func_decl err = ctx_.function("Err", 0, nullptr, B);
  fp_.register_relation(err);

  Frame a = vars("_a"), f = vars("_f");
  z3::expr xr = ctx_.int_const("xr"), xlo = ctx_.int_const("xlo"), xhi = ctx_.int_const("xhi");
  auto bound = [&](std::initializer_list<const Frame *> frames, bool withX) {
    z3::expr_vector v(ctx_);
    for (auto *fr : frames)
      for (auto e : args(*fr))
        v.push_back(e);
    if (withX)
      for (auto *e : {&xr, &xlo, &xhi})
        v.push_back(*e);
    return v;
  };
  auto topOf = [&](size_t n, const Frame &t) { return tops[n](args(t)); };
  auto pairOf = [&](size_t n, const z3::expr &r, const z3::expr &lo, const z3::expr &hi,
                    const Frame &t) {
    z3::expr_vector v(ctx_);
    v.push_back(r);
    v.push_back(lo);
    v.push_back(hi);
    for (auto e : args(t))
      v.push_back(e);
    return pairs[n](v);
  };
  auto progBelowOk = [&](size_t q, const z3::expr &belowWithTop) {
    if (sys_.opts.scheme == Scheme::Kernel && sys_.privateProgram[q])
      return (belowWithTop & bit(q)) == ctx_.bv_val(0, P_);
    return ctx_.bool_val(true);
  };

  // enter
  size_t entry = sys_.entry(program_);
  rule(f.tc == 0 && f.d == 1 && !f.async && f.below == ctx_.bv_val(0, P_) &&
           placeNew(entry, nullptr, Event::Enter, f, 0, 0),
       topOf(entry, f), "enter", bound({&f}, false));

  // pushes and tail calls, each as a Top rule and a Pair-carrying rule
  for (size_t n = 0; n < sys_.nodes.size(); ++n) {
    for (size_t j = 0; j < sys_.pushesFrom[n].size(); ++j) {
      const PushEdge &e = sys_.pushesFrom[n][j];
      size_t q = sys_.nodes[e.to].program;
      z3::expr belowWithTop = guard ? (a.below | bit(sys_.nodes[n].program)) : a.below;
      z3::expr step = f.below == belowWithTop;
      if (newActivation(e.kind)) {
        step = step && progBelowOk(q, belowWithTop) && f.tc == 0 && f.d == 1;
        if (e.kind == Event::Async)
          step = step && !a.async && f.async;
        else
          step = step && f.async == a.async;
      } else {
        step = step && a.d < num(sys_.opts.maxCallDepth) && f.tc == a.tc && f.d == a.d + 1 &&
               f.async == a.async;
      }
      step = step && placeNew(e.to, &a, e.kind, f, int64_t(sys_.nodes[n].frame), e.gap);
      std::string name = "push_" + std::to_string(n) + "_" + std::to_string(j);
      rule(topOf(n, a) && step, topOf(e.to, f), name, bound({&a, &f}, false));
      if (!kstack)
        step = step && f.ks == 0;
      // a frame on the kernel stack never aliases: no Pair for it
      if (sys_.nodes[n].placement != Placement::KernelStack)
        rule(topOf(n, a) && step, pairOf(e.to, a.r, a.lo, a.hi, f), name + "_p",
             bound({&a, &f}, false));
      if (buffers)
        rule(pairOf(n, xr, xlo, xhi, a) && step, pairOf(e.to, xr, xlo, xhi, f), name + "_c",
             bound({&a, &f}, true));
      choiceOf_[name] = choiceOf_[name + "_p"] = choiceOf_[name + "_c"] = {false, j};
    }
    for (size_t j = 0; j < sys_.tailsFrom[n].size(); ++j) {
      const TailEdge &e = sys_.tailsFrom[n][j];
      z3::expr step = f.below == a.below &&
                      f.tc == a.tc + 1 && f.d == 1 && f.async == a.async &&
                      placeTail(e.to, a, f);
      if (sys_.tailLimit)
        step = step && a.tc < num(*sys_.tailLimit);
      std::string name = "tail_" + std::to_string(n) + "_" + std::to_string(j);
      rule(topOf(n, a) && step, topOf(e.to, f), name, bound({&a, &f}, false));
      if (buffers)
        rule(pairOf(n, xr, xlo, xhi, a) && step, pairOf(e.to, xr, xlo, xhi, f), name + "_c",
             bound({&a, &f}, true));
      choiceOf_[name] = choiceOf_[name + "_c"] = {true, j};
    }
  }
  // errors, per node
  for (size_t n = 0; n < sys_.nodes.size(); ++n) {
    if (buffers)
      rule(pairOf(n, xr, xlo, xhi, a) && xr == a.r && a.r != 0 && xlo < a.hi && a.lo < xhi &&
               xhi > xlo && a.hi > a.lo,
           err(), "err_alias_" + std::to_string(n), bound({&a}, true));
    z3::expr_vector over(ctx_);
    over.push_back(a.r == 0 && a.hi > num(int64_t(sys_.kernelBudget())));
    if (sys_.opts.scheme == Scheme::StackSwitch) // its entries' bytes on the task stack
      over.push_back(a.r != 0 && a.ks > num(int64_t(sys_.kernelBudget())));
    over.push_back(a.r != 0 && a.lo < 0);
    for (auto &[r, bytes] : b_.region) // (stack-switch: and what it must hold below the frame)
      over.push_back(a.r == r && a.hi + num(int64_t(sys_.nodes[n].reserve)) > num(bytes));
    rule(topOf(n, a) && z3::mk_or(over), err(), "err_overflow_" + std::to_string(n),
         bound({&a}, false));
  }

  z3::expr q = err();
  z3::check_result r = fp_.query(q);
  res.states = ruleNames_.size();
  if (r == z3::unknown) {
    res.verdict = Verdict::Unknown;
    res.reason = "Spacer: " + fp_.reason_unknown();
    return res;
  }
  if (r == z3::unsat) {
    // the inductive invariant: Spacer's interpretation of every relation
    // (per-level covers at level -1 hold only the lemmas pushed to infinity)
    res.verdict = Verdict::Safe;
    std::ostringstream os;
    os << fp_.get_answer();
    res.invariant = os.str();
    if (sys_.opts.collectObligations)
      obligations(res);
    return res;
  }
  // a derivation: the rule names along it, turned into a path and replayed
  res.verdict = Verdict::Unsafe;
  Z3_symbol names = Z3_fixedpoint_get_rule_names_along_trace(ctx_, fp_);
  std::string all = Z3_get_symbol_string(ctx_, names);
  std::vector<std::string> seq;
  for (size_t at = 0; at <= all.size();) {
    size_t semi = all.find(';', at);
    std::string nm = all.substr(at, semi == std::string::npos ? std::string::npos : semi - at);
    if (!nm.empty())
      seq.push_back(nm);
    at = semi == std::string::npos ? all.size() + 1 : semi + 1;
  }
  if (!seq.empty() && seq.front() != "enter")
    std::reverse(seq.begin(), seq.end());
  std::vector<Choice> path;
  for (auto &nm : seq)
    if (auto it = choiceOf_.find(nm); it != choiceOf_.end())
      path.push_back(it->second);
  auto history = replay(sys_, program_, path);
  std::optional<Problem> problem;
  if (history)
    problem = checkTop(sys_, b_, history->back());
  if (!history || !problem) {
    Violation v;
    v.kind = seq.size() && seq.back().rfind("err_overflow", 0) == 0 ? "overflow" : "alias";
    v.program = sys_.obj.programs[program_].name;
    v.message = "Spacer derived the error through rules " + all +
                " (the derivation did not replay as a trace)";
    res.violations.push_back(v);
    return res;
  }
  res.violations.push_back(makeViolation(sys_, program_, *history, *problem));
  return res;
}

} // namespace

void Horn::obligations(EngineResult &res) {
  // The inductive invariant: Spacer's frame at the level where it
  // converged, i.e. the lemmas of that level and above (and of level -1,
  // "infinity"). That level is not exposed: try from the top down until
  // every rule is discharged.
  unsigned levels = 0;
  std::vector<z3::func_decl> rels;
  for (auto &r : rules_)
    for (const z3::expr *e : {&r.body, &r.head}) {
      std::function<void(const z3::expr &)> walk = [&](const z3::expr &x) {
        if (!x.is_app())
          return;
        std::string n = x.decl().name().str();
        if (n.rfind("Top_", 0) == 0 || n.rfind("Pair_", 0) == 0 || n == "Err") {
          bool seen = false;
          for (auto &d : rels)
            seen |= d.name().str() == n;
          if (!seen)
            rels.push_back(x.decl());
        }
        for (unsigned i = 0; i < x.num_args(); ++i)
          walk(x.arg(i));
      };
      walk(*e);
    }
  for (auto &d : rels)
    levels = std::max(levels, Z3_fixedpoint_get_num_levels(ctx_, fp_, d));
  for (int from = int(levels) + 1; from >= 0; --from) {
    std::map<std::string, z3::expr> inv;
    for (auto &d : rels) {
      z3::expr f = fp_.get_cover_delta(-1, d);
      for (int l = from; l <= int(levels); ++l)
        f = f && fp_.get_cover_delta(l, d);
      inv.emplace(d.name().str(), f);
    }
    std::map<unsigned, z3::expr> memo;
    std::function<z3::expr(const z3::expr &)> subst = [&](const z3::expr &e) -> z3::expr {
      auto m = memo.find(e.id());
      if (m != memo.end())
        return m->second;
      z3::expr out = e;
      if (e.is_app()) {
        std::string n = e.decl().name().str();
        auto def = inv.find(n);
        z3::expr_vector args(ctx_);
        for (unsigned i = 0; i < e.num_args(); ++i)
          args.push_back(subst(e.arg(i)));
        if (def != inv.end())
          out = e.num_args() ? def->second.substitute(args) : def->second;
        else if (e.num_args())
          out = e.decl()(args);
      }
      memo.emplace(e.id(), out);
      return out;
    };
    std::vector<Obligation> obs;
    bool all = true;
    for (auto &r : rules_) {
      z3::solver s(ctx_);
      s.add(subst(r.body) && !subst(r.head));
      z3::params p(ctx_);
      p.set("timeout", 10000u);
      s.set(p);
      if (s.check() != z3::unsat) {
        if (getenv("PSTACK_HORN_DEBUG"))
          std::cerr << "level " << from << " of " << levels << ": rule " << r.name << " not discharged\n";
        all = false;
        break;
      }
      obs.push_back({sys_.obj.programs[program_].name, r.name, "spacer", s.to_smt2("unsat")});
    }
    if (all) {
      res.obligations = std::move(obs);
      return;
    }
  }
  // No frame Spacer exposes (its lemma covers, level by level) discharges
  // every rule on its own: its proof rests on lemmas the API does not give
  // back (quantified ones, among others). Say so: an empty obligation.
  res.obligations.push_back({sys_.obj.programs[program_].name, "invariant-not-extracted", "spacer", ""});
}

EngineResult unboundedEngine(const System &sys, const Bounds &b, size_t program, const Deadline &dl) {
  if (dl.expired()) {
    EngineResult r;
    r.reason = "unbounded engine: " + dl.reason();
    return r;
  }
  try {
    return Horn(sys, b, program, dl).run();
  } catch (const z3::exception &e) {
    EngineResult r;
    // interrupted by the watchdog, or Z3 failed on its own
    r.reason = dl.expired() ? "unbounded engine: " + dl.reason() : std::string("Z3: ") + e.msg();
    return r;
  }
}

} // namespace pstack::detail
