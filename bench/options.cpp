#include "bench/options.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string_view>

#include "transports/registry.hpp"

namespace ipcbench {
namespace {

std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> items;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    items.push_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return items;
}

[[noreturn]] void bad(std::string_view flag, std::string_view value, const std::string& why) {
  throw std::invalid_argument(std::string(flag) + "=" + std::string(value) + ": " + why);
}

// "64", "1K"/"1KiB", "1M"/"1MiB": bytes, binary multiples.
std::size_t parse_size(std::string_view item, std::string_view whole) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
  if (item.empty() || item[0] == '-' || ec == std::errc::invalid_argument) {
    bad("--sizes", whole, "'" + std::string(item) + "' is not a size in bytes (e.g. 64, 16K, 1M)");
  }
  if (ec == std::errc::result_out_of_range)
    bad("--sizes", whole, "'" + std::string(item) + "' is too large");
  const std::string_view suffix(end, static_cast<std::size_t>(item.data() + item.size() - end));
  std::size_t scale = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB") {
    scale = 1024;
  } else if (suffix == "M" || suffix == "m" || suffix == "MiB") {
    scale = std::size_t{1} << 20;
  } else if (!suffix.empty()) {
    bad("--sizes", whole, "'" + std::string(item) + "' has an unknown unit (use K or M, binary)");
  }
  if (value == 0) bad("--sizes", whole, "a message of 0 bytes is not a size to measure");
  if (value > kMaxMessageBytes / scale) {
    bad("--sizes", whole, "'" + std::string(item) + "' is larger than the 64 MiB the suite allows");
  }
  return value * scale;
}

// A rate in messages per second: a whole number from 1 to kMaxRate.
std::uint64_t parse_rate(std::string_view item, std::string_view whole) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
  // The item in quotes, built by appending: g++ 12 warns falsely (-Wrestrict) on "'" + string.
  std::string quoted(1, '\'');
  quoted.append(item).push_back('\'');
  if (item.empty() || item[0] == '-' || item[0] == '+' || ec == std::errc::invalid_argument ||
      end != item.data() + item.size()) {
    bad("--rates", whole,
        quoted + " is not a rate (a whole number of messages per second, e.g. 1000,50000)");
  }
  if (ec == std::errc::result_out_of_range || value > kMaxRate) {
    bad("--rates", whole,
        quoted + " is more than " + std::to_string(kMaxRate) +
            " messages per second (a message every 10 ns), more than the suite can time");
  }
  if (value == 0) bad("--rates", whole, "a rate of 0 messages per second offers no load");
  return value;
}

}  // namespace

std::vector<int> pattern_cpus(const BenchOptions& o) {
  if (!o.cpus_given) return allowed_cpus();
  if (o.cpus.same()) return {o.cpus.producer};
  return {o.cpus.producer, o.cpus.consumer};
}

std::string bench_usage() {
  return "usage: ipcbench [--transports=ID,...] [--sizes=N,...] [--cpus=A,B | --placement=KINDS]\n"
         "                [--quick] [--list] [--patterns=on|off] [--counters=brief|all]\n"
         "                [--rates=R,...] [--watchdog=SECONDS] [--peer=ADDR:PORT]\n"
         "       ipcbench --serve=ADDR:PORT [--cpus=A,B] [--watchdog=SECONDS]\n"
         "                [Google Benchmark flags: --benchmark_filter=...,\n"
         "                --benchmark_format=json, --benchmark_out=FILE, "
         "--benchmark_repetitions=N]\n"
         "  --transports  transports to run, comma list of ids (default: all; see --list)\n"
         "  --sizes       message sizes in bytes, K and M are binary (default 64,1K,16K,64K,1M)\n"
         "  --cpus        producer and consumer CPU (default: two different CPUs; 0,0 shares one)\n"
         "  --quick       the whole matrix with fixed, small iteration counts\n"
         "  --list        the transports, what each can carry, and where its limit comes from\n"
         "  --placement   all, or a list of same_cpu,smt_sibling,same_llc,different_llc,\n"
         "                different_socket: run every pair case on each kind of CPU pair\n"
         "  --patterns    on (default) or off: the FanIn, FanOut and Pairs cases\n"
         "  --rates       the Load cases' offered rates, messages per second (default: a sweep\n"
         "                from 0.1% to 200% of each transport's stream rate, measured first;\n"
         "                --quick: 1%, 10%, 150%, for pipe, unix_stream, shm_futex and udp)\n"
         "  --counters    brief (default): the console shows one row per case, the figures a\n"
         "                person reads first; all: Google Benchmark's table of every counter\n"
         "                (the JSON output always holds every counter)\n"
         "  --watchdog    seconds without progress before a hung peer is killed (default 10)\n"
         "  --case_budget seconds of wall time each repetition of a case may take, Google\n"
         "                Benchmark's search included; a case that reaches it stops after its\n"
         "                current round trip or batch and says so (default 10, 2 with --quick)\n"
         "  --serve       two hosts: listen on this IPv4 address and port (0: any free port) and\n"
         "                run the consumer side of every case a --peer client asks for, one\n"
         "                client at a time, on the --cpus consumer CPU; until Ctrl-C or SIGTERM\n"
         "  --peer        two hosts: run the socket transports' RoundTrip, Stream and Load cases\n"
         "                against the --serve at ADDR:PORT (the others are listed unsupported:\n"
         "                one host only); round trips and rates only, no one-way time\n";
}

