// The validation pass, over the decoded bytes (not over what the emitter
// meant to write): every r9-based access lies in the frame the layout gives
// the function, every call is bracketed as the layout requires, r9 is
// written nowhere else, and a private frame is never reached through rbp or
// rsp. The emitter's fixups only say which callee a call names.
#include "jitgen/jitgen.h"
#include "jitgen/x86.h"

#include <map>
#include <set>

namespace pstack {
namespace {

bool isR9(const std::string &r) { return r == "r9" || r == "r9d" || r == "r9w" || r == "r9b"; }

struct FnInfo {
  const JitFunction *fn;
  bool selfSetup = false;
};

class Validator {
public:
  Validator(const Object &obj, const JitImage &img) : obj_(obj), img_(img) {
    for (auto &b : img.buffers)
      buffers_[b.name] = &b;
  }
  std::vector<JitFinding> run() {
    for (auto &f : img_.functions)
      check(f);
    return out_;
  }

private:
  const Object &obj_;
  const JitImage &img_;
  std::map<std::string, const JitBuffer *> buffers_;
  std::vector<JitFinding> out_;

  void report(const JitFunction &f, const X86Insn *x, const std::string &msg) {
    out_.push_back({f.program, f.function, x ? x->offset : 0, x ? x->text : "", msg});
  }
  static const X86Operand *mem(const X86Insn &x) {
    for (auto &o : x.operands)
      if (o.kind == X86Operand::Kind::Mem)
        return &o;
    return nullptr;
  }
  static bool isPush(const X86Insn &x, const char *r) {
    return x.opcode == "PUSH64r" && !x.operands.empty() && x.operands[0].reg == r;
  }
  static bool isPop(const X86Insn &x, const char *r) {
    return x.opcode == "POP64r" && !x.operands.empty() && x.operands[0].reg == r;
  }
  // add/sub r9, imm: the signed amount it moves r9 by
  static std::optional<int64_t> r9Move(const X86Insn &x) {
    bool add = x.opcode.rfind("ADD64ri", 0) == 0, sub = x.opcode.rfind("SUB64ri", 0) == 0;
    if (!(add || sub) || x.operands.empty() || x.operands[0].reg != "r9")
      return std::nullopt;
    int64_t imm = x.operands.back().imm;
    return add ? imm : -imm;
  }
  const JitFunction *callee(const JitFunction &f, const X86Insn &call, JitFixup::Kind &kind) const {
    for (auto &fx : f.fixups)
      if (fx.offset == call.offset + 1) {
        kind = fx.kind;
        if (fx.kind != JitFixup::Kind::Call)
          return nullptr;
        return img_.find(fx.program, fx.function);
      }
    kind = JitFixup::Kind::DataAddr; // none: an unknown call
    return nullptr;
  }
  static bool setsOwnR9(const JitFunction &g, const std::vector<X86Insn> &code) {
    uint32_t body = g.insnOffsets.empty() ? 0 : g.insnOffsets.begin()->second;
    for (auto &x : code)
      if (x.offset < body && x.opcode == "MOV64ri" && !x.operands.empty() && x.operands[0].reg == "r9")
        return true;
    return false;
  }

