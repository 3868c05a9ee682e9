// Pass: the bounded engine.
// Reads:  Object, CallGraph, VerifyOptions (scheme, environment, bounds).
// Writes: Report — verdicts, violations with minimal traces, buffers.
// Invariant: breadth-first over activation stacks, so the first violation
//         found for a program has the fewest events; a search cut short by
//         a bound without a violation is `unknown`, never `safe`.
//
// Semantics (DESIGN.md, "The model"): a call pushes the callee's frame; a
// tail call replaces the top frame by the target program's main frame and
// counts one more tail call of the chain (at most the limit); nesting
// (kfunc -> program), re-entry and async callbacks push an activation of
// another (or the same) program on top. Where the frame lands is the
// scheme's choice, computed in place().
#include "model/model.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <sstream>
#include <unordered_map>

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

constexpr uint32_t kPrivateStackMin = 64; // frames below this keep the normal stack
constexpr uint32_t kGuard = 8;            // kernel's guard bytes at each end
constexpr size_t kMaxStates = 200000;
constexpr size_t kMaxHeight = 64;

struct Frame {
  size_t node = 0;
  std::string event;
  std::optional<uint32_t> siteInsn; // in the frame below (or replaced)
  std::optional<size_t> siteNode;
  std::string region;
  int64_t lo = 0, hi = 0;
  uint32_t tailCount = 0;
  uint32_t chainFrames = 1; // frames of this program activation's call chain
  size_t activation = 0;    // index of the frame that started this activation
  bool async = false;       // an async callback's activation (softirq context)
};

struct State {
  std::vector<Frame> stack;
  int parent = -1;
};

class Explorer {
public:
  Explorer(const Object &obj, const CallGraph &g, const VerifyOptions &o)
      : obj_(obj), g_(g), o_(o) {}
  Report run();

private:
  const Object &obj_;
  const CallGraph &g_;
  const VerifyOptions &o_;
  Report rep_;
  std::vector<bool> privateProg_;  // kernel scheme: program gets private stacks
  std::map<std::string, uint64_t> bufferHi_; // per-prog: highest byte used

  const Function &fn(size_t node) const { return obj_.functions[g_.nodes()[node].function]; }
  const Program &prog(size_t node) const { return obj_.programs[g_.nodes()[node].program]; }
  uint32_t frameBytes(size_t node) const { return fn(node).frame.bytes; }
  size_t entryNode(size_t program) const {
    return *g_.node(program, obj_.programs[program].entry);
  }
  bool kernelPrivateEligible(size_t program) const;
  bool onKernelStack(size_t node) const;
  Frame place(const std::vector<Frame> &stack, size_t node, const std::string &event,
              std::optional<uint32_t> site, bool replaceTop) const;
  std::optional<Violation> check(const std::vector<State> &states, int idx);
  std::vector<TraceStep> trace(const std::vector<State> &states, int idx,
                               std::pair<size_t, size_t> clash) const;
  void staticChecks();
  void exploreFrom(size_t program, ProgramReport &pr);
};

bool Explorer::kernelPrivateEligible(size_t p) const {
  if (o_.kernel == KernelVersion::V6_1)
    return false; // 6.1 has no private stack
  switch (obj_.programs[p].type) {
  case ProgType::Kprobe:
  case ProgType::Tracepoint:
  case ProgType::RawTracepoint:
  case ProgType::PerfEvent:
  case ProgType::Tracing:
  case ProgType::Lsm:
    break;
  default:
    return false;
  }
  // any tail call in the program: the whole program keeps the normal stack
  for (size_t f : obj_.programs[p].functions)
    if (!obj_.functions[f].tailCalls.empty())
      return false;
  return true;
}

bool Explorer::onKernelStack(size_t node) const {
  switch (o_.scheme) {
  case Scheme::Kernel: {
    size_t p = g_.nodes()[node].program;
    if (!privateProg_[p] || frameBytes(node) < kPrivateStackMin)
      return true;
    // async callbacks that may nest keep the normal stack
    for (auto &e : g_.edges())
      if (e.to == node && e.kind == EdgeKind::Callback && e.async)
        return true;
    return false;
  }
  default:
    return false;
  }
}

