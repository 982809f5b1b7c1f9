// dbus: D-Bus, the desktop's IPC, broker included. The transport starts its own dbus-daemon on a
// socket in a private 0700 directory, with a bus config it writes (EXTERNAL auth, this user only,
// no activation, its own size limits). Each side connects with sd-bus after fork(). Pair: the
// producer's message is a method call org.ipcbench.Echo.Message(ay) to the consumer's unique
// name, the consumer's message is the method return to that call. Fan-in: every client calls the
// server's unique name on one bus, the server replies to each call. Every message goes client ->
// daemon -> client: the daemon reads it, checks it against the policy and routes it.
// In a stream, the calls after the first of a batch expect no reply (see send()); a consumer with
// no call to answer (Load's echo direction) sends one-way calls of its own.
// What a message costs beside unix_stream's write + read: the sender's sd-bus marshals it (the
// payload copied into the message) and sendmsg()s it; the daemon wakes (epoll_wait), recvmsg()s
// it (and once more for EAGAIN), validates it, adds the sender and sendmsg()s it on; the receiver
// wakes from ppoll() after one recvmsg() found nothing, reads it in two recvmsg() calls, and the
// payload is copied out. At least six copies of the payload instead of two, two wake-ups
// instead of one, and a third process's CPU time (the daemon's, which the harness's per-message
// CPU figure of the two ends does not include).
// Broadcast: none (see forms_dbus).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "transports/os/dbus_daemon.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {

Capabilities describe_dbus();

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
// Longer than any watchdog: a slow peer is the watchdog's to judge, not the daemon's.
constexpr unsigned kReplyTimeoutMs = 600'000;

// Every wait on the bus is a slice of this, then throw_if_interrupted().
constexpr std::uint64_t kSliceUsec = 100'000;
constexpr auto kDaemonReady = std::chrono::seconds(10);
constexpr auto kAttachTimeout = std::chrono::seconds(20);

std::string limit_source() {
  return "the bus config this transport writes: max_message_size " +
         std::to_string(kMaxPayload + kHeaderReserve) + " bytes, less " +
         std::to_string(kHeaderReserve) + " for the D-Bus header and the array's length";
}

Capabilities dbus_caps() {
  Capabilities c;
  c.max_message_bytes = kMaxPayload;
  c.limit_source = limit_source();
  c.waits_by = "poll() on the bus socket (sd_bus_wait), through the dbus-daemon broker";
  c.relay = "dbus-daemon";
  if (auto missing = dbus_daemon_missing(kDbusDaemonBinary)) c.unavailable = *missing;
  return c;
}

struct BusClose {
  void operator()(sd_bus* bus) const noexcept { sd_bus_close_unref(bus); }
};
using BusPtr = std::unique_ptr<sd_bus, BusClose>;

