// Placeholder until the probe lands: the running kernel cannot be asked yet.
#include "hostkernel/hostkernel.h"

namespace pstack {

KernelRules runningKernelRules(const HostProbeOptions &) {
  throw HostKernelError("--kernel running: probing the running kernel is not built in yet; "
                        "use --kernel 6.1, 6.6, 6.12 or 6.13");
}

} // namespace pstack