  void check(const JitFunction &f);
  void checkStackSwitch(const JitFunction &f, const std::vector<X86Insn> &code);
  // the r9 schemes: one check per family, over the decoded code
  struct R9Check {
    const JitFunction &f;
    const std::vector<X86Insn> &code;
    bool priv = false;          // the frame is in a buffer, r10 = r9
    int64_t F = 0;              // the layout's frame
    uint32_t body = 0;          // offset of the first BPF instruction
    int32_t tcc = 0;            // the tail count's rbp displacement
    std::set<size_t> sanctioned; // instructions allowed to write r9
  };
  void checkR9SetUp(R9Check &c);
  void checkCalls(R9Check &c);
  void checkR9Writes(R9Check &c);
  void checkMemory(R9Check &c);
};

// stack-switch: the frames are x86 frames on the program's buffer (see
// emit.cpp). Checked over the decoded text:
//  - an entry begins with the switch exactly (r12 keeps the task rsp; rsp
//    to the buffer's top as the layout sizes it; the link frame, kernel
//    return address then caller's rbp, at [top - 16, top), where a frame-
//    pointer unwinder reads the body's saved rbp; `call body`; the switch
//    back; ret), and nothing jumps into it;
//  - every function's frame: push rbp; mov rbp,rsp; sub rsp,S; the tail
//    count and rbx r13 r14 r15 pushed: S + 56 bytes, the layout's frame;
//  - rsp, rbp and r12 are written only there, by the tail-call unwinding
//    (to the frame's bottom, then rbp, then a jump), and around calls out
//    with helpers on the task stack (mov rsp,r12; call; rsp back to the
//    frame's bottom), which must then bracket every helper and kfunc call;
//  - every return leaves the frame (leave; ret), so that the entry's body
//    returns into the switch back on every path;
//  - memory through rbp stays in [-S, 0) or the tail count's slot, through
//    r12 only the switch's read of the return address, never through rsp;
//    r9 appears nowhere;
//  - callbacks entered from C switch as an entry does: a timer's to its
//    buffer's top, one a helper calls to the top in the per-CPU word
//    <callback top>, which every call of such a helper sets to its frame's
//    bottom less StackSwitchCosts::callbackGap (the link frame's 16 bytes
//    excepted) after keeping the old value in its frame, and puts back
//    after the call; the per-CPU area is reached nowhere else.
void Validator::checkStackSwitch(const JitFunction &f, const std::vector<X86Insn> &code) {
  const FramePlan &p = f.plan;
  const int64_t S = f.normalStack;
  const std::string bottom = "leaq -" + std::to_string(S + 40) + "(%rbp), %rsp";
  const Program *prog = obj_.program(f.program);
  const Function *fn = obj_.function(f.function);
  // how C enters it: as a program, a timer's callback, a helper's callback
  bool fromHelper = false, async = false;
  if (prog)
    for (size_t g : prog->functions)
      for (auto &cb : obj_.functions[g].callbacks)
        if (cb.callback == f.function && cb.via != "bpf_loop")
          (cb.async ? async : fromHelper) = true;
  const bool entry = (prog && obj_.functions[prog->entry].name == f.function) || async || fromHelper;
  auto slotBuf = buffers_.find(kStackSwitchCallbackTop);
  const std::string slotAddr =
      "movabsq $" + (slotBuf == buffers_.end() ? std::string("<none>") : std::to_string(slotBuf->second->offset)) +
      ", %r11";
  auto text = [&](size_t i) { return i < code.size() ? code[i].text : std::string(); };
  auto fixupAt = [&](const X86Insn &x) -> const JitFixup * {
    for (auto &fx : f.fixups)
      if (fx.offset == x.offset + 1)
        return &fx;
    return nullptr;
  };
  auto target = [&](const X86Insn &x) -> int64_t {
    for (auto &o : x.operands)
      if (o.kind == X86Operand::Kind::Imm)
        return int64_t(x.offset) + x.size + o.imm;
    return -1;
  };
  std::set<size_t> sanctioned; // explicit writes of rsp, rbp, r12 that are part of a sequence
  std::set<size_t> gsAt;       // the per-CPU accesses the sequences make
  size_t i = 0;
  auto expect = [&](const std::string &want, const std::string &why) {
    if (text(i) != want)
      report(f, i < code.size() ? &code[i] : nullptr, "expected `" + want + "`: " + why);
    sanctioned.insert(i);
    ++i;
  };
  // the patchable start: nop5, then xor eax (the tail count) or nop3
  i = 2;
  uint32_t bodyStart = code.size() > 2 ? code[2].offset : 0;
  if (entry) {
    auto buf = buffers_.find(p.region);
    expect("pushq %r12", "the switch keeps the caller's r12");
    expect("movq %rsp, %r12", "r12 holds the task rsp until the switch back");
    if (fromHelper) {
      expect(slotAddr, "a helper's callback finds its top in <callback top>");
      expect("addq %gs:" + std::to_string(jit::kThisCpuOff) + ", %r11", "this CPU's <callback top>");
      gsAt.insert(i - 1);
      expect("movq (%r11), %r11", "the top its caller left");
    } else if (i < code.size() && code[i].opcode == "MOV64ri" && code[i].operands[0].reg == "r11" &&
        buf != buffers_.end()) {
      int64_t top = int64_t(buf->second->offset + buf->second->bytes);
      if (code[i].operands.back().imm != top)
        report(f, &code[i], "the switch puts rsp at per-CPU offset " +
                                std::to_string(code[i].operands.back().imm) + ", the top of " +
                                p.region + " is " + std::to_string(top) +
                                ": the link frame must be at [top - 16, top), where the unwinder "
                                "and the model's link_bytes have it");
      ++i;
    } else {
      report(f, i < code.size() ? &code[i] : nullptr,
             "expected `movabsq $<top of " + p.region + ">, %r11`: the switch to the buffer");
      ++i;
    }
    if (!fromHelper) {
      expect("addq %gs:" + std::to_string(jit::kThisCpuOff) + ", %r11", "this CPU's buffer");
      gsAt.insert(i - 1);
    }
    expect("movq %r11, %rsp", "rsp moves to the buffer's top in one write (an interrupt may come)");
    expect("pushq 8(%r12)", "the link frame's kernel return address");
    expect("pushq %rbp", "the link frame's caller rbp");
    expect("movq %rsp, %rbp", "rbp at the link frame: the body's saved rbp");
    size_t callI = i;
    if (i < code.size() && code[i].isCall && !fixupAt(code[i])) {
      ++i;
    } else {
      report(f, i < code.size() ? &code[i] : nullptr, "expected `call body`: the entry's frame record");
      ++i;
    }
    uint32_t after = i < code.size() ? code[i].offset : 0;
    if (f.switchReturn != after)
      report(f, nullptr, "the switch's return address is recorded at +" + std::to_string(f.switchReturn) +
                             ", the call returns to +" + std::to_string(after));
    expect("popq %rbp", "the caller's rbp back");
    expect("movq %r12, %rsp", "the switch back to the task stack on the entry's exit");
    expect("popq %r12", "the caller's r12 back");
    if (text(i) != "retq")
      report(f, i < code.size() ? &code[i] : nullptr, "expected `retq` after the switch back");
    ++i;
    bodyStart = i < code.size() ? code[i].offset : 0;
    if (callI < code.size() && target(code[callI]) != int64_t(bodyStart))
      report(f, &code[callI], "the switch calls +" + std::to_string(target(code[callI])) +
                                  ", the body starts at +" + std::to_string(bodyStart));
  }
  // the frame
  expect("pushq %rbp", "the frame record");
  expect("movq %rsp, %rbp", "the frame record");
  if (i < code.size() && code[i].offset != f.tailLanding)
    report(f, &code[i], "the tail-call landing is at +" + std::to_string(f.tailLanding) +
                            ", after the frame record at +" + std::to_string(code[i].offset));
  expect("subq $" + std::to_string(S) + ", %rsp", "BPF's frame, rounded to 8");
  if (f.mayGotoSlot)
    expect("movq $8388608, " + std::to_string(f.mayGotoSlot) + "(%rbp)", "may_goto's budget in its slot");
  expect("pushq %rax", "the tail count's slot");
  for (const char *r : {"rbx", "r13", "r14", "r15"})
    expect(std::string("pushq %") + r, "every frame saves rbx r13 r14 r15 (frame_overhead)");
  if (S + 56 != int64_t(p.frame))
    report(f, nullptr, "the x86 frame is " + std::to_string(S + 56) + " bytes, the layout's " +
                           std::to_string(p.frame));
  const size_t bodyI = i;
  const bool task = !img_.stackSwitch.helpersOnBuffer;

  for (size_t k = 0; k < code.size(); ++k) {
    const X86Insn &x = code[k];
    // r9 is not used by this scheme
    for (auto &d : x.defs)
      if (isR9(d))
        report(f, &x, "writes r9, which stack-switch code never uses");
    if (x.text.find("%r9") != std::string::npos)
      report(f, &x, "r9 in stack-switch code");
    // jumps stay in the body
    if (x.isBranch && !x.isCall && k >= bodyI) {
      int64_t t = target(x);
      if (x.opcode != "JMP64r" && (t < int64_t(bodyStart) || t >= int64_t(f.code.size())))
        report(f, &x, "jumps to +" + std::to_string(t) + ", outside the body [+" +
                          std::to_string(bodyStart) + ", +" + std::to_string(f.code.size()) + ")");
    }
    if (x.isReturn && k >= bodyI && (k == 0 || code[k - 1].opcode.rfind("LEAVE", 0) != 0))
      report(f, &x, "returns without leave: the frame is not left before the return");
    if (k < bodyI)
      continue;
    // nothing is pushed below a frame (the model leaves only the interrupt
    // headroom there); pops only as the exit or the tail call restores the
    // callee-saved registers, right before leave or mov rsp, rbp
    if (x.opcode.rfind("PUSH", 0) == 0)
      report(f, &x, "pushes below the frame (the model counts nothing there but the interrupt "
                    "headroom)");
    if (x.opcode.rfind("POP", 0) == 0) {
      size_t j = k;
      while (j < code.size() && code[j].opcode.rfind("POP64r", 0) == 0)
        ++j;
      if (j >= code.size() ||
          !(code[j].opcode.rfind("LEAVE", 0) == 0 || code[j].text == "movq %rbp, %rsp"))
        report(f, &x, "pops outside a frame's exit or tail call");
    }
    // calls out
    if (x.isCall) {
      const JitFixup *fx = fixupAt(x);
      bool out = fx && (fx->kind == JitFixup::Kind::Helper || fx->kind == JitFixup::Kind::Kfunc ||
                        fx->kind == JitFixup::Kind::KernelFunc);
      // a helper that calls back into BPF: <callback top> set before, back after
      const CallbackSite *cb = nullptr;
      if (out && fn && !f.insnOffsets.empty()) {
        uint32_t bpf = 0;
        for (auto &[idx, off] : f.insnOffsets)
          if (off <= x.offset)
            bpf = idx;
        for (auto &c : fn->callbacks)
          if (c.insn == bpf && !c.async && c.via != "bpf_loop")
            cb = &c;
      }
      if (cb) {
        bool loop = false;
        for (auto &c : fn->callbacks)
          loop |= c.via == "bpf_loop";
        const int64_t X = -int64_t((fn->frame.bytes + 7) & ~7u) - (loop ? kStackSwitchLoopSpill : 0) - 8;
        const int64_t D = S + 40 + img_.stackSwitch.callbackGap(cb->via) - img_.stackSwitch.linkBytes;
        const std::string gs = "addq %gs:" + std::to_string(jit::kThisCpuOff) + ", %r11";
        size_t k0 = task ? k - 1 : k, k1 = task ? k + 2 : k + 1;
        const std::vector<std::string> before{slotAddr, gs, "movq (%r11), %r10",
                                              "movq %r10, " + std::to_string(X) + "(%rbp)",
                                              "leaq -" + std::to_string(D) + "(%rbp), %r10",
                                              "movq %r10, (%r11)"},
            after{slotAddr, gs, "movq " + std::to_string(X) + "(%rbp), %r10", "movq %r10, (%r11)"};
        bool ok = k0 >= before.size();
        for (size_t j = 0; ok && j < before.size(); ++j)
          ok = text(k0 - before.size() + j) == before[j];
        for (size_t j = 0; ok && j < after.size(); ++j)
          ok = text(k1 + j) == after[j];
        if (!ok) {
          report(f, &x, "a call of " + cb->via + ", which calls back into " + cb->callback +
                            ", without <callback top> set to the frame's bottom less " +
                            std::to_string(D - S - 40) + " (kept at " + std::to_string(X) +
                            "(%rbp)) before it and put back after it");
        } else {
          gsAt.insert(k0 - before.size() + 1);
          gsAt.insert(k1 + 1);
        }
      }
      if (out && task) {
        if (text(k - 1) != "movq %r12, %rsp")
          report(f, &x, "a helper or kfunc call without the switch to the task stack before it");
        else
          sanctioned.insert(k - 1);
        if (text(k + 1) != bottom)
          report(f, &x, "a helper or kfunc call without rsp back to the frame's bottom after it (`" +
                            bottom + "`)");
        else
          sanctioned.insert(k + 1);
      }
      if (!fx)
        report(f, &x, "a call whose target the emitter did not name");
      continue;
    }
    // the tail call's unwinding: rsp to the frame's bottom, pops, mov rsp,rbp; jmp *reg
    if (x.opcode == "JMP64r") {
      if (text(k - 1) != "movq %rbp, %rsp")
        report(f, &x, "an indirect jump without the frame unwound to rbp (a tail call lands "
                      "after the target's frame record)");
      else
        sanctioned.insert(k - 1);
      if (k >= 6 && text(k - 6) == bottom)
        sanctioned.insert(k - 6);
    }
  }
  // explicit writes of rsp, rbp and r12 outside the sequences
  for (size_t k = 0; k < code.size(); ++k) {
    const X86Insn &x = code[k];
    if (sanctioned.count(k) || x.isCall || x.isReturn || x.opcode.rfind("PUSH", 0) == 0 ||
        x.opcode.rfind("LEAVE", 0) == 0)
      continue;
    bool popOk = x.opcode.rfind("POP64r", 0) == 0 && x.operands[0].reg != "rsp" &&
                 x.operands[0].reg != "rbp" && x.operands[0].reg != "r12";
    if (popOk)
      continue;
    for (auto &d : x.defs)
      if (d == "rsp" || d == "esp" || d == "rbp" || d == "ebp" || d == "r12" || d == "r12d") {
        report(f, &x, "writes " + d + " outside the switch, the frame set-up, the tail call and "
                      "the task-stack calls");
        break;
      }
  }
  // memory
  for (size_t k = 0; k < code.size(); ++k) {
    const X86Insn &x = code[k];
    const X86Operand *m = mem(x);
    if (!m || x.opcode.rfind("LEA64r", 0) == 0)
      continue;
    if (!m->segment.empty()) {
      if (!(m->segment == "gs" && m->disp == jit::kThisCpuOff && gsAt.count(k)))
        report(f, &x, "a segment access outside the switch and the callback top's sequences");
      continue;
    }
    if (m->base == "rbp") {
      int64_t lo = m->disp, hi = m->disp + x.memBytes;
      bool frame = lo >= -S && hi <= 0;
      bool tcc = lo == -S - 8 && hi <= -S;
      if (!m->index.empty() || x.memBytes == 0 || !(frame || tcc))
        report(f, &x, "rbp-based access to [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          ") outside the frame [-" + std::to_string(S) + ", 0) and the tail count");
    } else if (m->base == "rsp") {
      report(f, &x, "access through rsp");
    } else if (m->base == "r12") {
      if (!(k < bodyI && x.text == "pushq 8(%r12)"))
        report(f, &x, "access through r12 (the task rsp) outside the switch");
    }
  }
}

void Validator::check(const JitFunction &f) {
  std::vector<X86Insn> code;
  try {
    code = decodeX86(f.code);
  } catch (const JitError &e) {
    report(f, nullptr, e.what());
    return;
  }
  if (f.stackSwitch || img_.scheme == Scheme::StackSwitch) {
    checkStackSwitch(f, code);
    return;
  }
  R9Check c{f, code, false, 0, 0, 0, {}};
  c.priv = f.plan.place != FramePlan::Place::KernelStack;
  c.F = f.plan.frame;
  c.body = f.insnOffsets.empty() ? uint32_t(f.code.size()) : f.insnOffsets.begin()->second;
  c.tcc = -int32_t(f.normalStack) - 8;
  checkR9SetUp(c);
  checkCalls(c);
  checkR9Writes(c);
  checkMemory(c);
}

// The prologue's r9 set-up, as the layout says.
void Validator::checkR9SetUp(R9Check &c) {
  const JitFunction &f = c.f;
  const std::vector<X86Insn> &code = c.code;
  const FramePlan &p = f.plan;
  const bool priv = c.priv;
  const int64_t F = c.F;
  const uint32_t body = c.body;
  std::set<size_t> &sanctioned = c.sanctioned;
  bool sawSetup = false;
  for (size_t i = 0; i < code.size() && code[i].offset < body; ++i) {
    const X86Insn &x = code[i];
    if (x.opcode != "MOV64ri" || x.operands.empty() || x.operands[0].reg != "r9")
      continue;
    sawSetup = true;
    sanctioned.insert(i);
    auto buf = buffers_.find(p.region);
    if (!priv || buf == buffers_.end()) {
      report(f, &x, "r9 set up for a frame the layout keeps on the kernel stack");
      continue;
    }
    int64_t want = int64_t(buf->second->offset) +
                   (p.place == FramePlan::Place::ProgramBuffer ? 0 : p.offset + F);
    if (x.operands.back().imm != want)
      report(f, &x, "r9 set to per-CPU offset " + std::to_string(x.operands.back().imm) +
                        ", the layout puts the frame top at " + std::to_string(want) + " (" +
                        p.region + ")");
    // next: add r9, %gs:this_cpu_off (possibly after the tail-call test)
    if (i + 1 < code.size()) {
      const X86Insn &g = code[i + 1];
      const X86Operand *m = mem(g);
      if (g.opcode == "ADD64rm" && g.operands[0].reg == "r9" && m && m->segment == "gs" &&
          m->base.empty() && m->disp == jit::kThisCpuOff)
        sanctioned.insert(i + 1);
      else
        report(f, &g, "r9 set-up not followed by add r9, %gs:this_cpu_off");
    }
    if (p.place == FramePlan::Place::ProgramBuffer)
      for (size_t j = i + 2; j < code.size() && code[j].offset < body; ++j)
        if (auto mv = r9Move(code[j])) {
          if (*mv != F)
            report(f, &code[j], "r9 moved to " + std::to_string(*mv) + " above the base, the frame is " +
                                    std::to_string(F) + " bytes");
          sanctioned.insert(j);
          break;
        }
  }
  bool mustSetUp = p.place == FramePlan::Place::OwnBuffer ||
                   (priv && (obj_.program(f.program) &&
                             obj_.functions[obj_.program(f.program)->entry].name == f.function));
  if (mustSetUp && !sawSetup)
    report(f, nullptr, "the layout gives " + f.program + "/" + f.function +
                           " a frame in " + p.region + " but its prologue never sets r9");
}

// Calls bracketed as the layout requires, and the tail call's unwinding.
void Validator::checkCalls(R9Check &c) {
  const JitFunction &f = c.f;
  const std::vector<X86Insn> &code = c.code;
  const FramePlan &p = f.plan;
  const bool priv = c.priv;
  const int64_t F = c.F;
  std::set<size_t> &sanctioned = c.sanctioned;
  for (size_t i = 0; i < code.size(); ++i) {
    const X86Insn &x = code[i];
    if (!x.isCall)
      continue;
    JitFixup::Kind kind;
    const JitFunction *g = callee(f, x, kind);
    const X86Insn *before = i > 0 ? &code[i - 1] : nullptr;
    const X86Insn *after = i + 1 < code.size() ? &code[i + 1] : nullptr;
    bool needKeep = priv && (kind != JitFixup::Kind::Call || !g ||
                             setsOwnR9(*g, decodeX86(g->code)) ||
                             g->plan.place == FramePlan::Place::KernelStack);
    if (needKeep) {
      if (!before || !isPush(*before, "r9"))
        report(f, &x, "call without push r9 before it: the callee may change r9");
      else
        sanctioned.insert(i - 1);
      if (!after || !isPop(*after, "r9"))
        report(f, &x, "call without pop r9 after it: r9 is not restored");
      else
        sanctioned.insert(i + 1);
      continue;
    }
    if (!priv || !g)
      continue;
    // the callee's frame follows ours in the same buffer: r9 moves by the
    // layout's distance and back
    int64_t want = g->plan.place == FramePlan::Place::ProgramBuffer
                       ? int64_t(g->plan.frame)
                       : (g->plan.offset + g->plan.frame) - (p.offset + F);
    if (g->plan.region != p.region)
      report(f, &x, "calls " + g->program + "/" + g->function + " in " + g->plan.region +
                        " without setting r9 for it");
    auto up = before ? r9Move(*before) : std::nullopt;
    auto down = after ? r9Move(*after) : std::nullopt;
    if (want == 0 && !up && !down)
      continue;
    if (g->tailCallReachable) {
      // a tail call below it returns with another frame's r9: only a saved
      // copy restores ours
      bool pushed = i >= 2 && isPush(code[i - 2], "r9");
      if (up && *up == want && pushed && after && isPop(*after, "r9")) {
        sanctioned.insert(i - 2), sanctioned.insert(i - 1), sanctioned.insert(i + 1);
      } else {
        report(f, &x, "calls " + g->function + ", which may tail-call, without saving r9 " +
                          "(push r9; add r9, " + std::to_string(want) + "; call; pop r9)");
      }
      continue;
    }
    if (!up || *up != want)
      report(f, &x, "r9 must move by " + std::to_string(want) + " before calling " + g->function);
    else
      sanctioned.insert(i - 1);
    if (!down || *down != -want)
      report(f, &x, "r9 must move back by " + std::to_string(want) + " after calling " + g->function);
    else
      sanctioned.insert(i + 1);
  }
  // the tail-call unwinding: sub r9, F right before mov rsp, rbp; jmp *reg
  for (size_t i = 0; i + 2 < code.size(); ++i)
    if (auto mv = r9Move(code[i]))
      if (*mv == -F && code[i + 2].opcode == "JMP64r" && p.place == FramePlan::Place::ProgramBuffer)
        sanctioned.insert(i);
}

// r9 written nowhere but in the sanctioned sequences.
void Validator::checkR9Writes(R9Check &c) {
  const JitFunction &f = c.f;
  const std::vector<X86Insn> &code = c.code;
  std::set<size_t> &sanctioned = c.sanctioned;
  for (size_t i = 0; i < code.size(); ++i)
    for (auto &d : code[i].defs)
      if (isR9(d) && !sanctioned.count(i))
        report(f, &code[i], "writes r9 outside the layout's set-up and call sequences");
}

// Memory: r9-based accesses in the frame; rbp/rsp never for a private frame
// (but the tail count and may_goto's counter); the normal-stack frame for
// the others.
void Validator::checkMemory(R9Check &c) {
  const JitFunction &f = c.f;
  const std::vector<X86Insn> &code = c.code;
  const FramePlan &p = f.plan;
  const bool priv = c.priv;
  const int64_t F = c.F;
  const int32_t tcc = c.tcc;
  for (auto &x : code) {
    const X86Operand *m = mem(x);
    if (!m || !m->segment.empty())
      continue;
    bool lea = x.opcode.rfind("LEA64r", 0) == 0;
    if (m->base == "r9") {
      if (!priv) {
        report(f, &x, "r9-based access in a function the layout keeps on the kernel stack");
        continue;
      }
      if (!m->index.empty()) {
        report(f, &x, "r9-based access with an index register: cannot be bounded");
        continue;
      }
      int64_t lo = m->disp, hi = m->disp + (lea ? 0 : x.memBytes);
      if (!lea && x.memBytes == 0)
        report(f, &x, "r9-based access of unknown width");
      else if (lo < -F || hi > 0 || (lea && lo == 0 && false))
        report(f, &x, "r9-based access to [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          ") outside the frame [-" + std::to_string(F) + ", 0) of " +
                          (p.region.empty() ? std::string("its buffer") : p.region));
    } else if ((m->base == "rbp" || m->base == "rsp") && !lea) {
      if (f.tailCallReachable && m->base == "rbp" && m->disp == tcc && x.memBytes <= 8)
        continue; // the tail count
      if (f.mayGotoSlot && m->base == "rbp" && m->disp == f.mayGotoSlot && x.memBytes == 8)
        continue; // may_goto's counter
      if (priv) {
        report(f, &x, "stack access through " + m->base + " in a function whose frame is private");
      } else if (m->base == "rbp") {
        int64_t lo = m->disp, hi = m->disp + x.memBytes;
        if (lo < -int64_t(f.normalStack) || hi > 0)
          report(f, &x, "rbp-based access to [" + std::to_string(lo) + ", " + std::to_string(hi) +
                            ") outside the frame [-" + std::to_string(f.normalStack) + ", 0)");
      } else {
        report(f, &x, "access through rsp");
      }
    }
  }
}

} // namespace

std::vector<JitFinding> validateJit(const Object &obj, const JitImage &img) {
  return Validator(obj, img).run();
}

} // namespace pstack
