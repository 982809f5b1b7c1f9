// The lecture's stream-socket server, shared by unix_stream and tcp fan-in: one master
// (listening) socket bound before fork(), accept() of one data socket per client (the "client
// handles"), and one epoll loop over all of them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "transports/os/epoll_server.hpp"

namespace ipcbench {

class StreamSocketFanIn : public FanInTransport {
 public:
  void attach_server() override;
  void attach_client(std::size_t index) override;
  void after_attach() override;
  void client_send(std::span<const std::byte> msg) override;
  Received client_recv(std::span<std::byte> msg) override;
  FanInEvent server_recv(std::span<std::byte> msg) override { return server_.recv(msg); }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override;

 protected:
  // `listener` is bound and listening; `object` names it in errors ("/tmp/x/s.sock",
  // "127.0.0.1:N").
  StreamSocketFanIn(std::size_t clients, UniqueFd listener, std::string object);
  // A client's socket, connected to the server.
  [[nodiscard]] virtual UniqueFd connect_to_server() = 0;
  // Options set on both ends of every data socket (TCP_NODELAY).
  virtual void tune(int /*fd*/) {}
  // The parent removes the names it made, once everyone has attached; a child forgets them.
  virtual void remove_names() noexcept {}
  virtual void forget_names() noexcept {}

  std::string object_;

 private:
  std::size_t clients_;
  UniqueFd listener_;
  std::vector<UniqueFd> conns_;  // server: one data socket per client, by client index
  UniqueFd conn_;                // a client's socket
  EpollServer server_;
};

}  // namespace ipcbench
