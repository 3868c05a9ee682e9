// Private to jitgen/: an x86-64 encoder for the instructions the JIT emits.
// Registers are numbered as the hardware numbers them (rax 0 ... r15 15).
#pragma once

#include <cstdint>
#include <vector>

namespace pstack::jit {

enum Reg : uint8_t {
  RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7,
  R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15
};

// Condition codes (the low nibble of Jcc / SETcc).
enum Cond : uint8_t {
  CC_B = 0x2, CC_AE = 0x3, CC_E = 0x4, CC_NE = 0x5, CC_BE = 0x6, CC_A = 0x7,
  CC_S = 0x8, CC_NS = 0x9, CC_L = 0xc, CC_GE = 0xd, CC_LE = 0xe, CC_G = 0xf
};

// ALU operation numbers: the /digit of 81/83 and (x << 3) | 1 the r/m,reg form.
enum AluOp : uint8_t { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };

class X86 {
public:
  std::vector<uint8_t> b;
  uint32_t pos() const { return uint32_t(b.size()); }

  void byte(uint8_t x) { b.push_back(x); }
  void imm32(int32_t v) {
    for (int i = 0; i < 4; ++i)
      b.push_back(uint8_t(uint32_t(v) >> (8 * i)));
  }
  void imm64(uint64_t v) {
    for (int i = 0; i < 8; ++i)
      b.push_back(uint8_t(v >> (8 * i)));
  }
  void patch32(uint32_t at, int32_t v) {
    for (int i = 0; i < 4; ++i)
      b[at + i] = uint8_t(uint32_t(v) >> (8 * i));
  }

  // REX with W, and R/X/B from the registers' high bits; `force` for the
  // byte registers spl/bpl/sil/dil.
  void rex(bool w, uint8_t reg, uint8_t index, uint8_t base, bool force = false) {
    uint8_t r = uint8_t(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) |
                        ((base & 8) ? 1 : 0));
    if (r != 0x40 || force)
      byte(r);
  }
  void modrmReg(uint8_t reg, uint8_t rm) { byte(uint8_t(0xc0 | ((reg & 7) << 3) | (rm & 7))); }
  // [base + disp]: disp8 when it fits, else disp32; rsp/r12 need a SIB.
  void modrmMem(uint8_t reg, uint8_t base, int32_t disp) {
    bool d8 = disp >= -128 && disp <= 127;
    bool none = disp == 0 && (base & 7) != RBP;
    uint8_t mod = none ? 0 : d8 ? 1 : 2;
    byte(uint8_t((mod << 6) | ((reg & 7) << 3) | (base & 7)));
    if ((base & 7) == RSP)
      byte(0x24);
    if (mod == 1)
      byte(uint8_t(int8_t(disp)));
    else if (mod == 2)
      imm32(disp);
  }

