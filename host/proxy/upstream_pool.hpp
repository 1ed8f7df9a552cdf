// Keep-alive connections to model servers, per endpoint. A connection goes back to the pool only
// after a complete response that allowed keep-alive; idle ones older than the servers' own
// keep-alive timeout, or already closed by the peer, are never handed out.
//
// llama-server serves each connection on one of its HTTP threads until the connection closes (as
// many threads as cores by default). An idle pooled connection holds one of them, so during a burst
// of more requests than it has threads, the connections beyond them wait in its backlog until an
// idle one times out (5 s). So while a new connection to a server waits for its first response
// header, connections that finish there are closed rather than pooled: each frees a thread for the
// next one waiting. Under steady load the pool is warm, no new connection waits, and all are kept.
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

    // The response header came (or the connection goes): it no longer waits for a server thread.
    void head_received() noexcept {
        if (awaiting_head) --*awaiting_head;
        awaiting_head.reset();
    }
    ~UpstreamConnection() { head_received(); }
    UpstreamConnection(const UpstreamConnection&) = delete;
    UpstreamConnection& operator=(const UpstreamConnection&) = delete;

    std::shared_ptr<int> awaiting_head;  // a new connection's count in its endpoint's, until its first header
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
    void drop(const std::string& endpoint) {
        idle_.erase(endpoint);
        awaiting_.erase(endpoint);  // connections still out keep their counter
    }
    // New connections to `endpoint` that have not had a response header yet.
    int awaiting_head(const std::string& endpoint) const {
        auto it = awaiting_.find(endpoint);
        return it == awaiting_.end() ? 0 : *it->second;
    }

private:
    std::map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
    std::map<std::string, std::shared_ptr<int>> awaiting_;
};

}  // namespace corral::proxy
