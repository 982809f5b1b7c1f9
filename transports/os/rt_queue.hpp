// Realtime signals that carry one 8-byte word each in their sigval (rt_signal, signalfd): the
// checks a transport makes before it uses them, and the send. They queue, never coalesce, up to
// the user's RLIMIT_SIGPENDING.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>

namespace ipcbench {

// The user's RLIMIT_SIGPENDING as text: a number, "unlimited" or "unreadable".
[[nodiscard]] std::string sigpending_limit();

// Throws std::system_error (sigqueue) when `highest`, the largest signal a transport uses (named
// `label`, e.g. "SIGRTMIN+1"), is above SIGRTMAX, or when RLIMIT_SIGPENDING is 0.
void require_realtime_signals(int highest, const char* label);

// Throws std::system_error EMSGSIZE naming `call` and `object` unless `bytes` is kWordBytes.
void check_word_message(std::size_t bytes, const char* call, const std::string& object);

// sigqueue()s `sig` to `peer` with the 8 bytes of `msg` as its sigval. While the user's queued
// signals are at RLIMIT_SIGPENDING it waits for the receiver to take some, in pauses of 20 us that
// leave the CPU to the receiver; 2 s without room is an error naming the limit. Throws
// std::system_error naming `object`, or once interrupted() is set.
void queue_word(pid_t peer, int sig, std::span<const std::byte> msg, const std::string& object);

// Capabilities::limit_source of a transport that sends words this way.
[[nodiscard]] std::string queued_word_limit_source();

}  // namespace ipcbench
