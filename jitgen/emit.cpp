// The code generator: one x86-64 function per (program, function) node,
// from the layout the model proved (Layout).
//
// Register mapping, as the kernel's x86-64 JIT maps them:
//   r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx, r5 r8, r6 rbx, r7 r13, r8 r14,
//   r9 r15; r10 is rbp on the normal stack and r9 on a private one.
// r10/r11 are scratch (the kernel's AUX and AX), r12 a saved scratch.
//
// Frames: r9 always holds the *top* of the current frame, so r10 - k is
// r9 - k whatever the scheme; the schemes differ in who sets r9:
//   own buffer:        the function's prologue (movabs + gs add), callers
//                      keep theirs with push r9 / pop r9;
//   program buffer:    the caller moves r9 up by the callee's frame
//                      (add r9, F / sub r9, F), no memory traffic; a tail
//                      call moves it back to the frame's base first;
//   planned offset:    the caller moves r9 by the planned distance.
//
// Prologue (offsets as the kernel's, so that a tail call lands at 12):
//   nop5; xor rax,rax (entry of a tail-call context) | nop3; push rbp;
//   mov rbp,rsp; [12: landing] sub rsp,S; push rax (tail count);
//   push callee-saved; r9 set-up.
//
// stack-switch (docs/stack-switch.md): no r9; r10 is rbp and every BPF
// frame is an ordinary x86 frame on the program's per-CPU buffer. A
// program's entry switches rsp to the top of its buffer, leaves the link
// frame there and calls its own body, so that the body's frame record
// links to it:
//   nop5; xor rax,rax | nop3;
//   push r12; mov r12,rsp            (r12: the task rsp, kept by all BPF code)
//   movabs r11,<buffer top>; add r11,gs:[this_cpu_off]; mov rsp,r11
//   push [r12+8]; push rbp; mov rbp,rsp   (the link frame: kernel return
//                                          address, caller's rbp)
//   call body; pop rbp; mov rsp,r12; pop r12; ret   (the switch back)
//   body: push rbp; mov rbp,rsp; [landing] sub rsp,S; push rax;
//         push rbx,r13,r14,r15
// Every frame is then exactly what the model counts: return address,
// saved rbp, S = round_up(F, 8), the tail count and four callee-saved
// registers (frame_overhead 56), below the 16 bytes of the link frame
// (link_bytes). A tail call unwinds to the body's rbp and jumps to the
// target's landing: the link frame and the switch back stay. Calls out
// (helpers, kfuncs) run on the buffer, or (helpers: task_stack) with
// rsp = r12 and rsp put back to the frame's bottom after.
// Callbacks entered from C switch as an entry does: an async one (a timer)
// is a new activation at its buffer's top, as the model starts it; one a
// helper calls synchronously (bpf_for_each_map_elem, ...) at the top its
// caller left in the per-CPU word <callback top> — the caller's frame
// bottom, less the helper's reserve and the callback entry's r12 when
// helpers run on the buffer (StackSwitchCosts::callbackGap) — which the
// caller keeps in its frame and puts back around the call, so that
// callbacks of interrupts and nested programs leave it as they found it:
//   movabs r11,<callback top>; add r11,gs:[this_cpu_off]
//   mov r10,[r11]; mov [rbp-X],r10; lea r10,[rbp-D]; mov [r11],r10
//   call helper
//   movabs r11,<callback top>; add r11,gs:[this_cpu_off]
//   mov r10,[rbp-X]; mov [r11],r10
// and the callback's entry reads it (mov r11,[r11]) where a program's has
// its buffer's top. Nothing else is
// pushed below a frame (division, shifts and atomics use r10/r11), so an
// interrupt finds irq_headroom bytes below it at every instruction.
#include "jitgen/jitgen.h"
#include "jitgen/mutants.h"
#include "jitgen/x86.h"
#include "frontend/isa.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace pstack {

const JitFunction *JitImage::find(const std::string &program, const std::string &function) const {
  for (auto &f : functions)
    if (f.program == program && f.function == function)
      return &f;
  return nullptr;
}

namespace {
using namespace jit;

constexpr uint8_t kMap[11] = {RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP};
constexpr uint32_t kHarnessGuard = 16; // the harness's guard words around each buffer
// stack-switch: what the JIT puts on a buffer, as the model must count it
// (StackSwitchCosts: link_bytes, frame_overhead)
constexpr uint32_t kLinkBytes = 16;     // kernel return address, caller's rbp
constexpr uint32_t kFrameOverhead = 56; // return address, rbp, tail count, 4 saved

struct NodeCtx {
  const Function *fn = nullptr;
  FramePlan plan;
  bool entry = false;       // the program's main function
  bool selfSetup = false;   // its prologue sets r9
  bool cEntered = false;    // called from C (a helper's callback): starts a tail count
  bool syncFromC = false;   // stack-switch: a callback a helper calls synchronously
  bool tailReachable = false;
  bool tailTarget = false; // a program entry some tail call lands in
  bool stackSwitch = false;
  bool startsCount() const {
    if (stackSwitch)
      return tailReachable && (entry || cEntered);
    return (tailReachable && (entry || cEntered)) ||
           (tailTarget && plan.place == FramePlan::Place::ProgramBuffer);
  }
};

class Emitter {
public:
  Emitter(const Object &obj, const Layout &layout, const JitOptions &opts, JitMutant mutant,
          JitImage &img)
      : obj_(obj), layout_(layout), opts_(opts), mutant_(mutant), img_(img) {}

  void run();

private:
  const Object &obj_;
  const Layout &layout_;
  const JitOptions &opts_;
  const JitMutant mutant_; // None but in tests and proofs/ (jitgen/mutants.h)
  JitImage &img_;
  std::map<std::pair<std::string, std::string>, NodeCtx> nodes_;
  std::map<std::string, const JitBuffer *> buffers_;

  // per function being emitted
  X86 a_;
  JitFunction *out_ = nullptr;
  const NodeCtx *cur_ = nullptr;
  std::vector<std::pair<uint32_t, uint32_t>> jumps_; // rel32 field, BPF target index
  std::vector<uint32_t> toExit_;                     // rel32 fields to the epilogue
  std::optional<uint32_t> epilogue_;