// Where a new frame of `node` lands, given the stack below it.
Frame Explorer::place(const std::vector<Frame> &stack, size_t node, const std::string &event,
                      std::optional<uint32_t> site, bool replaceTop) const {
  Frame f;
  f.node = node;
  f.event = event;
  f.siteInsn = site;
  if (!stack.empty())
    f.siteNode = stack.back().node;
  const Frame *top = stack.empty() ? nullptr : &stack.back();
  bool sameActivation = event == "call" || event == "callback" || event == "tail_call";
  if (top && sameActivation) {
    f.tailCount = top->tailCount + (event == "tail_call" ? 1 : 0);
    // the verifier bounds each program's own call chain: a tail-called
    // program starts its count afresh
    f.chainFrames = event == "tail_call" ? 1 : top->chainFrames + 1;
    f.activation = top->activation;
  } else {
    f.activation = stack.size() - (replaceTop ? 1 : 0);
  }
  uint32_t F = frameBytes(node);
  if (onKernelStack(node)) {
    // the kernel stack grows down; frames are laid one after another
    int64_t used = 0;
    for (size_t i = 0; i + (replaceTop ? 1 : 0) < stack.size(); ++i)
      if (stack[i].region == "kernel_stack")
        used = std::max(used, stack[i].hi);
    f.region = "kernel_stack";
    f.lo = used;
    f.hi = used + F;
    return f;
  }
  const std::string name = g_.nodeName(node);
  switch (o_.scheme) {
  case Scheme::Kernel:
  case Scheme::PerSubprog:
    f.region = name; // one buffer per (program, function)
    f.lo = 0;
    f.hi = F;
    return f;
  case Scheme::PerProg:
  case Scheme::Planned: {
    if (top && (event == "call" || event == "callback")) {
      // push r9; r9 += F(caller); call; pop r9
      f.region = top->region;
      f.lo = top->lo + frameBytes(top->node);
      f.hi = f.lo + F;
    } else if (top && event == "tail_call") {
      // r9 unchanged: the new frame starts where the replaced one started
      // (or, with r9 at the frame top, ends where the replaced one ended)
      f.region = top->region;
      if (o_.perProgR9AtTop) {
        f.hi = top->hi;
        f.lo = f.hi - F;
      } else {
        f.lo = top->lo;
        f.hi = f.lo + F;
      }
    } else {
      // a new activation: the entry prologue sets r9 to its own buffer
      f.region = prog(node).name;
      f.lo = 0;
      f.hi = F;
    }
    return f;
  }
  }
  return f;
}

std::vector<TraceStep> Explorer::trace(const std::vector<State> &states, int idx,
                                       std::pair<size_t, size_t> clash) const {
  // events from the root to this state: each state adds or replaces the top
  std::vector<int> chain;
  for (int i = idx; i >= 0; i = states[i].parent)
    chain.push_back(i);
  std::reverse(chain.begin(), chain.end());
  std::vector<TraceStep> out;
  for (int si : chain) {
    const Frame &f = states[si].stack.back();
    TraceStep s;
    s.event = f.event;
    s.program = prog(f.node).name;
    s.function = fn(f.node).name;
    if (f.siteInsn && f.siteNode) {
      const Function &site = fn(*f.siteNode);
      s.insn = site.sectionInsn(*f.siteInsn);
      if (const Insn *in = site.insnAt(*f.siteInsn); in && in->loc)
        s.source = in->loc;
    }
    s.region = f.region;
    s.lo = f.lo;
    s.hi = f.hi;
    out.push_back(std::move(s));
  }
  // Stacks only grow or have their top replaced (a tail call), so the frame
  // at position `pos` of the final stack is the last step that put a frame
  // there.
  for (size_t pos : {clash.first, clash.second}) {
    for (size_t j = chain.size(); j-- > 0;)
      if (states[chain[j]].stack.size() - 1 == pos) {
        out[j].clash = true;
        break;
      }
  }
  return out;
}

