// proofs: the model's obligations as standalone SMT-LIB2 files re-checked
// by two independent solvers (the z3 and cvc5 binaries), and translation
// validation of jitgen's x86-64 against BPF's meaning, over the decoded
// bytes, in Z3 bit-vectors.
//
// No Z3 or LLVM type crosses this header.
#pragma once

#include "jitgen/jitgen.h"
#include "jitgen/mutants.h"
#include "model/model.h"

#include <functional>
#include <string>
#include <vector>

namespace pstack {

struct ObligationFile {
  std::string path;
  std::string program, property, engine;
};

// --emit-smt DIR: one file per obligation of `rep` (verified with
// collectObligations), named <object>.<program>.<engine>.<property>.smt2,
// each opening with a comment naming the object, program, property, scheme
// and the answer that proves it. Throws InputError if DIR cannot be written.
std::vector<ObligationFile> writeObligations(const Report &rep, const std::string &objectPath,
                                             const std::string &dir);

// Programs whose proof produced no exportable obligations, and why.
std::vector<std::string> notExported(const Report &rep);

struct SolverAnswer {
  std::string answer; // unsat | sat | unknown | timeout | error: ...
  double seconds = 0;
};
struct Recheck {
  ObligationFile file;
  SolverAnswer z3, cvc5;
  bool proved() const { return z3.answer == "unsat" && cvc5.answer == "unsat"; }
  // one says unsat and the other sat: a bug in a solver or in the encoding
  bool conflict() const {
    return (z3.answer == "unsat" && cvc5.answer == "sat") || (z3.answer == "sat" && cvc5.answer == "unsat");
  }
};

// Runs every file through `z3` and `cvc5` (each with `timeoutSeconds`),
// `jobs` files at a time.
std::vector<Recheck> recheckObligations(const std::vector<ObligationFile> &files,
                                        double timeoutSeconds, unsigned jobs = 2);
std::string recheckTable(const std::vector<Recheck> &checks);

// ------------------------------------------------- translation validation

enum class TvStatus { Proved, Failed, Unknown };
const char *tvStatusName(TvStatus s);

struct TvObligation {
  std::string group;   // alu64, alu32, jmp, jmp32, ldx, stx, st, atomic, frame
  std::string name;    // the BPF form, e.g. "r1 /= r2 (alu64, x)"
  TvStatus status = TvStatus::Unknown;
  double seconds = 0;
  std::string detail;  // for a failure: the counterexample, and its replay
};

struct TvOptions {
  JitMutant mutant = JitMutant::None; // validate a deliberately broken emitter
  double timeoutSeconds = 30;         // per obligation
  bool replayFailures = true;         // run counterexamples in the harness
  std::string only;                   // run only the groups/names containing this
  // write each query (the negated obligation, which must be unsat) as
  // SMT-LIB2 here, for re-checking with other solvers (recheckObligations)
  std::string smtDir;
  std::function<void(const TvObligation &)> progress; // after each obligation
};

// Proves, for every BPF instruction form clang emits (each ALU/JMP
// operation with immediate and register source, every size of load, store
// and atomic, division and modulo by zero, shift counts at and beyond the
// width, 32-bit zero extension), that jitgen's emitted x86-64 — decoded by
// LLVM MC — leaves the same registers and memory as the BPF instruction,
// and that the prologue, epilogue, call and tail-call sequences of every
// scheme keep r9 and the callee-saved registers and stay in the frame.
std::vector<TvObligation> validateTranslation(const TvOptions &opts = {});
// The files TvOptions::smtDir received, as obligations to re-check.
std::vector<ObligationFile> tvObligationFiles(const std::string &smtDir);
std::string tvTable(const std::vector<TvObligation> &obs);

} // namespace pstack
