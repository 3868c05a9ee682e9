// pstack-verify: parse options, call the library, print. Exit status per
// DESIGN.md: 0 all safe, 1 a counterexample, 2 bad usage or unreadable
// object, 3 no counterexample but something unknown.
#include "hostkernel/hostkernel.h"
#include "tools/report.h"
#include "tools/sarif.h"
#include "tools/batch.h"
#include "proofs/proofs.h"

#include <filesystem>
#include <type_traits>
#include <fstream>
#include <iostream>
#include <unistd.h>

using namespace pstack;

namespace {

constexpr int kExitSafe = 0, kExitUnsafe = 1, kExitUsage = 2, kExitUnknown = 3;

const char *kUsage =
    "usage: pstack-verify [--scheme kernel|per-subprog|per-prog|planned] [--kernel 6.1|6.6|6.12|6.13|running]\n"
    "                     [--env FILE] [--format text|json|sarif|csv] [--dot FILE]\n"
    "                     [--timeout SECONDS] [--buffer-size BYTES] [--per-prog-r9 base|top]\n"
    "                     [--engine auto|explicit|bounded|unbounded] [--cross-check] [--explain] [-j N]\n"
    "                     [--emit-plan FILE] [--emit-jit DIR] [--emit-smt DIR] [--replay]\n"
    "                     OBJECT|DIR...\n"
    "       pstack-verify --compare OLD.csv NEW.csv\n"
    "       pstack-verify --prove-jit\n"
    "\n"
    "Proves that BPF programs running on a per-CPU private stack never have two\n"
    "live frames overlap and never leave their buffer, or prints a counterexample.\n"
    "\n"
    "  --scheme S       frame layout scheme (default kernel)\n"
    "  --kernel V       kernel whose rules the kernel scheme follows (default 6.13);\n"
    "                   running: ask the running kernel (as root; cached per boot)\n"
    "  --format F       text (default), json, sarif (SARIF 2.1.0, for CI) or csv\n"
    "  -j, --jobs N     verify N objects at a time\n"
    "  --compare A B    compare two --format csv runs: changed verdicts, bytes, time\n"
    "  --dot FILE       write the call graph of the (last) object as Graphviz DOT,\n"
    "                   coloured by verdict, the first counterexample's path in red\n"
    "  --explain        show the source lines around each step of a trace\n"
    "  --timeout S      time limit per program in seconds (default 10)\n"
    "  --env FILE       environment: nesting, re-entry, prog arrays, limits (JSON)\n"
    "  --buffer-size N  per-prog: bytes of each program's buffer (default: computed)\n"
    "  --per-prog-r9 W  per-prog: r9 at the frame `base` (default) or `top`\n"
    "  --engine E       auto (default), explicit, bounded (Z3) or unbounded (Z3 Spacer)\n"
    "  --cross-check    auto: prove again with Z3 what the explicit search proved\n"
    "  --emit-plan FILE write the layout (every frame's buffer and offset) as JSON\n"
    "  --emit-jit DIR   JIT every program from the proved layout: DIR/<prog>.<func>.bin,\n"
    "                   .s listings (x86 beside BPF and source), layout.json; the\n"
    "                   decoded code is validated against the layout\n"
    "  --emit-smt DIR   write every obligation the Z3 engines discharged as SMT-LIB2\n"
    "                   and re-check each with the z3 and cvc5 binaries\n"
    "  --prove-jit      prove jitgen's x86-64 equal to BPF's meaning for every\n"
    "                   instruction form and frame sequence (Z3); print the table\n"
    "  --replay         JIT the layout even if it is not proved, run each program in\n"
    "                   the harness beside the reference interpreter, show differences\n"
    "  -h, --help       this text (the manual: man pstack-verify)\n"
    "\n"
    "Exit status: 0 all safe, 1 counterexample, 2 bad usage or unreadable object,\n"
    "3 no counterexample but at least one verdict unknown.\n";

[[noreturn]] void usage(const std::string &msg) {
  std::cerr << "pstack-verify: " << msg << "\n" << kUsage;
  std::exit(kExitUsage);
}

// A whole-string number, or a usage error naming the option.
template <typename T> T number(const std::string &option, const std::string &v, const char *what) {
  try {
    size_t used = 0;
    T x;
    if constexpr (std::is_floating_point_v<T>)
      x = T(std::stod(v, &used));
    else
      x = T(std::stoull(v, &used));
    if (used == v.size() && x > 0)
      return x;
  } catch (const std::exception &) {
  }
  usage(option + " needs " + what + ", not '" + v + "'");
}

} // namespace

int main(int argc, char **argv) {
  cli::Options o;
  unsigned jobs = 1;
  std::vector<std::string> compare;
  std::vector<std::string> objects;
  bool proveJit = false;
  bool crossCheck = false;
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
    if (name == "-h" || name == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (name == "--scheme") {
      o.scheme = value();
      if (o.scheme != "kernel" && o.scheme != "per-subprog" && o.scheme != "per-prog" &&
          o.scheme != "planned")
        usage("unknown scheme '" + o.scheme + "'");
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
    } else if (a.size() > 2 && a.rfind("-j", 0) == 0 && a[2] != '-') {
      jobs = number<unsigned>("-j", a.substr(2), "a positive number of threads");
    } else if (name == "--jobs" || name == "-j") {
      jobs = number<unsigned>(name, value(), "a positive number of threads");
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
      o.envFile = value();
    } else if (name == "--timeout") {
      o.timeout = number<double>(name, value(), "a positive number of seconds");
    } else if (a == "--cross-check") {
      crossCheck = true;
    } else if (name == "--engine") {
      o.engine = value();
      if (o.engine != "auto" && o.engine != "explicit" && o.engine != "bounded" &&
          o.engine != "unbounded")
        usage("unknown engine '" + o.engine + "'");
    } else if (name == "--per-prog-r9") {
      std::string v = value();
      if (v != "base" && v != "top")
        usage("--per-prog-r9 is base or top, not '" + v + "'");
      o.r9AtTop = v == "top";
    } else if (name == "--buffer-size") {
      o.bufferSize = number<uint64_t>(name, value(), "a positive number of bytes");
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
    }
  }
  if (!compare.empty()) {
    try {
      bool changed = false;
      std::cout << cli::compareCsv(compare[0], compare[1], changed);
      return changed ? kExitUnsafe : kExitSafe;
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
  if (!o.envFile.empty()) {
    try {
      vo.env = loadEnvironment(o.envFile);
    } catch (const InputError &e) {
      std::cerr << "pstack-verify: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  std::vector<cli::ObjectResult> results = cli::runAll(cli::expandObjects(objects), o, vo, jobs);
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
        if (!out)
          usage("cannot write " + o.dotFile);
        out << cli::toDot(*it);
        break;
      }
  }
  if (!o.emitPlan.empty() || !o.emitJit.empty() || !o.emitSmt.empty() || o.replay) {
    if (!cli::jitOutputs(results, o, vo.env))
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
