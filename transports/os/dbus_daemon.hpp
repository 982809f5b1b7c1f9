// DbusDaemon: a private dbus-daemon process that one transport starts, owns and stops; and the
// bus configuration it runs with.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace ipcbench {

// Where the dbus transport looks for the broker (Debian package dbus-daemon).
inline constexpr const char* kDbusDaemonBinary = "/usr/bin/dbus-daemon";

// Why `binary` cannot be run (missing, not executable), or nullopt when it can.
[[nodiscard]] std::optional<std::string> dbus_daemon_missing(const std::string& binary);

// What the bus config says beyond the fixed parts (socket, EXTERNAL auth, this user only, no
// service activation).
struct DbusBusLimits {
  std::size_t max_message_size = 0;  // the largest message the daemon reads, header included
  std::size_t max_queued_bytes = 0;  // max_incoming_bytes and max_outgoing_bytes per connection
  unsigned max_replies = 0;          // max_replies_per_connection: calls awaiting a reply
  unsigned reply_timeout_ms = 0;     // reply_timeout: when the daemon gives up on a reply
  unsigned max_connections = 0;      // max_connections_per_user
};

// The <busconfig> text of a private bus listening on unix:path=`socket_path`: EXTERNAL
// authentication, only the calling user may connect, no <servicedir> (nothing is activated), and
// `limits`. Throws std::system_error when the user cannot be named.
[[nodiscard]] std::string dbus_bus_config(const std::string& socket_path,
                                          const DbusBusLimits& limits);

// One dbus-daemon run as `binary --config-file=<config> --nofork --nopidfile --nosyslog
// --print-address=3`, forked from the calling thread. The child asks for SIGKILL when its parent
// thread ends (PR_SET_PDEATHSIG, checked with getppid() before exec), so a killed run takes the
// daemon with it; it runs with umask 0177, an empty signal mask, stdin
// and stdout on /dev/null, stderr into `log`, and no other inherited descriptor.
// The constructor blocks until the daemon prints its address (it is then listening), at most
// `ready_within`; if it exits first or stays silent, it is killed and reaped and the constructor
// throws std::system_error naming the binary and config, with the daemon's exit status and what
// it wrote to stderr. Only the creating process stops it: the destructor (or stop()) sends
// SIGTERM, waits at most 2 s, then SIGKILLs, and reaps it. A forked child's copy does nothing.
// Move-only.
class DbusDaemon {
 public:
  DbusDaemon() noexcept = default;
  DbusDaemon(const std::string& binary, const std::filesystem::path& config,
             const std::filesystem::path& log, std::chrono::milliseconds ready_within);
  DbusDaemon(DbusDaemon&& other) noexcept;
  DbusDaemon& operator=(DbusDaemon&& other) noexcept;
  DbusDaemon(const DbusDaemon&) = delete;
  DbusDaemon& operator=(const DbusDaemon&) = delete;
  ~DbusDaemon() { stop(); }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // The address it printed ("unix:path=...,guid=..."), what clients pass to sd_bus_set_address.
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  // SIGTERM, a bounded wait, then SIGKILL; reaps. Never throws; nothing in a forked copy.
  void stop() noexcept;
  // Forgets the daemon without stopping it (a forked child's copy).
  void release() noexcept { pid_ = -1; }

 private:
  pid_t pid_ = -1;
  pid_t owner_ = -1;
  std::string address_;
};

}  // namespace ipcbench
