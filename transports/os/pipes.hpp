// Anonymous pipes as the pipe-based transports use them (pipe, vmsplice, cma): one per direction
// between a producer and a consumer, or two per client of a fan-in server, and which ends each
// process keeps after fork().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/unique_fd.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

struct Pipe {
  UniqueFd read_end, write_end;
};

// pipe2(O_CLOEXEC), at the kernel's default capacity (what the lecture's pipe is, and what a user
// gets; the run's context records it). Throws std::system_error naming `object`.
[[nodiscard]] Pipe open_pipe(std::string_view object);

// One pipe per direction, made before fork(): down (producer to consumer) and up.
struct PipePair {
  explicit PipePair(std::string_view object) : down(open_pipe(object)), up(open_pipe(object)) {}
  // After fork() both processes hold all four ends: keeps the two `role` uses in `in` and `out`
  // and closes the others.
  void keep(Role role, UniqueFd& in, UniqueFd& out);

  Pipe down, up;
};

// Two pipes per fan-in client, made before fork(): requests (client to server) and replies.
struct ClientPipes {
  // `object` names the pipes in errors, followed by " of client <i>".
  ClientPipes(std::size_t clients, const std::string& object);
  // The server's ends: closes its copies of the clients' ends (a server holding a request pipe's
  // writer would never see that client's EOF). Then requests[i].read_end and
  // replies[i].write_end are the server's.
  void keep_server_ends();
  // Client `index`'s ends, in `in` (its reply pipe) and `out` (its request pipe); closes the rest.
  void keep_client_ends(std::size_t index, UniqueFd& in, UniqueFd& out);
  // The parent after every peer has attached: its copies would hide a client's EOF.
  void close_all() {
    requests.clear();
    replies.clear();
  }

  std::vector<Pipe> requests, replies;
};

}  // namespace ipcbench