  // op r/m64(dst), r64(src)
  void aluRR(bool w, uint8_t opByte, uint8_t dst, uint8_t src) {
    rex(w, src, 0, dst);
    byte(opByte);
    modrmReg(src, dst);
  }
  void movRR(bool w, uint8_t dst, uint8_t src) { aluRR(w, 0x89, dst, src); }
  void alu(bool w, AluOp op, uint8_t dst, uint8_t src) { aluRR(w, uint8_t((op << 3) | 1), dst, src); }
  void aluImm(bool w, AluOp op, uint8_t dst, int32_t imm) {
    rex(w, 0, 0, dst);
    if (imm >= -128 && imm <= 127) {
      byte(0x83);
      modrmReg(op, dst);
      byte(uint8_t(int8_t(imm)));
    } else if (dst == RAX) {
      byte(uint8_t((op << 3) | 5));
      imm32(imm);
    } else {
      byte(0x81);
      modrmReg(op, dst);
      imm32(imm);
    }
  }
  void testRR(bool w, uint8_t a, uint8_t b2) { aluRR(w, 0x85, a, b2); }
  void testImm(bool w, uint8_t r, int32_t imm) {
    rex(w, 0, 0, r);
    if (r == RAX) {
      byte(0xa9);
    } else {
      byte(0xf7);
      modrmReg(0, r);
    }
    imm32(imm);
  }
  // dst = imm, as the kernel chooses: xor for 0, mov r32 for what
  // zero-extends, mov r/m64 sign-extended otherwise, movabs for the rest.
  void movImm(bool w, uint8_t dst, int64_t imm) {
    if (!w)
      imm = int64_t(uint32_t(imm));
    if (imm == 0) {
      alu(false, ALU_XOR, dst, dst);
    } else if (imm > 0 && imm <= int64_t(UINT32_MAX)) {
      rex(false, 0, 0, dst);
      byte(uint8_t(0xb8 + (dst & 7)));
      imm32(int32_t(uint32_t(imm)));
    } else if (imm >= INT32_MIN && imm <= INT32_MAX) {
      rex(true, 0, 0, dst);
      byte(0xc7);
      modrmReg(0, dst);
      imm32(int32_t(imm));
    } else {
      movabs(dst, uint64_t(imm));
    }
  }
  // returns the offset of the imm64 field
  uint32_t movabs(uint8_t dst, uint64_t imm) {
    rex(true, 0, 0, dst);
    byte(uint8_t(0xb8 + (dst & 7)));
    uint32_t at = pos();
    imm64(imm);
    return at;
  }
  void imulRR(bool w, uint8_t dst, uint8_t src) {
    rex(w, dst, 0, src);
    byte(0x0f);
    byte(0xaf);
    modrmReg(dst, src);
  }
  void imulImm(bool w, uint8_t dst, int32_t imm) {
    rex(w, dst, 0, dst);
    if (imm >= -128 && imm <= 127) {
      byte(0x6b);
      modrmReg(dst, dst);
      byte(uint8_t(int8_t(imm)));
    } else {
      byte(0x69);
      modrmReg(dst, dst);
      imm32(imm);
    }
  }
  // F7 /digit r: not 2, neg 3, mul 4, div 6, idiv 7
  void grp3(bool w, uint8_t digit, uint8_t r) {
    rex(w, 0, 0, r);
    byte(0xf7);
    modrmReg(digit, r);
  }
  // shifts: /4 shl, /5 shr, /7 sar, /1 ror
  void shiftImm(bool w, uint8_t digit, uint8_t r, uint8_t n) {
    rex(w, 0, 0, r);
    if (n == 1) {
      byte(0xd1);
      modrmReg(digit, r);
    } else {
      byte(0xc1);
      modrmReg(digit, r);
      byte(n);
    }
  }
  void shiftCl(bool w, uint8_t digit, uint8_t r) {
    rex(w, 0, 0, r);
    byte(0xd3);
    modrmReg(digit, r);
  }
  void ror16(uint8_t r, uint8_t n) {
    byte(0x66);
    rex(false, 0, 0, r);
    byte(0xc1);
    modrmReg(1, r);
    byte(n);
  }
  void movzx16(uint8_t dst, uint8_t src) { // movzx r32, r16
    rex(false, dst, 0, src);
    byte(0x0f);
    byte(0xb7);
    modrmReg(dst, src);
  }
  void bswap(bool w, uint8_t r) {
    rex(w, 0, 0, r);
    byte(0x0f);
    byte(uint8_t(0xc8 + (r & 7)));
  }
  // movsx dst, src: the low `from` bits (8, 16, 32) sign-extended to 64
  // bits (w) or to 32 and zero-extended (not w; from 8 or 16). Byte
  // sources 4-7 need a REX (sil/dil, not ah/bh).
  void movsx(bool w, unsigned from, uint8_t dst, uint8_t src) {
    rex(w, dst, 0, src, from == 8 && src >= 4 && src < 8);
    if (from == 32) {
      byte(0x63); // movsxd
    } else {
      byte(0x0f);
      byte(from == 8 ? 0xbe : 0xbf);
    }
    modrmReg(dst, src);
  }
  // loads, sign-extending to 64 bits: size 1, 2, 4
  void loadSx(uint8_t size, uint8_t dst, uint8_t base, int32_t disp) {
    rex(true, dst, 0, base);
    if (size == 4) {
      byte(0x63);
    } else {
      byte(0x0f);
      byte(size == 1 ? 0xbe : 0xbf);
    }
    modrmMem(dst, base, disp);
  }
  // cqo (w) / cdq: rdx:rax = sign-extended rax (edx:eax from eax)
  void cqo(bool w) {
    if (w)
      byte(0x48);
    byte(0x99);
  }
  // loads, zero-extending: size 1, 2, 4, 8
  void load(uint8_t size, uint8_t dst, uint8_t base, int32_t disp) {
    switch (size) {
    case 1: rex(true, dst, 0, base); byte(0x0f); byte(0xb6); break;
    case 2: rex(true, dst, 0, base); byte(0x0f); byte(0xb7); break;
    case 4: rex(false, dst, 0, base); byte(0x8b); break;
    default: rex(true, dst, 0, base); byte(0x8b); break;
    }
    modrmMem(dst, base, disp);
  }
  void store(uint8_t size, uint8_t base, int32_t disp, uint8_t src) {
    if (size == 2)
      byte(0x66);
    rex(size == 8, src, 0, base, size == 1 && src >= 4 && src < 8);
    byte(size == 1 ? 0x88 : 0x89);
    modrmMem(src, base, disp);
  }
  void storeImm(uint8_t size, uint8_t base, int32_t disp, int32_t imm) {
    if (size == 2)
      byte(0x66);
    rex(size == 8, 0, 0, base);
    byte(size == 1 ? 0xc6 : 0xc7);
    modrmMem(0, base, disp);
    if (size == 1)
      byte(uint8_t(imm));
    else if (size == 2) {
      byte(uint8_t(imm));
      byte(uint8_t(imm >> 8));
    } else
      imm32(imm);
  }
  // lock op [base+disp], src   (op: 0x01 add, 0x09 or, 0x21 and, 0x31 xor)
  void lockAlu(bool w, uint8_t opByte, uint8_t base, int32_t disp, uint8_t src) {
    byte(0xf0);
    rex(w, src, 0, base);
    byte(opByte);
    modrmMem(src, base, disp);
  }
  void lockXadd(bool w, uint8_t base, int32_t disp, uint8_t src) {
    byte(0xf0);
    rex(w, src, 0, base);
    byte(0x0f);
    byte(0xc1);
    modrmMem(src, base, disp);
  }
  void xchg(bool w, uint8_t base, int32_t disp, uint8_t src) {
    rex(w, src, 0, base);
    byte(0x87);
    modrmMem(src, base, disp);
  }
  void lockCmpxchg(bool w, uint8_t base, int32_t disp, uint8_t src) {
    byte(0xf0);
    rex(w, src, 0, base);
    byte(0x0f);
    byte(0xb1);
    modrmMem(src, base, disp);
  }
  void lea(uint8_t dst, uint8_t base, int32_t disp) {
    rex(true, dst, 0, base);
    byte(0x8d);
    modrmMem(dst, base, disp);
  }
  void push(uint8_t r) {
    rex(false, 0, 0, r);
    byte(uint8_t(0x50 + (r & 7)));
  }
  void pop(uint8_t r) {
    rex(false, 0, 0, r);
    byte(uint8_t(0x58 + (r & 7)));
  }
  // returns the offset of the rel32 field
  uint32_t jcc(Cond c) {
    byte(0x0f);
    byte(uint8_t(0x80 | c));
    uint32_t at = pos();
    imm32(0);
    return at;
  }
  uint32_t jmp() {
    byte(0xe9);
    uint32_t at = pos();
    imm32(0);
    return at;
  }
  uint32_t call() {
    byte(0xe8);
    uint32_t at = pos();
    imm32(0);
    return at;
  }
  // points the rel32 at `at` to `target`
  void bind(uint32_t at, uint32_t target) { patch32(at, int32_t(target) - int32_t(at + 4)); }
  void jmpReg(uint8_t r) {
    rex(false, 0, 0, r);
    byte(0xff);
    modrmReg(4, r);
  }
  void nop5() { b.insert(b.end(), {0x0f, 0x1f, 0x44, 0x00, 0x00}); }
  void nop3() { b.insert(b.end(), {0x0f, 0x1f, 0x00}); }
  void leave() { byte(0xc9); }
  void ret() { byte(0xc3); }
  // add r, gs:[disp32]: r += this CPU's per-CPU offset
  void addGs(uint8_t r, int32_t disp) {
    byte(0x65);
    rex(true, r, 0, 0);
    byte(0x03);
    byte(uint8_t(((r & 7) << 3) | 4));
    byte(0x25);
    imm32(disp);
  }
};

// Where `mov rX, gs:[kThisCpuOff]` finds this CPU's per-CPU offset (the
// harness puts it there; a kernel links its own this_cpu_off).
constexpr int32_t kThisCpuOff = 0x28;

} // namespace pstack::jit
