// The CLI contract: exit codes, JSON fields, DOT, errors naming the file.
#include "tests/support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace pstack;
using nlohmann::json;

TEST(Cli, JsonHasTheContractFields) {
  auto r = test::run({PSTACK_CLI, "--format", "json", test::casePath("recursion")});
  EXPECT_EQ(r.status, 0) << "kernel scheme: a tail-calling program keeps the normal stack\n" << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["schema"], "pstack-verify/1");
  ASSERT_EQ(doc["objects"].size(), 1u);
  const json &o = doc["objects"][0];
  EXPECT_EQ(o["path"], test::casePath("recursion"));
  EXPECT_EQ(o["verdict"], "safe");
  EXPECT_EQ(o["programs"][0]["verdict"], "safe");
  EXPECT_EQ(o["kernel_stack"]["with_private_stacks"], 34 * 96 + 64);
  ASSERT_EQ(o["programs"].size(), 1u);
  EXPECT_EQ(o["programs"][0]["name"], "entry");
  EXPECT_EQ(o["programs"][0]["section"], "raw_tp/sys_enter");
  EXPECT_EQ(o["programs"][0]["functions"][0]["name"], "entry");
  EXPECT_EQ(o["programs"][0]["functions"][0]["frame_size"], 96);
  EXPECT_EQ(o["programs"][0]["functions"][1]["name"], "subprog1");
  EXPECT_EQ(o["programs"][0]["functions"][1]["frame_size"], 64);
  bool tail = false;
  for (auto &e : o["edges"])
    if (e["kind"] == "tail_call") {
      EXPECT_EQ(e["from"], "entry/subprog1");
      EXPECT_EQ(e["to"], "entry/entry");
      EXPECT_EQ(e["insn"], 7);
      tail = true;
    }
  EXPECT_TRUE(tail);
  EXPECT_TRUE(o["violations"].is_array());
  EXPECT_TRUE(o.contains("plan"));
}

TEST(Cli, TextTableListsProgramsAndFrames) {
  auto r = test::run({PSTACK_CLI, test::casePath("over_limit_chain")});
  EXPECT_EQ(r.status, 1) << "kernel_limit";
  EXPECT_NE(r.out.find("kernel_limit in chain: combined stack size of 4 calls is 640"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chain:160 c1:160 c2:160 c3:160"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 frames, 640 B"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("socket_filter"), std::string::npos);
}

TEST(Cli, KernelSixOneRoundsTo32) {
  auto r = test::run({PSTACK_CLI, "--kernel", "6.1", test::casePath("over_limit_depth")});
  EXPECT_NE(r.out.find("9 frames, 288 B"), std::string::npos) << r.out;
}

// Every kernel of the table by name; the 256-byte rule at its edge differs
// between 6.1's and 6.12's rounding (tail_256.c: at_240 is 112 + 128).
TEST(Cli, KernelTableNamesAndRounding) {
  for (auto [k, status] : {std::pair{"6.1", 1}, std::pair{"6.6", 1}, std::pair{"6.12", 1},
                           std::pair{"6.13", 1}}) {
    auto r = test::run({PSTACK_CLI, "--kernel", k, "--format", "json", test::casePath("tail_256")});
    EXPECT_EQ(r.status, status) << k;
    auto doc = nlohmann::json::parse(r.out);
    std::map<std::string, std::string> v;
    for (auto &p : doc["objects"][0]["programs"])
      v[p["name"]] = p["verdict"];
    EXPECT_EQ(v["at_256"], "unsafe") << k;
    EXPECT_EQ(v["at_240"], std::string(k) == "6.1" || std::string(k) == "6.6" ? "unsafe" : "safe") << k;
  }
  auto bad = test::run({PSTACK_CLI, "--kernel", "5.15", test::casePath("tail_256")});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown kernel '5.15' (6.1, 6.6, 6.12, 6.13, or running)"), std::string::npos)
      << bad.err;
}

// auto decides by the explicit search; --cross-check has Z3 check its
// proof (the search's certificate) — or, where the search leaves none
// (nesting), prove the program again with the bounded engine
TEST(Cli, CrossCheckHasZ3ConfirmTheExplicitSearch) {
  auto plain = test::run({PSTACK_CLI, "--format", "json", test::casePath("recursion")});
  auto cross = test::run({PSTACK_CLI, "--cross-check", "--format", "json", test::casePath("recursion")});
  ASSERT_EQ(plain.status, 0) << plain.err;
  ASSERT_EQ(cross.status, 0) << cross.err;
  EXPECT_EQ(nlohmann::json::parse(plain.out)["objects"][0]["programs"][0]["engine"], "explicit");
  EXPECT_EQ(nlohmann::json::parse(cross.out)["objects"][0]["programs"][0]["engine"], "explicit+z3");
  auto nested = test::run({PSTACK_CLI, "--cross-check", "--format", "json", "--env",
                           std::string(PSTACK_SOURCE_DIR) + "/cases/nested.env.json",
                           test::casePath("nested")});
  ASSERT_EQ(nested.status, 0) << nested.err;
  auto nestedJson = nlohmann::json::parse(nested.out);
  for (auto &p : nestedJson["objects"][0]["programs"]) {
    std::string engine = p["engine"];
    EXPECT_TRUE(engine == "bounded" || engine == "spacer") << p["name"] << ": " << engine;
  }
}

TEST(Cli, UnreadableObjectExitsTwoNamingTheFile) {
  std::string bad = test::tempPath("not-elf.o");
  test::writeFile(bad, {'#', '!', '/', 'b', 'i', 'n'});
  auto r = test::run({PSTACK_CLI, bad});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(bad + ": not an ELF file"), std::string::npos) << r.err;
  std::string empty = test::tempPath("empty-dir");
  std::filesystem::create_directories(empty);
  auto d = test::run({PSTACK_CLI, empty});
  EXPECT_EQ(d.status, 2);
  EXPECT_NE(d.err.find("is a directory with no BPF objects"), std::string::npos) << d.err;
}

