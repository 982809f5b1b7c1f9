// What the eventfd transports (transports/eventfd.cpp: eventfd, eventfd_sem) counted in this
// process: how many notifications their read()s took, and how many of those merged.
#pragma once

#include <optional>

#include "transports/os/eventfd_wait.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// The counts of `transport` in this process when it is an eventfd or eventfd_sem pair (since it
// was made; a forked child counts its own), else nullopt. Not thread-safe against the transport's
// own send()/recv(): read it when they are done.
[[nodiscard]] std::optional<EventfdStats> eventfd_stats(const Transport& transport) noexcept;

}  // namespace ipcbench
