// Connections to a model server over TCP or a Unix socket (HttpEndpoint): one stream type for both,
// Beast's basic_stream over Asio's generic stream protocol, which makes the same socket calls
// either way, so the relay and the health checks have one code path.
#pragma once

#include "http_health.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/system/error_code.hpp>

namespace corral::plugin_common {

using ServerStream = boost::beast::basic_stream<boost::asio::generic::stream_protocol>;

// Opens `stream`'s socket close-on-exec and connects it to `endpoint`: its Unix socket, its IP
// address, or the first address its name resolves to (no resolver for an address: that would be a
// thread hop per connection). TCP connections get TCP_NODELAY (requests and answers are written
// whole). The caller bounds the connect with the stream's deadline. Returns what failed, if anything.
boost::asio::awaitable<boost::system::error_code> connect_server(ServerStream& stream, const HttpEndpoint& endpoint);

}  // namespace corral::plugin_common
