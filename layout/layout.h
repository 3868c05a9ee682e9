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

// The layout of one object under one scheme, and for which programs it was
// proved: the JIT emits a program only when it is in `proved` (unless told
// to replay a counterexample).
struct Layout {
  Scheme scheme = Scheme::Kernel;
  std::vector<Buffer> buffers;
  std::vector<FramePlan> frames; // one per (program, function)
  bool perProgR9AtTop = false;   // the per-prog variant it was proved for
  std::set<std::string> proved;  // programs proved safe under it
  // the others the model verified, with their verdict as printed
  // ("unsafe", "unknown": for messages only)
  std::map<std::string, std::string> unproved;
};

} // namespace pstack
