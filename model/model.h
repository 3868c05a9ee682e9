// model: activation stacks of nested BPF programs on one CPU, where each
// scheme puts every frame, and the properties of DESIGN.md ("The model").
//
// This header exposes only plain types: no Z3, no LLVM.
#pragma once

#include "frontend/frontend.h"
#include "layout/layout.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pstack {

// What one kernel's verifier and x86-64 JIT do with BPF stacks: the rules
// the `kernel` scheme follows, one table per kernel (kernelRules()), or what
// the running kernel answered when asked (hostkernel/). docs/kernel-rules.md
// gives the source line or commit of every field.
struct KernelRules {
  std::string name = "6.13"; // as --kernel names it ("running" when probed)
  std::string release;       // the probed kernel's `uname -r`; "" for a table
  // check_max_stack_depth rounds each frame on a chain up to `round` bytes:
  // 32 (interpreter granularity, where an empty frame still costs 32) on
  // 6.1 and wherever the JIT is off; 16 when JITed from 6.9 on
  // (round_up_stack_depth).
  uint32_t round = 16;
  // Program types given a private stack (bpf_enable_priv_stack): none
  // before 6.13. Iterators, LSM, writable raw tracepoints and struct_ops
  // that do not ask for one are never in it.
  std::set<ProgType> privateStackTypes;
  uint32_t privateStackMin = 64; // BPF_PRIV_STACK_MIN_SIZE, on the rounded frame
  // Each async callback (timer, workqueue) is a root of its own, with its
  // own 512 bytes and 8 frames; its subprogs keep the normal stack.
  bool asyncCallbackRoots = true;
  // Hidden stack the verifier adds after its checks (do_misc_fixups,
  // optimize_bpf_loop): counted in frames' layout, not in the 512 sum.
  uint32_t bpfLoopInline = 24; // inlined bpf_loop's three spill slots
  uint32_t mayGotoSlot = 8;    // may_goto's iteration counter
  // --kernel running only: program types the probe could not settle (the
  // probe program was refused for a reason that is not its stack, or the
  // variants of one type disagreed), with why. They are not in
  // privateStackTypes; a program of such a type is never reported `safe`
  // (it gets `unknown` with the reason instead).
  std::map<ProgType, std::string> unprobedTypes;
  // ... and for such a type, what each attach variant the probe loaded
  // said (kprobe, kprobe.multi, uprobe.multi, uprobe.s: some kernels give
  // kprobe.multi a private stack and plain kprobes none).
  std::map<std::string, bool> privateByVariant;

  bool hasPrivateStacks() const { return !privateStackTypes.empty(); }
  bool givesPrivateStack(ProgType t) const { return privateStackTypes.count(t) > 0; }
  // For one program: by its type, or where the type's variants differ by
  // its section's variant; nullopt where nobody asked the kernel.
  std::optional<bool> givesPrivateStack(const Program &p) const;
  // A frame of `bytes` as check_max_stack_depth counts it on a chain.
  uint32_t frameCost(uint32_t bytes) const;
};

// A function's stack as this kernel's JIT lays it out and its verifier
// logs it (`stack depth`): the frame plus the hidden slots added after the
// checks (an inlined bpf_loop's 24 bytes, the may_goto counter). The
// 512-byte checks see `f.frame.bytes` alone.
uint32_t kernelStackDepth(const Function &f, const KernelRules &k);

// The built-in table of kernel `name` ("6.1", "6.6", "6.12", "6.13").
// Throws std::invalid_argument naming the valid ones for any other name.
KernelRules kernelRules(const std::string &name);
const std::vector<std::string> &kernelRuleNames();

// What the object cannot say: which programs a kfunc call may run on the
// same CPU, which programs may interrupt themselves, prog-array contents
// filled by user space, and the limits.
struct Environment {
  std::map<std::string, std::vector<std::string>> nest; // program -> programs
  std::set<std::string> reenter;
  std::map<std::string, std::map<uint32_t, std::string>> progArrays; // map -> slots
  // MAX_TAIL_CALL_CNT; none: switched off, as in kernels before the
  // tail-call-count fixes (only the unbounded engine can then decide)
  std::optional<uint32_t> tailCallLimit = 33;
  uint32_t kernelStackBudget = 16384; // x86-64 THREAD_SIZE
  StackSwitchCosts stackSwitch;
};

// Reads an environment file (JSON). Throws InputError naming the key.
Environment loadEnvironment(const std::string &path);
// The same from the file's text; `path` names it in errors.
Environment parseEnvironment(const std::string &path, const std::string &text);

// Applies what the environment says to an object before its call graph is
// built: prog-array contents replace the targets of tail calls through those
// maps. Throws InputError (naming `envPath` and the key) for a program or
// map the object does not have.
void applyEnvironment(Object &obj, const Environment &env, const std::string &envPath);

enum class Verdict { Safe, Unsafe, Unknown };
const char *verdictName(Verdict v);

