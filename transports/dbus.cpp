// dbus: D-Bus, the desktop's IPC, broker included. The transport starts its own dbus-daemon on a
// socket in a private 0700 directory, with a bus config it writes (EXTERNAL auth, this user only,
// no activation, its own size limits). Each side connects with sd-bus after fork(); the producer's
// message is a method call org.ipcbench.Echo.Message(ay) to the consumer's unique name, and the
// consumer's message is the method return to that call. Every message goes client -> daemon ->
// client: the daemon reads it, checks it against the policy and routes it.
// Fan-in and broadcast: none yet (see forms_dbus).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "transports/os/dbus_daemon.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kPath = "/org/ipcbench/Echo";
constexpr const char* kInterface = "org.ipcbench.Echo";
constexpr const char* kMember = "Message";
constexpr const char* kBusDriver = "org.freedesktop.DBus";

// The largest payload, and the daemon's max_message_size above it: a message is the payload (an
// "ay" array) plus its 4-byte length plus the header, whose fields here (path, interface, member,
// signature, destination or reply serial, and the sender the daemon adds) stay well under 1 KiB
// (a bus name is at most 255 bytes). 8 MiB is above the suite's default sizes and a quarter of the
// daemon's built-in 32 MiB.
constexpr std::size_t kMaxPayload = std::size_t{8} << 20;
constexpr std::size_t kHeaderReserve = 1024;
// Per connection, what the daemon queues before it stops reading from a sender (incoming) or
// rejects messages for a receiver (outgoing: "destination has a full message queue"; a call that
// expects no reply would then vanish). 1e9 (the session bus's value, under INT32_MAX) is far
// above one stream batch in flight, which the harness keeps at max(4 MiB, 16 messages).
constexpr std::size_t kQueuedBytes = 1'000'000'000;
// One call awaits its reply at any time (see send()); a few more in case of a fault.
constexpr unsigned kMaxReplies = 16;
// Longer than any watchdog: a slow peer is the watchdog's to judge, not the daemon's.
constexpr unsigned kReplyTimeoutMs = 600'000;
constexpr unsigned kMaxConnections = 16;

// Every wait on the bus is a slice of this, then throw_if_interrupted().
constexpr std::uint64_t kSliceUsec = 100'000;
constexpr auto kDaemonReady = std::chrono::seconds(10);
constexpr auto kAttachTimeout = std::chrono::seconds(20);

std::string limit_source() {
  return "the bus config this transport writes: max_message_size " +
         std::to_string(kMaxPayload + kHeaderReserve) + " bytes, less " +
         std::to_string(kHeaderReserve) + " for the D-Bus header and the array's length";
}

struct BusClose {
  void operator()(sd_bus* bus) const noexcept { sd_bus_close_unref(bus); }
};
using BusPtr = std::unique_ptr<sd_bus, BusClose>;

