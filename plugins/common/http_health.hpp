// HTTP to a model server from runner plugins and the host: the /health check runners share (GET
// <endpoint>/health mapped to ServerHealth: 200 ok, 503 loading, anything else error, no answer
// unreachable) and one bounded request/response exchange (slot cache saves, health). Plain HTTP
// only: model servers listen on loopback, a private network, or a Unix socket.
#pragma once

#include <corral/sdk/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corral::plugin_common {

// Where a server is reached: an address and port, or a Unix socket's path (then host and port are unused).
struct HttpEndpoint {
    std::string host;  // without brackets for IPv6
    uint16_t port = 0;
    std::string socket_path{};  // absolute; not empty: the server listens on this Unix socket

    bool is_unix() const { return !socket_path.empty(); }
};

// Parses "http://host:port" (optionally with a trailing '/') or "unix:///absolute/path" (how
// llama-server names a Unix socket it listens on); nullopt for anything else.
std::optional<HttpEndpoint> parse_http_endpoint(const std::string& url);

// Formats "http://host:port" ("https://" with `tls`), bracketing IPv6 addresses.
std::string format_http_endpoint(const std::string& host, uint16_t port, bool tls = false);
// An endpoint as parse_http_endpoint reads it: "http://host:port" or "unix:///path".
std::string format_http_endpoint(const HttpEndpoint& endpoint);

// The Host header of a request to a server at `endpoint` ("host:port"; "localhost" for a Unix socket,
// as curl sends with --unix-socket).
std::string host_header(const HttpEndpoint& endpoint);
// The same from an endpoint's text ("http://host:port[/]", "unix:///path") without parsing it: a
// view into `endpoint` (the relay's path, once per request).
std::string_view host_header(std::string_view endpoint);

struct HttpCall {
    std::string method = "GET";
    std::string target = "/";
    std::string body;          // sent as application/json when not empty
    std::string bearer_token;  // "Authorization: Bearer ..." when not empty
};

struct HttpReply {
    int32_t status = 0;  // 0: no answer (`error` says why)
    std::string body;
    std::string error;
};

// One request on a fresh connection, connect to last byte bounded by `timeout`.
boost::asio::awaitable<HttpReply> http_exchange(HttpEndpoint endpoint, HttpCall call, std::chrono::milliseconds timeout);

boost::asio::awaitable<sdk::ServerHealth> check_health(HttpEndpoint endpoint, std::chrono::milliseconds timeout);

// Whether the server at `endpoint` holds `key`, the key it was started with, so it is that server and
// not another process on its port: GET /props (which llama-server answers only to a client with its
// key; /health and, since 2025, /v1/models answer anyone) is refused with 401 under another key and
// not refused (200 from llama-server) under `key`. `seen` says what it answered where it does not
// hold it.
struct KeyCheck {
    bool holds = false;
    std::string seen;
};
boost::asio::awaitable<KeyCheck> check_holds_key(HttpEndpoint endpoint, std::string key, std::chrono::milliseconds timeout);

// ProcessRunner::health() for a server at `endpoint_url`: runs check_health on `context` (run by
// another thread) and waits. Throws sdk::Error(HealthCheckFailed) for a malformed URL.
sdk::ServerHealth check_health_blocking(boost::asio::io_context& context, const std::string& endpoint_url,
                                        std::chrono::milliseconds timeout);

}  // namespace corral::plugin_common
