// Deliberately broken inputs, derived at test time from an object clang
// built: each must give an InputError naming the file and the reason —
// never a crash, an abort inside LLVM, or a silent success.
#include "tests/support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace pstack;

namespace {

struct Shdr {
  size_t headerAt = 0; // file offset of the section header
  uint64_t offset = 0, size = 0;
  uint32_t type = 0;
  std::string name;
};

template <typename T> T get(const std::vector<uint8_t> &b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
template <typename T> void put(std::vector<uint8_t> &b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

// A minimal ELF64 section-header reader, just enough to aim the patches.
std::vector<Shdr> sections(const std::vector<uint8_t> &b) {
  uint64_t shoff = get<uint64_t>(b, 0x28);
  uint16_t shentsize = get<uint16_t>(b, 0x3a), shnum = get<uint16_t>(b, 0x3c),
           shstrndx = get<uint16_t>(b, 0x3e);
  std::vector<Shdr> out(shnum);
  for (size_t i = 0; i < shnum; ++i) {
    size_t h = shoff + i * shentsize;
    out[i].headerAt = h;
    out[i].type = get<uint32_t>(b, h + 4);
    out[i].offset = get<uint64_t>(b, h + 0x18);
    out[i].size = get<uint64_t>(b, h + 0x20);
  }
  uint64_t strOff = out[shstrndx].offset;
  for (size_t i = 0; i < shnum; ++i)
    out[i].name = reinterpret_cast<const char *>(b.data() + strOff + get<uint32_t>(b, out[i].headerAt));
  return out;
}

const Shdr &section(const std::vector<Shdr> &s, const std::string &name) {
  for (auto &x : s)
    if (x.name == name)
      return x;
  throw std::runtime_error("no section " + name);
}

std::string loadError(const std::vector<uint8_t> &bytes, const std::string &name = "broken.o") {
  try {
    loadObjectFromMemory(name, bytes);
  } catch (const InputError &e) {
    EXPECT_EQ(e.file(), name);
    return e.what();
  }
  return "";
}

std::vector<uint8_t> recursion() { return test::readFile(test::casePath("recursion")); }

} // namespace

TEST(BadInput, NotElf) {
  std::string msg = loadError({'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_NE(msg.find("broken.o"), std::string::npos);
  EXPECT_NE(msg.find("not an ELF file"), std::string::npos) << msg;
  EXPECT_NE(loadError({}).find("not an ELF file"), std::string::npos);
}

TEST(BadInput, MissingFile) {
  try {
    loadObject("/nonexistent/x.o");
    FAIL() << "no error";
  } catch (const InputError &e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.o"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos);
  }
}

TEST(BadInput, Truncated) {
  auto b = recursion();
  for (size_t n : {16ul, 64ul, 200ul, b.size() / 2, b.size() - 1}) {
    std::vector<uint8_t> t(b.begin(), b.begin() + long(n));
    EXPECT_FALSE(loadError(t).empty()) << "truncated to " << n;
  }
}

TEST(BadInput, WrongMachine) {
  auto b = recursion();
  put<uint16_t>(b, 18, 62); // EM_X86_64
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("machine is 62, not EM_BPF"), std::string::npos) << msg;
}

TEST(BadInput, EmNoneIsAccepted) {
  auto b = recursion();
  put<uint16_t>(b, 18, 0); // old LLVM wrote EM_NONE; libbpf accepts it
  EXPECT_EQ(loadError(b), "");
}

TEST(BadInput, BigEndian) {
  auto b = recursion();
  b[5] = 2; // ELFDATA2MSB
  EXPECT_NE(loadError(b).find("big-endian"), std::string::npos);
}

TEST(BadInput, Elf32) {
  auto b = recursion();
  b[4] = 1; // ELFCLASS32
  EXPECT_NE(loadError(b).find("not a 64-bit ELF"), std::string::npos);
}

TEST(BadInput, RelocationNamesMissingSymbol) {
  auto b = recursion();
  auto s = sections(b);
  const Shdr &rel = section(s, ".rel.text");
  // Elf64_Rel { r_offset; r_info = sym << 32 | type }
  put<uint64_t>(b, rel.offset + 8, (uint64_t(9999) << 32) | 1);
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("names symbol 9999, which does not exist"), std::string::npos) << msg;
}

TEST(BadInput, RelocationOutsideItsSection) {
  auto b = recursion();
  auto s = sections(b);
  const Shdr &rel = section(s, ".rel.text");
  put<uint64_t>(b, rel.offset, 0x100000);
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("outside .text"), std::string::npos) << msg;
}

TEST(BadInput, UndecodableInstructionNamesSectionAndOffset) {
  auto b = recursion();
  auto s = sections(b);
  const Shdr &prog = section(s, "raw_tp/sys_enter");
  b[prog.offset + 8 * 2] = 0xff; // not a BPF opcode
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("section raw_tp/sys_enter offset 0x10"), std::string::npos) << msg;
  EXPECT_NE(msg.find("opcode 0xff"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bytes ff 02 00 00 00 00 00 00"), std::string::npos) << msg;
}

// Load-acquire and store-release (BPF_STX | BPF_ATOMIC, imm BPF_LOAD_ACQ
// 0x100 / BPF_STORE_REL 0x110): LLVM 20+ emits them, LLVM 19 cannot decode
// them, so the frontend does. No compiler here emits them: hand-assembled
// into subprog1 of recursion.o (frame 64), over `r0 = *(u8 *)(r10 - 64)`
// (insn 8) and `*(u8 *)(r10 - 64) = r2` (insn 3).
namespace {
void putInsn(std::vector<uint8_t> &b, size_t at, uint8_t op, uint8_t dst, uint8_t src,
             int16_t off, int32_t imm) {
  b[at] = op;
  b[at + 1] = uint8_t(dst | src << 4);
  put<int16_t>(b, at + 2, off);
  put<int32_t>(b, at + 4, imm);
}
} // namespace

TEST(AcquireRelease, DecodedByHandWithTheirStackAccesses) {
  auto b = recursion();
  auto s = sections(b);
  const Shdr &text = section(s, ".text");
  putInsn(b, text.offset + 8 * 8, 0xdb, 0, 10, -200, 0x100); // u64 load-acquire
  Object obj = loadObjectFromMemory("acq.o", b);
  const Function *f = obj.function("subprog1");
  const Insn *acq = f->insnAt(8);
  ASSERT_NE(acq, nullptr);
  EXPECT_EQ(acq->text(), "r0 = load_acquire((u64 *)(r10 - 200))");
  EXPECT_EQ(f->frame.bytes, 200u) << "the load-acquire reads 8 bytes at r10 - 200";
  EXPECT_TRUE(f->frame.bounded);

  putInsn(b, text.offset + 3 * 8, 0xd3, 10, 2, -300, 0x110); // u8 store-release
  obj = loadObjectFromMemory("rel.o", b);
  f = obj.function("subprog1");
  EXPECT_EQ(f->insnAt(3)->text(), "store_release((u8 *)(r10 - 300), r2)");
  EXPECT_EQ(f->frame.bytes, 304u) << "one byte at r10 - 300, rounded up to 8";

  // every size, and positive offsets through another register
  putInsn(b, text.offset + 3 * 8, 0xcb, 1, 3, 6, 0x110);
  putInsn(b, text.offset + 8 * 8, 0xc3, 0, 1, 4, 0x100);
  obj = loadObjectFromMemory("sizes.o", b);
  f = obj.function("subprog1");
  EXPECT_EQ(f->insnAt(3)->text(), "store_release((u16 *)(r1 + 6), r3)");
  EXPECT_EQ(f->insnAt(8)->text(), "r0 = load_acquire((u32 *)(r1 + 4))");
  EXPECT_EQ(f->frame.bytes, 0u) << "through r1 (subprog1's context argument): no access below r10 is left";
}

TEST(AcquireRelease, LoadAcquireIntoR10IsRejected) {
  auto b = recursion();
  auto s = sections(b);
  putInsn(b, section(s, ".text").offset + 8 * 8, 0xdb, 10, 1, 0, 0x100);
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("section .text offset 0x40"), std::string::npos) << msg;
  EXPECT_NE(msg.find("`r10 = load_acquire((u64 *)(r1 + 0))` writes r10"), std::string::npos) << msg;
}

// An atomic with an imm the kernel does not define is still undecodable.
TEST(AcquireRelease, OtherAtomicImmediatesStayUndecodable) {
  auto b = recursion();
  auto s = sections(b);
  putInsn(b, section(s, ".text").offset + 8 * 8, 0xdb, 0, 10, -8, 0x120);
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("undecodable BPF instruction (opcode 0xdb, bytes db a0 f8 ff 20 01 00 00)"),
            std::string::npos) << msg;
}

