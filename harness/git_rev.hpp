// git_revision(): the project's revision, read when the binary was built.
#pragma once

#include <string_view>

namespace ipcbench {

[[nodiscard]] std::string_view git_revision();

}  // namespace ipcbench
