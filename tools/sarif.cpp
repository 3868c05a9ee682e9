#include "tools/sarif.h"

#include <cctype>
#include <filesystem>

namespace pstack::cli {

namespace {

using nlohmann::json;

struct Rule {
  const char *id, *name, *shortText, *help;
};
// Stable ruleIds: the violation kinds of DESIGN.md.
const Rule kRules[] = {
    {"alias", "FrameAlias", "Two live BPF stack frames overlap in one per-CPU buffer.",
     "Two frames that are live at the same time on one CPU occupy the same bytes of a "
     "private-stack buffer: the later one clobbers the earlier one. Typical causes: a tail "
     "call or a nested program re-enters a function whose frame is still live while every "
     "function has one fixed buffer (per-subprog), or a new activation starts at its "
     "program's buffer base while that program is live (per-prog). Follow the code flow: the "
     "two clashing frames are marked in its state."},
    {"overflow", "FrameOverflow", "A BPF stack frame leaves its buffer or the kernel stack budget.",
     "The frame's bytes reach past the end (or before the start) of the buffer the scheme "
     "gives it, or the frames on the kernel stack pass its budget (16 KiB on x86-64). Give a "
     "larger buffer (--buffer-size), bound the tail-call chain, or break the nesting cycle."},
    {"out_of_frame", "AccessOutsideFrame", "A stack access at or above r10.",
     "An instruction reads or writes at r10 + k with k >= 0: outside the function's frame."},
    {"r9_clobber", "R9Clobbered", "r9 differs after a call from before it.",
     "The private-stack frame pointer r9 was not restored around a call."},
    {"kernel_limit", "KernelVerifierLimit", "The in-kernel verifier would reject this call chain.",
     "The combined stack of a call chain passes 512 bytes (frames rounded as the chosen "
     "kernel does), the chain has more than 8 frames, a subprog tail-calls under more than "
     "256 bytes of callers' frames, or functions recurse."},
};

const char *kSrcRoot = "SRCROOT";

// A path as a URI path: every byte but the unreserved ones and "/"
// percent-encoded (a space, "%", "#" or "?" in a file name stays a path).
std::string encode(const std::string &path) {
  static const char *hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path)
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~')
      out += char(c);
    else
      out += std::string("%") + hex[c >> 4] + hex[c & 15];
  return out;
}

std::string absolute(const std::string &path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return (ec ? std::filesystem::path(path) : p).lexically_normal().string();
}

// SARIF wants URIs. Under --source-root, a file below the root is relative
// to it, with uriBaseId SRCROOT (GitHub code scanning resolves it against
// the repository); anything else keeps an absolute file:// URI.
json artifact(const std::string &path, const Options &o) {
  if (!o.sourceRoot.empty() && !path.empty()) {
    auto rel = std::filesystem::path(absolute(path)).lexically_relative(absolute(o.sourceRoot));
    if (!rel.empty() && *rel.begin() != ".." && rel != ".")
      return {{"uri", encode(rel.string())}, {"uriBaseId", kSrcRoot}};
  }
  if (!path.empty() && path[0] == '/')
    return {{"uri", "file://" + encode(path)}};
  return {{"uri", encode(path)}};
}

json physical(const std::string &object, const TraceStep &s, const Options &o) {
  if (s.source) {
    json region = {{"startLine", s.source->line}};
    if (s.source->column)
      region["startColumn"] = s.source->column;
    if (!s.source->text.empty())
      region["snippet"] = {{"text", s.source->text}};
    return {{"artifactLocation", artifact(s.source->file, o)}, {"region", region}};
  }
  // no line info: the object, its section and the instruction's byte offset
  json loc = {{"artifactLocation", artifact(object, o)}};
  if (s.insn)
    loc["address"] = {{"name", s.section}, {"relativeAddress", uint64_t(*s.insn) * 8},
                      {"kind", "instruction"}};
  return loc;
}

} // namespace

