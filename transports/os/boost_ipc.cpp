#include "transports/os/boost_ipc.hpp"

#include <cerrno>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

void rethrow_interprocess(const boost::interprocess::interprocess_exception& e, const char* call,
                          const std::string& object) {
  const int err = e.get_native_error() != 0 ? e.get_native_error() : EIO;
  throw_sys_error(err, call, object + " [boost: " + e.what() + "]");
}

boost::posix_time::ptime wait_slice_deadline() {
  return boost::posix_time::microsec_clock::universal_time() +
         boost::posix_time::milliseconds(kWaitSlice.count());
}

}  // namespace ipcbench
