// PrivateDir: a 0700 directory with an unpredictable name, for the path names of FIFOs and sockets.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace ipcbench {

// Creates `<root>/ipcbench-<64 random bits in hex>` with mkdir(0700), which refuses an existing
// name; the name is in the run's ledger before the directory exists, so a kill at any point
// leaves the janitor a record of it.
// Only the process that created it removes it (a forked child holds a copy it must not act on).
// remove() deletes whatever is left inside and the directory; the destructor calls it.
class PrivateDir {
 public:
  PrivateDir() noexcept = default;
  explicit PrivateDir(const std::filesystem::path& root);
  PrivateDir(PrivateDir&& other) noexcept;
  PrivateDir& operator=(PrivateDir&& other) noexcept;
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  ~PrivateDir() { remove(); }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  void remove() noexcept;
  // Forgets the directory without removing it (a forked child's copy).
  void release() noexcept {
    path_.clear();
    ledger_ = -1;
  }

 private:
  std::filesystem::path path_;
  pid_t owner_ = -1;
  int ledger_ = -1;
};

// The default root for private directories: $TMPDIR if set and absolute, else /tmp.
[[nodiscard]] std::filesystem::path default_tmp_root();

// A name unique to this run and unpredictable: "ipcb-<pid>-<counter>-<64 random bits in hex>".
[[nodiscard]] std::string unique_name();

}  // namespace ipcbench