std::optional<Violation> Explorer::check(const std::vector<State> &states, int idx) {
  const auto &st = states[idx].stack;
  const Frame &top = st.back();
  const size_t last = st.size() - 1;
  // the caller (exploreFrom) sets `program`: the activation it started from
  auto violation = [&](const char *kind, const std::string &msg, size_t other) {
    Violation v;
    v.kind = kind;
    v.message = msg;
    v.trace = trace(states, idx, {other, last});
    return v;
  };
  auto range = [](const Frame &f) {
    return "[" + std::to_string(f.lo) + ", " + std::to_string(f.hi) + ")";
  };
  // alias: the new top frame against every live frame below it
  for (size_t i = 0; i < last; ++i) {
    const Frame &f = st[i];
    if (f.region != top.region || f.region == "kernel_stack")
      continue;
    if (f.lo < top.hi && top.lo < f.hi && f.hi > f.lo && top.hi > top.lo)
      return violation("alias", g_.nodeName(top.node) + " frame " + range(top) + " overlaps live " +
                                    g_.nodeName(f.node) + " frame " + range(f) + " in " + f.region,
                       i);
  }
  // overflow: the kernel-stack budget, or a per-prog buffer
  if (top.region == "kernel_stack") {
    if (uint64_t(top.hi) > o_.env.kernelStackBudget)
      return violation("overflow", "kernel stack reaches " + std::to_string(top.hi) +
                                       " bytes, over the budget of " +
                                       std::to_string(o_.env.kernelStackBudget),
                       last);
  } else if (o_.scheme == Scheme::PerProg && top.lo < 0) {
    return violation("overflow", g_.nodeName(top.node) + " frame " + range(top) +
                                     " starts below buffer " + top.region,
                     last);
  } else if (o_.scheme == Scheme::PerProg && o_.bufferSize && uint64_t(top.hi) > *o_.bufferSize) {
    return violation("overflow", g_.nodeName(top.node) + " frame " + range(top) + " leaves buffer " +
                                     top.region + " of " + std::to_string(*o_.bufferSize) + " bytes",
                     last);
  }
  return std::nullopt;
}

void Explorer::exploreFrom(size_t program, ProgramReport &pr) {
  auto start = std::chrono::steady_clock::now();
  std::vector<State> states;
  std::deque<int> queue;
  std::unordered_map<std::string, int> seen;
  auto key = [](const std::vector<Frame> &st) {
    std::string k;
    for (auto &f : st)
      k += std::to_string(f.node) + "@" + f.region + ":" + std::to_string(f.lo) + "/" +
           std::to_string(f.tailCount) + "/" + std::to_string(f.chainFrames) + ";";
    return k;
  };
  // the first (so minimal) violation of each kind; a violating state is
  // not expanded further
  std::vector<Violation> found;
  auto push = [&](std::vector<Frame> st, int parent) -> bool {
    std::string k = key(st);
    if (seen.count(k))
      return false;
    State s;
    s.stack = std::move(st);
    s.parent = parent;
    states.push_back(std::move(s));
    int idx = int(states.size() - 1);
    seen[k] = idx;
    const Frame &top = states[idx].stack.back();
    if (top.region != "kernel_stack")
      bufferHi_[top.region] = std::max<uint64_t>(bufferHi_[top.region], uint64_t(top.hi));
    if (auto v = check(states, idx)) {
      v->program = obj_.programs[program].name; // the activation the search started from
      bool newKind = true;
      for (auto &f : found)
        newKind &= f.kind != v->kind;
      if (newKind)
        found.push_back(std::move(*v));
      return false;
    }
    queue.push_back(idx);
    return false;
  };
  push({place({}, entryNode(program), "enter", std::nullopt, false)}, -1);
  bool cut = false;
  std::string cutReason;
  std::map<std::string, size_t> progIndex;
  for (size_t p = 0; p < obj_.programs.size(); ++p)
    progIndex[obj_.programs[p].name] = p;
  while (!queue.empty()) {
    if (states.size() > kMaxStates) {
      cut = true;
      cutReason = "more than " + std::to_string(kMaxStates) + " activation stacks";
      break;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
        o_.timeoutSeconds) {
      cut = true;
      cutReason = "timeout after " + std::to_string(o_.timeoutSeconds) + " s";
      break;
    }
    int idx = queue.front();
    queue.pop_front();
    const std::vector<Frame> st = states[idx].stack;
    const Frame &top = st.back();
    if (st.size() >= kMaxHeight) {
      cut = true;
      cutReason = "activation stacks higher than " + std::to_string(kMaxHeight) + " frames";
      continue;
    }
    // calls and synchronous callbacks
    for (auto &e : g_.edges()) {
      if (e.from != top.node)
        continue;
      if (e.kind == EdgeKind::Call || (e.kind == EdgeKind::Callback && !e.async)) {
        if (top.chainFrames >= o_.maxCallDepth) {
          // deeper chains are the kernel's to reject (kernel_limit), and
          // beyond this engine's bound
          continue;
        }
        auto next = st;
        next.push_back(place(st, e.to, e.kind == EdgeKind::Call ? "call" : "callback", e.insn, false));
        push(std::move(next), idx);
      } else if (e.kind == EdgeKind::TailCall) {
        if (top.tailCount >= o_.env.tailCallLimit)
          continue; // the kernel refuses the 34th tail call
        auto below = st;
        below.pop_back();
        Frame f = place(st, e.to, "tail_call", e.insn, true);
        f.activation = top.activation;
        below.push_back(f);
        push(std::move(below), idx);
      }
    }
    // nesting through kfunc calls, re-entry, async callbacks: a new
    // activation on top
    std::vector<std::pair<size_t, std::string>> nested;
    const Program &tp = prog(top.node);
    bool callsKfunc = false;
    for (auto &c : fn(top.node).calls)
      callsKfunc |= c.kind == CallKind::Kfunc;
    if (callsKfunc) {
      auto it = o_.env.nest.find(tp.name);
      if (it != o_.env.nest.end())
        for (auto &q : it->second)
          if (progIndex.count(q))
            nested.push_back({entryNode(progIndex[q]), "nest"});
    }
    if (o_.env.reenter.count(tp.name))
      nested.push_back({entryNode(g_.nodes()[top.node].program), "reenter"});
    // Async callbacks (timers, ...) run in softirq context, which does not
    // nest on one CPU: at most one of them is live at a time.
    bool inAsync = false;
    for (auto &f : st)
      inAsync |= f.async;
    for (auto &e : g_.edges())
      if (!inAsync && e.kind == EdgeKind::Callback && e.async &&
          g_.nodes()[e.from].program == g_.nodes()[top.node].program)
        nested.push_back({e.to, "callback"});
    for (auto &[node, ev] : nested) {
      // kernel scheme: a program with a private stack does not run again on
      // a CPU where it is already active (its recursion counter)
      if (o_.scheme == Scheme::Kernel && privateProg_[g_.nodes()[node].program]) {
        bool active = false;
        for (auto &f : st)
          active |= g_.nodes()[f.node].program == g_.nodes()[node].program;
        if (active)
          continue;
      }
      auto next = st;
      Frame f = place(st, node, ev == "callback" ? "nest" : ev, std::nullopt, false);
      f.event = ev;
      f.async = ev == "callback";
      next.push_back(f);
      push(std::move(next), idx);
    }
  }
  rep_.statesExplored += states.size();
  if (!found.empty()) {
    pr.verdict = Verdict::Unsafe;
    for (auto &v : found)
      rep_.violations.push_back(std::move(v));
  } else if (cut) {
    pr.verdict = Verdict::Unknown;
    pr.reason = cutReason;
  } else {
    pr.verdict = Verdict::Safe;
  }
  // kernel-stack use of this program's deepest explored stack
  for (auto &s : states)
    for (auto &f : s.stack)
      if (f.region == "kernel_stack")
        pr.kernelStackBytes = std::max<uint64_t>(pr.kernelStackBytes, uint64_t(f.hi));
}

