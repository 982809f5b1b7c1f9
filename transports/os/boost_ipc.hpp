// Helpers for the transports built on Boost.Interprocess: errors that name the object, timed waits.
#pragma once

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/exceptions.hpp>
#include <chrono>
#include <string>

namespace ipcbench {

// How long one sleep lasts before a sleeping side looks at interrupted() (the watchdog) again.
inline constexpr std::chrono::milliseconds kWaitSlice{50};

// Boost.Interprocess exceptions do not name the object: throws std::system_error
// "<call>(<object> [boost: <what>]): <errno text>" with the exception's errno (EIO when it has
// none, as for Boost's own size errors).
[[noreturn]] void rethrow_interprocess(const boost::interprocess::interprocess_exception& e,
                                       const char* call, const std::string& object);

// The absolute time one kWaitSlice from now, as Boost.Interprocess 1.74's timed calls take it
// (universal time; only a timeout, never a measurement).
[[nodiscard]] boost::posix_time::ptime wait_slice_deadline();

}  // namespace ipcbench
