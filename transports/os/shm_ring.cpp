#include "transports/os/shm_ring.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "transports/os/boost_ipc.hpp"
#include "transports/os/ledger.hpp"

namespace ipcbench {

namespace bip = boost::interprocess;

void throw_ring_size_mismatch(std::uint64_t got, std::size_t want, const std::string& object) {
  throw_sys_error(EMSGSIZE, "recv",
                  object + ": message of " + std::to_string(got) + " bytes where " +
                      std::to_string(want) + " were expected");
}

std::size_t ring_capacity_for(std::size_t message_bytes) noexcept {
  const std::size_t two_frames = std::bit_ceil(2 * (message_bytes + kRingFrameHeader));
  return std::clamp<std::size_t>(two_frames, std::size_t{64} << 10, std::size_t{1} << 20);
}

ShmSegment::ShmSegment(const std::string& name, std::size_t bytes) {
  const std::string object = "/dev/shm/" + name;
  const NameRecord record(ObjectKind::kPosixShm, name);  // covers a kill before the name's removal
  // The name is removed on every way out of the constructor once we created it: the memory lives
  // as long as a mapping of it does (ours, and a forked child's), so no one needs the name.
  struct RemoveName {
    const std::string& name;
    bool created = false;
    ~RemoveName() {
      if (created) bip::shared_memory_object::remove(name.c_str());
    }
  } remove_name{name};
  const char* call = "shm_open";
  try {
    bip::permissions only_us;
    only_us.set_permissions(0600);
    // create_only is O_CREAT | O_EXCL: a name that exists is an error, never someone else's object.
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write, only_us);
    remove_name.created = true;
    call = "ftruncate";
    shm.truncate(static_cast<bip::offset_t>(bytes));
    call = "mmap";
    region_ = bip::mapped_region(shm, bip::read_write, 0, bytes);
    // shm (its descriptor) closes here; the mapping keeps the memory.
  } catch (const bip::interprocess_exception& e) {
    rethrow_interprocess(e, call, object);
  }
  // Pre-fault: allocate every page now, not during the first timed messages.
  std::memset(data(), 0, size());
}

void ShmSegment::touch() const noexcept {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t at = 0; at < size(); at += page) {
    (void)*static_cast<volatile const std::byte*>(data() + at);
  }
}

}  // namespace ipcbench
