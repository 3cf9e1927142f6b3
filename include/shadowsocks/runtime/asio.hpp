#pragma once
/// \file The Asio vocabulary of the runtime layer and the layers above it (service, app):
/// namespaces, the no-throw completion token, and what a spawned coroutine ends with. The
/// codec, crypto and config layers never include Asio. The `||` of awaitables
/// (<boost/asio/experimental/awaitable_operators.hpp>) is left to the two files that race
/// operations: it costs seconds of compile time in every file that includes it.

#include <boost/asio.hpp>
#include <chrono>
#include <exception>

namespace ss {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using udp = net::ip::udp;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A coroutine on Asio's executor.
template <class T = void>
using awaitable = net::awaitable<T>;

/// Completion token: errors come back as the first tuple element, never as exceptions.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

/// Completion handler for spawned coroutines: logs an escaped exception (a broken invariant)
/// instead of letting it vanish.
void log_exception(std::exception_ptr e);

/// Completes after `d` (for the rare `op || sleep_for(d)` race, such as a DNS look-up).
awaitable<void> sleep_for(steady_clock::duration d);

}  // namespace ss
