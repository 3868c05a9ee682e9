#include "tools/batch.h"

#include "model/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <mutex>
#include <array>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace pstack::cli {

namespace fs = std::filesystem;

namespace {

// The machine of an ELF file, or nothing when `path` is not an ELF file
// (too short, no magic): the loader then says what is wrong with it.
std::optional<unsigned> elfMachine(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char h[20];
  if (!in.read(reinterpret_cast<char *>(h), sizeof h) || h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' ||
      h[3] != 'F')
    return std::nullopt;
  return h[5] == 2 ? unsigned(h[18]) << 8 | h[19] : unsigned(h[19]) << 8 | h[18];
}

constexpr unsigned kEmNone = 0, kEmBpf = 247; // old LLVM's BPF objects carry EM_NONE

std::string plural(size_t n, const std::string &word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

} // namespace

std::vector<Input> expandObjects(const std::vector<std::string> &args,
                                 const std::vector<std::string> &envs,
                                 std::vector<std::string> &notes) {
  std::vector<Input> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &a = args[i];
    const std::string env = i < envs.size() ? envs[i] : "";
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found, foreign;
      for (auto it = fs::recursive_directory_iterator(a, ec); !ec && it != fs::end(it);
           it.increment(ec))
        if (it->is_regular_file(ec) && it->path().extension() == ".o")
          found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      std::vector<std::string> kept;
      unsigned firstMachine = 0;
      for (auto &f : found) {
        auto m = elfMachine(f);
        if (m && *m != kEmBpf && *m != kEmNone) {
          if (foreign.empty())
            firstMachine = *m;
          foreign.push_back(f);
        } else {
          kept.push_back(f);
        }
      }
      if (!foreign.empty())
        notes.push_back("note: " + a + ": skipped " + plural(foreign.size(), "ELF file") +
                        " of another machine than BPF (" + foreign.front() + ": machine " +
                        std::to_string(firstMachine) + (foreign.size() > 1 ? ", ..." : "") + ")");
      if (kept.empty())
        out.push_back({a, env}); // reported as a directory without BPF objects
      for (auto &f : kept)
        out.push_back({f, env});
    } else {
      out.push_back({a, env});
    }
  }
  return out;
}

std::string outputSubpath(const std::string &objectPath) {
  fs::path p = fs::path(objectPath).lexically_normal();
  fs::path rel;
  for (auto &part : p.relative_path()) {
    std::string s = part.string();
    if (s.empty() || s == ".")
      continue;
    rel /= s == ".." ? std::string("__") : s;
  }
  if (rel.extension() == ".o")
    rel.replace_extension();
  return rel.string();
}

