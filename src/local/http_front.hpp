#pragma once
// Private to the service layer: ss-local's HTTP proxy, one client connection.

#include <memory>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// Serves HTTP proxy requests on `a` (whose first bytes, already read, are `first`): CONNECT
/// tunnels and absolute-form requests forwarded through ss-server, keep-alive toward the
/// client, until either side closes or a request is refused.
awaitable<void> serve_http(accepted& a, bytes_view first);

}  // namespace ss
