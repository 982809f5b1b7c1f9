#include "transports/transport.hpp"

#include <cassert>

namespace ipcbench {

void Transport::send_end() {
  // Framed transports carry the end mark in their header; only kNothing + may_coalesce override.
  assert(false && "send_end() called on a transport that frames its own end mark");
}

}  // namespace ipcbench
