// .debug_line (DWARF 2 to 5), read by our own bounded parser. LLVM 14's
// reader (DWARFContext, and llvm-dwarfdump with it) jumps to a wild address
// on some malformed line tables — fuzzing found one — and a tool that
// gates CI must not crash on its input. Every read here is bounds-checked;
// malformed data is an InputError naming the offset.
#include "frontend/internal.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

namespace pstack::detail {

namespace {

class Reader {
public:
  Reader(const std::string &file, Bytes b, size_t begin, size_t end)
      : file_(file), b_(b), at_(begin), end_(end) {}
  size_t at() const { return at_; }
  bool done() const { return at_ >= end_; }
  void seek(size_t to) {
    if (to > end_)
      fail("offset " + std::to_string(to) + " lies past the end of its unit");
    at_ = to;
  }
  [[noreturn]] void fail(const std::string &why) const {
    throw InputError(file_, "section .debug_line at offset " + std::to_string(at_), why);
  }
  uint64_t fixed(unsigned n) {
    if (n > end_ - std::min(at_, end_))
      fail("truncated (" + std::to_string(n) + " bytes wanted)");
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i)
      v |= uint64_t(b_.data[at_ + i]) << (8 * i);
    at_ += n;
    return v;
  }
  uint64_t uleb() {
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
      uint8_t byte = uint8_t(fixed(1));
      if (shift < 64)
        v |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        return v;
      if (shift > 70)
        fail("LEB128 number longer than 10 bytes");
    }
  }
  int64_t sleb() {
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t byte;
    do {
      byte = uint8_t(fixed(1));
      if (shift < 64)
        v |= int64_t(uint64_t(byte & 0x7f) << shift);
      shift += 7;
      if (shift > 77)
        fail("LEB128 number longer than 10 bytes");
    } while (byte & 0x80);
    if (shift < 64 && (byte & 0x40))
      v |= -(int64_t(1) << shift);
    return v;
  }
  std::string cstr() {
    size_t start = at_;
    while (at_ < end_ && b_.data[at_])
      ++at_;
    if (at_ >= end_)
      fail("string not terminated");
    return std::string(reinterpret_cast<const char *>(b_.data + start), at_++ - start);
  }

private:
  const std::string &file_;
  Bytes b_;
  size_t at_, end_;
};

std::string stringAt(const std::string &file, Bytes sec, const char *name, uint64_t off) {
  if (off >= sec.size)
    throw InputError(file, std::string("section ") + name,
                     "string offset " + std::to_string(off) + " lies outside the section");
  const char *p = reinterpret_cast<const char *>(sec.data + off);
  size_t n = strnlen(p, sec.size - off);
  if (n == sec.size - off)
    throw InputError(file, std::string("section ") + name, "string not terminated");
  return std::string(p, n);
}

bool absolute(const std::string &p) { return !p.empty() && p[0] == '/'; }

std::string join(const std::string &dir, const std::string &name) {
  if (dir.empty() || absolute(name))
    return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

struct FileEntry {
  std::string name;
  uint64_t dir = 0;
};

// DWARF 5 entry formats: (content type, form) pairs.
constexpr uint64_t kPath = 1, kDirIndex = 2;

} // namespace

