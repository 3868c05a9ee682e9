#include "model/system.h"
#include "frontend/isa.h"

#include <algorithm>
#include <functional>
#include <map>

namespace pstack::detail {

namespace {
constexpr uint32_t kMaxBpfStack = 512;  // MAX_BPF_STACK
constexpr uint32_t kMaxCallFrames = 8;  // MAX_CALL_FRAMES
constexpr uint32_t kTailCallDepth = 256; // callers' bytes above a tail-calling subprog
} // namespace

const char *eventName(Event e) {
  switch (e) {
  case Event::Enter: return "enter";
  case Event::Call: return "call";
  case Event::Callback: return "callback";
  case Event::TailCall: return "tail_call";
  case Event::Nest: return "nest";
  case Event::Reenter: return "reenter";
  case Event::Async: return "callback";
  }
  return "?";
}

System::System(const Object &o, const CallGraph &g, const VerifyOptions &vo,
               const std::map<size_t, int64_t> &plan)
    : obj(o), graph(g), opts(vo), tailLimit(vo.env.tailCallLimit) {
  const size_t N = g.nodes().size(), P = o.programs.size();
  asyncTarget_.assign(N, false);
  for (auto &e : g.edges())
    if (e.kind == EdgeKind::Callback && e.async)
      asyncTarget_[e.to] = true;
  regionNames.push_back("kernel_stack");
  nodes.resize(N);
  for (size_t n = 0; n < N; ++n) {
    const Function &fn = o.functions[g.nodes()[n].function];
    nodes[n].program = g.nodes()[n].program;
    // under the kernel scheme a frame is what that kernel's JIT lays out,
    // hidden slots included (its checks see the frame alone)
    nodes[n].frame = vo.scheme == Scheme::Kernel ? kernelStackDepth(fn, vo.kernel) : fn.frame.bytes;
  }
  // kernel scheme: which programs may get private stacks, and the
  // verifier's depth walk, which decides frame by frame
  privateProgram.assign(P, false);
  refusal.assign(P, std::nullopt);
  std::vector<bool> ownBuffer(N, false);
  functionByName_.reserve(o.functions.size());
  for (size_t f = 0; f < o.functions.size(); ++f)
    functionByName_.emplace(o.functions[f].name, f); // (the first, as Object::function)
  for (size_t p = 0; p < P; ++p) {
    if (vo.scheme == Scheme::Kernel) {
      // (a type the running kernel was not asked about: no private stack
      // here, and the verdict is `unknown` anyway, see verify.cpp)
      bool eligible = vo.kernel.givesPrivateStack(o.programs[p]).value_or(false);
      // any tail call in the program: the whole program keeps the normal stack
      for (size_t f : o.programs[p].functions)
        eligible &= o.functions[f].tailCalls.empty();
      privateProgram[p] = eligible;
    }
    refusal[p] = checkStackDepth(p, ownBuffer);
  }

  for (size_t n = 0; n < N; ++n) {
    NodeInfo &ni = nodes[n];
    switch (vo.scheme) {
    case Scheme::Kernel:
      if (ownBuffer[n]) {
        ni.placement = Placement::Fixed;
        ni.fixedRegion = int(regionNames.size());
        regionNames.push_back(g.nodeName(n));
      } else {
        ni.placement = Placement::KernelStack;
      }
      break;
    case Scheme::PerSubprog:
      ni.placement = Placement::Fixed;
      ni.fixedRegion = int(regionNames.size());
      regionNames.push_back(g.nodeName(n));
      break;
    case Scheme::PerProg:
    case Scheme::Planned:
    case Scheme::StackSwitch:
      ni.placement = Placement::Relative;
      break;
    }
  }
  if (vo.scheme == Scheme::StackSwitch)
    stackSwitchCosts();
  if (vo.scheme == Scheme::PerProg || vo.scheme == Scheme::Planned ||
      vo.scheme == Scheme::StackSwitch) {
    std::vector<int> progRegion(P);
    for (size_t p = 0; p < P; ++p) {
      progRegion[p] = int(regionNames.size());
      regionNames.push_back(o.programs[p].name);
    }
    for (auto &ni : nodes)
      ni.programRegion = progRegion[ni.program];
    for (auto &[n, off] : plan) {
      nodes[n].placement = Placement::Static;
      nodes[n].offset = off;
    }
  }
  if (vo.shiftFrame)
    for (size_t n = 0; n < N; ++n)
      if (g.nodeName(n) == vo.shiftFrame->first)
        shift_ = {n, vo.shiftFrame->second};

  // Edges: calls and sync callbacks from the graph; nesting through kfunc
  // calls, re-entry and async callbacks from the environment.
  pushesFrom.assign(N, {});
  tailsFrom.assign(N, {});
  for (auto &e : g.edges()) {
    if (e.kind == EdgeKind::Call)
      pushesFrom[e.from].push_back({e.from, e.to, Event::Call, e.insn});
    else if (e.kind == EdgeKind::Callback && !e.async)
      pushesFrom[e.from].push_back({e.from, e.to, Event::Callback, e.insn, callbackGap(e.from, e.to, e.insn)});
    else if (e.kind == EdgeKind::TailCall)
      tailsFrom[e.from].push_back({e.from, e.to, e.insn});
  }
  std::map<std::string, size_t> progIndex;
  for (size_t p = 0; p < P; ++p)
    progIndex[o.programs[p].name] = p;
  // async callbacks by the program that sets them (the edge list can hold
  // a million tail edges: not walked once per node)
  std::vector<std::vector<size_t>> asyncByProgram(P);
  for (auto &e : g.edges())
    if (e.kind == EdgeKind::Callback && e.async)
      asyncByProgram[g.nodes()[e.from].program].push_back(e.to);
  for (size_t n = 0; n < N; ++n) {
    const Program &prog = o.programs[nodes[n].program];
    const Function &fn = o.functions[g.nodes()[n].function];
    auto nest = vo.env.nest.find(prog.name);
    if (nest != vo.env.nest.end())
      for (auto &c : fn.calls)
        if (c.kind == CallKind::Kfunc)
          for (auto &q : nest->second)
            if (progIndex.count(q))
              pushesFrom[n].push_back({n, entry(progIndex[q]), Event::Nest, c.insn});
    if (vo.env.reenter.count(prog.name))
      pushesFrom[n].push_back({n, entry(nodes[n].program), Event::Reenter, std::nullopt});
    // an async callback of this program may fire while any of its frames is
    // on top (softirq on the same CPU)
    for (size_t to : asyncByProgram[nodes[n].program])
      pushesFrom[n].push_back({n, to, Event::Async, std::nullopt});
  }
  if (std::find(privateProgram.begin(), privateProgram.end(), true) != privateProgram.end())
    for (auto &edges : pushesFrom)
      for (auto &e : edges)
        recursionCounter |= newActivation(e.kind);
}

std::optional<StackRefusal> System::checkStackDepth(size_t p, std::vector<bool> &ownBuffer) const {
  // Under the kernel scheme this is check_max_stack_depth (6.13+:
  // check_max_stack_depth_subprog per root): a depth-first walk over every
  // call chain, in instruction order, where a BPF-to-BPF call and the
  // ld_imm64 that loads a synchronous callback's address both enter the
  // callee (the callback's frame counts where its address is loaded).
  // Under the other schemes only what does not depend on where frames live
  // applies: more than 8 frames and recursion (the engines explore chains
  // of 8 frames only, so a deeper one must not pass).
  const bool layout = opts.scheme == Scheme::Kernel;
  const KernelRules &k = opts.kernel;
  const Program &prog = obj.programs[p];
  auto nodeOf = [&](const std::string &name) -> std::optional<size_t> {
    auto f = functionByName_.find(name);
    if (f == functionByName_.end())
      return std::nullopt;
    return graph.node(p, f->second);
  };
  struct Child {
    size_t to;
    uint32_t insn;
    bool load;
  };
  auto children = [&](size_t n) {
    std::vector<Child> out;
    const Function &fn = function(n);
    for (auto &c : fn.calls)
      if (c.kind == CallKind::Local)
        if (auto t = nodeOf(c.target))
          out.push_back({*t, c.insn, false}); // a direct call enters even an async callback
    for (auto &[insn, li] : fn.loadImms)
      if (li.kind == LoadImmRef::Kind::Func)
        if (auto t = nodeOf(li.name); t && !asyncTarget_[*t]) // async ones run later, alone
          out.push_back({*t, insn, true});
    std::sort(out.begin(), out.end(), [](const Child &a, const Child &b) { return a.insn < b.insn; });
    return out;
  };
  enum class Mode : uint8_t { Unknown, Normal, Own };
  std::map<size_t, Mode> mode;
  const size_t main = entry(p);
  std::optional<StackRefusal> ref;
  StackRefusal cur;
  auto refuse = [&](std::string msg) {
    ref = cur;
    ref->message = std::move(msg);
  };
  std::function<void(size_t, uint32_t, bool)> visit = [&](size_t n, uint32_t depth, bool priv) {
    Mode &m = mode[n];
    if (!priv)
      m = Mode::Normal;
    const Function &fn = function(n);
    if (layout && n != main && !fn.tailCalls.empty() && depth >= kTailCallDepth)
      return refuse("tail_calls are not allowed when call stack of previous frames is " +
                    std::to_string(depth) + " bytes. Too large");
    const uint32_t cost = k.frameCost(fn.frame.bytes); // before the hidden slots
    if (priv && m == Mode::Unknown && cost >= k.privateStackMin)
      m = Mode::Own;
    if (m == Mode::Own) {
      if (cost > kMaxBpfStack)
        return refuse("stack size of subprog " + fn.name + " is " + std::to_string(cost) +
                      ". Too large");
    } else {
      // a frame with its own buffer adds nothing; the sum runs on across it
      depth += cost;
      if (layout && depth > kMaxBpfStack)
        return refuse("combined stack size of " + std::to_string(cur.path.size()) + " calls is " +
                      std::to_string(depth) + ". Too large");
    }
    for (const Child &c : children(n)) {
      if (ref)
        return;
      const bool recursive = std::find(cur.path.begin(), cur.path.end(), c.to) != cur.path.end();
      cur.path.push_back(c.to);
      cur.sites.push_back(c.insn);
      cur.viaLoad.push_back(c.load);
      if (recursive)
        refuse("recursive call from " + fn.name + " to " + function(c.to).name);
      else if (cur.path.size() > kMaxCallFrames)
        // do_check refuses it first (check_func_call: curframe + 2 frames)
        refuse("the call stack of " + std::to_string(cur.path.size()) +
               " frames is too deep (MAX_CALL_FRAMES is " + std::to_string(kMaxCallFrames) + ")");
      else
        visit(c.to, depth, priv);
      cur.path.pop_back();
      cur.sites.pop_back();
      cur.viaLoad.pop_back();
    }
  };
  auto walk = [&](size_t root, bool priv) {
    cur = StackRefusal{};
    cur.path.push_back(root);
    cur.sites.push_back(std::nullopt);
    cur.viaLoad.push_back(false);
    visit(root, 0, priv);
  };
  // The main program and each async callback are roots, an async one on
  // the normal stack. With private stacks (6.13+) the async ones go first:
  // what they reach keeps the normal stack, also where the main program
  // calls it. Before, the main program went first (only the message of the
  // first refusal depends on the order).
  auto asyncRoots = [&] {
    if (!k.asyncCallbackRoots && layout)
      return;
    for (auto it = prog.functions.rbegin(); it != prog.functions.rend() && !ref; ++it)
      if (auto n = graph.node(p, *it); n && *n != main && asyncTarget_[*n])
        walk(*n, false);
  };
  if (k.hasPrivateStacks()) {
    asyncRoots();
    if (!ref)
      walk(main, privateProgram[p]);
  } else {
    walk(main, false);
    if (!ref)
      asyncRoots();
  }
  for (auto &[n, m] : mode)
    ownBuffer[n] = m == Mode::Own;
  return ref;
}

size_t System::entry(size_t p) const { return *graph.node(p, obj.programs[p].entry); }
const Function &System::function(size_t n) const {
  return obj.functions[graph.nodes()[n].function];
}
const Program &System::program(size_t n) const { return obj.programs[nodes[n].program]; }

int64_t System::shiftOf(size_t node) const {
  if (!shift_ || shift_->first != node)
    return 0;
  Placement pl = nodes[node].placement;
  return pl == Placement::Fixed || pl == Placement::Static ? shift_->second : 0;
}

bool System::placeAbsolute(FrameState &f, size_t node, int64_t ksBelow) const {
  const NodeInfo &ni = nodes[node];
  switch (ni.placement) {
  case Placement::KernelStack:
    // the kernel stack grows down; frames lie one after another
    f.region = 0;
    f.lo = ksBelow;
    f.hi = ksBelow + ni.frame;
    f.kernelStack = f.hi;
    return true;
  case Placement::Fixed:
    f.region = ni.fixedRegion;
    f.lo = shiftOf(node);
    f.hi = f.lo + ni.frame;
    f.kernelStack = ksBelow;
    return true;
  case Placement::Static:
    f.region = ni.programRegion;
    f.lo = ni.offset + shiftOf(node);
    f.hi = f.lo + ni.frame;
    f.kernelStack = ksBelow;
    return true;
  case Placement::Relative:
    return false;
  }
  return false;
}

void System::stackSwitchCosts() {
  const StackSwitchCosts &c = opts.env.stackSwitch;
  activationBase = c.linkBytes;
  for (size_t n = 0; n < nodes.size(); ++n) {
    const Function &fn = function(n);
    // the x86 JIT rounds a frame up to 8 bytes (round_up(stack_depth, 8));
    // an inlined bpf_loop keeps its counter, bound and context (r6-r8 of
    // the caller saved) in 24 bytes of the frame, as 6.12+ kernels do
    // (and may_goto's counter, 8 bytes, as the kernel keeps it in the frame)
    // (and, where it calls a helper that calls back into BPF, 8 bytes that
    // keep the per-CPU callback top it replaces around the call: layout.h)
    bool loop = false, mayGoto = false;
    for (auto &cb : fn.callbacks)
      loop |= cb.via == "bpf_loop";
    for (auto &in : fn.insns)
      mayGoto |= isa::form(in) == isa::Form::MayGoto;
    // (jitgen emits exactly this frame; it refuses a layout with another)
    nodes[n].frame = stackSwitchBody(fn.frame.bytes, loop, mayGoto, fn.callsBackFromHelper()) + c.frameOverhead;
    uint32_t callOut = 0;
    if (c.helpersOnBuffer)
      for (const CallSite &cs : fn.calls) {
        if (cs.kind == CallKind::Local || (cs.kind == CallKind::Helper && cs.helper == 12))
          continue; // BPF calls push frames of their own; a tail call is a jump
        const char *helper = cs.kind == CallKind::Kfunc ? nullptr : bpfHelperName(cs.helper);
        std::string name = cs.kind == CallKind::Kfunc ? cs.target : helper ? helper : "";
        // a kfunc that runs nested programs: their entries keep r12 below it
        auto nest = opts.env.nest.find(obj.programs[nodes[n].program].name);
        bool nests = cs.kind == CallKind::Kfunc && nest != opts.env.nest.end() && !nest->second.empty();
        callOut = std::max(callOut, c.reserveOf(name) + (nests ? 8 : 0));
      }
    // LD_ABS/LD_IND: the JIT calls bpf_skb_load_helper_{8,16,32}_no_cache
    if (c.helpersOnBuffer)
      for (auto &in : fn.insns)
        if (isa::form(in) == isa::Form::LegacyLoad) {
          std::string name = "bpf_skb_load_helper_" + std::to_string(8 * isa::accessBytes(in.opcode)) +
                             "_no_cache";
          callOut = std::max(callOut, c.reserveOf(name));
        }
    // an interrupt may arrive at any instruction, also inside a helper
    nodes[n].reserve = c.irqHeadroom + callOut;
  }
}

uint32_t System::taskStackOnPush(Event ev, uint32_t gap) const {
  if (opts.scheme != Scheme::StackSwitch)
    return 0;
  switch (ev) {
  case Event::Enter:
  case Event::Reenter:
  case Event::Async: return 16; // entered from the kernel: return address, r12
  case Event::Nest:              // through a kfunc
    return opts.env.stackSwitch.helpersOnBuffer ? 0 : 24;
  case Event::Callback:          // a helper's (gap), not the inlined bpf_loop's
    return gap && !opts.env.stackSwitch.helpersOnBuffer ? 24 : 0;
  case Event::Call:
  case Event::TailCall: return 0;
  }
  return 0;
}

uint32_t System::callbackGap(size_t from, size_t to, std::optional<uint32_t> insn) const {
  if (opts.scheme != Scheme::StackSwitch || !insn)
    return 0;
  // stack-switch: a callback a helper (or kfunc) calls starts below the
  // helper's stack (on the buffer), behind its own link frame (layout.h:
  // StackSwitchCosts::callbackGap); bpf_loop is inlined into a plain call
  const std::string &name = function(to).name;
  uint32_t gap = 0;
  for (auto &cb : function(from).callbacks)
    if (cb.insn == *insn && cb.callback == name && !cb.async && cb.via != "bpf_loop")
      gap = std::max(gap, opts.env.stackSwitch.callbackGap(cb.via));
  return gap;
}

FrameState System::placeNew(size_t node, const FrameState *below, Event ev, uint32_t gap) const {
  FrameState f;
  f.node = node;
  f.event = ev;
  int64_t ks = below ? below->kernelStack : 0;
  if (placeAbsolute(f, node, ks))
    return f;
  f.kernelStack = ks + taskStackOnPush(ev, gap);
  if (below && (ev == Event::Call || ev == Event::Callback)) {
    // push r9; r9 += F(caller); call; pop r9
    f.region = below->region;
    f.lo = below->lo + nodes[below->node].frame + gap;
  } else {
    // a new activation: its entry prologue sets r9 to its own buffer
    // (stack-switch: rsp, below the link frame)
    f.region = nodes[node].programRegion;
    f.lo = activationBase;
  }
  f.hi = f.lo + nodes[node].frame;
  return f;
}

FrameState System::enter(size_t program) const {
  FrameState f = placeNew(entry(program), nullptr, Event::Enter, 0);
  f.programsBelow = std::make_shared<const std::vector<bool>>(obj.programs.size(), false);
  return f;
}

std::optional<FrameState> System::push(const FrameState &top, const PushEdge &e) const {
  if (newActivation(e.kind)) {
    // kernel scheme: a program with a private stack does not run again on
    // a CPU where it is already active (its recursion counter)
    size_t q = nodes[e.to].program;
    if (opts.scheme == Scheme::Kernel && privateProgram[q] &&
        ((*top.programsBelow)[q] || nodes[top.node].program == q))
      return std::nullopt;
    // softirqs do not nest: one async callback at a time
    if (e.kind == Event::Async && top.asyncLive)
      return std::nullopt;
  } else if (top.depth >= opts.maxCallDepth) {
    return std::nullopt; // deeper chains are the kernel's to reject (kernel_limit)
  }
  FrameState f = placeNew(e.to, &top, e.kind, e.gap);
  f.insn = e.insn;
  f.siteNode = top.node;
  const size_t here = nodes[top.node].program;
  if ((*top.programsBelow)[here]) {
    f.programsBelow = top.programsBelow;
  } else {
    auto grown = std::make_shared<std::vector<bool>>(*top.programsBelow);
    (*grown)[here] = true;
    f.programsBelow = std::move(grown);
  }
  f.asyncLive = top.asyncLive || e.kind == Event::Async;
  if (newActivation(e.kind)) {
    f.tailCount = 0;
    f.depth = 1;
  } else {
    f.tailCount = top.tailCount;
    f.depth = top.depth + 1;
  }
  return f;
}

std::optional<FrameState> System::tail(const FrameState &top, const TailEdge &e) const {
  if (tailLimit && top.tailCount >= *tailLimit)
    return std::nullopt; // the kernel refuses the tail call past the limit
  const NodeInfo &ni = nodes[e.to];
  FrameState f = top;
  f.node = e.to;
  f.event = Event::TailCall;
  f.insn = e.insn;
  f.siteNode = top.node;
  f.tailCount = top.tailCount + 1;
  f.depth = 1; // the verifier bounds each program's own chain afresh
  int64_t ksBelow = top.kernelStack - (top.region == 0 ? top.hi - top.lo : 0);
  if (!placeAbsolute(f, e.to, ksBelow)) {
    f.kernelStack = ksBelow;
    if (opts.perProgR9AtTop) {
      // r9 unchanged and it points at the frame top
      f.hi = top.hi;
      f.lo = f.hi - ni.frame;
    } else {
      // r9 unchanged: the new frame starts where the replaced one started
      f.hi = f.lo + ni.frame;
    }
  }
  return f;
}

} // namespace pstack::detail
