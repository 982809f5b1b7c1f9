// The console's pieces that need no run: the progress estimate and the wrapping of long lines.
#include "bench/console.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace ipcbench {
namespace {

TEST(Progress, EstimatesTheTimeLeftFromThePaceSoFar) {
  // Two repetitions took 20 s: eight more (the 3rd to the 10th) at 10 s each.
  EXPECT_EQ(progress_text(3, 10, 20.0, "RoundTrip/pipe/bytes:64"),
            "[3/10] RoundTrip/pipe/bytes:64, about 1 min 20 s left");
  EXPECT_EQ(progress_text(10, 10, 45.0, "Stream/pipe/bytes:64"),
            "[10/10] Stream/pipe/bytes:64, about 5 s left");
  // Nothing finished yet, or no known total: no estimate.
  EXPECT_EQ(progress_text(1, 10, 0.0, "x"), "[1/10] x");
  EXPECT_EQ(progress_text(4, 0, 30.0, "x"), "[4] x");
}

TEST(Wrapped, BreaksAtSpacesWithinTheWidthAndIndents) {
  const std::string text = "sysv_mq: RoundTrip/bytes:65536: larger than its largest message";
  const std::string out = wrapped(text, 30, 2, 6);
  std::istringstream lines(out);
  std::string line, joined;
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), 30u) << line;
    EXPECT_EQ(line.rfind(n == 0 ? "  " : "      ", 0), 0u) << line;
    joined += (joined.empty() ? "" : " ") + line.substr(line.find_first_not_of(' '));
    ++n;
  }
  EXPECT_GE(n, 3);
  EXPECT_EQ(joined, text);
  EXPECT_EQ(wrapped("short", 30, 2, 6), "  short\n");
}

TEST(BriefRow, PutsTheFiguresInColumnsAndKeepsLongNotesWithin160Columns) {
  const std::vector<std::string> cells{"1059062", "2101346", "", "", "222861"};
  const std::string shortrow = brief_row("Load/udp/rate:1700/bytes:64", cells, "lost 3");
  EXPECT_EQ(shortrow.find('\n'), shortrow.size() - 1) << shortrow;
  EXPECT_LE(shortrow.size(), 161u) << shortrow;
  const std::size_t notes_at = shortrow.find("lost 3");
  ASSERT_NE(notes_at, std::string::npos) << shortrow;
  // The widest row seen in a full run (196 columns before): every note kept, no line over 160,
  // continuation lines indented to the notes column, each line breaking between two notes.
  const std::string notes =
      "uncorrected p99 3924 us, not sustained, lost 883120, corrupt 12, reordered 7, "
      "cut by its budget";
  const std::string row = brief_row("FanOut/unix_seqpacket/consumers:8/bytes:64", cells, notes);
  std::istringstream lines(row);
  std::string line, joined;
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), 160u) << line;
    if (n > 0) {
      EXPECT_EQ(line.find_first_not_of(' '), notes_at) << row;
      EXPECT_NE(line.back(), ' ') << row;
    }
    const std::size_t from = n == 0 ? notes_at : line.find_first_not_of(' ');
    joined += (joined.empty() ? "" : " ") + line.substr(from);
    ++n;
  }
  EXPECT_GE(n, 2) << row;
  EXPECT_EQ(joined, notes) << row;
  EXPECT_EQ(row.rfind("FanOut/unix_seqpacket/consumers:8/bytes:64 ", 0), 0u) << row;
  // The header has the same columns: a figure's right edge sits under its title's.
  const std::string header =
      brief_row("case", {"RTT p50 us", "RTT p99 us", "1-way p50", "MB/s", "msgs/s"}, "notes");
  EXPECT_EQ(header.find("RTT p50 us") + 10, shortrow.find("1059062") + 7) << header << shortrow;
  EXPECT_EQ(header.find("notes"), notes_at) << header << shortrow;
}

}  // namespace
}  // namespace ipcbench
