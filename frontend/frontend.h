// frontend: from a BPF ELF object to an Object (programs, functions,
// instructions, maps, calls, tail calls, callbacks, frame sizes, lines), and
// from an Object to its call graph.
//
// No LLVM, libbpf or Boost type crosses this header: callers see only the
// plain types below.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pstack {

// An input that cannot be read: names the file, where, and why. The CLI maps
// it to exit status 2.
class InputError : public std::runtime_error {
public:
  InputError(std::string file, std::string where, std::string reason);
  const std::string &file() const { return file_; }
  const std::string &where() const { return where_; }
  const std::string &reason() const { return reason_; }

private:
  std::string file_, where_, reason_;
};

struct SourceLoc {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string text; // the source line itself when BTF carries it
  std::string str() const; // "file:line:col"
};

// Where an instruction comes from, as the object's line info (.BTF.ext or
// DWARF) says. The strings are views into the object's own line table
// (libbpf's copy of the BTF strings, or DWARF paths made once per file),
// which every Insn::loc handle keeps alive:
// copies of an instruction or of its Object share it, and moving the Object
// moves none of it. No string is made per instruction; toSourceLoc() makes
// an owning copy (for reports that outlive the object).
struct SourceLine {
  std::string_view file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string_view text; // the source line itself when BTF carries it
  std::string str() const; // "file:line:col", as SourceLoc::str()
  SourceLoc toSourceLoc() const;
};

// One BPF instruction. ld_imm64 is a single 16-byte instruction (`wide`);
// `index` counts 8-byte slots from the start of the function, as the kernel
// verifier and libbpf count instructions.
struct Insn {
  uint32_t index = 0;
  uint8_t opcode = 0;
  uint8_t dst = 0;
  uint8_t src = 0;
  int16_t off = 0;
  int64_t imm = 0; // for ld_imm64: both halves combined
  bool wide = false;
  // Kernel BPF assembly, as LLVM MC prints it, decoded from the fields
  // above on each call (no text is kept per instruction: reports and
  // listings ask for a few); an encoding LLVM cannot print gives its fields
  // ("op 0x.. r1, r2, off 0, imm 0").
  std::string text() const;
  // where it comes from (null: the object has no line info for it); the
  // records of one object share one table (a long line's text is not
  // copied into each instruction)
  std::shared_ptr<const SourceLine> loc;

  uint8_t cls() const { return opcode & 7; }
  bool isCall() const { return opcode == 0x85; }
  bool isExit() const { return opcode == 0x95; }
};

enum class ProgType {
  Unknown, SocketFilter, Kprobe, Tracepoint, RawTracepoint, Tracing, Lsm,
  StructOps, PerfEvent, Xdp, SchedCls, SchedAct, CgroupSkb, CgroupSock,
  CgroupSockAddr, CgroupSockopt, CgroupSysctl, CgroupDevice, SockOps, SkSkb,
  SkMsg, SkLookup, SkReuseport, LwtIn, LwtOut, LwtXmit, LwtSeg6local,
  FlowDissector, LircMode2, Syscall, Netfilter, Ext,
  Iter,                 // BPF_PROG_TYPE_TRACING attached as an iterator
  RawTracepointWritable // BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE
};
const char *progTypeName(ProgType t);
// A BPF helper's name by its id (bpf_map_lookup_elem, ...); nullptr for an
// id the frontend does not know.
const char *bpfHelperName(int32_t id);

// Program type from a SEC() name, as libbpf maps it (prefix match).
ProgType progTypeFromSection(const std::string &section);

enum class CallKind { Helper, Local, Kfunc };

// What a kfunc returns, from its prototype in the object's BTF (the kernel
// checks that prototype against its own): a pointer to a struct or union
// is a PTR_TO_BTF_ID to the verifier, never a stack pointer, whatever the
// kfunc was given; a `void *`/scalar pointer may be memory it was given
// (bpf_dynptr_slice's buffer, bpf_iter_num_next's counter).
enum class KfuncReturn : uint8_t { Unknown, Scalar, BtfObject, Memory };

struct CallSite {
  uint32_t insn = 0;
  CallKind kind = CallKind::Helper;
  int32_t helper = 0;      // helper id for Helper
  std::string target;      // callee function (Local) or kfunc name (Kfunc)
  KfuncReturn returns = KfuncReturn::Unknown; // Kfunc
  // Local: the arguments the callee may read (bit a: r<a>); a register it
  // never reads before writing it passes nothing, whatever it holds
  uint8_t calleeArgs = 0x3e;
  bool calleeAlone = false; // Local: the kernel verifies the callee alone
};

