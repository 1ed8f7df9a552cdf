// Keep-alive connections to model servers, per endpoint. A connection goes back to the pool only
// after a complete response that allowed keep-alive; idle ones older than the servers' own
// keep-alive timeout, or already closed by the peer, are never handed out.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace corral::proxy {

struct UpstreamConnection {
    explicit UpstreamConnection(const boost::asio::any_io_executor& ex) : stream(ex) {}
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    bool reused = false;  // came from the pool: the peer may have closed it meanwhile
    std::chrono::steady_clock::time_point idle_since;
};

// The Host header for a request to `endpoint` ("http://host:port[/]" -> "host:port").
inline std::string_view host_header_of(std::string_view endpoint) {
    if (endpoint.substr(0, 7) == "http://") endpoint.remove_prefix(7);
    if (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
    return endpoint;
}

class UpstreamPool {
public:
    static constexpr std::size_t kMaxIdlePerEndpoint = 128;
    static constexpr std::chrono::seconds kMaxIdle{4};  // llama-server closes idle connections after 5 s

    // An idle connection to `endpoint` ("http://host:port"), or a new one. Throws
    // boost::system::system_error when it cannot connect.
    boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> get(const std::string& endpoint, bool fresh = false);
    void put(const std::string& endpoint, std::unique_ptr<UpstreamConnection> connection);
    // Closes the idle connections of a server that went away.
    void drop(const std::string& endpoint) { idle_.erase(endpoint); }

private:
    std::map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace corral::proxy
