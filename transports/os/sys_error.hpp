// throw_sys_error, and the process-wide interruption flag that blocking waits check on EINTR.
#pragma once

#include <string_view>

namespace ipcbench {

// Throws std::system_error whose what() is "<call>(<object>): <errno text>",
// e.g. "connect(127.0.0.1:40123): Connection refused".
[[noreturn]] void throw_sys_error(int err, std::string_view call, std::string_view object);

// Set by the harness's watchdog when the peer hung or died. Every blocking wait that returns
// EINTR, and every spin loop, checks it and throws instead of waiting again.
[[nodiscard]] bool interrupted() noexcept;
void set_interrupted(bool value) noexcept;
// Throws "<call>(<object>): interrupted by the watchdog" when interrupted() is set.
void throw_if_interrupted(std::string_view call, std::string_view object);

}  // namespace ipcbench
