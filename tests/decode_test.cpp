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
    EXPECT_EQ(f->insns[i].text, want[i]) << i;
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
