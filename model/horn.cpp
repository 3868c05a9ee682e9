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
  // Spacer: the rules of `program`, its relations to be found.
  Horn(const System &sys, const Bounds &b, size_t program, const Deadline &dl)
      : sys_(sys), b_(b), program_(program), programs_{program}, dl_(dl), fp_(ctx_) {}
  // A certificate check: the rules of every program in cert.programs, its
  // relations given by `cert`.
  Horn(const System &sys, const Bounds &b, const Certificate &cert, const Deadline &dl)
      : sys_(sys), b_(b), program_(cert.programs.empty() ? 0 : cert.programs.front()),
        programs_(cert.programs), dl_(dl), fp_(ctx_), cert_(&cert) {}
  EngineResult run();
  std::vector<EngineResult> check();

private:
  const System &sys_;
  const Bounds &b_;
  size_t program_;
  std::vector<size_t> programs_; // whose entries the rules start from
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
  // certificate mode: the invariant stands for the relations, and each
  // rule is a case `body and not head` that must be unsatisfiable
  const Certificate *cert_ = nullptr;
  std::vector<std::vector<size_t>> topsAt_; // node -> indices into cert_->tops
  std::map<std::pair<size_t, const void *>, z3::expr> invMemo_;
  // certificate mode: the rules out of a node are made once per state of
  // it, the body's atom that state alone (simpler cases than the body's
  // disjunction of every state: what lets cvc5 re-check them)
  const Frame *sourceFrame_ = nullptr;
  size_t sourceNode_ = 0;
  const Certificate::Top *source_ = nullptr;
  z3::expr_vector cases_{ctx_};
  bool guard_ = false, kstack_ = false, buffers_ = false;
  std::vector<z3::func_decl> tops_, pairs_;
  // The atoms of the rules: the relations (Spacer) or their
  // interpretation by the certificate.
  z3::expr topOf(size_t n, const Frame &t);
  z3::expr pairOf(size_t n, const z3::expr &r, const z3::expr &lo, const z3::expr &hi, const Frame &t);
  z3::expr errAtom();
  z3::expr invariant(const Certificate::Top &top, const Frame &t);
  void declare();
  void buildRules();
  // The obligations of a Spacer proof: the invariant substituted into each
  // rule, quantifier-free; each must be unsat (checked here too).
  void obligations(EngineResult &res);
  // A rule's name, made only when it is needed (a certificate's rules are
  // tens of thousands; Spacer names its rules, traces read them back).
  struct RuleId {
    enum Kind : uint8_t { Enter, Push, PushPair, PushCarry, Tail, TailCarry, ErrAlias, ErrOverflow } kind;
    size_t n = 0, j = 0; // node and edge (enter: the program)
    std::string name() const {
      const std::string nj = std::to_string(n) + "_" + std::to_string(j);
      switch (kind) {
      case Enter: return "enter_" + std::to_string(n);
      case Push: return "push_" + nj;
      case PushPair: return "push_" + nj + "_p";
      case PushCarry: return "push_" + nj + "_c";
      case Tail: return "tail_" + nj;
      case TailCarry: return "tail_" + nj + "_c";
      case ErrAlias: return "err_alias_" + std::to_string(n);
      case ErrOverflow: return "err_overflow_" + std::to_string(n);
      }
      return "?";
    }
  };
  std::vector<RuleId> caseRules_; // certificate mode: the rule of each case
  void rule(const z3::expr &body, const z3::expr &head, const RuleId &id, const z3::expr_vector &bound) {
    if (cert_) {
      cases_.push_back(body && !head);
      caseRules_.push_back(id);
      return;
    }
    // (Spacer's single program enters through "enter")
    const std::string name = id.kind == RuleId::Enter ? "enter" : id.name();
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

void Horn::declare() {
  // Only what the scheme needs is tracked; the rest is fixed to 0, which
  // keeps Spacer's lemmas small: the program set for the recursion counter,
  // the kernel-stack depth when some frame is on the kernel stack, frames
  // in buffers (the only ones that can alias) for Pair.
  for (size_t p = 0; p < sys_.obj.programs.size(); ++p)
    guard_ |= sys_.opts.scheme == Scheme::Kernel && sys_.privateProgram[p];
  for (auto &ni : sys_.nodes) {
    kstack_ |= ni.placement == Placement::KernelStack ||
               sys_.opts.scheme == Scheme::StackSwitch; // (its return addresses and r12)
    buffers_ |= ni.placement != Placement::KernelStack;
  }
  if (guard_)
    P_ = unsigned(std::max<size_t>(1, sys_.obj.programs.size()));
  if (cert_) {
    topsAt_.resize(sys_.nodes.size());
    for (size_t i = 0; i < cert_->tops.size(); ++i)
      topsAt_.at(cert_->tops[i].node).push_back(i);
    return;
  }
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
  for (size_t n = 0; n < sys_.nodes.size(); ++n) {
    tops_.push_back(ctx_.function(("Top_" + std::to_string(n)).c_str(), topSorts, B));
    pairs_.push_back(ctx_.function(("Pair_" + std::to_string(n)).c_str(), pairSorts, B));
    fp_.register_relation(tops_.back());
    fp_.register_relation(pairs_.back());
  }
  z3::func_decl err = ctx_.function("Err", 0, nullptr, B);
  fp_.register_relation(err);
}

// One key of the search, over the frame `t`: exact but for the tail-call
// count and the kernel-stack depth (see Certificate).
z3::expr Horn::invariant(const Certificate::Top &top, const Frame &t) {
  z3::expr e = t.r == top.frame.region && t.d == num(top.depth) && t.async == ctx_.bool_val(top.async);
  if (top.frame.region == 0)
    e = e && t.hi == t.ks + num(top.frame.hi) && t.lo == t.ks + num(top.frame.lo);
  else
    e = e && t.lo == num(top.frame.lo) && t.hi == num(top.frame.hi);
  if (!guard_) {
    e = e && t.below == ctx_.bv_val(0, P_);
  } else if (!top.below.empty()) {
    // (not tracked by the search where nothing reads it: left free)
    uint64_t bits = 0;
    for (size_t q = 0; q < top.below.size() && q < 64; ++q)
      bits |= uint64_t(top.below[q]) << q;
    e = e && t.below == ctx_.bv_val(bits, P_);
  }
  z3::expr_vector layers(ctx_);
  for (auto &l : top.layers)
    layers.push_back(t.tc >= num(l.tcLo) && t.tc <= num(l.tcHi) && t.ks <= num(l.ksMax));
  return e && (layers.empty() ? ctx_.bool_val(false) : z3::mk_or(layers));
}

z3::expr Horn::topOf(size_t n, const Frame &t) {
  if (!cert_)
    return tops_[n](args(t));
  if (source_ && n == sourceNode_ && &t == sourceFrame_)
    return invariant(*source_, t);
  auto key = std::make_pair(n, static_cast<const void *>(&t));
  if (auto it = invMemo_.find(key); it != invMemo_.end())
    return it->second;
  z3::expr_vector any(ctx_);
  for (size_t i : topsAt_[n])
    any.push_back(invariant(cert_->tops[i], t));
  z3::expr e = any.empty() ? ctx_.bool_val(false) : z3::mk_or(any);
  invMemo_.emplace(key, e);
  return e;
}

z3::expr Horn::pairOf(size_t n, const z3::expr &r, const z3::expr &lo, const z3::expr &hi,
                      const Frame &t) {
  if (!cert_) {
    z3::expr_vector v(ctx_);
    v.push_back(r);
    v.push_back(lo);
    v.push_back(hi);
    for (auto e : args(t))
      v.push_back(e);
    return pairs_[n](v);
  }
  z3::expr_vector any(ctx_);
  for (size_t i : topsAt_[n]) {
    const Certificate::Top &top = cert_->tops[i];
    if (source_ && n == sourceNode_ && &t == sourceFrame_ && &top != source_)
      continue;
    z3::expr_vector members(ctx_);
    for (auto &x : top.pairs)
      members.push_back(r == x.region && lo == num(x.lo) && hi == num(x.hi));
    if (!members.empty())
      any.push_back(invariant(top, t) && z3::mk_or(members));
  }
  return any.empty() ? ctx_.bool_val(false) : z3::mk_or(any);
}

z3::expr Horn::errAtom() {
  if (cert_)
    return ctx_.bool_val(false);
  return ctx_.function("Err", 0, nullptr, ctx_.bool_sort())();
}

void Horn::buildRules() {
  Frame a = vars("_a"), f = vars("_f");
  z3::expr xr = ctx_.int_const("xr"), xlo = ctx_.int_const("xlo"), xhi = ctx_.int_const("xhi");
  auto bound = [&](std::initializer_list<const Frame *> frames, bool withX) {
    z3::expr_vector v(ctx_);
    if (cert_)
      return v; // (quantifier-free cases: nothing bound)
    for (auto *fr : frames)
      for (auto e : args(*fr))
        v.push_back(e);
    if (withX)
      for (auto *e : {&xr, &xlo, &xhi})
        v.push_back(*e);
    return v;
  };
  auto progBelowOk = [&](size_t q, const z3::expr &belowWithTop) {
    if (sys_.opts.scheme == Scheme::Kernel && sys_.privateProgram[q])
      return (belowWithTop & bit(q)) == ctx_.bv_val(0, P_);
    return ctx_.bool_val(true);
  };
  const bool guard = guard_, kstack = kstack_, buffers = buffers_;

  // enter
  for (size_t program : programs_) {
    size_t entry = sys_.entry(program);
    rule(f.tc == 0 && f.d == 1 && !f.async && f.below == ctx_.bv_val(0, P_) &&
             placeNew(entry, nullptr, Event::Enter, f, 0, 0),
         topOf(entry, f), {RuleId::Enter, program, 0}, bound({&f}, false));
  }

  // A tail call's step depends on its target alone (the frame it replaces
  // is `a`, whatever node that is): made once per target.
  std::map<size_t, z3::expr> tailStep;
  auto tailStepTo = [&](size_t to) {
    auto it = tailStep.find(to);
    if (it != tailStep.end())
      return it->second;
    z3::expr step = f.below == a.below && f.tc == a.tc + 1 && f.d == 1 && f.async == a.async &&
                    placeTail(to, a, f);
    if (sys_.tailLimit)
      step = step && a.tc < num(*sys_.tailLimit);
    return tailStep.emplace(to, step).first->second;
  };

  // pushes and tail calls, each as a Top rule and a Pair-carrying rule
  std::vector<const Certificate::Top *> sources;
  std::vector<z3::expr> pushSteps, pushStepsKs;
  for (size_t n = 0; n < sys_.nodes.size(); ++n) {
    if (dl_.expired())
      throw z3::exception("out of time");
    pushSteps.clear();
    pushStepsKs.clear();
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
      pushSteps.push_back(step);
      pushStepsKs.push_back(kstack ? step : step && f.ks == 0);
      if (!cert_) {
        std::string name = RuleId{RuleId::Push, n, j}.name();
        choiceOf_[name] = choiceOf_[name + "_p"] = choiceOf_[name + "_c"] = {false, j};
      }
    }
    if (!cert_)
      for (size_t j = 0; j < sys_.tailsFrom[n].size(); ++j) {
        std::string name = RuleId{RuleId::Tail, n, j}.name();
        choiceOf_[name] = choiceOf_[name + "_c"] = {true, j};
      }
    // the rules out of n: once (Spacer), or once per state of n (see source_)
    sources.assign(1, nullptr);
    if (cert_) {
      sources.clear();
      for (size_t i : topsAt_[n])
        sources.push_back(&cert_->tops[i]);
      sourceNode_ = n;
      sourceFrame_ = &a;
    }
    for (const Certificate::Top *src : sources) {
      source_ = src;
      const z3::expr top = topOf(n, a);
      const std::optional<z3::expr> pair =
          buffers ? std::optional<z3::expr>(pairOf(n, xr, xlo, xhi, a)) : std::nullopt;
      for (size_t j = 0; j < sys_.pushesFrom[n].size(); ++j) {
        const PushEdge &e = sys_.pushesFrom[n][j];
        rule(top && pushSteps[j], topOf(e.to, f), {RuleId::Push, n, j}, bound({&a, &f}, false));
        // a frame on the kernel stack never aliases: no Pair for it
        if (sys_.nodes[n].placement != Placement::KernelStack)
          rule(top && pushStepsKs[j], pairOf(e.to, a.r, a.lo, a.hi, f), {RuleId::PushPair, n, j},
               bound({&a, &f}, false));
        if (pair)
          rule(*pair && pushStepsKs[j], pairOf(e.to, xr, xlo, xhi, f), {RuleId::PushCarry, n, j},
               bound({&a, &f}, true));
      }
      for (size_t j = 0; j < sys_.tailsFrom[n].size(); ++j) {
        const TailEdge &e = sys_.tailsFrom[n][j];
        const z3::expr step = tailStepTo(e.to);
        rule(top && step, topOf(e.to, f), {RuleId::Tail, n, j}, bound({&a, &f}, false));
        if (pair)
          rule(*pair && step, pairOf(e.to, xr, xlo, xhi, f), {RuleId::TailCarry, n, j},
               bound({&a, &f}, true));
      }
      // errors
      if (pair)
        rule(*pair && xr == a.r && a.r != 0 && xlo < a.hi && a.lo < xhi && xhi > xlo && a.hi > a.lo,
             errAtom(), {RuleId::ErrAlias, n, 0}, bound({&a}, true));
      z3::expr_vector over(ctx_);
      over.push_back(a.r == 0 && a.hi > num(int64_t(sys_.kernelBudget())));
      if (sys_.opts.scheme == Scheme::StackSwitch) // its entries' bytes on the task stack
        over.push_back(a.r != 0 && a.ks > num(int64_t(sys_.kernelBudget())));
      over.push_back(a.r != 0 && a.lo < 0);
      for (auto &[r, bytes] : b_.region) // (stack-switch: and what it must hold below the frame)
        over.push_back(a.r == r && a.hi + num(int64_t(sys_.nodes[n].reserve)) > num(bytes));
      rule(top && z3::mk_or(over), errAtom(), {RuleId::ErrOverflow, n, 0}, bound({&a}, false));
    }
  }
  source_ = nullptr;
}

