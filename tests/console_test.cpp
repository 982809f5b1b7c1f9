// The console's pieces that need no run: the progress estimate and the wrapping of long lines.
#include "bench/console.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

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

}  // namespace
}  // namespace ipcbench
