// Private to model/: the transition system every engine reads — which
// frames may be pushed on which, which tail calls replace which, and where
// each scheme puts a frame. The explicit engine runs it on concrete states;
// the Z3 engines (bmc.cpp, horn.cpp) encode the same rules symbolically.
// The rules are written once, here and in system.cpp, as data the engines
// interpret; the symbolic encodings mirror place()/push()/tail() and are
// checked against them on every case (tests: engines agree).
#pragma once

#include "model/model.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pstack::detail {

enum class Event { Enter, Call, Callback, TailCall, Nest, Reenter, Async };
const char *eventName(Event e);
inline bool newActivation(Event e) {
  return e == Event::Enter || e == Event::Nest || e == Event::Reenter || e == Event::Async;
}

struct PushEdge {
  size_t from = 0, to = 0; // graph nodes
  Event kind = Event::Call;
  std::optional<uint32_t> insn; // the site in `from` (function-relative)
  // stack-switch, a callback a helper calls: bytes between the caller's
  // frame and the callback's (StackSwitchCosts::callbackGap); else 0
  uint32_t gap = 0;
};

struct TailEdge {
  size_t from = 0, to = 0;
  uint32_t insn = 0;
};

// Where a scheme puts frames of a node.
enum class Placement {
  KernelStack, // the normal stack: frames one after another, never aliasing
  Fixed,       // its own buffer (per (program, function)): [0, F)
  Relative,    // a per-program buffer, r9-relative (per-prog)
  Static       // a per-program buffer at a planned offset (planned)
};

struct NodeInfo {
  size_t program = 0;
  uint32_t frame = 0;      // F
  Placement placement = Placement::Fixed;
  int fixedRegion = -1;    // for Fixed: region id
  int programRegion = -1;  // for Relative/Static: the program's buffer
  int64_t offset = 0;      // for Static: where the plan puts the frame
  // Bytes the region must hold beyond the frame's top while it is the top
  // frame (stack-switch: interrupt headroom, and the stack of the helpers
  // and kfuncs it calls); 0 under the other schemes.
  uint32_t reserve = 0;
};

// A live frame as every engine sees it.
struct FrameState {
  size_t node = 0;
  Event event = Event::Enter;
  std::optional<uint32_t> insn; // site in the frame below (or replaced)
  std::optional<size_t> siteNode;
  int region = 0; // 0: kernel stack
  int64_t lo = 0, hi = 0;
  uint32_t tailCount = 0;   // tail calls of this activation so far
  uint32_t depth = 1;       // frames of this program's own call chain
  bool asyncLive = false;   // an async callback is live at or below
  int64_t kernelStack = 0;  // kernel-stack bytes of this frame and below
  // kernel scheme: programs live below. Shared and never written once
  // made: a tail call keeps it, a push copies it only when it grows (this
  // is copied on every transition).
  std::shared_ptr<const std::vector<bool>> programsBelow;
};

// What check_max_stack_depth refuses first in one program, as a chain of
// frames from a root (the program's entry, or an async callback).
struct StackRefusal {
  std::vector<size_t> path;                   // nodes, root first
  std::vector<std::optional<uint32_t>> sites; // the site in the frame below
  std::vector<bool> viaLoad;                  // reached through ld_imm64 (a callback)
  std::string message;                        // as the verifier words it
};

class System {
public:
  // `plan`: for the planned scheme, node -> offset in its program's buffer;
  // programs without planned nodes stay r9-relative.
  System(const Object &obj, const CallGraph &g, const VerifyOptions &o,
         const std::map<size_t, int64_t> &plan = {});

  const Object &obj;
  const CallGraph &graph;
  const VerifyOptions &opts;

  std::vector<NodeInfo> nodes;
  std::vector<std::vector<PushEdge>> pushesFrom; // by from-node
  std::vector<std::vector<TailEdge>> tailsFrom;
  std::vector<std::string> regionNames;          // by region id; 0 = kernel_stack
  std::vector<bool> privateProgram;              // kernel scheme
  // kernel scheme: the verifier's depth walk, per program (others: only
  // the 8-frame limit and recursion)
  std::vector<std::optional<StackRefusal>> refusal;
  std::optional<uint32_t> tailLimit;             // none: switched off
  // some program has a private stack and something starts new activations:
  // only then can the recursion counter (programsBelow) forbid a push
  bool recursionCounter = false;

  size_t entry(size_t program) const;
  std::string nodeName(size_t node) const { return graph.nodeName(node); }
  const Function &function(size_t node) const;
  const Program &program(size_t node) const;

  // Transitions on concrete states; nullopt when a guard forbids it (depth,
  // tail-call limit, recursion counter, softirq nesting).
  FrameState enter(size_t program) const;
  std::optional<FrameState> push(const FrameState &top, const PushEdge &e) const;
  std::optional<FrameState> tail(const FrameState &top, const TailEdge &e) const;

  uint64_t kernelBudget() const { return opts.env.kernelStackBudget; }
  // Where a new activation's first frame starts in its buffer (stack-switch:
  // above the link frame; else 0).
  int64_t activationBase = 0;
  // stack-switch: the bytes a push leaves on the task stack (the JIT's
  // return addresses and saved r12, jitgen/emit.cpp): a new activation
  // entered there 16 (the return address into it, the entry's push r12);
  // with helpers on the task stack, a nested program or a helper's
  // callback 24 more (the call out's return address too). Else 0.
  uint32_t taskStackOnPush(Event ev, uint32_t gap) const;
  // The highest byte the region must hold while `f` is the top frame.
  int64_t reach(const FrameState &f) const { return f.hi + nodes[f.node].reserve; }

  // The mutation's shift for `node` (0 unless it is the moved frame and has
  // a place of its own: a fixed buffer or a planned offset).
  int64_t shiftOf(size_t node) const;

private:
  // check_max_stack_depth over program p's nodes: marks nodes that get
  // their own buffer (ownBuffer) and returns the first refusal.
  std::optional<StackRefusal> checkStackDepth(size_t p, std::vector<bool> &ownBuffer) const;
  // function index by name (views of obj's names; Object::function() is a
  // scan, and the depth walk asks for every call site of every chain)
  std::unordered_map<std::string_view, size_t> functionByName_;
  std::optional<std::pair<size_t, int64_t>> shift_;
  std::vector<bool> asyncTarget_; // node is an async callback // mutation: node, bytes
  FrameState placeNew(size_t node, const FrameState *below, Event ev, uint32_t gap) const;
  uint32_t callbackGap(size_t from, size_t to, std::optional<uint32_t> insn) const;
  // Places a frame whose bytes do not depend on r9 (kernel stack, fixed
  // buffer, planned offset) above `ksBelow` kernel-stack bytes; false for
  // r9-relative frames.
  bool placeAbsolute(FrameState &f, size_t node, int64_t ksBelow) const;
  // stack-switch: frames with their x86 overhead, reserves, the link frame
  void stackSwitchCosts();
};

} // namespace pstack::detail
