#include "http_health.hpp"

#include "server_connection.hpp"

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <corral/sdk/error.hpp>

namespace corral::plugin_common {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::optional<HttpEndpoint> parse_http_endpoint(const std::string& url) {
    constexpr std::string_view kUnix = "unix://";
    if (url.rfind(kUnix, 0) == 0) {
        HttpEndpoint endpoint;
        endpoint.socket_path = url.substr(kUnix.size());
        if (endpoint.socket_path.size() < 2 || endpoint.socket_path.front() != '/' || endpoint.socket_path.find('\0') != std::string::npos)
            return std::nullopt;
        return endpoint;
    }
    constexpr std::string_view kScheme = "http://";
    if (url.rfind(kScheme, 0) != 0) return std::nullopt;
    std::string rest = url.substr(kScheme.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon + 1 >= rest.size()) return std::nullopt;
    std::string host = rest.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    try {
        std::size_t used = 0;
        port = std::stoul(rest.substr(colon + 1), &used);
        if (used != rest.size() - colon - 1) return std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (host.empty() || port == 0 || port > 65535) return std::nullopt;
    return HttpEndpoint{host, static_cast<uint16_t>(port)};
}

std::string format_http_endpoint(const std::string& host, uint16_t port, bool tls) {
    bool v6 = host.find(':') != std::string::npos;
    return (tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string format_http_endpoint(const HttpEndpoint& endpoint) {
    return endpoint.is_unix() ? "unix://" + endpoint.socket_path : format_http_endpoint(endpoint.host, endpoint.port);
}

std::string host_header(const HttpEndpoint& endpoint) {
    if (endpoint.is_unix()) return "localhost";
    return format_http_endpoint(endpoint.host, endpoint.port).substr(7);
}

std::string_view host_header(std::string_view endpoint) {
    if (endpoint.substr(0, 7) == "unix://") return "localhost";
    if (endpoint.substr(0, 7) == "http://") endpoint.remove_prefix(7);
    if (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
    return endpoint;
}

asio::awaitable<HttpReply> http_exchange(HttpEndpoint endpoint, HttpCall call, std::chrono::milliseconds timeout) {
    constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
    HttpReply reply;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    boost::system::error_code ec;
    ServerStream stream(co_await asio::this_coro::executor);
    stream.expires_at(deadline);
    if (auto connect_ec = co_await connect_server(stream, endpoint)) {
        reply.error = "cannot connect to " + format_http_endpoint(endpoint) + ": " + connect_ec.message();
        co_return reply;
    }
    const auto what = call.method + " " + call.target;
    http::request<http::string_body> req{http::string_to_verb(call.method), call.target, 11};
    req.set(http::field::host, host_header(endpoint));
    req.set(http::field::user_agent, "corral");
    if (!call.bearer_token.empty()) req.set(http::field::authorization, "Bearer " + call.bearer_token);
    if (!call.body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(call.body);
    req.prepare_payload();
    stream.expires_at(deadline);
    auto [write_ec, written] = co_await http::async_write(stream, req, kAwait);
    http::response_parser<http::string_body> parser;
    parser.body_limit(16u << 20);
    beast::flat_buffer buffer;
    if (!write_ec) {
        stream.expires_at(deadline);
        auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kAwait);
        ec = read_ec;
    } else {
        ec = write_ec;
    }
    if (ec) {
        reply.error = "no answer to " + what + ": " + ec.message();
        co_return reply;
    }
    reply.status = static_cast<int32_t>(parser.get().result_int());
    reply.body = std::move(parser.get().body());
    stream.socket().shutdown(asio::socket_base::shutdown_both, ec);
    co_return reply;
}

asio::awaitable<sdk::ServerHealth> check_health(HttpEndpoint endpoint, std::chrono::milliseconds timeout) {
    sdk::ServerHealth health;
    HttpCall call;
    call.target = "/health";
    auto reply = co_await http_exchange(std::move(endpoint), std::move(call), timeout);
    if (reply.status == 0) {
        health.message = std::move(reply.error);
        co_return health;
    }
    health.http_status = reply.status;
    if (reply.status == 200) {
        health.state = sdk::HealthState::Ok;
    } else if (reply.status == 503) {
        health.state = sdk::HealthState::Loading;
        health.message = "loading";
    } else {
        health.state = sdk::HealthState::Error;
        health.message = "GET /health answered " + std::to_string(reply.status);
    }
    co_return health;
}

asio::awaitable<KeyCheck> check_holds_key(HttpEndpoint endpoint, std::string key, std::chrono::milliseconds timeout) {
    KeyCheck check;
    HttpCall call;
    call.target = "/props";
    // Another key: no server that holds only `key` takes it (a list of keys, "k1,k2", holds each whole).
    call.bearer_token = key + "-not";
    auto other = co_await http_exchange(endpoint, call, timeout);
    if (other.status != 401) {
        check.seen = other.status ? "GET /props answered " + std::to_string(other.status) + " to a client with another key" : other.error;
        co_return check;
    }
    call.bearer_token = std::move(key);
    auto own = co_await http_exchange(std::move(endpoint), std::move(call), timeout);
    // Let in (a compatible server without /props answers 404 then): refused is what tells.
    check.holds = own.status != 0 && own.status != 401 && own.status != 403;
    if (!check.holds)
        check.seen = own.status ? "GET /props answered " + std::to_string(own.status) + " to a client with its key" : own.error;
    co_return check;
}

sdk::ServerHealth check_health_blocking(asio::io_context& context, const std::string& endpoint_url, std::chrono::milliseconds timeout) {
    auto endpoint = parse_http_endpoint(endpoint_url);
    if (!endpoint) throw sdk::Error(sdk::ProcessError::HealthCheckFailed, "invalid endpoint \"" + endpoint_url + "\"");
    return asio::co_spawn(context, check_health(*endpoint, timeout), asio::use_future).get();
}

}  // namespace corral::plugin_common
