// The BPF world of one run: map memory and helper semantics, shared by the
// interpreter and the JIT harness (see runtime.h).
#include "jitgen/runtime.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace pstack::jit {

thread_local Runtime *Runtime::current = nullptr;

namespace {
enum : uint32_t {
  kHash = 1, kArray = 2, kProgArray = 3, kPercpuHash = 5, kPercpuArray = 6, kLruHash = 9,
  kLruPercpuHash = 10
};
bool isHash(uint32_t t) { return t == kHash || t == kPercpuHash || t == kLruHash || t == kLruPercpuHash; }
bool isArray(uint32_t t) { return t == kArray || t == kPercpuArray; }
uint32_t round8(uint32_t n) { return (n + 7) & ~7u; }
int64_t neg(int e) { return -int64_t(e); }
} // namespace

// One map's memory. Arrays: max_entries values of round8(value_size)
// bytes, as the kernel lays them out. Hashes: max_entries slots of
// [used (8 bytes)][key, rounded to 8][value, rounded to 8], searched in
// order (semantics, not speed). Prog arrays: a ProgArrayMem.
struct Runtime::MapMem {
  const Map *map = nullptr;
  // 8-byte aligned, zeroed storage: calloc maps a large map's pages only
  // when touched (a corpus map of millions of entries costs nothing unused)
  struct Free {
    void operator()(uint64_t *p) const { std::free(p); }
  };
  std::unique_ptr<uint64_t[], Free> storage;
  size_t words = 0;
  uint32_t elem = 0;           // bytes per entry
  uint8_t *base() { return reinterpret_cast<uint8_t *>(storage.get()); }
};

Runtime::Runtime(const Object &o, const RunRequest &r) : obj(o), req(r) {
  for (auto &m : obj.maps) {
    auto mm = std::make_unique<MapMem>();
    mm->map = &m;
    uint64_t bytes = 0;
    if (m.isProgArray()) {
      bytes = kProgArraySlots + 8ull * std::max<uint32_t>(m.maxEntries, 1);
    } else if (isArray(m.type)) {
      mm->elem = round8(m.valueSize);
      bytes = uint64_t(mm->elem) * m.maxEntries;
    } else if (isHash(m.type)) {
      mm->elem = 8 + round8(m.keySize) + round8(m.valueSize);
      bytes = uint64_t(mm->elem) * m.maxEntries;
    } else {
      bytes = 64; // other types: an object to point at; helpers on it fail
    }
    if (bytes > (64u << 20)) {
      fail("map " + m.name + " needs " + std::to_string(bytes) + " bytes: too large for the harness");
      bytes = 64;
    }
    mm->words = (bytes + 7) / 8 + 1;
    mm->storage.reset(static_cast<uint64_t *>(std::calloc(mm->words, sizeof(uint64_t))));
    if (!mm->storage)
      throw std::bad_alloc();
    if (m.isProgArray()) {
      auto *pa = reinterpret_cast<ProgArrayMem *>(mm->base());
      pa->maxEntries = m.maxEntries;
    }
    auto init = req.maps.find(m.name);
    if (init != req.maps.end())
      std::memcpy(mm->base(), init->second.data(), std::min<size_t>(init->second.size(), bytes));
    maps_.push_back(std::move(mm));
  }
}

Runtime::~Runtime() {
  if (current == this)
    current = nullptr;
}

Runtime::MapMem *Runtime::mapMem(uint64_t addr) const {
  for (auto &m : maps_)
    if (uint64_t(reinterpret_cast<uintptr_t>(m->base())) == addr)
      return m.get();
  return nullptr;
}

uint64_t Runtime::mapAddress(const std::string &name) const {
  for (auto &m : maps_)
    if (m->map->name == name)
      return uint64_t(reinterpret_cast<uintptr_t>(m->base()));
  return 0;
}

const Map *Runtime::mapAt(uint64_t addr) const {
  MapMem *m = mapMem(addr);
  return m ? m->map : nullptr;
}

