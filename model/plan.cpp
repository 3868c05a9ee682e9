// Pass: plan synthesis (planned scheme).
// Reads:  the explicit engine's frames-live-together relation under the
//         r9-relative layout (which frames can be on one stack at once).
// Writes: per-program static offsets and buffer sizes, minimal by Z3
//         Optimize. The plan is then proved like any other layout (verify).
#include "model/plan.h"
#include "model/engine.h"

#include <z3++.h>

#include <set>

namespace pstack::detail {

PlanResult synthesizePlan(const Object &obj, const CallGraph &g, const VerifyOptions &o) {
  PlanResult out;
  VerifyOptions dyn = o;
  dyn.scheme = Scheme::Planned; // all frames r9-relative until a plan exists
  dyn.shiftFrame.reset();
  System sys(obj, g, dyn);
  std::set<std::pair<size_t, size_t>> coLive;
  std::set<size_t> reached;
  std::map<size_t, int64_t> stackLayout; // program -> its deepest stack, in bytes
  ExploreCache explored;
  explored.coLive = true;
  for (size_t p = 0; p < obj.programs.size(); ++p) {
    EngineResult r = explicitEngine(sys, Bounds{}, p, Deadline(o.timeoutSeconds), &explored);
    if (r.verdict == Verdict::Unknown) {
      out.note = "no static plan: the search for frames live together did not finish (" +
                 r.reason + ")";
      return out;
    }
    if (r.nodeLiveTwice) {
      out.note = "no static plan: a frame can be live twice on one CPU (tail-call or nesting "
                 "recursion); the plan is the r9-relative per-program layout";
      return out;
    }
    coLive.insert(r.coLive.begin(), r.coLive.end());
    for (auto &[region, hi] : r.regionHi)
      for (size_t q = 0; q < obj.programs.size(); ++q)
        if (sys.regionNames[region] == obj.programs[q].name)
          stackLayout[q] = std::max(stackLayout[q], hi);
    reached.insert(sys.entry(p));
    for (auto &[a, b] : r.coLive) {
      reached.insert(a);
      reached.insert(b);
    }
  }
  z3::context ctx;
  z3::optimize opt(ctx);
  z3::params params(ctx);
  params.set("timeout", unsigned(std::max(1.0, o.timeoutSeconds * 1000)));
  opt.set(params);
  std::map<size_t, z3::expr> off;
  std::map<size_t, z3::expr> size;
  for (size_t n : reached) {
    size_t p = sys.nodes[n].program;
    if (!size.count(p))
      size.emplace(p, ctx.int_const(("size_" + obj.programs[p].name).c_str()));
    // offsets in 8-byte granules: frames are multiples of 8
    z3::expr k = ctx.int_const(("granule_" + g.nodeName(n)).c_str());
    z3::expr x = k * 8;
    off.emplace(n, x);
    opt.add(k >= 0 && x + ctx.int_val(int64_t(sys.nodes[n].frame)) <= size.at(p));
  }
  for (auto &[a, b] : coLive) {
    if (a == b || sys.nodes[a].program != sys.nodes[b].program)
      continue; // different programs have different buffers
    const z3::expr &x = off.at(a), &y = off.at(b);
    opt.add(x + ctx.int_val(int64_t(sys.nodes[a].frame)) <= y || y + ctx.int_val(int64_t(sys.nodes[b].frame)) <= x);
  }
  // Every reachable stack is a set of frames live together, so no static
  // plan is smaller than the deepest stack — which is what the r9-relative
  // layout uses. Stating the bound lets Optimize stop as soon as it meets it.
  z3::expr total = ctx.int_val(0);
  for (auto &[p, s] : size) {
    if (stackLayout.count(p))
      opt.add(s >= ctx.int_val(stackLayout.at(p)));
    total = total + s;
  }
  opt.minimize(total);
  if (opt.check() != z3::sat) {
    out.note = "no static plan: Z3 Optimize gave up (timeout or unknown)";
    return out;
  }
  z3::model m = opt.get_model();
  for (auto &[n, x] : off)
    out.offsets[n] = m.eval(x, true).get_numeral_int64();
  for (auto &[p, s] : size)
    out.programBytes[p] = m.eval(s, true).get_numeral_int64();
  return out;
}

} // namespace pstack::detail