struct MessageUnref {
  void operator()(sd_bus_message* m) const noexcept { sd_bus_message_unref(m); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

// The bus one transport owns: its private directory (config, socket, the daemon's stderr) and
// its daemon, started here, in the parent, before fork(). The daemon is forked from the calling
// thread, the one that builds the transport and destroys it (the harness's main thread, which
// outlives the run): PR_SET_PDEATHSIG fires when the forking thread ends.
struct PrivateBus {
  PrivateDir dir;  // declared first, destroyed last: the daemon is stopped before its files go
  DbusDaemon daemon;
  std::string object;  // "dbus <socket path>", in every error

  PrivateBus(const TransportOptions& options, unsigned connections) : dir(options.tmp_root) {
    if (auto missing = dbus_daemon_missing(kDbusDaemonBinary)) {
      throw_sys_error(ENOENT, "dbus", *missing);
    }
    const std::filesystem::path socket = dir.path() / "bus";
    const std::filesystem::path config = dir.path() / "bus.conf";
    object = "dbus " + socket.string();
    const std::string text =
        dbus_bus_config(socket.string(), {.max_message_size = kMaxPayload + kHeaderReserve,
                                          .max_queued_bytes = kQueuedBytes,
                                          // at most one call per client awaits its reply
                                          .max_replies = connections + 8,
                                          .reply_timeout_ms = kReplyTimeoutMs,
                                          .max_connections = connections});
    {
      UniqueFd fd(::open(config.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!fd.valid()) throw_sys_error(errno, "open", config.string());
      if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        throw_sys_error(errno, "write", config.string());
      }
    }
    daemon = DbusDaemon(kDbusDaemonBinary, config, dir.path() / "daemon.log", kDaemonReady);
    // dbus-daemon makes its unix:path socket 0777 whatever the umask (access is left to the
    // directory and the policy). The directory is 0700, so nobody else can reach it meanwhile;
    // 0600 is what the suite gives every object.
    if (::chmod(socket.c_str(), 0600) != 0) throw_sys_error(errno, "chmod", socket.string());
  }

  // A forked child's copies: only the creating process stops the daemon or removes the files.
  void forget() noexcept {
    daemon.release();
    dir.release();
  }
};

// Writes our unique name (":1.N") as one SOCK_SEQPACKET message, for the other side.
void send_name(int fd, const std::string& name, const std::string& object) {
  if (::write(fd, name.data(), name.size()) != static_cast<ssize_t>(name.size())) {
    throw_sys_error(errno, "write", object + " name exchange");
  }
}

// Reads one name (a SOCK_SEQPACKET message, or a pipe record of kNameRecord bytes, NUL-padded)
// from `fd`, waiting in slices until `deadline`. A bus name is at most 255 bytes.
constexpr std::size_t kNameRecord = 256;  // <= PIPE_BUF: a pipe write of it is atomic
std::string recv_name(int fd, const std::string& object, Clock::time_point deadline) {
  while (true) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) throw_sys_error(errno, "poll", object + " name exchange");
    throw_if_interrupted("read", object + " name exchange");
    if (ready > 0) break;
    if (Clock::now() > deadline) {
      throw_sys_error(ETIMEDOUT, "read", object + ": the peer did not say its bus name");
    }
  }
  char name[kNameRecord];
  const ssize_t n = ::read(fd, name, sizeof name);
  if (n <= 0) {
    throw_sys_error(n < 0 ? errno : ECONNRESET, "read",
                    object + ": the peer left before saying its bus name");
  }
  return std::string(name, ::strnlen(name, static_cast<std::size_t>(n)));
}

// One side's connection to the bus, with the message plumbing both forms share. Everything that
// waits does so in slices of kSliceUsec and then checks throw_if_interrupted(). sd-bus allocates
// every message it builds or reads (that is part of what a D-Bus message costs); nothing else
// here allocates after attach, except errors and the fan-in server's note of each client's name
// at its first call.
class Endpoint {
 public:
  // What this side receives: method calls (the server), method returns (a fan-in client), or
  // both (the pair form: the consumer's messages are returns to the producer's calls, or one-way
  // calls of its own when it sends on a transport the producer only reads from, as in Load).
  enum class Takes { kCalls, kReturns, kBoth };
  explicit Endpoint(Takes takes) : takes_(takes) {}
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint() {
    stash_.clear();  // unreferenced while the bus still exists
    bus_.reset();
  }

  // Connects, authenticates (EXTERNAL) and says Hello, bounded by `deadline`.
  void connect(const std::string& address, std::string object, Clock::time_point deadline) {
    object_ = std::move(object);
    sd_bus* raw = nullptr;
    int r = sd_bus_new(&raw);
    if (r < 0) throw_sys_error(-r, "sd_bus_new", object_);
    bus_.reset(raw);
    r = sd_bus_set_address(bus_.get(), address.c_str());
    if (r < 0) throw_sys_error(-r, "sd_bus_set_address", object_);
    r = sd_bus_set_bus_client(bus_.get(), 1);  // a bus client: it says Hello and gets a name
    if (r < 0) throw_sys_error(-r, "sd_bus_set_bus_client", object_);
    r = sd_bus_start(bus_.get());
    if (r < 0) throw_sys_error(-r, "sd_bus_start", object_);
    while ((r = sd_bus_is_ready(bus_.get())) == 0) {
      if (MessagePtr m = step("connect", deadline, nullptr, false)) keep(std::move(m));
    }
    if (r < 0) throw_sys_error(-r, "sd_bus_is_ready", object_);
    const char* own = nullptr;
    r = sd_bus_get_unique_name(bus_.get(), &own);
    if (r < 0) throw_sys_error(-r, "sd_bus_get_unique_name", object_);
    unique_name_ = own;
  }

