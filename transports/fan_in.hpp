// The fan-in interface: one server and N clients over one mechanism, and the registry of the
// mechanisms that have one (transports/fan_in.def).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "transports/transport.hpp"

namespace ipcbench {

// What server_recv() got.
struct FanInEvent {
  enum class Kind {
    kRequest,       // a whole request from `client` filled the buffer
    kDisconnected,  // `client` closed its end (died or left); it is dropped from the server's loop
    kIdle,          // nothing within 100 ms, or a signal woke the wait: check the stop condition
  };
  Kind kind = Kind::kIdle;
  std::size_t client = 0;
};

// One server and `clients` clients, built before fork() by the harness's parent, which forks the
// server and every client from it. The server calls attach_server() once, then server_recv() /
// server_send(); client i calls attach_client(i) once, then client_send() / client_recv(). Once
// all of them have attached, the parent calls after_attach(), which drops the parent's copies and
// removes every name the mechanism no longer needs; the parent's destructor removes the rest.
// Messages are whole and of exactly the span's size (another size is an error, never truncated).
// Calls block; blocking calls that return EINTR check throw_if_interrupted(). Errors throw
// std::system_error naming the object. The hot path never allocates.
class FanInTransport {
 public:
  virtual ~FanInTransport() = default;
  virtual void attach_server() = 0;
  virtual void attach_client(std::size_t index) = 0;
  virtual void after_attach() = 0;

  // Client side: one request out, one reply in. client_recv returns kTimeout only for mechanisms
  // that may lose (after options.recv_timeout).
  virtual void client_send(std::span<const std::byte> msg) = 0;
  [[nodiscard]] virtual Received client_recv(std::span<std::byte> msg) = 0;

  // Server side. server_recv blocks until a request from some client, but returns kIdle at least
  // every 100 ms (or at once when a signal interrupts it) so the caller can check its stop flag.
  [[nodiscard]] virtual FanInEvent server_recv(std::span<std::byte> msg) = 0;
  // Sends the reply to `client`; false when that client is gone (its end closed), which is not an
  // error of the server: the others go on.
  [[nodiscard]] virtual bool server_send(std::size_t client, std::span<const std::byte> msg) = 0;
};

using FanInPtr = std::unique_ptr<FanInTransport>;

struct FanInInfo {
  std::string_view id;           // the same id as the pair transport of the mechanism
  std::string_view description;  // how the server is built
  Capabilities (*describe)(std::size_t clients);  // limits read now; creates nothing
  FanInPtr (*make)(const TransportOptions&, std::size_t clients);
};

// Every fan-in transport, in the order of transports/fan_in.def.
[[nodiscard]] std::span<const FanInInfo> all_fan_in() noexcept;
// The fan-in transport with `id`, or nullptr when the mechanism has none.
[[nodiscard]] const FanInInfo* find_fan_in(std::string_view id) noexcept;
// "pipe, fifo, ...": the ids, for error messages.
[[nodiscard]] std::string known_fan_in_ids();

}  // namespace ipcbench
