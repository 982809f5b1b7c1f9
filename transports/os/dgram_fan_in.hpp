// Datagram helpers shared by the unix_dgram and udp fan-in transports.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>

namespace ipcbench {

// What one recv of a datagram got.
enum class DgramResult { kMessage, kTimedOut };

// Receives one datagram into msg; it must be exactly msg.size() bytes (another size throws
// EMSGSIZE naming `object` and both sizes: never truncated silently). kTimedOut when SO_RCVTIMEO
// expired, or when a signal interrupted the wait and `idle_on_signal` is set (the server then
// checks its stop flag); otherwise EINTR is retried after throw_if_interrupted().
[[nodiscard]] DgramResult recv_datagram(int fd, std::span<std::byte> msg, sockaddr* from,
                                        socklen_t* from_len, bool idle_on_signal,
                                        std::string_view object);
// Sets SO_RCVTIMEO on fd.
void set_recv_timeout(int fd, std::chrono::milliseconds timeout, std::string_view object);

}  // namespace ipcbench