struct MessageUnref {
  void operator()(sd_bus_message* m) const noexcept { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

class DbusTransport final : public Transport {
 public:
  explicit DbusTransport(const TransportOptions& options) : dir_(options.tmp_root) {
    if (auto missing = dbus_daemon_missing(kDbusDaemonBinary)) {
      throw_sys_error(ENOENT, "dbus", *missing);
    }
    const std::filesystem::path socket = dir_.path() / "bus";
    const std::filesystem::path config = dir_.path() / "bus.conf";
    object_ = "dbus " + socket.string();
    {
      const std::string text =
          dbus_bus_config(socket.string(), {.max_message_size = kMaxPayload + kHeaderReserve,
                                            .max_queued_bytes = kQueuedBytes,
                                            .max_replies = kMaxReplies,
                                            .reply_timeout_ms = kReplyTimeoutMs,
                                            .max_connections = kMaxConnections});
      UniqueFd fd(::open(config.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd.valid()) throw_sys_error(errno, "open", config.string());
      if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        throw_sys_error(errno, "write", config.string());
      }
    }
    // Forked from this thread, the one that builds the transport and destroys it: the harness's
    // main thread, which outlives the run (PR_SET_PDEATHSIG fires when the forking thread ends).
    daemon_ = DbusDaemon(kDbusDaemonBinary, config, dir_.path() / "daemon.log", kDaemonReady);
    // dbus-daemon makes its unix:path socket 0777 whatever the umask (access is left to the
    // directory and the policy). The directory is 0700, so nobody else can reach it meanwhile;
    // 0600 is what the suite gives every object.
    if (::chmod(socket.c_str(), 0600) != 0) throw_sys_error(errno, "chmod", socket.string());
    // The two sides tell each other their unique names (":1.N") over this socket pair.
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw_sys_error(errno, "socketpair", object_ + " name exchange");
    }
    names_[0] = UniqueFd(fds[0]);
    names_[1] = UniqueFd(fds[1]);
  }

  ~DbusTransport() override {
    while (stash_count_ > 0) (void)pop_stash();
    held_.reset();
    bus_.reset();  // closes our connection before the daemon goes
  }

  void attach(Role role, pid_t /*peer*/) override {
    producer_ = role == Role::kProducer;
    UniqueFd mine = std::move(names_[producer_ ? 0 : 1]);
    names_[0].reset();
    names_[1].reset();
    if (!producer_) {  // the consumer's copies: only the creating process stops or removes them
      daemon_.release();
      dir_.release();
    }
    const auto deadline = Clock::now() + kAttachTimeout;
    connect(deadline);
    const char* own = nullptr;
    int r = sd_bus_get_unique_name(bus_.get(), &own);
    if (r < 0) throw_sys_error(-r, "sd_bus_get_unique_name", object_);
    exchange_names(mine.get(), own, deadline);
    // The daemon tells us when the peer's connection goes (NameOwnerChanged with an empty new
    // owner); then its name is checked once, in case it went before the match was in place.
    call_driver("AddMatch",
                ("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                 "member='NameOwnerChanged',arg0='" +
                 peer_ + "'")
                    .c_str(),
                deadline);
    MessagePtr owner = call_driver("GetNameOwner", peer_.c_str(), deadline);
    if (sd_bus_message_is_method_error(owner.get(), nullptr)) peer_gone_ = true;
    if (peer_gone_) {
      throw_sys_error(ECONNRESET, "attach", object_ + ": the peer " + peer_ + " left the bus");
    }
  }

  void send(std::span<const std::byte> msg) override {
    if (msg.size() > kMaxPayload) {
      throw_sys_error(EMSGSIZE, "send",
                      object_ + ": " + std::to_string(msg.size()) +
                          " bytes is larger than the largest message, " +
                          std::to_string(kMaxPayload) + " bytes (" + limit_source() + ")");
    }
    sd_bus_message* raw = nullptr;
    int r = 0;
    bool expect_reply = false;
    if (producer_) {
      r = sd_bus_message_new_method_call(bus_.get(), &raw, peer_.c_str(), kPath, kInterface,
                                         kMember);
      if (r < 0) throw_sys_error(-r, "sd_bus_message_new_method_call", object_);
      // A call expects a reply only when no other call of ours awaits one: in a round trip every
      // call, in a stream the first of each batch (the consumer's ack is the reply to it). The
      // others are one-way calls (NO_REPLY_EXPECTED): the daemon routes them like any call but
      // keeps no pending reply, and the consumer must not answer them.
      expect_reply = !awaiting_;
      if (!expect_reply) {
        r = sd_bus_message_set_expect_reply(raw, 0);
        if (r < 0) {
          sd_bus_message_unref(raw);
          throw_sys_error(-r, "sd_bus_message_set_expect_reply", object_);
        }
      }
    } else {
      if (!held_) throw_sys_error(EPROTO, "send", object_ + ": no call awaits a reply");
      r = sd_bus_message_new_method_return(held_.get(), &raw);
      if (r < 0) throw_sys_error(-r, "sd_bus_message_new_method_return", object_);
    }
    MessagePtr m(raw);
    // Marshalling: the payload is copied into the message's body once.
    r = sd_bus_message_append_array(m.get(), 'y', msg.data(), msg.size());
    if (r < 0) throw_sys_error(-r, "sd_bus_message_append_array", object_);
    std::uint64_t cookie = 0;
    r = sd_bus_send(bus_.get(), m.get(), &cookie);
    if (r < 0) throw_sys_error(-r, "sd_bus_send", object_);
    if (producer_) {
      if (expect_reply) {
        awaiting_ = true;
        awaiting_cookie_ = cookie;
      }
    } else {
      held_.reset();
    }
    flush();
  }

  Received recv(std::span<std::byte> msg) override {
    if (producer_) {
      if (!awaiting_) throw_sys_error(EPROTO, "recv", object_ + ": no call awaits a reply");
      while (true) {
        MessagePtr m = next_message("recv");
        std::uint64_t cookie = 0;
        if (sd_bus_message_get_reply_cookie(m.get(), &cookie) < 0 || cookie != awaiting_cookie_) {
          continue;  // a reply to something else (cannot happen: one call awaits at a time)
        }
        awaiting_ = false;
        if (sd_bus_message_is_method_error(m.get(), nullptr)) {
          const sd_bus_error* e = sd_bus_message_get_error(m.get());
          const int err = sd_bus_message_get_errno(m.get());
          throw_sys_error(err > 0 ? err : EIO, "recv",
                          object_ + ": " + e->name + ": " + (e->message ? e->message : ""));
        }
        copy_out(m.get(), msg);
        return Received::kMessage;
      }
    }
    MessagePtr m = next_message("recv");
    copy_out(m.get(), msg);
    if (sd_bus_message_get_expect_reply(m.get()) > 0) {
      if (held_) throw_sys_error(EPROTO, "recv", object_ + ": two calls await a reply");
      held_ = std::move(m);  // send() replies to it
    }
    return Received::kMessage;
  }

 private:
  void connect(Clock::time_point deadline) {
    sd_bus* raw = nullptr;
    int r = sd_bus_new(&raw);
    if (r < 0) throw_sys_error(-r, "sd_bus_new", object_);
    bus_.reset(raw);
    r = sd_bus_set_address(bus_.get(), daemon_.address().c_str());
    if (r < 0) throw_sys_error(-r, "sd_bus_set_address", object_);
    r = sd_bus_set_bus_client(bus_.get(), 1);  // a bus client: it says Hello and gets a name
    if (r < 0) throw_sys_error(-r, "sd_bus_set_bus_client", object_);
    r = sd_bus_start(bus_.get());
    if (r < 0) throw_sys_error(-r, "sd_bus_start", object_);
    // Authentication and Hello, each step bounded.
    while ((r = sd_bus_is_ready(bus_.get())) == 0) {
      sd_bus_message* m = nullptr;
      r = sd_bus_process(bus_.get(), &m);
      if (r < 0) throw_sys_error(-r, "sd_bus_process", object_ + " (connecting)");
      if (m != nullptr) take(MessagePtr(m));
      if (r > 0) continue;
      wait_slice("connect", deadline);
    }
    if (r < 0) throw_sys_error(-r, "sd_bus_is_ready", object_);
  }

  // Sends our name on our end of the socket pair and reads the peer's, bounded by `deadline`.
  void exchange_names(int fd, const char* own, Clock::time_point deadline) {
    const std::size_t len = std::strlen(own);
    if (::send(fd, own, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) {
      throw_sys_error(errno, "send", object_ + " name exchange");
    }
    char name[256];
    while (true) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) throw_sys_error(errno, "poll", object_ + " name exchange");
      throw_if_interrupted("recv", object_ + " name exchange");
      if (ready > 0) break;
      if (Clock::now() > deadline) {
        throw_sys_error(ETIMEDOUT, "recv", object_ + ": the peer did not say its bus name");
      }
    }
    const ssize_t n = ::recv(fd, name, sizeof name, 0);
    if (n <= 0) {
      throw_sys_error(n < 0 ? errno : ECONNRESET, "recv",
                      object_ + ": the peer left before saying its bus name");
    }
    peer_.assign(name, static_cast<std::size_t>(n));
  }