ProgArrayMem *Runtime::progArray(const std::string &name) const {
  for (auto &m : maps_)
    if (m->map->name == name && m->map->isProgArray())
      return reinterpret_cast<ProgArrayMem *>(m->base());
  return nullptr;
}

std::vector<std::pair<ProgArrayMem *, const Map *>> Runtime::progArrays() const {
  std::vector<std::pair<ProgArrayMem *, const Map *>> out;
  for (auto &m : maps_)
    if (m->map->isProgArray())
      out.push_back({reinterpret_cast<ProgArrayMem *>(m->base()), m->map});
  return out;
}

uint64_t Runtime::dataAddress(const std::string &name) {
  auto &d = data_[name];
  if (!d)
    d = std::make_unique<std::vector<uint8_t>>(4096, 0);
  return uint64_t(reinterpret_cast<uintptr_t>(d->data()));
}

bool Runtime::owns(uint64_t addr, uint64_t bytes) const {
  auto within = [&](uint64_t base, uint64_t size) {
    return addr >= base && bytes <= size && addr - base <= size - bytes;
  };
  for (auto &p : packets)
    if (within(p.addr, p.bytes))
      return true;
  for (auto &m : maps_)
    if (within(uint64_t(uintptr_t(m->base())), 8 * m->words))
      return true;
  for (auto &[name, d] : data_)
    if (within(uint64_t(uintptr_t(d->data())), d->size()))
      return true;
  for (auto &k : keys_)
    if (within(uint64_t(uintptr_t(k.get())), sizeof(uint32_t)))
      return true;
  return false;
}

std::map<std::string, std::vector<uint8_t>> Runtime::snapshot() const {
  std::map<std::string, std::vector<uint8_t>> out;
  for (auto &m : maps_) {
    if (m->map->isProgArray())
      continue; // addresses differ between executors
    // (a map too large for the harness has a stand-in of a few bytes: the
    // run failed at its start, and only what exists is copied)
    size_t bytes = std::min<size_t>(size_t(m->elem) * m->map->maxEntries, 8 * m->words);
    out[m->map->name].assign(m->base(), m->base() + bytes);
  }
  return out;
}

uint64_t Runtime::lookup(MapMem &m, const uint8_t *key) {
  uint32_t t = m.map->type;
  if (isArray(t)) {
    uint32_t idx;
    std::memcpy(&idx, key, 4);
    return idx < m.map->maxEntries ? uint64_t(uintptr_t(m.base() + uint64_t(idx) * m.elem)) : 0;
  }
  if (isHash(t)) {
    uint32_t ks = round8(m.map->keySize);
    for (uint32_t i = 0; i < m.map->maxEntries; ++i) {
      uint8_t *slot = m.base() + uint64_t(i) * m.elem;
      if (slot[0] && std::memcmp(slot + 8, key, m.map->keySize) == 0)
        return uint64_t(uintptr_t(slot + 8 + ks));
    }
    return 0;
  }
  fail(std::string("map_lookup_elem on ") + mapTypeName(t) + " map " + m.map->name +
       " is not in the harness");
  return 0;
}