  [[nodiscard]] const std::string& unique_name() const noexcept { return unique_name_; }
  [[nodiscard]] const std::string& object() const noexcept { return object_; }

  // Watches for the departure of `name` as peer `index` (NameOwnerChanged with an empty new
  // owner); `index` < watch_slots given to watch_departures().
  void watch(std::size_t index, std::string name) {
    watched_[index] = std::move(name);
    gone_[index] = 0;
  }
  [[nodiscard]] bool gone(std::size_t index) const noexcept { return gone_[index] != 0; }
  [[nodiscard]] const std::string& watched(std::size_t index) const noexcept {
    return watched_[index];
  }

  // Asks the daemon for NameOwnerChanged signals (of `arg0` only, or of every name when empty)
  // and makes room for `slots` watched peers. Bounded by `deadline`.
  void watch_departures(const std::string& arg0, std::size_t slots, Clock::time_point deadline) {
    watched_.assign(slots, std::string());
    gone_.assign(slots, 0);
    std::string rule =
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        "member='NameOwnerChanged'";
    if (!arg0.empty()) rule += ",arg0='" + arg0 + "'";
    MessagePtr reply = call_driver("AddMatch", rule.c_str(), deadline);
    if (sd_bus_message_is_method_error(reply.get(), nullptr)) fail_with(reply.get(), "AddMatch");
  }

  // True when `name` has an owner on the bus now (GetNameOwner), bounded by `deadline`.
  bool present(const std::string& name, Clock::time_point deadline) {
    MessagePtr reply = call_driver("GetNameOwner", name.c_str(), deadline);
    return !sd_bus_message_is_method_error(reply.get(), nullptr);
  }

  // Sends a call of `msg` to `destination`, expecting a reply or not; returns its cookie.
  std::uint64_t send_call(const char* destination, const char* path, bool expect_reply,
                          std::span<const std::byte> msg) {
    check_size(msg);
    sd_bus_message* raw = nullptr;
    int r =
        sd_bus_message_new_method_call(bus_.get(), &raw, destination, path, kInterface, kMember);
    if (r < 0) throw_sys_error(-r, "sd_bus_message_new_method_call", object_);
    MessagePtr m(raw);
    if (!expect_reply) {
      r = sd_bus_message_set_expect_reply(m.get(), 0);
      if (r < 0) throw_sys_error(-r, "sd_bus_message_set_expect_reply", object_);
    }
    return send(m.get(), msg);
  }

  // Sends `msg` as the method return to `call`.
  void send_reply(sd_bus_message* call, std::span<const std::byte> msg) {
    check_size(msg);
    sd_bus_message* raw = nullptr;
    const int r = sd_bus_message_new_method_return(call, &raw);
    if (r < 0) throw_sys_error(-r, "sd_bus_message_new_method_return", object_);
    MessagePtr m(raw);
    (void)send(m.get(), msg);
  }

  // Waits for the reply to `cookie`; an error reply (the daemon's NoReply when the callee left,
  // for one) throws naming the bus and the D-Bus error. `peer`: the watched peer whose departure
  // ends the wait too, or SIZE_MAX.
  MessagePtr await_reply(std::uint64_t cookie, std::size_t peer) {
    while (true) {
      if (peer != SIZE_MAX && gone_[peer] != 0 && stash_.empty()) departed(peer, "recv");
      MessagePtr m = step("recv", Clock::time_point::max(), nullptr, true);
      if (!m) continue;
      std::uint64_t reply_to = 0;
      if (sd_bus_message_get_reply_cookie(m.get(), &reply_to) < 0 || reply_to != cookie) {
        continue;  // a reply to something else (cannot happen: one call awaits at a time)
      }
      if (sd_bus_message_is_method_error(m.get(), nullptr)) fail_with(m.get(), "recv");
      return m;
    }
  }

