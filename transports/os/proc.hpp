// Reading the kernel's limits from /proc and /sys at run time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ipcbench {

// The first integer in `path`, or nullopt if the file is missing or holds no integer.
[[nodiscard]] std::optional<std::int64_t> read_proc_int(const std::string& path);
// The first line of `path` without its newline, or nullopt if it cannot be read.
[[nodiscard]] std::optional<std::string> read_proc_line(const std::string& path);

}  // namespace ipcbench