uint64_t Runtime::update(MapMem &m, const uint8_t *key, const uint8_t *value, uint64_t flags) {
  const uint64_t kNoExist = 1, kExist = 2;
  if (flags > kExist)
    return uint64_t(neg(EINVAL));
  uint32_t t = m.map->type;
  if (isArray(t)) {
    uint32_t idx;
    std::memcpy(&idx, key, 4);
    if (idx >= m.map->maxEntries)
      return uint64_t(neg(E2BIG));
    if (flags == kNoExist)
      return uint64_t(neg(EEXIST));
    std::memcpy(m.base() + uint64_t(idx) * m.elem, value, m.map->valueSize);
    return 0;
  }
  if (isHash(t)) {
    uint32_t ks = round8(m.map->keySize);
    uint8_t *hit = reinterpret_cast<uint8_t *>(uintptr_t(lookup(m, key)));
    if (hit) {
      if (flags == kNoExist)
        return uint64_t(neg(EEXIST));
      std::memcpy(hit, value, m.map->valueSize);
      return 0;
    }
    if (flags == kExist)
      return uint64_t(neg(ENOENT));
    for (uint32_t i = 0; i < m.map->maxEntries; ++i) {
      uint8_t *slot = m.base() + uint64_t(i) * m.elem;
      if (!slot[0]) {
        slot[0] = 1;
        std::memcpy(slot + 8, key, m.map->keySize);
        std::memcpy(slot + 8 + ks, value, m.map->valueSize);
        return 0;
      }
    }
    return uint64_t(neg(E2BIG));
  }
  fail(std::string("map_update_elem on ") + mapTypeName(t) + " map " + m.map->name +
       " is not in the harness");
  return 0;
}

uint64_t Runtime::remove(MapMem &m, const uint8_t *key) {
  uint32_t t = m.map->type;
  if (isArray(t))
    return uint64_t(neg(EINVAL));
  if (isHash(t)) {
    uint32_t ks = round8(m.map->keySize);
    uint8_t *hit = reinterpret_cast<uint8_t *>(uintptr_t(lookup(m, key)));
    if (!hit)
      return uint64_t(neg(ENOENT));
    std::memset(hit - ks - 8, 0, m.elem);
    return 0;
  }
  fail(std::string("map_delete_elem on ") + mapTypeName(t) + " map " + m.map->name +
       " is not in the harness");
  return 0;
}

// bpf_for_each_map_elem(map, cb, ctx, flags): cb(map, key, value, ctx) for
// every element until cb returns 1; the number of elements visited.
uint64_t Runtime::forEach(MapMem &m, uint64_t cb, uint64_t ctx, uint64_t flags) {
  if (flags)
    return uint64_t(neg(EINVAL));
  uint64_t n = 0;
  uint64_t mapAddr = uint64_t(uintptr_t(m.base()));
  if (isArray(m.map->type)) {
    for (uint32_t i = 0; i < m.map->maxEntries; ++i) {
      keys_.push_back(std::make_unique<uint32_t>(i));
      uint64_t args[5] = {mapAddr, uint64_t(uintptr_t(keys_.back().get())),
                          uint64_t(uintptr_t(m.base() + uint64_t(i) * m.elem)), ctx, 0};
      ++n;
      if (exec->callFunctionAt(cb, args) == 1)
        break;
    }
    return n;
  }
  if (isHash(m.map->type)) {
    uint32_t ks = round8(m.map->keySize);
    for (uint32_t i = 0; i < m.map->maxEntries; ++i) {
      uint8_t *slot = m.base() + uint64_t(i) * m.elem;
      if (!slot[0])
        continue;
      uint64_t args[5] = {mapAddr, uint64_t(uintptr_t(slot + 8)), uint64_t(uintptr_t(slot + 8 + ks)),
                          ctx, 0};
      ++n;
      if (exec->callFunctionAt(cb, args) == 1)
        break;
    }
    return n;
  }
  fail("for_each_map_elem on map " + m.map->name + " is not in the harness");
  return 0;
}

// bpf_loop(nr, cb, ctx, flags): cb(i, ctx) for i < nr until it returns 1;
// the number of calls made. (The JIT inlines the same loop.)
uint64_t Runtime::loop(uint64_t nr, uint64_t cb, uint64_t ctx, uint64_t flags) {
  if (flags)
    return uint64_t(neg(EINVAL));
  if (nr > (1u << 23))
    return uint64_t(neg(E2BIG));
  uint64_t i = 0;
  while (i < nr) {
    uint64_t args[5] = {i, ctx, 0, 0, 0};
    uint64_t r = exec->callFunctionAt(cb, args);
    ++i;
    if (r)
      break;
  }
  return i;
}

