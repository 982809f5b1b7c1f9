// Helpers shared by the tests: counting open fds, a private scratch directory, timing a call.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace ipcbench::test {

// The number of open file descriptors of this process.
[[nodiscard]] inline std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A scratch directory for one test (unique name), removed when the object goes.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Everything left inside, as paths relative to the directory.
  [[nodiscard]] std::vector<std::string> leftovers() const;

 private:
  std::filesystem::path path_;
};

// Runs `cmd` through /bin/sh, returns its exit status and sets `output` to stdout+stderr.
int run_command(const std::string& cmd, std::string& output);

}  // namespace ipcbench::test
