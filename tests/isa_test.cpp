// frontend/isa.h: the one vocabulary of BPF instructions — forms, what each
// writes, where it touches memory, where it jumps — against hand-assembled
// instructions and against every instruction of every case build.
#include "tests/support.h"

#include "frontend/isa.h"

#include <gtest/gtest.h>

using namespace pstack;
using isa::Form;

namespace {
Insn I(uint8_t op, uint8_t dst, uint8_t src, int16_t off, int32_t imm, uint32_t index = 0) {
  Insn in;
  in.opcode = op, in.dst = dst, in.src = src, in.off = off, in.imm = imm, in.index = index;
  in.wide = op == 0x18;
  return in;
}
constexpr uint16_t r(unsigned n) { return uint16_t(1u << n); }
} // namespace

TEST(Isa, FormsOfEveryClassAndTheV4Variants) {
  const std::pair<Insn, Form> cases[] = {
      {I(0x0f, 1, 2, 0, 0), Form::Alu},            {I(0x9f, 1, 2, 0, 0), Form::Alu}, // mod64 X
      {I(0x9c, 1, 2, 0, 0), Form::Alu},            {I(0x3f, 1, 2, 1, 0), Form::SignedDivMod},
      {I(0x97, 1, 0, 1, 3), Form::SignedDivMod},   {I(0xbf, 1, 2, 8, 0), Form::MovSx},
      {I(0xbc, 1, 2, 16, 0), Form::MovSx},         {I(0xbf, 1, 2, 32, 0), Form::MovSx},
      {I(0xbc, 1, 2, 32, 0), Form::Unknown},       {I(0xbf, 1, 2, 1, 1), Form::AddrSpaceCast},
      {I(0xbf, 1, 2, 2, 0), Form::Unknown},        {I(0xd4, 1, 0, 0, 16), Form::ByteSwap},
      {I(0xdc, 1, 0, 0, 64), Form::ByteSwap},      {I(0xd7, 1, 0, 0, 64), Form::Bswap},
      {I(0x18, 1, 0, 0, 0), Form::LdImm64},        {I(0x30, 0, 0, 0, 0), Form::LegacyLoad},
      {I(0x79, 1, 10, -8, 0), Form::Load},         {I(0x91, 1, 10, -8, 0), Form::LoadSx},
      {I(0x89, 1, 10, -8, 0), Form::LoadSx},       {I(0x81, 1, 10, -8, 0), Form::LoadSx},
      {I(0x7b, 10, 1, -8, 0), Form::Store},        {I(0x7a, 10, 0, -8, 3), Form::StoreImm},
      {I(0x62, 10, 0, -8, 3), Form::StoreImm},     {I(0xdb, 10, 1, -8, 0xf1), Form::Atomic},
      {I(0xdb, 0, 1, 0, 0x100), Form::LoadAcquire}, {I(0xd3, 1, 2, 0, 0x110), Form::StoreRelease},
      {I(0x05, 0, 0, 3, 0), Form::Ja},             {I(0x06, 0, 0, 0, 70000), Form::Gotol},
      {I(0x15, 1, 0, 2, 0), Form::CondJump},       {I(0x16, 1, 0, 2, 0), Form::CondJump},
      {I(0xe5, 0, 0, 4, 0), Form::MayGoto},        {I(0xe6, 0, 0, 4, 0), Form::Unknown},
      {I(0x85, 0, 0, 0, 12), Form::Call},          {I(0x95, 0, 0, 0, 0), Form::Exit},
  };
  for (auto &[in, want] : cases)
    EXPECT_EQ(isa::formName(isa::form(in)), std::string(isa::formName(want)))
        << std::hex << "opcode 0x" << unsigned(in.opcode) << " off " << std::dec << in.off;
  EXPECT_TRUE(isa::isV4(Form::MayGoto));
  EXPECT_FALSE(isa::isV4(Form::StoreImm)) << "BPF_ST is older than v4 (and emitted)";
}