struct TailCallSite {
  uint32_t insn = 0;
  std::optional<std::string> map;   // prog array, when r2 is known
  std::optional<int64_t> slot;      // r3, when constant
  std::vector<std::string> targets; // program names
  bool resolved = false; // false: targets is "every compatible program"
};

struct CallbackSite {
  uint32_t insn = 0;      // the helper/kfunc call that takes the callback
  std::string via;        // helper or kfunc name (bpf_loop, ...)
  std::string callback;   // function name
  bool async = false;     // may run later, nested on the same CPU
};

// An access below r10 that the analysis could not bound; kept, never dropped.
struct UnboundedAccess {
  uint32_t insn = 0;
  std::string reason;
};

struct FrameSize {
  uint32_t bytes = 0;   // deepest byte below r10 touched, rounded up to 8
  bool bounded = true;  // false: see `unbounded`; `bytes` is then the
                        // kernel's per-frame cap (512)
  std::vector<UnboundedAccess> unbounded;
  // Deepest direct access (instruction and offset) that fixed `bytes`.
  std::optional<uint32_t> deepestInsn;
};

// One access to the stack frame, relative to r10: bytes [lo, lo + size).
struct StackAccess {
  uint32_t insn = 0;
  int32_t lo = 0;
  uint32_t size = 0;
  bool viaPointer = false; // through a register derived from r10, or a
                           // helper/callee given such a pointer
};

// A pointer into this function's frame (r10 + offset) passed to a callee as
// argument register `arg` (1..5): the callee may touch bytes below it.
struct PointerArg {
  uint32_t insn = 0;
  std::string callee;
  uint8_t arg = 0;
  int32_t offset = 0;
  bool fromArg = false; // the pointer is this function's own argument
  uint8_t ownArg = 0;   // ... number `ownArg`, plus `offset`
  // the highest slot below the pointer that holds a stack pointer (a
  // callee reaching it would read that pointer as a number): none, INT32_MIN
  int32_t ptrSlot = INT32_MIN;
};

// What an ld_imm64 loads, from its relocation (or src_reg 4): a map's
// address, a function's (a callback), or other data (globals, externs).
struct LoadImmRef {
  enum class Kind { Map, Func, Data } kind = Kind::Data;
  std::string name; // map, function, or symbol/section name
};

struct Function {
  std::string name;
  std::string section;
  uint32_t sectionIndex = 0;
  uint64_t offset = 0; // byte offset in its section
  bool isProgram = false;
  // a global symbol other objects may link to (default visibility: libbpf
  // marks hidden ones static in BTF, and the kernel verifies those as it
  // does static functions)
  bool global = false;
  // the kernel verifies it alone (BTF FUNC linkage global, func info in
  // .BTF.ext): its arguments are typed from BTF, never stack pointers
  bool verifiedAlone = false;
  std::vector<Insn> insns;
  FrameSize frame;
  std::vector<CallSite> calls;
  std::vector<TailCallSite> tailCalls;
  std::vector<CallbackSite> callbacks;
  std::vector<StackAccess> stackAccesses;
  std::vector<PointerArg> pointerArgs;
  // Callbacks handed over as arguments: a helper here takes argument `arg`
  // as its callback, or a function address goes to a callee as its argument
  // `arg` (`func`, or with `func` empty this function's own argument
  // `ownArg` passed on). Settled into `callbacks` once every function is
  // read, from what the callers pass.
  struct CallbackFromArg {
    uint32_t insn = 0;
    std::string via;
    uint8_t arg = 0;
    bool async = false;
    std::optional<PointerArg> context; // a pointer into the stack for the
                                       // callback (its callee set when settled)
  };
  struct FunctionArg {
    uint32_t insn = 0;
    std::string callee;
    uint8_t arg = 0;
    std::string func;
    uint8_t ownArg = 0;
  };
  std::vector<CallbackFromArg> callbackArgs;
  std::vector<FunctionArg> functionArgs;
  // Deepest byte below each argument pointer (r1..r5 on entry) that this
  // function, or a callee it passes the pointer to, may touch.
  int32_t argDeepest[6] = {0, 0, 0, 0, 0, 0};
  std::map<uint32_t, LoadImmRef> loadImms; // by instruction index

