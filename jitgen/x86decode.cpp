// Decoding emitted code with the LLVM MC X86 disassembler, kept behind
// X86Insn so that no LLVM type leaves jitgen/.
#include "jitgen/jitgen.h"

#include <llvm/MC/MCAsmInfo.h>
#include <llvm/MC/MCContext.h>
#include <llvm/MC/MCDisassembler/MCDisassembler.h>
#include <llvm/MC/MCInst.h>
#include <llvm/MC/MCInstPrinter.h>
#include <llvm/MC/MCInstrInfo.h>
#include <llvm/MC/MCRegisterInfo.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/MCTargetOptions.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/raw_ostream.h>

#include <cctype>
#include <memory>
#include <mutex>

extern "C" {
void LLVMInitializeX86TargetInfo();
void LLVMInitializeX86TargetMC();
void LLVMInitializeX86Disassembler();
}

namespace pstack {
namespace {

struct X86Decoder {
  std::unique_ptr<llvm::MCRegisterInfo> mri;
  std::unique_ptr<llvm::MCAsmInfo> mai;
  std::unique_ptr<llvm::MCSubtargetInfo> sti;
  std::unique_ptr<llvm::MCInstrInfo> mii;
  std::unique_ptr<llvm::MCContext> ctx;
  std::unique_ptr<llvm::MCDisassembler> dis;
  std::unique_ptr<llvm::MCInstPrinter> printer;

  X86Decoder() {
    static std::once_flag once;
    std::call_once(once, [] {
      LLVMInitializeX86TargetInfo();
      LLVMInitializeX86TargetMC();
      LLVMInitializeX86Disassembler();
    });
    const std::string triple = "x86_64-unknown-linux-gnu";
    std::string err;
    const llvm::Target *t = llvm::TargetRegistry::lookupTarget(triple, err);
    if (!t)
      throw JitError("LLVM has no X86 target: " + err);
    mri.reset(t->createMCRegInfo(triple));
    llvm::MCTargetOptions opts;
    mai.reset(t->createMCAsmInfo(*mri, triple, opts));
    sti.reset(t->createMCSubtargetInfo(triple, "", ""));
    mii.reset(t->createMCInstrInfo());
    ctx = std::make_unique<llvm::MCContext>(llvm::Triple(triple), mai.get(), mri.get(), sti.get());
    dis.reset(t->createMCDisassembler(*sti, *ctx));
    printer.reset(t->createMCInstPrinter(llvm::Triple(triple), 0 /* AT&T */, *mai, *mii, *mri));
    if (!dis || !printer)
      throw JitError("LLVM cannot disassemble x86-64");
  }

  std::string regName(unsigned r) const {
    if (!r)
      return "";
    std::string s = mri->getName(r);
    for (char &c : s)
      c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
};

// The width of the memory an opcode touches, from LLVM's opcode name
// ("MOV64mr" 8, "MOVZX64rm8" 1, "CMP32rm" 4); 0 for LEA.
uint32_t memWidth(const std::string &name) {
  if (name.rfind("LEA", 0) == 0)
    return 0;
  if (name.rfind("MOVZX", 0) == 0 || name.rfind("MOVSX", 0) == 0) {
    size_t rm = name.rfind("rm");
    if (rm != std::string::npos)
      return uint32_t(std::stoul(name.substr(rm + 2))) / 8;
  }
  size_t d = name.find_first_of("0123456789");
  if (d == std::string::npos)
    return 0;
  size_t e = name.find_first_not_of("0123456789", d);
  return uint32_t(std::stoul(name.substr(d, e - d))) / 8;
}

} // namespace

std::vector<X86Insn> decodeX86(const std::vector<uint8_t> &code) {
  static thread_local std::unique_ptr<X86Decoder> dec;
  if (!dec)
    dec = std::make_unique<X86Decoder>();
  std::vector<X86Insn> out;
  llvm::ArrayRef<uint8_t> bytes(code.data(), code.size());
  uint64_t at = 0;
  while (at < code.size()) {
    llvm::MCInst inst;
    uint64_t size = 0;
    auto st = dec->dis->getInstruction(inst, size, bytes.slice(at), at, llvm::nulls());
    if (st != llvm::MCDisassembler::Success || size == 0)
      throw JitError("x86 decode: no instruction at offset " + std::to_string(at));
    X86Insn x;
    x.offset = uint32_t(at);
    x.size = uint32_t(size);
    x.opcode = std::string(dec->mii->getName(inst.getOpcode()));
    std::string text;
    llvm::raw_string_ostream os(text);
    dec->printer->printInst(&inst, at, "", *dec->sti, os);
    os.flush();
    // "\tmovq\t%r9, %rdi" -> "movq %r9, %rdi"
    std::string t;
    for (char c : text)
      t += c == '\t' ? ' ' : c;
    size_t b = t.find_first_not_of(' ');
    x.text = b == std::string::npos ? "" : t.substr(b);
    while (x.text.find("  ") != std::string::npos)
      x.text.replace(x.text.find("  "), 2, " ");

    const llvm::MCInstrDesc &desc = dec->mii->get(inst.getOpcode());
    x.isCall = desc.isCall();
    x.isBranch = desc.isBranch();
    x.isReturn = desc.isReturn();
    // LEA's address operand is not marked OPERAND_MEMORY in LLVM's tables
    // (14 and 19): it starts right after the destination
    bool lea = x.opcode.size() > 3 && x.opcode.rfind("LEA", 0) == 0 && std::isdigit(static_cast<unsigned char>(x.opcode[3]));
    for (unsigned i = 0; i < inst.getNumOperands(); ++i) {
      bool isMem = i + 4 < inst.getNumOperands() &&
                   ((lea && i == 1) || (i < desc.getNumOperands() &&
                                        desc.operands()[i].OperandType == llvm::MCOI::OPERAND_MEMORY));
      if (isMem) {
        X86Operand m;
        m.kind = X86Operand::Kind::Mem;
        m.base = dec->regName(inst.getOperand(i).getReg());
        m.scale = unsigned(inst.getOperand(i + 1).getImm());
        m.index = dec->regName(inst.getOperand(i + 2).getReg());
        const auto &d = inst.getOperand(i + 3);
        m.disp = d.isImm() ? d.getImm() : 0;
        m.segment = dec->regName(inst.getOperand(i + 4).getReg());
        x.operands.push_back(m);
        x.memBytes = memWidth(x.opcode);
        i += 4;
        continue;
      }
      const auto &op = inst.getOperand(i);
      X86Operand o;
      if (op.isReg()) {
        o.kind = X86Operand::Kind::Reg;
        o.reg = dec->regName(op.getReg());
      } else if (op.isImm()) {
        o.kind = X86Operand::Kind::Imm;
        o.imm = op.getImm();
      } else {
        continue;
      }
      x.operands.push_back(o);
    }
    for (unsigned i = 0; i < desc.getNumDefs() && i < inst.getNumOperands(); ++i)
      if (inst.getOperand(i).isReg())
        x.defs.push_back(dec->regName(inst.getOperand(i).getReg()));
    for (llvm::MCPhysReg r : desc.implicit_defs())
      x.defs.push_back(dec->regName(r));
    // two-address forms (add r9, imm) write their first source too; LLVM
    // ties it to the def, which is already listed
    out.push_back(std::move(x));
    at += size;
  }
  return out;
}

} // namespace pstack
