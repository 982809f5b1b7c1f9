#include "transports/os/proc.hpp"

#include <fstream>

namespace ipcbench {

std::optional<std::int64_t> read_proc_int(const std::string& path) {
  std::ifstream in(path);
  std::int64_t value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

std::optional<std::string> read_proc_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  return line;
}

}  // namespace ipcbench
