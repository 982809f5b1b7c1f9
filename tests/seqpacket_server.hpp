// A test fixture for the fan-in servers built on the AF_UNIX SOCK_SEQPACKET server
// (transports/os/unix_seqpacket.hpp: unix_seqpacket, memfd_pass): the transport's fan-in server
// for one client, in this process, whose client is a raw SOCK_SEQPACKET socket of the test
// (connected and introduced before the server accepts it), so a test can send what the transport
// never would.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"
#include "transports/registry.hpp"

namespace ipcbench::test {

class SeqpacketServerTest : public ::testing::Test {
 protected:
  // Makes `transport`'s fan-in server for messages of `bytes`, connects the client and says its
  // index (0), then attaches the server. A fatal failure returns early from here only: a test
  // body that calls it wraps it in ASSERT_NO_FATAL_FAILURE.
  void serve(const char* transport, std::size_t bytes) {
    const TransportInfo* info = find_transport(transport);
    ASSERT_NE(info, nullptr);
    ASSERT_NE(info->fan_in, nullptr);
    TransportOptions options;
    options.name = unique_name();
    options.tmp_root = dir_.path();
    options.message_bytes = bytes;
    server_ = info->fan_in->make(options, 1);
    std::string path;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
      if (e.path().filename() == "server.sock") path = e.path().string();
    }
    ASSERT_FALSE(path.empty());
    client_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(client_.valid());
    connect_unix_socket(client_.get(), path);
    const std::uint32_t hello = 0;
    ASSERT_EQ(::send(client_.get(), &hello, sizeof hello, 0), static_cast<ssize_t>(sizeof hello));
    server_->attach_server();
  }
  void TearDown() override {
    server_.reset();
    client_.reset();
    EXPECT_EQ(open_fd_count(), fds_before_);
  }
  // server_recv() into `bytes` must throw a system_error whose what() holds `expected` and the
  // server's path.
  void expect_refused(std::size_t bytes, const std::string& expected) {
    std::vector<std::byte> buf(bytes);
    try {
      (void)server_->server_recv(buf);
      ADD_FAILURE() << "the record was accepted";
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(expected), std::string::npos) << what;
      EXPECT_NE(what.find("server.sock"), std::string::npos) << what;
    }
  }

  ScratchDir dir_;
  std::size_t fds_before_ = open_fd_count();  // before the server (TearDown compares)
  FanInPtr server_;
  UniqueFd client_;
};

}  // namespace ipcbench::test
