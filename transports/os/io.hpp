// read_all / write_all: whole transfers over a stream fd, retrying EINTR and short transfers;
// open_path, connect_retrying, accept_retrying: open(), connect() and accept() retrying EINTR.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "transports/os/unique_fd.hpp"

namespace ipcbench {

// Writes all of `data`; blocks. Throws naming `object` on error or a closed peer.
void write_all(int fd, std::span<const std::byte> data, std::string_view object);
// Opens a FIFO (or any path) with O_CLOEXEC added to `flags`, retrying EINTR. A FIFO's open()
// blocks until the other end opens; the watchdog interrupts it if the peer never does.
[[nodiscard]] UniqueFd open_path(const std::string& path, int flags);
// connect() that retries EINTR (an interrupted connect that completed meanwhile reports EISCONN,
// which counts as done). Throws naming `object`.
void connect_retrying(int fd, const void* addr, unsigned addr_len, std::string_view object);
// accept4(SOCK_CLOEXEC) of one connection on `listener`, retrying EINTR (throwing once the watchdog
// has interrupted); `from`/`from_len` as accept()'s. Blocks. Throws naming `object`.
[[nodiscard]] UniqueFd accept_retrying(int listener, void* from, unsigned* from_len,
                                       std::string_view object);
// Reads exactly data.size() bytes; blocks. Throws naming `object` on error or end of file.
void read_all(int fd, std::span<std::byte> data, std::string_view object);

}  // namespace ipcbench
