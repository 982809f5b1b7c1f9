// Every object a transport creates: mode 0600 (directories 0700), owned by us, made exclusively,
// under a name nobody can predict.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/test_util.hpp"
#include "transports/os/ledger.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

std::set<std::string> fd_targets() {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    out.insert(e.path().filename().string());
  }
  return out;
}

unsigned sysv_mode(ObjectKind kind, int id, long* key) {
  switch (kind) {
    case ObjectKind::kSysvShm: {
      shmid_ds ds{};
      if (::shmctl(id, IPC_STAT, &ds) != 0) return 0;
      *key = ds.shm_perm.__key;
      return ds.shm_perm.mode & 0777;
    }
    case ObjectKind::kSysvSem: {
      semid_ds ds{};
      if (::semctl(id, 0, IPC_STAT, &ds) != 0) return 0;
      *key = ds.sem_perm.__key;
      return ds.sem_perm.mode & 0777;
    }
    case ObjectKind::kSysvMsg: {
      msqid_ds ds{};
      if (::msgctl(id, IPC_STAT, &ds) != 0) return 0;
      *key = ds.msg_perm.__key;
      return ds.msg_perm.mode & 0777;
    }
    default:
      return 0;
  }
}

// Shared mappings of POSIX shared memory ("/dev/shm/..."), by address range.
std::set<std::string> shared_object_mappings() {
  std::set<std::string> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm/") == std::string::npos) continue;
    out.insert(line.substr(0, line.find(' ')));
  }
  return out;
}

// SysV segments this process created, by id, with their permission bits: a segment removed at
// once (IPC_RMID while attached) is still listed. Its mapping's inode always reads 0777, so the
// record here is what counts.
std::map<std::string, unsigned> own_sysv_segments() {
  std::map<std::string, unsigned> out;
  std::ifstream in("/proc/sysvipc/shm");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string key, id, perms, size, cpid;
    f >> key >> id >> perms >> size >> cpid;
    if (cpid == std::to_string(::getpid()))
      out[id] = static_cast<unsigned>(std::stoul(perms, nullptr, 8));
  }
  return out;
}

class Permissions : public ::testing::TestWithParam<std::string> {};

