// Pass: load a BPF ELF object.
// Reads:  the ELF bytes (LLVM libObject), .BTF/.BTF.ext (our parser + libbpf's
//         btf), DWARF line tables, relocations.
// Writes: Object — functions with decoded instructions, calls, maps, programs,
//         tail-call targets, callbacks, frame sizes, source lines.
// Throws: InputError for anything that is not a readable little-endian BPF
//         object; never lets an llvm::Error go unconsumed.
#include "frontend/internal.h"
#include "frontend/isa.h"

#include <llvm/BinaryFormat/ELF.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pstack {

InputError::InputError(std::string file, std::string where, std::string reason)
    : std::runtime_error(file + (where.empty() ? "" : ": " + where) + ": " + reason),
      file_(std::move(file)), where_(std::move(where)), reason_(std::move(reason)) {}

std::string SourceLoc::str() const {
  std::string s = file + ":" + std::to_string(line);
  if (column)
    s += ":" + std::to_string(column);
  return s;
}

std::string SourceLine::str() const { return toSourceLoc().str(); }

SourceLoc SourceLine::toSourceLoc() const {
  SourceLoc l;
  l.file = std::string(file);
  l.line = line;
  l.column = column;
  l.text = std::string(text);
  return l;
}

const Insn *Function::insnAt(uint32_t index) const {
  auto it = std::lower_bound(insns.begin(), insns.end(), index,
                             [](const Insn &i, uint32_t x) { return i.index < x; });
  return it != insns.end() && it->index == index ? &*it : nullptr;
}

const Function *Object::function(const std::string &name) const {
  for (auto &f : functions)
    if (f.name == name)
      return &f;
  return nullptr;
}
const Program *Object::program(const std::string &name) const {
  for (auto &p : programs)
    if (p.name == name)
      return &p;
  return nullptr;
}
const Map *Object::map(const std::string &name) const {
  for (auto &m : maps)
    if (m.name == name)
      return &m;
  return nullptr;
}