namespace {

ObjectResult runOne(const Input &in, const Options &, const VerifyOptions &vo,
                    const std::map<std::string, Environment> &envs) {
  ObjectResult r;
  r.path = in.path;
  r.envFile = in.envFile;
  auto t0 = std::chrono::steady_clock::now();
  try {
    if (fs::is_directory(in.path))
      throw InputError(in.path, "", "is a directory with no BPF objects (*.o) in it");
    Object obj = loadObject(in.path);
    if (!in.envFile.empty())
      r.env = envs.at(in.envFile);
    Pipeline pipe;
    try {
      pipe = makePipeline(std::move(obj), r.env, in.envFile);
    } catch (const InputError &e) {
      r.envMismatch = true;
      throw InputError(in.path, "", std::string("the environment does not fit this object: ") +
                                        e.what());
    }
    pipe.path = in.path;
    r.object = pipe.object;
    r.graph = pipe.graph;
    r.report = pipe.verify(vo);
  } catch (const InputError &e) {
    r.error = e.what();
  } catch (const std::exception &e) {
    r.error = in.path + ": internal error: " + e.what();
  }
  if (!r.error.empty()) {
    r.graph.reset(); // half-read: print nothing of it
    r.object.reset();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

} // namespace

std::vector<ObjectResult> runAll(const std::vector<Input> &inputs, const Options &o,
                                 const VerifyOptions &vo,
                                 const std::map<std::string, Environment> &envs, unsigned jobs) {
  std::vector<ObjectResult> results(inputs.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex io;
  const bool tty = isatty(STDERR_FILENO);
  const bool progress = inputs.size() > 1 && !o.quiet;
  auto worker = [&] {
    for (size_t i; (i = next++) < inputs.size();) {
      results[i] = runOne(inputs[i], o, vo, envs);
      size_t d = ++done;
      std::lock_guard<std::mutex> lock(io);
      if (!results[i].error.empty())
        std::cerr << (tty && progress ? "\r\033[K" : "") << "pstack-verify: " << results[i].error
                  << "\n";
      if (!progress)
        continue;
      const auto &path = inputs[i].path;
      const char *v = results[i].report ? (results[i].object && results[i].object->programs.empty()
                                               ? "none"
                                               : verdictName(results[i].report->verdict))
                                        : "error";
      if (tty) {
        const int width = 30;
        int filled = int(width * d / inputs.size());
        std::cerr << "\r\033[K[" << std::string(filled, '#') << std::string(width - filled, ' ')
                  << "] " << d << "/" << inputs.size() << " " << path;
        if (d == inputs.size())
          std::cerr << "\n";
      } else {
        std::cerr << "pstack-verify: [" << d << "/" << inputs.size() << "] " << path << ": " << v
                  << "\n";
      }
      std::cerr.flush();
    }
  };
  jobs = std::max(1u, std::min<unsigned>(jobs, unsigned(inputs.size())));
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j)
    pool.emplace_back(worker);
  worker();
  for (auto &t : pool)
    t.join();
  return results;
}

namespace {

// One row per object (program ""), with the object's figures, then one per
// program with its own; `reason` says why an object is `error` or `none`,
// or why a program is `unknown`.
struct Row {
  std::string file, program, verdict, violations, bytes, kstack, ms, reason;
};

std::string objectVerdict(const ObjectResult &r) {
  if (!r.report)
    return "error";
  if (r.object && r.object->programs.empty())
    return "none";
  return verdictName(r.report->verdict);
}

std::string bytesCell(const Report &rep) {
  bool atLeast = false;
  for (auto &b : rep.layout.buffers)
    atLeast |= b.atLeast;
  return (atLeast ? ">=" : "") + std::to_string(rep.bytesPerCpu);
}

std::vector<Row> rows(const std::vector<ObjectResult> &results) {
  std::vector<Row> out;
  for (auto &r : results) {
    std::string ms = std::to_string(int64_t(r.seconds * 1000 + 0.5));
    if (!r.report) {
      out.push_back({r.path, "", "error", "", "", "", ms, r.error});
      continue;
    }
    const Report &rep = *r.report;
    std::string verdict = objectVerdict(r);
    out.push_back({r.path, "", verdict, std::to_string(rep.violations.size()), bytesCell(rep),
                   std::to_string(rep.kernelStackWith), ms, verdict == "none" ? "no programs" : ""});
    for (auto &p : rep.programs) {
      std::map<std::string, int> kinds;
      for (auto &v : rep.violations)
        if (v.program == p.name)
          ++kinds[v.kind];
      std::string vs;
      for (auto &[k, n] : kinds)
        vs += (vs.empty() ? "" : " ") + k + (n > 1 ? "x" + std::to_string(n) : "");
      out.push_back({r.path, p.name, verdictName(p.verdict), vs.empty() ? "-" : vs, "",
                     std::to_string(p.kernelStackBytes), "",
                     p.verdict == Verdict::Unknown ? p.reason : ""});
    }
  }
  return out;
}

std::string csvField(const std::string &s) {
  if (s.find_first_of(",\"\n") == std::string::npos)
    return s;
  std::string q = "\"";
  for (char c : s)
    q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::vector<std::string> csvSplit(const std::string &line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        cur += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        cur += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

const char *kCsvHeader = "file,program,verdict,violations,bytes_per_cpu,kernel_stack,time_ms,reason";
// the header before object rows and reasons: still read by --compare
const char *kCsvHeaderV1 = "file,program,verdict,violations,bytes_per_cpu,kernel_stack,time_ms";
} // namespace

std::string summaryTable(const std::vector<ObjectResult> &results) {
  std::vector<std::array<std::string, 7>> t;
  t.push_back({"File", "Program", "Verdict", "Violations", "Bytes/CPU", "Kernel stack", "Time (ms)"});
  size_t safe = 0, unsafe = 0, unknown = 0, errors = 0, misfits = 0, none = 0, programs = 0;
  for (auto &r : results) {
    std::string verdict = objectVerdict(r);
    errors += verdict == "error" && !r.envMismatch;
    misfits += r.envMismatch;
    none += verdict == "none";
  }
  // the object's figures once, on its first line; its programs below it
  std::string file, bytes, ms;
  for (auto &row : rows(results)) {
    if (row.program.empty()) {
      file = row.file, bytes = row.bytes, ms = row.ms;
      if (row.verdict == "error" || row.verdict == "none")
        t.push_back({file, "-", row.verdict == "none" ? "no programs" : "error", "-", "-", "-", ms});
      continue;
    }
    ++programs;
    safe += row.verdict == "safe";
    unsafe += row.verdict == "unsafe";
    unknown += row.verdict == "unknown";
    t.push_back({file, row.program, row.verdict, row.violations, bytes, row.kstack, ms});
    file = bytes = ms = "";
  }
  size_t w[7] = {0};
  for (auto &row : t)
    for (int i = 0; i < 7; ++i)
      w[i] = std::max(w[i], row[i].size());
  std::ostringstream os;
  for (size_t k = 0; k < t.size(); ++k) {
    std::string line;
    for (int i = 0; i < 7; ++i) {
      std::string cell = t[k][i];
      line += cell + (i < 6 ? std::string(w[i] - cell.size() + 2, ' ') : "");
    }
    os << line.substr(0, line.find_last_not_of(' ') + 1) << "\n";
    if (k == 0)
      for (int i = 0; i < 7; ++i)
        os << std::string(w[i], '-') << (i < 6 ? "  " : "\n");
  }
  os << "Done. " << plural(results.size(), "object") << ", " << plural(programs, "program") << ": "
     << safe << " safe, " << unsafe << " unsafe, " << unknown << " unknown";
  if (none)
    os << "; " << none << (none == 1 ? " object" : " objects") << " without programs";
  os << "; " << errors << " unreadable";
  if (misfits)
    os << ", " << misfits << " not fitting their environment";
  os << ".\n";
  return os.str();
}

std::string toCsv(const std::vector<ObjectResult> &results) {
  std::ostringstream os;
  os << kCsvHeader << "\n";
  for (auto &r : rows(results))
    os << csvField(r.file) << "," << csvField(r.program) << "," << r.verdict << ","
       << csvField(r.violations) << "," << r.bytes << "," << r.kstack << "," << r.ms << ","
       << csvField(r.reason) << "\n";
  return os.str();
}

namespace {

struct CsvRun {
  // (file as given, program; "" for the object's own row) -> fields
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> rows;
  std::map<std::string, double> ms; // per object
};

CsvRun readCsv(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw InputError(path, "", "cannot open CSV");
  std::string line;
  if (!std::getline(in, line) || (line != kCsvHeader && line != kCsvHeaderV1))
    throw InputError(path, "line 1", "not a pstack-verify CSV (header is not \"" +
                                         std::string(kCsvHeader) + "\")");
  const size_t fields = line == kCsvHeader ? 8 : 7;
  CsvRun run;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty())
      continue;
    auto f = csvSplit(line);
    if (f.size() != fields)
      throw InputError(path, "line " + std::to_string(n), "expected " + std::to_string(fields) + " fields");
    f.resize(8);
    std::pair<std::string, std::string> key{f[0], f[1] == "-" ? "" : f[1]};
    if (fields == 7 && !key.second.empty()) {
      // the old format repeats the object's figures on every program row
      auto &obj = run.rows[{f[0], ""}];
      if (obj.empty())
        obj = {f[0], "", "", "", f[4], "", f[6], ""};
      f[4] = "";
    }
    if (!run.rows.emplace(key, f).second)
      throw InputError(path, "line " + std::to_string(n),
                       "a second row for " + f[0] + (key.second.empty() ? "" : " " + key.second));
    if (!f[6].empty())
      run.ms[f[0]] = std::atof(f[6].c_str());
  }
  return run;
}

// how good a verdict is: a regression is a step down
int rank(const std::string &v) {
  if (v == "safe" || v == "none")
    return 3;
  if (v == "unknown")
    return 2;
  if (v == "unsafe")
    return 1;
  return 0; // error, or gone
}

std::optional<uint64_t> bytesOf(const std::string &cell) {
  std::string s = cell.rfind(">=", 0) == 0 ? cell.substr(2) : cell;
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(s);
}

} // namespace

std::string compareCsv(const std::string &oldPath, const std::string &newPath, bool &changed,
                       bool &regressed) {
  CsvRun a = readCsv(oldPath), b = readCsv(newPath);
  std::set<std::pair<std::string, std::string>> keys;
  for (auto &[k, v] : a.rows)
    keys.insert(k);
  for (auto &[k, v] : b.rows)
    keys.insert(k);
  std::vector<std::array<std::string, 6>> t;
  t.push_back({"File", "Program", "Verdict (A -> B)", "Bytes/CPU (A -> B)", "Time (A -> B, ms)", ""});
  changed = regressed = false;
  for (auto &k : keys) {
    auto ia = a.rows.find(k), ib = b.rows.find(k);
    auto cell = [](auto it, auto end, size_t i) { return it == end ? std::string("-") : it->second[i]; };
    auto dash = [](const std::string &x) { return x.empty() ? std::string("-") : x; };
    std::string va = cell(ia, a.rows.end(), 2), vb = cell(ib, b.rows.end(), 2);
    std::string ba = cell(ia, a.rows.end(), 4), bb = cell(ib, b.rows.end(), 4);
    std::string ma = cell(ia, a.rows.end(), 6), mb = cell(ib, b.rows.end(), 6);
    if (va == vb && ba == bb)
      continue;
    changed = true;
    bool worse = ia != a.rows.end() && rank(vb) < rank(va);
    auto na = bytesOf(ba), nb = bytesOf(bb);
    worse |= na && nb && *nb > *na;
    regressed |= worse;
    // bytes and time are the object's: on its own row only
    bool object = k.second.empty();
    t.push_back({k.first, object ? "(object)" : k.second, va + " -> " + vb,
                 object ? dash(ba) + " -> " + dash(bb) : "", object ? dash(ma) + " -> " + dash(mb) : "",
                 worse ? "REGRESSION" : ""});
  }
  std::ostringstream os;
  if (changed) {
    size_t w[6] = {0};
    for (auto &row : t)
      for (int i = 0; i < 6; ++i)
        w[i] = std::max(w[i], row[i].size());
    for (auto &row : t) {
      std::string line;
      for (int i = 0; i < 6; ++i)
        line += row[i] + (i < 5 ? std::string(w[i] - row[i].size() + 2, ' ') : "");
      os << line.substr(0, line.find_last_not_of(' ') + 1) << "\n";
    }
  } else {
    os << "no verdict or bytes-per-CPU changes\n";
  }
  double ta = 0, tb = 0;
  for (auto &[f, ms] : a.ms)
    ta += ms;
  for (auto &[f, ms] : b.ms)
    tb += ms;
  os << "total time: " << ta << " ms -> " << tb << " ms";
  if (ta > 0)
    os << " (x" << std::setprecision(3) << tb / ta << ")";
  os << "\n";
  if (regressed)
    os << "regression: a verdict got worse, something verified is gone, or bytes per CPU went up\n";
  return os.str();
}

} // namespace pstack::cli
