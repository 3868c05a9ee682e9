// What a new user hits (issue 17): --compare keyed by path, batch outputs
// that keep the relative path, host objects in a scanned directory, bad
// numbers, the library on a directory, outputs checked before verifying,
// objects without programs, and the frictions (--version, short usage
// errors, SARIF for code scanning, conflicting flags, CSV and text figures,
// -q, --env per object, DOT).
#include "tests/support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace pstack;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string readText(const std::string &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeText(const std::string &path, const std::string &text) {
  test::writeFile(path, std::vector<uint8_t>(text.begin(), text.end()));
}

// A fresh directory under the test's temporary directory.
std::string freshDir(const std::string &name) {
  std::string d = test::tempPath(name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Copies the compiled case `name` to DIR/AS.o.
std::string copyCase(const std::string &name, const std::string &dir, const std::string &as) {
  fs::create_directories(dir);
  std::string to = dir + "/" + as + ".o";
  fs::copy_file(test::casePath(name), to, fs::copy_options::overwrite_existing);
  return to;
}

size_t lines(const std::string &s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

} // namespace

// Bug 1: two objects with one basename in two folders are two rows; a
// regression in one of them is reported, with its path, and exits 1.
TEST(CliUsers, CompareKeysRowsByPathAndExitsOneOnARegression) {
  std::string root = freshDir("cmp-paths");
  std::string a = copyCase("recursion", root + "/a", "prog"), b = copyCase("recursion", root + "/b", "prog");
  auto safe = test::run({PSTACK_CLI, "--format", "csv", a, b});
  ASSERT_EQ(safe.status, 0) << safe.err;
  // the new run: a/prog.o now unsafe (per-subprog), b/prog.o still safe
  auto worse = test::run({PSTACK_CLI, "--format", "csv", "--scheme", "per-subprog", a});
  auto same = test::run({PSTACK_CLI, "--format", "csv", b});
  ASSERT_EQ(worse.status, 1);
  std::string mixed = worse.out + same.out.substr(same.out.find('\n') + 1);
  std::string oldCsv = root + "/old.csv", newCsv = root + "/new.csv";
  writeText(oldCsv, safe.out);
  writeText(newCsv, mixed);
  auto cmp = test::run({PSTACK_CLI, "--compare", oldCsv, newCsv});
  EXPECT_EQ(cmp.status, 1) << cmp.out << cmp.err;
  EXPECT_EQ(cmp.out.find("no verdict or bytes-per-CPU changes"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find(a), std::string::npos) << "the path, not the basename\n" << cmp.out;
  EXPECT_EQ(cmp.out.find(b), std::string::npos) << "b did not change\n" << cmp.out;
  EXPECT_NE(cmp.out.find("safe -> unsafe"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("REGRESSION"), std::string::npos) << cmp.out;
  // the other way round is a change, not a regression
  auto better = test::run({PSTACK_CLI, "--compare", newCsv, oldCsv});
  EXPECT_EQ(better.status, 0) << better.out;
  EXPECT_NE(better.out.find("unsafe -> safe"), std::string::npos) << better.out;
  EXPECT_EQ(better.out.find("REGRESSION"), std::string::npos) << better.out;
}

// Bug 1: bytes per CPU going up is a regression too; an object that was
// verified and is gone from the new run is one.
TEST(CliUsers, CompareCountsMoreBytesAndGoneObjectsAsRegressions) {
  std::string root = freshDir("cmp-bytes");
  std::string obj = copyCase("recursion", root, "r");
  auto small = test::run({PSTACK_CLI, "--format", "csv", "--scheme", "per-prog", obj});
  auto big = test::run({PSTACK_CLI, "--format", "csv", "--scheme", "per-prog", "--buffer-size", "8192", obj});
  ASSERT_EQ(small.status, 0) << small.err;
  ASSERT_EQ(big.status, 0) << big.err;
  writeText(root + "/small.csv", small.out);
  writeText(root + "/big.csv", big.out);
  auto up = test::run({PSTACK_CLI, "--compare", root + "/small.csv", root + "/big.csv"});
  EXPECT_EQ(up.status, 1) << up.out;
  EXPECT_NE(up.out.find("-> 8192"), std::string::npos) << up.out;
  auto down = test::run({PSTACK_CLI, "--compare", root + "/big.csv", root + "/small.csv"});
  EXPECT_EQ(down.status, 0) << down.out;
  writeText(root + "/empty.csv", small.out.substr(0, small.out.find('\n') + 1));
  auto gone = test::run({PSTACK_CLI, "--compare", root + "/small.csv", root + "/empty.csv"});
  EXPECT_EQ(gone.status, 1) << gone.out;
}

// Bug 2: --emit-plan and --emit-jit in a batch keep each object's path,
// so that two objects with one basename do not overwrite each other.
TEST(CliUsers, BatchEmitOutputsKeepTheRelativePath) {
  std::string root = freshDir("emit-paths");
  std::string a = copyCase("kprobe_chain", root + "/one", "prog");
  std::string b = copyCase("recursion", root + "/two", "prog");
  std::string plans = root + "/plans", jit = root + "/jit";
  auto r = test::run({PSTACK_CLI, "--emit-plan", plans, "--emit-jit", jit, a, b});
  ASSERT_EQ(r.status, 0) << r.err;
  auto sub = [](const std::string &p) { return fs::path(p).lexically_normal().relative_path().string(); };
  std::string planA = plans + "/" + sub(root + "/one/prog.json");
  std::string planB = plans + "/" + sub(root + "/two/prog.json");
  ASSERT_TRUE(fs::exists(planA)) << planA << "\n" << r.err;
  ASSERT_TRUE(fs::exists(planB)) << planB;
  EXPECT_EQ(json::parse(readText(planA))["object"], a);
  EXPECT_EQ(json::parse(readText(planB))["object"], b);
  std::string jitA = jit + "/" + sub(root + "/one/prog"), jitB = jit + "/" + sub(root + "/two/prog");
  EXPECT_TRUE(fs::exists(jitA + "/layout.json")) << jitA << "\n" << r.err;
  EXPECT_TRUE(fs::exists(jitB + "/layout.json")) << jitB;
  EXPECT_TRUE(fs::exists(jitA + "/kchain.k1.bin")) << "kprobe_chain's code under one/prog";
  EXPECT_FALSE(fs::exists(jitB + "/kchain.k1.bin")) << "recursion's folder holds recursion's code";
  // one object: the paths as given
  std::string single = root + "/single.json";
  auto one = test::run({PSTACK_CLI, "--emit-plan", single, a});
  EXPECT_EQ(one.status, 0) << one.err;
  EXPECT_EQ(json::parse(readText(single))["object"], a);
}

// Bug 3: a directory scan (a CMake build tree) skips host objects with
// one note; a host object named on the command line stays an error, and so
// does a file in the directory that is not ELF at all.
TEST(CliUsers, DirectoryScanSkipsElfFilesOfAnotherMachine) {
  std::string dir = freshDir("mixed-tree");
  copyCase("recursion", dir, "recursion");
  copyCase("kprobe_chain", dir + "/sub", "kprobe_chain");
  fs::copy_file(PSTACK_HOST_OBJ, dir + "/host.o");
  fs::copy_file(PSTACK_HOST_OBJ, dir + "/sub/host2.o");
  auto r = test::run({PSTACK_CLI, dir});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("note: " + dir + ": skipped 2 ELF files of another machine than BPF"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("EM_BPF"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Done. 2 objects"), std::string::npos) << r.out;
  auto named = test::run({PSTACK_CLI, dir + "/host.o"});
  EXPECT_EQ(named.status, 2);
  EXPECT_NE(named.err.find("host.o"), std::string::npos) << named.err;
  writeText(dir + "/notes.o", "not an object\n");
  auto bad = test::run({PSTACK_CLI, dir});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("notes.o: not an ELF file"), std::string::npos) << bad.err;
  // a directory with host objects only has no BPF object
  std::string hostOnly = freshDir("host-only");
  fs::copy_file(PSTACK_HOST_OBJ, hostOnly + "/host.o");
  auto none = test::run({PSTACK_CLI, hostOnly});
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("no BPF objects"), std::string::npos) << none.err;
}

// Bug 4: a negative, wrapping, overflowing or infinite number is exit 2,
// naming the option.
TEST(CliUsers, BadNumbersExitTwoNamingTheOption) {
  std::string obj = test::casePath("recursion");
  struct Bad {
    std::vector<std::string> args;
    const char *option;
  };
  for (auto &b : std::vector<Bad>{{{"--scheme", "per-prog", "--buffer-size", "-5"}, "--buffer-size"},
                                  {{"--scheme", "per-prog", "--buffer-size", "18446744073709551615"}, "--buffer-size"},
                                  {{"--scheme", "per-prog", "--buffer-size", "99999999999999999999"}, "--buffer-size"},
                                  {{"--scheme", "per-prog", "--buffer-size", " 64"}, "--buffer-size"},
                                  {{"--scheme", "per-prog", "--buffer-size", "0"}, "--buffer-size"},
                                  {{"-j", "-3"}, "-j"},
                                  {{"-j-3"}, "-j"},
                                  {{"--jobs", "4294967297"}, "--jobs"},
                                  {{"--timeout", "inf"}, "--timeout"},
                                  {{"--timeout", "nan"}, "--timeout"},
                                  {{"--timeout", "-1"}, "--timeout"},
                                  {{"--timeout", "1e999"}, "--timeout"}}) {
    std::vector<std::string> argv{PSTACK_CLI};
    argv.insert(argv.end(), b.args.begin(), b.args.end());
    argv.push_back(obj);
    auto r = test::run(argv);
    std::string what = b.args[b.args.size() - 1];
    EXPECT_EQ(r.status, 2) << what << "\n" << r.out;
    EXPECT_NE(r.err.find(std::string("pstack-verify: ") + b.option + " needs"), std::string::npos)
        << what << ": " << r.err;
    EXPECT_EQ(r.out, "") << what;
  }
  // the good ones still work
  auto ok = test::run({PSTACK_CLI, "--scheme", "per-prog", "--buffer-size", "4096", "--timeout", "2.5",
                       "-j", "2", obj});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("4096 bytes per CPU"), std::string::npos) << ok.out;
}

// Bug 6: the library given a directory: InputError, never an iostream
// exception ("basic_filebuf::underflow").
TEST(CliUsers, LibraryOpeningADirectoryThrowsInputError) {
  std::string dir = freshDir("a-dir.o");
  try {
    loadObject(dir);
    FAIL() << "a directory was read";
  } catch (const InputError &e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  } catch (const std::exception &e) {
    FAIL() << "not an InputError: " << e.what();
  }
}

// Bug 7: outputs that cannot be written are found before anything is
// verified, and a runtime error prints no help text.
TEST(CliUsers, UnwritableOutputsFailBeforeVerifying) {
  std::string root = freshDir("unwritable");
  std::string file = root + "/a-file";
  writeText(file, "x");
  std::string obj = test::casePath("recursion");
  for (auto &args : std::vector<std::vector<std::string>>{{"--dot", file + "/g.dot"},
                                                          {"--dot", root},
                                                          {"--emit-plan", file + "/plan.json"},
                                                          {"--emit-jit", file + "/jit"},
                                                          {"--emit-smt", file + "/smt"}}) {
    std::vector<std::string> argv{PSTACK_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(obj);
    auto r = test::run(argv);
    EXPECT_EQ(r.status, 2) << args[0];
    EXPECT_NE(r.err.find("pstack-verify: " + args[0] + " " + args[1] + ": cannot"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("usage:"), std::string::npos) << "no help text for a runtime error\n" << r.err;
    EXPECT_EQ(r.out, "") << args[0] << ": verified before failing";
    EXPECT_EQ(lines(r.err), 1u) << r.err;
  }
  // in a batch --emit-plan names a directory
  auto batch = test::run({PSTACK_CLI, "--emit-plan", file, obj, test::casePath("kprobe_chain")});
  EXPECT_EQ(batch.status, 2);
  EXPECT_EQ(batch.out, "");
}

// Bug 8: an object with only .text says "no programs" in every format,
// with a row of verdict `none`, and exits 0.
TEST(CliUsers, ObjectWithoutProgramsSaysSoInEveryFormat) {
  std::string obj = PSTACK_NO_PROGRAMS_OBJ;
  auto text = test::run({PSTACK_CLI, obj});
  EXPECT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find(obj + ": no programs"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("verdict: none"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("safe"), std::string::npos) << text.out;
  auto j = test::run({PSTACK_CLI, "--format", "json", obj});
  EXPECT_EQ(j.status, 0);
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["objects"][0]["verdict"], "none");
  EXPECT_EQ(doc["objects"][0]["note"], "no programs");
  auto csv = test::run({PSTACK_CLI, "--format", "csv", obj});
  EXPECT_EQ(csv.status, 0);
  EXPECT_NE(csv.out.find("\n" + obj + ",,none,"), std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find(",no programs\n"), std::string::npos) << csv.out;
  auto sarif = test::run({PSTACK_CLI, "--format", "sarif", obj});
  EXPECT_EQ(sarif.status, 0);
  json sarifDoc = json::parse(sarif.out);
  const json &inv = sarifDoc["runs"][0]["invocations"][0];
  EXPECT_NE(inv["toolExecutionNotifications"].dump().find("no programs"), std::string::npos) << inv.dump();
  auto batch = test::run({PSTACK_CLI, obj, test::casePath("recursion")});
  EXPECT_EQ(batch.status, 0);
  EXPECT_NE(batch.out.find("no programs"), std::string::npos) << batch.out;
  EXPECT_NE(batch.out.find("1 object without programs"), std::string::npos) << batch.out;
}

// Friction: --version; an unknown option is one line and a hint, not the
// help; an unknown scheme lists the valid ones.
TEST(CliUsers, VersionAndOneLineUsageErrors) {
  auto v = test::run({PSTACK_CLI, "--version"});
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out, "pstack-verify 0.1.0\n");
  auto u = test::run({PSTACK_CLI, "--frobnicate", test::casePath("recursion")});
  EXPECT_EQ(u.status, 2);
  EXPECT_EQ(u.err, "pstack-verify: unknown option '--frobnicate'\n"
                   "Try 'pstack-verify --help' for more information.\n");
  auto s = test::run({PSTACK_CLI, "--scheme", "per-function", test::casePath("recursion")});
  EXPECT_EQ(s.status, 2);
  EXPECT_NE(s.err.find("unknown scheme 'per-function' (kernel, per-subprog, per-prog, planned or stack-switch)"),
            std::string::npos)
      << s.err;
  EXPECT_LE(lines(s.err), 2u);
}

// Friction: conflicting or ignored flags are exit 2 saying which.
TEST(CliUsers, ConflictingOrIgnoredFlagsExitTwo) {
  std::string obj = test::casePath("recursion");
  std::string csv = test::tempPath("conflict.csv");
  writeText(csv, "file,program,verdict,violations,bytes_per_cpu,kernel_stack,time_ms,reason\n");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (auto &c : std::vector<Case>{
           {{"--format", "json", "--compare", csv, csv}, "--format has no effect with --compare"},
           {{"--compare", csv, csv, obj}, "--compare takes two CSV files"},
           {{"--prove-jit", obj}, "--prove-jit proves jitgen itself and takes no object"},
           {{"--buffer-size", "4096", obj},
            "--buffer-size sizes per-prog and stack-switch buffers: it has no effect under --scheme kernel"},
           {{"--per-prog-r9", "top", obj}, "--per-prog-r9 has no effect under --scheme kernel"},
           {{"--format", "json", "--format", "csv", obj}, "--format given twice"},
           {{"--scheme", "per-prog", "--scheme", "kernel", obj}, "--scheme given twice"},
           {{"--engine", "bounded", "--cross-check", obj}, "--cross-check"},
           {{"--source-root", "/", obj}, "--source-root makes SARIF URIs relative"},
       }) {
    std::vector<std::string> argv{PSTACK_CLI};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = test::run(argv);
    EXPECT_EQ(r.status, 2) << c.says;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << c.says;
  }
}

// Friction: SARIF for code scanning: --source-root makes artifact URIs
// relative with a uriBaseId that originalUriBaseIds resolves; no
// placeholder informationUri.
TEST(CliUsers, SarifSourceRootMakesRelativeUris) {
  std::string obj = test::casePath("recursion");
  auto abs = test::run({PSTACK_CLI, "--format", "sarif", "--scheme", "per-subprog", obj});
  ASSERT_EQ(abs.status, 1);
  json a = json::parse(abs.out);
  EXPECT_FALSE(a["runs"][0]["tool"]["driver"].contains("informationUri"))
      << a["runs"][0]["tool"]["driver"].dump();
  EXPECT_EQ(a["runs"][0]["tool"]["driver"]["version"], "0.1.0");
  EXPECT_FALSE(a["runs"][0].contains("originalUriBaseIds"));
  const json &absLoc = a["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
  EXPECT_EQ(absLoc["uri"], "file://" + fs::path(PSTACK_SOURCE_DIR).lexically_normal().string() +
                               "/cases/recursion.c");
  EXPECT_FALSE(absLoc.contains("uriBaseId"));

  auto rel = test::run({PSTACK_CLI, "--format", "sarif", "--scheme", "per-subprog", "--source-root",
                        PSTACK_SOURCE_DIR, obj});
  ASSERT_EQ(rel.status, 1) << rel.err;
  json d = json::parse(rel.out);
  const json &run = d["runs"][0];
  std::string root = fs::path(PSTACK_SOURCE_DIR).lexically_normal().string();
  if (root.back() != '/')
    root += '/';
  EXPECT_EQ(run["originalUriBaseIds"]["SRCROOT"]["uri"], "file://" + root);
  const json &loc = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
  EXPECT_EQ(loc["uri"], "cases/recursion.c");
  EXPECT_EQ(loc["uriBaseId"], "SRCROOT");
  for (auto &step : run["results"][0]["codeFlows"][0]["threadFlows"][0]["locations"]) {
    const json &al = step["location"]["physicalLocation"]["artifactLocation"];
    EXPECT_EQ(al["uriBaseId"], "SRCROOT") << al.dump();
    EXPECT_EQ(al["uri"].get<std::string>().rfind("file:", 0), std::string::npos) << al.dump();
  }
  // a file outside the root keeps its absolute URI (the object, here)
  auto outside = test::run({PSTACK_CLI, "--format", "sarif", "--source-root", PSTACK_SOURCE_DIR + std::string("/docs"),
                            "--scheme", "per-subprog", obj});
  json o = json::parse(outside.out);
  const json &ol = o["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
  EXPECT_EQ(ol["uri"].get<std::string>().rfind("file:///", 0), 0u) << ol.dump();
  EXPECT_FALSE(ol.contains("uriBaseId"));
}

// Friction: CSV and the summary give per-object figures once, not on
// every program row; error rows carry the reason; an "at least" bound
// keeps its marker; plurals agree.
TEST(CliUsers, CsvAndTextGivePerObjectFiguresOnceWithReasons) {
  std::string bad = test::tempPath("csv-bad.o");
  writeText(bad, "#!/bin/sh\n");
  std::string tail = test::casePath("tailcalls"), rec = test::casePath("recursion");
  auto csv = test::run({PSTACK_CLI, "--format", "csv", "--scheme", "per-prog", tail, bad});
  EXPECT_EQ(csv.status, 2);
  std::istringstream in(csv.out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "file,program,verdict,violations,bytes_per_cpu,kernel_stack,time_ms,reason");
  size_t objectRows = 0, programRows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');)
      f.push_back(cell);
    if (line.back() == ',')
      f.push_back("");
    ASSERT_EQ(f.size(), 8u) << line;
    if (f[1].empty()) {
      ++objectRows;
      EXPECT_FALSE(f[6].empty()) << "an object's time on its own row: " << line;
    } else {
      ++programRows;
      EXPECT_EQ(f[4], "") << "bytes per CPU are the object's: " << line;
      EXPECT_EQ(f[6], "") << "time is the object's: " << line;
    }
    if (f[0] == bad) {
      EXPECT_EQ(f[2], "error");
      EXPECT_NE(f[7].find("not an ELF file"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(objectRows, 2u);
  EXPECT_GE(programRows, 3u);
  // "at least": a buffer that could not be sized keeps its marker
  auto unbounded = test::run({PSTACK_CLI, "--format", "csv", "--scheme", "per-prog", "--engine", "bounded",
                              "--env", std::string(PSTACK_SOURCE_DIR) + "/tests/data/no_tail_limit.env.json", rec});
  auto unboundedText = test::run({PSTACK_CLI, "--scheme", "per-prog", "--engine", "bounded", "--env",
                                  std::string(PSTACK_SOURCE_DIR) + "/tests/data/no_tail_limit.env.json", rec});
  if (unboundedText.out.find("at least ") != std::string::npos)
    EXPECT_NE(unbounded.out.find(",>="), std::string::npos) << unbounded.out;
  else
    ADD_FAILURE() << "no case with an at-least bound here:\n" << unboundedText.out;
  auto text = test::run({PSTACK_CLI, rec});
  EXPECT_NE(text.out.find("(1 program, 2 functions,"), std::string::npos) << text.out;
  auto batch = test::run({PSTACK_CLI, rec, bad});
  EXPECT_NE(batch.out.find("Done. 2 objects, 1 program: 1 safe"), std::string::npos) << batch.out;
}

// Friction: -q silences progress lines (errors still go to stderr).
TEST(CliUsers, QuietBatchHasNoProgressLines) {
  std::string bad = test::tempPath("quiet-bad.o");
  writeText(bad, "x");
  auto loud = test::run({PSTACK_CLI, test::casePath("recursion"), bad});
  EXPECT_NE(loud.err.find("[2/2]"), std::string::npos) << loud.err;
  auto quiet = test::run({PSTACK_CLI, "-q", test::casePath("recursion"), bad});
  EXPECT_EQ(quiet.status, 2);
  EXPECT_EQ(quiet.err.find("[2/2]"), std::string::npos) << quiet.err;
  EXPECT_NE(quiet.err.find("not an ELF file"), std::string::npos) << quiet.err;
  EXPECT_EQ(quiet.out.substr(0, quiet.out.find("File")), loud.out.substr(0, loud.out.find("File")));
}

// Friction: --env applies to the objects after it; an object it does not
// fit is reported as such, not as unreadable.
TEST(CliUsers, EnvAppliesToTheObjectsAfterIt) {
  std::string env = std::string(PSTACK_SOURCE_DIR) + "/cases/nested.env.json";
  std::string nested = test::casePath("nested"), rec = test::casePath("recursion");
  auto ok = test::run({PSTACK_CLI, "--format", "json", rec, "--env", env, nested});
  EXPECT_EQ(ok.status, 0) << ok.err;
  json doc = json::parse(ok.out);
  EXPECT_FALSE(doc["objects"][0].contains("env"));
  EXPECT_EQ(doc["objects"][1]["env"], env);
  auto misfit = test::run({PSTACK_CLI, "--env", env, nested, rec});
  EXPECT_EQ(misfit.status, 2);
  EXPECT_NE(misfit.err.find(rec + ": the environment does not fit this object"), std::string::npos)
      << misfit.err;
  EXPECT_NE(misfit.out.find("0 unreadable, 1 not fitting their environment"), std::string::npos)
      << misfit.out;
  // the old form: one --env after the objects applies to them
  auto old = test::run({PSTACK_CLI, "--format", "json", nested, "--env", env});
  EXPECT_EQ(old.status, 0) << old.err;
  EXPECT_EQ(json::parse(old.out)["objects"][0]["env"], env);
  auto unused = test::run({PSTACK_CLI, "--env", env, nested, "--env", env});
  EXPECT_EQ(unused.status, 2);
  EXPECT_NE(unused.err.find("applies to no object"), std::string::npos) << unused.err;
}

// Friction: DOT draws one colour attribute per edge, has a legend, and an
// unresolved tail call is one edge to its prog array's node, not one per
// possible target.
TEST(CliUsers, DotOneColourPerEdgeLegendAndProgArrayNodes) {
  std::string dot = test::tempPath("users.dot");
  auto r = test::run({PSTACK_CLI, "--dot", dot, test::casePath("tailcalls")});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string s = readText(dot);
  std::istringstream in(s);
  size_t toArray = 0, tailEdges = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("->") == std::string::npos)
      continue;
    size_t colours = 0;
    for (size_t at = 0; (at = line.find(" color=", at)) != std::string::npos; ++at)
      ++colours;
    EXPECT_LE(colours, 1u) << line;
    if (line.find("tail_call") != std::string::npos)
      ++tailEdges;
    if (line.find("-> array_") != std::string::npos)
      ++toArray;
  }
  EXPECT_EQ(toArray, 2u) << "tailcalls.c: a variable slot of jmp, and the empty array\n" << s;
  EXPECT_EQ(tailEdges, 4u) << "two constant slots, two prog-array nodes, not 2 x 4 targets\n" << s;
  EXPECT_NE(s.find("array_jmp [shape=cylinder, label=\"prog array jmp\\nunresolved slot: any of 4 programs\""),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("legend [shape=plaintext"), std::string::npos) << s;
  // the counterexample's red replaces the kind's colour
  auto red = test::run({PSTACK_CLI, "--scheme", "per-subprog", "--dot", dot, test::casePath("recursion")});
  EXPECT_EQ(red.status, 1);
  EXPECT_NE(readText(dot).find("[label=\"tail_call @7\", style=dashed, color=red, penwidth=3]"),
            std::string::npos)
      << readText(dot);
}