// What the in-kernel verifier would reject (kernel scheme), per program.
void Explorer::staticChecks() {
  uint32_t round = o_.kernel == KernelVersion::V6_1 ? 32 : 16;
  for (size_t p = 0; p < obj_.programs.size(); ++p) {
    const Program &pr = obj_.programs[p];
    auto cost = [&](size_t node) { return kernelFrameCost(frameBytes(node), round); };
    auto addViolation = [&](const std::vector<size_t> &path, const std::string &msg) {
      Violation v;
      v.kind = "kernel_limit";
      v.program = pr.name;
      v.message = msg;
      for (size_t i = 0; i < path.size(); ++i) {
        TraceStep s;
        s.event = i == 0 ? "enter" : "call";
        s.program = pr.name;
        s.function = fn(path[i]).name;
        if (i > 0)
          for (auto &e : g_.edges())
            if (e.from == path[i - 1] && e.to == path[i]) {
              s.insn = fn(path[i - 1]).sectionInsn(e.insn);
              if (auto *in = fn(path[i - 1]).insnAt(e.insn); in && in->loc)
                s.source = in->loc;
              break;
            }
        s.region = onKernelStack(path[i]) ? "kernel_stack" : g_.nodeName(path[i]);
        s.hi = frameBytes(path[i]);
        s.clash = i + 1 == path.size();
        v.trace.push_back(s);
      }
      rep_.violations.push_back(std::move(v));
    };
    // DFS over calls and sync callbacks, as check_max_stack_depth walks them
    std::vector<size_t> path;
    bool reported = false;
    std::function<void(size_t, uint32_t)> dfs = [&](size_t n, uint32_t sum) {
      if (reported)
        return;
      path.push_back(n);
      // with private stacks the sum restarts at each frame with its own buffer
      if (!onKernelStack(n) && o_.scheme == Scheme::Kernel)
        sum = 0;
      else
        sum += cost(n);
      if (path.size() > 8) {
        addViolation(path, "the call stack of " + std::to_string(path.size()) +
                               " frames is too deep (the kernel allows 8)");
        reported = true;
      } else if (sum > 512) {
        addViolation(path, "combined stack size of " + std::to_string(path.size()) + " calls is " +
                               std::to_string(sum) + ". Too large (512)");
        reported = true;
      } else if (!fn(n).tailCalls.empty() && path.size() > 1) {
        uint32_t callers = 0;
        for (size_t i = 0; i + 1 < path.size(); ++i)
          callers += cost(path[i]);
        if (callers > 256) {
          addViolation(path, "tail_calls are not allowed when call stack of previous frames is " +
                                 std::to_string(callers) + " bytes. Too large (256)");
          reported = true;
        }
      }
      for (auto &e : g_.edges())
        if (!reported && e.from == n &&
            (e.kind == EdgeKind::Call || (e.kind == EdgeKind::Callback && !e.async))) {
          if (std::find(path.begin(), path.end(), e.to) != path.end()) {
            path.push_back(e.to);
            addViolation(path, "recursive call from " + fn(n).name + " to " + fn(e.to).name);
            reported = true;
            path.pop_back();
          } else {
            dfs(e.to, sum);
          }
        }
      path.pop_back();
    };
    dfs(entryNode(p), 0);
  }
}

