// LLVM MC BPF disassembler, kept behind detail::BpfDecoder so that no LLVM
// type leaves frontend/.
#include "frontend/internal.h"

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
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <mutex>

extern "C" {
void LLVMInitializeBPFTargetInfo();
void LLVMInitializeBPFTargetMC();
void LLVMInitializeBPFDisassembler();
}

namespace pstack::detail {

struct BpfDecoder::Impl {
  std::unique_ptr<llvm::MCRegisterInfo> mri;
  std::unique_ptr<llvm::MCAsmInfo> mai;
  std::unique_ptr<llvm::MCSubtargetInfo> sti, sti32;
  std::unique_ptr<llvm::MCInstrInfo> mii;
  std::unique_ptr<llvm::MCContext> ctx, ctx32;
  std::unique_ptr<llvm::MCDisassembler> dis, dis32;
  std::unique_ptr<llvm::MCInstPrinter> printer;
};

BpfDecoder::BpfDecoder() : impl_(std::make_unique<Impl>()) {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFDisassembler();
  });
  // Old LLVM wrote EM_NONE objects; the triple is always given explicitly.
  const std::string triple = "bpfel";
  std::string err;
  const llvm::Target *t = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!t)
    throw std::runtime_error("LLVM has no BPF target: " + err);
  auto &d = *impl_;
  d.mri.reset(t->createMCRegInfo(triple));
  llvm::MCTargetOptions opts;
  d.mai.reset(t->createMCAsmInfo(*d.mri, triple, opts));
  d.sti.reset(t->createMCSubtargetInfo(triple, "v3", ""));
  // LLVM 14 decodes the 32-bit atomics (fetch, xchg, cmpxchg) only with the
  // alu32 feature, which also prints narrow stores with w registers: a
  // second decoder, asked only when the first fails, keeps llvm-objdump's
  // text for the rest.
  d.sti32.reset(t->createMCSubtargetInfo(triple, "v3", "+alu32"));
  d.mii.reset(t->createMCInstrInfo());
  d.ctx = std::make_unique<llvm::MCContext>(llvm::Triple(triple), d.mai.get(), d.mri.get(),
                                            d.sti.get());
  d.dis.reset(t->createMCDisassembler(*d.sti, *d.ctx));
  d.ctx32 = std::make_unique<llvm::MCContext>(llvm::Triple(triple), d.mai.get(), d.mri.get(),
                                              d.sti32.get());
  d.dis32.reset(t->createMCDisassembler(*d.sti32, *d.ctx32));
  d.printer.reset(t->createMCInstPrinter(llvm::Triple(triple), 0, *d.mai, *d.mii, *d.mri));
  if (!d.dis || !d.printer)
    throw std::runtime_error("LLVM cannot create the BPF disassembler");
}

BpfDecoder::~BpfDecoder() = default;

size_t BpfDecoder::decode(const uint8_t *bytes, size_t avail, std::string &text) {
  llvm::MCInst inst;
  uint64_t size = 0;
  auto st = impl_->dis->getInstruction(inst, size, llvm::ArrayRef<uint8_t>(bytes, avail), 0,
                                       llvm::nulls());
  const llvm::MCSubtargetInfo *sti = impl_->sti.get();
  if (st != llvm::MCDisassembler::Success) {
    inst = llvm::MCInst();
    st = impl_->dis32->getInstruction(inst, size, llvm::ArrayRef<uint8_t>(bytes, avail), 0,
                                      llvm::nulls());
    sti = impl_->sti32.get();
  }
  if (st != llvm::MCDisassembler::Success || (size != 8 && size != 16))
    return 0;
  std::string s;
  llvm::raw_string_ostream os(s);
  impl_->printer->printInst(&inst, 0, "", *sti, os);
  os.flush();
  // the printer indents with a tab
  size_t b = s.find_first_not_of(" \t");
  text = b == std::string::npos ? "" : s.substr(b);
  for (auto &c : text)
    if (c == '\t')
      c = ' ';
  return size;
}

} // namespace pstack::detail