TEST_P(Permissions, EveryObjectIs0600InA0700DirectoryWithAnUnpredictableName) {
  start_janitor();  // so the ledger records what the transport creates
  test::ScratchDir dir;
  const auto fds_before = fd_targets();
  const auto maps_before = shared_object_mappings();
  const auto segments_before = own_sysv_segments();
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = 64;
  options.tmp_root = dir.path();
  // "<id>", "fan_in_<id>" or "broadcast_<id>": the form to build.
  const std::string param = GetParam();
  const bool fan_in = param.rfind("fan_in_", 0) == 0;
  const bool broadcast = param.rfind("broadcast_", 0) == 0;
  const TransportInfo& info = *find_transport(param.substr(fan_in ? 7 : broadcast ? 10 : 0));
  TransportPtr t;
  FanInPtr fan_in_form;
  ShmBroadcastPtr broadcast_form;
  if (fan_in) {
    fan_in_form = info.fan_in->make(options, 3);
  } else if (broadcast) {
    broadcast_form = info.broadcast->make(options, 3);
  } else {
    t = info.make(options);
  }
  int checked = 0;
  for (const LedgerEntry& e : ledger_entries()) {
    switch (e.kind) {
      case ObjectKind::kPath: {
        struct stat st {};
        ASSERT_EQ(::lstat(e.name.c_str(), &st), 0) << e.name;
        EXPECT_TRUE(S_ISDIR(st.st_mode));
        EXPECT_EQ(st.st_mode & 07777, 0700u) << e.name;
        EXPECT_EQ(st.st_uid, ::geteuid());
        // ipcbench-<64 random bits>: a name the creator could not have guessed, in the root given.
        EXPECT_EQ(std::filesystem::path(e.name).parent_path(), dir.path());
        for (const auto& f : std::filesystem::directory_iterator(e.name)) {
          ASSERT_EQ(::lstat(f.path().c_str(), &st), 0);
          EXPECT_EQ(st.st_mode & 07777, 0600u) << f.path();
          EXPECT_EQ(st.st_uid, ::geteuid());
          ++checked;
        }
        break;
      }
      case ObjectKind::kSysvShm:
      case ObjectKind::kSysvSem:
      case ObjectKind::kSysvMsg: {
        long key = -1;
        EXPECT_EQ(sysv_mode(e.kind, static_cast<int>(e.id), &key), 0600u) << "SysV id " << e.id;
        EXPECT_EQ(key, IPC_PRIVATE) << "SysV id " << e.id << " has a key others could find";
        ++checked;
        break;
      }
      case ObjectKind::kPosixMq:
      case ObjectKind::kPosixShm:
        // A name still recorded must carry the run's random part.
        EXPECT_NE(e.name.find(options.name), std::string::npos) << e.name;
        ++checked;
        break;
    }
  }
  // Objects reached through descriptors (queues, shared memory unlinked at once): 0600 too.
  for (const std::string& fd : fd_targets()) {
    if (fds_before.count(fd)) continue;
    struct stat st {};
    if (::fstat(std::stoi(fd), &st) != 0) continue;
    if (S_ISSOCK(st.st_mode)) continue;  // sockets' inodes carry no access mode
    EXPECT_EQ(st.st_mode & 0077, 0u) << "fd " << fd << " mode " << std::oct << (st.st_mode & 07777);
    ++checked;
  }
  // Objects whose names were removed at once (shared memory) are still mapped: their inodes keep
  // the mode they were created with (root can stat them through /proc/self/map_files).
  for (const std::string& range : shared_object_mappings()) {
    if (maps_before.count(range)) continue;
    struct stat st {};
    if (::stat(("/proc/self/map_files/" + range).c_str(), &st) != 0) continue;  // not root
    EXPECT_EQ(st.st_mode & 0777, 0600u)
        << "mapping " << range << " mode " << std::oct << (st.st_mode & 07777);
    ++checked;
  }
  for (const auto& [id, perms] : own_sysv_segments()) {
    if (segments_before.count(id)) continue;
    EXPECT_EQ(perms & 0777, 0600u) << "SysV segment " << id << " perms " << std::oct << perms;
    ++checked;
  }
  std::printf("%s: %d objects checked\n", GetParam().c_str(), checked);
  t.reset();
  fan_in_form.reset();
  broadcast_form.reset();
  EXPECT_TRUE(dir.leftovers().empty());
}

// Every form of every transport.
INSTANTIATE_TEST_SUITE_P(All, Permissions, ::testing::ValuesIn([] {
                           std::vector<std::string> forms;
                           for (const TransportInfo& i : all_transports()) {
                             forms.emplace_back(i.id);
                             if (i.fan_in) forms.push_back("fan_in_" + std::string(i.id));
                             if (i.broadcast) forms.push_back("broadcast_" + std::string(i.id));
                           }
                           return forms;
                         }()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(Names, TwoNamesShareNoRandomPart) {
  const std::string a = unique_name(), b = unique_name();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), b.size());
  // The last 16 hex digits are 64 bits from getrandom().
  EXPECT_NE(a.substr(a.size() - 16), b.substr(b.size() - 16));
}

// O_EXCL: a queue name somebody planted in advance is refused, never reused.
TEST(Names, APlantedPosixQueueNameIsRefusedNotReused) {
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = 64;
  options.tmp_root = std::filesystem::temp_directory_path();
  mq_attr attr{};
  attr.mq_maxmsg = 1;
  attr.mq_msgsize = 64;
  int planted = 0;
  for (const char* suffix : {".down", ".up"}) {
    const std::string name = "/" + options.name + suffix;
    const mqd_t q = ::mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (q == static_cast<mqd_t>(-1)) continue;
    ++planted;
    EXPECT_THROW((void)find_transport("posix_mq")->make(options), std::system_error) << name;
    ::mq_close(q);
    ::mq_unlink(name.c_str());
  }
  if (planted == 0) GTEST_SKIP() << "POSIX queues unavailable here";
}

}  // namespace
}  // namespace ipcbench
