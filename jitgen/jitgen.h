// jitgen: the private-stack x86-64 JIT driven by a verified layout (a
// Layout, layout/layout.h: what the model proved, without the model), the decoding of what it emitted with LLVM MC, a
// validation pass over the decoded bytes, and a user-space harness that runs
// the code beside a reference BPF interpreter.
//
// No LLVM type crosses this header.
#pragma once

#include "frontend/frontend.h"
#include "layout/layout.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace pstack {

// Why code cannot be emitted (a layout that was not proved safe, an
// instruction or construct the JIT does not handle): names the program,
// function and instruction.
class JitError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct JitOptions {
  // Emit even when the layout was not proved safe: only for replaying a
  // counterexample (--replay), never for use.
  bool allowUnproved = false;
  // The programs to emit (with their functions); empty: every program.
  std::set<std::string> programs;
};

// A place in emitted code that the linker fills in: absolute addresses are
// not known until the code is mapped (or loaded by a kernel).
struct JitFixup {
  enum class Kind {
    Call,       // rel32 to the start of `name` (program/function) in the image
    Helper,     // rel32 to the helper's trampoline; `id`
    Kfunc,      // rel32 to the kfunc's trampoline; `name`
    KernelFunc, // rel32 to a kernel function the JIT itself calls; `name`
                // (LD_ABS/LD_IND: bpf_skb_load_helper_{8,16,32}_no_cache)
    MapAddr,    // imm64: the address of map `name`
    FuncAddr,   // imm64: the entry of function `name` (program/function)
    DataAddr,   // imm64: the address of data `name` (globals, externs)
    PerCpuOff,  // imm64: per-CPU offset of buffer `name` plus `addend`
  } kind = Kind::Call;
  uint32_t offset = 0; // of the field in the function's code
  std::string name;
  int32_t id = 0;
  int64_t addend = 0;
  // Call, FuncAddr: the target, as two names (either may hold '/', so
  // `name`, "program/function", is for people only)
  std::string program, function;
};

// One emitted function: one (program, function) node, as libbpf links a
// private copy of each subprog into each program.
struct JitFunction {
  std::string program, function;
  FramePlan plan;
  std::vector<uint8_t> code;
  std::vector<JitFixup> fixups;
  // x86 offset where each BPF instruction's code starts (by BPF index)
  std::map<uint32_t, uint32_t> insnOffsets;
  uint32_t tailLanding = 0; // where a tail call into this function lands
  bool usesR9 = false;
  bool tailCallReachable = false; // keeps the tail-call count in its frame
  uint32_t normalStack = 0;       // bytes below rbp for BPF (kernel stack)
  int32_t mayGotoSlot = 0;        // rbp displacement of may_goto's counter (0: none)
  std::vector<uint8_t> savedRegs; // x86 callee-saved registers it pushes
  // stack-switch: an x86 frame on the program's buffer; in an entry, the
  // offset right after its `call body` (the switch's own return address,
  // which an unwinder passes over)
  bool stackSwitch = false;
  uint32_t switchReturn = 0;
  // stack-switch: its switch goes to the top in <callback top> (a callback
  // a helper calls), not to its buffer's top
  bool switchToCallbackTop = false;
};

struct JitBuffer {
  std::string name;
  uint64_t bytes = 0;  // usable bytes
  uint64_t guard = 0;  // guard bytes at each end
  uint64_t offset = 0; // of its first guard byte in the per-CPU area
};

struct JitImage {
  Scheme scheme = Scheme::Kernel;
  std::vector<JitFunction> functions;
  std::vector<JitBuffer> buffers;
  uint64_t perCpuBytes = 0;
  StackSwitchCosts stackSwitch; // the layout's (stack-switch)
  const JitFunction *find(const std::string &program, const std::string &function) const;
};

// Emits every program of `obj` from `layout` (Report::layout). Throws
// JitError when a program was not proved safe under it (unless
// allowUnproved), or when an instruction cannot be emitted.
JitImage jitCompile(const Object &obj, const Layout &layout, const JitOptions &opts = {});

