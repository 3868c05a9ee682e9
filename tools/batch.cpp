#include "tools/batch.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <array>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace pstack::cli {

namespace fs = std::filesystem;

std::vector<std::string> expandObjects(const std::vector<std::string> &args) {
  std::vector<std::string> out;
  for (auto &a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(a, ec); !ec && it != fs::end(it);
           it.increment(ec))
        if (it->is_regular_file(ec) && it->path().extension() == ".o")
          found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      if (found.empty())
        out.push_back(a); // reported as a directory without objects
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(a);
    }
  }
  return out;
}

namespace {

ObjectResult runOne(const std::string &path, const Options &o, const VerifyOptions &vo) {
  ObjectResult r;
  r.path = path;
  auto t0 = std::chrono::steady_clock::now();
  try {
    if (fs::is_directory(path))
      throw InputError(path, "", "is a directory with no BPF objects (*.o) in it");
    r.object = std::make_unique<Object>(loadObject(path));
    if (!o.envFile.empty())
      applyEnvironment(*r.object, vo.env, o.envFile);
    r.graph = std::make_unique<CallGraph>(*r.object);
    r.report = verify(*r.object, *r.graph, vo);
  } catch (const InputError &e) {
    r.error = e.what();
  } catch (const std::exception &e) {
    r.error = path + ": internal error: " + e.what();
  }
  if (!r.error.empty()) {
    r.graph.reset(); // half-read: print nothing of it
    r.object.reset();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

} // namespace

std::vector<ObjectResult> runAll(const std::vector<std::string> &paths, const Options &o,
                                 const VerifyOptions &vo, unsigned jobs) {
  std::vector<ObjectResult> results(paths.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex io;
  const bool tty = isatty(STDERR_FILENO);
  const bool progress = paths.size() > 1;
  auto worker = [&] {
    for (size_t i; (i = next++) < paths.size();) {
      results[i] = runOne(paths[i], o, vo);
      size_t d = ++done;
      std::lock_guard<std::mutex> lock(io);
      if (!results[i].error.empty())
        std::cerr << (tty && progress ? "\r\033[K" : "") << "pstack-verify: " << results[i].error
                  << "\n";
      if (!progress)
        continue;
      const char *v = results[i].report ? verdictName(results[i].report->verdict) : "error";
      if (tty) {
        const int width = 30;
        int filled = int(width * d / paths.size());
        std::cerr << "\r\033[K[" << std::string(filled, '#') << std::string(width - filled, ' ')
                  << "] " << d << "/" << paths.size() << " " << paths[i];
        if (d == paths.size())
          std::cerr << "\n";
      } else {
        std::cerr << "pstack-verify: [" << d << "/" << paths.size() << "] " << paths[i] << ": "
                  << v << "\n";
      }
      std::cerr.flush();
    }
  };
  jobs = std::max(1u, std::min<unsigned>(jobs, unsigned(paths.size())));
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j)
    pool.emplace_back(worker);
  worker();
  for (auto &t : pool)
    t.join();
  return results;
}

namespace {
struct Row {
  std::string file, program, verdict, violations, bytes, kstack, ms;
};

std::vector<Row> rows(const std::vector<ObjectResult> &results) {
  std::vector<Row> out;
  for (auto &r : results) {
    std::string ms = std::to_string(int64_t(r.seconds * 1000 + 0.5));
    if (!r.report) {
      out.push_back({r.path, "-", "error", "-", "-", "-", ms});
      continue;
    }
    for (auto &p : r.report->programs) {
      std::map<std::string, int> kinds;
      for (auto &v : r.report->violations)
        if (v.program == p.name)
          ++kinds[v.kind];
      std::string vs;
      for (auto &[k, n] : kinds)
        vs += (vs.empty() ? "" : " ") + k + (n > 1 ? "x" + std::to_string(n) : "");
      out.push_back({r.path, p.name, verdictName(p.verdict), vs.empty() ? "-" : vs,
                     std::to_string(r.report->bytesPerCpu), std::to_string(p.kernelStackBytes), ms});
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

const char *kCsvHeader = "file,program,verdict,violations,bytes_per_cpu,kernel_stack,time_ms";
} // namespace

std::string summaryTable(const std::vector<ObjectResult> &results) {
  auto rs = rows(results);
  std::vector<std::array<std::string, 7>> t;
  t.push_back({"File", "Program", "Verdict", "Violations", "Bytes/CPU", "Kernel stack", "Time (ms)"});
  size_t safe = 0, unsafe = 0, unknown = 0, errors = 0;
  for (auto &r : rs) {
    t.push_back({r.file, r.program, r.verdict, r.violations, r.bytes, r.kstack, r.ms});
    safe += r.verdict == "safe";
    unsafe += r.verdict == "unsafe";
    unknown += r.verdict == "unknown";
    errors += r.verdict == "error";
  }
  size_t w[7] = {0};
  for (auto &row : t)
    for (int i = 0; i < 7; ++i)
      w[i] = std::max(w[i], row[i].size());
  std::ostringstream os;
  for (size_t k = 0; k < t.size(); ++k) {
    for (int i = 0; i < 7; ++i)
      os << std::left << std::setw(i < 6 ? int(w[i]) : 0) << t[k][i] << (i < 6 ? "  " : "\n");
    if (k == 0)
      for (int i = 0; i < 7; ++i)
        os << std::string(w[i], '-') << (i < 6 ? "  " : "\n");
  }
  os << "Done. " << results.size() << " objects, " << rs.size() << " rows: " << safe << " safe, "
     << unsafe << " unsafe, " << unknown << " unknown, " << errors << " unreadable.\n";
  return os.str();
}

std::string toCsv(const std::vector<ObjectResult> &results) {
  std::ostringstream os;
  os << kCsvHeader << "\n";
  for (auto &r : rows(results))
    os << csvField(r.file) << "," << csvField(r.program) << "," << r.verdict << ","
       << csvField(r.violations) << "," << r.bytes << "," << r.kstack << "," << r.ms << "\n";
  return os.str();
}

std::string compareCsv(const std::string &oldPath, const std::string &newPath, bool &changed) {
  auto read = [](const std::string &path) {
    std::ifstream in(path);
    if (!in)
      throw InputError(path, "", "cannot open CSV");
    std::string line;
    if (!std::getline(in, line) || line != kCsvHeader)
      throw InputError(path, "line 1", "not a pstack-verify CSV (header is not \"" +
                                           std::string(kCsvHeader) + "\")");
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> rowsByKey;
    for (int n = 2; std::getline(in, line); ++n) {
      if (line.empty())
        continue;
      auto f = csvSplit(line);
      if (f.size() != 7)
        throw InputError(path, "line " + std::to_string(n), "expected 7 fields");
      rowsByKey[{fs::path(f[0]).filename().string(), f[1]}] = f;
    }
    return rowsByKey;
  };
  auto a = read(oldPath), b = read(newPath);
  std::ostringstream os;
  os << std::left << std::setw(28) << "File" << std::setw(20) << "Program" << std::setw(18)
     << "Verdict (A -> B)" << std::setw(26) << "Bytes/CPU (A -> B)" << "Time (A -> B, ms)\n";
  changed = false;
  double ta = 0, tb = 0;
  std::set<std::string> timedA, timedB; // a file's time is on each of its rows: count once
  std::set<std::pair<std::string, std::string>> keys;
  for (auto &[k, v] : a)
    keys.insert(k);
  for (auto &[k, v] : b)
    keys.insert(k);
  for (auto &k : keys) {
    auto ia = a.find(k), ib = b.find(k);
    std::string va = ia == a.end() ? "-" : ia->second[2], vb = ib == b.end() ? "-" : ib->second[2];
    std::string ba = ia == a.end() ? "-" : ia->second[4], bb = ib == b.end() ? "-" : ib->second[4];
    std::string ma = ia == a.end() ? "-" : ia->second[6], mb = ib == b.end() ? "-" : ib->second[6];
    if (ia != a.end() && timedA.insert(k.first).second)
      ta += std::atof(ma.c_str());
    if (ib != b.end() && timedB.insert(k.first).second)
      tb += std::atof(mb.c_str());
    bool diff = va != vb || ba != bb;
    if (!diff)
      continue;
    changed = true;
    os << std::left << std::setw(28) << k.first << std::setw(20) << k.second << std::setw(18)
       << (va + " -> " + vb) << std::setw(26) << (ba + " -> " + bb) << ma << " -> " << mb << "\n";
  }
  os << (changed ? "" : "no verdict or bytes-per-CPU changes\n");
  os << "total time: " << ta << " ms -> " << tb << " ms";
  if (ta > 0)
    os << " (x" << std::setprecision(3) << tb / ta << ")";
  os << "\n";
  return os.str();
}

} // namespace pstack::cli
