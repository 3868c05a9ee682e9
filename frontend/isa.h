// The BPF instruction set, once: named classes, sizes, modes and operations,
// each instruction's form (what the kernel calls it), and what it reads,
// writes and touches in memory. Header-only, no LLVM: the loader, the frame
// analysis, the emitter and the interpreter decode with it; each keeps its
// own semantics (the interpreter and the proofs stay independent
// references of what a form means).
#pragma once

#include "frontend/frontend.h"

#include <cstdint>

namespace pstack::isa {

enum Class : uint8_t { LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05,
                       JMP32 = 0x06, ALU64 = 0x07 };
enum Size : uint8_t { W = 0x00, H = 0x08, B = 0x10, DW = 0x18 };
enum Mode : uint8_t { IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MEMSX = 0x80,
                      ATOMIC = 0xc0 };
enum Op : uint8_t { // ALU operations (opcode & 0xf0)
  ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50, LSH = 0x60,
  RSH = 0x70, NEG = 0x80, MOD = 0x90, XOR = 0xa0, MOV = 0xb0, ARSH = 0xc0, END = 0xd0 };
enum JmpOp : uint8_t { // jump operations (opcode & 0xf0)
  JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40, JNE = 0x50, JSGT = 0x60,
  JSGE = 0x70, CALL = 0x80, EXIT = 0x90, JLT = 0xa0, JLE = 0xb0, JSLT = 0xc0, JSLE = 0xd0,
  JCOND = 0xe0 };
constexpr uint8_t SRC_X = 0x08; // source is a register (else imm)

// Atomic operations (imm of BPF_STX | BPF_ATOMIC).
constexpr int64_t ATOMIC_FETCH = 0x01, ATOMIC_XCHG = 0xe1, ATOMIC_CMPXCHG = 0xf1,
                  LOAD_ACQ = 0x100, STORE_REL = 0x110;

constexpr uint8_t cls(uint8_t opcode) { return opcode & 0x07; }
constexpr uint8_t op(uint8_t opcode) { return opcode & 0xf0; }
constexpr uint8_t mode(uint8_t opcode) { return opcode & 0xe0; }
// Bytes a load, store or atomic of this opcode moves.
constexpr uint32_t accessBytes(uint8_t opcode) {
  switch (opcode & 0x18) {
  case W: return 4;
  case H: return 2;
  case B: return 1;
  default: return 8;
  }
}

// What an instruction is, as the kernel's verifier tells them apart.
enum class Form : uint8_t {
  Alu,           // ALU/ALU64 arithmetic, mov, neg, shifts (not the ones below)
  SignedDivMod,  // sdiv, smod (cpu v4: off 1)
  MovSx,         // movsx (cpu v4: off 8, 16, 32)
  AddrSpaceCast, // ALU64 mov X, off 1 (arena)
  ByteSwap,      // to_le / to_be (ALU | END)
  Bswap,         // unconditional bswap (cpu v4: ALU64 | END)
  LdImm64,       // 16 bytes
  LegacyLoad,    // LD_ABS / LD_IND
  Load,          // LDX MEM
  LoadSx,        // LDX MEMSX (cpu v4)
  Store,         // STX MEM
  StoreImm,      // ST MEM
  Atomic,        // STX ATOMIC: add/or/and/xor, fetch forms, xchg, cmpxchg
  LoadAcquire,   // STX ATOMIC, imm LOAD_ACQ: dst = *(src + off)
  StoreRelease,  // STX ATOMIC, imm STORE_REL: *(dst + off) = src
  Ja,            // goto off
  Gotol,         // JMP32 | JA: goto imm (cpu v4)
  CondJump,      // conditional jumps, 64- and 32-bit
  MayGoto,       // JMP | JCOND: conditional, the kernel decides
  Call,
  Exit,
  Unknown,
};

inline Form form(const Insn &in) {
  const uint8_t c = cls(in.opcode), o = op(in.opcode);
  switch (c) {
  case ALU:
  case ALU64:
    if (o == END)
      return c == ALU64 ? Form::Bswap : Form::ByteSwap;
    if (in.off == 0)
      return o <= END ? Form::Alu : Form::Unknown;
    if ((o == DIV || o == MOD) && in.off == 1)
      return Form::SignedDivMod;
    if (o == MOV && c == ALU64 && (in.opcode & SRC_X) && in.off == 1)
      return Form::AddrSpaceCast;
    if (o == MOV && (in.off == 8 || in.off == 16 || (in.off == 32 && c == ALU64)))
      return Form::MovSx;
    return Form::Unknown;
  case LD:
    return in.opcode == 0x18 ? Form::LdImm64 : Form::LegacyLoad;
  case LDX:
    return mode(in.opcode) == MEM ? Form::Load : mode(in.opcode) == MEMSX ? Form::LoadSx
                                                                          : Form::Unknown;
  case ST:
    return mode(in.opcode) == MEM ? Form::StoreImm : Form::Unknown;
  case STX:
    if (mode(in.opcode) == MEM)
      return Form::Store;
    if (mode(in.opcode) != ATOMIC)
      return Form::Unknown;
    return in.imm == LOAD_ACQ ? Form::LoadAcquire : in.imm == STORE_REL ? Form::StoreRelease
                                                                        : Form::Atomic;
  default: // JMP, JMP32
    if (o == JA)
      return c == JMP ? Form::Ja : Form::Gotol;
    if (o == CALL)
      return c == JMP ? Form::Call : Form::Unknown;
    if (o == EXIT)
      return c == JMP ? Form::Exit : Form::Unknown;
    if (o == JCOND)
      return c == JMP ? Form::MayGoto : Form::Unknown;
    return Form::CondJump;
  }
}

// The name tools print for a form (kernel / LLVM vocabulary).
inline const char *formName(Form f) {
  switch (f) {
  case Form::Alu: return "ALU operation";
  case Form::SignedDivMod: return "signed division/modulo (sdiv/smod, cpu v4)";
  case Form::MovSx: return "sign-extending move (movsx, cpu v4)";
  case Form::AddrSpaceCast: return "addr_space_cast (arena)";
  case Form::ByteSwap: return "byte swap";
  case Form::Bswap: return "unconditional byte swap (bswap, cpu v4)";
  case Form::LdImm64: return "ld_imm64";
  case Form::LegacyLoad: return "legacy packet load (LD_ABS/LD_IND)";
  case Form::Load: return "load";
  case Form::LoadSx: return "sign-extending load (ldsx, cpu v4)";
  case Form::Store: return "store";
  case Form::StoreImm: return "store of an immediate";
  case Form::Atomic: return "atomic";
  case Form::LoadAcquire: return "load-acquire";
  case Form::StoreRelease: return "store-release";
  case Form::Ja: return "goto";
  case Form::Gotol: return "gotol (cpu v4)";
  case Form::CondJump: return "conditional jump";
  case Form::MayGoto: return "may_goto (cpu v4)";
  case Form::Call: return "call";
  case Form::Exit: return "exit";
  case Form::Unknown: return "unknown instruction";
  }
  return "unknown instruction";
}

// Forms of cpu v4 (and newer): what -mcpu=v3 and older never emit.
inline bool isV4(Form f) {
  return f == Form::SignedDivMod || f == Form::MovSx || f == Form::AddrSpaceCast ||
         f == Form::Bswap || f == Form::LoadSx || f == Form::LoadAcquire ||
         f == Form::StoreRelease || f == Form::Gotol || f == Form::MayGoto;
}

// Registers an instruction writes, as a bit mask (bit n: rn). Calls write r0
// and clobber r1-r5. An atomic with BPF_FETCH writes its old value to src —
// except cmpxchg, which writes r0; a load-acquire writes dst.
inline uint16_t writes(const Insn &in) {
  const auto bit = [](unsigned r) { return uint16_t(r <= 10 ? 1u << r : 0); };
  switch (form(in)) {
  case Form::Alu: case Form::SignedDivMod: case Form::MovSx: case Form::AddrSpaceCast:
  case Form::ByteSwap: case Form::Bswap: case Form::LdImm64: case Form::Load:
  case Form::LoadSx: case Form::LoadAcquire:
    return bit(in.dst);
  case Form::LegacyLoad:
    return bit(0);
  case Form::Atomic:
    if (in.imm == ATOMIC_CMPXCHG)
      return bit(0);
    return (in.imm & ATOMIC_FETCH) ? bit(in.src) : 0;
  case Form::Call:
    return 0x3f; // r0 result, r1-r5 clobbered
  default:
    return 0;
  }
}

// The register whose value (plus off) an instruction addresses memory
// through, and how many bytes: loads read through src, stores, atomics and
// store-release write through dst, load-acquire reads through src.
struct MemAccess {
  uint8_t base = 0;
  uint32_t bytes = 0;
  bool store = false;
};
inline std::optional<MemAccess> memAccess(const Insn &in) {
  const uint32_t n = accessBytes(in.opcode);
  switch (form(in)) {
  case Form::Load: case Form::LoadSx: case Form::LoadAcquire:
    return MemAccess{in.src, n, false};
  case Form::Store: case Form::StoreImm: case Form::StoreRelease: case Form::Atomic:
    return MemAccess{in.dst, n, true};
  default:
    return std::nullopt;
  }
}

// Jump target (instruction index) of a goto, gotol, conditional jump or
// may_goto: gotol's offset is its 32-bit imm, every other jump's is off.
inline std::optional<int64_t> jumpTarget(const Insn &in) {
  switch (form(in)) {
  case Form::Gotol:
    return int64_t(in.index) + 1 + int32_t(in.imm);
  case Form::Ja: case Form::CondJump: case Form::MayGoto:
    return int64_t(in.index) + 1 + in.off;
  default:
    return std::nullopt;
  }
}

} // namespace pstack::isa