struct TraceStep {
  std::string event;    // enter|call|tail_call|callback|nest|reenter
  std::string program;
  std::string function;
  std::optional<uint32_t> insn; // the site in the previous frame that led here
  std::string section;          // ... in this ELF section (insn counts from its start)
  std::optional<SourceLoc> source;
  std::string region;   // "kernel_stack" or the per-CPU buffer's name
  int64_t lo = 0, hi = 0; // frame bytes [lo, hi) within the region
  bool clash = false;   // one of the two frames the violation is about
  uint32_t depth = 0;   // position of the frame in the activation stack (0: bottom)
};

struct Violation {
  std::string kind; // alias|overflow|out_of_frame|r9_clobber|kernel_limit
  std::string program;
  std::string message;
  std::vector<TraceStep> trace;
};

// Buffer, FramePlan, Layout: layout/layout.h (what the JIT reads).

// A proof obligation the Z3 engines discharged, as a standalone SMT-LIB2
// problem whose answer must be `unsat` (proofs/ re-checks it with two
// solvers). Bounded engine: the whole encoding plus "some stack of the
// allowed heights breaks `property`". Spacer: the inductive invariant
// substituted into one Horn rule (quantifier-free).
struct Obligation {
  std::string program;
  std::string property; // alias|overflow, or the Horn rule's name
  std::string engine;   // bounded|spacer|certificate (the explicit search's, checked by Z3;
                        // program empty: one obligation for the programs proved together)
  std::string smt2;     // declarations, assertions, (check-sat); empty when
                        // Spacer's invariant could not be exported
};

struct ProgramReport {
  std::string name;
  Verdict verdict = Verdict::Unknown;
  std::string reason;          // for unknown
  std::string engine;          // which engine decided: explicit, explicit+z3 (the search's
                               // proof checked by Z3), bounded, spacer
  std::string invariant;       // unbounded engine: the inductive invariant
  bool privateStack = false;   // kernel scheme: does it get one
  uint64_t bytesPerCpu = 0;    // its buffers, guards included
  uint64_t kernelStackBytes = 0; // worst kernel-stack use of its chains
};

struct Report {
  Verdict verdict = Verdict::Unknown;
  Scheme scheme = Scheme::Kernel;
  KernelRules kernel;
  std::vector<ProgramReport> programs;
  std::vector<Violation> violations;
  uint64_t bytesPerCpu = 0;
  uint64_t kernelStackWith = 0, kernelStackWithout = 0; // worst nested chain
  bool kernelStackWithoutUnbounded = false; // without private stacks: no bound
  bool kernelStackWithoutAtLeast = false;   // ... only a lower bound (out of time)
  uint64_t statesExplored = 0;
  // Auto: engines that disagree (a bug of ours): never hidden; the verdict
  // is then the one the concrete replay confirms.
  std::string engineDisagreement;
  // planned scheme: per program, the frame offsets of the layout it proved
  std::map<std::string, std::map<std::string, int64_t>> planOffsets;
  std::string planNote; // planned: why there is no static layout, if so
  std::optional<uint64_t> kernelBytesPerCpu; // planned: the kernel scheme's, beside it
  // The layout itself: buffers, one frame per (program, function), and the
  // programs proved under it — what the proof is about and what jitgen
  // emits.
  Layout layout;
  std::vector<Obligation> obligations; // with VerifyOptions::collectObligations
};

struct VerifyOptions {
  Scheme scheme = Scheme::Kernel;
  KernelRules kernel = kernelRules("6.13");
  Environment env;
  double timeoutSeconds = 10;
  // per-prog, stack-switch: the buffer size of every program (default:
  // what the tool computes as enough, when that is finite).
  std::optional<uint64_t> bufferSize;
  uint32_t maxCallDepth = 8; // bound of the bounded engine (frames per program)
  // per-prog variant: r9 points at the top of the frame instead of its
  // base, and a tail call keeps r9 — a larger tail-callee then grows down
  // into the frames below it.
  bool perProgR9AtTop = false;
  // Which engine decides. Auto: the explicit engine sizes buffers, finds
  // traces and proves what it can search to the end; the bounded Z3 engine
  // decides where it could not (or re-proves, with crossCheck), Spacer
  // takes over where the bounded one is not complete (recursion through
  // nesting, re-entry, no tail-call limit). The others run one engine alone (for cross-checks).
  enum class Engine { Auto, Explicit, Bounded, Unbounded } engine = Engine::Auto;
  // Auto: also have Z3 check what the explicit search proved — its
  // certificate, else the bounded engine's own proof (a second,
  // independent proof; engine disagreements are reported).
  bool crossCheck = false;
  // Keep every discharged obligation as SMT-LIB2 (Report::obligations).
  bool collectObligations = false;
  // Mutation for self-checks: move one frame (program/function) by `shift`
  // bytes inside its buffer, as a broken layout would.
  std::optional<std::pair<std::string, int64_t>> shiftFrame;
};

// The bounded engine: explores every activation stack the environment
// allows (calls to depth `maxCallDepth`, tail-call chains to the limit,
// nesting and re-entry), places each frame as the scheme says, and checks
// the properties. A state space it cannot finish in time is `unknown`.
Report verify(const Object &obj, const CallGraph &graph, const VerifyOptions &opts);

} // namespace pstack
