// The /health check runner plugins share: GET <endpoint>/health on an Asio executor, bounded by a
// timeout, mapped to ServerHealth (200 ok, 503 loading, anything else error, no answer unreachable).
#pragma once

#include <corral/sdk/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace corral::plugin_common {

struct HttpEndpoint {
    std::string host;  // without brackets for IPv6
    uint16_t port = 0;
};

// Parses "http://host:port" (optionally with a trailing '/'); nullopt for anything else.
std::optional<HttpEndpoint> parse_http_endpoint(const std::string& url);

// Formats "http://host:port" ("https://" with `tls`), bracketing IPv6 addresses.
std::string format_http_endpoint(const std::string& host, uint16_t port, bool tls = false);

boost::asio::awaitable<sdk::ServerHealth> check_health(HttpEndpoint endpoint, std::chrono::milliseconds timeout);

// ProcessRunner::health() for a server at `endpoint_url`: runs check_health on `context` (run by
// another thread) and waits. Throws sdk::Error(HealthCheckFailed) for a malformed URL.
sdk::ServerHealth check_health_blocking(boost::asio::io_context& context, const std::string& endpoint_url,
                                        std::chrono::milliseconds timeout);

}  // namespace corral::plugin_common
