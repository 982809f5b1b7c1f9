// The histogram side file (FILE.hist.jsonl next to --benchmark_out=FILE) and the transports'
// descriptions in the JSON context, read back from a real run of the binary.
#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/resolve.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

namespace pt = boost::property_tree;

pt::ptree parse(const std::string& text) {
  std::istringstream in(text);
  pt::ptree tree;
  pt::read_json(in, tree);
  return tree;
}

struct Output {
  pt::ptree json;
  std::vector<pt::ptree> lines;  // the side file, header first
  std::string output;
};

Output run(const test::ScratchDir& dir, const std::string& flags) {
  Output r;
  const std::string out = (dir.path() / "run.json").string();
  const std::string cmd = std::string(IPCBENCH_BINARY) + " " + flags + " --benchmark_out=" + out +
                          " --benchmark_out_format=json";
  EXPECT_EQ(test::run_command(cmd, r.output), 0) << r.output;
  std::ifstream json(out);
  std::stringstream text;
  text << json.rdbuf();
  // Google Benchmark writes NaN in the cv aggregate of an all-zero counter; JSON has no NaN.
  std::string body = text.str();
  for (std::size_t at; (at = body.find(": NaN")) != std::string::npos;)
    body.replace(at, 5, ": null");
  r.json = parse(body);
  std::ifstream side(out + ".hist.jsonl");
  EXPECT_TRUE(side.good()) << "no side file";
  for (std::string line; std::getline(side, line);) r.lines.push_back(parse(line));
  return r;
}

// Every row with histograms carries a hist_id, unique per row (repetitions included), and the
// side file's lines of that id are its histograms, whose counts are the row's samples.
void check_rows_match_histograms(const Output& r, std::size_t repetitions) {
  ASSERT_FALSE(r.lines.empty());
  const pt::ptree& head = r.lines.front();
  EXPECT_EQ(head.get<std::string>("format"), "ipcbench-histograms");
  EXPECT_EQ(head.get<int>("version"), 1);
  EXPECT_EQ(head.get<std::string>("scheme.kind"), "log-linear");
  EXPECT_EQ(head.get<int>("scheme.exact_below"), 256);
  EXPECT_EQ(head.get<int>("scheme.sub_buckets"), 128);
  EXPECT_EQ(r.json.get<std::string>("context.ipcbench_histograms"), "run.json.hist.jsonl");

  std::map<long, std::vector<const pt::ptree*>> by_id;
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    const pt::ptree& h = r.lines[i];
    by_id[h.get<long>("hist_id")].push_back(&h);
    EXPECT_EQ(h.get<std::string>("unit"), "ns");
    std::uint64_t total = 0, last_high = 0;
    bool first = true;
    for (const auto& [_, bucket] : h.get_child("buckets")) {
      std::vector<std::uint64_t> v;
      for (const auto& [__, x] : bucket) v.push_back(x.get_value<std::uint64_t>());
      ASSERT_EQ(v.size(), 3u);
      EXPECT_LE(v[0], v[1]);
      EXPECT_GT(v[2], 0u);
      if (!first) {
        EXPECT_GT(v[0], last_high);
      }
      first = false;
      last_high = v[1];
      total += v[2];
    }
    EXPECT_EQ(total, h.get<std::uint64_t>("count"));
  }
  std::set<long> seen;
  std::map<std::string, std::size_t> rows_per_case;
  for (const auto& [_, row] : r.json.get_child("benchmarks")) {
    if (row.get<std::string>("run_type") != "iteration") continue;
    const auto id = row.get_optional<double>("hist_id");
    const std::string name = row.get<std::string>("name");
    if (!id) {
      EXPECT_EQ(name.find("RoundTrip/"), std::string::npos) << name << " has no hist_id";
      continue;
    }
    ++rows_per_case[row.get<std::string>("run_name")];
    const long hid = static_cast<long>(*id);
    EXPECT_TRUE(seen.insert(hid).second) << "hist_id " << hid << " on two rows";
    ASSERT_TRUE(by_id.count(hid)) << name << ": no histogram " << hid;
    const auto samples = row.get<double>("samples");
    for (const pt::ptree* h : by_id[hid]) {
      EXPECT_EQ(name.rfind(h->get<std::string>("case"), 0), 0u) << name;
      EXPECT_EQ(h->get<double>("count"), samples) << name << " " << h->get<std::string>("metric");
    }
  }
  EXPECT_FALSE(rows_per_case.empty());
  for (const auto& [name, rows] : rows_per_case) EXPECT_EQ(rows, repetitions) << name;
}

