// IPv4 loopback sockets for the tcp and udp transports: bind to 127.0.0.1, port 0, read it back.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "transports/os/unique_fd.hpp"

namespace ipcbench {

// The address 127.0.0.1:<port> (port in host order).
[[nodiscard]] sockaddr_in loopback_address(std::uint16_t port) noexcept;
// "127.0.0.1:<port>", the name errors carry.
[[nodiscard]] std::string loopback_name(std::uint16_t port);

// Creates an AF_INET socket of `type` (SOCK_STREAM, SOCK_DGRAM) with SOCK_CLOEXEC and binds it to
// 127.0.0.1 on an ephemeral port chosen by the kernel (port 0), never to another interface.
// `reuse_addr` sets SO_REUSEADDR first. Throws std::system_error.
[[nodiscard]] UniqueFd bind_loopback(int type, bool reuse_addr);
// The local port `fd` is bound to (getsockname), in host order. Throws std::system_error.
[[nodiscard]] std::uint16_t local_port(int fd);
// connect() to 127.0.0.1:<port>, finishing a connection that a signal interrupted. Blocks.
void connect_loopback(int fd, std::uint16_t port);

}  // namespace ipcbench
