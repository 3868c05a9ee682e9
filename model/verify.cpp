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
#include <utility>

namespace pstack {

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

// What the in-kernel verifier would reject, per program: the first refusal
// of its depth walk (System::checkStackDepth), as a trace from the root.
std::vector<Violation> kernelLimits(const System &sys) {
  std::vector<Violation> out;
  for (size_t p = 0; p < sys.obj.programs.size(); ++p) {
    if (!sys.refusal[p])
      continue;
    const StackRefusal &r = *sys.refusal[p];
    Violation v;
    v.kind = "kernel_limit";
    v.program = sys.obj.programs[p].name;
    v.message = r.message;
    int64_t below = 0; // kernel-stack bytes of the frames below, unrounded
    for (size_t i = 0; i < r.path.size(); ++i) {
      const size_t n = r.path[i];
      TraceStep s;
      s.event = i == 0 ? (n == sys.entry(p) ? "enter" : "callback") : r.viaLoad[i] ? "callback" : "call";
      s.program = v.program;
      s.function = sys.function(n).name;
      if (i > 0 && r.sites[i]) {
        const Function &caller = sys.function(r.path[i - 1]);
        s.insn = caller.sectionInsn(*r.sites[i]);
        s.section = caller.section;
        if (auto *in = caller.insnAt(*r.sites[i]); in && in->loc)
          s.source = in->loc->toSourceLoc();
      }
      const NodeInfo &ni = sys.nodes[n];
      s.region = ni.placement == Placement::KernelStack ? "kernel_stack"
                 : ni.placement == Placement::Fixed    ? sys.regionNames[ni.fixedRegion]
                                                       : sys.regionNames[ni.programRegion];
      if (ni.placement == Placement::KernelStack) {
        s.lo = below;
        below += ni.frame;
      }
      s.hi = s.lo + ni.frame;
      s.depth = uint32_t(i);
      s.clash = i + 1 == r.path.size();
      v.trace.push_back(s);
    }
    out.push_back(std::move(v));
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
          s.source = in->loc->toSourceLoc();
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
    if (ni.placement == Placement::Relative &&
        (opts.scheme == Scheme::PerProg || opts.scheme == Scheme::StackSwitch) && opts.bufferSize)
      given.region[ni.programRegion] = int64_t(*opts.bufferSize);
    if (ni.placement == Placement::Static)
      given.region[ni.programRegion] = plan.programBytes.at(ni.program);
  }

  using E = VerifyOptions::Engine;
  const size_t P = obj.programs.size();
  std::map<int, int64_t> sized = given.region; // final buffer sizes
  std::set<int> atLeast;                       // ... of which only lower bounds
  ExploreCache explored;          // the explicit searches share what they proved
  // What the explicit search found for each program, with the bounds its
  // buffers get from it.
  struct PerProgram {
    std::optional<EngineResult> sizing, z3;
    Bounds b;
    bool unsized = false, settled = false;
    std::string certificate; // why Z3 did not confirm the search's certificate
  };
  std::vector<PerProgram> per(P);
  // The explicit engine: minimal traces, and the size every r9-relative
  // buffer needs (what it reaches) — the sizing, whichever engine proves.
  bool needSizes = false;
  for (auto &ni : sys.nodes)
    needSizes |= ni.placement == Placement::Relative && !given.region.count(ni.programRegion);
  // Every program's search at once first (one graph of states for all of
  // them); a program it leaves open (a violation, whose minimal trace its
  // own search finds) is searched alone.
  std::vector<std::optional<EngineResult>> together;
  // A second proof (--cross-check) or obligations to write (--emit-smt):
  // Z3 checks the summary search's proof — its states as an inductive
  // invariant of the Horn rules, one query per object — and the programs
  // it leaves go to the bounded engine.
  const bool wantCertificate = opts.engine == E::Auto && (opts.crossCheck || opts.collectObligations);
  Certificate cert;
  if (opts.engine == E::Auto || opts.engine == E::Explicit || needSizes)
    together = summaryEngine(sys, given, Deadline(opts.timeoutSeconds), wantCertificate ? &cert : nullptr);
  for (size_t p = 0; p < P; ++p) {
    PerProgram &pp = per[p];
    // this program's time: the explicit search has --timeout, then the Z3
    // engines another (encoding included); so at most twice it
    const Deadline dl(opts.timeoutSeconds);
    if (!together.empty() && together[p])
      pp.sizing = std::move(together[p]);
    else if (opts.engine == E::Auto || opts.engine == E::Explicit || needSizes)
      pp.sizing = explicitEngine(sys, given, p, dl, &explored);
    const EngineResult *ex = pp.sizing && (opts.engine == E::Auto || opts.engine == E::Explicit)
                                 ? &*pp.sizing
                                 : nullptr;
    pp.b = given;
    for (auto &ni : sys.nodes)
      if (ni.placement == Placement::Relative && !pp.b.region.count(ni.programRegion)) {
        if (pp.sizing && pp.sizing->verdict != Verdict::Unknown &&
            pp.sizing->regionHi.count(ni.programRegion))
          pp.b.region[ni.programRegion] = pp.sizing->regionHi.at(ni.programRegion);
        else if (ni.program == p || (pp.sizing && pp.sizing->regionHi.count(ni.programRegion)))
          pp.unsized = true; // reachable, but no size could be computed
      }
    // The explicit search is exhaustive over the same finite system: what
    // it decides is proved. The Z3 engines run where it could not finish,
    // and beside it when a second, independent proof is asked for
    // (--cross-check) or their obligations are to be written (--emit-smt).
    // (Auto: a violation the explicit engine found was replayed on the
    // semantics already; the Z3 engines are there to prove the rest.)
    pp.settled = opts.engine == E::Auto && ex &&
                 (!ex->violations.empty() ||
                  (ex->verdict == Verdict::Safe && !opts.crossCheck && !opts.collectObligations));
  }

  if (wantCertificate && !cert.programs.empty()) {
    // every buffer's bound: the size each program's search gave it (a
    // program's own buffer is only ever its own here: no nesting)
    Bounds all = given;
    for (size_t p : cert.programs)
      for (auto &[r, bytes] : per[p].b.region)
        all.region[r] = std::max(all.region[r], bytes);
    std::vector<EngineResult> got = certificateEngine(sys, all, cert, Deadline(opts.timeoutSeconds));
    // (one obligation for all of them)
    if (!got.empty() && got.front().verdict == Verdict::Safe)
      for (auto &ob : std::exchange(got.front().obligations, {}))
        rep.obligations.push_back(std::move(ob));
    for (size_t j = 0; j < cert.programs.size(); ++j) {
      PerProgram &pp = per[cert.programs[j]];
      if (pp.settled || pp.unsized)
        continue;
      if (got[j].verdict == Verdict::Safe) {
        pp.z3 = std::move(got[j]);
        pp.settled = true;
      } else {
        pp.certificate = got[j].reason;
      }
    }
  }

  // The Z3 engines prove the programs left: bounded first, over all of
  // them in one encoding, Spacer where that is not complete (not where it
  // merely ran out of time: Spacer would not do better there).
  std::vector<size_t> forZ3;
  std::vector<const Bounds *> z3Bounds;
  if (opts.engine == E::Auto || opts.engine == E::Bounded)
    for (size_t p = 0; p < P; ++p)
      if (!per[p].settled) {
        forZ3.push_back(p);
        z3Bounds.push_back(&per[p].b);
      }
  if (!forZ3.empty()) {
    // the time each program would have had, together
    const Deadline dz3(opts.timeoutSeconds * double(forZ3.size()));
    const TailReach reach = tailReach(sys);
    std::vector<EngineResult> got = boundedEngine(sys, forZ3, z3Bounds, dz3, reach);
    for (size_t j = 0; j < forZ3.size(); ++j) {
      std::optional<EngineResult> &z3 = per[forZ3[j]].z3;
      z3 = std::move(got[j]);
      if (z3->incomplete && opts.engine == E::Auto) {
        EngineResult un = unboundedEngine(sys, per[forZ3[j]].b, forZ3[j], Deadline(opts.timeoutSeconds));
        if (un.verdict != Verdict::Unknown)
          z3 = un;
        else
          z3->reason += "; " + un.reason;
      }
    }
  }
  if (opts.engine == E::Unbounded)
    for (size_t p = 0; p < P; ++p)
      per[p].z3 = unboundedEngine(sys, per[p].b, p, Deadline(opts.timeoutSeconds));

  for (size_t p = 0; p < P; ++p) {
    ProgramReport pr;
    pr.name = obj.programs[p].name;
    pr.privateStack = sys.privateProgram[p];
    const std::optional<EngineResult> &sizing = per[p].sizing, &z3 = per[p].z3;
    const EngineResult *ex =
        sizing && (opts.engine == E::Auto || opts.engine == E::Explicit) ? &*sizing : nullptr;
    const bool unsized = per[p].unsized;
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
      pr.engine = z3->certificate ? "explicit+z3" : z3->invariant.empty() ? "bounded" : "spacer";
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
      if (ex && !ex->reason.empty())
        pr.reason = "explicit search: " + ex->reason;
      if (z3)
        pr.reason += (pr.reason.empty() ? "" : "; ") + std::string("Z3 engines: ") + z3->reason;
    }
    // Z3 did not confirm the search's proof: said, whichever engine decided
    if (!per[p].certificate.empty())
      pr.reason = per[p].certificate + (pr.reason.empty() ? "" : "; " + pr.reason);
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
    // --kernel running: the kernel's answer for this program type is not
    // known (private stack or not), so neither layout can be trusted
    if (opts.scheme == Scheme::Kernel && pr.verdict == Verdict::Safe &&
        !opts.kernel.givesPrivateStack(obj.programs[p]))
      if (auto u = opts.kernel.unprobedTypes.find(obj.programs[p].type);
          u != opts.kernel.unprobedTypes.end()) {
        pr.verdict = Verdict::Unknown;
        pr.reason = std::string("the running kernel could not be asked whether ") +
                    progTypeName(u->first) + " programs get a private stack (" + u->second + ")";
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
      rep.layout.frames.push_back(fp);
    }
    rep.layout.perProgR9AtTop = opts.perProgR9AtTop;
    rep.layout.stackSwitch = opts.env.stackSwitch;
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
    rep.layout.buffers.push_back(b);
    rep.bytesPerCpu += b.bytes + 2 * b.guard;
  }
  bool anyUnsafe = false, anyUnknown = false;
  for (auto &p : rep.programs) {
    anyUnsafe |= p.verdict == Verdict::Unsafe;
    anyUnknown |= p.verdict == Verdict::Unknown;
    rep.kernelStackWith = std::max(rep.kernelStackWith, p.kernelStackBytes);
  }
  rep.verdict = anyUnsafe ? Verdict::Unsafe : anyUnknown ? Verdict::Unknown : Verdict::Safe;
  rep.layout.scheme = opts.scheme;
  for (auto &p : rep.programs)
    if (p.verdict == Verdict::Safe)
      rep.layout.proved.insert(p.name);
    else
      rep.layout.unproved[p.name] = verdictName(p.verdict);

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
  // Where no frame got a buffer of its own, that system is this one but
  // for the kernel-stack budget, which only stops a search at an overflow:
  // when every program's search ran to the end without one, it saw every
  // chain already, and the figure is the one above (no second search).
  bool sameSystem = std::none_of(sys.privateProgram.begin(), sys.privateProgram.end(),
                                 [](bool b) { return b; });
  for (auto &ni : sys.nodes)
    sameSystem &= ni.placement == Placement::KernelStack;
  for (auto &pp : per)
    sameSystem &= pp.sizing && pp.sizing->verdict == Verdict::Safe;
  if (opts.scheme == Scheme::Kernel && opts.kernel.hasPrivateStacks() && !sameSystem) {
    VerifyOptions o61 = opts;
    o61.kernel.privateStackTypes.clear();
    o61.env.kernelStackBudget = UINT32_MAX;
    System s61(obj, graph, o61);
    // A figure for the report, not a verdict: one time budget for all
    // programs together; what was not explored in time makes it a lower
    // bound, said as such.
    const Deadline dl(opts.timeoutSeconds);
    std::optional<TailReach> tr;
    ExploreCache explored61;
    std::vector<std::optional<EngineResult>> together61 = summaryEngine(s61, Bounds{}, dl);
    for (size_t p = 0; p < obj.programs.size(); ++p) {
      EngineResult r = together61[p] ? std::move(*together61[p])
                                     : explicitEngine(s61, Bounds{}, p, dl, &explored61);
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
