#include "harness/launch.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>

#include <stdexcept>
#include <vector>

#include "harness/clock.hpp"
#include "harness/cpus.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

// How long the barrier's waiters and the parent's reaping loop sleep between looks: never inside
// a timed part, so a sleep costs no measurement anything.
void nap(long ns) {
  const timespec ts{0, ns};
  ::nanosleep(&ts, nullptr);
}
constexpr long kBarrierNap = 50'000;  // 0.05 ms: the peers start within it of the release
constexpr long kReapNap = 5'000'000;  // 5 ms

std::string with_error(std::string what, const char* error) {
  if (error[0] != '\0') what += ": " + std::string(error);
  return what;
}

}  // namespace

void Peer::attached() noexcept {
  shared_.attached.fetch_add(1);
  shared_.steps.fetch_add(1);
}

void Peer::arrive_and_wait() {
  shared_.arrived.fetch_add(1);
  shared_.steps.fetch_add(1);
  const auto deadline = Clock::now() + timeout_;
  while (shared_.go.load(std::memory_order_acquire) == 0) {
    if (Clock::now() > deadline) {
      throw std::runtime_error("start barrier not released within " +
                               std::to_string(timeout_.count()) + " ms");
    }
    nap(kBarrierNap);
  }
}

Launch::Launch(std::string what, std::chrono::milliseconds watchdog)
    : what_(std::move(what)),
      watchdog_(watchdog),
      shared_(std::make_unique<SharedRegion<LaunchShared>>()) {
  install_signal_handling();
  set_interrupted(false);
}

Launch::~Launch() {
  (void)end_all(true);
  set_interrupted(false);
}

std::size_t Launch::start(std::string label, int cpu, std::function<void(Peer&)> body, Kind kind,
                          OnFailure on_failure) {
  const std::size_t index = peers_.size();
  if (index > kMaxPeers) fail("more than " + std::to_string(kMaxPeers + 1) + " peers");
  PeerRecord record;
  record.label = label;
  record.alone = on_failure != OnFailure::kEndAll;
  record.stall_watched = on_failure == OnFailure::kAlone;
  PeerSlot& s = slot(index);
  auto run = [this, index, cpu, body = std::move(body)] {
    if (cpu >= 0) pin_to_cpu(cpu);
    Peer peer(**shared_, index, watchdog_);
    body(peer);
  };
  if (kind == Kind::kThread) {
    record.thread = std::make_unique<PeerThread>(std::move(label), run, s.error, sizeof s.error);
  } else {
    record.process = std::make_unique<ChildProcess>(std::move(label), run, s.error, sizeof s.error);
    record.pid = record.process->pid();
  }
  peers_.push_back(std::move(record));
  return index;
}

pid_t Launch::pid(std::size_t i) const noexcept { return peers_[i].pid; }

std::string Launch::who(std::size_t i) const {
  const PeerRecord& p = peers_[i];
  if (p.thread) return p.label + " thread";
  return p.label + "[" + std::to_string(p.pid) + "]";
}