// What each writes: the emitter saved a register for cmpxchg's src, which
// cmpxchg never writes (it writes r0).
TEST(Isa, WhatEachInstructionWrites) {
  EXPECT_EQ(isa::writes(I(0xdb, 1, 7, 0, 0xf1)), r(0)) << "cmpxchg writes r0, not its source";
  EXPECT_EQ(isa::writes(I(0xdb, 1, 7, 0, 0x01)), r(7)) << "fetch_add writes its source";
  EXPECT_EQ(isa::writes(I(0xdb, 1, 7, 0, 0xe1)), r(7)) << "xchg writes its source";
  EXPECT_EQ(isa::writes(I(0xdb, 1, 7, 0, 0x00)), 0) << "add without fetch writes no register";
  EXPECT_EQ(isa::writes(I(0xdb, 6, 1, 0, 0x100)), r(6)) << "load-acquire writes dst";
  EXPECT_EQ(isa::writes(I(0xdb, 6, 1, 0, 0x110)), 0) << "store-release writes memory only";
  EXPECT_EQ(isa::writes(I(0x7a, 10, 0, -8, 1)), 0);
  EXPECT_EQ(isa::writes(I(0x91, 3, 10, -8, 0)), r(3));
  EXPECT_EQ(isa::writes(I(0x85, 0, 0, 0, 1)), r(0) | r(1) | r(2) | r(3) | r(4) | r(5));
  EXPECT_EQ(isa::writes(I(0xe5, 0, 0, 1, 0)), 0);
}

TEST(Isa, MemoryAccessBaseAndBytes) {
  auto m = isa::memAccess(I(0xdb, 0, 10, -200, 0x100)); // load-acquire through src
  ASSERT_TRUE(m);
  EXPECT_EQ(m->base, 10);
  EXPECT_EQ(m->bytes, 8u);
  EXPECT_FALSE(m->store);
  m = isa::memAccess(I(0xd3, 10, 2, -300, 0x110)); // store-release through dst
  ASSERT_TRUE(m);
  EXPECT_EQ(m->base, 10);
  EXPECT_EQ(m->bytes, 1u);
  EXPECT_TRUE(m->store);
  m = isa::memAccess(I(0x6a, 10, 0, -4, 7)); // u16 store of an immediate
  ASSERT_TRUE(m);
  EXPECT_EQ(m->bytes, 2u);
  m = isa::memAccess(I(0x89, 1, 10, -4, 0)); // s16 load
  ASSERT_TRUE(m);
  EXPECT_EQ(m->base, 10);
  EXPECT_EQ(m->bytes, 2u);
  EXPECT_FALSE(isa::memAccess(I(0xbf, 1, 10, 0, 0)));
}

TEST(Isa, JumpTargets) {
  EXPECT_EQ(isa::jumpTarget(I(0x06, 0, 0, 5, 40000, 10)), std::optional<int64_t>(40011))
      << "gotol jumps by imm, not off";
  EXPECT_EQ(isa::jumpTarget(I(0xe5, 0, 0, 11, 0, 3)), std::optional<int64_t>(15));
  EXPECT_EQ(isa::jumpTarget(I(0x05, 0, 0, -2, 0, 7)), std::optional<int64_t>(6));
  EXPECT_EQ(isa::jumpTarget(I(0x85, 0, 0, 0, 1, 7)), std::nullopt);
}

// Every instruction LLVM decoded, in every build of every case, has a form
// the ISA knows; the v4 forms appear only in the v4 builds.
TEST(Isa, EveryDecodedInstructionOfEveryBuildHasAForm) {
  size_t v4 = 0, total = 0;
  for (const char *dir : {PSTACK_CASES_DIR, PSTACK_CASES_DIR_14V3, PSTACK_CASES_DIR_19V3,
                          PSTACK_CASES_DIR_19V4})
    for (auto &name : test::caseNames()) {
      std::string path = std::string(dir) + "/" + name + ".o";
      if (!std::filesystem::exists(path))
        continue; // v4-only cases have no v3 builds
      Object obj = loadObject(path);
      for (auto &f : obj.functions)
        for (auto &in : f.insns) {
          ++total;
          EXPECT_NE(isa::form(in), Form::Unknown) << path << " " << f.name << " " << in.text();
          bool isV4 = isa::isV4(isa::form(in));
          v4 += isV4;
          if (isV4)
            EXPECT_TRUE(std::string(dir) == PSTACK_CASES_DIR_19V4 ||
                        (std::string(dir) == PSTACK_CASES_DIR &&
                         (name == "v4_forms" || name == "v4_alu" || name == "may_goto")))
                << path << " " << in.text();
        }
    }
  EXPECT_GT(total, 1000u);
  EXPECT_GT(v4, 20u);
}
