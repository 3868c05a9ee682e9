// jitgen's deliberately broken emitters: the self-checks of the validator,
// the differential tests and translation validation (proofs/) must catch
// each. Private to the build (not installed): a loader never emits one.
#pragma once

#include "jitgen/jitgen.h"

namespace pstack {

enum class JitMutant {
  None,
  ShiftNotMasked,       // shift by register without masking the count
  NoZeroExtend32,       // a 32-bit ALU result is not zero-extended
  R9NotRestored,        // no `pop r9` after a helper call
  FrameOffBy8,          // every r9-relative access 8 bytes lower
  TailCountNotIncremented,
  LinkOffBy8,           // stack-switch: the link frame 8 bytes below the buffer's top
  NoSwitchBack,         // stack-switch: the entry returns without moving rsp back
  CallbackTopKept,      // stack-switch: the per-CPU callback top not put back after the helper
  CallbackGapShort,     // stack-switch: a helper's callback starts 64 bytes inside the helper's stack
  LoopSpillInFrame,     // stack-switch: an inlined bpf_loop keeps r6-r8 in BPF's own bytes
  SignExtendWidth,      // movsx from 8 bits sign-extends 16
  SignedDivNoMinusOne,  // sdiv/smod by a register without the -1 case
  GotolOffByOne         // gotol lands one BPF instruction further
};

// jitCompile with one deliberate bug.
JitImage jitCompileMutant(const Object &obj, const Layout &layout, const JitOptions &opts,
                          JitMutant mutant);

} // namespace pstack
