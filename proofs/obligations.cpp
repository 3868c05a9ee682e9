// --emit-smt: the model's obligations as files, re-checked by the z3 and
// cvc5 binaries.
#include "proofs/proofs.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

namespace pstack {

namespace {
std::string safeName(std::string s) {
  for (char &c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      c = '_';
  return s;
}

std::string shellQuote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

SolverAnswer runSolver(const std::string &cmd) {
  SolverAnswer a;
  auto t0 = std::chrono::steady_clock::now();
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    a.answer = "error: cannot run " + cmd;
    return a;
  }
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  int status = pclose(p);
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // the answer line (a solver may warn before it)
  std::istringstream in(out);
  std::string first, line;
  while (std::getline(in, line)) {
    if (line == "unsat" || line == "sat" || line == "unknown") {
      first = line;
      break;
    }
    if (first.empty() && !line.empty())
      first = line;
  }
  if (first == "unsat" || first == "sat" || first == "unknown")
    a.answer = first;
  else if (first.find("timeout") != std::string::npos || first.find("interrupted") != std::string::npos)
    a.answer = "timeout";
  else
    a.answer = "error: " + (first.empty() ? "exit " + std::to_string(status) : first);
  return a;
}
} // namespace

std::vector<ObligationFile> writeObligations(const Report &rep, const std::string &objectPath,
                                             const std::string &dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw InputError(dir, "--emit-smt", "cannot create the directory: " + ec.message());
  std::string object = std::filesystem::path(objectPath).stem().string();
  std::vector<ObligationFile> out;
  for (auto &ob : rep.obligations) {
    if (ob.smt2.empty())
      continue; // not exported (see notExported)
    ObligationFile f;
    f.program = ob.program;
    f.property = ob.property;
    f.engine = ob.engine;
    // the certificate is one obligation for the programs it proves together
    const bool certificate = ob.engine == "certificate";
    f.path = dir + "/" +
             safeName(certificate ? object + ".certificate." + ob.property
                                  : object + "." + ob.program + "." + ob.engine + "." + ob.property) +
             ".smt2";
    std::string proved;
    if (certificate)
      for (auto &p : rep.programs)
        if (p.engine == "explicit+z3")
          proved += (proved.empty() ? "" : " ") + p.name;
    std::ofstream o(f.path);
    o << "; pstack-verify proof obligation: the answer must be unsat\n"
      << "; object:   " << objectPath << "\n"
      << "; program:  " << (certificate ? proved : ob.program) << "\n"
      << "; property: "
      << (ob.engine == "bounded" ? ob.property + " (no stack of the allowed heights has it)"
          : certificate
              ? "the explicit search's states, as an inductive invariant, discharge the Horn "
                "rules below (enter, push, tail call: closed; alias, overflow: never), one case "
                "each; the object's other parts hold the other rules"
              : "inductive invariant discharges Horn rule " + ob.property)
      << "\n"
      << "; scheme:   " << schemeName(rep.scheme) << "\n"
      << "; engine:   "
      << (ob.engine == "bounded" ? "bounded (Z3, symbolic height)"
          : certificate          ? "explicit search, its certificate checked by Z3"
                                 : "Spacer (Z3 CHC)")
      << "\n"
      << "(set-logic ALL)\n"
      << ob.smt2;
    if (!o)
      throw InputError(f.path, "--emit-smt", "cannot write");
    out.push_back(f);
  }
  return out;
}

std::vector<std::string> notExported(const Report &rep) {
  std::vector<std::string> out;
  for (auto &ob : rep.obligations)
    if (ob.smt2.empty())
      out.push_back(ob.program + ": proved by Spacer, but its inductive invariant could not be "
                                 "exported as standalone obligations (the lemmas Z3's API gives "
                                 "back are not inductive on their own)");
  return out;
}

std::vector<Recheck> recheckObligations(const std::vector<ObligationFile> &files,
                                        double timeoutSeconds, unsigned jobs) {
  std::vector<Recheck> out(files.size());
  std::atomic<size_t> next{0};
  unsigned secs = unsigned(std::max(1.0, timeoutSeconds));
  auto work = [&] {
    for (size_t i; (i = next++) < files.size();) {
      out[i].file = files[i];
      std::string q = shellQuote(files[i].path);
      out[i].z3 = runSolver("z3 -T:" + std::to_string(secs) + " " + q);
      out[i].cvc5 = runSolver("cvc5 --lang smt2 --tlimit=" + std::to_string(secs * 1000) + " " + q);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned j = 0; j < std::max(1u, jobs); ++j)
    pool.emplace_back(work);
  for (auto &t : pool)
    t.join();
  return out;
}

std::string recheckTable(const std::vector<Recheck> &checks) {
  std::ostringstream s;
  size_t w = 10;
  for (auto &c : checks)
    w = std::max(w, std::filesystem::path(c.file.path).filename().string().size());
  s << std::left << std::setw(int(w)) << "obligation" << "  " << std::setw(16) << "z3" << std::setw(16)
    << "cvc5" << "verdict\n";
  size_t proved = 0, conflicts = 0;
  for (auto &c : checks) {
    auto cell = [](const SolverAnswer &a) {
      std::ostringstream t;
      t << a.answer.substr(0, 9) << " " << std::fixed << std::setprecision(2) << a.seconds << "s";
      return t.str();
    };
    s << std::setw(int(w)) << std::filesystem::path(c.file.path).filename().string() << "  "
      << std::setw(16) << cell(c.z3) << std::setw(16) << cell(c.cvc5)
      << (c.proved() ? "proved" : c.conflict() ? "SOLVERS DISAGREE" : "not re-proved") << "\n";
    proved += c.proved();
    conflicts += c.conflict();
  }
  s << checks.size() << " obligations: " << proved << " re-proved by both solvers, " << conflicts
    << " disagreements\n";
  return s.str();
}

} // namespace pstack