// A -mcpu=v4 object (clang-19): read and verified; its JIT refused by name
// where it reaches an arena (addr_space_cast), with the function and the
// instruction.
TEST(Cli, V4ObjectIsVerifiedAndItsJitRefusedByName) {
  auto r = test::run({PSTACK_CLI, test::casePath("v4_forms")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("v4_arith:32 arith:48"), std::string::npos) << r.out;
  std::string dir = test::tempPath("v4-jit");
  r = test::run({PSTACK_CLI, "--emit-jit", dir, test::casePath("v4_forms")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("jit: v4_arena/v4_arena insn 39 (r2 = addr_space_cast(r2, 0, 1))"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("addr_space_cast (arena) is not emitted"), std::string::npos) << r.err;
}

TEST(Cli, BadUsageExitsTwo) {
  EXPECT_EQ(test::run({PSTACK_CLI}).status, 2);
  EXPECT_EQ(test::run({PSTACK_CLI, "--scheme", "nonsense", test::casePath("recursion")}).status, 2);
  EXPECT_EQ(test::run({PSTACK_CLI, "--timeout", "abc", test::casePath("recursion")}).status, 2);
  auto r = test::run({PSTACK_CLI, "--frobnicate", test::casePath("recursion")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown option '--frobnicate'"), std::string::npos);
}

TEST(Cli, DotFile) {
  std::string dot = test::tempPath("g.dot");
  auto r = test::run({PSTACK_CLI, "--dot", dot, test::casePath("callbacks")});
  EXPECT_EQ(r.status, 0);
  std::ifstream in(dot);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(s.find("digraph callgraph"), std::string::npos);
  EXPECT_NE(s.find("callback @"), std::string::npos);
  EXPECT_NE(s.find("color=orange"), std::string::npos) << "the async timer callback";
}

TEST(Cli, CounterexampleTraceInTextAndJson) {
  auto t = test::run({PSTACK_CLI, "--scheme", "per-subprog", test::casePath("recursion")});
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.out.find("alias in entry"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("tail_call entry/entry (from insn 7)"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("recursion.c:27"), std::string::npos) << t.out;
  auto j = test::run({PSTACK_CLI, "--scheme=per-subprog", "--format=json", test::casePath("recursion")});
  EXPECT_EQ(j.status, 1);
  json doc = json::parse(j.out);
  const json &v = doc["objects"][0]["violations"][0];
  EXPECT_EQ(v["kind"], "alias");
  ASSERT_EQ(v["trace"].size(), 3u);
  EXPECT_EQ(v["trace"][2]["event"], "tail_call");
  EXPECT_EQ(v["trace"][2]["insn"], 7);
  EXPECT_EQ(v["trace"][2]["lo"], 0);
  EXPECT_EQ(v["trace"][2]["hi"], 96);
  EXPECT_NE(v["trace"][2]["source"].get<std::string>().find("recursion.c:27"), std::string::npos);
}

TEST(Cli, UnknownExitsThreeNeverZero) {
  // a frame that cannot be sized: the search cannot end, nothing is proved
  auto r = test::run({PSTACK_CLI, "--scheme", "per-prog", "--engine", "bounded", "--env",
                      std::string(PSTACK_SOURCE_DIR) + "/tests/data/no_tail_limit.env.json",
                      test::casePath("recursion")});
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("verdict: unknown"), std::string::npos) << r.out;
}

TEST(Cli, EnvironmentErrorsExitTwoNamingTheKey) {
  std::string env = test::tempPath("bad-env.json");
  std::string text = "{\"nest\": {\"prog0\": [\"nosuch\"]}}";
  test::writeFile(env, std::vector<uint8_t>(text.begin(), text.end()));
  auto r = test::run({PSTACK_CLI, "--env", env, test::casePath("nested")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("key \"nest.prog0\": no program named nosuch"), std::string::npos) << r.err;
}

// SARIF 2.1.0: the structure CI consumers (GitHub code scanning and the
// like) rely on, checked field by field against the specification's
// required properties and types.
TEST(Cli, SarifHasRulesResultsAndCodeFlows) {
  auto r = test::run({PSTACK_CLI, "--format", "sarif", "--scheme", "per-subprog",
                      test::casePath("recursion"), test::casePath("over_limit_chain")});
  EXPECT_EQ(r.status, 1);
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["version"], "2.1.0");
  EXPECT_TRUE(doc["$schema"].get<std::string>().find("sarif-2.1.0") != std::string::npos);
  ASSERT_EQ(doc["runs"].size(), 1u);
  const json &run = doc["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "pstack-verify");
  std::set<std::string> ruleIds;
  for (auto &rule : run["tool"]["driver"]["rules"]) {
    ruleIds.insert(rule["id"].get<std::string>());
    EXPECT_TRUE(rule["shortDescription"]["text"].is_string());
    EXPECT_TRUE(rule["help"]["text"].is_string());
  }
  EXPECT_EQ(ruleIds, (std::set<std::string>{"alias", "overflow", "out_of_frame", "r9_clobber",
                                            "kernel_limit"}));
  ASSERT_EQ(run["results"].size(), 1u) << "per-subprog: recursion aliases; the chain is fine";
  const json &res = run["results"][0];
  EXPECT_EQ(res["ruleId"], "alias");
  EXPECT_EQ(run["tool"]["driver"]["rules"][res["ruleIndex"].get<int>()]["id"], "alias");
  EXPECT_EQ(res["level"], "error");
  EXPECT_TRUE(res["message"]["text"].is_string());
  const json &loc = res["locations"][0]["physicalLocation"];
  EXPECT_NE(loc["artifactLocation"]["uri"].get<std::string>().find("file:///"), std::string::npos);
  EXPECT_NE(loc["artifactLocation"]["uri"].get<std::string>().find("recursion.c"), std::string::npos);
  EXPECT_EQ(loc["region"]["startLine"], 27) << "the tail call that re-enters entry";
  const json &flow = res["codeFlows"][0]["threadFlows"][0]["locations"];
  ASSERT_EQ(flow.size(), 3u);
  EXPECT_EQ(flow[0]["nestingLevel"], 0);
  EXPECT_EQ(flow[1]["nestingLevel"], 1);
  EXPECT_EQ(flow[2]["nestingLevel"], 1) << "the tail call replaces subprog1's frame";
  EXPECT_EQ(flow[2]["state"]["region"]["text"], "entry/entry");
  EXPECT_EQ(flow[2]["state"]["bytes"]["text"], "[0, 96)");
  EXPECT_EQ(flow[0]["state"]["clash"]["text"], "yes");
  EXPECT_EQ(flow[1]["state"]["clash"]["text"], "no");
  for (auto &step : flow) {
    EXPECT_TRUE(step["location"]["message"]["text"].is_string());
    EXPECT_TRUE(step["location"]["physicalLocation"]["region"]["startLine"].is_number_integer());
  }
  EXPECT_EQ(run["invocations"][0]["executionSuccessful"], true);
}

TEST(Cli, SarifReportsUnreadableObjectsAsNotifications) {
  std::string bad = test::tempPath("bad-sarif.o");
  test::writeFile(bad, {'x'});
  auto r = test::run({PSTACK_CLI, "--format", "sarif", bad});
  EXPECT_EQ(r.status, 2);
  json doc = json::parse(r.out);
  const json &inv = doc["runs"][0]["invocations"][0];
  EXPECT_EQ(inv["executionSuccessful"], false);
  EXPECT_NE(inv["toolExecutionNotifications"][0]["message"]["text"].get<std::string>().find(
                "not an ELF file"),
            std::string::npos);
}

TEST(Cli, BatchOverADirectoryInParallelWithSummaryCsvAndCompare) {
  std::string dir = PSTACK_CASES_DIR;
  size_t n = 0;
  for (auto &e : std::filesystem::directory_iterator(dir))
    n += e.path().extension() == ".o";
  std::string ns = std::to_string(n);
  auto text = test::run({PSTACK_CLI, "-j", "2", dir});
  EXPECT_EQ(text.status, 1) << "over_limit_* are kernel_limit";
  EXPECT_NE(text.out.find("File"), std::string::npos);
  EXPECT_NE(text.out.find("Done. " + ns + " objects"), std::string::npos) << text.out;
  // plain progress lines on stderr when it is not a terminal
  EXPECT_NE(text.err.find("pstack-verify: [" + ns + "/" + ns + "] "), std::string::npos) << text.err;

  auto a = test::run({PSTACK_CLI, "--format", "csv", "-j2", dir});
  auto b = test::run({PSTACK_CLI, "--format", "csv", "--scheme", "per-subprog", "-j2", dir});
  EXPECT_EQ(a.out.substr(0, a.out.find('\n')),
            "file,program,verdict,violations,bytes_per_cpu,kernel_stack,time_ms,reason");
  EXPECT_NE(a.out.find("/over_limit_chain.o,chain,unsafe,kernel_limit,"), std::string::npos)
      << a.out;
  EXPECT_NE(b.out.find("/recursion.o,,unsafe,1,160,"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("/recursion.o,entry,unsafe,alias,,"), std::string::npos) << b.out;
  std::string fa = test::tempPath("a.csv"), fb = test::tempPath("b.csv");
  test::writeFile(fa, std::vector<uint8_t>(a.out.begin(), a.out.end()));
  test::writeFile(fb, std::vector<uint8_t>(b.out.begin(), b.out.end()));
  auto cmp = test::run({PSTACK_CLI, "--compare", fa, fb});
  EXPECT_EQ(cmp.status, 1) << "verdicts changed";
  EXPECT_NE(cmp.out.find("recursion.o"), std::string::npos);
  EXPECT_NE(cmp.out.find("safe -> unsafe"), std::string::npos) << cmp.out;
  auto same = test::run({PSTACK_CLI, "--compare", fa, fa});
  EXPECT_EQ(same.status, 0);
  EXPECT_NE(same.out.find("no verdict or bytes-per-CPU changes"), std::string::npos);
  auto bad = test::run({PSTACK_CLI, "--compare", fa, "/nonexistent.csv"});
  EXPECT_EQ(bad.status, 2);
}

// --help and the man page say the same thing: every option of one is in
// the other.
TEST(Cli, HelpAndManPageNameTheSameOptions) {
  auto help = test::run({PSTACK_CLI, "--help"});
  EXPECT_EQ(help.status, 0);
  std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/docs/pstack-verify.1");
  std::string man((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(man.empty());
  // roff writes "-" as "\-"
  std::string plainMan;
  for (size_t i = 0; i < man.size(); ++i)
    if (!(man[i] == '\\' && i + 1 < man.size() && man[i + 1] == '-'))
      plainMan += man[i];
  auto options = [](const std::string &text) {
    std::set<std::string> out;
    for (size_t at = 0; (at = text.find("--", at)) != std::string::npos;) {
      size_t end = at + 2;
      while (end < text.size() && (isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-'))
        ++end;
      if (end > at + 2)
        out.insert(text.substr(at, end - at));
      at = end;
    }
    return out;
  };
  auto inHelp = options(help.out), inMan = options(plainMan);
  inMan.erase("--format"); // both have it; keep the comparison on options only
  inHelp.erase("--format");
  EXPECT_EQ(inHelp, inMan);
  EXPECT_GE(inHelp.size(), 12u);
  for (const char *code : {"0 all", "1 counterexample", "2 bad usage", "3 no counterexample"})
    EXPECT_NE(help.out.find(code), std::string::npos) << code;
}

TEST(Cli, ExplainShowsSourceAroundEachStepAndDotHighlightsThePath) {
  std::string dot = test::tempPath("explain.dot");
  auto r = test::run({PSTACK_CLI, "--scheme", "per-subprog", "--explain", "--dot", dot,
                      test::casePath("recursion")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(">    27 | \tbpf_tail_call(ctx, &jmp_table, 0);"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("     26 | \tFRAME(64);"), std::string::npos) << "the line before";
  std::ifstream in(dot);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(s.find("fillcolor=\"lightpink\""), std::string::npos);
  EXPECT_NE(s.find("[label=\"tail_call @7\", style=dashed, color=red, penwidth=3]"), std::string::npos)
      << s;
}

// docs/env.schema.json documents exactly the keys the loader accepts.
TEST(Cli, EnvironmentSchemaListsTheKeysTheLoaderAccepts) {
  std::ifstream in(std::string(PSTACK_SOURCE_DIR) + "/docs/env.schema.json");
  json schema = json::parse(in);
  std::set<std::string> keys;
  for (auto &[k, v] : schema["properties"].items())
    keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"$schema", "comment", "nest", "reenter", "prog_arrays",
                                         "tail_call_limit", "kernel_stack_budget", "stack_switch"}));
  std::set<std::string> ss;
  for (auto &[k, v] : schema["properties"]["stack_switch"]["properties"].items())
    ss.insert(k);
  EXPECT_EQ(ss, (std::set<std::string>{"link_bytes", "frame_overhead", "irq_headroom", "helpers",
                                       "helper_reserve", "helper_reserve_by_name"}));
  EXPECT_EQ(schema["additionalProperties"], false);
  // each documented key is accepted, an undocumented one is refused
  std::string p = test::tempPath("schema-env.json");
  std::string ok = R"({"$schema": "x", "comment": "c", "nest": {}, "reenter": [],
      "prog_arrays": {}, "tail_call_limit": null, "kernel_stack_budget": 8192,
      "stack_switch": {"link_bytes": 16, "frame_overhead": 56, "irq_headroom": 168,
                       "helpers": "task_stack", "helper_reserve": 512,
                       "helper_reserve_by_name": {"bpf_loop": 256}}})";
  test::writeFile(p, std::vector<uint8_t>(ok.begin(), ok.end()));
  auto r = test::run({PSTACK_CLI, "--env", p, test::casePath("recursion")});
  EXPECT_NE(r.status, 2) << r.err;
}

// Every SARIF log the tool writes — verdicts of every scheme over every
// case (traces of every violation kind), unreadable objects, unknown
// verdicts — is valid against the SARIF 2.1.0 JSON schema (OASIS final,
// rtm.5; fetched at configure time). Validated with python3-jsonschema,
// formats included (uri, date-time).
namespace {
bool sarifValidatorReady(std::string &why) {
  if (!std::filesystem::exists(PSTACK_SARIF_SCHEMA)) {
    why = std::string("no SARIF schema at ") + PSTACK_SARIF_SCHEMA;
    return false;
  }
  if (test::run({"/usr/bin/python3", "-c", "import jsonschema"}).status != 0) {
    why = "python3-jsonschema is not installed";
    return false;
  }
  return true;
}

test::RunResult validateSarif(const std::vector<std::string> &logs) {
  std::vector<std::string> argv{"/usr/bin/python3", PSTACK_SARIF_VALIDATE, PSTACK_SARIF_SCHEMA};
  argv.insert(argv.end(), logs.begin(), logs.end());
  return test::run(argv);
}

#define REQUIRE_SARIF_VALIDATOR()                                                          \
  do {                                                                                     \
    std::string why;                                                                       \
    if (!sarifValidatorReady(why)) {                                                       \
      if (getenv("CI"))                                                                    \
        FAIL() << why << " (setup.sh installs python3-jsonschema; cmake fetches the schema)"; \
      GTEST_SKIP() << why;                                                                 \
    }                                                                                      \
  } while (0)
} // namespace

TEST(Cli, SarifValidatesAgainstTheSarif210Schema) {
  REQUIRE_SARIF_VALIDATOR();
  std::vector<std::string> cases;
  for (auto &e : std::filesystem::directory_iterator(PSTACK_CASES_DIR))
    if (e.path().extension() == ".o")
      cases.push_back(e.path().string());
  std::sort(cases.begin(), cases.end());
  ASSERT_GT(cases.size(), 15u);
  std::string bad = test::tempPath("schema-bad.o");
  test::writeFile(bad, {'\x7f', 'E', 'L', 'F', 2, 1});
  struct Run {
    std::vector<std::string> args;
    int status;
  };
  std::vector<Run> runs = {
      {{"--scheme", "kernel"}, 1},
      {{"--scheme", "kernel", "--kernel", "6.1"}, 1},
      {{"--scheme", "per-subprog", "--explain"}, 1},
      {{"--scheme", "per-prog"}, 1},
      {{"--scheme", "per-prog", "--buffer-size", "64"}, 1}, // overflow / out of buffer
      {{"--scheme", "planned"}, 1},
      {{"--scheme", "kernel", bad}, 2}, // notification, executionSuccessful false
      {{"--scheme", "per-subprog", "--source-root", PSTACK_SOURCE_DIR}, 1}, // relative URIs, uriBaseId
      {{"--scheme", "kernel", PSTACK_NO_PROGRAMS_OBJ}, 1}, // a "no programs" note among the cases
  };
  std::vector<std::string> logs;
  std::set<std::string> rules;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::string> argv{PSTACK_CLI, "--format", "sarif"};
    argv.insert(argv.end(), runs[i].args.begin(), runs[i].args.end());
    if (runs[i].status != 2)
      argv.insert(argv.end(), cases.begin(), cases.end());
    auto r = test::run(argv);
    EXPECT_EQ(r.status, runs[i].status) << i << "\n" << r.err;
    json doc = json::parse(r.out);
    for (auto &res : doc["runs"][0]["results"])
      rules.insert(res["ruleId"].get<std::string>());
    logs.push_back(test::tempPath("schema-" + std::to_string(i) + ".sarif"));
    test::writeFile(logs.back(), std::vector<uint8_t>(r.out.begin(), r.out.end()));
  }
  // the logs exercise every kind the cases can show
  for (auto kind : {"alias", "overflow", "kernel_limit"})
    EXPECT_TRUE(rules.count(kind)) << kind;
  auto v = validateSarif(logs);
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_EQ(v.out, "");
}

// The validator is not vacuous: a log broken in ways a consumer would choke
// on (negative nesting level, a result without a message, a relative URI
// base that is not a URI) is rejected, with the JSON pointer.
TEST(Cli, SarifSchemaValidatorRejectsBrokenLogs) {
  REQUIRE_SARIF_VALIDATOR();
  auto r = test::run({PSTACK_CLI, "--format", "sarif", "--scheme", "per-subprog", test::casePath("recursion")});
  ASSERT_EQ(r.status, 1);
  json good = json::parse(r.out);
  auto check = [&](const char *what, auto mutate, const std::string &pointer) {
    json doc = good;
    mutate(doc);
    std::string path = test::tempPath(std::string("schema-broken-") + what + ".sarif");
    std::string text = doc.dump();
    test::writeFile(path, std::vector<uint8_t>(text.begin(), text.end()));
    auto v = validateSarif({path});
    EXPECT_EQ(v.status, 1) << what;
    EXPECT_NE(v.out.find(pointer), std::string::npos) << what << ": " << v.out;
  };
  check("nesting", [](json &d) {
    d["runs"][0]["results"][0]["codeFlows"][0]["threadFlows"][0]["locations"][0]["nestingLevel"] = -1;
  }, "/runs/0/results/0/codeFlows/0/threadFlows/0/locations/0/nestingLevel");
  check("message", [](json &d) { d["runs"][0]["results"][0].erase("message"); }, "/runs/0/results/0:");
  check("version", [](json &d) { d["version"] = "2.0.0"; }, "/version");
  check("uri", [](json &d) {
    d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "a b:c";
  }, "/runs/0/results/0/locations/0/physicalLocation/artifactLocation/uri");
}

// --scheme stack-switch: proved or refuted from the command line, with the
// environment's stack_switch costs; emitted, and replayed with the
// unwinder's count.
TEST(Cli, StackSwitchIsVerifiedFromItsEnvironmentEmittedAndReplayed) {
  const std::string nested = test::casePath("nested");
  const std::string env = std::string(PSTACK_SOURCE_DIR) + "/cases/nested.env.json";
  auto ok = test::run({PSTACK_CLI, "--scheme", "stack-switch", "--env", env, nested});
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("scheme stack-switch: 7072 bytes per CPU in 5 buffers"), std::string::npos)
      << ok.out;
  // helpers on the task stack: only the interrupt headroom below the frames
  const std::string ts = test::tempPath("task_stack.env.json");
  const std::string text = R"({"nest": {"prog0": ["prog1", "prog2"], "prog1": ["prog11", "prog12"]},
                               "stack_switch": {"helpers": "task_stack"}})";
  test::writeFile(ts, std::vector<uint8_t>(text.begin(), text.end()));
  auto small = test::run({PSTACK_CLI, "--scheme", "stack-switch", "--env", ts, nested});
  EXPECT_EQ(small.status, 0);
  EXPECT_NE(small.out.find("scheme stack-switch: 3088 bytes per CPU"), std::string::npos) << small.out;
  auto tight = test::run({PSTACK_CLI, "--scheme", "stack-switch", "--buffer-size", "1000", nested});
  EXPECT_EQ(tight.status, 1);
  EXPECT_NE(tight.out.find("overflow in prog0: prog0/prog0 frame [16, 328) and the 1192 bytes below it"),
            std::string::npos)
      << tight.out;
  const std::string dir = test::tempPath("ssjit");
  auto jit = test::run({PSTACK_CLI, "--scheme", "stack-switch", "--env", env, "--emit-jit", dir, nested});
  EXPECT_EQ(jit.status, 0) << jit.err;
  std::ifstream s(dir + "/prog0.prog0.s");
  std::string listing((std::istreambuf_iterator<char>(s)), std::istreambuf_iterator<char>());
  EXPECT_NE(listing.find("movq %r11, %rsp"), std::string::npos) << listing;
  EXPECT_NE(listing.find("pushq 8(%r12)"), std::string::npos) << listing;
  EXPECT_NE(listing.find("movq %r12, %rsp"), std::string::npos) << listing;
  auto rp = test::run({PSTACK_CLI, "--scheme", "stack-switch", "--env", env, "--replay", nested});
  EXPECT_EQ(rp.status, 0) << rp.out << rp.err;
  // prog0 runs prog1 (which runs prog11, prog12) and prog2: five kfunc
  // calls, each with a backtrace and a bpf_throw-style walk
  EXPECT_NE(rp.out.find("  prog0: jit and interpreter agree"), std::string::npos) << rp.out;
  EXPECT_NE(rp.out.find("    unwinder: 10 of 10 backtraces match (5 at helper and kfunc calls, 5 "
                        "bpf_throw-style walks to the activation's frame)\n"),
            std::string::npos)
      << rp.out;
  EXPECT_NE(rp.out.find("    unwinder: 2 of 2 backtraces match (1 at helper and kfunc calls, 1 "),
            std::string::npos)
      << rp.out;
}