// The emitted bytes, decoded back by the LLVM MC X86 disassembler.
struct X86Operand {
  enum class Kind { Reg, Imm, Mem } kind = Kind::Reg;
  std::string reg;            // Reg (lower-case name, "r9", "eax")
  int64_t imm = 0;            // Imm
  std::string base, index, segment; // Mem
  int64_t disp = 0;
  uint32_t scale = 1;
};
struct X86Insn {
  uint32_t offset = 0;
  uint32_t size = 0;
  std::string opcode; // LLVM's opcode name ("MOV64mr")
  std::string text;   // AT&T syntax, as objdump prints it
  std::vector<X86Operand> operands;
  std::vector<std::string> defs; // registers written (explicit and implicit)
  bool isCall = false, isBranch = false, isReturn = false;
  uint32_t memBytes = 0; // width of the memory access, 0 if none
};
// Throws JitError at the first byte that does not decode.
std::vector<X86Insn> decodeX86(const std::vector<uint8_t> &code);

// The validation pass: over the decoded code of every function, checks what
// the layout requires. Returns one line per finding ("" none: valid).
struct JitFinding {
  std::string program, function;
  uint32_t offset = 0; // x86 offset in the function
  std::string insn;    // decoded text
  std::string message;
};
std::vector<JitFinding> validateJit(const Object &obj, const JitImage &img);

// A listing: x86 beside the BPF instruction and source line it came from.
std::string jitListing(const Object &obj, const JitImage &img, const JitFunction &fn);

// --emit-jit DIR: DIR/<program>.<function>.bin and .s, and layout.json.
// Throws InputError when DIR cannot be written.
void writeJit(const Object &obj, const JitImage &img, const std::string &dir);

// ------------------------------------------------------------- running it

struct RunRequest {
  std::string program;
  std::vector<uint8_t> ctx = std::vector<uint8_t>(256, 0);
  // Nesting through kfunc calls, as the environment says (program ->
  // programs): each kfunc call runs these programs, to `nestDepth` levels.
  std::map<std::string, std::vector<std::string>> nest;
  uint32_t nestDepth = 2;
  uint64_t maxInsns = 1u << 24; // interpreter budget
  // initial map contents (name -> bytes); others start zeroed
  std::map<std::string, std::vector<uint8_t>> maps;
  // runs of the program, back to back in the same image and maps (for
  // benchmarks); the result is the last run's
  uint32_t repeat = 1;
};

struct RunResult {
  bool ok = false;
  std::string error;   // why the run could not finish
  uint64_t r0 = 0;
  // (interpreter) false when r0 at the exit held no value: BPF leaves r0
  // undefined after a tail call that fails, and a JIT returns whatever the
  // register holds
  bool r0Defined = true;
  std::map<std::string, std::vector<uint8_t>> maps; // final contents
  std::vector<std::string> guardsBroken; // buffers whose guard words changed
  uint64_t insns = 0;  // BPF instructions executed (interpreter)
  uint32_t tailCalls = 0; // tail calls taken
  double seconds = 0;     // running the program, all repeats (no set-up)
  // one per helper or kfunc call, in order: the BPF frames from the
  // innermost frame entered from C to the caller, outermost first
  // ("program/function"). The interpreter's is its call chain; the JIT
  // harness's is what a frame-pointer unwinder (as the kernel's) found
  // walking rbp, with "<refused: ...>" last where it gave up.
  std::vector<std::vector<std::string>> backtraces;
  // one per helper and kfunc call too: a bpf_throw-style walk (as the
  // kernel's bpf_throw does with arch_bpf_stack_walk) from the caller's
  // frame to the frame of the activation's boundary (the program's main
  // frame, or a callback entered from C), outermost first. The
  // interpreter's is its call chain; the JIT harness's is what the
  // frame-pointer walk found, with "<link frame ...>" last where, under
  // stack-switch, the boundary's link frame is not where its switch put it
  // (the top of its buffer), so that the exception's unwinding would not
  // return through the switch back.
  std::vector<std::vector<std::string>> exceptionWalks;
};

// How many of the JIT's backtraces equal the interpreter's, call by call
// (the calls themselves must match in number).
struct BacktraceMatch {
  uint32_t total = 0, matched = 0; // backtraces and exception walks together
  uint32_t walks = 0, walksMatched = 0; // of those, the exception walks
  std::string firstMismatch; // "call N: interpreter a > b, unwinder a" ("" none)
};
BacktraceMatch compareBacktraces(const RunResult &interpreter, const RunResult &jit);

// The reference interpreter: every frame its own 512 bytes, as BPF means it.
RunResult interpret(const Object &obj, const RunRequest &req);

// Maps `img` executable, points GS at a fake per-CPU area, links helpers to
// stubs that share the interpreter's semantics, and runs.
RunResult runJit(const Object &obj, const JitImage &img, const RunRequest &req);

} // namespace pstack