LineTable parseDwarfLines(const std::string &file, const DwarfLineSections &in) {
  LineTable out;
  Bytes sec = in.line;
  size_t unit = 0;
  while (unit < sec.size) {
    Reader r(file, sec, unit, sec.size);
    uint64_t length = r.fixed(4);
    unsigned offSize = 4;
    if (length == 0xffffffff) {
      length = r.fixed(8);
      offSize = 8;
    } else if (length >= 0xfffffff0) {
      r.fail("reserved unit length " + std::to_string(length));
    }
    if (length > sec.size - r.at())
      r.fail("unit length " + std::to_string(length) + " runs past the section");
    size_t unitEnd = r.at() + size_t(length);
    Reader u(file, sec, r.at(), unitEnd);
    uint16_t version = uint16_t(u.fixed(2));
    if (version < 2 || version > 5)
      u.fail("unsupported line table version " + std::to_string(version));
    unsigned addrSize = 8;
    if (version >= 5) {
      addrSize = unsigned(u.fixed(1));
      (void)u.fixed(1); // segment selector size
    }
    uint64_t headerLength = u.fixed(offSize);
    if (headerLength > unitEnd - u.at())
      u.fail("header length runs past the unit");
    size_t program = u.at() + size_t(headerLength);
    unsigned minInsn = unsigned(u.fixed(1));
    if (version >= 4)
      (void)u.fixed(1); // maximum operations per instruction (VLIW only)
    bool defaultStmt = u.fixed(1) != 0;
    (void)defaultStmt;
    int8_t lineBase = int8_t(u.fixed(1));
    unsigned lineRange = unsigned(u.fixed(1));
    unsigned opcodeBase = unsigned(u.fixed(1));
    if (lineRange == 0)
      u.fail("line_range is 0");
    std::vector<uint8_t> argCount(opcodeBase ? opcodeBase - 1 : 0);
    for (auto &n : argCount)
      n = uint8_t(u.fixed(1));

    std::vector<std::string> dirs;
    std::vector<FileEntry> files;
    if (version >= 5) {
      auto readEntries = [&](auto &&store) {
        unsigned nFormats = unsigned(u.fixed(1));
        std::vector<std::pair<uint64_t, uint64_t>> formats(nFormats);
        for (auto &f : formats)
          f = {u.uleb(), u.uleb()};
        uint64_t count = u.uleb();
        if (count > unitEnd)
          u.fail("entry count " + std::to_string(count) + " exceeds the unit");
        for (uint64_t i = 0; i < count; ++i) {
          FileEntry e;
          for (auto [content, form] : formats) {
            std::string text;
            uint64_t value = 0;
            switch (form) {
            case 0x08: text = u.cstr(); break;                                            // string
            case 0x1f: text = stringAt(file, in.lineStr, ".debug_line_str", u.fixed(offSize)); break; // line_strp
            case 0x0e: text = stringAt(file, in.str, ".debug_str", u.fixed(offSize)); break;          // strp
            case 0x0b: value = u.fixed(1); break;                                         // data1
            case 0x05: value = u.fixed(2); break;                                         // data2
            case 0x06: value = u.fixed(4); break;                                         // data4
            case 0x07: value = u.fixed(8); break;                                         // data8
            case 0x0f: value = u.uleb(); break;                                           // udata
            case 0x1e: u.seek(u.at() + 16); break;                                        // data16 (MD5)
            case 0x09: u.seek(u.at() + size_t(std::min<uint64_t>(u.uleb(), unitEnd))); break; // block
            default: u.fail("unsupported form " + std::to_string(form) + " in a line table header");
            }
            if (content == kPath)
              e.name = text;
            else if (content == kDirIndex)
              e.dir = value;
          }
          store(std::move(e));
        }
      };
      readEntries([&](FileEntry e) { dirs.push_back(std::move(e.name)); });
      readEntries([&](FileEntry e) { files.push_back(std::move(e)); });
    } else {
      dirs.push_back(""); // index 0: the compilation directory (in .debug_info)
      for (std::string d = u.cstr(); !d.empty(); d = u.cstr())
        dirs.push_back(d);
      for (std::string f = u.cstr(); !f.empty(); f = u.cstr()) {
        FileEntry e{f, u.uleb()};
        (void)u.uleb(); // mtime
        (void)u.uleb(); // length
        files.push_back(std::move(e));
      }
    }
    // DWARF 5 numbers files from 0, earlier versions from 1
    // each file's path made once per unit, kept in the table's store
    std::vector<std::optional<std::string_view>> paths(files.size());
    auto path = [&](uint64_t index) -> std::string_view {
      uint64_t i = version >= 5 ? index : index - 1;
      if (i >= files.size())
        return {};
      auto &p = paths[size_t(i)];
      if (!p) {
        const FileEntry &f = files[size_t(i)];
        p = out.store->keep(f.dir < dirs.size() ? join(dirs[size_t(f.dir)], f.name) : f.name);
      }
      return *p;
    };

    // the line-number program
    u.seek(program);
    struct State {
      uint64_t address = 0, file = 1, line = 1, column = 0;
      std::optional<std::string> section; // from the relocation at set_address
    } st;
    auto emit = [&] {
      if (!st.section || st.address > UINT32_MAX || st.line == 0) // line 0: no source line
        return;
      SourceLine loc;
      loc.file = path(st.file);
      loc.line = uint32_t(std::min<uint64_t>(st.line, UINT32_MAX));
      loc.column = uint32_t(std::min<uint64_t>(st.column, UINT32_MAX));
      out.add(out.sections[*st.section], uint32_t(st.address), loc);
    };
    while (!u.done()) {
      uint8_t op = uint8_t(u.fixed(1));
      if (op >= opcodeBase && opcodeBase > 0) {
        unsigned adj = op - opcodeBase;
        st.address += uint64_t(minInsn) * (adj / lineRange);
        st.line += int64_t(lineBase) + int64_t(adj % lineRange);
        emit();
        continue;
      }
      switch (op) {
      case 0: { // extended
        uint64_t len = u.uleb();
        if (len == 0 || len > unitEnd - u.at())
          u.fail("extended opcode length " + std::to_string(len) + " runs past the unit");
        size_t next = u.at() + size_t(len);
        uint8_t sub = uint8_t(u.fixed(1));
        if (sub == 1) { // end_sequence: the address past the sequence
          st = State{};
        } else if (sub == 2) { // set_address
          size_t operand = u.at();
          unsigned n = unsigned(len - 1);
          if (n != addrSize && n != 4 && n != 8)
            u.fail("set_address with a " + std::to_string(n) + "-byte operand");
          uint64_t inplace = u.fixed(n);
          auto resolved = in.resolveAddress(operand, inplace);
          st.section.reset();
          if (resolved) {
            st.section = resolved->first;
            st.address = resolved->second;
          }
        }
        u.seek(next);
        break;
      }
      case 1: emit(); break;                                              // copy
      case 2: st.address += uint64_t(minInsn) * u.uleb(); break;          // advance_pc
      case 3: st.line += uint64_t(u.sleb()); break;                       // advance_line
      case 4: st.file = u.uleb(); break;                                  // set_file
      case 5: st.column = u.uleb(); break;                                // set_column
      case 8: st.address += uint64_t(minInsn) * ((255 - opcodeBase) / lineRange); break; // const_add_pc
      case 9: st.address += u.fixed(2); break;                            // fixed_advance_pc
      case 6: case 7: case 10: case 11: break;                            // flags
      default:                                                            // set_isa, unknown: skip args
        if (op - 1u >= argCount.size())
          u.fail("opcode " + std::to_string(op) + " has no argument count");
        for (unsigned i = 0; i < argCount[op - 1]; ++i)
          (void)u.uleb();
      }
    }
    unit = unitEnd;
  }
  return out;
}

} // namespace pstack::detail
