// pstack-verify: parse options, call the library, print. Exit status per
// DESIGN.md: 0 all safe, 1 a counterexample, 2 bad usage or unreadable
// object, 3 no counterexample but something unknown.
#include "hostkernel/hostkernel.h"
#include "tools/report.h"
#include "tools/sarif.h"
#include "tools/batch.h"
#include "proofs/proofs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <type_traits>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <malloc.h>
#include <unistd.h>

using namespace pstack;

namespace {

constexpr int kExitSafe = 0, kExitUnsafe = 1, kExitUsage = 2, kExitUnknown = 3;
// Bounds of the numeric options: past them a number means a typo, and the
// model's arithmetic (int64 offsets, deadlines in ns) must not wrap.
constexpr unsigned kMaxJobs = 1024;
constexpr double kMaxTimeout = 1e6;              // seconds, about 11 days
constexpr uint64_t kMaxBuffer = uint64_t(1) << 32; // bytes per buffer

const char *kUsage =
    "usage: pstack-verify [--scheme kernel|per-subprog|per-prog|planned|stack-switch] [--kernel 6.1|6.6|6.12|6.13|running]\n"
    "                     [--env FILE] [--format text|json|sarif|csv] [--dot FILE]\n"
    "                     [--timeout SECONDS] [--buffer-size BYTES] [--per-prog-r9 base|top]\n"
    "                     [--engine auto|explicit|bounded|unbounded] [--cross-check] [--explain] [-j N]\n"
    "                     [--emit-plan FILE] [--emit-jit DIR] [--emit-smt DIR] [--replay]\n"
    "                     [--source-root DIR] [-q] OBJECT|DIR...\n"
    "       pstack-verify --compare OLD.csv NEW.csv\n"
    "       pstack-verify --prove-jit\n"
    "       pstack-verify --version\n"
    "\n"
    "Proves that BPF programs running on a per-CPU private stack never have two\n"
    "live frames overlap and never leave their buffer, or prints a counterexample.\n"
    "\n"
    "  --scheme S       frame layout scheme (default kernel)\n"
    "  --kernel V       kernel whose rules the kernel scheme follows (default 6.13);\n"
    "                   running: ask the running kernel (as root; cached per boot)\n"
    "  --format F       text (default), json, sarif (SARIF 2.1.0, for CI) or csv\n"
    "  -j, --jobs N     verify N objects at a time\n"
    "  -q, --quiet      no progress lines on stderr in a batch\n"
    "  --compare A B    compare two --format csv runs, rows keyed by the path as\n"
    "                   given: changed verdicts, bytes, time; exit 1 on a regression\n"
    "  --dot FILE       write the call graph of the (last) object as Graphviz DOT,\n"
    "                   coloured by verdict, the first counterexample's path in red\n"
    "  --explain        show the source lines around each step of a trace\n"
    "  --timeout S      time limit per program in seconds (default 10)\n"
    "  --env FILE       environment: nesting, re-entry, prog arrays, limits (JSON);\n"
    "                   applies to the objects after it, up to the next --env (one\n"
    "                   --env after every object applies to all)\n"
    "  --buffer-size N  per-prog, stack-switch: bytes of each program's buffer (default:\n"
    "                   computed)\n"
    "  --per-prog-r9 W  per-prog: r9 at the frame `base` (default) or `top`\n"
    "  --engine E       auto (default), explicit, bounded (Z3) or unbounded (Z3 Spacer)\n"
    "  --cross-check    auto: Z3 checks the explicit search's proof (its states as an\n"
    "                   inductive invariant; engine explicit+z3), else re-proves\n"
    "  --emit-plan FILE write the layout (every frame's buffer and offset) as JSON;\n"
    "                   several objects: FILE is a directory, FILE/<path>.json each\n"
    "  --emit-jit DIR   JIT every program from the proved layout: DIR/<prog>.<func>.bin,\n"
    "                   .s listings (x86 beside BPF and source), layout.json; the\n"
    "                   decoded code is validated against the layout; for several\n"
    "                   objects DIR/<object path without .o>/ each (--emit-smt too)\n"
    "  --emit-smt DIR   write every obligation the Z3 engines discharged as SMT-LIB2\n"
    "                   and re-check each with the z3 and cvc5 binaries\n"
    "  --prove-jit      prove jitgen's x86-64 equal to BPF's meaning for every\n"
    "                   instruction form and frame sequence (Z3); print the table\n"
    "  --replay         JIT the layout even if it is not proved, run each program in\n"
    "                   the harness beside the reference interpreter, show differences\n"
    "  --source-root D  SARIF: artifact URIs relative to D (uriBaseId SRCROOT)\n"
    "  --version        the version\n"
    "  -h, --help       this text (the manual: man pstack-verify)\n"
    "\n"
    "Exit status: 0 all safe (or no programs), 1 counterexample, 2 bad usage or\n"
    "unreadable object, 3 no counterexample but at least one verdict unknown.\n";

// A usage error: one line saying what is wrong, and where the help is.
[[noreturn]] void usage(const std::string &msg) {
  std::cerr << "pstack-verify: " << msg << "\nTry 'pstack-verify --help' for more information.\n";
  std::exit(kExitUsage);
}

// A runtime error (nothing wrong with the command line): the message only.
[[noreturn]] void fail(const std::string &msg) {
  std::cerr << "pstack-verify: " << msg << "\n";
  std::exit(kExitUsage);
}

namespace fs = std::filesystem;

// Why `path` cannot be written as a file, or "" when it can (its
// directory exists and is writable; it is not a directory itself).
std::string cannotWriteFile(const std::string &path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return "is a directory";
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty())
    parent = ".";
  if (!fs::exists(parent, ec))
    return parent.string() + " does not exist";
  if (!fs::is_directory(parent, ec))
    return parent.string() + " is not a directory";
  if (access(parent.c_str(), W_OK) != 0 || (fs::exists(path, ec) && access(path.c_str(), W_OK) != 0))
    return std::string("not writable: ") + std::strerror(errno);
  return "";
}