BenchOptions parse_bench_options(int& argc, char** argv) {
  BenchOptions o;
  bool seen_sizes = false, seen_transports = false, seen_rates = false, seen_watchdog = false,
       seen_budget = false, seen_counters = false;
  bool seen_serve = false, seen_peer = false;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto eq = arg.find('=');
    const std::string_view flag = arg.substr(0, eq);
    const bool has_value = eq != std::string_view::npos;
    const std::string_view value = has_value ? arg.substr(eq + 1) : std::string_view{};
    auto need_value = [&] {
      if (!has_value || value.empty()) {
        throw std::invalid_argument(std::string(flag) + ": expects a value (" + std::string(flag) +
                                    "=...)");
      }
    };
    auto no_value = [&] {
      if (has_value) bad(flag, value, "takes no value");
    };
    auto once = [&](bool& seen) {
      if (seen) throw std::invalid_argument(std::string(flag) + " given more than once");
      seen = true;
    };
    if (flag == "--sizes") {
      once(seen_sizes);
      need_value();
      for (std::string_view item : split(value)) {
        const std::size_t size = parse_size(item, value);
        if (std::find(o.sizes.begin(), o.sizes.end(), size) != o.sizes.end()) {
          bad(flag, value, "size " + std::to_string(size) + " is given twice");
        }
        o.sizes.push_back(size);
      }
    } else if (flag == "--transports") {
      once(seen_transports);
      need_value();
      for (std::string_view item : split(value)) {
        if (find_transport(item) == nullptr) {
          bad(flag, value,
              "unknown transport '" + std::string(item) + "' (known: " + known_transport_ids() +
                  ")");
        }
        if (std::find(o.transports.begin(), o.transports.end(), item) != o.transports.end()) {
          bad(flag, value, "transport '" + std::string(item) + "' is given twice");
        }
        o.transports.emplace_back(item);
      }
    } else if (flag == "--rates") {
      once(seen_rates);
      need_value();
      for (std::string_view item : split(value)) {
        const std::uint64_t rate = parse_rate(item, value);
        if (std::find(o.rates.begin(), o.rates.end(), rate) != o.rates.end()) {
          bad(flag, value, "rate " + std::to_string(rate) + " is given twice");
        }
        o.rates.push_back(rate);
      }
    } else if (flag == "--cpus") {
      if (o.cpus_given) throw std::invalid_argument("--cpus given more than once");
      need_value();
      o.cpus = parse_cpu_pair(value);
      o.cpus_given = true;
    } else if (flag == "--placement") {
      if (!o.placements.empty()) throw std::invalid_argument("--placement given more than once");
      need_value();
      o.placements = select_placements(value, discover_placements(allowed_cpus()));
    } else if (flag == "--patterns") {
      need_value();
      if (value != "on" && value != "off") bad(flag, value, "expected on or off");
      o.patterns = value == "on";
    } else if (flag == "--watchdog") {
      once(seen_watchdog);
      need_value();
      double seconds = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc{} || end != value.data() + value.size() || !(seconds >= 0.1) ||
          seconds > 3600) {
        bad(flag, value, "expected seconds between 0.1 and 3600");
      }
      o.watchdog = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    } else if (flag == "--case_budget") {
      once(seen_budget);
      need_value();
      double seconds = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc{} || end != value.data() + value.size() || !(seconds >= 0.1) ||
          seconds > 86400) {
        bad(flag, value, "expected seconds between 0.1 and 86400");
      }
      o.case_budget = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    } else if (flag == "--counters") {
      once(seen_counters);
      need_value();
      if (value != "brief" && value != "all") bad(flag, value, "expected brief or all");
      o.all_counters = value == "all";
    } else if (flag == "--serve") {
      once(seen_serve);
      need_value();
      o.serve = parse_host_port(value, flag, /*any_port=*/true);
    } else if (flag == "--peer") {
      once(seen_peer);
      need_value();
      o.peer = parse_host_port(value, flag, /*any_port=*/false);
    } else if (flag == "--quick") {
      no_value();
      o.quick = true;
    } else if (flag == "--list") {
      no_value();
      o.list = true;
    } else if (flag == "--help" || flag == "-h") {
      o.help = true;
    } else {
      argv[out++] = argv[i];  // Google Benchmark's (it rejects what it does not know)
    }
  }
  argc = out;
  argv[argc] = nullptr;
  if (o.sizes.empty()) o.sizes = {64, 1024, 16384, 65536, 1048576};
  if (o.transports.empty()) {
    for (const TransportInfo& info : all_transports()) o.transports.emplace_back(info.id);
  } else {
    // Registry order is the order of tables and plots.
    std::vector<std::string> ordered;
    for (const TransportInfo& info : all_transports()) {
      if (std::find(o.transports.begin(), o.transports.end(), info.id) != o.transports.end()) {
        ordered.emplace_back(info.id);
      }
    }
    o.transports = std::move(ordered);
    o.transports_given = true;
  }
  if (o.cpus_given && !o.placements.empty()) {
    throw std::invalid_argument("--cpus and --placement both choose the CPUs: give one of them");
  }
  if (o.serve && o.peer) {
    throw std::invalid_argument("--serve and --peer are the two ends of a two-host run: give one");
  }
  if (o.peer && !o.placements.empty()) {
    throw std::invalid_argument("--peer runs on the --cpus pair only: --placement is one host's");
  }
  if (!o.cpus_given) o.cpus = default_cpu_pair();
  if (!seen_budget) o.case_budget = o.quick ? kQuickBudget : kFullBudget;
  return o;
}

}  // namespace ipcbench