  [[noreturn]] void fail(const Insn *in, const std::string &why) const {
    std::ostringstream s;
    s << "jit: " << cur_->plan.program << "/" << cur_->plan.function;
    if (in)
      s << " insn " << cur_->fn->sectionInsn(in->index) << " (" << in->text() << ")";
    s << ": " << why;
    throw JitError(s.str());
  }
  uint8_t reg(uint8_t bpf) const {
    if (bpf == 10)
      return r9() ? R9 : RBP;
    return kMap[bpf];
  }
  bool ss() const { return layout_.scheme == Scheme::StackSwitch; }
  bool r9() const { return !ss() && cur_->plan.place != FramePlan::Place::KernelStack; }
  // stack-switch: bytes from rbp down to the frame's bottom (S, the tail
  // count, rbx r13 r14 r15), where rsp is between BPF instructions
  int32_t frameBottom() const { return int32_t(normalStack()) + 8 + 32; }
  // stack-switch: an inlined bpf_loop's three saved registers, in the
  // frame below BPF's bytes (layout.h: stackSwitchBody, which the model counts)
  bool loopSpill() const {
    if (!ss())
      return false;
    for (auto &cb : cur_->fn->callbacks)
      if (cb.via == "bpf_loop")
        return true;
    return false;
  }
  int32_t bpfBytes() const { return int32_t((cur_->fn->frame.bytes + 7) & ~7u); }
  // may_goto's counter: 8 bytes at the bottom of the normal stack, as the
  // kernel places it below the frame (do_misc_fixups)
  bool hasMayGoto() const {
    for (auto &in : cur_->fn->insns)
      if (isa::form(in) == isa::Form::MayGoto)
        return true;
    return false;
  }
  uint32_t normalStack() const {
    if (r9()) // the r9 schemes keep only may_goto's counter under rbp
      return hasMayGoto() ? kStackSwitchMayGotoSlot : 0;
    return stackSwitchBody(cur_->fn->frame.bytes, loopSpill(), hasMayGoto(), ss() && cur_->fn->callsBackFromHelper());
  }
  int32_t tccDisp() const { return -int32_t(normalStack()) - 8; }
  int32_t frameDisp(uint8_t base, int16_t off) const {
    // r10-relative accesses become r9-relative; the frame-off-by-8 mutant
    // moves every one of them
    if (base == 10 && r9() && mutant_ == JitMutant::FrameOffBy8)
      return off - 8;
    return off;
  }
  void fixup(JitFixup::Kind k, uint32_t at, std::string name, int32_t id = 0, int64_t addend = 0) {
    out_->fixups.push_back({k, at, std::move(name), id, addend, {}, {}});
  }
  const NodeCtx &node(const std::string &program, const std::string &function) const {
    auto it = nodes_.find({program, function});
    if (it == nodes_.end())
      throw JitError("jit: no layout for " + program + "/" + function);
    return it->second;
  }