TEST(SideFile, EveryRowWithHistogramsMatchesItsLines) {
  test::ScratchDir dir;
  const Output r =
      run(dir,
          "--quick --transports=pipe,threads --sizes=64 "
          "--benchmark_filter='Limit/cacheline|RoundTrip|clients:2|consumers:2|pairs:2'");
  check_rows_match_histograms(r, 1);
  std::set<std::string> metrics;
  for (std::size_t i = 1; i < r.lines.size(); ++i)
    metrics.insert(r.lines[i].get<std::string>("metric"));
  const std::map<std::string, std::string> latency = {
      {"rtt", "round trip"},
      {"oneway_fwd", "one-way producer->consumer"},
      {"oneway_rev", "one-way consumer->producer"},
      {"fan_in_rtt", "round trip"},
      {"fan_out_round", "round trip"},
      {"fan_out_delivery", "one-way producer->last consumer"},
      {"pairs_rtt", "round trip"},
      {"cacheline_rtt", "round trip, mean of 64 bounces per sample"}};
  for (const auto& [m, words] : latency) EXPECT_TRUE(metrics.count(m)) << m;
  for (std::size_t i = 1; i < r.lines.size(); ++i) {
    const std::string m = r.lines[i].get<std::string>("metric");
    ASSERT_TRUE(latency.count(m)) << m;
    EXPECT_EQ(r.lines[i].get<std::string>("latency"), latency.at(m)) << m;
  }
  for (const auto& [_, row] : r.json.get_child("benchmarks")) {
    if (row.get<std::string>("name").rfind("RoundTrip/pipe", 0) != 0) continue;
    for (const char* c : {"oneway_p50_ns", "oneway_p99_ns", "oneway_fwd_p50_ns",
                          "oneway_fwd_p99_ns", "oneway_rev_p50_ns", "oneway_rev_p99_ns"}) {
      EXPECT_TRUE(row.get_optional<double>(c)) << c;
    }
  }
}

TEST(SideFile, RepetitionsInterleavedKeepEveryRowAndItsHistograms) {
  test::ScratchDir dir;
  const Output r = run(dir,
                       "--quick --transports=pipe,threads --sizes=64 "
                       "--benchmark_filter='RoundTrip|Stream|clients:2|consumers:2|pairs:2' "
                       "--benchmark_repetitions=3 --benchmark_enable_random_interleaving=true");
  check_rows_match_histograms(r, 3);
  std::map<std::string, int> rows;
  for (const auto& [_, row] : r.json.get_child("benchmarks")) {
    if (row.get<std::string>("run_type") != "iteration") continue;
    EXPECT_FALSE(row.get_optional<bool>("error_occurred").value_or(false))
        << row.get<std::string>("name");
    ++rows[row.get<std::string>("run_name")];
  }
  for (const char* c :
       {"Stream/pipe/bytes:64", "FanIn/pipe/clients:2/bytes:64", "FanOut/pipe/consumers:2/bytes:64",
        "Pairs/pipe/pairs:2/bytes:64", "RoundTrip/threads/bytes:64", "Stream/threads/bytes:64"}) {
    bool found = false;
    for (const auto& [name, n] : rows) {
      if (name.rfind(c, 0) == 0) {
        found = true;
        EXPECT_EQ(n, 3) << name;
      }
    }
    EXPECT_TRUE(found) << c;
  }
}

TEST(TransportsContext, OneObjectPerTransportInRegistryOrderWithResolveWords) {
  test::ScratchDir dir;
  const Output r =
      run(dir, "--quick --transports=pipe --sizes=64 --benchmark_filter=Limit/syscall");
  const pt::ptree list = parse(r.json.get<std::string>("context.ipcbench_transports"));
  std::size_t i = 0;
  const auto all = all_transports();
  for (const auto& [_, t] : list) {
    ASSERT_LT(i, all.size());
    const TransportInfo& info = all[i++];
    EXPECT_EQ(t.get<std::string>("id"), info.id);
    EXPECT_EQ(t.get<std::string>("family"), info.family);
    EXPECT_EQ(t.get<std::string>("lecture_row"), info.lecture_row);
    EXPECT_EQ(t.get<bool>("lecture_means"), info.lecture_means);
    EXPECT_EQ(t.get<std::string>("description"), info.description);
    const Capabilities caps = info.describe();
    const std::string payload = t.get<std::string>("payload");
    EXPECT_TRUE(payload == "bytes" || payload == "word" || payload == "nothing") << payload;
    const std::string max = t.get<std::string>("max_message_bytes");
    EXPECT_EQ(max,
              caps.max_message_bytes == SIZE_MAX ? "null" : std::to_string(caps.max_message_bytes));
    for (const char* key : {"in_process", "may_lose", "may_coalesce", "busy_polls"}) {
      EXPECT_TRUE(t.get_optional<bool>(key)) << key;
    }
    EXPECT_EQ(t.get<std::string>("waits_by"), caps.waits_by);
    for (Form form : kAllForms) {
      const std::string f(form_name(form));
      const FormSupport s = form_support(info, form);
      EXPECT_EQ(t.get<bool>("forms." + f + ".supported"), s.supported) << info.id << " " << f;
      EXPECT_EQ(
          t.get<std::string>(std::string("forms.") + f + (s.supported ? ".design" : ".reason")),
          s.text);
    }
  }
  EXPECT_EQ(i, all.size());
}

}  // namespace
}  // namespace ipcbench
