// Decoding with LLVM MC: exact kernel-syntax text and raw fields.
#include "tests/support.h"

#include <gtest/gtest.h>

using namespace pstack;

TEST(Decode, RecursionSubprogListing) {
  Object obj = test::loadCase("recursion");
  const Function *f = obj.function("subprog1");
  ASSERT_NE(f, nullptr);
  // llvm-objdump-14 -d shows the same text
  std::vector<std::string> want = {"r2 = r10", "r2 += -64", "r2 = 0", "*(u8 *)(r10 - 64) = r2",
                                   "r2 = 0 ll", "r3 = 0", "call 12"};
  ASSERT_GE(f->insns.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(f->insns[i].text(), want[i]) << i;
}

TEST(Decode, LdImm64IsOneSixteenByteInstruction) {
  Object obj = test::loadCase("recursion");
  const Function *f = obj.function("subprog1");
  const Insn *ld = f->insnAt(4);
  ASSERT_NE(ld, nullptr);
  EXPECT_TRUE(ld->wide);
  EXPECT_EQ(ld->opcode, 0x18);
  EXPECT_EQ(ld->dst, 2);
  EXPECT_EQ(f->insnAt(5), nullptr) << "slot 5 is the second half of the ld_imm64";
  const Insn *call = f->insnAt(7);
  ASSERT_NE(call, nullptr);
  EXPECT_TRUE(call->isCall());
  EXPECT_EQ(call->imm, 12);
  EXPECT_EQ(call->src, 0);
}

TEST(Decode, RawFieldsOfAStore) {
  Object obj = test::loadCase("recursion");
  const Insn &st = obj.function("entry")->insns.at(3); // *(u8 *)(r10 - 96) = r2
  EXPECT_EQ(st.opcode, 0x73); // BPF_STX | BPF_MEM | BPF_B
  EXPECT_EQ(st.dst, 10);
  EXPECT_EQ(st.src, 2);
  EXPECT_EQ(st.off, -96);
}

TEST(Decode, CallsAreClassifiedByKind) {
  Object obj = test::loadCase("recursion");
  const Function *entry = obj.function("entry");
  ASSERT_EQ(entry->calls.size(), 1u);
  EXPECT_EQ(entry->calls[0].kind, CallKind::Local);
  EXPECT_EQ(entry->calls[0].target, "subprog1");
  const Function *sub = obj.function("subprog1");
  ASSERT_EQ(sub->calls.size(), 1u);
  EXPECT_EQ(sub->calls[0].kind, CallKind::Helper);
  EXPECT_EQ(sub->calls[0].helper, 12);
}

TEST(ProgTypes, LibbpfSectionNames) {
  EXPECT_EQ(progTypeFromSection("kprobe/do_nanosleep"), ProgType::Kprobe);
  EXPECT_EQ(progTypeFromSection("kretprobe/x"), ProgType::Kprobe);
  EXPECT_EQ(progTypeFromSection("uprobe/./a:f"), ProgType::Kprobe);
  EXPECT_EQ(progTypeFromSection("tracepoint/syscalls/sys_enter_open"), ProgType::Tracepoint);
  EXPECT_EQ(progTypeFromSection("tp/syscalls/sys_enter_open"), ProgType::Tracepoint);
  EXPECT_EQ(progTypeFromSection("raw_tp/sys_enter"), ProgType::RawTracepoint);
  EXPECT_EQ(progTypeFromSection("raw_tracepoint/sys_enter"), ProgType::RawTracepoint);
  EXPECT_EQ(progTypeFromSection("tp_btf/sched_switch"), ProgType::Tracing);
  EXPECT_EQ(progTypeFromSection("fentry/do_unlinkat"), ProgType::Tracing);
  EXPECT_EQ(progTypeFromSection("fexit/do_unlinkat"), ProgType::Tracing);
  EXPECT_EQ(progTypeFromSection("fmod_ret/x"), ProgType::Tracing);
  EXPECT_EQ(progTypeFromSection("iter/task"), ProgType::Iter);
  EXPECT_EQ(progTypeFromSection("iter.s/task"), ProgType::Iter);
  EXPECT_EQ(progTypeFromSection("raw_tp.w/sys_enter"), ProgType::RawTracepointWritable);
  EXPECT_EQ(progTypeFromSection("raw_tracepoint.w/x"), ProgType::RawTracepointWritable);
  EXPECT_EQ(progTypeFromSection("lsm/file_open"), ProgType::Lsm);
  EXPECT_EQ(progTypeFromSection("struct_ops/enqueue"), ProgType::StructOps);
  EXPECT_EQ(progTypeFromSection("perf_event"), ProgType::PerfEvent);
  EXPECT_EQ(progTypeFromSection("xdp"), ProgType::Xdp);
  EXPECT_EQ(progTypeFromSection("xdp.frags"), ProgType::Xdp);
  EXPECT_EQ(progTypeFromSection("tc"), ProgType::SchedCls);
  EXPECT_EQ(progTypeFromSection("classifier"), ProgType::SchedCls);
  EXPECT_EQ(progTypeFromSection("cgroup_skb/ingress"), ProgType::CgroupSkb);
  EXPECT_EQ(progTypeFromSection("socket"), ProgType::SocketFilter);
  EXPECT_EQ(progTypeFromSection("socket/3"), ProgType::SocketFilter); // samples/bpf style
  EXPECT_EQ(progTypeFromSection("sk_skb/stream_verdict"), ProgType::SkSkb);
  EXPECT_EQ(progTypeFromSection("sk_msg"), ProgType::SkMsg);
  EXPECT_EQ(progTypeFromSection("sockops"), ProgType::SockOps);
  EXPECT_EQ(progTypeFromSection("2/1"), ProgType::Unknown);       // iproute2 tail-call sections
  EXPECT_EQ(progTypeFromSection("xdp_prog"), ProgType::Xdp);       // pre-1.0 bare prefix
  EXPECT_EQ(progTypeFromSection("from-container"), ProgType::Unknown);
}

// ------------------------------------------------------------- cpu v4
// v4_forms.o and may_goto.o (clang-19 -mcpu=v4): every form decodes, with
// llvm-objdump-19's text (decimal immediates) and the raw fields.

namespace {
const Insn &insnOf(const Object &obj, const std::string &fn, uint32_t index) {
  const Function *f = obj.function(fn);
  if (!f || !f->insnAt(index))
    throw std::runtime_error(fn + " has no instruction " + std::to_string(index));
  return *f->insnAt(index);
}
} // namespace

TEST(DecodeV4, ArithmeticForms) {
  Object obj = test::loadCase("v4_forms");
  struct Want {
    uint32_t index;
    const char *text;
    uint8_t opcode;
    int16_t off;
    int64_t imm;
  };
  const Want want[] = {
      {1, "r3 = bswap64 r3", 0xd7, 0, 64},      // BPF_ALU64 | BPF_END
      {2, "r0 = (s16)r1", 0xbf, 16, 0},         // movsx
      {4, "r3 = (s8)r2", 0xbf, 8, 0},
      {10, "r3 %= r2", 0x9f, 0, 0},             // mod64 X
      {13, "w3 %= w2", 0x9c, 0, 0},             // mod32 X
      {16, "r3 s/= r2", 0x3f, 1, 0},            // sdiv
      {21, "*(u8 *)(r10 - 48) = 0", 0x72, -48, 0}, // BPF_ST
      {22, "r1 = *(s8 *)(r10 - 48)", 0x91, -48, 0}, // ldsx
  };
  for (auto &w : want) {
    const Insn &in = insnOf(obj, "arith", w.index);
    EXPECT_EQ(in.text(), w.text) << w.index;
    EXPECT_EQ(in.opcode, w.opcode) << w.text;
    EXPECT_EQ(in.off, w.off) << w.text;
    EXPECT_EQ(in.imm, w.imm) << w.text;
  }
}

TEST(DecodeV4, StoresOfImmediatesLoadsJumpsAndCasts) {
  Object obj = test::loadCase("v4_forms");
  EXPECT_EQ(insnOf(obj, "v4_arith", 1).text(), "*(u64 *)(r10 - 16) = -7");
  EXPECT_EQ(insnOf(obj, "v4_arith", 1).opcode, 0x7a);
  EXPECT_EQ(insnOf(obj, "v4_loads", 1).text(), "*(u16 *)(r10 - 4) = 65534");
  EXPECT_EQ(insnOf(obj, "v4_loads", 1).opcode, 0x6a);
  EXPECT_EQ(insnOf(obj, "v4_loads", 2).text(), "*(u32 *)(r10 - 8) = -3");
  EXPECT_EQ(insnOf(obj, "v4_loads", 2).opcode, 0x62);
  EXPECT_EQ(insnOf(obj, "v4_loads", 4).text(), "r0 = *(s16 *)(r10 - 4)");
  EXPECT_EQ(insnOf(obj, "v4_loads", 4).opcode, 0x89);
  const Insn &gotol = insnOf(obj, "v4_jumps", 5);
  EXPECT_EQ(gotol.text(), "gotol +1");
  EXPECT_EQ(gotol.opcode, 0x06); // BPF_JMP32 | BPF_JA: the offset is imm
  EXPECT_EQ(gotol.imm, 1);
  EXPECT_EQ(gotol.off, 0);
  const Insn &cast = insnOf(obj, "v4_arena", 4);
  EXPECT_EQ(cast.text(), "r2 = addr_space_cast(r2, 0, 1)");
  EXPECT_EQ(cast.opcode, 0xbf);
  EXPECT_EQ(cast.off, 1);
  EXPECT_EQ(cast.imm, 1); // dst address space 0 << 16 | src address space 1
  Object mg = test::loadCase("may_goto");
  const Insn &may = insnOf(mg, "mg_loop", 10);
  EXPECT_EQ(may.text(), "may_goto +11");
  EXPECT_EQ(may.opcode, 0xe5); // BPF_JMP | BPF_JCOND
  EXPECT_EQ(may.off, 11);
}

// Jump targets of the v4 jumps: gotol's 32-bit offset lands after the
// store it skips (the frame still counts that store: both paths are
// live), may_goto falls through or leaves the loop.
TEST(DecodeV4, FramesThroughGotolAndMayGoto) {
  Object obj = test::loadCase("v4_forms");
  const Function *j = obj.function("v4_jumps");
  EXPECT_EQ(j->frame.bytes, 24u);
  bool skipped = false; // the store gotol jumps over is still an access
  for (auto &a : j->stackAccesses)
    skipped |= a.insn == 6 && a.lo == -16;
  EXPECT_TRUE(skipped);
  Object mg = test::loadCase("may_goto");
  EXPECT_EQ(mg.function("mg_loop")->frame.bytes, 64u);
  EXPECT_TRUE(mg.function("mg_loop")->frame.bounded);
  EXPECT_EQ(mg.function("mg_sub")->frame.bytes, 16u);
}

// Insn::text() prints from the fields alone: an instruction built by hand
// (no object) reads as its bytes would, an ld_imm64 with both halves of its
// immediate, and an encoding LLVM cannot print gives its fields.
TEST(Decode, TextComesFromTheFieldsAlone) {
  Insn mov;
  mov.opcode = 0xb7; // r3 = -7
  mov.dst = 3;
  mov.imm = -7;
  EXPECT_EQ(mov.text(), "r3 = -7");
  Insn st;
  st.opcode = 0x7b; // *(u64 *)(r10 - 16) = r1
  st.dst = 10;
  st.src = 1;
  st.off = -16;
  EXPECT_EQ(st.text(), "*(u64 *)(r10 - 16) = r1");
  Insn ld;
  ld.opcode = 0x18;
  ld.dst = 1;
  ld.wide = true;
  ld.imm = int64_t(0x1122334455667788);
  EXPECT_EQ(ld.text(), "r1 = 1234605616436508552 ll"); // 0x1122334455667788
  Insn bad;
  bad.opcode = 0xef; // ALU64 op 0xe0: no such operation
  bad.dst = 1;
  bad.imm = 5;
  EXPECT_EQ(bad.text(), "op 0xef r1, r0, off 0, imm 5");
  // the same text as the loader's decode of the object's own bytes
  Object obj = test::loadCase("recursion");
  for (const Function &f : obj.functions)
    for (const Insn &in : f.insns) {
      Insn copy;
      copy.opcode = in.opcode, copy.dst = in.dst, copy.src = in.src, copy.off = in.off;
      copy.imm = in.imm, copy.wide = in.wide;
      EXPECT_EQ(copy.text(), in.text()) << f.name << " " << in.index;
    }
}
