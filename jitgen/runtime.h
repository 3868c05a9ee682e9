// Private to jitgen/: the BPF world of one run — map memory and helper
// semantics — shared by the reference interpreter and the JIT harness, so
// that the two executors differ only in how they run BPF instructions.
#pragma once

#include "jitgen/jitgen.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pstack::jit {

// A prog array in memory, as the JIT's tail-call sequence reads it:
// max_entries at +0, the slots at +8. A slot holds, for the JIT, the address
// where a tail call into that program lands (0: empty); for the
// interpreter, 1 + the program's index.
struct ProgArrayMem {
  uint32_t maxEntries;
  uint32_t pad;
  uint64_t slots[1];
};
constexpr uint32_t kProgArraySlots = 8; // offset of slots[0]

// How the runtime gets back into BPF code: implemented by each executor.
class Executor {
public:
  virtual ~Executor() = default;
  // Calls the function whose address a program loaded with ld_imm64
  // (a callback) with up to five arguments; returns its r0.
  virtual uint64_t callFunctionAt(uint64_t addr, const uint64_t args[5]) = 0;
  // Runs a whole program (nesting); returns r0.
  virtual uint64_t runProgram(const std::string &program, void *ctx) = 0;
  // At the start of every helper and kfunc call (the JIT harness's
  // unwinder runs here).
  virtual void atCallOut() {}
};

constexpr uint32_t kMaxTailCalls = 33; // MAX_TAIL_CALL_CNT

class Runtime {
public:
  Runtime(const Object &obj, const RunRequest &req);
  ~Runtime();
  Runtime(const Runtime &) = delete;
  Runtime &operator=(const Runtime &) = delete;

  const Object &obj;
  const RunRequest &req;
  Executor *exec = nullptr;

  // The address ld_imm64 loads for a map; 0 for an unknown name.
  uint64_t mapAddress(const std::string &name) const;
  // The map whose object starts at `addr`.
  const Map *mapAt(uint64_t addr) const;
  ProgArrayMem *progArray(const std::string &name) const;
  // Fills every prog array's slots: `slotValue(program)` gives what a slot
  // naming `program` holds.
  template <class F> void fillProgArrays(F slotValue);
  // The address ld_imm64 loads for a global or extern: a zeroed block.
  uint64_t dataAddress(const std::string &name);

  // Helper `id` (never 12, bpf_tail_call: the executors do it). Records an
  // error (see `error`) and returns 0 for a helper the harness lacks.
  uint64_t helper(int32_t id, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
  // LD_ABS/LD_IND's skb load (bpf_skb_load_helper_{8,16,32}_no_cache):
  // `bytes` at `offset` of the packet `skb` points at, big-endian, zero-
  // extended. In the harness a program's packet is its context's bytes
  // (see addPacket); an offset outside it (negative ones included: no
  // link- or network-layer base here) is the helper's -EFAULT, `loaded`
  // false. An skb that is no context is an error of the run.
  uint64_t skbLoad(uint64_t skb, int32_t offset, uint32_t bytes, bool &loaded);
  // The C-ABI entry JITed code calls for an skb load of `bytes` (1, 2, 4):
  // (skb, offset) -> value or a negative error, as the kernel's helpers.
  static void *skbLoadEntry(uint32_t bytes);
  // Whether [addr, addr + bytes) lies in memory this run owns: a context,
  // a map, a global's block, a key the runtime handed out (the executors'
  // own stacks aside). The interpreter refuses any other access instead of
  // following a pointer a real kernel would have given (skb->data, ...).
  bool owns(uint64_t addr, uint64_t bytes) const;
  // Contexts the executors pass to programs, which skbLoad reads as packets.
  struct Packet {
    uint64_t addr;
    size_t bytes;
  };
  std::vector<Packet> packets;

  // A kfunc: runs the nested programs the request names for the program on
  // top, to nestDepth levels; every kfunc returns 0.
  uint64_t kfunc(const std::string &name);
  // The C-ABI entry of helper `id` for JITed code: a stub that forwards to
  // Runtime::current.
  static void *helperEntry(int32_t id);
  static void *kfuncEntry(); // all kfuncs: one stub, the name is not needed

  // Programs running now, innermost last (for nesting).
  std::vector<std::string> programStack;
  // Async callbacks (timers) fired after the outermost program returns.
  struct Pending {
    uint64_t callback;
    uint64_t args[5];
  };
  std::deque<Pending> pending;
  void runPending(); // runs queued callbacks through exec

  std::string error; // first thing the run could not do
  void fail(const std::string &why) {
    if (error.empty())
      error = why;
  }

  std::map<std::string, std::vector<uint8_t>> snapshot() const;

  static thread_local Runtime *current;

private:
  struct MapMem;
  std::vector<std::unique_ptr<MapMem>> maps_;
  std::map<std::string, std::unique_ptr<std::vector<uint8_t>>> data_;
  uint64_t clock_ = 0, rand_ = 0x2545F4914F6CDD1DULL;
  std::map<uint64_t, uint64_t> timerCallbacks_; // timer address -> callback
  MapMem *mapMem(uint64_t addr) const;
  uint64_t lookup(MapMem &m, const uint8_t *key);
  uint64_t update(MapMem &m, const uint8_t *key, const uint8_t *value, uint64_t flags);
  uint64_t remove(MapMem &m, const uint8_t *key);
  uint64_t forEach(MapMem &m, uint64_t cb, uint64_t ctx, uint64_t flags);
  uint64_t loop(uint64_t nr, uint64_t cb, uint64_t ctx, uint64_t flags);
  std::vector<std::unique_ptr<uint32_t>> keys_; // stable key storage for callbacks
public:
  // for fillProgArrays
  std::vector<std::pair<ProgArrayMem *, const Map *>> progArrays() const;
};

template <class F> void Runtime::fillProgArrays(F slotValue) {
  for (auto &[pa, m] : progArrays())
    for (uint32_t i = 0; i < m->maxEntries; ++i) {
      auto it = m->progSlots.find(i);
      pa->slots[i] = it == m->progSlots.end() ? 0 : slotValue(it->second);
    }
}

} // namespace pstack::jit