  // A call to the bus driver with one string argument, and its reply (a method return or an
  // error), bounded by `deadline`. Messages for the transport that arrive meanwhile are kept.
  MessagePtr call_driver(const char* member, const char* arg, Clock::time_point deadline) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &raw, kBusDriver, "/org/freedesktop/DBus",
                                           kBusDriver, member);
    if (r < 0) throw_sys_error(-r, "sd_bus_message_new_method_call", object_);
    MessagePtr call(raw);
    r = sd_bus_message_append(call.get(), "s", arg);
    if (r < 0) throw_sys_error(-r, "sd_bus_message_append", object_);
    std::uint64_t cookie = 0;
    r = sd_bus_send(bus_.get(), call.get(), &cookie);
    if (r < 0) throw_sys_error(-r, "sd_bus_send", object_ + " " + member);
    while (true) {
      sd_bus_message* m = nullptr;
      r = sd_bus_process(bus_.get(), &m);
      if (r < 0) throw_sys_error(-r, "sd_bus_process", object_ + " " + member);
      if (m != nullptr) {
        MessagePtr got(m);
        std::uint64_t reply_to = 0;
        if (sd_bus_message_get_reply_cookie(got.get(), &reply_to) >= 0 && reply_to == cookie) {
          return got;
        }
        take(std::move(got));
      }
      if (r > 0) continue;
      wait_slice(member, deadline);
    }
  }

  // Keeps a message the transport will want later (the peer's call, our reply), notes the
  // peer's departure, and drops the rest (the daemon's NameAcquired, for example).
  void take(MessagePtr m) {
    if (sd_bus_message_is_signal(m.get(), kBusDriver, "NameOwnerChanged") > 0) {
      const char* sender = sd_bus_message_get_sender(m.get());
      const char *name = nullptr, *old_owner = nullptr, *new_owner = nullptr;
      if (sender != nullptr && std::strcmp(sender, kBusDriver) == 0 &&
          sd_bus_message_read(m.get(), "sss", &name, &old_owner, &new_owner) >= 0 &&
          peer_ == name && new_owner[0] == '\0') {
        peer_gone_ = true;
      }
      return;
    }
    std::uint8_t type = 0;
    if (sd_bus_message_get_type(m.get(), &type) < 0) return;
    const bool wanted =
        producer_ ? (type == SD_BUS_MESSAGE_METHOD_RETURN || type == SD_BUS_MESSAGE_METHOD_ERROR)
                  : (type == SD_BUS_MESSAGE_METHOD_CALL &&
                     sd_bus_message_is_method_call(m.get(), kInterface, kMember) > 0);
    if (!wanted) return;
    if (stash_count_ == stash_.size()) {
      throw_sys_error(EPROTO, "recv", object_ + ": more messages arrived than the protocol allows");
    }
    stash_[(stash_head_ + stash_count_) % stash_.size()] = m.release();
    ++stash_count_;
  }

  MessagePtr pop_stash() noexcept {
    MessagePtr m(stash_[stash_head_]);
    stash_head_ = (stash_head_ + 1) % stash_.size();
    --stash_count_;
    return m;
  }

  // The next message for the transport: kept ones first, then from the bus. Waits in slices.
  MessagePtr next_message(const char* call) {
    while (true) {
      if (stash_count_ > 0) return pop_stash();
      if (peer_gone_) {
        throw_sys_error(ECONNRESET, call, object_ + ": the peer " + peer_ + " left the bus");
      }
      sd_bus_message* m = nullptr;
      const int r = sd_bus_process(bus_.get(), &m);
      if (r < 0) throw_sys_error(-r, "sd_bus_process", object_);
      if (m != nullptr) take(MessagePtr(m));
      if (r > 0) continue;
      wait_slice(call, Clock::time_point::max());
    }
  }

  // Writes out what sd_bus_send() queued (a message larger than the socket takes at once). Not
  // sd_bus_flush(), which waits without bound and retries EINTR.
  void flush() {
    while (true) {
      const int events = sd_bus_get_events(bus_.get());
      if (events < 0) throw_sys_error(-events, "sd_bus_get_events", object_);
      if ((events & POLLOUT) == 0) return;
      sd_bus_message* m = nullptr;
      const int r = sd_bus_process(bus_.get(), &m);
      if (r < 0) throw_sys_error(-r, "sd_bus_process", object_);
      if (m != nullptr) take(MessagePtr(m));
      if (r > 0) continue;
      wait_slice("send", Clock::time_point::max());
    }
  }

  void wait_slice(const char* call, Clock::time_point deadline) {
    const int r = sd_bus_wait(bus_.get(), kSliceUsec);
    if (r < 0 && r != -EINTR) throw_sys_error(-r, "sd_bus_wait", object_);
    throw_if_interrupted(call, object_);
    if (Clock::now() > deadline) throw_sys_error(ETIMEDOUT, call, object_);
  }

  // Copies the "ay" payload out of `m` (sd-bus hands a pointer into the received buffer).
  void copy_out(sd_bus_message* m, std::span<std::byte> msg) {
    const void* data = nullptr;
    std::size_t size = 0;
    const int r = sd_bus_message_read_array(m, 'y', &data, &size);
    if (r < 0) throw_sys_error(-r, "sd_bus_message_read_array", object_);
    if (size != msg.size()) {
      throw_sys_error(EMSGSIZE, "recv",
                      object_ + ": a message of " + std::to_string(size) + " bytes, expected " +
                          std::to_string(msg.size()));
    }
    if (size > 0) std::memcpy(msg.data(), data, size);
  }

  PrivateDir dir_;  // destroyed last: the daemon is stopped before its directory goes
  DbusDaemon daemon_;
  std::string object_;  // "dbus <socket path>", in every error
  UniqueFd names_[2];   // the name exchange: [0] the producer's end, [1] the consumer's
  BusPtr bus_;
  bool producer_ = false;
  std::string peer_;  // the peer's unique name
  bool peer_gone_ = false;
  bool awaiting_ = false;  // producer: a call of ours awaits its reply
  std::uint64_t awaiting_cookie_ = 0;
  MessagePtr held_;                          // consumer: the call its next send() replies to
  std::array<sd_bus_message*, 64> stash_{};  // messages kept for later, a ring
  std::size_t stash_head_ = 0, stash_count_ = 0;
};

}  // namespace

TransportPtr make_dbus(const TransportOptions& options) {
  return std::make_unique<DbusTransport>(options);
}

Capabilities describe_dbus() {
  static const Capabilities caps = [] {
    Capabilities c;
    c.max_message_bytes = kMaxPayload;
    c.limit_source = limit_source();
    c.waits_by = "poll() on the bus socket (sd_bus_wait), through the dbus-daemon broker";
    if (auto missing = dbus_daemon_missing(kDbusDaemonBinary)) c.unavailable = *missing;
    return c;
  }();
  return caps;
}

TransportForms forms_dbus() {
  return {.no_fan_in =
              "not built: several clients calling one server on the bus is D-Bus's "
              "natural fan-in, but this transport has only its pair form so far",
          .no_broadcast =
              "a D-Bus signal reaches every matching receiver, but dbus-daemon rejects messages "
              "for a receiver whose queue is full (max_outgoing_bytes) and a signal expects no "
              "reply, so a slow reader loses them silently: FanOut uses one bus per consumer"};
}

}  // namespace ipcbench
