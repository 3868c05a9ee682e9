// hostkernel: what the running kernel does with BPF stacks, learnt by
// asking it (loading small probe programs, load only, as root), cached per
// boot. The one place that talks to bpf(2); callers get plain KernelRules.
#pragma once

#include "model/model.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace pstack {

// The running kernel cannot be asked (no rights to load BPF, no bpf(2)):
// the message says why and suggests --kernel X.Y.
class HostKernelError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct HostProbeOptions {
  // Where the per-boot answer is kept ("" = $XDG_CACHE_HOME/pstack-verify,
  // else ~/.cache/pstack-verify); the cache is keyed by the boot id.
  std::string cacheDir;
  bool useCache = true;
};

// One probe program and what the kernel said to it.
struct HostProbeAnswer {
  std::string probe;  // "kprobe", "tp_btf", ..., "round" (the rounding probe)
  std::string type;   // progTypeName() of the ProgType it speaks for; "" for none
                      // ("round"; "raw_tp.w" where no ProgType is named
                      // raw_tracepoint_writable)
  // "private": a 640-byte chain of four 160-byte frames loaded (each frame
  // has its own buffer); "none": refused with "combined stack size";
  // "unknown": refused for another reason (then `detail` says which);
  // "unloadable": even a program of that kind without calls or stack is
  // refused (this kernel loads none: fentry and LSM without ftrace, ...):
  // it then says nothing about its ProgType's other variants.
  // The rounding probe: "16" or "32", or "unknown".
  std::string answer;
  std::string detail; // errno text and the verifier log's last line
};

// Everything the probe learnt, and where it came from.
struct HostProbeResult {
  KernelRules rules;       // name "running"
  std::string bootId;      // /proc/sys/kernel/random/boot_id
  int jitEnable = -1;      // /proc/sys/net/core/bpf_jit_enable (-1: unreadable)
  std::vector<HostProbeAnswer> answers;
  bool fromCache = false;  // read from cachePath, no program loaded
  std::string cachePath;   // the cache file ("" when caching is off)
  std::string cacheNote;   // why the cache was not used or not written, if so
};

// The rules of the running kernel: its release, whether the JIT is on, and
// per program type whether it gives a private stack. Throws HostKernelError.
KernelRules runningKernelRules(const HostProbeOptions &opts = {});
// The same, with the per-probe answers (tests, --kernel running diagnostics).
HostProbeResult probeRunningKernel(const HostProbeOptions &opts = {});
// The cache file runningKernelRules reads and writes for these options.
std::string hostKernelCachePath(const HostProbeOptions &opts = {});

// kernelRules(name) for a table's name, runningKernelRules() for
// "running". Throws std::invalid_argument (unknown name) or HostKernelError.
KernelRules resolveKernelRules(const std::string &name, const HostProbeOptions &opts = {});

} // namespace pstack