// Makes the output directory `dir` (and its parents), or says why not.
std::string cannotMakeDir(const std::string &dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return ec.message();
  if (!fs::is_directory(dir, ec))
    return "is not a directory";
  if (access(dir.c_str(), W_OK) != 0)
    return std::string("not writable: ") + std::strerror(errno);
  return "";
}

// A whole-string number in (0, max], or a usage error naming the option:
// no sign, no blanks, no "inf"/"nan", nothing that wraps or overflows.
template <typename T>
T number(const std::string &option, const std::string &v, const char *what, T max) {
  bool plain = !v.empty() && v.find_first_not_of("0123456789.eE+-") == std::string::npos &&
               (std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '.');
  if constexpr (!std::is_floating_point_v<T>)
    plain = plain && v.find_first_not_of("0123456789") == std::string::npos;
  if (plain) {
    try {
      size_t used = 0;
      if constexpr (std::is_floating_point_v<T>) {
        double x = std::stod(v, &used);
        if (used == v.size() && std::isfinite(x) && x > 0 && x <= double(max))
          return T(x);
      } else {
        unsigned long long x = std::stoull(v, &used);
        if (used == v.size() && x > 0 && x <= static_cast<unsigned long long>(max))
          return T(x);
      }
    } catch (const std::exception &) {
    }
  }
  std::ostringstream bound;
  bound.precision(15);
  bound << max;
  usage(option + " needs " + what + " (at most " + bound.str() + "), not '" + v + "'");
}

} // namespace

