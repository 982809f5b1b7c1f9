#include "transports/os/pipes.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

Pipe open_pipe(std::string_view object) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_sys_error(errno, "pipe2", object);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void PipePair::keep(Role role, UniqueFd& in, UniqueFd& out) {
  const bool producer = role == Role::kProducer;
  in = std::move(producer ? up.read_end : down.read_end);
  out = std::move(producer ? down.write_end : up.write_end);
  down = {};
  up = {};
}

ClientPipes::ClientPipes(std::size_t clients, const std::string& object) {
  for (std::size_t i = 0; i < clients; ++i) {
    const std::string name = object + " of client " + std::to_string(i);
    requests.push_back(open_pipe(name));
    replies.push_back(open_pipe(name));
  }
}

void ClientPipes::keep_server_ends() {
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].write_end.reset();
    replies[i].read_end.reset();
  }
}

void ClientPipes::keep_client_ends(std::size_t index, UniqueFd& in, UniqueFd& out) {
  out = std::move(requests[index].write_end);
  in = std::move(replies[index].read_end);
  close_all();
}

}  // namespace ipcbench
