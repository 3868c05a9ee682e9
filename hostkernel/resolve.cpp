#include "hostkernel/hostkernel.h"

namespace pstack {

KernelRules resolveKernelRules(const std::string &name, const HostProbeOptions &opts) {
  if (name == "running")
    return runningKernelRules(opts);
  return kernelRules(name);
}

} // namespace pstack