  // The next call for us. With `idle`, returns nullptr (setting *idle) after one slice without
  // one or when a signal interrupts the wait; without, waits until one comes, throwing when the
  // watched `peer` (SIZE_MAX: none) has left.
  MessagePtr next_call(std::size_t peer, bool* idle) {
    while (true) {
      if (peer != SIZE_MAX && gone_[peer] != 0 && stash_.empty()) departed(peer, "recv");
      MessagePtr m = step("recv", Clock::time_point::max(), idle, true);
      if (m) return m;
      if (idle != nullptr && *idle) return nullptr;
    }
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

  [[noreturn]] void departed(std::size_t peer, const char* call) const {
    throw_sys_error(ECONNRESET, call, object_ + ": the peer " + watched_[peer] + " left the bus");
  }

 private:
  void check_size(std::span<const std::byte> msg) const {
    if (msg.size() > kMaxPayload) {
      throw_sys_error(EMSGSIZE, "send",
                      object_ + ": " + std::to_string(msg.size()) +
                          " bytes is larger than the largest message, " +
                          std::to_string(kMaxPayload) + " bytes (" + limit_source() + ")");
    }
  }

  std::uint64_t send(sd_bus_message* m, std::span<const std::byte> msg) {
    // Marshalling: the payload is copied into the message's body once.
    int r = sd_bus_message_append_array(m, 'y', msg.data(), msg.size());
    if (r < 0) throw_sys_error(-r, "sd_bus_message_append_array", object_);
    std::uint64_t cookie = 0;
    r = sd_bus_send(bus_.get(), m, &cookie);
    if (r < 0) throw_sys_error(-r, "sd_bus_send", object_);
    flush();
    return cookie;
  }

  // Writes out what sd_bus_send() queued (a message larger than the socket takes at once). Not
  // sd_bus_flush(), which waits without bound and retries EINTR.
  void flush() {
    while (true) {
      const int events = sd_bus_get_events(bus_.get());
      if (events < 0) throw_sys_error(-events, "sd_bus_get_events", object_);
      if ((events & POLLOUT) == 0) return;
      if (MessagePtr m = step("send", Clock::time_point::max(), nullptr, false)) keep(std::move(m));
    }
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
      sd_bus_message* got = nullptr;
      r = sd_bus_process(bus_.get(), &got);
      if (r < 0) throw_sys_error(-r, "sd_bus_process", object_ + " " + member);
      if (got != nullptr) {
        MessagePtr m(got);
        std::uint64_t reply_to = 0;
        if (sd_bus_message_get_reply_cookie(m.get(), &reply_to) >= 0 && reply_to == cookie) {
          return m;
        }
        if (MessagePtr mine = classify(std::move(m))) keep(std::move(mine));
      }
      if (r > 0) continue;
      wait_slice(member, deadline, nullptr);
    }
  }

  // One step: a kept message (with `kept`), else one sd_bus_process() (which also writes out
  // queued bytes), else one wait of at most a slice. Returns a message for the transport, or
  // nullptr. Callers that keep what they get (connecting, flushing) pass kept = false, so they
  // make progress on the bus instead of taking back what they kept.
  MessagePtr step(const char* call, Clock::time_point deadline, bool* idle, bool kept) {
    if (kept && !stash_.empty()) return pop_stash();
    sd_bus_message* got = nullptr;
    const int r = sd_bus_process(bus_.get(), &got);
    if (r < 0) throw_sys_error(-r, "sd_bus_process", object_);
    if (got != nullptr) return classify(MessagePtr(got));
    if (r > 0) return nullptr;
    wait_slice(call, deadline, idle);
    return nullptr;
  }

  void wait_slice(const char* call, Clock::time_point deadline, bool* idle) {
    const int r = sd_bus_wait(bus_.get(), kSliceUsec);
    if (r < 0 && r != -EINTR) throw_sys_error(-r, "sd_bus_wait", object_);
    if (idle != nullptr && r <= 0) {
      *idle = true;  // the caller checks its own stop condition
      return;
    }
    throw_if_interrupted(call, object_);
    if (Clock::now() > deadline) throw_sys_error(ETIMEDOUT, call, object_);
  }

