// One libFuzzer binary per target (PSTACK_FUZZ_TARGET names the function).
#include "fuzz/targets.h"

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace {
// PSTACK_FUZZ_SAVE_LAST=FILE: every input is written there before it runs,
// for the crashes no handler survives to save (a jump to a bad address).
const char *saveLast = nullptr;
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  pstack::fuzz::setCasesDir(PSTACK_CASES_DIR);
  saveLast = getenv("PSTACK_FUZZ_SAVE_LAST");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (saveLast) {
    int fd = open(saveLast, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!write(fd, data, size);
      close(fd);
    }
  }
  (void)pstack::fuzz::PSTACK_FUZZ_TARGET(data, size);
  return 0;
}
