// send_datagram / recv_datagram: one whole message per datagram over a connected socket.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "transports/transport.hpp"

namespace ipcbench {

// Sends `msg` as one datagram; blocks while the socket's send buffer is full. Retries EINTR
// (throwing once the watchdog has interrupted). Throws naming `object` on any error.
void send_datagram(int fd, std::span<const std::byte> msg, std::string_view object);

// Receives one datagram of exactly msg.size() bytes; blocks. A datagram of any other size is
// consumed and reported as an error naming both sizes (never truncated, never padded).
// Returns Received::kTimeout when the socket has SO_RCVTIMEO and nothing came (only if
// `may_time_out`; otherwise that is an error too). Throws naming `object`.
[[nodiscard]] Received recv_datagram(int fd, std::span<std::byte> msg, std::string_view object,
                                     bool may_time_out);

}  // namespace ipcbench
