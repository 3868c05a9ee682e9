// LLVM MC BPF disassembler (LLVM 19), kept behind detail::BpfDecoder so that
// no LLVM type leaves frontend/. The forms LLVM 19 does not know (the
// load-acquire / store-release atomics, LLVM 20+) are decoded here by hand.
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

#include <cstdio>
#include <cstring>
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
  // "generic", as llvm-objdump: LLVM 19's v3 implies alu32, which prints
  // narrow loads and stores with w registers.
  d.sti.reset(t->createMCSubtargetInfo(triple, "generic", ""));
  // LLVM decodes the 32-bit atomics (fetch, xchg, cmpxchg) only with the
  // alu32 feature, which also prints narrow stores with w registers: a
  // second decoder, asked only when the first fails, keeps llvm-objdump's
  // text for the rest.
  d.sti32.reset(t->createMCSubtargetInfo(triple, "generic", "+alu32"));
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

namespace {
// BPF_STX | BPF_ATOMIC with imm BPF_LOAD_ACQ (0x100) or BPF_STORE_REL
// (0x110), any size: LLVM 20's text (the kernel's disasm.c prints the same
// up to the offset's spacing). LLVM 19 cannot decode them.
bool decodeAcquireRelease(const uint8_t *p, std::string &text) {
  if ((p[0] & 0xe7) != 0xc3) // class STX, mode ATOMIC, any size
    return false;
  int32_t imm = int32_t(uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 |
                        uint32_t(p[7]) << 24);
  if (imm != 0x100 && imm != 0x110)
    return false;
  static const char *const kSize[4] = {"u32", "u16", "u8", "u64"};
  const char *size = kSize[(p[0] >> 3) & 3];
  unsigned dst = p[1] & 0xf, src = p[1] >> 4;
  int16_t off = int16_t(uint16_t(p[2] | (p[3] << 8)));
  std::string addr = std::string("(") + size + " *)(r";
  addr += std::to_string(imm == 0x100 ? src : dst);
  addr += off < 0 ? " - " + std::to_string(-int32_t(off)) : " + " + std::to_string(off);
  addr += ")";
  if (imm == 0x100)
    text = "r" + std::to_string(dst) + " = load_acquire(" + addr + ")";
  else
    text = "store_release(" + addr + ", r" + std::to_string(src) + ")";
  return true;
}
} // namespace

size_t BpfDecoder::decode(const uint8_t *bytes, size_t avail, std::string *text) {
  // (ld_imm64, the one 16-byte form, is decoded each time)
  const bool cacheable = avail >= 8 && bytes[0] != 0x18;
  uint64_t word = 0;
  if (cacheable) {
    std::memcpy(&word, bytes, 8);
    if (auto it = seen_.find(word); it != seen_.end()) {
      if (text)
        *text = it->second;
      return 8;
    }
  }
  std::string t;
  const size_t size = decodeUncached(bytes, avail, t);
  if (text)
    *text = t;
  if (cacheable && size == 8)
    seen_.emplace(word, std::move(t));
  return size;
}

size_t BpfDecoder::decodeUncached(const uint8_t *bytes, size_t avail, std::string &text) {
  if (avail >= 8 && decodeAcquireRelease(bytes, text))
    return 8;
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

namespace pstack {

std::string Insn::text() const {
  // the instruction's bytes again, from its fields (the loader took them
  // apart losslessly: an ld_imm64's second half is zero but for imm)
  uint8_t b[16] = {};
  b[0] = opcode;
  b[1] = uint8_t((dst & 0xf) | (src << 4));
  b[2] = uint8_t(uint16_t(off));
  b[3] = uint8_t(uint16_t(off) >> 8);
  const uint64_t v = uint64_t(imm);
  for (int i = 0; i < 4; ++i) {
    b[4 + i] = uint8_t(v >> (8 * i));
    b[12 + i] = wide ? uint8_t(v >> (32 + 8 * i)) : 0;
  }
  thread_local detail::BpfDecoder dec; // (each distinct text printed once)
  std::string t;
  if (dec.decode(b, wide ? 16 : 8, &t) == 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "op 0x%x r%u, r%u, off %d, imm %lld", unsigned(opcode),
                  unsigned(dst), unsigned(src), int(off), static_cast<long long>(imm));
    t = buf;
  }
  return t;
}

} // namespace pstack
