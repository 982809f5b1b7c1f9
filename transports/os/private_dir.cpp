#include "transports/os/private_dir.hpp"

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <vector>

#include "transports/os/ledger.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {

PrivateDir::PrivateDir(const std::filesystem::path& root) {
  // mkdtemp() would name the directory only once it exists, and a SIGKILL landing during the call
  // would leave it unrecorded. So the name is drawn here, recorded in the ledger, then created:
  // the janitor can always remove it. mkdir(0700) fails on an existing name, never reuses it.
  for (int attempt = 0;; ++attempt) {
    std::uint64_t random = 0;
    if (::getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
      throw_sys_error(errno, "getrandom", "private directory name");
    }
    char leaf[32];
    std::snprintf(leaf, sizeof leaf, "ipcbench-%016llx", static_cast<unsigned long long>(random));
    const std::filesystem::path path = root / leaf;
    const int handle = ledger_add(ObjectKind::kPath, 0, path.string());
    if (::mkdir(path.c_str(), 0700) == 0) {
      path_ = path;
      owner_ = ::getpid();
      ledger_ = handle;
      return;
    }
    const int err = errno;
    ledger_remove(handle);  // not ours: it must never be removed
    if (err != EEXIST || attempt == 16) throw_sys_error(err, "mkdir", path.string());
  }
}

PrivateDir::PrivateDir(PrivateDir&& other) noexcept
    : path_(std::move(other.path_)), owner_(other.owner_), ledger_(other.ledger_) {
  other.path_.clear();
  other.ledger_ = -1;
}

PrivateDir& PrivateDir::operator=(PrivateDir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::move(other.path_);
    owner_ = other.owner_;
    ledger_ = other.ledger_;
    other.path_.clear();
    other.ledger_ = -1;
  }
  return *this;
}

void PrivateDir::remove() noexcept {
  if (path_.empty()) return;
  if (owner_ == ::getpid()) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    ledger_remove(ledger_);
  }
  path_.clear();
  ledger_ = -1;
}

std::filesystem::path default_tmp_root() {
  const char* tmpdir = std::getenv("TMPDIR");
  if (tmpdir != nullptr && tmpdir[0] == '/') return tmpdir;
  return "/tmp";
}

std::string unique_name() {
  static std::atomic<unsigned> counter{0};
  std::uint64_t random = 0;
  if (::getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    throw_sys_error(errno, "getrandom", "name suffix");
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "ipcb-%d-%u-%016llx", static_cast<int>(::getpid()),
                counter.fetch_add(1), static_cast<unsigned long long>(random));
  return buf;
}

}  // namespace ipcbench
