// Random BPF assembly programs for differential testing: text that
// llvm-mc-14 (-triple bpfel -mcpu=v3) assembles into an object the frontend
// loads, and whose every program terminates and touches only memory it may
// (its own frame, the 256-byte context, map values, helper buffers on the
// stack).
//
// What an object holds: 1-4 programs (sections raw_tp/p<i>), subprograms
// f<i> and bpf_loop callbacks cb<i> in .text, and three legacy maps:
//   arr  array,      key 4, value 64, 4 entries
//   hm   hash,       key 8, value 16, 8 entries
//   pa   prog array, key 4, value 4,  4 entries (slots in `progArrays`)
// Each function zeroes its frame at entry and, at its single exit, adds a
// checksum of its registers into an `arr` value and returns it in r0.
//
// Conventions the generated code keeps (so that an interpreter and a JIT
// must agree on every result): r6 holds the context in programs and
// subprograms (the first argument) and in callbacks (their second); no
// pointer value ever reaches arithmetic, a store or r0 at exit; a register
// is read only after it was written on every path; calls form a DAG no more
// than `maxCallDepth` frames deep; jumps go forward; every tail call is
// gated by a counter in the context's last 8 bytes (ctx + 248), which the
// generated code reads and increments, so a run takes at most
// `tailCallBudget` (<= maxTailCallBudget) tail-call attempts; cycles
// between programs are allowed and the limit of 33 stops them as well.
#pragma once

#include "frontend/frontend.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pstack::test {

struct RandomOptions {
  uint32_t minPrograms = 1, maxPrograms = 4;
  uint32_t maxSubprogs = 4;   // in .text, called with `call f<i>`
  uint32_t maxCallbacks = 2;  // bpf_loop callbacks in .text
  uint32_t maxStatements = 14; // per block
  uint32_t maxNesting = 2;    // if / if-else blocks inside blocks
  uint32_t maxCallDepth = 4;  // frames on a BPF-to-BPF call chain (entry included)
  uint32_t maxFrameBytes = 256; // each function's frame: 8..maxFrameBytes
  uint32_t maxLoopIterations = 6; // bpf_loop nr
  uint32_t maxTailCallBudget = 45; // tail-call attempts per run (ctx + 248 gate)
  bool calls = true, tailCalls = true, loops = true, maps = true, atomics = true,
       helpers = true;
  // 32-bit atomic and/or/xor, fetch forms, xchg and cmpxchg (opcode 0xc3
  // with an imm other than 0), which clang-14 -mcpu=v3 emits (the
  // frontend's decoder needed the alu32 feature for them).
  bool atomics32 = true;
  // ALU32 div by a register whose upper half may be non-zero (a divisor of
  // k << 32 once killed the frontend's constant folding with SIGFPE). Off,
  // the divisor is first truncated (`wS = wS`).
  bool alu32DivHighBits = true;
  // cpu v4 forms (sdiv/smod, movsx, bswap, ldsx, load-acquire/store-release,
  // gotol and may_goto over one instruction) and LD_ABS/LD_IND on the
  // context, written as bytes.
  bool v4 = false;
  // some callbacks called by bpf_for_each_map_elem over `arr` instead of
  // bpf_loop: a helper that calls back into BPF (r1 the map, r2 the key,
  // r3 the value, r4 the context), which stack-switch places below the
  // helper's stack. Off by default: per-prog and per-subprog JITs refuse
  // such callbacks by name.
  bool forEach = false;
};

struct RandomObject {
  std::string asmText;
  std::vector<std::string> programs; // entry function names (p0, p1, ...)
  // prog array name -> slot -> program: apply with pstack::applyEnvironment
  std::map<std::string, std::map<uint32_t, std::string>> progArrays;
  uint64_t seed = 0;
};

RandomObject randomObject(uint64_t seed, const RandomOptions &opts = {});

// Writes `asmText` to workPath + ".s", assembles it with llvm-mc-14 into
// `workPath` and loads that with pstack::loadObject. Throws
// std::runtime_error with llvm-mc's message when it does not assemble
// (InputError from the loader passes through).
Object assembleAndLoad(const std::string &asmText, const std::string &workPath);

// assembleAndLoad, then the object's prog-array slots applied (through
// pstack::applyEnvironment, as an environment file would give them).
Object loadRandomObject(const RandomObject &ro, const std::string &workPath);

// A context for a run: 256 bytes derived from `seed`, the last 8 zero (the
// tail-call gate counts up from 0).
std::vector<uint8_t> randomContext(uint64_t seed);

} // namespace pstack::test