  const Insn *insnAt(uint32_t index) const;
  // Instruction index within the ELF section, as llvm-objdump numbers it;
  // reports use it so that users can find the instruction in a listing.
  uint32_t sectionInsn(uint32_t index) const { return uint32_t(offset / 8) + index; }
  // A helper or kfunc it calls runs one of its callbacks before returning,
  // from C (every synchronous callback but bpf_loop's, which JITs inline).
  bool callsBackFromHelper() const {
    for (auto &cb : callbacks)
      if (!cb.async && cb.via != "bpf_loop")
        return true;
    return false;
  }
};

struct Program {
  std::string name;       // entry function name
  std::string section;    // SEC() name
  ProgType type = ProgType::Unknown;
  size_t entry = 0;       // index into Object::functions
  std::vector<size_t> functions; // entry first, then every reachable subprog
                                 // (BPF-to-BPF calls and callbacks)
};

struct Map {
  std::string name;
  uint32_t type = 0; // BPF_MAP_TYPE_*
  uint32_t keySize = 0, valueSize = 0, maxEntries = 0;
  bool btfDefined = false;
  std::string section;
  std::map<uint32_t, std::string> progSlots; // prog array: slot -> program
  bool isProgArray() const { return type == 3; }
};
const char *mapTypeName(uint32_t type);

struct Object {
  std::string path;
  std::vector<Function> functions;
  std::vector<Program> programs;
  std::vector<Map> maps;
  bool hasBtf = false;
  bool hasLineInfo = false;
  std::string lineInfoSource; // "BTF.ext", "DWARF" or ""

  const Function *function(const std::string &name) const;
  const Program *program(const std::string &name) const;
  const Map *map(const std::string &name) const;
};

// Reads a BPF ELF object. Throws InputError for anything it cannot read.
Object loadObject(const std::string &path);
Object loadObjectFromMemory(const std::string &name, const std::vector<uint8_t> &bytes);

// ---------------------------------------------------------------- call graph

enum class EdgeKind { Call, TailCall, Callback, Nest, Reenter };
const char *edgeKindName(EdgeKind k);

// A vertex is a (program, function) pair: libbpf links a private copy of each
// subprog into every program that reaches it.
struct GraphNode {
  size_t program = 0;
  size_t function = 0;
};

struct GraphEdge {
  size_t from = 0, to = 0; // node indices
  EdgeKind kind = EdgeKind::Call;
  uint32_t insn = 0;       // call site in `from`'s function
  bool resolved = true;    // tail calls: from a known prog-array slot
  bool async = false;      // callbacks
};

// A frame as the kernel verifier counts it on a call chain: rounded up to
// `round` bytes (32 on 6.1, whose interpreter counts even an empty frame;
// 16 on 6.12+ when JITed).
uint32_t kernelFrameCost(uint32_t bytes, uint32_t round);

// Refers to the Object it was built from, which must outlive it and stay put.
class CallGraph {
public:
  explicit CallGraph(const Object &obj);

  const std::vector<GraphNode> &nodes() const { return nodes_; }
  const std::vector<GraphEdge> &edges() const { return edges_; }
  std::optional<size_t> node(size_t program, size_t function) const;
  std::string nodeName(size_t node) const; // "prog/func"

  // Strongly connected components with a cycle (recursion), as node lists.
  std::vector<std::vector<size_t>> cycles() const;

  // Deepest chain of frames a program's entry can build through calls and
  // synchronous callbacks, as the kernel verifier counts it (each frame
  // rounded to `round` bytes). Tail calls replace frames and are not part of
  // one chain. `frames` is the number of frames on that chain.
  struct Chain {
    uint32_t bytes = 0;
    uint32_t frames = 0;
    std::vector<size_t> path; // nodes, entry first
    bool recursive = false;
  };
  Chain deepestChain(size_t program, uint32_t round) const;

  // Graphviz DOT. `fill` colours nodes (by node index, a DOT colour name);
  // `highlight` draws the given edges (from, to) bold and red — a
  // counterexample's path.
  std::string dot(const std::map<size_t, std::string> &fill = {},
                  const std::set<std::pair<size_t, size_t>> &highlight = {}) const;

private:
  const Object &obj_;
  std::vector<GraphNode> nodes_;
  std::vector<GraphEdge> edges_;
  // (program, function) -> node, hashed (looked up for every edge)
  static uint64_t key(size_t program, size_t function) {
    return uint64_t(program) << 32 | uint64_t(uint32_t(function));
  }
  std::unordered_map<uint64_t, size_t> index_;
  std::vector<std::vector<size_t>> chainOut_; // calls and sync callbacks, by caller
};

} // namespace pstack
