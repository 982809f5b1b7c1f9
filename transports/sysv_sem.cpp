// sysv_sem: two SysV semaphores ping-ponging with no payload (semget, semop P and V, semctl): the
// cost of synchronization alone.
#include <sys/ipc.h>
#include <sys/sem.h>

#include <cerrno>
#include <string>

#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// One semaphore per receiver: the producer's V on kDown wakes the consumer's P, and back.
constexpr unsigned short kDown = 0, kUp = 1;

class SysvSemTransport final : public Transport {
 public:
  explicit SysvSemTransport(const TransportOptions&)
      : sems_(create_sem_set(2, "SysV semaphore set")),  // both start at 0
        name_("SysV semaphore set " + std::to_string(sems_.get())) {}

  void attach(Role role, pid_t /*peer*/) override {
    const bool producer = role == Role::kProducer;
    mine_ = producer ? kUp : kDown;
    peers_ = producer ? kDown : kUp;
  }

  // A semaphore counts, so V operations never merge (up to SEMVMX, 32767, pending: past that
  // semop() fails with ERANGE, an error, not a loss).
  void send(std::span<const std::byte> msg) override {
    if (!msg.empty()) throw_sys_error(EMSGSIZE, "send", name_ + " carries no data");
    sem_op(sems_.get(), peers_, +1, name_);
  }

  Received recv(std::span<std::byte> msg) override {
    if (!msg.empty()) throw_sys_error(EMSGSIZE, "recv", name_ + " carries no data");
    sem_op(sems_.get(), mine_, -1, name_);
    return Received::kMessage;
  }

 private:
  SysvSem sems_;
  std::string name_;
  unsigned short mine_ = kUp, peers_ = kDown;
};

}  // namespace

TransportPtr make_sysv_sem(const TransportOptions& options) {
  return std::make_unique<SysvSemTransport>(options);
}

Capabilities describe_sysv_sem() {
  Capabilities caps;
  caps.payload = Payload::kNothing;
  caps.max_message_bytes = 0;
  caps.limit_source = "none: carries no data, a semaphore count is the whole message";
  return caps;
}

TransportForms forms_sysv_sem() {
  return {.no_fan_in =
              "a semaphore carries no data, and the fan-in form carries framed byte "
              "requests; one count shared by N clients cannot say whose request it is",
          .no_broadcast = "a V wakes one waiter: FanOut uses one semaphore pair per consumer"};
}

}  // namespace ipcbench