  // The message if the transport wants it (a call of ours, or a reply), after noting a watched
  // peer's departure; nullptr for the rest (the daemon's NameAcquired, for example).
  MessagePtr classify(MessagePtr m) {
    if (sd_bus_message_is_signal(m.get(), kBusDriver, "NameOwnerChanged") > 0) {
      const char* sender = sd_bus_message_get_sender(m.get());
      const char *name = nullptr, *old_owner = nullptr, *new_owner = nullptr;
      if (sender != nullptr && std::strcmp(sender, kBusDriver) == 0 &&
          sd_bus_message_read(m.get(), "sss", &name, &old_owner, &new_owner) >= 0 &&
          new_owner[0] == '\0') {
        for (std::size_t i = 0; i < watched_.size(); ++i) {
          if (watched_[i] == name) gone_[i] = 1;
        }
      }
      return nullptr;
    }
    std::uint8_t type = 0;
    if (sd_bus_message_get_type(m.get(), &type) < 0) return nullptr;
    const bool call = type == SD_BUS_MESSAGE_METHOD_CALL &&
                      sd_bus_message_is_method_call(m.get(), kInterface, kMember) > 0;
    const bool answer = type == SD_BUS_MESSAGE_METHOD_RETURN || type == SD_BUS_MESSAGE_METHOD_ERROR;
    const bool wanted = takes_ == Takes::kCalls     ? call
                        : takes_ == Takes::kReturns ? answer
                                                    : call || answer;
    return wanted ? std::move(m) : nullptr;
  }

  // Keeps a message that arrived while we waited for something else, for step() to return. How
  // many come is the peer's affair: a stream's producer that finished attaching first sends its
  // whole first batch (thousands of calls) while this side still waits for the bus driver's
  // replies of its own attach (seen on one CPU), so the stash grows as needed (allocating only
  // then: a kept message is the exception, not the hot path).
  void keep(MessagePtr m) { stash_.push_back(std::move(m)); }

  MessagePtr pop_stash() noexcept {
    MessagePtr m = std::move(stash_.front());
    stash_.pop_front();
    return m;
  }

  [[noreturn]] void fail_with(sd_bus_message* m, const char* call) const {
    const sd_bus_error* e = sd_bus_message_get_error(m);
    const int err = sd_bus_message_get_errno(m);
    throw_sys_error(err > 0 ? err : EIO, call,
                    object_ + ": " + (e && e->name ? e->name : "error") + ": " +
                        (e && e->message ? e->message : ""));
  }

  Takes takes_;
  BusPtr bus_;
  std::string object_;
  std::string unique_name_;
  std::vector<std::string> watched_;  // peers whose departure we watch, by index
  std::vector<char> gone_;            // 1 once watched_[i] left the bus
  std::deque<MessagePtr> stash_;      // messages kept for later, oldest first
};

class DbusTransport final : public Transport {
 public:
  explicit DbusTransport(const TransportOptions& options) : bus_(options, 2 + 2) {
    // The two sides tell each other their unique names (":1.N") over this socket pair.
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw_sys_error(errno, "socketpair", bus_.object + " name exchange");
    }
    names_[0] = UniqueFd(fds[0]);
    names_[1] = UniqueFd(fds[1]);
  }

  ~DbusTransport() override {
    held_.reset();
    end_.reset();  // closes our connection before the daemon goes
  }

  void attach(Role role, pid_t /*peer*/) override {
    producer_ = role == Role::kProducer;
    UniqueFd mine = std::move(names_[producer_ ? 0 : 1]);
    names_[0].reset();
    names_[1].reset();
    if (!producer_) bus_.forget();
    const auto deadline = Clock::now() + kAttachTimeout;
    end_ = std::make_unique<Endpoint>(Endpoint::Takes::kBoth);
    end_->connect(bus_.daemon.address(), bus_.object, deadline);
    send_name(mine.get(), end_->unique_name(), bus_.object);
    peer_ = recv_name(mine.get(), bus_.object, deadline);
    // The daemon tells us when the peer's connection goes (NameOwnerChanged with an empty new
    // owner); then its name is checked once, in case it went before the match was in place.
    end_->watch_departures(peer_, 1, deadline);
    end_->watch(0, peer_);
    if (!end_->present(peer_, deadline)) end_->departed(0, "attach");
  }

  void send(std::span<const std::byte> msg) override {
    if (producer_) {
      // A call expects a reply only when no other call of ours awaits one: in a round trip every
      // call, in a stream the first of each batch (the consumer's ack is the reply to it). The
      // others are one-way calls (NO_REPLY_EXPECTED): the daemon routes them like any call but
      // keeps no pending reply, and the consumer must not answer them.
      const bool expect_reply = !awaiting_;
      const std::uint64_t cookie = end_->send_call(peer_.c_str(), kPath, expect_reply, msg);
      if (expect_reply) {
        awaiting_ = true;
        awaiting_cookie_ = cookie;
      }
      return;
    }
    if (!held_) {
      // No call of the producer's to answer: the producer only reads this transport (Load's echo
      // direction), so the message goes as a one-way call of ours.
      (void)end_->send_call(peer_.c_str(), kPath, false, msg);
      return;
    }
    end_->send_reply(held_.get(), msg);
    held_.reset();
  }

  Received recv(std::span<std::byte> msg) override {
    if (producer_) {
      if (!awaiting_) {  // a one-way call of the consumer's (see send())
        MessagePtr m = end_->next_call(0, nullptr);
        end_->copy_out(m.get(), msg);
        return Received::kMessage;
      }
      MessagePtr m = end_->await_reply(awaiting_cookie_, 0);
      awaiting_ = false;
      end_->copy_out(m.get(), msg);
      return Received::kMessage;
    }
    MessagePtr m = end_->next_call(0, nullptr);
    end_->copy_out(m.get(), msg);
    if (sd_bus_message_get_expect_reply(m.get()) > 0) {
      if (held_) throw_sys_error(EPROTO, "recv", bus_.object + ": two calls await a reply");
      held_ = std::move(m);  // send() replies to it
    }
    return Received::kMessage;
  }

 private:
  PrivateBus bus_;
  UniqueFd names_[2];  // the name exchange: [0] the producer's end, [1] the consumer's
  std::unique_ptr<Endpoint> end_;
  bool producer_ = false;
  std::string peer_;       // the peer's unique name
  bool awaiting_ = false;  // producer: a call of ours awaits its reply
  std::uint64_t awaiting_cookie_ = 0;
  MessagePtr held_;  // consumer: the call its next send() replies to
};

