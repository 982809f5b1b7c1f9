// fifo: two named pipes made with mkfifo() in a private 0700 directory, opened by both sides.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "transports/os/io.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {
namespace {

class FifoTransport final : public Transport {
 public:
  explicit FifoTransport(const TransportOptions& options)
      : dir_(options.tmp_root),
        down_path_((dir_.path() / "down.fifo").string()),
        up_path_((dir_.path() / "up.fifo").string()) {
    // 0600: only this user; the 0700 directory already keeps everyone else out.
    if (::mkfifo(down_path_.c_str(), 0600) != 0) throw_sys_error(errno, "mkfifo", down_path_);
    if (::mkfifo(up_path_.c_str(), 0600) != 0) throw_sys_error(errno, "mkfifo", up_path_);
  }

  void attach(Role role, pid_t /*peer*/) override {
    // Both sides open `down` first, then `up`, so the blocking opens pair up without deadlock.
    if (role == Role::kProducer) {
      out_ = open_path(down_path_, O_WRONLY);
      in_ = open_path(up_path_, O_RDONLY);
      // Both ends are open on both sides: the names are no longer needed, so a crash leaks none.
      dir_.remove();
    } else {
      dir_.release();
      in_ = open_path(down_path_, O_RDONLY);
      out_ = open_path(up_path_, O_WRONLY);
    }
  }
  void send(std::span<const std::byte> msg) override { write_all(out_.get(), msg, "fifo"); }
  Received recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "fifo");
    return Received::kMessage;
  }

 private:
  PrivateDir dir_;
  std::string down_path_, up_path_;  // producer -> consumer, consumer -> producer
  UniqueFd in_, out_;
};

}  // namespace

TransportPtr make_fifo(const TransportOptions& options) {
  return std::make_unique<FifoTransport>(options);
}

Capabilities describe_fifo() {
  return {.limit_source = "none: a byte stream, any size (written in pieces of the pipe capacity)"};
}

}  // namespace ipcbench