bool Launch::exited(std::size_t i) const noexcept {
  const PeerRecord& p = peers_[i];
  if (p.ended) return true;
  if (p.thread) return p.thread->ended().load();
  siginfo_t info{};
  const pid_t id = p.pid;
  if (::waitid(P_PID, static_cast<id_t>(id), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return true;
  return info.si_pid == id;
}

bool Launch::signal(std::size_t i, int sig) const noexcept {
  const pid_t id = pid(i);
  return id > 0 && !exited(i) && ::kill(id, sig) == 0;
}

void Launch::fail(const std::string& text) {
  (void)end_all(true);
  throw std::runtime_error(what_ + ": " + text);
}

std::vector<Watched> Launch::watched(bool for_wait) const {
  std::vector<Watched> out;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const PeerRecord& p = peers_[i];
    if (p.ended) continue;
    Watched w{p.pid, p.label, &slot(i).done};
    if (p.thread) w.thread_ended = &p.thread->ended();
    if (for_wait && p.alone) {
      w.alone = true;
      if (p.stall_watched) w.progress = &slot(i).progress;
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::uint64_t Launch::release(std::size_t count, std::size_t attached,
                              const std::function<void()>& on_attached) {
  LaunchShared& sh = **shared_;
  bool attach_done = attached == 0;
  std::string failure;
  {
    Watchdog watchdog(watched(false), watchdog_, &sh.steps);
    while (!watchdog.fired()) {
      if (!attach_done && sh.attached.load() >= attached) {
        attach_done = true;
        try {
          on_attached();
        } catch (const std::exception& e) {
          failure = e.what();
          break;
        }
      }
      if (attach_done && sh.arrived.load() >= count) break;
      nap(kBarrierNap);
    }
    if (watchdog.fired()) {
      failure = watchdog.reason() + " before the start barrier (" +
                std::to_string(sh.attached.load()) + " attached, " +
                std::to_string(sh.arrived.load()) + " of " + std::to_string(count) + " ready)";
    }
  }
  if (!failure.empty()) {
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      if (slot(i).error[0] != '\0') failure += "; " + who(i) + ": " + slot(i).error;
    }
    fail(failure);
  }
  sh.release_ns = now_ns();
  sh.go.store(1, std::memory_order_release);
  return sh.release_ns;
}

std::string Launch::watch(const std::atomic<std::uint64_t>* progress,
                          const std::function<void()>& work) {
  std::string failure;
  {
    Watchdog watchdog(watched(false), watchdog_, progress);
    try {
      work();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (watchdog.fired()) failure = watchdog.reason() + " (producer: " + failure + ")";
  }
  return failure;
}

std::string Launch::wait_all(std::size_t except) {
  std::string failure;
  Watchdog watchdog(watched(true), watchdog_, nullptr);
  std::vector<std::size_t> index;  // watched position -> peer
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (!peers_[i].ended) index.push_back(i);
  }
  // The parent blocks on its children's pidfds while they run (the timed part): it wakes when one
  // ends, or when the watchdog, which kills and interrupts (SIGALRM), fires; never on a timer.
  // A thread peer has no pidfd: then it looks every kReapNap.
  std::vector<pollfd> fds;
  std::vector<std::size_t> fd_peer;
  bool threads = false;
  for (std::size_t i : index) {
    if (i == except) continue;  // still running by design; its death fires the watchdog
    if (peers_[i].thread) {
      threads = true;
      continue;
    }
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, peers_[i].pid, 0));
    if (fd < 0) {
      threads = true;  // no pidfd (an old kernel): fall back to looking every kReapNap
      continue;
    }
    fds.push_back({fd, POLLIN, 0});
    fd_peer.push_back(i);
  }
  // watched() lists the same peers in the same order, so a casualty's index maps through this.
  while (!watchdog.fired()) {
    bool all = true;
    for (std::size_t i : index) {
      PeerRecord& p = peers_[i];
      if (p.ended || i == except) continue;
      if (!exited(i)) {
        all = false;
        continue;
      }
      const std::string why = end(i, false);
      if (!why.empty() && !p.alone && failure.empty()) failure = why;
    }
    if (!failure.empty() || all) break;
    for (std::size_t k = 0; k < fds.size(); ++k) {  // an ended peer's fd stays readable: skip it
      if (peers_[fd_peer[k]].ended && fds[k].fd >= 0) fds[k].fd = ~fds[k].fd;
    }
    const int timeout = threads ? static_cast<int>(kReapNap / 1'000'000) : -1;
    (void)::poll(fds.data(), fds.size(), timeout);  // EINTR: the watchdog fired
  }
  for (pollfd& p : fds) ::close(p.fd >= 0 ? p.fd : ~p.fd);
  if (watchdog.fired()) failure = watchdog.reason();
  for (const Casualty& c : watchdog.casualties()) {
    PeerRecord& p = peers_[index[c.index]];
    if (!p.ended) (void)end(index[c.index], true);
    p.failure = c.reason;  // the stall, not the SIGKILL that ended it
  }
  return failure;
}

std::string Launch::end(std::size_t i, bool kill) {
  PeerRecord& p = peers_[i];
  if (p.ended) return p.failure;
  const std::string name = who(i);
  bool ok = false;
  std::string status;
  if (p.thread) {
    if (kill && !p.thread->ended().load()) set_interrupted(true);
    p.thread->join(&ok);
    status = ok ? "ended" : "failed";
  } else {
    if (kill) p.process->kill();
    status = p.process->wait(&ok);
  }
  p.ended = true;
  if (!ok || slot(i).done.load() == 0) {
    p.failure = with_error(name + " " + status, slot(i).error);
  }
  return p.failure;
}

void Launch::end_after_watch(std::size_t i, const std::string& failure) {
  if (failure.empty()) {
    if (const std::string status = end(i, false); !status.empty()) fail(status);
    return;
  }
  const std::string status = end(i, true);
  const char* error = slot(i).error;
  fail(failure + "; " + (error[0] != '\0' ? peers_[i].label + ": " + error : status));
}

std::string Launch::end_all(bool kill) {
  std::string out;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const bool was_ended = peers_[i].ended;
    const std::string why = end(i, kill);
    if (!was_ended && !why.empty()) out += (out.empty() ? "" : "; ") + why;
  }
  return out;
}

}  // namespace ipcbench