EngineResult Horn::run() {
  EngineResult res;
  declare();
  z3::params p(ctx_);
  p.set("engine", "spacer");
  p.set("timeout", dl_.solverMs());
  fp_.set(p);
  buildRules();
  z3::expr err = errAtom();
  z3::check_result r = fp_.query(err);
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
    // Spacer's derivation did not replay (Z3 may not name its rules): the
    // explicit search over the same system gives a concrete, minimal trace
    // where it can finish in the time left
    EngineResult ex = explicitEngine(sys_, b_, program_, dl_);
    if (!ex.violations.empty()) {
      for (Violation &v : ex.violations) {
        v.message += " (Spacer derived an error; this trace is the explicit search's)";
        res.violations.push_back(std::move(v));
      }
      return res;
    }
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

std::vector<EngineResult> Horn::check() {
  std::vector<EngineResult> out(programs_.size());
  declare();
  buildRules();
  // One query: some rule is not discharged. Unsat is every rule at once.
  z3::solver s(ctx_);
  z3::params p(ctx_);
  p.set("timeout", dl_.solverMs());
  s.set(p);
  s.add(cases_.empty() ? ctx_.bool_val(false) : z3::mk_or(cases_));
  z3::check_result r = s.check();
  if (r == z3::unsat) {
    for (auto &res : out) {
      res.verdict = Verdict::Safe;
      res.certificate = true;
      res.states = cases_.size();
    }
    // The obligations to write: the same cases in parts, each of which a
    // solver must find unsat (one disjunction of every case is hard for
    // cvc5 where Z3 takes it at once), at most ~64 of them.
    if (sys_.opts.collectObligations && !out.empty()) {
      const unsigned part = std::max(64u, unsigned(cases_.size() + 63) / 64);
      for (unsigned from = 0, k = 0; from < cases_.size(); from += part, ++k) {
        z3::solver one(ctx_);
        z3::expr_vector chunk(ctx_);
        for (unsigned i = from; i < std::min<unsigned>(cases_.size(), from + part); ++i)
          chunk.push_back(cases_[i]);
        one.add(z3::mk_or(chunk));
        const unsigned last = from + chunk.size() - 1;
        out.front().obligations.push_back(
            {"", "part" + std::to_string(k + 1), "certificate",
             "; rules:    " + caseRules_[from].name() + (last > from ? " to " + caseRules_[last].name() : "") + " (" +
                 std::to_string(chunk.size()) + " of " + std::to_string(cases_.size()) + ")\n" +
                 one.to_smt2("unsat")});
      }
    }
    return out;
  }
  // Not discharged: name the first rule that is not (a bug of ours, the
  // search's or the encoding's; the programs go on to the other engines).
  std::string reason = r == z3::unknown ? "solver: " + s.reason_unknown() : "";
  if (r == z3::sat) {
    // the model satisfies some case: the first one it does
    z3::model m = s.get_model();
    for (unsigned i = 0; i < cases_.size(); ++i)
      if (m.eval(cases_[i], true).is_true()) {
        reason = "rule " + caseRules_[i].name() + " is not discharged by the explicit search's invariant";
        break;
      }
  }
  for (auto &res : out) {
    res.verdict = Verdict::Unknown;
    res.reason = "certificate: " + reason;
    res.states = cases_.size();
  }
  return out;
}

std::vector<EngineResult> certificateEngine(const System &sys, const Bounds &b, const Certificate &cert,
                                            const Deadline &dl) {
  try {
    if (dl.expired())
      throw z3::exception("out of time");
    return Horn(sys, b, cert, dl).check();
  } catch (const z3::exception &e) {
    std::vector<EngineResult> out(cert.programs.size());
    for (auto &r : out)
      r.reason = dl.expired() ? "certificate: " + dl.reason() : std::string("Z3: ") + e.msg();
    return out;
  }
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
