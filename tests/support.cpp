#include "tests/support.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace pstack::test {

std::string casePath(const std::string &name) {
  return std::string(PSTACK_CASES_DIR) + "/" + name + ".o";
}

const nlohmann::json &caseFacts() {
  static nlohmann::json facts = [] {
    std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/cases/cases.json");
    if (!in)
      throw std::runtime_error("cannot read cases/cases.json");
    return nlohmann::json::parse(in)["cases"];
  }();
  return facts;
}

std::vector<std::string> caseNames() {
  std::vector<std::string> names;
  for (auto &[k, v] : caseFacts().items())
    names.push_back(k);
  return names;
}

Object loadCase(const std::string &name) { return loadObject(casePath(name)); }

std::vector<uint8_t> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
}

std::string tempPath(const std::string &name) {
  auto dir = std::filesystem::temp_directory_path() / ("pstack-tests-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::string corpusDir() {
  std::string d = PSTACK_CORPUS_DIR;
  return std::filesystem::is_directory(d) ? d : "";
}

RunResult run(const std::vector<std::string> &argv) {
  std::string outPath = tempPath("stdout"), errPath = tempPath("stderr");
  pid_t pid = fork();
  if (pid == 0) {
    freopen(outPath.c_str(), "w", stdout);
    freopen(errPath.c_str(), "w", stderr);
    std::vector<char *> args;
    for (auto &a : argv)
      args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  RunResult r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  auto slurp = [](const std::string &p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  r.out = slurp(outPath);
  r.err = slurp(errPath);
  return r;
}

} // namespace pstack::test
