#include "tests/leak_check.hpp"

#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace ipcbench::test {
namespace {

void add_sysv(IpcSnapshot& s, const char* kind) {
  std::ifstream in(std::string("/proc/sysvipc/") + kind);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, id;
    fields >> key >> id;
    if (!id.empty()) s.objects.insert(std::string("sysv ") + kind + " " + id);
  }
}

std::filesystem::path mqueue_dir() {
  static const std::filesystem::path dir = [] {
    std::ifstream mounts("/proc/self/mounts");
    std::string dev, where, type;
    std::string rest;
    while (mounts >> dev >> where >> type && std::getline(mounts, rest)) {
      if (type == "mqueue") return std::filesystem::path(where);
    }
    if (::geteuid() != 0) return std::filesystem::path();
    std::string templ = (std::filesystem::temp_directory_path() / "ipcbench-mqueue-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) return std::filesystem::path();
    if (::mount("none", templ.c_str(), "mqueue", 0, nullptr) != 0) {
      ::rmdir(templ.c_str());
      return std::filesystem::path();
    }
    return std::filesystem::path(templ);  // left mounted for the test process's life
  }();
  return dir;
}

}  // namespace

IpcSnapshot snapshot_ipc(const std::filesystem::path& tmp_root) {
  IpcSnapshot s;
  for (const char* kind : {"shm", "sem", "msg"}) add_sysv(s, kind);
  std::error_code ec;
  if (const auto mq = mqueue_dir(); !mq.empty()) {
    s.mqueue_visible = true;
    for (const auto& e : std::filesystem::directory_iterator(mq, ec)) {
      s.objects.insert("posix mq /" + e.path().filename().string());
    }
  }
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ipcb", 0) == 0) s.objects.insert("posix shm " + name);
  }
  for (const auto& e : std::filesystem::directory_iterator(tmp_root, ec)) {
    s.objects.insert("path " + e.path().string());
  }
  return s;
}

std::vector<std::string> new_objects(const IpcSnapshot& before, const IpcSnapshot& after) {
  std::vector<std::string> out;
  for (const std::string& o : after.objects) {
    if (!before.objects.count(o)) out.push_back(o);
  }
  return out;
}

void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

bool reap_all_descendants(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) return true;
    if (pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0) break;
    if (pid == 0) {
      // Still running past the deadline: find them through /proc and kill them.
      for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(e.path() / "stat");
        std::string pidtxt, comm, state, ppid;
        stat >> pidtxt >> comm >> state >> ppid;
        if (ppid == std::to_string(::getpid())) ::kill(std::stoi(pidtxt), SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return false;
}

}  // namespace ipcbench::test
