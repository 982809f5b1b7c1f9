// The console for people: one row per case with the figures read first, a short header, the
// unsupported cases grouped at the end; and, on a terminal, a progress line on stderr.
#include "bench/console.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "harness/clock.hpp"

namespace ipcbench {
namespace {

// The case name's column (the longest name of today's matrix has 42 characters; a longer one is
// cut with "..."), then five value columns, each kValueWidth wide, then the notes from column
// kNotesColumn on, which continue on lines of their own, indented to that column, rather than
// cross kConsoleWidth.
constexpr int kValueWidth = 10;
constexpr std::size_t kMaxNameWidth = 44;
constexpr std::size_t kNotesColumn = kMaxNameWidth + 5 * (kValueWidth + 1) + 2;
constexpr std::size_t kConsoleWidth = 160;

std::string trimmed_name(const benchmark::BenchmarkReporter::Run& run) {
  std::string name = run.benchmark_name();
  for (const std::string suffix : {"/manual_time", "/real_time"}) {
    if (const std::size_t at = name.find(suffix); at != std::string::npos) name.erase(at, suffix.size());
  }
  if (const std::size_t at = name.find("/iterations:"); at != std::string::npos) {
    const std::size_t end = name.find('/', at + 1);
    name.erase(at, end == std::string::npos ? std::string::npos : end - at);
  }
  if (run.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate) {
    const std::string tail = "_" + run.aggregate_name;
    if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) {
      name.erase(name.size() - tail.size());
    }
  }
  if (name.size() > kMaxNameWidth) name = name.substr(0, kMaxNameWidth - 3) + "...";
  return name;
}

std::string three_digits(double value) {
  char text[32];
  if (value >= 100) {
    std::snprintf(text, sizeof text, "%.0f", value);
  } else if (value >= 10) {
    std::snprintf(text, sizeof text, "%.1f", value);
  } else {
    std::snprintf(text, sizeof text, "%.2f", value);
  }
  return text;
}

// A counter's value, or NaN when the row lacks it.
double counter(const benchmark::BenchmarkReporter::Run& run, const char* key) {
  const auto it = run.counters.find(key);
  return it == run.counters.end() ? std::nan("") : static_cast<double>(it->second);
}

std::string cell_us(double ns) { return std::isnan(ns) ? "" : three_digits(ns / 1000.0); }
std::string cell_mbps(double bytes_per_second) {  // empty for a case that carries no bytes
  return std::isnan(bytes_per_second) || bytes_per_second <= 0
             ? ""
             : three_digits(bytes_per_second / 1e6);
}
std::string cell_rate(double per_second) {
  if (std::isnan(per_second)) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", per_second);
  return text;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

std::vector<std::string> brief_cells(const benchmark::BenchmarkReporter::Run& run) {
  const std::string name = trimmed_name(run);
  const bool stream = starts_with(name, "Stream/");
  const bool fan_out = starts_with(name, "FanOut/");
  std::vector<std::string> cells(5);
  if (stream) {
    cells[3] = cell_mbps(counter(run, "bytes_per_second"));
    cells[4] = cell_rate(counter(run, "items_per_second"));
  } else if (fan_out) {
    cells[2] = cell_us(counter(run, "delivery_p50_ns"));
    cells[4] = cell_rate(counter(run, "items_per_second"));
  } else {
    cells[0] = cell_us(counter(run, "p50_ns"));
    cells[1] = cell_us(counter(run, "p99_ns"));
    cells[2] = cell_us(counter(run, "oneway_p50_ns"));
    if (starts_with(name, "Limit/")) cells[3] = cell_mbps(counter(run, "bytes_per_second"));
    if (starts_with(name, "FanIn/") || starts_with(name, "Pairs/") || starts_with(name, "Load/")) {
      cells[4] = cell_rate(counter(run, "items_per_second"));
    }
  }
  return cells;
}

std::string brief_notes(const benchmark::BenchmarkReporter::Run& run) {
  std::string notes;
  // Load: the corrected p99 is in the RTT p99 column; what a closed loop would say goes here.
  if (const double u = counter(run, "uncorrected_p99_ns"); !std::isnan(u)) {
    notes += "uncorrected p99 " + cell_us(u) + " us";
  }
  if (const double s = counter(run, "sustained"); !std::isnan(s) && s == 0) {
    notes += std::string(notes.empty() ? "" : ", ") + "not sustained";
  }
  for (const char* key : {"lost", "corrupt", "reordered", "coalesced", "failed_clients"}) {
    const double v = counter(run, key);
    if (!std::isnan(v) && v > 0) {
      notes += (notes.empty() ? "" : ", ") + std::string(key) + " " + cell_rate(v);
    }
  }
  if (!std::isnan(counter(run, "budget_cut")) && counter(run, "budget_cut") > 0) {
    notes += std::string(notes.empty() ? "" : ", ") + "cut by its budget";
  }
  const std::vector<std::string> cells = brief_cells(run);
  if (std::all_of(cells.begin(), cells.end(), [](const std::string& c) { return c.empty(); })) {
    // A probe with no latency or rate of its own (Limit/syscall): its time per iteration.
    notes += (notes.empty() ? "" : ", ") +
             ("time per iteration " + three_digits(run.GetAdjustedRealTime()) + " " +
              benchmark::GetTimeUnitString(run.time_unit));
  }
  return notes;
}

BriefConsole::BriefConsole(bool all_counters, std::function<void()> finalize_extra)
    : all_counters_(all_counters), finalize_extra_(std::move(finalize_extra)) {}

bool BriefConsole::ReportContext(const Context& context) {
  if (all_counters_) return benchmark::ConsoleReporter::ReportContext(context);
  std::ostream& out = GetOutputStream();
  out << "ipcbench on " << context.sys_info.name << ": " << context.cpu_info.num_cpus
      << " CPUs at " << static_cast<long>(context.cpu_info.cycles_per_second / 1e6)
      << " MHz. RTT: the full round trip; 1-way: sender's time stamp to receipt, both directions\n"
         "merged; times in us, MB/s = 10^6 bytes/s. With repetitions each row is their median. "
         "Every counter is in\nthe JSON (--benchmark_out=FILE); --counters=all prints them here.\n\n";
  const std::vector<std::string> titles{"RTT p50 us", "RTT p99 us", "1-way p50", "MB/s", "msgs/s"};
  out << brief_row("case", titles, "notes") << std::string(kNotesColumn + 5, '-') << "\n";
  return true;
}

void BriefConsole::ReportRuns(const std::vector<Run>& reports) {
  progress_clear();
  if (all_counters_) {
    benchmark::ConsoleReporter::ReportRuns(reports);
    return;
  }
  // One row per case. Google Benchmark reports a case's repetitions in one call and their
  // aggregates in a second: with repetitions the row is the median aggregate, else the one run.
  // A failed repetition prints its error instead, and the case's aggregates are then not shown.
  const Run* chosen = nullptr;
  const Run* failed = nullptr;
  for (const Run& r : reports) {
    if (r.error_occurred) {
      if (failed == nullptr) failed = &r;
    } else if (r.run_type == Run::RT_Aggregate) {
      if (r.aggregate_name == "median" && trimmed_name(r) != failed_case_) chosen = &r;
    } else if (r.repetitions <= 1 && chosen == nullptr) {
      chosen = &r;
    }
  }
  std::ostream& out = GetOutputStream();
  if (failed != nullptr) {
    failed_case_ = trimmed_name(*failed);
    // The error, however long, in lines within kConsoleWidth, continued under its first word.
    const std::string name = failed_case_ + std::string(kMaxNameWidth - failed_case_.size(), ' ');
    std::string text = wrapped(failed->error_message, kConsoleWidth, name.size() + 8,
                               name.size() + 8);
    out << text.replace(0, name.size() + 8, name + " ERROR: ");
    return;
  }
  if (chosen == nullptr) return;
  out << brief_row(trimmed_name(*chosen), brief_cells(*chosen), brief_notes(*chosen));
}

std::string brief_row(const std::string& name, const std::vector<std::string>& cells,
                      const std::string& notes) {
  char line[256];
  std::snprintf(line, sizeof line, "%-*s %*s %*s %*s %*s %*s  ", static_cast<int>(kMaxNameWidth),
                name.c_str(), kValueWidth, cells.at(0).c_str(), kValueWidth, cells.at(1).c_str(),
                kValueWidth, cells.at(2).c_str(), kValueWidth, cells.at(3).c_str(), kValueWidth,
                cells.at(4).c_str());
  std::string out = line;
  // The notes, item by item (", "-separated), on as many lines as they need.
  const std::size_t first = out.size();
  std::size_t line_start = 0, at = 0;
  bool empty = true;  // no item on the current line yet
  while (at < notes.size()) {
    std::size_t end = notes.find(", ", at);
    if (end == std::string::npos) end = notes.size();
    const std::string item = notes.substr(at, end - at) + (end < notes.size() ? "," : "");
    at = end + (end < notes.size() ? 2 : 0);
    if (!empty && out.size() - line_start + 1 + item.size() > kConsoleWidth) {
      out += "\n";
      line_start = out.size();
      out += std::string(first, ' ');
      empty = true;
    }
    out += (empty ? "" : " ") + item;
    empty = false;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\n";
}

void BriefConsole::Finalize() {
  progress_clear();
  benchmark::ConsoleReporter::Finalize();
  if (finalize_extra_) finalize_extra_();
}

std::string wrapped(const std::string& text, std::size_t width, std::size_t first_indent,
                    std::size_t indent) {
  std::string out, line(first_indent, ' ');
  bool empty = true;  // no word on `line` yet
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find(' ', at), text.size());
    const std::string word = text.substr(at, end - at);
    at = end + 1;
    if (word.empty()) continue;
    if (!empty && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.assign(indent, ' ');
      empty = true;
    }
    line += (empty ? "" : " ") + word;
    empty = false;
  }
  return out + line + "\n";
}

// ---------------------------------------------------------------------------------------------
// The progress line

namespace {

struct Progress {
  std::mutex mutex;
  bool on = false;
  std::size_t total = 0;  // 0: unknown (a --benchmark_filter chooses)
  std::size_t started = 0;
  std::uint64_t first_ns = 0;
  bool shown = false;
};
Progress& progress() {
  static Progress p;
  return p;
}

}  // namespace

std::string progress_text(std::size_t started, std::size_t total, double elapsed_s,
                          const std::string& name) {
  std::string text = "[" + std::to_string(started);
  if (total > 0) text += "/" + std::to_string(total);
  text += "] " + name;
  if (total > 0 && started > 1 && started <= total) {
    // The repetitions done so far took elapsed_s; the rest at the same pace.
    const double left = elapsed_s / static_cast<double>(started - 1) *
                        static_cast<double>(total - started + 1);
    const long s = std::lround(left);
    text += s >= 60 ? ", about " + std::to_string(s / 60) + " min " + std::to_string(s % 60) +
                          " s left"
                    : ", about " + std::to_string(s) + " s left";
  }
  if (text.size() > 150) text = text.substr(0, 147) + "...";
  return text;
}

void progress_start(std::size_t total) {
  Progress& p = progress();
  std::lock_guard lock(p.mutex);
  p.on = ::isatty(STDERR_FILENO) == 1;
  p.total = total;
}

void progress_repetition_started(const std::string& name) {
  Progress& p = progress();
  std::lock_guard lock(p.mutex);
  if (!p.on) return;
  const std::uint64_t now = now_ns();
  if (p.started == 0) p.first_ns = now;
  ++p.started;
  const double elapsed = static_cast<double>(now - p.first_ns) / 1e9;
  const std::string text = progress_text(p.started, p.total, elapsed, name);
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  p.shown = true;
}

void progress_clear() {
  Progress& p = progress();
  std::lock_guard lock(p.mutex);
  if (!p.shown) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  p.shown = false;
}

}  // namespace ipcbench
