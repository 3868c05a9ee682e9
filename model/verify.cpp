// Pass: verify — the kernel verifier's limits, the engines, the report.
// Reads:  Object, CallGraph, VerifyOptions.
// Writes: Report.
// Invariant: a program is `safe` only when an engine that is complete for
//         it proved every property and no engine found a violation; every
//         violation reported was replayed on the concrete semantics.
#include "model/engine.h"
#include "model/plan.h"
#include "model/reach.h"

#include <algorithm>
#include <functional>
#include <set>

namespace pstack {

const char *schemeName(Scheme s) {
  switch (s) {
  case Scheme::Kernel: return "kernel";
  case Scheme::PerSubprog: return "per-subprog";
  case Scheme::PerProg: return "per-prog";
  case Scheme::Planned: return "planned";
  }
  return "?";
}

std::optional<Scheme> schemeFromName(const std::string &s) {
  for (Scheme x : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned})
    if (s == schemeName(x))
      return x;
  return std::nullopt;
}

const char *verdictName(Verdict v) {
  switch (v) {
  case Verdict::Safe: return "safe";
  case Verdict::Unsafe: return "unsafe";
  case Verdict::Unknown: return "unknown";
  }
  return "?";
}

namespace {

using namespace detail;

constexpr uint32_t kGuard = 8; // the kernel's guard bytes at each end of a buffer

// What the in-kernel verifier would reject, per program (kernel scheme):
// check_max_stack_depth's walk over calls and synchronous callbacks. Under
// the other schemes only the rules that do not depend on where frames live
// (more than 8 frames, recursion) apply: the engines explore chains to 8
// frames only, so a deeper chain must not pass as safe.
std::vector<Violation> kernelLimits(const System &sys) {
  const bool layoutRules = sys.opts.scheme == Scheme::Kernel;
  std::vector<Violation> out;
  const auto &g = sys.graph;
  uint32_t round = sys.opts.kernel == KernelVersion::V6_1 ? 32 : 16;
  auto cost = [&](size_t n) { return kernelFrameCost(sys.nodes[n].frame, round); };
  auto onKernelStack = [&](size_t n) { return sys.nodes[n].placement == Placement::KernelStack; };
  for (size_t p = 0; p < sys.obj.programs.size(); ++p) {
    const Program &pr = sys.obj.programs[p];
    auto add = [&](const std::vector<size_t> &path, const std::string &msg) {
      Violation v;
      v.kind = "kernel_limit";
      v.program = pr.name;
      v.message = msg;
      for (size_t i = 0; i < path.size(); ++i) {
        TraceStep s;
        s.event = i == 0 ? "enter" : "call";
        s.program = pr.name;
        s.function = sys.function(path[i]).name;
        if (i > 0)
          for (auto &e : g.edges())
            if (e.from == path[i - 1] && e.to == path[i]) {
              s.insn = sys.function(path[i - 1]).sectionInsn(e.insn);
              s.section = sys.function(path[i - 1]).section;
              if (auto *in = sys.function(path[i - 1]).insnAt(e.insn); in && in->loc)
                s.source = in->loc;
              break;
            }
        s.region = onKernelStack(path[i]) ? "kernel_stack" : g.nodeName(path[i]);
        s.hi = sys.nodes[path[i]].frame;
        s.depth = uint32_t(i);
        s.clash = i + 1 == path.size();
        v.trace.push_back(s);
      }
      out.push_back(std::move(v));
    };
    std::vector<size_t> path;
    bool reported = false;
    std::function<void(size_t, uint32_t)> dfs = [&](size_t n, uint32_t sum) {
      if (reported)
        return;
      path.push_back(n);
      // with private stacks the sum restarts at each frame with its own buffer
      sum = onKernelStack(n) ? sum + cost(n) : 0;
      if (path.size() > 8) {
        add(path, "the call stack of " + std::to_string(path.size()) +
                      " frames is too deep (the kernel allows 8)");
        reported = true;
      } else if (layoutRules && sum > 512) {
        add(path, "combined stack size of " + std::to_string(path.size()) + " calls is " +
                      std::to_string(sum) + ". Too large (512)");
        reported = true;
      } else if (layoutRules && !sys.function(n).tailCalls.empty() && path.size() > 1) {
        uint32_t callers = 0;
        for (size_t i = 0; i + 1 < path.size(); ++i)
          callers += cost(path[i]);
        if (callers > 256) {
          add(path, "tail_calls are not allowed when call stack of previous frames is " +
                        std::to_string(callers) + " bytes. Too large (256)");
          reported = true;
        }
      }
      for (auto &e : sys.pushesFrom[n]) {
        if (reported || (e.kind != Event::Call && e.kind != Event::Callback))
          continue;
        if (std::find(path.begin(), path.end(), e.to) != path.end()) {
          path.push_back(e.to);
          add(path, "recursive call from " + sys.function(n).name + " to " +
                        sys.function(e.to).name);
          reported = true;
          path.pop_back();
        } else {
          dfs(e.to, sum);
        }
      }
      path.pop_back();
    };
    dfs(sys.entry(p), 0);
  }
  return out;
}

// out_of_frame: an access at or above r10 (the frame size is the deepest
// access, so k > F cannot happen by construction).
std::vector<Violation> outOfFrame(const System &sys) {
  std::vector<Violation> out;
  for (size_t n = 0; n < sys.nodes.size(); ++n) {
    const Function &f = sys.function(n);
    for (auto &a : f.stackAccesses)
      if (!a.viaPointer && int64_t(a.lo) + int64_t(a.size) > 0) {
        Violation v;
        v.kind = "out_of_frame";
        v.program = sys.program(n).name;
        v.message = f.name + " accesses r10" + (a.lo >= 0 ? "+" : "") + std::to_string(a.lo) +
                    " (" + std::to_string(a.size) + " bytes): at or above the frame pointer";
        TraceStep s;
        s.event = "enter";
        s.program = v.program;
        s.function = f.name;
        s.insn = f.sectionInsn(a.insn);
        s.section = f.section;
        if (auto *in = f.insnAt(a.insn); in && in->loc)
          s.source = in->loc;
        s.lo = a.lo;
        s.hi = int64_t(a.lo) + a.size;
        s.region = "frame";
        s.clash = true;
        v.trace.push_back(s);
        out.push_back(std::move(v));
        break; // one per function copy
      }
  }
  return out;
}

} // namespace

