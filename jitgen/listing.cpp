// Listings (x86 beside the BPF instruction and its source line) and
// --emit-jit's files.
#include "jitgen/jitgen.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace pstack {

namespace {
std::string hexBytes(const std::vector<uint8_t> &code, uint32_t at, uint32_t n) {
  std::ostringstream s;
  for (uint32_t i = 0; i < n; ++i)
    s << std::hex << std::setw(2) << std::setfill('0') << unsigned(code[at + i]) << ' ';
  return s.str();
}
const char *fixupName(JitFixup::Kind k) {
  switch (k) {
  case JitFixup::Kind::Call: return "call";
  case JitFixup::Kind::Helper: return "helper";
  case JitFixup::Kind::Kfunc: return "kfunc";
  case JitFixup::Kind::KernelFunc: return "kernel";
  case JitFixup::Kind::MapAddr: return "map";
  case JitFixup::Kind::FuncAddr: return "func";
  case JitFixup::Kind::DataAddr: return "data";
  case JitFixup::Kind::PerCpuOff: return "percpu";
  }
  return "?";
}
} // namespace

std::string jitListing(const Object &obj, const JitImage &img, const JitFunction &fn) {
  (void)img;
  const Function *bf = obj.function(fn.function);
  std::ostringstream s;
  s << fn.program << "/" << fn.function << ": " << placeName(fn.plan.place);
  if (!fn.plan.region.empty())
    s << " " << fn.plan.region;
  s << ", frame " << fn.plan.frame << " B";
  if (fn.plan.place == FramePlan::Place::ProgramBufferAt || fn.plan.place == FramePlan::Place::OwnBuffer)
    s << " at offset " << fn.plan.offset;
  s << ", r10 = " << (fn.usesR9 ? "r9 (frame top)" : "rbp") << ", " << fn.code.size()
    << " bytes of code\n";
  std::map<uint32_t, uint32_t> byOffset; // x86 offset -> BPF index
  for (auto &[i, off] : fn.insnOffsets)
    byOffset[off] = i;
  std::map<uint32_t, const JitFixup *> fix;
  for (auto &f : fn.fixups)
    fix[f.offset] = &f;
  std::vector<X86Insn> code;
  try {
    code = decodeX86(fn.code);
  } catch (const JitError &e) {
    return s.str() + "  (" + e.what() + ")\n";
  }
  bool prologue = true;
  std::string lastLine;
  s << "  ; prologue\n";
  for (auto &x : code) {
    auto b = byOffset.find(x.offset);
    if (b != byOffset.end() && bf) {
      prologue = false;
      const Insn *in = bf->insnAt(b->second);
      if (in) {
        s << "  ; " << bf->sectionInsn(in->index) << ": " << in->text();
        if (in->loc) {
          s << "    [" << in->loc->str() << "]";
          if (!in->loc->text.empty() && in->loc->text != lastLine) {
            std::string t(in->loc->text);
            size_t a = t.find_first_not_of(" \t");
            s << "  " << (a == std::string::npos ? t : t.substr(a));
            lastLine = in->loc->text;
          }
        }
        s << "\n";
      }
    }
    (void)prologue;
    char off[16];
    std::snprintf(off, sizeof off, "%5x:", x.offset);
    std::string bytes = hexBytes(fn.code, x.offset, std::min<uint32_t>(x.size, 10));
    s << off << " " << std::left << std::setw(31) << bytes << x.text;
    for (uint32_t k = x.offset; k < x.offset + x.size; ++k) {
      auto it = fix.find(k);
      if (it == fix.end())
        continue;
      const JitFixup &f = *it->second;
      s << "    <" << fixupName(f.kind) << " ";
      if (f.kind == JitFixup::Kind::Helper)
        s << f.id;
      else
        s << f.name;
      if (f.kind == JitFixup::Kind::PerCpuOff)
        s << "+" << f.addend;
      s << ">";
    }
    if (x.offset == fn.tailLanding)
      s << "    <- tail-call landing";
    s << "\n";
  }
  return s.str();
}

namespace {
// A symbol name may hold '/' (SEC-like names are valid ELF symbols): it is
// written as %2F (and '%' as %25), so that every function gets its own file
// in DIR and distinct names stay distinct.
std::string fileName(const std::string &name) {
  std::string out;
  for (char c : name) {
    if (c == '/')
      out += "%2F";
    else if (c == '%')
      out += "%25";
    else
      out += c;
  }
  return out;
}
} // namespace

void writeJit(const Object &obj, const JitImage &img, const std::string &dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw InputError(dir, "--emit-jit", "cannot create the directory: " + ec.message());
  nlohmann::json layout;
  layout["scheme"] = schemeName(img.scheme);
  layout["per_cpu_bytes"] = img.perCpuBytes;
  layout["buffers"] = nlohmann::json::array();
  for (auto &b : img.buffers)
    layout["buffers"].push_back({{"name", b.name}, {"bytes", b.bytes}, {"guard", b.guard},
                                 {"offset", b.offset}});
  layout["functions"] = nlohmann::json::array();
  for (auto &f : img.functions) {
    const std::string file = fileName(f.program) + "." + fileName(f.function);
    std::string base = dir + "/" + file;
    std::ofstream bin(base + ".bin", std::ios::binary);
    bin.write(reinterpret_cast<const char *>(f.code.data()), std::streamsize(f.code.size()));
    std::ofstream lst(base + ".s");
    lst << jitListing(obj, img, f);
    if (!bin || !lst)
      throw InputError(base + ".bin", "--emit-jit", "cannot write");
    nlohmann::json fj = {{"program", f.program}, {"function", f.function},
                         {"place", placeName(f.plan.place)}, {"region", f.plan.region},
                         {"frame", f.plan.frame}, {"offset", f.plan.offset},
                         {"bytes", f.code.size()}, {"file", file + ".bin"},
                         {"tail_landing", f.tailLanding},
                         {"uses_r9", f.usesR9}};
    fj["fixups"] = nlohmann::json::array();
    for (auto &x : f.fixups)
      fj["fixups"].push_back({{"kind", fixupName(x.kind)}, {"offset", x.offset}, {"name", x.name},
                              {"id", x.id}, {"addend", x.addend}});
    layout["functions"].push_back(fj);
  }
  std::ofstream lj(dir + "/layout.json");
  lj << layout.dump(2) << "\n";
  if (!lj)
    throw InputError(dir + "/layout.json", "--emit-jit", "cannot write");
}

} // namespace pstack