namespace {

using namespace llvm;
using namespace llvm::object;
using detail::LdImmTarget;

constexpr uint32_t R_BPF_64_64 = 1, R_BPF_64_ABS64 = 2, R_BPF_64_ABS32 = 3,
                   R_BPF_64_NODYLD32 = 4, R_BPF_64_32 = 10;

std::string takeError(Error e) { return toString(std::move(e)); }

template <typename T> T unwrap(Expected<T> v, const std::string &file, const std::string &what) {
  if (!v)
    throw InputError(file, what, takeError(v.takeError()));
  return std::move(*v);
}

std::string hex(uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

struct Section {
  uint32_t index = 0;
  std::string name;
  uint64_t flags = 0;
  uint32_t type = 0;
  detail::Bytes bytes;
  bool exec() const { return (flags & ELF::SHF_EXECINSTR) && type == ELF::SHT_PROGBITS; }
};

struct Symbol {
  std::string name;
  uint32_t section = 0; // 0: undefined
  uint64_t value = 0, size = 0;
  uint8_t type = 0, binding = 0, visibility = 0;
};

struct Reloc {
  uint32_t type = 0;
  size_t symbol = 0; // index into symbols
  std::optional<int64_t> addend; // RELA only (some old toolchains wrote it)
};

class Loader {
public:
  Loader(std::string path, MemoryBufferRef buf) : path_(std::move(path)), buf_(buf) {}
  Object run();

private:
  std::string path_;
  MemoryBufferRef buf_;
  Object obj_;
  std::vector<Section> sections_; // by ELF section index
  std::vector<Symbol> symbols_;
  std::optional<uint32_t> symtabIndex_; // section index of .symtab
  // relocations per (target section index) -> offset -> reloc
  std::map<uint32_t, std::map<uint64_t, Reloc>> relocs_;
  std::map<std::pair<uint32_t, uint64_t>, size_t> fnAt_; // (sec, byte off) -> function
  std::map<std::string, uint64_t> mapOffset_;            // map name -> offset in its section
  std::vector<size_t> slots_; // by function: its 8-byte slots (until decoded)
  std::map<std::string, uint32_t> mapSize_;

  [[noreturn]] void fail(const std::string &where, const std::string &why) {
    throw InputError(path_, where, why);
  }
  const Section *sectionByName(const std::string &n) const {
    for (auto &s : sections_)
      if (s.name == n)
        return &s;
    return nullptr;
  }
  void readSections(const ELF64LEObjectFile &elf);
  void readSymbols(const ELF64LEObjectFile &elf);
  void readRelocations(const ELF64LEObjectFile &elf);
  void splitFunctions();
  void decodeFunctions();
  void readMaps();
  void readProgArraySlots();
  void resolveCalls();
  void readLines();
  void buildPrograms();
  void resolveTailCalls();
  std::string where(const Function &f, uint32_t idx) const {
    return "section " + f.section + " offset " + hex(f.offset + uint64_t(idx) * 8);
  }
  std::map<uint32_t, LdImmTarget> ldImmTargets(const Function &f);
  std::optional<size_t> functionAt(uint32_t sec, uint64_t off) const {
    auto it = fnAt_.find({sec, off});
    if (it == fnAt_.end())
      return std::nullopt;
    return it->second;
  }
};

Object Loader::run() {
  obj_.path = path_;
  if (buf_.getBufferSize() < 4 || std::memcmp(buf_.getBufferStart(), "\x7f" "ELF", 4) != 0)
    fail("", "not an ELF file");
  if (buf_.getBufferSize() >= 6) {
    unsigned char cls = buf_.getBufferStart()[4], data = buf_.getBufferStart()[5];
    if (cls != ELF::ELFCLASS64)
      fail("ELF header", "not a 64-bit ELF file (BPF objects are ELF64)");
    if (data == ELF::ELFDATA2MSB)
      fail("ELF header", "big-endian object (bpfeb); only little-endian BPF is supported");
    if (data != ELF::ELFDATA2LSB)
      fail("ELF header", "unknown ELF data encoding " + std::to_string(data));
  }
  auto bin = createBinary(buf_);
  if (!bin)
    fail("ELF header", takeError(bin.takeError()));
  auto *elf = dyn_cast<ELF64LEObjectFile>(bin->get());
  if (!elf)
    fail("ELF header", "not a little-endian 64-bit ELF object");
  const auto &hdr = elf->getELFFile().getHeader();
  // Objects from old LLVM carry EM_NONE; libbpf accepts them, so do we.
  if (hdr.e_machine != ELF::EM_BPF && hdr.e_machine != ELF::EM_NONE)
    fail("ELF header", "machine is " + std::to_string(hdr.e_machine) + ", not EM_BPF (247)");
  if (hdr.e_type != ELF::ET_REL)
    fail("ELF header", "not a relocatable object (e_type " + std::to_string(hdr.e_type) + ")");

  readSections(*elf);
  readSymbols(*elf);
  readRelocations(*elf);
  splitFunctions();
  decodeFunctions();
  readMaps();
  readProgArraySlots();
  resolveCalls();
  detail::settleCallees(obj_);
  readLines();
  std::vector<std::map<uint32_t, detail::LdImmTarget>> targets;
  for (auto &f : obj_.functions) {
    targets.push_back(ldImmTargets(f));
    for (auto &[i, t] : targets.back())
      f.loadImms[i] = LoadImmRef{t.kind == detail::LdImmTarget::Map    ? LoadImmRef::Kind::Map
                                 : t.kind == detail::LdImmTarget::Func ? LoadImmRef::Kind::Func
                                                                       : LoadImmRef::Kind::Data,
                                 t.name};
  }
  // Frames, first with every subprog argument a possible stack pointer,
  // then again where no caller passes one (a few rounds: each can only
  // turn more arguments into numbers; any round's answer is sound).
  // A function's analysis reads only its own code, its ld_imm64 targets
  // and which arguments are numbers: where those did not change, the
  // previous round's result is taken again (finishFrames adds to it, so it
  // is kept as the analysis left it).
  std::map<std::string, uint8_t> numberArgs;
  struct Analysed {
    uint8_t args = 0;
    FrameSize frame;
    std::vector<StackAccess> stackAccesses;
    std::vector<PointerArg> pointerArgs;
    std::array<int32_t, 6> argDeepest{};
    std::vector<TailCallSite> tailCalls;
    std::vector<CallbackSite> callbacks;
    std::vector<Function::CallbackFromArg> callbackArgs;
    std::vector<Function::FunctionArg> functionArgs;
  };
  std::vector<std::optional<Analysed>> analysed(obj_.functions.size());
  for (int round = 0; round < 4; ++round) {
    for (size_t i = 0; i < obj_.functions.size(); ++i) {
      Function &f = obj_.functions[i];
      auto it = numberArgs.find(f.name);
      const uint8_t args = it == numberArgs.end() ? 0 : it->second;
      std::optional<Analysed> &a = analysed[i];
      if (a && a->args == args) {
        f.frame = a->frame;
        f.stackAccesses = a->stackAccesses;
        f.pointerArgs = a->pointerArgs;
        std::copy(a->argDeepest.begin(), a->argDeepest.end(), f.argDeepest);
        f.tailCalls = a->tailCalls;
        f.callbacks = a->callbacks;
        f.callbackArgs = a->callbackArgs;
        f.functionArgs = a->functionArgs;
        continue;
      }
      detail::analyzeFunction(obj_, f, targets[i], args);
      a = Analysed{args,          f.frame,     f.stackAccesses, f.pointerArgs, {},
                   f.tailCalls,   f.callbacks, f.callbackArgs,  f.functionArgs};
      std::copy(std::begin(f.argDeepest), std::end(f.argDeepest), a->argDeepest.begin());
    }
    detail::finishFrames(obj_);
    auto next = detail::numberArguments(obj_);
    if (next == numberArgs)
      break;
    numberArgs = std::move(next);
  }
  buildPrograms();
  resolveTailCalls();
  return std::move(obj_);
}

void Loader::readSections(const ELF64LEObjectFile &elf) {
  const auto &ef = elf.getELFFile();
  auto shdrs = unwrap(ef.sections(), path_, "section headers");
  sections_.resize(shdrs.size());
  for (size_t i = 0; i < shdrs.size(); ++i) {
    const auto &sh = shdrs[i];
    Section &s = sections_[i];
    s.index = i;
    s.flags = sh.sh_flags;
    s.type = sh.sh_type;
    auto name = ef.getSectionName(sh);
    if (!name)
      fail("section " + std::to_string(i), "bad section name: " + takeError(name.takeError()));
    s.name = name->str();
    if (sh.sh_type != ELF::SHT_NOBITS && sh.sh_type != ELF::SHT_NULL) {
      auto data = ef.getSectionContents(sh);
      if (!data)
        fail("section " + s.name, takeError(data.takeError()));
      s.bytes = {data->data(), data->size()};
    }
  }
}

void Loader::readSymbols(const ELF64LEObjectFile &elf) {
  const auto &ef = elf.getELFFile();
  auto shdrs = unwrap(ef.sections(), path_, "section headers");
  for (const auto &sh : shdrs) {
    if (sh.sh_type != ELF::SHT_SYMTAB)
      continue;
    symtabIndex_ = uint32_t(&sh - &*shdrs.begin());
    auto syms = ef.symbols(&sh);
    if (!syms)
      fail("symbol table", takeError(syms.takeError()));
    auto strtab = ef.getStringTableForSymtab(sh);
    if (!strtab)
      fail("symbol table", takeError(strtab.takeError()));
    for (const auto &sym : *syms) {
      Symbol s;
      auto name = sym.getName(*strtab);
      if (!name)
        fail("symbol table", "bad symbol name: " + takeError(name.takeError()));
      s.name = name->str();
      s.section = sym.st_shndx < ELF::SHN_LORESERVE ? sym.st_shndx : 0;
      if (s.section >= sections_.size())
        fail("symbol " + s.name, "section index " + std::to_string(s.section) + " out of range");
      s.value = sym.st_value;
      s.size = sym.st_size;
      s.type = sym.getType();
      s.binding = sym.getBinding();
      s.visibility = sym.getVisibility();
      if (s.type == ELF::STT_SECTION && s.name.empty())
        s.name = sections_[s.section].name;
      symbols_.push_back(std::move(s));
    }
    return; // one symbol table per object
  }
}

void Loader::readRelocations(const ELF64LEObjectFile &elf) {
  const auto &ef = elf.getELFFile();
  auto shdrs = unwrap(ef.sections(), path_, "section headers");
  for (const auto &sh : shdrs) {
    if (sh.sh_type != ELF::SHT_REL && sh.sh_type != ELF::SHT_RELA)
      continue;
    std::string rname = unwrap(ef.getSectionName(sh), path_, "section name").str();
    if (sh.sh_info >= sections_.size())
      fail("section " + rname, "relocates section index " + std::to_string(sh.sh_info) +
                                   ", which does not exist");
    // Every relocation section is checked, not only the ones kept: each
    // must link to the symbol table and name symbols in it.
    if (!symtabIndex_ || sh.sh_link != *symtabIndex_)
      fail("section " + rname, "links to section " + std::to_string(sh.sh_link) +
                                   ", which is not the symbol table");
    const Section &target = sections_[sh.sh_info];
    // Kept: code, map definitions, and .debug_line's (set_address operands).
    bool wanted = target.exec() || target.name == ".maps" || target.name == "maps" ||
                  target.name.rfind("maps/", 0) == 0 || target.name == ".debug_line";
    auto add = [&](uint64_t offset, uint32_t symIdx, uint32_t type, std::optional<int64_t> addend) {
      if (symIdx >= symbols_.size())
        fail("section " + rname, "relocation at " + hex(offset) + " names symbol " +
                                     std::to_string(symIdx) + ", which does not exist");
      if (!wanted)
        return;
      if (offset >= target.bytes.size)
        fail("section " + rname, "relocation offset " + hex(offset) + " is outside " + target.name);
      relocs_[sh.sh_info][offset] = Reloc{type, symIdx, addend};
    };
    if (sh.sh_type == ELF::SHT_REL) {
      auto rels = ef.rels(sh);
      if (!rels)
        fail("section " + rname, takeError(rels.takeError()));
      for (const auto &r : *rels)
        add(r.r_offset, r.getSymbol(false), r.getType(false), std::nullopt);
    } else {
      auto relas = ef.relas(sh);
      if (!relas)
        fail("section " + rname, takeError(relas.takeError()));
      for (const auto &r : *relas)
        add(r.r_offset, r.getSymbol(false), r.getType(false), int64_t(r.r_addend));
    }
  }
}

void Loader::splitFunctions() {
  for (const Section &sec : sections_) {
    if (!sec.exec() || sec.bytes.size == 0)
      continue;
    if (sec.bytes.size % 8)
      fail("section " + sec.name, "size " + std::to_string(sec.bytes.size) +
                                      " is not a multiple of 8 (BPF instruction size)");
    // Function starts: STT_FUNC symbols; old objects have none, then global
    // symbols name the section's program; failing that, the section name.
    std::map<uint64_t, const Symbol *> starts;
    for (const Symbol &s : symbols_)
      if (s.section == sec.index && s.type == ELF::STT_FUNC)
        starts.emplace(s.value, &s);
    if (starts.empty())
      for (const Symbol &s : symbols_)
        if (s.section == sec.index && s.type == ELF::STT_NOTYPE &&
            s.binding == ELF::STB_GLOBAL)
          starts.emplace(s.value, &s);
    bool synthetic = false;
    if (starts.empty() || starts.begin()->first != 0) {
      if (sec.name == ".text" && !starts.empty())
        fail("section .text", "code at offset 0 belongs to no function symbol");
      synthetic = true;
    }
    std::vector<std::pair<uint64_t, std::string>> list;
    if (synthetic)
      list.push_back({0, sec.name});
    for (auto &[off, s] : starts) {
      if (off % 8 || off >= sec.bytes.size)
        fail("symbol " + s->name, "function offset " + hex(off) + " in " + sec.name +
                                      " is not an instruction boundary inside the section");
      list.push_back({off, s->name});
    }
    for (size_t i = 0; i < list.size(); ++i) {
      uint64_t off = list[i].first;
      uint64_t end = i + 1 < list.size() ? list[i + 1].first : sec.bytes.size;
      Function f;
      f.name = list[i].second;
      f.section = sec.name;
      f.sectionIndex = sec.index;
      f.offset = off;
      f.isProgram = sec.name != ".text";
      for (const Symbol &s : symbols_)
        if (s.section == sec.index && s.value == off && s.name == f.name)
          f.global = s.binding == ELF::STB_GLOBAL && s.visibility != ELF::STV_HIDDEN &&
                     s.visibility != ELF::STV_INTERNAL;
      // instructions are decoded later; their extent is kept aside
      slots_.push_back((end - off) / 8);
      fnAt_[{sec.index, off}] = obj_.functions.size();
      obj_.functions.push_back(std::move(f));
    }
  }
  // Function names must be unique: everything downstream refers to them.
  std::set<std::string> seen;
  for (auto &f : obj_.functions)
    if (!seen.insert(f.name).second)
      f.name = f.section + ":" + f.name;
}

namespace {
// Whether an instruction writes r10 (isa::writes: ALU results, loads,
// ld_imm64 and load-acquire write dst; a fetch atomic writes src, cmpxchg r0).
bool writesR10(const Insn &in) { return isa::writes(in) & (1u << 10); }

std::string hexBytes(const uint8_t *p, size_t n) {
  static const char *const kDigits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i)
      s += ' ';
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}
} // namespace

void Loader::decodeFunctions() {
  detail::BpfDecoder dec;
  for (size_t fi = 0; fi < obj_.functions.size(); ++fi) {
    Function &f = obj_.functions[fi];
    const Section &sec = sections_[f.sectionIndex];
    const size_t slots = slots_[fi];
    std::vector<Insn> out;
    out.reserve(slots);
    const uint8_t *base = sec.bytes.data + f.offset;
    for (uint32_t i = 0; i < slots;) {
      const uint8_t *p = base + size_t(i) * 8;
      Insn in;
      in.index = i;
      in.opcode = p[0];
      in.dst = p[1] & 0xf;
      in.src = p[1] >> 4;
      in.off = int16_t(uint16_t(p[2] | (p[3] << 8)));
      int32_t imm32 = int32_t(uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 |
                              uint32_t(p[7]) << 24);
      in.imm = imm32;
      if (in.opcode == 0x18) {
        if (i + 1 >= slots)
          fail(where(f, i), "ld_imm64 is cut off by the end of the function");
        const uint8_t *q = p + 8;
        uint32_t hi = uint32_t(q[4]) | uint32_t(q[5]) << 8 | uint32_t(q[6]) << 16 |
                      uint32_t(q[7]) << 24;
        if (q[0] || q[1] || q[2] || q[3])
          fail(where(f, i), "ld_imm64 second half has non-zero opcode/registers/offset");
        in.wide = true;
        in.imm = int64_t(uint64_t(uint32_t(imm32)) | uint64_t(hi) << 32);
      }
      size_t avail = (slots - i) * 8;
      size_t size = dec.decode(p, avail);
      if (size == 0)
        fail(where(f, i), "undecodable BPF instruction (opcode " + hex(in.opcode) + ", bytes " +
                              hexBytes(p, 8) + ")");
      if (size != (in.wide ? 16u : 8u))
        fail(where(f, i), "instruction size disagrees with its opcode (" + hex(in.opcode) + ")");
      if (isa::form(in) == isa::Form::Unknown)
        fail(where(f, i), "`" + in.text() + "` (opcode " + hex(in.opcode) + ", bytes " +
                              hexBytes(p, 8) + ") is no instruction the kernel accepts");
      if (in.dst > 10 || in.src > 10) {
        // src of calls/ld_imm64 is a pseudo kind, not a register
        if (in.dst > 10 || !(in.opcode == 0x85 || in.opcode == 0x18))
          fail(where(f, i), "register number out of range");
      }
      if (writesR10(in))
        fail(where(f, i), "`" + in.text() + "` writes r10: the frame pointer is read-only (the "
                          "kernel verifier rejects it, and every frame in the model is r10-relative)");
      out.push_back(std::move(in));
      i += size / 8;
    }
    f.insns = std::move(out);
  }
}

// The maps of the object: BTF-defined ones in .maps, legacy ones in `maps`.
void Loader::readMaps() {
  for (const Section &sec : sections_) {
    bool btfMaps = sec.name == ".maps";
    bool legacy = sec.name == "maps" || sec.name.rfind("maps/", 0) == 0;
    if (!btfMaps && !legacy)
      continue;
    std::vector<const Symbol *> syms;
    for (const Symbol &s : symbols_)
      if (s.section == sec.index && s.type != ELF::STT_SECTION && !s.name.empty())
        syms.push_back(&s);
    std::sort(syms.begin(), syms.end(),
              [](const Symbol *a, const Symbol *b) { return a->value < b->value; });
    if (btfMaps) {
      const Section *btf = sectionByName(".BTF");
      if (!btf) {
        fail("section .maps", "BTF-defined maps need a .BTF section, and there is none");
      }
      std::string err;
      auto infos = detail::parseBtfMaps(path_, btf->bytes, err);
      if (!err.empty())
        fail("section .BTF", err);
      for (const Symbol *s : syms) {
        auto it = std::find_if(infos.begin(), infos.end(),
                               [&](const detail::BtfMapInfo &i) { return i.name == s->name; });
        if (it == infos.end())
          fail("section .maps", "map " + s->name + " has no BTF description");
        Map m;
        m.name = s->name;
        m.type = it->type;
        m.keySize = it->keySize;
        m.valueSize = it->valueSize;
        m.maxEntries = it->maxEntries;
        m.btfDefined = true;
        m.section = sec.name;
        mapOffset_[m.name] = s->value;
        mapSize_[m.name] = it->valuesOffset;
        obj_.maps.push_back(std::move(m));
      }
    } else {
      // struct bpf_map_def { type, key_size, value_size, max_entries, map_flags, ... }:
      // the definition size is the section size over the number of maps.
      if (syms.empty())
        continue;
      size_t defSize = sec.bytes.size / syms.size();
      if (defSize < 16)
        fail("section " + sec.name, "legacy map definitions of " + std::to_string(defSize) +
                                        " bytes are too small (need 16)");
      for (const Symbol *s : syms) {
        if (s->value + 16 > sec.bytes.size)
          fail("section " + sec.name, "map " + s->name + " lies outside the section");
        auto u32 = [&](size_t at) {
          const uint8_t *p = sec.bytes.data + s->value + at;
          return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
                 uint32_t(p[3]) << 24;
        };
        Map m;
        m.name = s->name;
        m.type = u32(0);
        m.keySize = u32(4);
        m.valueSize = u32(8);
        m.maxEntries = u32(12);
        m.section = sec.name;
        mapOffset_[m.name] = s->value;
        obj_.maps.push_back(std::move(m));
      }
    }
  }
}

// Prog-array initial slots: R_BPF_64_ABS64 in .rel.maps against a function.
void Loader::readProgArraySlots() {
  const Section *maps = sectionByName(".maps");
  if (!maps)
    return;
  auto rit = relocs_.find(maps->index);
  if (rit == relocs_.end())
    return;
  for (auto &[off, rel] : rit->second) {
    const Symbol &sym = symbols_[rel.symbol];
    // LLVM before 12 wrote R_BPF_64_64 here
    if (rel.type != R_BPF_64_ABS64 && rel.type != R_BPF_64_64)
      fail("section .rel.maps", "relocation type " + std::to_string(rel.type) + " at " +
                                    hex(off) + " (expected R_BPF_64_ABS64)");
    Map *owner = nullptr;
    uint64_t best = 0;
    for (auto &m : obj_.maps) {
      if (m.section != ".maps")
        continue;
      uint64_t mo = mapOffset_[m.name];
      if (mo <= off && mo >= best) {
        best = mo;
        owner = &m;
      }
    }
    if (!owner)
      fail("section .rel.maps", "relocation at " + hex(off) + " belongs to no map");
    if (!owner->isProgArray())
      continue; // maps of maps: inner map initialisers, not programs
    uint64_t valuesAt = best + mapSize_[owner->name];
    if (off < valuesAt || (off - valuesAt) % 8)
      fail("section .rel.maps", "relocation at " + hex(off) + " is not a slot of map " +
                                    owner->name + "'s values");
    uint32_t slot = (off - valuesAt) / 8;
    if (owner->maxEntries && slot >= owner->maxEntries)
      fail("section .rel.maps", "slot " + std::to_string(slot) + " of map " + owner->name +
                                    " is beyond max_entries " + std::to_string(owner->maxEntries));
    auto fn = functionAt(sym.section, sym.value);
    if (!fn)
      fail("section .rel.maps", "slot " + std::to_string(slot) + " of map " + owner->name +
                                    " points at " + sym.name + ", which is not a function");
    owner->progSlots[slot] = obj_.functions[*fn].name;
  }
}

std::map<uint32_t, LdImmTarget> Loader::ldImmTargets(const Function &f) {
  std::map<uint32_t, LdImmTarget> out;
  auto rit = relocs_.find(f.sectionIndex);
  for (const Insn &in : f.insns) {
    if (!in.wide)
      continue;
    uint64_t at = f.offset + uint64_t(in.index) * 8;
    const Reloc *rel = nullptr;
    if (rit != relocs_.end()) {
      auto r = rit->second.find(at);
      if (r != rit->second.end())
        rel = &r->second;
    }
    LdImmTarget t;
    if (rel) {
      const Symbol &sym = symbols_[rel->symbol];
      const Section &tsec = sections_[sym.section];
      if (sym.section == 0) {
        t.kind = LdImmTarget::Data; // extern (ksym/kconfig)
        t.name = sym.name;
      } else if (tsec.name == ".maps" || tsec.name == "maps" || tsec.name.rfind("maps/", 0) == 0) {
        uint64_t off = sym.value + (rel->addend ? uint64_t(*rel->addend)
                                    : sym.type == ELF::STT_SECTION ? uint64_t(uint32_t(in.imm)) : 0);
        for (auto &m : obj_.maps)
          if (m.section == tsec.name && mapOffset_[m.name] == off)
            t = {LdImmTarget::Map, m.name};
        if (t.kind == LdImmTarget::None)
          fail(where(f, in.index), "ld_imm64 refers to " + tsec.name + "+" + hex(off) +
                                       ", which is no map");
      } else if (tsec.exec()) {
        // a function address: symbol value plus the immediate (bytes)
        uint64_t off = sym.value + uint64_t(uint32_t(in.imm));
        auto fn = functionAt(sym.section, off);
        if (!fn)
          fail(where(f, in.index), "ld_imm64 refers to " + tsec.name + "+" + hex(off) +
                                       ", which is no function start");
        t = {LdImmTarget::Func, obj_.functions[*fn].name};
      } else {
        t = {LdImmTarget::Data, sym.name.empty() ? tsec.name : sym.name};
      }
    } else if (in.src == 4) {
      uint64_t off = f.offset + (uint64_t(in.index) + int64_t(int32_t(in.imm)) + 1) * 8;
      auto fn = functionAt(f.sectionIndex, off);
      if (!fn)
        fail(where(f, in.index), "ld_imm64 of a function points at no function start");
      t = {LdImmTarget::Func, obj_.functions[*fn].name};
    }
    if (t.kind != LdImmTarget::None)
      out[in.index] = t;
  }
  return out;
}

void Loader::resolveCalls() {
  // Externs a call may name: kfuncs are declared __ksym, so BTF lists them
  // in .ksyms. Any other undefined callee is a function the object lacks
  // (a memcpy the compiler did not inline, a function meant for the BPF
  // static linker): libbpf refuses the object, and nothing can be said
  // about that function's frame.
  std::optional<std::set<std::string>> ksyms;
  std::map<std::string, KfuncReturn> returns;
  if (const Section *btf = sectionByName(".BTF")) {
    ksyms = detail::parseBtfKsyms(btf->bytes);
    returns = detail::parseBtfFuncReturns(btf->bytes);
    // global subprogs the kernel verifies alone (libbpf keeps func info
    // only with .BTF.ext, and marks hidden ones static: see `global`)
    if (sectionByName(".BTF.ext")) {
      const std::set<std::string> globals = detail::parseBtfGlobalFuncs(btf->bytes);
      for (auto &f : obj_.functions)
        f.verifiedAlone = !f.isProgram && f.global && globals.count(f.name);
    }
  }
  auto kfuncReturn = [&](const std::string &name) {
    auto it = returns.find(name);
    return it == returns.end() ? KfuncReturn::Unknown : it->second;
  };
  for (auto &f : obj_.functions) {
    auto rit = relocs_.find(f.sectionIndex);
    for (const Insn &in : f.insns) {
      if (!in.isCall())
        continue;
      uint64_t at = f.offset + uint64_t(in.index) * 8;
      const Reloc *rel = nullptr;
      if (rit != relocs_.end()) {
        auto r = rit->second.find(at);
        if (r != rit->second.end())
          rel = &r->second;
      }
      CallSite cs;
      cs.insn = in.index;
      if (rel && symbols_[rel->symbol].section == 0) {
        // A kfunc: clang 14 writes `call -1` (src_reg 1 or 0) against the
        // extern symbol; libbpf turns it into src_reg 2 at load time.
        const std::string &name = symbols_[rel->symbol].name;
        if (!ksyms || !ksyms->count(name))
          fail(where(f, in.index),
               "call to `" + name + "`, which this object does not define and does not declare "
               "as a kfunc (__ksym in .ksyms" + (ksyms ? ")" : "; the object has no readable BTF)") +
                   ": libbpf refuses it; link the objects first (bpftool gen object)");
        cs.kind = CallKind::Kfunc;
        cs.target = symbols_[rel->symbol].name;
        cs.returns = kfuncReturn(cs.target);
      } else if (in.src == 1) {
        cs.kind = CallKind::Local;
        uint32_t sec = f.sectionIndex;
        int64_t target;
        if (rel) {
          const Symbol &sym = symbols_[rel->symbol];
          if (rel->type != R_BPF_64_32)
            fail(where(f, in.index), "call relocated with type " + std::to_string(rel->type) +
                                         " (expected R_BPF_64_32)");
          sec = sym.section;
          target = int64_t(sym.value) + (int64_t(int32_t(in.imm)) + 1) * 8;
        } else {
          target = int64_t(at) + (int64_t(int32_t(in.imm)) + 1) * 8;
        }
        auto fn = target >= 0 ? functionAt(sec, uint64_t(target)) : std::nullopt;
        if (!fn)
          fail(where(f, in.index), "BPF-to-BPF call target " + sections_[sec].name + "+" +
                                       hex(uint64_t(target)) + " is no function start");
        cs.target = obj_.functions[*fn].name;
      } else if (in.src == 2) {
        cs.kind = CallKind::Kfunc;
        if (rel)
          cs.target = symbols_[rel->symbol].name;
        else
          cs.target = "kfunc#" + std::to_string(in.imm);
        cs.returns = kfuncReturn(cs.target);
      } else if (in.src == 0) {
        if (rel)
          fail(where(f, in.index), "helper call carries a relocation against " +
                                       symbols_[rel->symbol].name + ", which is no extern");
        cs.kind = CallKind::Helper;
        cs.helper = int32_t(in.imm);
      } else {
        fail(where(f, in.index), "call with unknown src_reg " + std::to_string(in.src));
      }
      f.calls.push_back(std::move(cs));
    }
  }
}

void Loader::readLines() {
  const Section *btf = sectionByName(".BTF");
  const Section *ext = sectionByName(".BTF.ext");
  obj_.hasBtf = btf != nullptr;
  detail::LineTable table;
  if (btf && ext) {
    table = detail::parseBtfExtLines(path_, btf->bytes, ext->bytes);
    if (!table.empty())
      obj_.lineInfoSource = "BTF.ext";
  }
  // DWARF, read by our own parser (LLVM 14's crashes on malformed line
  // tables, and cannot apply R_BPF_64_64 relocations of old objects, which
  // made it attribute their lines to the wrong section).
  if (table.empty() && sectionByName(".debug_line")) {
    const Section *line = sectionByName(".debug_line");
    detail::DwarfLineSections in;
    in.line = line->bytes;
    if (auto *ls = sectionByName(".debug_line_str"))
      in.lineStr = ls->bytes;
    if (auto *st = sectionByName(".debug_str"))
      in.str = st->bytes;
    in.resolveAddress = [&](uint64_t off, uint64_t inplace) -> std::optional<std::pair<std::string, uint64_t>> {
      auto rs = relocs_.find(line->index);
      if (rs == relocs_.end())
        return std::nullopt;
      auto r = rs->second.find(off);
      if (r == rs->second.end())
        return std::nullopt;
      const Symbol &sym = symbols_[r->second.symbol];
      if (sym.section == 0)
        return std::nullopt;
      return std::pair{sections_[sym.section].name, sym.value + (r->second.addend ? uint64_t(*r->second.addend) : inplace)};
    };
    table = detail::parseDwarfLines(path_, in);
    if (!table.empty())
      obj_.lineInfoSource = "DWARF";
  }
  if (table.empty())
    return;
  obj_.hasLineInfo = true;
  for (auto &[section, records] : table.sections)
    records.sort();
  // every instruction's handle shares the one table (no count per record)
  const std::shared_ptr<const detail::LineStore> store = table.store;
  const std::vector<SourceLine> &locs = store->lines;
  // line_info records mark the first instruction of a source line; the ones
  // after it (until the next record) belong to the same line.
  for (auto &f : obj_.functions) {
    auto st = table.sections.find(f.section);
    if (st == table.sections.end())
      continue;
    const auto &lines = st->second.records;
    // one walk over the function's records beside its instructions (records
    // before its start belong to an earlier function)
    auto next = std::lower_bound(lines.begin(), lines.end(), uint32_t(f.offset),
                                 [](const auto &r, uint32_t off) { return r.first < off; });
    const SourceLine *cur = nullptr;
    for (auto &in : f.insns) {
      uint32_t at = uint32_t(f.offset + uint64_t(in.index) * 8);
      for (; next != lines.end() && next->first <= at; ++next)
        cur = &locs[next->second];
      if (cur)
        in.loc = std::shared_ptr<const SourceLine>(store, cur); // (aliasing: shares `store`)
    }
  }
}

void Loader::buildPrograms() {
  std::map<std::string, size_t> byName;
  for (size_t i = 0; i < obj_.functions.size(); ++i)
    byName[obj_.functions[i].name] = i;
  for (size_t i = 0; i < obj_.functions.size(); ++i) {
    const Function &entry = obj_.functions[i];
    if (!entry.isProgram)
      continue;
    Program p;
    p.name = entry.name;
    p.section = entry.section;
    p.type = progTypeFromSection(entry.section);
    p.entry = i;
    // every function reachable through calls and callbacks, in DFS order
    std::vector<size_t> stack{i};
    std::set<size_t> seen{i};
    while (!stack.empty()) {
      size_t cur = stack.back();
      stack.pop_back();
      p.functions.push_back(cur);
      std::vector<std::string> next;
      for (auto &c : obj_.functions[cur].calls)
        if (c.kind == CallKind::Local)
          next.push_back(c.target);
      for (auto &cb : obj_.functions[cur].callbacks)
        next.push_back(cb.callback);
      for (auto it = next.rbegin(); it != next.rend(); ++it) {
        size_t t = byName.at(*it);
        if (seen.insert(t).second)
          stack.push_back(t);
      }
    }
    obj_.programs.push_back(std::move(p));
  }
}

// Tail-call targets (DESIGN.md): a constant slot of a prog array the object
// initialises statically reaches that slot's program (none when the slot is
// empty). A variable slot, a map without initialised slots, or an unknown
// map reaches every program of a compatible type, marked unresolved: user
// space may store any of them there, so the model takes all (sound).
void Loader::resolveTailCalls() {
  // the types of the programs each function (by name) runs in, in one
  // pass over the programs (not one per function)
  std::map<std::string, std::set<ProgType>> typesOf;
  for (auto &p : obj_.programs)
    for (size_t fi : p.functions) {
      auto &types = typesOf[obj_.functions[fi].name];
      types.insert(p.type);
      // iterators are BPF_PROG_TYPE_TRACING to the kernel's prog arrays
      if (p.type == ProgType::Iter || p.type == ProgType::Tracing)
        types.insert({ProgType::Iter, ProgType::Tracing});
    }
  const std::set<ProgType> none;
  for (auto &f : obj_.functions) {
    auto found = typesOf.find(f.name);
    const std::set<ProgType> &types = found == typesOf.end() ? none : found->second;
    for (auto &tc : f.tailCalls) {
      const Map *m = tc.map ? obj_.map(*tc.map) : nullptr;
      if (m && !m->progSlots.empty() && tc.slot) {
        tc.resolved = true;
        auto it = m->progSlots.find(uint32_t(*tc.slot));
        if (*tc.slot >= 0 && *tc.slot <= int64_t(UINT32_MAX) && it != m->progSlots.end())
          tc.targets.push_back(it->second);
      } else {
        tc.resolved = false;
        for (auto &p : obj_.programs)
          if (types.count(p.type))
            tc.targets.push_back(p.name);
      }
    }
  }
}

} // namespace

