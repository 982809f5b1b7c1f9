// The console for people (issue 17): one row per case that fits 160 columns (the figures a
// person reads first: RTT p50/p99 and one-way p50 for round trips, MB/s and messages/s for
// streams, lost/corrupt counts when not zero), a short header instead of Google Benchmark's
// context (whose custom entries would list every unsupported case), and with --counters=all
// Google Benchmark's full table. The JSON output is untouched: it always holds every counter.
// On a terminal, a progress line on stderr: the repetition number out of the total and an
// estimate of the time left; never when stderr is not a terminal, so redirected output stays
// clean.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace ipcbench {

class BriefConsole : public benchmark::ConsoleReporter {
 public:
  // `finalize_extra` runs after the table (the unsupported cases).
  BriefConsole(bool all_counters, std::function<void()> finalize_extra);
  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& reports) override;
  void Finalize() override;

 private:
  bool all_counters_;
  std::function<void()> finalize_extra_;
  std::string failed_case_;  // the last case whose repetition failed (its aggregates not shown)
};

// A row's five value cells (RTT p50 us, RTT p99 us, one-way p50 us, MB/s, messages/s; empty
// where the case has no such figure) and its notes ("lost 3, corrupt 1"; empty when none).
[[nodiscard]] std::vector<std::string> brief_cells(const benchmark::BenchmarkReporter::Run& run);
[[nodiscard]] std::string brief_notes(const benchmark::BenchmarkReporter::Run& run);
// The console's row for one case: the name, the five cells and the notes in their columns. Notes
// that would cross column 160 continue on lines of their own, indented to the notes column, each
// line breaking between two notes. Ends with a newline.
[[nodiscard]] std::string brief_row(const std::string& name, const std::vector<std::string>& cells,
                                    const std::string& notes);

// `text` broken at spaces into lines of at most `width` columns (a word longer than that stands
// alone), the first indented by `first_indent` spaces and the rest by `indent`; each line ends
// with a newline.
[[nodiscard]] std::string wrapped(const std::string& text, std::size_t width,
                                  std::size_t first_indent, std::size_t indent);

// The progress line. progress_start(total) once before the cases run (total repetitions, 0 when
// unknown); it turns the line on only when stderr is a terminal. Each repetition's start calls
// progress_repetition_started(name); a row printed, a heartbeat or the end calls
// progress_clear() first. Thread-safe.
void progress_start(std::size_t total);
void progress_repetition_started(const std::string& name);
void progress_clear();
// "[12/240] RoundTrip/pipe/bytes:64, about 3 min 5 s left" (the estimate: the repetitions
// started before this one took elapsed_s; the rest at the same pace).
[[nodiscard]] std::string progress_text(std::size_t started, std::size_t total, double elapsed_s,
                                        const std::string& name);

}  // namespace ipcbench