uint64_t Runtime::helper(int32_t id, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                         uint64_t a5) {
  (void)a5;
  if (exec)
    exec->atCallOut();
  auto ptr = [](uint64_t a) { return reinterpret_cast<uint8_t *>(uintptr_t(a)); };
  auto needMap = [&](uint64_t a) -> MapMem * {
    MapMem *m = mapMem(a);
    if (!m)
      fail("helper " + std::to_string(id) + " given something that is not a map");
    return m;
  };
  switch (id) {
  case 1: // map_lookup_elem
    if (MapMem *m = needMap(a1))
      return lookup(*m, ptr(a2));
    return 0;
  case 2: // map_update_elem
    if (MapMem *m = needMap(a1))
      return update(*m, ptr(a2), ptr(a3), a4);
    return 0;
  case 3: // map_delete_elem
    if (MapMem *m = needMap(a1))
      return remove(*m, ptr(a2));
    return 0;
  case 4:   // probe_read
  case 112: // probe_read_user
  case 113: // probe_read_kernel
  case 45:  // probe_read_str
  case 114: // probe_read_user_str
  case 115: // probe_read_kernel_str
    // nothing to read from in user space: a zeroed result, as for a fault
    std::memset(ptr(a1), 0, uint32_t(a2));
    return 0;
  case 5:   // ktime_get_ns
  case 125: // ktime_get_boot_ns
    return clock_ += 1000;
  case 6: // trace_printk
    return 0;
  case 7: // get_prandom_u32
    rand_ ^= rand_ << 13, rand_ ^= rand_ >> 7, rand_ ^= rand_ << 17;
    return uint32_t(rand_);
  case 8: // get_smp_processor_id
    return 0;
  case 14: // get_current_pid_tgid
    return (uint64_t(4242) << 32) | 4243;
  case 15: // get_current_uid_gid
    return 0;
  case 16: // get_current_comm
    std::memset(ptr(a1), 0, uint32_t(a2));
    std::memcpy(ptr(a1), "pstack", std::min<uint32_t>(uint32_t(a2), 7));
    return 0;
  case 164: // for_each_map_elem
    if (MapMem *m = needMap(a1))
      return forEach(*m, a2, a3, a4);
    return 0;
  case 169: // timer_init(timer, map, flags)
    return 0;
  case 170: // timer_set_callback(timer, cb)
    timerCallbacks_[a1] = a2;
    return 0;
  case 171: { // timer_start(timer, nsecs, flags): fires after the program
    auto cb = timerCallbacks_.find(a1);
    if (cb == timerCallbacks_.end())
      return uint64_t(neg(EINVAL));
    // the callback gets (map, key, value): find the value holding the timer
    for (auto &m : maps_) {
      uint8_t *b = m->base();
      uint64_t bytes = uint64_t(m->elem) * m->map->maxEntries;
      if (!isArray(m->map->type) || a1 < uintptr_t(b) || a1 >= uintptr_t(b) + bytes)
        continue;
      uint32_t idx = uint32_t((a1 - uintptr_t(b)) / m->elem);
      keys_.push_back(std::make_unique<uint32_t>(idx));
      pending.push_back({cb->second,
                         {uint64_t(uintptr_t(b)), uint64_t(uintptr_t(keys_.back().get())),
                          uint64_t(uintptr_t(b + uint64_t(idx) * m->elem)), 0, 0}});
      return 0;
    }
    fail("timer_start on a timer outside every array map");
    return 0;
  }
  case 172: // timer_cancel
    return 0;
  case 181: // loop
    return loop(a1, a2, a3, a4);
  default:
    fail("helper " + std::to_string(id) + " is not in the harness");
    return 0;
  }
}

uint64_t Runtime::kfunc(const std::string &name) {
  (void)name;
  if (exec)
    exec->atCallOut();
  if (programStack.empty() || programStack.size() > req.nestDepth)
    return 0;
  auto it = req.nest.find(programStack.back());
  if (it == req.nest.end())
    return 0;
  for (auto &q : it->second) {
    std::vector<uint64_t> ctx(32, 0); // 256 zero bytes
    packets.push_back({uint64_t(uintptr_t(ctx.data())), 256});
    exec->runProgram(q, ctx.data());
    packets.pop_back();
  }
  return 0;
}