Report Explorer::run() {
  rep_.scheme = o_.scheme;
  privateProg_.assign(obj_.programs.size(), false);
  if (o_.scheme == Scheme::Kernel)
    for (size_t p = 0; p < obj_.programs.size(); ++p)
      privateProg_[p] = kernelPrivateEligible(p);
  if (o_.scheme == Scheme::Kernel)
    staticChecks();
  std::set<std::string> limited;
  for (auto &v : rep_.violations)
    limited.insert(v.program);
  for (size_t p = 0; p < obj_.programs.size(); ++p) {
    ProgramReport pr;
    pr.name = obj_.programs[p].name;
    pr.privateStack = privateProg_[p];
    bool unbounded = false;
    for (size_t f : obj_.programs[p].functions)
      unbounded |= !obj_.functions[f].frame.bounded;
    if (o_.scheme == Scheme::Planned) {
      pr.verdict = Verdict::Unknown;
      pr.reason = "the planned scheme needs plan synthesis, which this build does not have";
    } else {
      exploreFrom(p, pr);
      if (limited.count(pr.name))
        pr.verdict = Verdict::Unsafe;
      else if (pr.verdict == Verdict::Safe && unbounded) {
        pr.verdict = Verdict::Unknown;
        pr.reason = "a frame size could not be bounded";
      }
    }
    rep_.programs.push_back(std::move(pr));
  }
  // buffers and bytes per CPU
  if (o_.scheme != Scheme::Planned)
    for (auto &[name, hi] : bufferHi_) {
      Buffer b;
      b.name = name;
      b.bytes = o_.scheme == Scheme::PerProg && o_.bufferSize ? *o_.bufferSize : hi;
      b.guard = o_.scheme == Scheme::Kernel ? kGuard : 0;
      rep_.buffers.push_back(b);
      rep_.bytesPerCpu += b.bytes + 2 * b.guard;
    }
  bool anyUnsafe = false, anyUnknown = false;
  for (auto &p : rep_.programs) {
    anyUnsafe |= p.verdict == Verdict::Unsafe;
    anyUnknown |= p.verdict == Verdict::Unknown;
    rep_.kernelStackWith = std::max(rep_.kernelStackWith, p.kernelStackBytes);
  }
  rep_.verdict = anyUnsafe ? Verdict::Unsafe : anyUnknown ? Verdict::Unknown : Verdict::Safe;
  return rep_;
}

} // namespace

Report verify(const Object &obj, const CallGraph &graph, const VerifyOptions &opts) {
  Report r = Explorer(obj, graph, opts).run();
  // the same chains with every frame on the kernel stack: why private
  // stacks exist
  if (opts.scheme == Scheme::Kernel && opts.kernel == KernelVersion::V6_13) {
    VerifyOptions o61 = opts;
    o61.kernel = KernelVersion::V6_1;
    o61.env.kernelStackBudget = UINT32_MAX;
    Report without = Explorer(obj, graph, o61).run();
    r.kernelStackWithout = without.kernelStackWith;
  } else {
    r.kernelStackWithout = r.kernelStackWith;
  }
  return r;
}

} // namespace pstack
