#include "transports/os/dbus_daemon.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

// The descriptor the daemon prints its address on (--print-address=3).
constexpr int kAddressFd = 3;

// Escapes the characters XML gives a meaning to, for a path inside the config.
std::string xml_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// What the daemon wrote to stderr, at most 2000 bytes, on one line.
std::string log_tail(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return text.empty() ? std::string("(nothing on stderr)") : text;
}

// Reaps `pid` once it has exited, waiting at most `within`; SIGKILLs it after that and reaps it.
// Returns its wait status.
int reap_within(pid_t pid, std::chrono::milliseconds within) noexcept {
  const auto deadline = Clock::now() + within;
  int status = 0;
  while (true) {
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return status;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(pid, SIGKILL);  // SIGKILL cannot be caught: the blocking wait below is short
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

}  // namespace

std::optional<std::string> dbus_daemon_missing(const std::string& binary) {
  if (::access(binary.c_str(), X_OK) == 0) return std::nullopt;
  const int err = errno;
  return "no usable " + binary + " (" + std::strerror(err) +
         "; Debian package dbus-daemon): the dbus transport starts its own broker";
}

std::string dbus_bus_config(const std::string& socket_path, const DbusBusLimits& limits) {
  // The user by name: <allow user=...> takes a name (or "*"). A uid with no passwd entry cannot
  // be named; the daemon's own rule then applies, which admits only the uid it runs as.
  std::string user_rule;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int err = ::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found);
  if (err == 0 && found != nullptr) {
    user_rule = "    <allow user=\"" + xml_text(found->pw_name) + "\"/>\n";
  }
  std::ostringstream c;
  c << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
       " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
       "<!-- ipcbench's private bus for one run of the dbus transport. -->\n"
       "<busconfig>\n"
       // The daemon keeps the umask it was started with (0177) for anything it creates. (It
       // chmods its unix:path socket to 0777 whatever the umask; the transport sets 0600.)
       "  <keep_umask/>\n"
       "  <listen>unix:path="
    << xml_text(socket_path)
    << "</listen>\n"
       "  <auth>EXTERNAL</auth>\n"
       // No <servicedir>: nothing is ever activated; a call to an absent name is an error.
       "  <policy context=\"default\">\n"
       // Connecting: nobody, then this user (the later rule wins).
       "    <deny user=\"*\"/>\n"
    << user_rule
    << "    <allow send_destination=\"*\" eavesdrop=\"false\"/>\n"
       // Without it the daemon drops every message to a client, the reply to Hello included.
       "    <allow receive_sender=\"*\"/>\n"
       "    <allow own=\"*\"/>\n"
       "  </policy>\n"
    << "  <limit name=\"max_message_size\">" << limits.max_message_size << "</limit>\n"
    << "  <limit name=\"max_incoming_bytes\">" << limits.max_queued_bytes << "</limit>\n"
    << "  <limit name=\"max_outgoing_bytes\">" << limits.max_queued_bytes << "</limit>\n"
    << "  <limit name=\"max_replies_per_connection\">" << limits.max_replies << "</limit>\n"
    << "  <limit name=\"reply_timeout\">" << limits.reply_timeout_ms << "</limit>\n"
    << "  <limit name=\"max_connections_per_user\">" << limits.max_connections << "</limit>\n"
    << "</busconfig>\n";
  return c.str();
}

DbusDaemon::DbusDaemon(const std::string& binary, const std::filesystem::path& config,
                       const std::filesystem::path& log, std::chrono::milliseconds ready_within) {
  const std::string object = binary + " --config-file=" + config.string();
  // Everything the child uses is made before fork(): between fork() and exec() a child of a
  // process with threads may only make async-signal-safe calls.
  const std::string config_arg = "--config-file=" + config.string();
  const std::string print_arg = "--print-address=" + std::to_string(kAddressFd);
  const char* argv[] = {binary.c_str(), config_arg.c_str(), "--nofork", "--nopidfile",
                        "--nosyslog",   print_arg.c_str(),  nullptr};
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_sys_error(errno, "pipe2", object);
  UniqueFd address_in(fds[0]), address_out(fds[1]);
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd.valid()) throw_sys_error(errno, "open", "/dev/null");
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log_fd.valid()) throw_sys_error(errno, "open", log.string());

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_sys_error(errno, "fork", object);
  if (pid == 0) {
    // PR_SET_PDEATHSIG fires when the forking *thread* ends: the caller forks from the thread
    // that lives longest (the transport's constructor runs on the harness's main thread). A
    // parent already gone before prctl() took effect is caught by getppid().
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::umask(0177);
    ::dup2(null_fd.get(), STDIN_FILENO);
    ::dup2(null_fd.get(), STDOUT_FILENO);
    ::dup2(log_fd.get(), STDERR_FILENO);
    if (address_out.get() == kAddressFd) {
      ::fcntl(kAddressFd, F_SETFD, 0);  // dup2 onto itself would leave FD_CLOEXEC set
    } else {
      ::dup2(address_out.get(), kAddressFd);
    }
    // No other descriptor of the run (sockets, pipes of other transports) may stay open in the
    // daemon: it would keep their peers from seeing an end of file.
    if (::close_range(kAddressFd + 1, ~0U, 0) != 0) {
      for (int fd = kAddressFd + 1; fd < 4096; ++fd) ::close(fd);
    }
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  pid_ = pid;
  owner_ = parent;
  address_out.reset();
  log_fd.reset();

  // The daemon prints its address once it is listening; an end of file first means it exited.
  const auto deadline = Clock::now() + ready_within;
  std::string got;
  std::string failure;
  while (got.find('\n') == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      failure = "printed no address within " + std::to_string(ready_within.count()) + " ms";
      break;
    }
    pollfd p{address_in.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long>(left, 100)));
    if (ready < 0 && errno != EINTR) {
      failure = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (ready <= 0) continue;
    char chunk[512];
    const ssize_t n = ::read(address_in.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failure = "closed its address pipe without printing an address";
      break;
    }
    got.append(chunk, static_cast<std::size_t>(n));
  }
  if (failure.empty()) {
    address_ = got.substr(0, got.find('\n'));
    return;
  }
  ::kill(pid_, SIGKILL);
  const int status = reap_within(pid_, std::chrono::milliseconds(0));
  pid_ = -1;
  throw_sys_error(
      ESRCH, "start",
      object + ": " + failure + "; " + describe_status(status) + "; its stderr: " + log_tail(log));
}

DbusDaemon::DbusDaemon(DbusDaemon&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      owner_(other.owner_),
      address_(std::move(other.address_)) {}

DbusDaemon& DbusDaemon::operator=(DbusDaemon&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = std::exchange(other.pid_, -1);
    owner_ = other.owner_;
    address_ = std::move(other.address_);
  }
  return *this;
}

void DbusDaemon::stop() noexcept {
  if (pid_ > 0 && owner_ == ::getpid()) {
    // SIGTERM lets it close its socket and exit by itself; SIGKILL after a bounded wait.
    ::kill(pid_, SIGTERM);
    (void)reap_within(pid_, std::chrono::milliseconds(2000));
  }
  pid_ = -1;
}

}  // namespace ipcbench
