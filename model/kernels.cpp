// The kernel scheme's rules per kernel version. Each value is what that
// version's kernel/bpf/verifier.c and arch/x86/net/bpf_jit_comp.c do, checked
// against the oracles (../shared/oracle: Debian's 6.1 and 6.12, the running
// kernel); docs/kernel-rules.md cites the source of every row.
#include "frontend/isa.h"
#include "model/model.h"

#include <map>
#include <optional>
#include <stdexcept>

namespace pstack {

uint32_t KernelRules::frameCost(uint32_t bytes) const { return kernelFrameCost(bytes, round); }

// The attach variant of a section, as libbpf loads it (the program type and
// expected attach type its SEC() prefix gives): kretprobe and uprobe load
// as kprobe does, kretprobe.multi as kprobe.multi, and so on.
static std::string attachVariant(const std::string &section) {
  std::string prefix = section.substr(0, section.find('/'));
  static const std::map<std::string, std::string> same = {
      {"kprobe", "kprobe"},          {"kretprobe", "kprobe"},
      {"uprobe", "kprobe"},          {"uretprobe", "kprobe"},
      {"ksyscall", "kprobe"},        {"kretsyscall", "kprobe"},
      {"kprobe.multi", "kprobe.multi"}, {"kretprobe.multi", "kprobe.multi"},
      {"uprobe.multi", "uprobe.multi"}, {"uretprobe.multi", "uprobe.multi"},
      {"uprobe.s", "uprobe.s"},      {"uretprobe.s", "uprobe.s"}};
  auto it = same.find(prefix);
  return it == same.end() ? prefix : it->second;
}

std::optional<bool> KernelRules::givesPrivateStack(const Program &p) const {
  if (!unprobedTypes.count(p.type))
    return givesPrivateStack(p.type);
  auto it = privateByVariant.find(attachVariant(p.section));
  if (it == privateByVariant.end())
    return std::nullopt;
  return it->second;
}

namespace {
KernelRules make(const std::string &name) {
  KernelRules k;
  k.name = name;
  if (name == "6.1") {
    k.round = 32; // round_up(max_t(u32, stack_depth, 1), 32)
    k.mayGotoSlot = 0; // may_goto came with 6.9
  } else if (name == "6.6") {
    k.round = 32; // round_up_stack_depth (16 when JITed) came with 6.9
    k.mayGotoSlot = 0;
  } else if (name == "6.12") {
    k.round = 16;
  } else if (name == "6.13") {
    k.round = 16;
    // (the x86-64 JIT's timed may_goto, a 16-byte slot, came later: the
    // running 6.18 has it; --kernel running takes it from the release)
    // bpf_enable_priv_stack: kprobe, tracepoint, perf_event, raw_tp; tracing
    // (fentry/fexit/fmod_ret/tp_btf) through bpf_prog_check_recur, which
    // leaves out iterators; struct_ops only on request; never LSM
    k.privateStackTypes = {ProgType::Kprobe, ProgType::Tracepoint, ProgType::PerfEvent,
                           ProgType::RawTracepoint, ProgType::Tracing};
  } else {
    std::string names;
    for (auto &n : kernelRuleNames())
      names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown kernel '" + name + "' (" + names + ", or running)");
  }
  return k;
}
} // namespace

const std::vector<std::string> &kernelRuleNames() {
  static const std::vector<std::string> names = {"6.1", "6.6", "6.12", "6.13"};
  return names;
}

KernelRules kernelRules(const std::string &name) { return make(name); }

uint32_t kernelStackDepth(const Function &f, const KernelRules &k) {
  uint32_t bytes = f.frame.bytes;
  // optimize_bpf_loop: one 24-byte area per function, whatever the number
  // of bpf_loop calls it inlines (a callback whose address is known)
  for (auto &cb : f.callbacks)
    if (cb.via == "bpf_loop") {
      bytes += k.bpfLoopInline;
      break;
    }
  // do_misc_fixups: one counter slot per function with a may_goto
  for (auto &in : f.insns)
    if (isa::form(in) == isa::Form::MayGoto) {
      bytes += k.mayGotoSlot;
      break;
    }
  return bytes;
}

} // namespace pstack