json toSarif(const std::vector<ObjectResult> &results, const Options &o) {
  json rules = json::array();
  for (auto &r : kRules)
    rules.push_back({{"id", r.id},
                     {"name", r.name},
                     {"shortDescription", {{"text", r.shortText}}},
                     {"fullDescription", {{"text", r.help}}},
                     {"help", {{"text", r.help}}},
                     {"defaultConfiguration", {{"level", "error"}}}});
  auto ruleIndex = [](const std::string &kind) {
    for (size_t i = 0; i < std::size(kRules); ++i)
      if (kind == kRules[i].id)
        return int(i);
    return -1;
  };
  json res = json::array(), notifications = json::array();
  bool ok = true;
  for (auto &r : results) {
    if (!r.report) {
      ok = false;
      notifications.push_back({{"level", "error"},
                               {"message", {{"text", r.error}}},
                               {"locations", json::array({{{"physicalLocation",
                                                            {{"artifactLocation", artifact(r.path, o)}}}}})}});
      continue;
    }
    if (r.object && r.object->programs.empty())
      notifications.push_back({{"level", "note"},
                               {"message", {{"text", r.path + ": no programs (nothing to verify)"}}},
                               {"locations", json::array({{{"physicalLocation",
                                                            {{"artifactLocation", artifact(r.path, o)}}}}})}});
    for (auto &p : r.report->programs)
      if (p.verdict == Verdict::Unknown)
        notifications.push_back({{"level", "warning"},
                                 {"message", {{"text", r.path + ": " + p.name + ": unknown: " + p.reason}}}});
    for (auto &v : r.report->violations) {
      json result = {{"ruleId", v.kind}, {"level", "error"},
                     {"message", {{"text", v.program + ": " + v.message}}}};
      if (int i = ruleIndex(v.kind); i >= 0)
        result["ruleIndex"] = i;
      // the result's location: the last clashing step (where it happens)
      const TraceStep *at = v.trace.empty() ? nullptr : &v.trace.back();
      for (auto &s : v.trace)
        if (s.clash)
          at = &s;
      if (at)
        result["locations"] = json::array({{{"physicalLocation", physical(r.path, *at, o)}}});
      json flow = json::array();
      for (auto &s : v.trace) {
        std::string what = s.event + " " + s.program + "/" + s.function;
        if (s.insn)
          what += " (from insn " + std::to_string(*s.insn) + ")";
        json state = {{"region", {{"text", s.region}}},
                      {"bytes", {{"text", "[" + std::to_string(s.lo) + ", " + std::to_string(s.hi) + ")"}}},
                      {"clash", {{"text", s.clash ? "yes" : "no"}}}};
        flow.push_back({{"location", {{"physicalLocation", physical(r.path, s, o)},
                                      {"message", {{"text", what}}}}},
                        {"nestingLevel", s.depth},
                        {"state", state},
                        {"importance", s.clash ? "essential" : "important"}});
      }
      result["codeFlows"] = json::array({{{"threadFlows", json::array({{{"locations", flow}}})}}});
      result["properties"] = {{"object", r.path}, {"scheme", o.scheme}};
      res.push_back(result);
    }
  }
  // no informationUri: the project has no public address to point at
  json run = {{"tool",
               {{"driver",
                 {{"name", "pstack-verify"},
                  {"version", PSTACK_VERSION},
                  {"rules", rules}}}}},
              {"results", res},
              {"invocations", json::array({{{"executionSuccessful", ok},
                                            {"toolExecutionNotifications", notifications}}})}};
  if (!o.sourceRoot.empty()) {
    std::string root = absolute(o.sourceRoot);
    if (root.empty() || root.back() != '/')
      root += '/'; // a base URI names a directory: it ends with "/"
    run["originalUriBaseIds"] = {{kSrcRoot, {{"uri", "file://" + encode(root)}}}};
  }
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs", json::array({run})}};
}

} // namespace pstack::cli
