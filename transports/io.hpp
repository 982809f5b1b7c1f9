// read_all / write_all: whole transfers over a stream fd, retrying EINTR and short transfers.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace ipcbench {

// Writes all of `data`; blocks. Throws naming `object` on error or a closed peer.
void write_all(int fd, std::span<const std::byte> data, std::string_view object);
// Reads exactly data.size() bytes; blocks. Throws naming `object` on error or end of file.
void read_all(int fd, std::span<std::byte> data, std::string_view object);

}  // namespace ipcbench
