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
};

void Validator::check(const JitFunction &f) {
  std::vector<X86Insn> code;
  try {
    code = decodeX86(f.code);
  } catch (const JitError &e) {
    report(f, nullptr, e.what());
    return;
  }
  const FramePlan &p = f.plan;
  bool priv = p.place != FramePlan::Place::KernelStack;
  int64_t F = p.frame;
  uint32_t body = f.insnOffsets.empty() ? uint32_t(f.code.size()) : f.insnOffsets.begin()->second;
  int32_t tcc = -int32_t(f.normalStack) - 8;
  std::set<size_t> sanctioned; // instructions allowed to write r9

  // 1. the prologue's r9 set-up, as the layout says
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

  // 2. calls: bracketed as the layout requires
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

  // 3. r9 written nowhere else
  for (size_t i = 0; i < code.size(); ++i)
    for (auto &d : code[i].defs)
      if (isR9(d) && !sanctioned.count(i))
        report(f, &code[i], "writes r9 outside the layout's set-up and call sequences");

  // 4. memory: r9-based accesses in the frame; rbp/rsp never for a private
  // frame (but the tail count); the normal-stack frame for the others
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