TEST(BadInput, JumpOutsideTheFunction) {
  auto b = recursion();
  auto s = sections(b);
  const Shdr &prog = section(s, "raw_tp/sys_enter");
  size_t at = prog.offset + 8 * 2; // r2 = 0  ->  goto +100
  b[at] = 0x05;
  b[at + 1] = 0;
  put<int16_t>(b, at + 2, 100);
  put<int32_t>(b, at + 4, 0);
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("lands outside the function"), std::string::npos) << msg;
}

TEST(BadInput, SectionBeyondEndOfFile) {
  auto b = recursion();
  auto s = sections(b);
  put<uint64_t>(b, section(s, "raw_tp/sys_enter").headerAt + 0x18, 0x7fffffff);
  EXPECT_FALSE(loadError(b).empty());
}

TEST(BadInput, ProgArraySlotAgainstNonFunction) {
  auto b = recursion();
  auto s = sections(b);
  const Shdr &rel = section(s, ".rel.maps");
  // point the slot's relocation at symbol 0 (the null symbol)
  put<uint64_t>(b, rel.offset + 8, (uint64_t(0) << 32) | 2);
  std::string msg = loadError(b);
  EXPECT_NE(msg.find("which is not a function"), std::string::npos) << msg;
}

// Random byte flips over every case: each object either loads or gives an
// InputError; anything else (crash, other exception) fails the test.
TEST(BadInput, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(1234);
  for (const auto &name : test::caseNames()) {
    auto orig = test::readFile(test::casePath(name));
    for (int i = 0; i < 150; ++i) {
      auto b = orig;
      int flips = 1 + int(rng() % 4);
      for (int k = 0; k < flips; ++k)
        b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8));
      try {
        Object o = loadObjectFromMemory(name, b);
        CallGraph g(o);
        (void)g.cycles();
        for (size_t p = 0; p < o.programs.size(); ++p)
          (void)g.deepestChain(p, 16);
      } catch (const InputError &) {
      }
    }
  }
}

// A call to a function the object neither defines nor declares __ksym
// (compiled from tests/data/undefined_call.c): an error naming the symbol
// and the instruction, never a program called safe.
TEST(BadInput, CallToAnUndefinedFunctionIsAnError) {
  try {
    loadObject(PSTACK_UNDEFINED_CALL_OBJ);
    FAIL() << "loaded an object that calls an undefined function";
  } catch (const InputError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("call to `helper_elsewhere`"), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not define"), std::string::npos) << msg;
    EXPECT_NE(msg.find("section xdp"), std::string::npos) << msg;
  }
}

// Kfuncs are externs too, but declared __ksym: they stay calls (cases/kfuncs.c).
TEST(BadInput, KsymExternsAreKfuncsNotErrors) {
  Object o = loadObject(test::casePath("kfuncs"));
  size_t kfuncs = 0;
  for (auto &f : o.functions)
    for (auto &c : f.calls)
      kfuncs += c.kind == CallKind::Kfunc;
  EXPECT_GT(kfuncs, 0u);
}