uint64_t Runtime::skbLoad(uint64_t skb, int32_t offset, uint32_t bytes, bool &loaded) {
  loaded = false;
  const Packet *pkt = nullptr;
  for (auto &p : packets)
    if (p.addr == skb)
      pkt = &p;
  if (!pkt) {
    fail("LD_ABS/LD_IND on r6 = " + std::to_string(skb) + ", which is no context of this run");
    return neg(EFAULT);
  }
  if (offset < 0 || uint64_t(offset) + bytes > pkt->bytes)
    return neg(EFAULT);
  const auto *p = reinterpret_cast<const uint8_t *>(uintptr_t(skb)) + offset;
  uint64_t v = 0;
  for (uint32_t i = 0; i < bytes; ++i)
    v = (v << 8) | p[i];
  loaded = true;
  return v;
}

void Runtime::runPending() {
  while (!pending.empty()) {
    Pending p = pending.front();
    pending.pop_front();
    exec->callFunctionAt(p.callback, p.args);
  }
}

// C-ABI stubs for JITed code. They realign the stack (the JIT keeps the
// kernel's layout, which does not keep rsp 16-byte aligned) and never
// throw: nothing may unwind through JITed frames.
namespace {
template <int Id>
__attribute__((force_align_arg_pointer)) uint64_t helperStub(uint64_t a1, uint64_t a2,
                                                             uint64_t a3, uint64_t a4,
                                                             uint64_t a5) noexcept {
  Runtime *rt = Runtime::current;
  if (!rt)
    return 0;
  try {
    return rt->helper(Id, a1, a2, a3, a4, a5);
  } catch (...) {
    rt->fail("helper " + std::to_string(Id) + " threw");
    return 0;
  }
}
__attribute__((force_align_arg_pointer)) uint64_t kfuncStub(uint64_t, uint64_t, uint64_t,
                                                            uint64_t, uint64_t) noexcept {
  Runtime *rt = Runtime::current;
  if (!rt)
    return 0;
  try {
    return rt->kfunc("");
  } catch (...) {
    rt->fail("kfunc threw");
    return 0;
  }
}
template <uint32_t Bytes>
__attribute__((force_align_arg_pointer)) uint64_t skbLoadStub(uint64_t skb, uint64_t offset) noexcept {
  Runtime *rt = Runtime::current;
  if (!rt)
    return uint64_t(-int64_t(EFAULT));
  try {
    bool loaded = false;
    return rt->skbLoad(skb, int32_t(offset), Bytes, loaded);
  } catch (...) {
    rt->fail("skb load threw");
    return uint64_t(-int64_t(EFAULT));
  }
}

constexpr int kHelpers = 212;
template <int... I> constexpr auto stubTable(std::integer_sequence<int, I...>) {
  using Fn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) noexcept;
  return std::array<Fn, sizeof...(I)>{&helperStub<I>...};
}
} // namespace

void *Runtime::skbLoadEntry(uint32_t bytes) {
  return bytes == 1   ? reinterpret_cast<void *>(&skbLoadStub<1>)
         : bytes == 2 ? reinterpret_cast<void *>(&skbLoadStub<2>)
                      : reinterpret_cast<void *>(&skbLoadStub<4>);
}

void *Runtime::helperEntry(int32_t id) {
  static const auto table = stubTable(std::make_integer_sequence<int, kHelpers>{});
  if (id < 0 || id >= kHelpers)
    return reinterpret_cast<void *>(&helperStub<0>);
  return reinterpret_cast<void *>(table[size_t(id)]);
}

void *Runtime::kfuncEntry() { return reinterpret_cast<void *>(&kfuncStub); }

} // namespace pstack::jit
