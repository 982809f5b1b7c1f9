// Unix-domain socket helpers shared by the AF_UNIX transports (pair and fan-in) and their tests.
#pragma once

#include <sys/un.h>

#include <string>

#include "transports/os/unique_fd.hpp"

namespace ipcbench {

// The address of `path`. Throws std::system_error (ENAMETOOLONG) naming the path if it does not
// fit in sun_path.
[[nodiscard]] sockaddr_un unix_socket_address(const std::string& path);

// Creates an AF_UNIX socket of `type` (SOCK_DGRAM, SOCK_STREAM) with SOCK_CLOEXEC, binds it to
// `path` and sets the socket file's mode to exactly 0600 whatever the umask is. The caller owns the
// fd and unlinks the path. Throws std::system_error naming the path.
[[nodiscard]] UniqueFd bind_unix_socket(int type, const std::string& path);

// Connects `fd` to the socket bound at `path` (connect_retrying). Throws naming the path.
void connect_unix_socket(int fd, const std::string& path);

}  // namespace ipcbench