int main(int argc, char **argv) {
  // Freed memory stays in the heap for the next allocation: a large
  // object's vectors grow past glibc's mmap threshold, and every one then
  // came from (and went back to) the kernel in fresh pages, each faulted in
  // (probe_120: 1,500 of 8,400 page faults).
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  cli::Options o;
  unsigned jobs = 1;
  std::vector<std::string> compare;
  std::vector<std::string> objects;
  bool proveJit = false;
  bool crossCheck = false;
  std::set<std::string> given; // options that take one value, to refuse a second
  std::vector<std::string> envFiles;
  std::vector<int> objectEnv; // per object: the --env before it (index), or -1
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        std::string v = a.substr(eq + 1);
        a = a.substr(0, eq);
        return v;
      }
      if (i + 1 >= argc)
        usage(a + " needs a value");
      return argv[++i];
    };
    std::string name = a.substr(0, a.find('='));
    static const std::set<std::string> kOnce = {
        "--scheme", "--kernel", "--format", "--dot", "--timeout", "--engine", "--per-prog-r9",
        "--buffer-size", "--emit-jit", "--emit-plan", "--emit-smt", "--compare", "--source-root"};
    if (kOnce.count(name) && !given.insert(name).second)
      usage(name + " given twice");
    if ((name == "-j" || name == "--jobs" || (a.size() > 2 && a.rfind("-j", 0) == 0)) &&
        !given.insert("-j").second)
      usage("-j given twice");
    if (name == "-h" || name == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (name == "--version") {
      std::cout << "pstack-verify " << PSTACK_VERSION << "\n";
      return 0;
    } else if (name == "-q" || name == "--quiet") {
      o.quiet = true;
    } else if (name == "--source-root") {
      o.sourceRoot = value();
    } else if (name == "--scheme") {
      o.scheme = value();
      if (!schemeFromName(o.scheme))
        usage("unknown scheme '" + o.scheme +
              "' (kernel, per-subprog, per-prog, planned or stack-switch)");
    } else if (name == "--kernel") {
      o.kernel = value();
      if (o.kernel != "running")
        try {
          kernelRules(o.kernel);
        } catch (const std::invalid_argument &e) {
          usage(e.what());
        }
    } else if (name == "--format") {
      o.format = value();
      if (o.format != "text" && o.format != "json" && o.format != "sarif" && o.format != "csv")
        usage("unknown format '" + o.format + "' (text, json, sarif or csv)");
    } else if (a.size() > 2 && a.rfind("-j", 0) == 0 && a[2] != '=') {
      jobs = number<unsigned>("-j", a.substr(2), "a positive number of threads", kMaxJobs);
    } else if (name == "--jobs" || name == "-j") {
      jobs = number<unsigned>(name, value(), "a positive number of threads", kMaxJobs);
    } else if (name == "--compare") {
      compare.push_back(value());
      if (i + 1 >= argc)
        usage("--compare needs two CSV files: --compare OLD.csv NEW.csv");
      compare.push_back(argv[++i]);
    } else if (name == "--explain") {
      o.explain = true;
    } else if (name == "--dot") {
      o.dotFile = value();
    } else if (name == "--env") {
      envFiles.push_back(value());
    } else if (name == "--timeout") {
      o.timeout = number<double>(name, value(), "a positive number of seconds", kMaxTimeout);
    } else if (a == "--cross-check") {
      crossCheck = true;
    } else if (name == "--engine") {
      o.engine = value();
      if (o.engine != "auto" && o.engine != "explicit" && o.engine != "bounded" &&
          o.engine != "unbounded")
        usage("unknown engine '" + o.engine + "' (auto, explicit, bounded or unbounded)");
    } else if (name == "--per-prog-r9") {
      std::string v = value();
      if (v != "base" && v != "top")
        usage("--per-prog-r9 is base or top, not '" + v + "'");
      o.r9AtTop = v == "top";
    } else if (name == "--buffer-size") {
      o.bufferSize = number<uint64_t>(name, value(), "a positive number of bytes", kMaxBuffer);
    } else if (name == "--emit-jit") {
      o.emitJit = value();
    } else if (name == "--emit-plan") {
      o.emitPlan = value();
    } else if (name == "--replay") {
      o.replay = true;
    } else if (name == "--prove-jit") {
      proveJit = true;
    } else if (name == "--emit-smt") {
      o.emitSmt = value();
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      usage("unknown option '" + a + "'");
    } else {
      objects.push_back(a);
      objectEnv.push_back(int(envFiles.size()) - 1);
    }
  }
  // Flags that would be ignored, or that contradict each other.
  if (!compare.empty()) {
    if (!objects.empty())
      usage("--compare takes two CSV files, not objects ('" + objects[0] + "')");
    if (given.count("--format"))
      usage("--format has no effect with --compare (it prints a table of what changed)");
  }
  if (proveJit && !objects.empty())
    usage("--prove-jit proves jitgen itself and takes no object ('" + objects[0] + "')");
  if (proveJit && !compare.empty())
    usage("--prove-jit and --compare are separate commands");
  if (o.bufferSize && o.scheme != "per-prog" && o.scheme != "stack-switch")
    usage("--buffer-size sizes per-prog and stack-switch buffers: it has no effect under "
          "--scheme " + o.scheme);
  if (given.count("--per-prog-r9") && o.scheme != "per-prog")
    usage("--per-prog-r9 has no effect under --scheme " + o.scheme);
  if (crossCheck && o.engine != "auto")
    usage("--cross-check re-proves what --engine auto's explicit search proved: it has no effect "
          "with --engine " + o.engine);
  if (!o.sourceRoot.empty() && o.format != "sarif")
    usage("--source-root makes SARIF URIs relative: it has no effect with --format " + o.format);
  if (!compare.empty()) {
    try {
      bool changed = false, regressed = false;
      std::cout << cli::compareCsv(compare[0], compare[1], changed, regressed);
      return regressed ? kExitUnsafe : kExitSafe;
    } catch (const InputError &e) {
      std::cerr << "pstack-verify: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  if (proveJit) {
    // translation validation of jitgen itself: needs no object
    TvOptions to;
    if (const char *only = getenv("PSTACK_PROVE_ONLY"))
      to.only = only;
    if (isatty(2))
      to.progress = [](const TvObligation &ob) {
        std::cerr << "\r\033[K" << tvStatusName(ob.status) << " " << ob.group << " " << ob.name << " ("
                  << ob.seconds << " s)" << std::flush;
      };
    else if (getenv("PSTACK_PROVE_VERBOSE"))
      to.progress = [](const TvObligation &ob) {
        std::cerr << tvStatusName(ob.status) << " " << ob.group << " " << ob.name << " (" << ob.seconds
                  << " s)\n";
      };
    to.smtDir = o.emitSmt;
    auto obs = validateTranslation(to);
    if (isatty(2))
      std::cerr << "\r\033[K";
    std::cout << tvTable(obs);
    if (!o.emitSmt.empty()) {
      // every query again, through the z3 and cvc5 binaries
      auto checks = recheckObligations(tvObligationFiles(o.emitSmt), o.timeout);
      std::string t = recheckTable(checks);
      std::cout << t.substr(t.rfind('\n', t.size() - 2) + 1);
      for (auto &c : checks)
        if (!c.proved())
          return kExitUsage;
    }
    for (auto &ob : obs)
      if (ob.status == TvStatus::Failed)
        return kExitUnsafe;
    for (auto &ob : obs)
      if (ob.status == TvStatus::Unknown)
        return kExitUnknown;
    return kExitSafe;
  }
  if (objects.empty())
    usage("no object given");

  VerifyOptions vo;
  vo.scheme = *schemeFromName(o.scheme);
  try {
    vo.kernel = resolveKernelRules(o.kernel);
  } catch (const HostKernelError &e) {
    std::cerr << "pstack-verify: " << e.what() << "\n";
    return kExitUsage;
  }
  vo.timeoutSeconds = o.timeout;
  vo.bufferSize = o.bufferSize;
  vo.perProgR9AtTop = o.r9AtTop;
  vo.collectObligations = !o.emitSmt.empty();
  using E = VerifyOptions::Engine;
  vo.engine = o.engine == "explicit" ? E::Explicit : o.engine == "bounded" ? E::Bounded
            : o.engine == "unbounded" ? E::Unbounded : E::Auto;
  vo.crossCheck = crossCheck;
  // every environment named, loaded once
  std::map<std::string, Environment> envs;
  for (auto &f : envFiles)
    try {
      envs.emplace(f, loadEnvironment(f));
    } catch (const InputError &e) {
      fail(e.what());
    }
  // an object takes the --env before it; when every object comes before
  // every --env (`pstack-verify X.o --env FILE`), the first one applies to all
  bool envsAfter = !envFiles.empty() &&
                   std::all_of(objectEnv.begin(), objectEnv.end(), [](int e) { return e < 0; });
  if (envsAfter && envFiles.size() > 1)
    usage("--env " + envFiles[1] + " applies to no object (an --env applies to the objects after it)");
  std::vector<std::string> objectEnvFile;
  std::set<int> used;
  for (int e : objectEnv) {
    int k = envsAfter ? 0 : e;
    used.insert(k);
    objectEnvFile.push_back(k < 0 ? "" : envFiles[size_t(k)]);
  }
  for (size_t k = 0; k < envFiles.size(); ++k)
    if (!used.count(int(k)) && !objects.empty())
      usage("--env " + envFiles[k] + " applies to no object (an --env applies to the objects after it)");
  std::vector<std::string> notes;
  std::vector<cli::Input> inputs = cli::expandObjects(objects, objectEnvFile, notes);
  for (auto &n : notes)
    std::cerr << "pstack-verify: " << n << "\n";
  // Outputs are checked before anything is verified: a run of minutes must
  // not end in "cannot write".
  o.batchOutputs = inputs.size() > 1;
  // (directories first: a file may be meant to go into one of them)
  for (auto &[opt, dir] : {std::pair{"--emit-jit", o.emitJit}, std::pair{"--emit-smt", o.emitSmt}})
    if (!dir.empty())
      if (auto why = cannotMakeDir(dir); !why.empty())
        fail(std::string(opt) + " " + dir + ": cannot make the directory: " + why);
  if (!o.dotFile.empty())
    if (auto why = cannotWriteFile(o.dotFile); !why.empty())
      fail("--dot " + o.dotFile + ": cannot write: " + why);
  if (!o.emitPlan.empty()) {
    auto why = o.batchOutputs ? cannotMakeDir(o.emitPlan) : cannotWriteFile(o.emitPlan);
    if (!why.empty())
      fail("--emit-plan " + o.emitPlan + ": cannot write" + (o.batchOutputs ? " a directory" : "") +
           ": " + why);
  }
  // The results (objects, graphs, reports) live until the process ends and
  // are never freed: the kernel takes the memory back at once, where
  // freeing a large object's instructions one by one cost 5% of a run (as
  // compilers skip their own frees at exit). Held from a static, so that
  // LeakSanitizer sees them reachable.
  static auto *const held = new std::vector<cli::ObjectResult>();
  *held = cli::runAll(inputs, o, vo, envs, jobs);
  std::vector<cli::ObjectResult> &results = *held;
  bool anyError = false;
  for (auto &r : results)
    anyError |= !r.report;

  if (o.format == "sarif") {
    std::cout << cli::toSarif(results, o).dump(2) << "\n";
  } else if (o.format == "json") {
    nlohmann::json doc;
    doc["schema"] = "pstack-verify/1";
    doc["scheme"] = o.scheme;
    doc["kernel"] = o.kernel;
    if (!vo.kernel.release.empty()) {
      doc["kernel_release"] = vo.kernel.release;
      // --kernel running: what the probe found
      nlohmann::json rules;
      rules["round"] = vo.kernel.round;
      rules["private_stack_types"] = nlohmann::json::array();
      for (ProgType t : vo.kernel.privateStackTypes)
        rules["private_stack_types"].push_back(progTypeName(t));
      rules["unprobed_types"] = nlohmann::json::object();
      for (auto &[t, why] : vo.kernel.unprobedTypes)
        rules["unprobed_types"][progTypeName(t)] = why;
      doc["kernel_rules"] = rules;
    }
    doc["objects"] = nlohmann::json::array();
    for (auto &r : results)
      doc["objects"].push_back(cli::toJson(r, o));
    std::cout << doc.dump(2) << "\n";
  } else if (o.format == "csv") {
    std::cout << cli::toCsv(results);
  } else {
    if (!vo.kernel.release.empty()) {
      // --kernel running: what the probe found, once
      std::string types, unprobed;
      for (ProgType t : vo.kernel.privateStackTypes)
        types += std::string(types.empty() ? "" : ", ") + progTypeName(t);
      for (auto &[t, why] : vo.kernel.unprobedTypes)
        unprobed += std::string("; ") + progTypeName(t) + " not probed (" + why + "): never safe";
      std::cout << "kernel " << vo.kernel.name << " (" << vo.kernel.release << "): frames rounded to "
                << vo.kernel.round << "; private stacks for " << (types.empty() ? "no program type" : types)
                << unprobed << "\n\n";
    }
    for (auto &r : results)
      if (r.object)
        std::cout << cli::toText(r, o) << "\n";
    if (results.size() > 1)
      std::cout << cli::summaryTable(results);
  }
  if (!o.dotFile.empty()) {
    for (auto it = results.rbegin(); it != results.rend(); ++it)
      if (it->graph) {
        std::ofstream out(o.dotFile);
        out << cli::toDot(*it);
        if (!out)
          fail("--dot " + o.dotFile + ": cannot write: " + std::strerror(errno));
        break;
      }
  }
  if (!o.emitPlan.empty() || !o.emitJit.empty() || !o.emitSmt.empty() || o.replay) {
    if (!cli::jitOutputs(results, o))
      return kExitUsage;
  }
  if (anyError)
    return kExitUsage;
  if (o.replay) {
    // the replay's own answer: did the emitted code behave as BPF means?
    bool differs = false;
    for (auto &r : results)
      differs |= r.replayDiffers;
    return differs ? kExitUnsafe : kExitSafe;
  }
  bool unsafe = false, unknown = false;
  for (auto &r : results) {
    unsafe |= r.report->verdict == Verdict::Unsafe;
    unknown |= r.report->verdict == Verdict::Unknown;
  }
  return unsafe ? kExitUnsafe : unknown ? kExitUnknown : kExitSafe;
}
