#include "tests/leak_check.hpp"

#include "tests/test_util.hpp"

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

// Lists the POSIX queues into `s`: from an existing mqueue mount, or (as root) from one mounted
// for this call and unmounted at once, so no mount outlives the test.
void add_posix_queues(IpcSnapshot& s) {
  std::error_code ec;
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, where, type, rest;
  while (mounts >> dev >> where >> type && std::getline(mounts, rest)) {
    if (type != "mqueue") continue;
    s.mqueue_visible = true;
    for (const auto& e : std::filesystem::directory_iterator(where, ec)) {
      s.objects.insert("posix mq /" + e.path().filename().string());
    }
    return;
  }
  if (::geteuid() != 0) return;
  std::string templ = (std::filesystem::temp_directory_path() / "ipcbench-mqueue-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) return;
  if (::mount("none", templ.c_str(), "mqueue", 0, nullptr) == 0) {
    s.mqueue_visible = true;
    for (const auto& e : std::filesystem::directory_iterator(templ, ec)) {
      s.objects.insert("posix mq /" + e.path().filename().string());
    }
    ::umount(templ.c_str());
  }
  ::rmdir(templ.c_str());
}

}  // namespace

IpcSnapshot snapshot_ipc(const std::filesystem::path& tmp_root) {
  IpcSnapshot s;
  for (const char* kind : {"shm", "sem", "msg"}) add_sysv(s, kind);
  std::error_code ec;
  add_posix_queues(s);
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
        const pid_t child = std::stoi(name);
        if (proc_stat(child).ppid == ::getpid()) ::kill(child, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return false;
}

}  // namespace ipcbench::test
