// BTF: map definitions from the .maps DATASEC (through libbpf's btf API on
// the raw .BTF bytes) and line info from .BTF.ext (parsed here: libbpf 1.1
// exports no accessor for it).
#include "frontend/internal.h"

#include <bpf/btf.h>
#include <linux/btf.h>

#include <set>

#include <cstring>
#include <memory>

namespace pstack::detail {

namespace {
struct BtfDeleter {
  void operator()(struct btf *b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

BtfPtr openBtf(Bytes raw, std::string &error) {
  // btf__new copies the bytes and validates them.
  struct btf *b = btf__new(raw.data, uint32_t(raw.size));
  if (!b) { // libbpf 1.x: NULL and errno on error
    error = "malformed BTF (libbpf: " + std::string(std::strerror(errno ? errno : EINVAL)) + ")";
    return nullptr;
  }
  return BtfPtr(b);
}

const char *nameOf(const struct btf *btf, uint32_t off) {
  const char *s = btf__name_by_offset(btf, off);
  return s ? s : "";
}

// __uint(name, N) is `int (*name)[N]`: the number is the array length.
bool uintField(const struct btf *btf, uint32_t typeId, uint32_t &out) {
  const struct btf_type *t = btf__type_by_id(btf, typeId);
  if (!t || !btf_is_ptr(t))
    return false;
  const struct btf_type *arr = btf__type_by_id(btf, t->type);
  if (!arr || !btf_is_array(arr))
    return false;
  out = btf_array(arr)->nelems;
  return true;
}

// __type(key, T) is `T *key`: the size is sizeof(T).
bool typeSize(const struct btf *btf, uint32_t typeId, uint32_t &out) {
  const struct btf_type *t = btf__type_by_id(btf, typeId);
  if (!t || !btf_is_ptr(t))
    return false;
  long sz = btf__resolve_size(btf, t->type);
  if (sz < 0)
    return false;
  out = uint32_t(sz);
  return true;
}
} // namespace

std::vector<BtfMapInfo> parseBtfMaps(const std::string &, Bytes raw, std::string &error) {
  std::vector<BtfMapInfo> out;
  BtfPtr btf = openBtf(raw, error);
  if (!btf)
    return out;
  int secId = btf__find_by_name_kind(btf.get(), ".maps", BTF_KIND_DATASEC);
  if (secId < 0)
    return out; // no BTF maps described
  const struct btf_type *sec = btf__type_by_id(btf.get(), secId);
  const struct btf_var_secinfo *vi = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); ++i, ++vi) {
    const struct btf_type *var = btf__type_by_id(btf.get(), vi->type);
    if (!var || !btf_is_var(var)) {
      error = ".maps DATASEC entry " + std::to_string(i) + " is not a variable";
      return out;
    }
    BtfMapInfo m;
    m.name = nameOf(btf.get(), var->name_off);
    int defId = btf__resolve_type(btf.get(), var->type);
    const struct btf_type *def = defId < 0 ? nullptr : btf__type_by_id(btf.get(), defId);
    if (!def || !btf_is_struct(def)) {
      error = "map " + m.name + ": definition is not a struct";
      return out;
    }
    const struct btf_member *mem = btf_members(def);
    for (int j = 0; j < btf_vlen(def); ++j, ++mem) {
      std::string f = nameOf(btf.get(), mem->name_off);
      bool ok = true;
      if (f == "type")
        ok = uintField(btf.get(), mem->type, m.type);
      else if (f == "max_entries")
        ok = uintField(btf.get(), mem->type, m.maxEntries);
      else if (f == "key_size")
        ok = uintField(btf.get(), mem->type, m.keySize);
      else if (f == "value_size")
        ok = uintField(btf.get(), mem->type, m.valueSize);
      else if (f == "key")
        ok = typeSize(btf.get(), mem->type, m.keySize);
      else if (f == "value")
        ok = typeSize(btf.get(), mem->type, m.valueSize);
      else if (f == "values") {
        m.hasValues = true;
        m.valuesOffset = btf_member_bit_offset(def, j) / 8;
        // prog arrays / maps of maps: the value is a 4-byte id
        if (!m.valueSize)
          m.valueSize = 4;
      }
      if (!ok) {
        error = "map " + m.name + ": field `" + f + "` is not in libbpf's __uint/__type form";
        return out;
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<std::set<std::string>> parseBtfKsyms(Bytes raw) {
  std::string error;
  BtfPtr btf = openBtf(raw, error);
  if (!btf)
    return std::nullopt;
  std::set<std::string> out;
  int secId = btf__find_by_name_kind(btf.get(), ".ksyms", BTF_KIND_DATASEC);
  if (secId < 0)
    return out;
  const struct btf_type *sec = btf__type_by_id(btf.get(), secId);
  const struct btf_var_secinfo *vi = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); ++i, ++vi)
    if (const struct btf_type *t = btf__type_by_id(btf.get(), vi->type))
      out.insert(nameOf(btf.get(), t->name_off));
  return out;
}

std::map<std::string, KfuncReturn> parseBtfFuncReturns(Bytes raw) {
  std::map<std::string, KfuncReturn> out;
  std::string error;
  BtfPtr btf = openBtf(raw, error);
  if (!btf)
    return out;
  // through typedefs and qualifiers
  auto strip = [&](uint32_t id) -> const struct btf_type * {
    for (int hops = 0; hops < 32; ++hops) {
      const struct btf_type *t = btf__type_by_id(btf.get(), id);
      if (!t || !(btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t) ||
                  btf_is_restrict(t) || btf_is_type_tag(t)))
        return t;
      id = t->type;
    }
    return nullptr;
  };
  const uint32_t n = btf__type_cnt(btf.get());
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type *f = btf__type_by_id(btf.get(), id);
    if (!f || !btf_is_func(f))
      continue;
    const struct btf_type *proto = btf__type_by_id(btf.get(), f->type);
    if (!proto || !btf_is_func_proto(proto))
      continue;
    KfuncReturn r = KfuncReturn::Unknown;
    if (proto->type == 0) {
      r = KfuncReturn::Scalar; // void
    } else if (const struct btf_type *t = strip(proto->type)) {
      if (btf_is_int(t) || btf_is_enum(t) || btf_is_enum64(t))
        r = KfuncReturn::Scalar;
      else if (btf_is_ptr(t)) {
        const struct btf_type *to = t->type ? strip(t->type) : nullptr;
        r = to && (btf_is_struct(to) || btf_is_union(to)) ? KfuncReturn::BtfObject
                                                         : KfuncReturn::Memory;
      }
    }
    out[nameOf(btf.get(), f->name_off)] = r;
  }
  return out;
}

std::set<std::string> parseBtfGlobalFuncs(Bytes raw) {
  std::set<std::string> out;
  std::string error;
  BtfPtr btf = openBtf(raw, error);
  if (!btf)
    return out;
  const uint32_t n = btf__type_cnt(btf.get());
  for (uint32_t id = 1; id < n; ++id) {
    const struct btf_type *f = btf__type_by_id(btf.get(), id);
    if (f && btf_is_func(f) && btf_vlen(f) == BTF_FUNC_GLOBAL) // (linkage: the vlen field)
      out.insert(nameOf(btf.get(), f->name_off));
  }
  return out;
}

LineTable parseBtfExtLines(const std::string &file, Bytes btfRaw, Bytes ext) {
  LineTable out;
  std::string err;
  BtfPtr btf = openBtf(btfRaw, err);
  if (!btf)
    throw InputError(file, "section .BTF", err);
  auto bad = [&](const std::string &why) {
    return InputError(file, "section .BTF.ext", why);
  };
  auto u32 = [&](size_t at) {
    if (at + 4 > ext.size)
      throw bad("truncated at offset " + std::to_string(at));
    const uint8_t *p = ext.data + at;
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  };
  if (ext.size < 8)
    throw bad("too short for a header");
  uint16_t magic = uint16_t(ext.data[0] | ext.data[1] << 8);
  if (magic != 0xeB9F)
    throw bad("bad magic (big-endian or not BTF.ext)");
  uint32_t hdrLen = u32(4);
  // struct btf_ext_header: magic, version, flags, hdr_len, func_info_off,
  // func_info_len, line_info_off, line_info_len (offsets after the header)
  if (hdrLen < 24)
    throw bad("header length " + std::to_string(hdrLen) + " is below 24");
  uint32_t lineOff = u32(16), lineLen = u32(20);
  if (lineLen == 0)
    return out;
  size_t begin = size_t(hdrLen) + lineOff, end = begin + lineLen;
  if (end > ext.size || end < begin)
    throw bad("line_info lies outside the section");
  uint32_t recSize = u32(begin);
  if (recSize < 16)
    throw bad("line_info record size " + std::to_string(recSize) + " is below 16");
  // The strings stay in libbpf's copy of the BTF (validated by btf__new:
  // each NUL-terminated inside its table), which the table keeps: a record
  // costs two views, not two strings.
  auto str = [&](uint32_t off) -> std::string_view {
    const char *s = btf__name_by_offset(btf.get(), off);
    return s ? std::string_view(s) : std::string_view();
  };
  // (consecutive records mostly name one file)
  uint32_t lastFileOff = UINT32_MAX;
  std::string_view lastFile;
  out.store->lines.reserve(lineLen / recSize);
  for (size_t at = begin + 4; at < end;) {
    uint32_t secName = u32(at), num = u32(at + 4);
    at += 8;
    if (uint64_t(num) * recSize > end - at)
      throw bad("line_info of section " + std::string(str(secName)) + " overruns its table");
    auto &lines = out.sections[std::string(str(secName))];
    for (uint32_t i = 0; i < num; ++i, at += recSize) {
      SourceLine loc;
      uint32_t insnOff = u32(at);
      if (uint32_t fileOff = u32(at + 4); fileOff != lastFileOff) {
        lastFileOff = fileOff;
        lastFile = str(fileOff);
      }
      loc.file = lastFile;
      loc.text = str(u32(at + 8));
      uint32_t lc = u32(at + 12);
      loc.line = lc >> 10;
      loc.column = lc & 0x3ff;
      out.add(lines, insnOff, loc);
    }
  }
  out.store->owner = std::shared_ptr<const struct btf>(std::move(btf));
  return out;
}

} // namespace pstack::detail