const char *placeName(FramePlan::Place p) {
  switch (p) {
  case FramePlan::Place::KernelStack: return "kernel_stack";
  case FramePlan::Place::OwnBuffer: return "own_buffer";
  case FramePlan::Place::ProgramBuffer: return "program_buffer";
  case FramePlan::Place::ProgramBufferAt: return "program_buffer_at";
  }
  return "?";
}

Report verify(const Object &obj, const CallGraph &graph, const VerifyOptions &opts) {
  Report rep;
  rep.scheme = opts.scheme;
  rep.kernel = opts.kernel;
  PlanResult plan;
  if (opts.scheme == Scheme::Planned) {
    plan = synthesizePlan(obj, graph, opts);
    for (auto &[n, off] : plan.offsets)
      rep.planOffsets[obj.programs[graph.nodes()[n].program].name]
                     [obj.functions[graph.nodes()[n].function].name] = off;
    rep.planNote = plan.note;
  }
  System sys(obj, graph, opts, plan.offsets);

  std::vector<Violation> limits;
  limits = kernelLimits(sys);
  for (auto &v : outOfFrame(sys))
    limits.push_back(v);

  // Bounds known before any search: fixed buffers hold exactly their frame,
  // per-prog buffers the size given, planned buffers the planned size.
  Bounds given;
  for (auto &ni : sys.nodes) {
    if (ni.placement == Placement::Fixed)
      given.region[ni.fixedRegion] = ni.frame;
    if (ni.placement == Placement::Relative && opts.scheme == Scheme::PerProg && opts.bufferSize)
      given.region[ni.programRegion] = int64_t(*opts.bufferSize);
    if (ni.placement == Placement::Static)
      given.region[ni.programRegion] = plan.programBytes.at(ni.program);
  }

  using E = VerifyOptions::Engine;
  std::map<int, int64_t> sized = given.region; // final buffer sizes
  std::set<int> atLeast;                       // ... of which only lower bounds
  std::optional<TailReach> reach; // for the bounded engine, once
  ExploreCache explored;          // the explicit searches share what they proved
  for (size_t p = 0; p < obj.programs.size(); ++p) {
    ProgramReport pr;
    pr.name = obj.programs[p].name;
    pr.privateStack = sys.privateProgram[p];
    std::optional<EngineResult> sizing, z3;
    // this program's time: the explicit search has --timeout, then the Z3
    // engines share another (encoding included); so at most twice it
    const Deadline dl(opts.timeoutSeconds);
    // The explicit engine: minimal traces, and the size every r9-relative
    // buffer needs (what it reaches) — the sizing, whichever engine proves.
    bool needSizes = false;
    for (auto &ni : sys.nodes)
      needSizes |= ni.placement == Placement::Relative && !given.region.count(ni.programRegion);
    if (opts.engine == E::Auto || opts.engine == E::Explicit || needSizes)
      sizing = explicitEngine(sys, given, p, dl, &explored);
    // its verdict counts when it is one of the engines asked for
    const EngineResult *ex =
        sizing && (opts.engine == E::Auto || opts.engine == E::Explicit) ? &*sizing : nullptr;
    Bounds b = given;
    bool unsized = false;
    for (auto &ni : sys.nodes)
      if (ni.placement == Placement::Relative && !b.region.count(ni.programRegion)) {
        if (sizing && sizing->verdict != Verdict::Unknown && sizing->regionHi.count(ni.programRegion))
          b.region[ni.programRegion] = sizing->regionHi.at(ni.programRegion);
        else if (ni.program == p || (sizing && sizing->regionHi.count(ni.programRegion)))
          unsized = true; // reachable, but no size could be computed
      }
    // The Z3 engines prove it: bounded first, Spacer where that is not
    // complete.
    // (Auto: a violation the explicit engine found was replayed on the
    // semantics already; the Z3 engines are there to prove the rest.)
    bool settled = opts.engine == E::Auto && ex && !ex->violations.empty();
    const Deadline dz3(opts.timeoutSeconds);
    if (!settled && (opts.engine == E::Auto || opts.engine == E::Bounded)) {
      if (!reach)
        reach = tailReach(sys);
      z3 = boundedEngine(sys, b, p, dz3, *reach);
      // Spacer where the bounded engine cannot be complete (not where it
      // merely ran out of time: Spacer would not do better there)
      if (z3->incomplete && opts.engine == E::Auto) {
        EngineResult un = unboundedEngine(sys, b, p, dz3);
        if (un.verdict != Verdict::Unknown)
          z3 = un;
        else
          z3->reason += "; " + un.reason;
      }
    } else if (opts.engine == E::Unbounded) {
      z3 = unboundedEngine(sys, b, p, dz3);
    }
    if (ex && z3 && ex->verdict != Verdict::Unknown && z3->verdict != Verdict::Unknown &&
        ex->verdict != z3->verdict)
      rep.engineDisagreement += pr.name + ": explicit " + verdictName(ex->verdict) + ", z3 " +
                                verdictName(z3->verdict) + "; ";
    // Every violation was replayed on the concrete semantics: it is real,
    // whichever engine found it. The explicit engine's traces are minimal.
    const EngineResult *traces = ex && !ex->violations.empty() ? ex
                                 : z3 && !z3->violations.empty() ? &*z3
                                                                 : nullptr;
    if (!traces && z3 && z3->verdict == Verdict::Safe)
      for (auto &ob : z3->obligations)
        rep.obligations.push_back(ob);
    if (traces) {
      pr.verdict = Verdict::Unsafe;
      pr.engine = traces == ex ? "explicit" : z3->invariant.empty() ? "bounded" : "spacer";
      for (auto &v : traces->violations)
        rep.violations.push_back(v);
    } else if (z3 && z3->verdict == Verdict::Safe) {
      pr.verdict = Verdict::Safe;
      pr.engine = z3->invariant.empty() ? "bounded" : "spacer";
      pr.invariant = z3->invariant;
    } else if (ex && ex->verdict == Verdict::Safe) {
      // the explicit search is exhaustive over the same semantics: it
      // proves the program alone when the Z3 engines ran out of time
      pr.verdict = Verdict::Safe;
      pr.engine = "explicit";
      if (z3)
        pr.reason = "Z3 engines: " + z3->reason;
    } else {
      pr.verdict = Verdict::Unknown;
      pr.reason = z3 ? z3->reason : ex->reason;
    }
    if (pr.verdict == Verdict::Safe && unsized) {
      pr.verdict = Verdict::Unknown;
      pr.reason = "the buffer a frame needs could not be sized (give --buffer-size)";
    }
    if (sizing) {
      pr.kernelStackBytes = uint64_t(sizing->kernelStackMax);
      rep.statesExplored += sizing->states;
      for (auto &[r, hi] : sizing->regionHi)
        if (!given.region.count(r))
          sized[r] = std::max(sized[r], hi);
      if (sizing->verdict == Verdict::Unknown) // cut short: what it saw is a lower bound
        for (auto &[r, hi] : sizing->regionHi)
          if (!given.region.count(r))
            atLeast.insert(r);
    }
    for (auto &v : limits)
      if (v.program == pr.name)
        pr.verdict = Verdict::Unsafe;
    bool unbounded = false;
    for (size_t f : obj.programs[p].functions)
      unbounded |= !obj.functions[f].frame.bounded;
    if (pr.verdict == Verdict::Safe && unbounded) {
      pr.verdict = Verdict::Unknown;
      pr.reason = "a frame size could not be bounded";
    }
    rep.programs.push_back(std::move(pr));
  }
  for (auto &v : limits)
    rep.violations.insert(rep.violations.begin(), v);

  // the layout, per (program, function)
  {
    std::vector<bool> async(sys.nodes.size(), false);
    for (auto &e : graph.edges())
      if (e.kind == EdgeKind::Callback && e.async)
        async[e.to] = true;
    for (size_t n = 0; n < sys.nodes.size(); ++n) {
      const NodeInfo &ni = sys.nodes[n];
      FramePlan fp;
      fp.program = obj.programs[ni.program].name;
      fp.function = obj.functions[graph.nodes()[n].function].name;
      fp.frame = ni.frame;
      fp.asyncEntry = async[n];
      switch (ni.placement) {
      case Placement::KernelStack:
        fp.place = FramePlan::Place::KernelStack;
        break;
      case Placement::Fixed:
        fp.place = FramePlan::Place::OwnBuffer;
        fp.region = sys.regionNames[ni.fixedRegion];
        fp.offset = sys.shiftOf(n);
        break;
      case Placement::Relative:
        fp.place = FramePlan::Place::ProgramBuffer;
        fp.region = sys.regionNames[ni.programRegion];
        break;
      case Placement::Static:
        fp.place = FramePlan::Place::ProgramBufferAt;
        fp.region = sys.regionNames[ni.programRegion];
        fp.offset = ni.offset + sys.shiftOf(n);
        break;
      }
      rep.plan.push_back(fp);
    }
    rep.perProgR9AtTop = opts.perProgR9AtTop;
  }

  // buffers and bytes per CPU
  for (auto &[r, bytes] : sized) {
    if (r == 0)
      continue;
    Buffer b;
    b.name = sys.regionNames[r];
    b.atLeast = atLeast.count(r) > 0;
    b.bytes = uint64_t(bytes);
    b.guard = opts.scheme == Scheme::Kernel ? kGuard : 0;
    rep.buffers.push_back(b);
    rep.bytesPerCpu += b.bytes + 2 * b.guard;
  }
  bool anyUnsafe = false, anyUnknown = false;
  for (auto &p : rep.programs) {
    anyUnsafe |= p.verdict == Verdict::Unsafe;
    anyUnknown |= p.verdict == Verdict::Unknown;
    rep.kernelStackWith = std::max(rep.kernelStackWith, p.kernelStackBytes);
  }
  rep.verdict = anyUnsafe ? Verdict::Unsafe : anyUnknown ? Verdict::Unknown : Verdict::Safe;

  // planned: what the shipped kernel scheme spends, for comparison
  if (opts.scheme == Scheme::Planned) {
    VerifyOptions k = opts;
    k.scheme = Scheme::Kernel;
    k.engine = VerifyOptions::Engine::Explicit;
    k.shiftFrame.reset();
    k.collectObligations = false;
    rep.kernelBytesPerCpu = verify(obj, graph, k).bytesPerCpu;
  }

  // the same chains with every frame on the kernel stack: why private
  // stacks exist
  rep.kernelStackWithout = rep.kernelStackWith;
  if (opts.scheme == Scheme::Kernel && opts.kernel == KernelVersion::V6_13) {
    VerifyOptions o61 = opts;
    o61.kernel = KernelVersion::V6_1;
    o61.env.kernelStackBudget = UINT32_MAX;
    System s61(obj, graph, o61);
    // A figure for the report, not a verdict: one time budget for all
    // programs together; what was not explored in time makes it a lower
    // bound, said as such.
    const Deadline dl(opts.timeoutSeconds);
    std::optional<TailReach> tr;
    ExploreCache explored61;
    for (size_t p = 0; p < obj.programs.size(); ++p) {
      EngineResult r = explicitEngine(s61, Bounds{}, p, dl, &explored61);
      rep.kernelStackWithout = std::max<uint64_t>(rep.kernelStackWithout, uint64_t(r.kernelStackMax));
      if (r.verdict != Verdict::Unknown)
        continue;
      if (dl.expired()) {
        rep.kernelStackWithoutAtLeast = true;
        break;
      }
      if (!tr)
        tr = tailReach(s61);
      if (!maxHeight(s61, *tr, p))
        rep.kernelStackWithoutUnbounded = true; // a nesting cycle nothing cuts
      else
        rep.kernelStackWithoutAtLeast = true;
    }
  }
  return rep;
}

} // namespace pstack