// Fan-in: one bus, the server and every client connected to it. The server writes its unique
// name once per client into a pipe, each client reads one record. Client i calls the server at
// the path kPath/i, which tells the server the client's index without a lookup; the server checks
// that the sender is the one it saw first at that path, and replies to the call it holds for
// that client. A client leaving the bus (NameOwnerChanged) is a kDisconnected event.
class DbusFanIn final : public FanInTransport {
 public:
  DbusFanIn(const TransportOptions& options, std::size_t clients)
      : bus_(options, static_cast<unsigned>(clients) + 2), clients_(clients) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_sys_error(errno, "pipe2", bus_.object + " names");
    name_in_ = UniqueFd(fds[0]);
    name_out_ = UniqueFd(fds[1]);
    for (std::size_t i = 0; i < clients; ++i)
      paths_.push_back(std::string(kPath) + "/" + std::to_string(i));
  }

  ~DbusFanIn() override {
    held_.clear();
    end_.reset();
  }

  void attach_server() override {
    name_in_.reset();
    bus_.forget();
    const auto deadline = Clock::now() + kAttachTimeout;
    end_ = std::make_unique<Endpoint>(Endpoint::Takes::kCalls);
    end_->connect(bus_.daemon.address(), bus_.object, deadline);
    // Every departure on this bus: the server learns its clients' names from their calls.
    end_->watch_departures("", clients_, deadline);
    held_.resize(clients_);
    reported_.assign(clients_, 0);
    char record[kNameRecord] = {};
    std::memcpy(record, end_->unique_name().data(),
                std::min(end_->unique_name().size(), sizeof record - 1));
    for (std::size_t i = 0; i < clients_; ++i) {
      if (::write(name_out_.get(), record, sizeof record) != static_cast<ssize_t>(sizeof record)) {
        throw_sys_error(errno, "write", bus_.object + " names");
      }
    }
    name_out_.reset();
  }

  void attach_client(std::size_t index) override {
    name_out_.reset();
    bus_.forget();
    const auto deadline = Clock::now() + kAttachTimeout;
    end_ = std::make_unique<Endpoint>(Endpoint::Takes::kReturns);
    end_->connect(bus_.daemon.address(), bus_.object, deadline);
    server_ = recv_name(name_in_.get(), bus_.object, deadline);
    name_in_.reset();
    end_->watch_departures(server_, 1, deadline);
    end_->watch(0, server_);
    if (!end_->present(server_, deadline)) end_->departed(0, "attach");
    index_ = index;
  }

  void after_attach() override {
    name_in_.reset();
    name_out_.reset();
  }

  void client_send(std::span<const std::byte> msg) override {
    cookie_ = end_->send_call(server_.c_str(), paths_[index_].c_str(), true, msg);
  }

  Received client_recv(std::span<std::byte> msg) override {
    MessagePtr m = end_->await_reply(cookie_, 0);
    end_->copy_out(m.get(), msg);
    return Received::kMessage;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    for (std::size_t i = 0; i < clients_; ++i) {
      if (end_->gone(i) && reported_[i] == 0) {
        reported_[i] = 1;
        held_[i].reset();
        return {FanInEvent::Kind::kDisconnected, i};
      }
    }
    bool idle = false;
    MessagePtr m = end_->next_call(SIZE_MAX, &idle);
    if (!m) return {FanInEvent::Kind::kIdle, 0};
    const std::size_t client = client_of(m.get());
    end_->copy_out(m.get(), msg);
    if (held_[client]) {
      throw_sys_error(
          EPROTO, "recv",
          bus_.object + ": two calls of client " + std::to_string(client) + " await a reply");
    }
    held_[client] = std::move(m);
    return {FanInEvent::Kind::kRequest, client};
  }

  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    if (end_->gone(client)) {
      held_[client].reset();
      return false;  // the daemon would drop a reply to a connection that has gone
    }
    if (!held_[client]) {
      throw_sys_error(
          EPROTO, "send",
          bus_.object + ": no call of client " + std::to_string(client) + " awaits a reply");
    }
    end_->send_reply(held_[client].get(), msg);
    held_[client].reset();
    return true;
  }

 private:
  // The client index of a call, from its path kPath/<i>; its sender must be the one first seen
  // there (remembered then, and watched for departure from then on).
  std::size_t client_of(sd_bus_message* m) {
    const char* path = sd_bus_message_get_path(m);
    const char* sender = sd_bus_message_get_sender(m);
    const std::size_t prefix = std::strlen(kPath);
    std::size_t client = SIZE_MAX;
    if (path != nullptr && sender != nullptr && std::strncmp(path, kPath, prefix) == 0 &&
        path[prefix] == '/') {
      const char* digits = path + prefix + 1;
      const char* end = digits + std::strlen(digits);
      std::size_t i = 0;
      if (std::from_chars(digits, end, i).ptr == end && i < clients_) client = i;
    }
    if (client == SIZE_MAX) {
      throw_sys_error(
          EPROTO, "recv",
          bus_.object + ": a call at " + (path ? path : "(no path)") + " names no client");
    }
    if (end_->watched(client).empty()) {
      end_->watch(client, sender);  // its first call (the handshake): not timed
    } else if (end_->watched(client) != sender) {
      throw_sys_error(EPROTO, "recv",
                      bus_.object + ": client " + std::to_string(client) + " called from " +
                          sender + ", first seen as " + end_->watched(client));
    }
    return client;
  }

  PrivateBus bus_;
  std::size_t clients_;
  UniqueFd name_in_, name_out_;     // the server's name, once per client
  std::vector<std::string> paths_;  // kPath/<i>, made before fork()
  std::unique_ptr<Endpoint> end_;
  std::string server_;            // a client: the server's unique name
  std::size_t index_ = 0;         // a client: its index
  std::uint64_t cookie_ = 0;      // a client: its call awaiting the reply
  std::vector<MessagePtr> held_;  // the server: per client, the call to reply to
  std::vector<char> reported_;    // the server: per client, its departure reported
};

Capabilities describe_fan_in(std::size_t /*clients*/) { return describe_dbus(); }

constexpr FanInForm kFanIn{
    "every client calls the server's unique name through one dbus-daemon (path "
    "/org/ipcbench/Echo/<client>), the server replies to each call",
    &describe_fan_in, &make_fan_in_of<DbusFanIn>};

}  // namespace

TransportPtr make_dbus(const TransportOptions& options) {
  return std::make_unique<DbusTransport>(options);
}

Capabilities describe_dbus() {
  static const Capabilities caps = dbus_caps();
  return caps;
}

TransportForms forms_dbus() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a D-Bus signal reaches every matching receiver, but dbus-daemon rejects messages "
              "for a receiver whose queue is full (max_outgoing_bytes) and a signal expects no "
              "reply, so a slow reader loses them silently: FanOut uses one bus per consumer"};
}

}  // namespace ipcbench
