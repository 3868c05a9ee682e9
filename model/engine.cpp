#include "model/engine.h"

#include <cstdio>

namespace pstack::detail {

std::string Deadline::reason() const {
  char buf[64];
  snprintf(buf, sizeof buf, "timeout after %g s", seconds_);
  return buf;
}

std::optional<Problem> checkTop(const System &sys, const Bounds &b,
                                const std::vector<FrameState> &stack) {
  const FrameState &top = stack.back();
  auto range = [](const FrameState &f) {
    return "[" + std::to_string(f.lo) + ", " + std::to_string(f.hi) + ")";
  };
  const size_t last = stack.size() - 1;
  // alias: the top frame against every live frame below it, same buffer
  if (top.region != 0)
    for (size_t i = 0; i < last; ++i) {
      const FrameState &f = stack[i];
      if (f.region == top.region && f.lo < top.hi && top.lo < f.hi && f.hi > f.lo &&
          top.hi > top.lo)
        return Problem{"alias",
                       sys.nodeName(top.node) + " frame " + range(top) + " overlaps live " +
                           sys.nodeName(f.node) + " frame " + range(f) + " in " +
                           sys.regionNames[f.region],
                       i};
    }
  // overflow: the kernel-stack budget, or a buffer's bound
  if (top.region == 0) {
    if (uint64_t(top.hi) > sys.kernelBudget())
      return Problem{"overflow",
                     "kernel stack reaches " + std::to_string(top.hi) +
                         " bytes, over the budget of " + std::to_string(sys.kernelBudget()),
                     last};
    return std::nullopt;
  }
  // stack-switch: what its entries leave on the task stack (return
  // addresses, r12: System::taskStackOnPush) against the budget
  if (sys.opts.scheme == Scheme::StackSwitch && uint64_t(top.kernelStack) > sys.kernelBudget())
    return Problem{"overflow",
                   "kernel stack reaches " + std::to_string(top.kernelStack) +
                       " bytes (the return addresses and r12 that stack-switch entries leave there), "
                       "over the budget of " + std::to_string(sys.kernelBudget()),
                   last};
  if (top.lo < 0)
    return Problem{"overflow",
                   sys.nodeName(top.node) + " frame " + range(top) + " starts below buffer " +
                       sys.regionNames[top.region],
                   last};
  auto bound = b.region.find(top.region);
  if (bound != b.region.end() && sys.reach(top) > bound->second) {
    const uint32_t reserve = sys.nodes[top.node].reserve;
    return Problem{"overflow",
                   sys.nodeName(top.node) + " frame " + range(top) +
                       (reserve && top.hi <= bound->second
                            ? " and the " + std::to_string(reserve) +
                                  " bytes below it (interrupt headroom, helpers' stack)"
                            : std::string()) +
                       " leaves buffer " + sys.regionNames[top.region] + " of " +
                       std::to_string(bound->second) + " bytes",
                   last};
  }
  return std::nullopt;
}

std::optional<std::vector<std::vector<FrameState>>>
replay(const System &sys, size_t program, const std::vector<Choice> &path) {
  std::vector<std::vector<FrameState>> history;
  std::vector<FrameState> stack{sys.enter(program)};
  history.push_back(stack);
  for (const Choice &c : path) {
    const FrameState &top = stack.back();
    std::optional<FrameState> next;
    if (c.tail) {
      if (c.index >= sys.tailsFrom[top.node].size())
        return std::nullopt;
      next = sys.tail(top, sys.tailsFrom[top.node][c.index]);
      if (!next)
        return std::nullopt;
      stack.back() = *next;
    } else {
      if (c.index >= sys.pushesFrom[top.node].size())
        return std::nullopt;
      next = sys.push(top, sys.pushesFrom[top.node][c.index]);
      if (!next)
        return std::nullopt;
      stack.push_back(*next);
    }
    history.push_back(stack);
  }
  return history;
}

Violation makeViolation(const System &sys, size_t program,
                        const std::vector<std::vector<FrameState>> &history, const Problem &p) {
  Violation v;
  v.kind = p.kind;
  v.program = sys.obj.programs[program].name;
  v.message = p.message;
  for (auto &stack : history) {
    const FrameState &f = stack.back();
    TraceStep s;
    s.event = eventName(f.event);
    s.program = sys.program(f.node).name;
    s.function = sys.function(f.node).name;
    if (f.insn && f.siteNode) {
      const Function &site = sys.function(*f.siteNode);
      s.insn = site.sectionInsn(*f.insn);
      s.section = site.section;
      if (const Insn *in = site.insnAt(*f.insn); in && in->loc)
        s.source = in->loc->toSourceLoc();
    } else {
      // enter, re-entry, an async callback: no call site; they happen at
      // any instruction of the frame they interrupt (or, entering, at the
      // function's start) — name that function's first source line
      const Function &at = sys.function(f.siteNode ? *f.siteNode : f.node);
      if (!at.insns.empty() && at.insns.front().loc)
        s.source = at.insns.front().loc->toSourceLoc();
    }
    s.region = sys.regionNames[f.region];
    s.depth = uint32_t(stack.size() - 1);
    s.lo = f.lo;
    s.hi = f.hi;
    v.trace.push_back(std::move(s));
  }
  // Stacks only grow or have their top replaced, so the frame at position
  // `pos` of the final stack is the last step that put a frame there.
  const size_t last = history.back().size() - 1;
  for (size_t pos : {p.other, last})
    for (size_t j = history.size(); j-- > 0;)
      if (history[j].size() - 1 == pos) {
        v.trace[j].clash = true;
        break;
      }
  return v;
}

} // namespace pstack::detail
