// Private to frontend/: pieces shared by the loader's passes.
#pragma once

#include "frontend/frontend.h"

#include <functional>

#include <cstddef>
#include <deque>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_map>

namespace pstack::detail {

// LLVM MC BPF disassembler behind a plain interface.
class BpfDecoder {
public:
  BpfDecoder();
  ~BpfDecoder();
  // Decodes one instruction at `bytes` (at least 8 bytes available, 16 for
  // ld_imm64). Returns its size (8 or 16) and fills `text` when given, or 0
  // when LLVM cannot decode it.
  size_t decode(const uint8_t *bytes, size_t avail, std::string *text = nullptr);

private:
  size_t decodeUncached(const uint8_t *bytes, size_t avail, std::string &text);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  // The text is a function of the instruction's bytes alone (decoded at
  // address 0, no symbols): an object's code repeats few distinct 8-byte
  // instructions (the large probe: 590 in 120,386), each printed once.
  std::unordered_map<uint64_t, std::string> seen_;
};

// Raw view of a section's bytes.
struct Bytes {
  const uint8_t *data = nullptr;
  size_t size = 0;
};

// BTF-defined maps (.maps) described from the raw .BTF section; `offsets`
// gives the offset of each map variable in .maps (from ELF symbols, since
// libbpf 1.1 does not apply .rel.BTF).
struct BtfMapInfo {
  std::string name;
  uint32_t type = 0, keySize = 0, valueSize = 0, maxEntries = 0;
  uint32_t valuesOffset = 0; // offset of `values` in the map definition
  bool hasValues = false;
};
std::vector<BtfMapInfo> parseBtfMaps(const std::string &file, Bytes btf,
                                     std::string &error);

// Names in the .ksyms DATASEC (externs declared __ksym: kfuncs and kernel
// variables); nothing when the BTF cannot be read.
std::optional<std::set<std::string>> parseBtfKsyms(Bytes btf);

// What each function in BTF returns (by name), kfuncs among them.
std::map<std::string, KfuncReturn> parseBtfFuncReturns(Bytes btf);

// Names of the BTF FUNCs with global linkage (none when the BTF cannot be
// read).
std::set<std::string> parseBtfGlobalFuncs(Bytes btf);

// An object's line info, built once and then shared (Insn::loc aliases it):
// every record's location, whose strings are views into what `owner` keeps
// (libbpf's copy of the BTF strings) or into `made` (strings built while
// reading: DWARF's paths; a deque, so a string never moves).
struct LineStore {
  std::shared_ptr<const void> owner;
  std::deque<std::string> made;
  std::vector<SourceLine> lines;
  std::string_view keep(std::string s) { return made.emplace_back(std::move(s)); }
};
// Line records of one section: (byte offset in section, index into
// LineStore::lines), in the order given; sort() makes them ascending by
// offset, one per offset (the last given, as a map's assignment would
// keep). A vector, not a map: a large object has a record for nearly every
// instruction.
struct LineRecords {
  std::vector<std::pair<uint32_t, uint32_t>> records;
  void sort();
};
// .BTF.ext line_info (or DWARF): per section name, its records (each
// location made once, shared by the instructions it covers).
struct LineTable {
  std::shared_ptr<LineStore> store = std::make_shared<LineStore>();
  std::map<std::string, LineRecords> sections;
  bool empty() const { return sections.empty(); }
  // a record of `section` at byte `offset`
  void add(LineRecords &section, uint32_t offset, const SourceLine &loc) {
    section.records.emplace_back(offset, uint32_t(store->lines.size()));
    store->lines.push_back(loc);
  }
};
LineTable parseBtfExtLines(const std::string &file, Bytes btf, Bytes btfExt);

// .debug_line (DWARF 2-5), our own parser (frontend/dwarf_line.cpp says
// why). `resolveAddress(offset, inplace)` gives the section name and offset
// a DW_LNE_set_address operand at `offset` in .debug_line stands for (from
// its relocation), or nothing. DWARF < 5 file names are relative to the
// compilation directory, which lives in .debug_info: they stay relative.
struct DwarfLineSections {
  Bytes line, lineStr, str;
  std::function<std::optional<std::pair<std::string, uint64_t>>(uint64_t, uint64_t)> resolveAddress;
};
LineTable parseDwarfLines(const std::string &file, const DwarfLineSections &in);

// Names of helpers by id (the subset the analysis and reports use).
const char *helperName(int32_t id);
// Number of arguments a helper takes (5 when the helper is not known).
int helperArgs(int32_t id);

// Frame-size analysis and constant propagation over one function; fills
// frame, tailCalls (map/slot from r2/r3) and callbacks (from the registers
// at helper calls). `symbolAt` resolves an ld_imm64 to a map or function
// name as the loader recorded it.
struct LdImmTarget {
  enum Kind { None, Map, Func, Data } kind = None;
  std::string name;
};
// `numberArgs`: bit a set where argument r<a> is known not to be a stack
// pointer (numberArguments); the analysis's outputs are replaced.
void analyzeFunction(Object &obj, Function &fn, const std::map<uint32_t, LdImmTarget> &ldimm,
                     uint8_t numberArgs = 0);
// Before the frame analysis: what each local call's callee reads of r1-r5
// (CallSite::calleeArgs) and whether the kernel verifies it alone.
void settleCallees(Object &obj);

// After every function is analysed and finishFrames ran: per static subprog,
// the arguments no caller passes a stack pointer in.
std::map<std::string, uint8_t> numberArguments(const Object &obj);

// After frames are known: stack a function's callees may reach through a
// pointer argument into its own frame.
void finishFrames(Object &obj);

} // namespace pstack::detail
