#include "transports/os/stream_fan_in.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {

StreamSocketFanIn::StreamSocketFanIn(std::size_t clients, UniqueFd listener, std::string object)
    : object_(std::move(object)), clients_(clients), listener_(std::move(listener)) {}

void StreamSocketFanIn::attach_server() {
  forget_names();
  conns_.resize(clients_);
  server_.open(clients_, object_);
  // Clients connect in any order; each says which it is in a 4-byte hello before any request.
  for (std::size_t accepted = 0; accepted < clients_; ++accepted) {
    UniqueFd conn = accept_retrying(listener_.get(), nullptr, nullptr, object_);
    tune(conn.get());
    std::uint32_t index = 0;
    read_all(conn.get(), {reinterpret_cast<std::byte*>(&index), sizeof index}, object_);
    if (index >= clients_ || conns_[index].valid()) {
      throw_sys_error(EPROTO, "accept", object_ + ": bad client index " + std::to_string(index));
    }
    server_.add(index, conn.get());
    conns_[index] = std::move(conn);
  }
  listener_.reset();  // every client has its handle: the master socket is no longer needed
}

void StreamSocketFanIn::attach_client(std::size_t index) {
  forget_names();
  listener_.reset();
  conn_ = connect_to_server();
  tune(conn_.get());
  const auto hello = static_cast<std::uint32_t>(index);
  write_all(conn_.get(), {reinterpret_cast<const std::byte*>(&hello), sizeof hello}, object_);
}

void StreamSocketFanIn::after_attach() {
  listener_.reset();
  remove_names();
}

void StreamSocketFanIn::client_send(std::span<const std::byte> msg) {
  write_all(conn_.get(), msg, object_);
}

Received StreamSocketFanIn::client_recv(std::span<std::byte> msg) {
  read_all(conn_.get(), msg, object_);  // a stream: a message may arrive in several pieces
  return Received::kMessage;
}

bool StreamSocketFanIn::server_send(std::size_t client, std::span<const std::byte> msg) {
  return write_message(conns_[client].get(), msg, object_);
}

}  // namespace ipcbench
