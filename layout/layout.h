// layout: the proved placement of every frame — the one value the model
// hands to the JIT (model → layout → jitgen). Plain types only: no Z3, no
// LLVM, nothing of the model's engines; jitgen reads this and the object,
// never a Report.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pstack {

enum class Scheme { Kernel, PerSubprog, PerProg, Planned, StackSwitch };
const char *schemeName(Scheme s);
std::optional<Scheme> schemeFromName(const std::string &s);

struct Buffer {
  std::string name;  // "prog/func" or "prog"
  uint64_t bytes = 0; // usable bytes
  uint64_t guard = 0; // guard bytes at each end
  bool atLeast = false; // the search was cut short: `bytes` is a lower bound
};

// Where the verified layout puts one function's frame: what jitgen emits
// from. Frames grow down from their top, as r10 does; `offset` is the
// frame's lowest byte within its buffer for OwnBuffer (always 0) and
// ProgramBufferAt; r9-relative frames (ProgramBuffer) have no fixed offset.
struct FramePlan {
  enum class Place {
    KernelStack,      // the normal stack (r10 = rbp)
    OwnBuffer,        // a per-CPU buffer of its own, r9 set by its prologue
    ProgramBuffer,    // its program's buffer, r9-relative: callers move r9
    ProgramBufferAt   // its program's buffer at a planned offset
  };
  std::string program, function;
  Place place = Place::KernelStack;
  std::string region; // the Buffer's name ("" on the kernel stack)
  uint32_t frame = 0; // bytes
  int64_t offset = 0;
  bool asyncEntry = false; // an async callback: a new activation of its own
};
const char *placeName(FramePlan::Place p);

// --scheme stack-switch (x86-64): rsp itself moves onto the program's
// per-CPU buffer, so besides BPF's frames the buffer holds what x86 keeps on
// a stack. Defaults: see docs/stack-switch.md; environment key
// "stack_switch".
struct StackSwitchCosts {
  // at the buffer's top, below nothing: the kernel return address and the
  // caller's rbp, where a frame-pointer unwinder finds its way back
  uint32_t linkBytes = 16;
  // per BPF frame, besides its own bytes (rounded up to 8 as the x86 JIT
  // does): return address, saved rbp, rbx/r13/r14/r15, the tail-call count
  uint32_t frameOverhead = 56;
  // an interrupt arriving while rsp is in the buffer pushes its hardware
  // frame and pt_regs there before switching to the IRQ stack: needed
  // below the deepest frame at every instruction (NMI, #MC: IST stacks)
  uint32_t irqHeadroom = 168;
  // true: helpers and kfuncs run on the buffer, below their caller's frame;
  // false: the JIT switches back to the task stack around every call out
  bool helpersOnBuffer = true;
  // stack a helper or kfunc may use below its caller (helpersOnBuffer),
  // by name (helpers: bpf_map_lookup_elem, ...; kfuncs: their names), else
  // `helperReserve`
  uint32_t helperReserve = 1024;
  std::map<std::string, uint32_t> helperReserveByName;

  // the stack a helper or kfunc named `name` may use below its caller
  uint32_t reserveOf(const std::string &name) const {
    auto it = helperReserveByName.find(name);
    return it != helperReserveByName.end() ? it->second : helperReserve;
  }
  // A callback that helper or kfunc `via` calls synchronously (every one
  // but the inlined bpf_loop's) is entered from C: its entry switches rsp
  // to the top its BPF caller left in the per-CPU callback slot, the
  // caller's frame bottom less the helper's stack when helpers run on the
  // buffer (its reserve, and the 8 bytes of r12 the callback's entry keeps
  // on the stack it was entered on), and leaves its link frame there.
  // The bytes from the caller's frame bottom to the callback's frame top:
  uint32_t callbackGap(const std::string &via) const {
    return linkBytes + (helpersOnBuffer ? reserveOf(via) + 8 : 0);
  }
};

// A stack-switch frame as the JIT lays it out and the model counts it, over
// the frame-pointer record, from rbp down: BPF's bytes rounded up to 8, an
// inlined bpf_loop's copy of its caller's r6-r8 (24 bytes, as 6.12+ kernels
// count it), the per-CPU callback top it replaces while it calls a helper
// that calls back into BPF (8: Function::callsBackFromHelper), may_goto's
// counter (8, at the bottom); then `frameOverhead` above.
constexpr uint32_t kStackSwitchLoopSpill = 24, kStackSwitchMayGotoSlot = 8,
                   kStackSwitchCallbackSlot = 8;
inline uint32_t stackSwitchBody(uint32_t bpfBytes, bool inlinesLoop, bool hasMayGoto,
                                bool savesCallbackTop) {
  return ((bpfBytes + 7) & ~uint32_t(7)) + (inlinesLoop ? kStackSwitchLoopSpill : 0) +
         (savesCallbackTop ? kStackSwitchCallbackSlot : 0) + (hasMayGoto ? kStackSwitchMayGotoSlot : 0);
}
// The name of the per-CPU word (in the JIT's per-CPU area, beside the
// buffers) holding the top where the next callback entered from C starts.
constexpr const char *kStackSwitchCallbackTop = "<callback top>";

// The layout of one object under one scheme, and for which programs it was
// proved: the JIT emits a program only when it is in `proved` (unless told
// to replay a counterexample).
struct Layout {
  Scheme scheme = Scheme::Kernel;
  std::vector<Buffer> buffers;
  std::vector<FramePlan> frames; // one per (program, function)
  bool perProgR9AtTop = false;   // the per-prog variant it was proved for
  std::set<std::string> proved;  // programs proved safe under it
  // stack-switch: the costs it was proved with (the JIT refuses a layout
  // whose link frame or frame overhead is not what it emits; the helpers'
  // variant is the JIT's to follow)
  StackSwitchCosts stackSwitch;
  // the others the model verified, with their verdict as printed
  // ("unsafe", "unknown": for messages only)
  std::map<std::string, std::string> unproved;
};

} // namespace pstack
