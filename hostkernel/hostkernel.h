// hostkernel: what the running kernel does with BPF stacks, learnt by
// asking it (loading small probe programs, load only, as root), cached per
// boot. The one place that talks to bpf(2); callers get plain KernelRules.
#pragma once

#include "model/model.h"

#include <stdexcept>
#include <string>

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

// The rules of the running kernel: its release, whether the JIT is on, and
// per program type whether it gives a private stack. Throws HostKernelError.
KernelRules runningKernelRules(const HostProbeOptions &opts = {});

// kernelRules(name) for a table's name, runningKernelRules() for
// "running". Throws std::invalid_argument (unknown name) or HostKernelError.
KernelRules resolveKernelRules(const std::string &name, const HostProbeOptions &opts = {});

} // namespace pstack