  bool wanted(const std::string &program) const {
    return opts_.programs.empty() || opts_.programs.count(program) > 0;
  }
  void prepare();
  void emitFunction(const NodeCtx &n);
  void prologue();
  void switchPrologue();
  // stack-switch: the per-CPU callback top, as r11's address (movabs, add gs)
  void callbackTopAddress();
  // stack-switch: the synchronous callback a helper called at `in` takes (or null)
  const CallbackSite *helperCallbackAt(const Insn &in) const;
  int32_t callbackSlotDisp() const { return -bpfBytes() - (loopSpill() ? int32_t(kStackSwitchLoopSpill) : 0) - 8; }
  void r9Setup();
  void epilogue();
  void insn(const Insn &in, const Insn *next);
  void alu(const Insn &in);
  bool divisorImmediate(const Insn &in, bool is64, bool mod, bool sign);
  void divide(const Insn &in, bool is64, bool mod, bool sign);
  void divmodNoPush(const Insn &in, bool is64, bool mod, bool sign);
  void divisorCases(bool w, bool mod, uint8_t into, std::optional<uint32_t> zero,
                    std::optional<uint32_t> minusOne);
  void mayGoto(const Insn &in);
  void legacyLoad(const Insn &in);
  void shift(const Insn &in, bool is64, uint8_t digit);
  void jump(const Insn &in);
  void memory(const Insn &in, isa::Form form);
  void atomic(const Insn &in);
  void call(const Insn &in);
  void callLocal(const Insn &in, const NodeCtx &callee);
  void callOut(const Insn &in, JitFixup::Kind k, const std::string &name, int32_t id);
  void tailCall(const Insn &in);
  void inlineLoop(const Insn &in, const std::string &callback);
  std::vector<uint8_t> savedRegs() const;
};

void Emitter::prepare() {
  // the per-CPU area: every buffer with the kernel's guard and the
  // harness's guard words on both sides
  uint64_t off = 0;
  for (auto &b : layout_.buffers) {
    JitBuffer jb;
    jb.name = b.name;
    jb.bytes = b.bytes;
    jb.guard = b.guard;
    off += kHarnessGuard + b.guard;
    jb.offset = off;
    off += b.bytes + b.guard + kHarnessGuard;
    off = (off + 15) & ~uint64_t(15);
    img_.buffers.push_back(jb);
  }
  img_.perCpuBytes = off;
  for (auto &b : img_.buffers)
    buffers_[b.name] = &b;

  for (auto &fp : layout_.frames) {
    const Program *prog = obj_.program(fp.program);
    const Function *fn = obj_.function(fp.function);
    if (!prog || !fn)
      throw JitError("jit: the layout names " + fp.program + "/" + fp.function +
                     ", which the object does not have");
    NodeCtx n;
    n.fn = fn;
    n.plan = fp;
    n.entry = obj_.functions[prog->entry].name == fp.function;
    nodes_[{fp.program, fp.function}] = n;
  }
  // which programs keep a tail count: any tail call among their functions
  std::set<std::string> tailProgs;
  for (auto &[k, n] : nodes_)
    if (!n.fn->tailCalls.empty())
      tailProgs.insert(k.first);
  for (auto &[k, n] : nodes_)
    n.tailReachable = tailProgs.count(k.first) > 0;
  // a tail call lands in programs without tail calls of their own too:
  // they keep no count (as the kernel's), but an r9-relative entry must
  // tell a landing (rax, the count, non-zero) from a fresh start
  for (auto &[k, n] : nodes_)
    for (auto &t : n.fn->tailCalls)
      for (auto &target : t.targets)
        for (auto &[k2, n2] : nodes_)
          if (k2.first == target && n2.entry)
            n2.tailTarget = true;
  // callbacks entered from C (every callback helper but the inlined bpf_loop)
  for (auto &[k, n] : nodes_)
    for (auto &cb : n.fn->callbacks)
      if (cb.via != "bpf_loop") {
        auto it = nodes_.find({k.first, cb.callback});
        if (it != nodes_.end()) {
          it->second.cEntered = true;
          it->second.syncFromC |= !cb.async;
        }
      }
  for (auto &[k, n] : nodes_) {
    auto place = n.plan.place;
    n.selfSetup = place == FramePlan::Place::OwnBuffer ||
                  (place != FramePlan::Place::KernelStack && (n.entry || n.plan.asyncEntry || n.cEntered));
    if (!ss() && place == FramePlan::Place::ProgramBuffer && n.cEntered && !n.plan.asyncEntry)
      throw JitError("jit: " + k.first + "/" + k.second +
                     " is a synchronous callback entered from a helper: an r9-relative frame "
                     "cannot be placed there (not supported)");
  }
  if (layout_.perProgR9AtTop)
    throw JitError("jit: the r9-at-top variant of per-prog is a model experiment, not emitted");
  if (ss()) {
    const StackSwitchCosts &c = layout_.stackSwitch;
    if (c.linkBytes != kLinkBytes || c.frameOverhead != kFrameOverhead)
      throw JitError("jit: the stack-switch layout was proved with link_bytes " +
                     std::to_string(c.linkBytes) + " and frame_overhead " +
                     std::to_string(c.frameOverhead) + "; the JIT's link frame is " +
                     std::to_string(kLinkBytes) + " bytes and each frame " +
                     std::to_string(kFrameOverhead) + " bytes over BPF's: refusing to emit");
    for (auto &[k, n] : nodes_) {
      n.stackSwitch = true;
      bool loop = false, mayGoto = false;
      for (auto &cb : n.fn->callbacks)
        loop |= cb.via == "bpf_loop";
      for (auto &in : n.fn->insns)
        mayGoto |= isa::form(in) == isa::Form::MayGoto;
      uint32_t want =
          stackSwitchBody(n.fn->frame.bytes, loop, mayGoto, n.fn->callsBackFromHelper()) + kFrameOverhead;
      if (n.plan.place != FramePlan::Place::ProgramBuffer || n.plan.frame != want)
        throw JitError("jit: stack-switch: the layout gives " + k.first + "/" + k.second + " a " +
                       placeName(n.plan.place) + " frame of " + std::to_string(n.plan.frame) +
                       " bytes; the JIT emits an x86 frame of " + std::to_string(want) +
                       " on the program's buffer: refusing to emit");
      if (!buffers_.count(n.plan.region))
        throw JitError("jit: stack-switch: no buffer " + n.plan.region + " for " + k.first);
      // entered from C, its code starts with a switch: refused where BPF
      // also enters it (a call, an inlined bpf_loop), and where C enters
      // it both as a timer's (a new activation) and as a helper's callback
      if (!n.cEntered && !n.plan.asyncEntry)
        continue;
      if (n.plan.asyncEntry && n.syncFromC)
        throw JitError("jit: stack-switch: " + k.first + "/" + k.second +
                       " is both an async callback and one a helper calls: one entry cannot "
                       "switch to both places (not supported)");
      for (auto &[k2, n2] : nodes_) {
        if (k2.first != k.first)
          continue;
        for (auto &cs : n2.fn->calls)
          if (cs.kind == CallKind::Local && cs.target == k.second)
            throw JitError("jit: stack-switch: " + k.first + "/" + k.second +
                           " is a callback entered from C and also called from " + k2.second +
                           ": its entry's switch would run on the BPF call too (not supported)");
        for (auto &cb : n2.fn->callbacks)
          if (cb.via == "bpf_loop" && cb.callback == k.second)
            throw JitError("jit: stack-switch: " + k.first + "/" + k.second +
                           " is a callback entered from C and also an inlined bpf_loop's in " +
                           k2.second + " (not supported)");
      }
    }
    // the per-CPU word the callbacks helpers call find their top in
    bool callbackTop = false;
    for (auto &[k, n] : nodes_)
      callbackTop |= n.syncFromC;
    if (callbackTop) {
      JitBuffer jb;
      jb.name = kStackSwitchCallbackTop;
      jb.bytes = 8;
      jb.offset = img_.perCpuBytes + kHarnessGuard;
      img_.perCpuBytes = (jb.offset + 8 + kHarnessGuard + 15) & ~uint64_t(15);
      img_.buffers.push_back(jb);
      buffers_.clear();
      for (auto &b : img_.buffers)
        buffers_[b.name] = &b;
    }
  }
  for (auto &p : obj_.programs) {
    if (!wanted(p.name) || opts_.allowUnproved || layout_.proved.count(p.name))
      continue;
    auto v = layout_.unproved.find(p.name);
    throw JitError("jit: program " + p.name + " is " +
                     (v == layout_.unproved.end() ? std::string("not verified") : v->second) +
                     " under scheme " + schemeName(layout_.scheme) +
                     ": refusing to emit from a layout that was not proved safe");
  }
}

std::vector<uint8_t> Emitter::savedRegs() const {
  // the BPF callee-saved registers it writes (rbx r13 r14 r15), all of
  // them where a tail call may restore a frame, and what bpf_loop borrows
  std::set<uint8_t> used;
  bool all = !cur_->fn->tailCalls.empty();
  for (auto &in : cur_->fn->insns) {
    // what it writes (isa::writes: a fetch atomic writes src, cmpxchg r0)
    const uint16_t w = isa::writes(in);
    for (uint8_t r = 6; r <= 9; ++r)
      if (w & (1u << r))
        used.insert(kMap[r]);
  }
  for (auto &cb : cur_->fn->callbacks)
    if (cb.via == "bpf_loop")
      used.insert({RBX, R13, R14});
  std::vector<uint8_t> out;
  all |= ss(); // every frame exactly frame_overhead bytes over BPF's
  for (uint8_t r : {RBX, R13, R14, R15})
    if (all || used.count(r))
      out.push_back(r);
  return out;
}

void Emitter::r9Setup() {
  const FramePlan &p = cur_->plan;
  auto buf = buffers_.find(p.region);
  if (buf == buffers_.end())
    fail(nullptr, "the layout names buffer " + p.region + ", which has no size");
  switch (p.place) {
  case FramePlan::Place::KernelStack:
    return;
  case FramePlan::Place::OwnBuffer:
  case FramePlan::Place::ProgramBufferAt: {
    int64_t top = int64_t(buf->second->offset) + p.offset + p.frame;
    uint32_t at = a_.movabs(R9, uint64_t(top));
    fixup(JitFixup::Kind::PerCpuOff, at, p.region, 0, p.offset + p.frame);
    a_.addGs(R9, kThisCpuOff);
    return;
  }
  case FramePlan::Place::ProgramBuffer: {
    // a fresh activation starts at the buffer's base; a tail call (rax,
    // the count, non-zero) keeps the base the replaced frame had
    std::optional<uint32_t> skip;
    if (cur_->entry && (cur_->tailReachable || cur_->tailTarget)) {
      a_.testRR(false, RAX, RAX);
      skip = a_.jcc(CC_NE);
    }
    uint32_t at = a_.movabs(R9, buf->second->offset);
    fixup(JitFixup::Kind::PerCpuOff, at, p.region, 0, 0);
    a_.addGs(R9, kThisCpuOff);
    if (skip)
      a_.bind(*skip, a_.pos());
    a_.aluImm(true, ALU_ADD, R9, int32_t(p.frame));
    return;
  }
  }
}

// The entry's switch to the buffer and back (stack-switch); the body
// follows it, so that tail calls land after the switch.
void Emitter::switchPrologue() {
  const JitBuffer &buf = *buffers_.at(cur_->plan.region);
  a_.push(R12);
  a_.movRR(true, R12, RSP);
  if (cur_->syncFromC) {
    // a callback a helper calls: at the top its caller left (callOut)
    callbackTopAddress();
    a_.load(8, R11, R11, 0);
    if (mutant_ == JitMutant::LinkOffBy8)
      a_.aluImm(true, ALU_ADD, R11, 8);
  } else {
    int64_t top = int64_t(buf.bytes) - (mutant_ == JitMutant::LinkOffBy8 ? 8 : 0);
    uint32_t at = a_.movabs(R11, uint64_t(int64_t(buf.offset) + top));
    fixup(JitFixup::Kind::PerCpuOff, at, cur_->plan.region, 0, top);
    a_.addGs(R11, kThisCpuOff);
  }
  a_.movRR(true, RSP, R11);
  a_.rex(false, 0, 0, R12); // push qword [r12 + 8]: the kernel return address
  a_.byte(0xff);
  a_.modrmMem(6, R12, 8);
  a_.push(RBP);
  a_.movRR(true, RBP, RSP);
  uint32_t body = a_.call();
  out_->switchReturn = a_.pos();
  a_.pop(RBP);
  if (mutant_ != JitMutant::NoSwitchBack)
    a_.movRR(true, RSP, R12);
  a_.pop(R12);
  a_.ret();
  a_.bind(body, a_.pos());
}

void Emitter::callbackTopAddress() {
  const JitBuffer &slot = *buffers_.at(kStackSwitchCallbackTop);
  uint32_t at = a_.movabs(R11, slot.offset);
  fixup(JitFixup::Kind::PerCpuOff, at, kStackSwitchCallbackTop, 0, 0);
  a_.addGs(R11, kThisCpuOff);
}

const CallbackSite *Emitter::helperCallbackAt(const Insn &in) const {
  for (auto &cb : cur_->fn->callbacks)
    if (cb.insn == in.index && !cb.async && cb.via != "bpf_loop")
      return &cb;
  return nullptr;
}

void Emitter::prologue() {
  if (ss()) {
    a_.nop5();
    if (cur_->startsCount())
      a_.byte(0x48), a_.byte(0x31), a_.byte(0xc0);
    else
      a_.nop3();
    if (cur_->entry || cur_->cEntered || cur_->plan.asyncEntry)
      switchPrologue();
    a_.push(RBP);
    a_.movRR(true, RBP, RSP);
    out_->tailLanding = a_.pos();
    a_.rex(true, 0, 0, RSP);
    a_.byte(0x81);
    a_.modrmReg(5, RSP);
    a_.imm32(int32_t(normalStack()));
    if (out_->mayGotoSlot) // its budget, after the landing as below
      a_.storeImm(8, RBP, out_->mayGotoSlot, 8 << 20);
    a_.push(RAX); // the tail count's slot, in every frame
    for (uint8_t r : out_->savedRegs)
      a_.push(r);
    return;
  }
  a_.nop5();
  if (cur_->startsCount()) {
    a_.byte(0x48), a_.byte(0x31), a_.byte(0xc0); // xor rax, rax: the tail count
  } else {
    a_.nop3();
  }
  a_.push(RBP);
  a_.movRR(true, RBP, RSP);
  out_->tailLanding = a_.pos(); // 12, the kernel's X86_TAIL_CALL_OFFSET
  if (uint32_t s = normalStack()) {
    a_.rex(true, 0, 0, RSP);
    a_.byte(0x81);
    a_.modrmReg(5, RSP);
    a_.imm32(int32_t(s));
  }
  // may_goto's budget, after the landing: a tail call starts it afresh
  if (out_->mayGotoSlot)
    a_.storeImm(8, RBP, out_->mayGotoSlot, 8 << 20);
  if (cur_->tailReachable)
    a_.push(RAX);
  for (uint8_t r : out_->savedRegs)
    a_.push(r);
  if (cur_->selfSetup)
    r9Setup();
}

void Emitter::epilogue() {
  for (auto it = out_->savedRegs.rbegin(); it != out_->savedRegs.rend(); ++it)
    a_.pop(*it);
  a_.leave();
  a_.ret();
}

void Emitter::emitFunction(const NodeCtx &n) {
  cur_ = &n;
  a_ = X86{};
  jumps_.clear();
  toExit_.clear();
  epilogue_.reset();
  JitFunction jf;
  jf.program = n.plan.program;
  jf.function = n.plan.function;
  jf.plan = n.plan;
  jf.usesR9 = r9();
  jf.tailCallReachable = n.tailReachable;
  jf.normalStack = normalStack();
  jf.stackSwitch = n.stackSwitch;
  jf.switchToCallbackTop = n.stackSwitch && n.syncFromC;
  if (hasMayGoto())
    jf.mayGotoSlot = -int32_t(jf.normalStack);
  out_ = &jf;
  jf.savedRegs = savedRegs();
  if (!n.fn->frame.bounded)
    fail(nullptr, "its frame is not bounded");
  prologue();
  const auto &insns = n.fn->insns;
  for (size_t i = 0; i < insns.size(); ++i) {
    jf.insnOffsets[insns[i].index] = a_.pos();
    insn(insns[i], i + 1 < insns.size() ? &insns[i + 1] : nullptr);
  }
  for (auto [at, target] : jumps_) {
    auto it = jf.insnOffsets.find(target);
    if (it == jf.insnOffsets.end())
      fail(nullptr, "a jump to instruction " + std::to_string(target) + " outside the function");
    a_.bind(at, it->second);
  }
  if (!epilogue_) {
    // falls off the end (clang never does; keep the code well-formed)
    epilogue_ = a_.pos();
    epilogue();
  }
  for (uint32_t at : toExit_)
    a_.bind(at, *epilogue_);
  jf.code = std::move(a_.b);
  img_.functions.push_back(std::move(jf));
}

void Emitter::insn(const Insn &in, const Insn *next) {
  (void)next;
  // a form not emitted is refused by name, never emitted as the plain form
  // it resembles (sdiv as div, movsx as mov)
  const isa::Form form = isa::form(in);
  switch (form) {
  case isa::Form::LegacyLoad:
    return legacyLoad(in);
  case isa::Form::LdImm64: {
    auto ref = cur_->fn->loadImms.find(in.index);
    uint8_t d = reg(in.dst);
    if (ref == cur_->fn->loadImms.end()) {
      a_.movImm(true, d, in.imm);
      return;
    }
    uint32_t at = a_.movabs(d, 0);
    switch (ref->second.kind) {
    case LoadImmRef::Kind::Map:
      fixup(JitFixup::Kind::MapAddr, at, ref->second.name);
      break;
    case LoadImmRef::Kind::Func:
      fixup(JitFixup::Kind::FuncAddr, at, cur_->plan.program + "/" + ref->second.name);
      out_->fixups.back().program = cur_->plan.program;
      out_->fixups.back().function = ref->second.name;
      break;
    case LoadImmRef::Kind::Data:
      fixup(JitFixup::Kind::DataAddr, at, ref->second.name, 0, int64_t(uint32_t(in.imm)));
      break;
    }
    return;
  }
  case isa::Form::Load:
  case isa::Form::LoadSx:
  case isa::Form::LoadAcquire:
  case isa::Form::Store:
  case isa::Form::StoreImm:
  case isa::Form::StoreRelease:
    return memory(in, form);
  case isa::Form::Atomic:
    return atomic(in);
  case isa::Form::Alu:
  case isa::Form::ByteSwap:
  case isa::Form::Bswap:
    return alu(in);
  case isa::Form::SignedDivMod:
    return divide(in, in.cls() == isa::ALU64, isa::op(in.opcode) == isa::MOD, true);
  case isa::Form::MovSx: {
    if (!(in.opcode & isa::SRC_X))
      fail(&in, "movsx of an immediate");
    unsigned from = unsigned(in.off);
    if (mutant_ == JitMutant::SignExtendWidth && from == 8)
      from = 16;
    return a_.movsx(in.cls() == isa::ALU64, from, reg(in.dst), reg(in.src));
  }
  case isa::Form::MayGoto:
    return mayGoto(in);
  case isa::Form::Exit:
    if (!epilogue_) {
      epilogue_ = a_.pos();
      epilogue();
    } else {
      toExit_.push_back(a_.jmp());
    }
    return;
  case isa::Form::Call:
    return call(in);
  case isa::Form::Ja:
  case isa::Form::Gotol:
  case isa::Form::CondJump:
    return jump(in);
  case isa::Form::AddrSpaceCast: // arena pointers: out of scope, refused by name
  case isa::Form::Unknown:
    break;
  }
  fail(&in, std::string(isa::formName(form)) + " is not emitted");
}

void Emitter::alu(const Insn &in) {
  bool w = in.cls() == isa::ALU64;
  uint8_t op = isa::op(in.opcode);
  bool x = in.opcode & isa::SRC_X;
  uint8_t d = reg(in.dst), s = reg(in.src);
  int32_t imm = int32_t(in.imm);
  // the zero-extension mutant: 32-bit arithmetic done in 64 bits
  bool ow = w || (mutant_ == JitMutant::NoZeroExtend32 &&
                  (op == isa::ADD || op == isa::SUB || op == isa::OR || op == isa::AND ||
                   op == isa::XOR));
  auto aluOp = [&](AluOp o) {
    if (x)
      a_.alu(ow, o, d, s);
    else
      a_.aluImm(ow, o, d, imm);
  };
  switch (op) {
  case isa::ADD: return aluOp(ALU_ADD);
  case isa::SUB: return aluOp(ALU_SUB);
  case isa::OR: return aluOp(ALU_OR);
  case isa::AND: return aluOp(ALU_AND);
  case isa::XOR: return aluOp(ALU_XOR);
  case isa::MUL:
    if (x)
      a_.imulRR(w, d, s);
    else
      a_.imulImm(w, d, imm);
    return;
  case isa::DIV: return divide(in, w, false, false);
  case isa::MOD: return divide(in, w, true, false);
  case isa::LSH: return shift(in, w, 4);
  case isa::RSH: return shift(in, w, 5);
  case isa::ARSH: return shift(in, w, 7);
  case isa::NEG:
    a_.grp3(w, 3, d);
    return;
  case isa::MOV:
    if (x)
      a_.movRR(w, d, s);
    else
      a_.movImm(w, d, imm);
    return;
  case isa::END: { // to_le / to_be; bswap (cpu v4) swaps as to_be does
    bool be = x || isa::form(in) == isa::Form::Bswap;
    switch (imm) {
    case 16:
      if (be)
        a_.ror16(d, 8);
      a_.movzx16(d, d);
      return;
    case 32:
      if (be)
        a_.bswap(false, d);
      else
        a_.movRR(false, d, d);
      return;
    case 64:
      if (be)
        a_.bswap(true, d);
      return;
    }
    fail(&in, "byte swap of " + std::to_string(imm) + " bits");
  }
  }
  fail(&in, "unknown ALU operation");
}

// After a division's result is in `into`: the divisor's special cases the
// sequence jumped out for, as BPF defines them — zero: 0 (div) or the
// dividend (mod); -1 (signed only): the dividend negated (div) or 0 (mod).
// The dividend is in rax; 32-bit moves zero-extend.
void Emitter::divisorCases(bool w, bool mod, uint8_t into, std::optional<uint32_t> zero,
                           std::optional<uint32_t> minusOne) {
  std::vector<uint32_t> done{a_.jmp()};
  a_.bind(*zero, a_.pos());
  if (mod)
    a_.movRR(w, into, RAX);
  else
    a_.alu(false, ALU_XOR, into, into);
  if (minusOne) {
    done.push_back(a_.jmp());
    a_.bind(*minusOne, a_.pos());
    if (mod) {
      a_.alu(false, ALU_XOR, into, into);
    } else {
      a_.movRR(w, into, RAX);
      a_.grp3(w, 3, into); // neg
    }
  }
  for (uint32_t at : done)
    a_.bind(at, a_.pos());
}

// An immediate divisor the division needs no x86 divide for, as BPF defines
// it: zero — 0 (div) or the dividend (mod, zero-extended for 32 bits); -1
// when signed — the negation (INT_MIN wraps) and 0. True when emitted.
bool Emitter::divisorImmediate(const Insn &in, bool w, bool mod, bool sign) {
  const uint8_t d = reg(in.dst);
  const int32_t imm = int32_t(in.imm);
  if (in.opcode & isa::SRC_X)
    return false;
  if (imm == 0) {
    if (!mod)
      a_.alu(false, ALU_XOR, d, d);
    else if (!w)
      a_.movRR(false, d, d);
    return true;
  }
  if (sign && imm == -1) {
    if (mod)
      a_.alu(false, ALU_XOR, d, d);
    else
      a_.grp3(w, 3, d); // neg (the 32-bit form zero-extends)
    return true;
  }
  return false;
}

// dst = dst / src or dst % src, unsigned or (`sign`: sdiv/smod, cpu v4)
// signed, with BPF's results where x86's div/idiv would trap (a zero
// divisor; -1 when signed): rax and rdx pushed around div/idiv r11, as the
// kernel's JIT does. The kernel's verifier patches the divisor's cases in as
// BPF instructions before its JIT runs; here they are part of the sequence.
void Emitter::divide(const Insn &in, bool w, bool mod, bool sign) {
  if (ss())
    return divmodNoPush(in, w, mod, sign);
  if (divisorImmediate(in, w, mod, sign))
    return;
  const bool x = in.opcode & isa::SRC_X;
  const uint8_t d = reg(in.dst), s = reg(in.src);
  if (d != RAX)
    a_.push(RAX);
  if (d != RDX)
    a_.push(RDX);
  if (x)
    a_.movRR(true, R11, s);
  else
    a_.movImm(w, R11, int32_t(in.imm));
  a_.movRR(true, RAX, d);
  std::optional<uint32_t> zero, minusOne;
  if (x) {
    a_.testRR(w, R11, R11);
    zero = a_.jcc(CC_E);
    if (sign && mutant_ != JitMutant::SignedDivNoMinusOne) {
      a_.aluImm(w, ALU_CMP, R11, -1);
      minusOne = a_.jcc(CC_E);
    }
  }
  if (sign) {
    a_.cqo(w);
    a_.grp3(w, 7, R11); // idiv r11
  } else {
    a_.alu(false, ALU_XOR, RDX, RDX);
    a_.grp3(w, 6, R11); // div r11
  }
  a_.movRR(true, R11, mod ? RDX : RAX);
  if (zero)
    divisorCases(w, mod, R11, zero, minusOne);
  if (d != RDX)
    a_.pop(RDX);
  if (d != RAX)
    a_.pop(RAX);
  a_.movRR(w, d, R11);
}

// The same without pushing below the frame (stack-switch: an interrupt's
// headroom is all the model leaves there): rax and rdx are kept in r10 and
// r11, and the divisor goes to dst once the dividend is in rax.
// `sign`: sdiv/smod, with idiv and BPF's meaning for -1 (the negation,
// INT_MIN wrapping; 0), where idiv would trap.
void Emitter::divmodNoPush(const Insn &in, bool w, bool mod, bool sign) {
  if (divisorImmediate(in, w, mod, sign))
    return;
  bool x = in.opcode & isa::SRC_X;
  uint8_t d = reg(in.dst), s = reg(in.src);
  // where the divisor is read from once rax/rdx are saved
  auto srcNow = [&](uint8_t r) -> uint8_t { return r == RAX ? uint8_t(R10) : r == RDX ? uint8_t(R11) : r; };
  uint8_t div; // the register divided by
  if (d == RAX) {
    a_.movRR(true, R11, RDX);
    div = R10;
    if (x)
      a_.movRR(true, R10, srcNow(s) == R10 ? uint8_t(RAX) : srcNow(s));
    else
      a_.movImm(w, R10, int32_t(in.imm));
  } else if (d == RDX) {
    a_.movRR(true, R10, RAX);
    a_.movRR(true, R11, RDX);
    a_.movRR(true, RAX, RDX);
    div = R11; // the divisor; rax holds the dividend
    if (x) {
      if (s != RDX)
        a_.movRR(true, R11, srcNow(s));
    } else {
      a_.movImm(w, R11, int32_t(in.imm));
    }
  } else {
    a_.movRR(true, R10, RAX);
    a_.movRR(true, R11, RDX);
    a_.movRR(true, RAX, d);
    div = d;
    if (x) {
      if (s != d)
        a_.movRR(true, d, srcNow(s));
    } else {
      a_.movImm(w, d, int32_t(in.imm));
    }
  }
  std::optional<uint32_t> zero, minusOne;
  if (x) {
    a_.testRR(w, div, div);
    zero = a_.jcc(CC_E);
    if (sign && mutant_ != JitMutant::SignedDivNoMinusOne) {
      a_.aluImm(w, ALU_CMP, div, -1);
      minusOne = a_.jcc(CC_E);
    }
  }
  if (sign) {
    a_.cqo(w);
    a_.grp3(w, 7, div); // idiv
  } else {
    a_.alu(false, ALU_XOR, RDX, RDX);
    a_.grp3(w, 6, div); // div
  }
  // the result to dst (a 32-bit move zero-extends)
  a_.movRR(w, d, mod ? RDX : RAX);
  if (zero)
    divisorCases(w, mod, d, zero, minusOne);
  if (d == RAX) {
    a_.movRR(true, RDX, R11);
  } else if (d == RDX) {
    a_.movRR(true, RAX, R10);
  } else {
    a_.movRR(true, RAX, R10);
    a_.movRR(true, RDX, R11);
  }
}


// may_goto (cpu v4): the kernel's rewrite (do_misc_fixups) over the
// function's counter slot, which its prologue fills with BPF_MAX_LOOPS:
// jump once the count is spent, else take one.
void Emitter::mayGoto(const Insn &in) {
  if (!out_->mayGotoSlot)
    fail(&in, "may_goto in a function without a counter slot");
  a_.load(8, R11, RBP, out_->mayGotoSlot);
  a_.testRR(true, R11, R11);
  jumps_.push_back({a_.jcc(CC_E), uint32_t(*isa::jumpTarget(in))});
  a_.aluImm(true, ALU_SUB, R11, 1);
  a_.store(8, RBP, out_->mayGotoSlot, R11);
}

// LD_ABS / LD_IND, as the kernel's verifier rewrites them before its JIT
// (bpf_gen_ld_abs): r2 = imm (+ src), r1 = r6 (the skb), a call of
// bpf_skb_load_helper_{8,16,32}_no_cache, and a negative result returns 0
// from the function.
void Emitter::legacyLoad(const Insn &in) {
  const uint32_t size = isa::accessBytes(in.opcode);
  if (size == 8)
    fail(&in, "a legacy packet load of 8 bytes (the kernel has no helper for it)");
  const int32_t imm = int32_t(in.imm);
  if (isa::mode(in.opcode) == isa::IND) {
    a_.movRR(true, RSI, reg(in.src));
    if (imm)
      a_.aluImm(true, ALU_ADD, RSI, imm);
  } else {
    a_.movImm(true, RSI, imm);
  }
  a_.movRR(true, RDI, reg(6));
  callOut(in, JitFixup::Kind::KernelFunc,
          "bpf_skb_load_helper_" + std::to_string(8 * size) + "_no_cache", 0);
  a_.testRR(true, RAX, RAX);
  uint32_t ok = a_.jcc(CC_NS);
  a_.alu(false, ALU_XOR, RAX, RAX);
  toExit_.push_back(a_.jmp());
  a_.bind(ok, a_.pos());
}

void Emitter::shift(const Insn &in, bool w, uint8_t digit) {
  bool x = in.opcode & isa::SRC_X;
  uint8_t d = reg(in.dst), s = reg(in.src);
  if (!x) {
    a_.shiftImm(w, digit, d, uint8_t(in.imm & (w ? 63 : 31)));
    return;
  }
  // the count must be in cl; x86 masks it to 5 or 6 bits as BPF does. The
  // mutant shifts 32-bit values in 64 bits: counts 32..63 then leak.
  bool ow = w;
  if (mutant_ == JitMutant::ShiftNotMasked && !w)
    ow = true;
  if (!w && ow && digit != 4)
    a_.movRR(false, d, d); // shr/sar of the 32-bit value in 64 bits
  if (s == RCX) {
    a_.shiftCl(ow, digit, d);
  } else if (d == RCX) {
    a_.movRR(true, R11, RCX);
    a_.movRR(true, RCX, s);
    a_.shiftCl(ow, digit, R11);
    a_.movRR(true, RCX, R11);
  } else if (ss()) { // nothing pushed below the frame
    a_.movRR(true, R10, RCX);
    a_.movRR(true, RCX, s);
    a_.shiftCl(ow, digit, d);
    a_.movRR(true, RCX, R10);
  } else {
    a_.push(RCX);
    a_.movRR(true, RCX, s);
    a_.shiftCl(ow, digit, d);
    a_.pop(RCX);
  }
  if (!w && ow)
    a_.movRR(false, d, d);
}

void Emitter::jump(const Insn &in) {
  uint8_t op = isa::op(in.opcode);
  bool w = in.cls() == isa::JMP;
  bool x = in.opcode & isa::SRC_X;
  uint32_t target = uint32_t(*isa::jumpTarget(in));
  if (isa::form(in) == isa::Form::Gotol && mutant_ == JitMutant::GotolOffByOne)
    ++target;
  if (isa::form(in) == isa::Form::Ja || isa::form(in) == isa::Form::Gotol) {
    jumps_.push_back({a_.jmp(), target});
    return;
  }
  uint8_t d = reg(in.dst), s = reg(in.src);
  int32_t imm = int32_t(in.imm);
  Cond cc;
  switch (op) {
  case isa::JEQ: cc = CC_E; break;
  case isa::JGT: cc = CC_A; break;
  case isa::JGE: cc = CC_AE; break;
  case isa::JSET: cc = CC_NE; break; // test
  case isa::JNE: cc = CC_NE; break;
  case isa::JSGT: cc = CC_G; break;
  case isa::JSGE: cc = CC_GE; break;
  case isa::JLT: cc = CC_B; break;
  case isa::JLE: cc = CC_BE; break;
  case isa::JSLT: cc = CC_L; break;
  case isa::JSLE: cc = CC_LE; break;
  default: fail(&in, "unknown jump");
  }
  if (op == isa::JSET) {
    if (x) {
      a_.testRR(w, d, s);
    } else if (w && imm < 0) {
      a_.testImm(true, d, imm);
    } else {
      a_.testImm(w, d, imm);
    }
  } else if (x) {
    a_.alu(w, ALU_CMP, d, s);
  } else if (imm == 0 && (op == isa::JEQ || op == isa::JNE)) {
    a_.testRR(w, d, d);
  } else {
    a_.aluImm(w, ALU_CMP, d, imm);
  }
  jumps_.push_back({a_.jcc(cc), target});
}

// Loads and stores. x86-64 keeps loads and stores in order (TSO), so
// load-acquire and store-release are the plain moves, as the kernel's JIT
// emits them.
void Emitter::memory(const Insn &in, isa::Form form) {
  uint8_t size = uint8_t(isa::accessBytes(in.opcode));
  if (form == isa::Form::Load || form == isa::Form::LoadAcquire) {
    a_.load(size, reg(in.dst), reg(in.src), frameDisp(in.src, in.off));
  } else if (form == isa::Form::LoadSx) {
    if (size == 8)
      fail(&in, "a sign-extending load of 8 bytes");
    a_.loadSx(size, reg(in.dst), reg(in.src), frameDisp(in.src, in.off));
  } else if (form == isa::Form::Store || form == isa::Form::StoreRelease) {
    a_.store(size, reg(in.dst), frameDisp(in.dst, in.off), reg(in.src));
  } else { // st
    a_.storeImm(size, reg(in.dst), frameDisp(in.dst, in.off), int32_t(in.imm));
  }
}

void Emitter::atomic(const Insn &in) {
  uint8_t size = uint8_t(isa::accessBytes(in.opcode));
  if (size < 4)
    fail(&in, "atomic operation on a byte or half word");
  bool w = size == 8;
  uint8_t base = reg(in.dst), s = reg(in.src);
  int32_t disp = frameDisp(in.dst, in.off);
  int32_t op = int32_t(in.imm);
  switch (op) {
  case isa::ADD: a_.lockAlu(w, 0x01, base, disp, s); return;
  case isa::OR: a_.lockAlu(w, 0x09, base, disp, s); return;
  case isa::AND: a_.lockAlu(w, 0x21, base, disp, s); return;
  case isa::XOR: a_.lockAlu(w, 0x31, base, disp, s); return;
  case isa::ADD | isa::ATOMIC_FETCH: a_.lockXadd(w, base, disp, s); return;
  case isa::ATOMIC_XCHG: a_.xchg(w, base, disp, s); return;
  case isa::ATOMIC_CMPXCHG:
    a_.lockCmpxchg(w, base, disp, s);
    if (!w)
      a_.movRR(false, RAX, RAX); // r0 = zext(old)
    return;
  case isa::OR | isa::ATOMIC_FETCH: case isa::AND | isa::ATOMIC_FETCH:
  case isa::XOR | isa::ATOMIC_FETCH: {
    // fetch-or/and/xor: a cmpxchg loop through r12 (the address), rax (the
    // old value), r10 (BPF r0, saved) and r11 (the new value)
    uint8_t opByte = op == (isa::OR | isa::ATOMIC_FETCH) ? 0x09 : op == (isa::AND | isa::ATOMIC_FETCH) ? 0x21 : 0x31;
    if (ss()) {
      // nothing pushed below the frame: the address stays [base + disp]
      // (r10, the saved r0, when base is r0)
      a_.movRR(true, R10, RAX);
      uint8_t b = base == RAX ? uint8_t(R10) : base;
      uint8_t sv = s == RAX ? uint8_t(R10) : s;
      a_.load(size, RAX, b, disp);
      uint32_t loop = a_.pos();
      a_.movRR(true, R11, RAX);
      a_.aluRR(w, opByte, R11, sv);
      a_.lockCmpxchg(w, b, disp, R11);
      a_.bind(a_.jcc(CC_NE), loop);
      if (s != RAX) {
        a_.movRR(w, s, RAX);
        a_.movRR(true, RAX, R10);
      } else if (!w) {
        a_.movRR(false, RAX, RAX);
      }
      return;
    }
    a_.push(R12);
    a_.lea(R12, base, disp);
    a_.movRR(true, R10, RAX);
    uint8_t sv = s == RAX ? uint8_t(R10) : s;
    a_.load(size, RAX, R12, 0);
    uint32_t loop = a_.pos();
    a_.movRR(true, R11, RAX);
    a_.aluRR(w, opByte, R11, sv);
    a_.lockCmpxchg(w, R12, 0, R11);
    a_.bind(a_.jcc(CC_NE), loop);
    if (s != RAX) {
      a_.movRR(w, s, RAX);
      a_.movRR(true, RAX, R10);
    } else if (!w) {
      a_.movRR(false, RAX, RAX);
    }
    a_.pop(R12);
    return;
  }
  }
  fail(&in, "atomic operation " + std::to_string(op) + " is not emitted");
}

void Emitter::callOut(const Insn &in, JitFixup::Kind k, const std::string &name, int32_t id) {
  if (ss()) {
    // a helper that calls back into BPF: the callback's top, kept in the
    // frame and put back after (see the head of this file)
    const CallbackSite *cb = helperCallbackAt(in);
    if (cb) {
      callbackTopAddress();
      a_.load(8, R10, R11, 0);
      a_.store(8, RBP, callbackSlotDisp(), R10);
      int32_t gap = int32_t(layout_.stackSwitch.callbackGap(cb->via) - kLinkBytes);
      if (mutant_ == JitMutant::CallbackGapShort)
        gap -= 64;
      a_.lea(R10, RBP, -frameBottom() - gap);
      a_.store(8, R11, 0, R10);
    }
    // helpers: on_buffer, the call pushes onto the buffer; task_stack, rsp
    // moves to the task stack (r12) and back to this frame's bottom
    bool task = !layout_.stackSwitch.helpersOnBuffer;
    if (task)
      a_.movRR(true, RSP, R12);
    uint32_t at = a_.call();
    fixup(k, at, name, id);
    if (task)
      a_.lea(RSP, RBP, -frameBottom());
    if (cb && mutant_ != JitMutant::CallbackTopKept) {
      callbackTopAddress();
      a_.load(8, R10, RBP, callbackSlotDisp());
      a_.store(8, R11, 0, R10);
    }
    return;
  }
  // C code clobbers r9: keep it across, as the kernel does
  bool keep = r9() && !(mutant_ == JitMutant::R9NotRestored);
  if (r9())
    a_.push(R9);
  uint32_t at = a_.call();
  fixup(k, at, name, id);
  if (keep)
    a_.pop(R9);
  else if (r9())
    a_.aluImm(true, ALU_ADD, RSP, 8); // drops it without restoring r9
}

void Emitter::callLocal(const Insn &in, const NodeCtx &callee) {
  (void)in;
  if (cur_->tailReachable)
    a_.load(8, RAX, RBP, tccDisp()); // the count travels in rax
  if (ss()) { // the callee's frame follows ours on the buffer: a plain call
    uint32_t at = a_.call();
    fixup(JitFixup::Kind::Call, at, callee.plan.program + "/" + callee.plan.function);
    out_->fixups.back().program = callee.plan.program;
    out_->fixups.back().function = callee.plan.function;
    return;
  }
  // r9 for the callee: it sets its own (keep ours), or we move it
  int64_t delta = 0;
  bool move = false;
  bool keep = false; // push r9 / pop r9 around the call
  if (callee.selfSetup || callee.plan.place == FramePlan::Place::KernelStack) {
    // it sets its own r9, or calls C that may clobber it
    keep = r9();
    if (keep)
      a_.push(R9);
  } else if (callee.plan.place == FramePlan::Place::ProgramBuffer) {
    delta = callee.plan.frame;
    move = true;
  } else if (callee.plan.place == FramePlan::Place::ProgramBufferAt) {
    if (cur_->plan.place != FramePlan::Place::ProgramBufferAt)
      fail(nullptr, "a planned frame called from one without a planned offset");
    delta = (callee.plan.offset + callee.plan.frame) - (cur_->plan.offset + cur_->plan.frame);
    move = true;
  }
  // a tail call below the callee returns with the r9 of another frame
  // size: keep ours in memory then
  bool saveAround = move && delta && cur_->tailReachable;
  if (saveAround)
    a_.push(R9);
  if (move && delta)
    a_.aluImm(true, ALU_ADD, R9, int32_t(delta));
  uint32_t at = a_.call();
  fixup(JitFixup::Kind::Call, at, callee.plan.program + "/" + callee.plan.function);
  out_->fixups.back().program = callee.plan.program;
  out_->fixups.back().function = callee.plan.function;
  if (saveAround) {
    if (mutant_ == JitMutant::R9NotRestored)
      a_.aluImm(true, ALU_ADD, RSP, 8);
    else
      a_.pop(R9);
  } else if (keep) {
    {
      if (mutant_ == JitMutant::R9NotRestored)
        a_.aluImm(true, ALU_ADD, RSP, 8);
      else
        a_.pop(R9);
    }
  } else if (move && delta && mutant_ != JitMutant::R9NotRestored) {
    a_.aluImm(true, ALU_SUB, R9, int32_t(delta));
  }
}

void Emitter::call(const Insn &in) {
  const CallSite *cs = nullptr;
  for (auto &c : cur_->fn->calls)
    if (c.insn == in.index)
      cs = &c;
  if (!cs)
    fail(&in, "a call the frontend did not resolve");
  switch (cs->kind) {
  case CallKind::Local:
    return callLocal(in, node(cur_->plan.program, cs->target));
  case CallKind::Kfunc:
    return callOut(in, JitFixup::Kind::Kfunc, cs->target, 0);
  case CallKind::Helper:
    if (cs->helper == 12)
      return tailCall(in);
    if (cs->helper == 181)
      for (auto &cb : cur_->fn->callbacks)
        if (cb.insn == in.index && cb.via == "bpf_loop")
          return inlineLoop(in, cb.callback);
    return callOut(in, JitFixup::Kind::Helper, "", cs->helper);
  }
}

// bpf_tail_call(ctx, prog_array, index), as the kernel's JIT does it: the
// bounds check, the count (in this frame, at rbp - S - 8), the slot, then
// unwind this frame and jump to the target's landing with the count in rax.
void Emitter::tailCall(const Insn &in) {
  if (!cur_->tailReachable) {
    // The frame analysis found no path to this tail call (a branch no
    // value takes, decided from the same ranges as the kernel's): it is
    // emitted as a tail call that fails, which falls through.
    bool known = false;
    for (auto &tc : cur_->fn->tailCalls)
      known |= tc.insn == in.index;
    if (known)
      fail(&in, "tail call in a function without a tail count");
    return;
  }
  std::vector<uint32_t> out;
  a_.movRR(false, RDX, RDX); // the index is a u32
  // cmp edx, [rsi]
  a_.rex(false, RDX, 0, RSI);
  a_.byte(0x3b);
  a_.modrmMem(RDX, RSI, 0);
  out.push_back(a_.jcc(CC_AE));
  a_.load(4, RAX, RBP, tccDisp());
  a_.aluImm(false, ALU_CMP, RAX, int32_t(33));
  out.push_back(a_.jcc(CC_AE));
  if (mutant_ != JitMutant::TailCountNotIncremented)
    a_.aluImm(false, ALU_ADD, RAX, 1);
  // mov rcx, [rsi + rdx*8 + 8]
  a_.rex(true, RCX, RDX, RSI);
  a_.byte(0x8b);
  a_.byte(uint8_t(0x40 | ((RCX & 7) << 3) | 4));
  a_.byte(uint8_t(0xc0 | ((RDX & 7) << 3) | (RSI & 7)));
  a_.byte(8);
  a_.testRR(true, RCX, RCX);
  out.push_back(a_.jcc(CC_E));
  // unwind: restore the callee-saved registers, leave r9 at the frame base
  auto &saved = out_->savedRegs;
  if (!saved.empty()) {
    a_.lea(RSP, RBP, tccDisp() - int32_t(8 * saved.size()));
    for (auto it = saved.rbegin(); it != saved.rend(); ++it)
      a_.pop(*it);
  }
  if (r9() && cur_->plan.place == FramePlan::Place::ProgramBuffer)
    a_.aluImm(true, ALU_SUB, R9, int32_t(cur_->plan.frame));
  a_.movRR(true, RSP, RBP);
  a_.jmpReg(RCX);
  for (uint32_t at : out)
    a_.bind(at, a_.pos());
}

// bpf_loop(nr, callback, ctx, flags) inlined, as 6.12+ kernels do: the
// callback becomes a BPF-to-BPF call, so its frame is placed like any
// callee's. i, nr and ctx live in rbx, r13, r14 (BPF r6-r8, saved around).
void Emitter::inlineLoop(const Insn &in, const std::string &callback) {
  const NodeCtx &cb = node(cur_->plan.program, callback);
  a_.testRR(true, RCX, RCX);
  uint32_t einval = a_.jcc(CC_NE);
  a_.aluImm(true, ALU_CMP, RDI, 1 << 23);
  uint32_t e2big = a_.jcc(CC_A);
  // r6-r8 kept: pushed, or (stack-switch: nothing below the frame) in the
  // frame's 24 bytes below BPF's
  const int32_t spill = -bpfBytes() + (mutant_ == JitMutant::LoopSpillInFrame ? 24 : 0);
  if (ss())
    a_.store(8, RBP, spill - 8, RBX), a_.store(8, RBP, spill - 16, R13), a_.store(8, RBP, spill - 24, R14);
  else
    a_.push(RBX), a_.push(R13), a_.push(R14);
  a_.movRR(true, R13, RDI);
  a_.movRR(true, R14, RDX);
  a_.alu(false, ALU_XOR, RBX, RBX);
  uint32_t loop = a_.pos();
  a_.alu(true, ALU_CMP, RBX, R13);
  uint32_t done = a_.jcc(CC_AE);
  a_.movRR(true, RDI, RBX);
  a_.movRR(true, RSI, R14);
  callLocal(in, cb);
  a_.aluImm(true, ALU_ADD, RBX, 1);
  a_.testRR(true, RAX, RAX);
  a_.bind(a_.jcc(CC_E), loop);
  a_.bind(done, a_.pos());
  a_.movRR(true, RAX, RBX);
  if (ss())
    a_.load(8, R14, RBP, spill - 24), a_.load(8, R13, RBP, spill - 16), a_.load(8, RBX, RBP, spill - 8);
  else
    a_.pop(R14), a_.pop(R13), a_.pop(RBX);
  uint32_t end = a_.jmp();
  a_.bind(einval, a_.pos());
  a_.movImm(true, RAX, -22);
  uint32_t end2 = a_.jmp();
  a_.bind(e2big, a_.pos());
  a_.movImm(true, RAX, -7);
  a_.bind(end, a_.pos());
  a_.bind(end2, a_.pos());
}

void Emitter::run() {
  img_.scheme = layout_.scheme;
  img_.stackSwitch = layout_.stackSwitch;
  prepare();
  // every program's functions, entry first, in the object's order
  for (auto &p : obj_.programs)
    for (size_t f : p.functions) {
      if (!wanted(p.name))
        continue;
      auto it = nodes_.find({p.name, obj_.functions[f].name});
      if (it == nodes_.end())
        throw JitError("jit: the layout has no frame for " + p.name + "/" + obj_.functions[f].name);
      emitFunction(it->second);
    }
}

} // namespace

JitImage jitCompile(const Object &obj, const Layout &layout, const JitOptions &opts) {
  return jitCompileMutant(obj, layout, opts, JitMutant::None);
}

JitImage jitCompileMutant(const Object &obj, const Layout &layout, const JitOptions &opts,
                          JitMutant mutant) {
  JitImage img;
  Emitter(obj, layout, opts, mutant, img).run();
  return img;
}

} // namespace pstack