namespace detail {
void LineRecords::sort() {
  // stable: of records at one offset the last given is kept (BTF gives
  // them in order: nothing to move then)
  auto byOffset = [](const auto &a, const auto &b) { return a.first < b.first; };
  if (!std::is_sorted(records.begin(), records.end(), byOffset))
    std::stable_sort(records.begin(), records.end(), byOffset);
  size_t out = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i + 1 < records.size() && records[i + 1].first == records[i].first)
      continue; // a later record for the same offset replaces it
    records[out++] = records[i];
  }
  records.resize(out);
}
} // namespace detail

Object loadObjectFromMemory(const std::string &name, const std::vector<uint8_t> &bytes) {
  MemoryBufferRef ref(StringRef(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
                      name);
  return Loader(name, ref).run();
}

Object loadObject(const std::string &path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path, "", "is a directory, not a BPF object");
  // A regular file is mapped, not copied (the Object keeps nothing of the
  // bytes: names are copied, and line info's strings live in libbpf's own
  // copy of the BTF). Anything else (a pipe, an empty file) is read.
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw InputError(path, "", std::string("cannot open: ") + std::strerror(errno));
    struct stat st{};
    void *map = MAP_FAILED;
    size_t size = 0;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      size = size_t(st.st_size);
      map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    ::close(fd);
    if (map != MAP_FAILED) {
      struct Unmap {
        void *p;
        size_t n;
        ~Unmap() { ::munmap(p, n); }
      } unmap{map, size};
      MemoryBufferRef ref(StringRef(static_cast<const char *>(map), size), path);
      return Loader(path, ref).run();
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(path, "", std::string("cannot open: ") + std::strerror(errno));
  std::vector<uint8_t> bytes;
  if (auto size = std::filesystem::file_size(path, ec); !ec)
    bytes.reserve(size_t(size));
  try {
    // in blocks, not a byte at a time (a 5 MB object took 20 ms so)
    char buf[1 << 16];
    while (in) {
      in.read(buf, sizeof buf);
      bytes.insert(bytes.end(), buf, buf + in.gcount());
    }
  } catch (const std::ios_base::failure &) {
    // libstdc++ throws from underflow when read(2) fails (EISDIR, EIO)
    throw InputError(path, "", std::string("read error: ") + std::strerror(errno));
  }
  if (in.bad())
    throw InputError(path, "", "read error");
  return loadObjectFromMemory(path, bytes);
}

} // namespace pstack
