// Keep-alive connections to model servers, per endpoint. A connection goes back to the pool only
// after a complete response that allowed keep-alive; idle ones older than the servers' own
// keep-alive timeout, or already closed by the peer, are never handed out.
//
// llama-server serves each connection on one of its HTTP threads until the connection closes (as
// many threads as cores by default). An idle pooled connection holds one of them, so during a burst
// of more requests than it has threads, the connections beyond them waited in its backlog until an
// idle one timed out (5 s). So once a new connection to a server has waited kStuckAfter for its
// first response header, the server's idle connections are closed, and so is every connection that
// finishes there while one waits: each frees a thread for a connection in the backlog. A warm pool
// under steady load opens no new connections and keeps them all.
#pragma once

#include "server_connection.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace corral::proxy {

struct UpstreamConnection {
    explicit UpstreamConnection(const boost::asio::any_io_executor& ex);
    plugin_common::ServerStream stream;  // TCP or a Unix socket
    // The bytes read from the server, kReadSize at a time, with room for a read beside what the
    // parser has not taken yet (a flat_buffer asked for more than it has grows to just that: a
    // reallocation at nearly every read of a stream). Its room, and the body piece's, come from the
    // last connection this thread closed (SpareRoom): llama-server ends its connection after every
    // streamed response.
    static constexpr std::size_t kReadSize = 16 * 1024;
    boost::beast::flat_buffer buffer;
    // Where a response's body pieces are parsed into before they are relayed: one per connection
    // rather than 16 KiB in every request's coroutine frame. Not zeroed: nothing reads what the
    // parser did not write.
    static constexpr std::size_t kBodyPiece = 16 * 1024;
    std::unique_ptr<char[]> body_piece;
    bool reused = false;  // came from the pool: the peer may have closed it meanwhile
    // Looked at (a peek) before its next use however recently it was used: llama-server closes a
    // connection after a streamed response though it announces keep-alive.
    bool peek_before_reuse = false;
    // The last read from the socket came back short (it took all there was) and nothing was awaited
    // since: forward() may mark the socket drained (read_readiness.hpp).
    bool drained = false;
    std::chrono::steady_clock::time_point idle_since;

    // The response header came (or the connection goes): it no longer waits for a server thread.
    void head_received() noexcept;
    ~UpstreamConnection();
    UpstreamConnection(const UpstreamConnection&) = delete;
    UpstreamConnection& operator=(const UpstreamConnection&) = delete;

    // New connections of one endpoint that have not had their first response header, by age.
    struct Awaiting {
        explicit Awaiting(const boost::asio::any_io_executor& ex) : timer(ex) {}
        std::multiset<std::chrono::steady_clock::time_point> since;
        boost::asio::steady_timer timer;  // runs while `since` is not empty
        bool armed = false;
    };
    std::shared_ptr<Awaiting> awaiting;  // set on a new connection until its first header
    std::multiset<std::chrono::steady_clock::time_point>::iterator awaiting_at;
};

class UpstreamPool {
public:
    static constexpr std::size_t kMaxIdlePerEndpoint = 128;
    static constexpr std::chrono::seconds kMaxIdle{4};  // llama-server closes idle connections after 5 s
    // A new connection waiting this long for its first header may sit in the server's backlog.
    static constexpr std::chrono::milliseconds kStuckAfter{50};

    // An idle connection to `endpoint` ("http://host:port" or "unix:///path"), or a new one. Throws
    // boost::system::system_error when it cannot connect.
    boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> get(const std::string& endpoint, bool fresh = false);
    // An idle connection to `endpoint` when the pool has one (get's first step, without a coroutine), else null.
    std::unique_ptr<UpstreamConnection> take_idle(const std::string& endpoint);
    // Pools a connection whose response was read to its end. One that holds bytes past that end
    // (a server that sent more than its response) is closed instead: they, or what follows them,
    // would be read as the answer to the next request, another client's.
    void put(const std::string& endpoint, std::unique_ptr<UpstreamConnection> connection);
    // The server ends a connection after a complete response (it said Connection: close; llama-server
    // does after 100 requests on one): opens its successor now, on `ex`, into the pool, so the next
    // request finds one ready instead of connecting on its own time. Not pooled when a server went
    // away meanwhile (drop()); a failure to connect is left to the next request to meet.
    void replace(const std::string& endpoint, const boost::asio::any_io_executor& ex);
    // Whether a successor (replace()) is being connected for `endpoint`.
    bool successor_pending(const std::string& endpoint) const {
        auto it = successors_.find(endpoint);
        return it != successors_.end() && it->second->pending > 0;
    }
    // For a request that found no idle connection while a successor connects (the next request
    // often comes before the connect completes): waits for it, and takes the idle connection it
    // left, if another request did not take it first (null then, and the caller connects).
    boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> take_successor(const std::string& endpoint);
    // Closes the idle connections of a server that went away.
    void drop(const std::string& endpoint) {
        ++drops_;
        idle_.erase(endpoint);
        awaiting_.erase(endpoint);  // connections still out keep their record
    }
    // New connections to `endpoint` that have not had a response header yet.
    std::size_t awaiting_head(const std::string& endpoint) const {
        auto it = awaiting_.find(endpoint);
        return it == awaiting_.end() ? 0 : it->second->since.size();
    }
    std::size_t idle(const std::string& endpoint) const {
        auto it = idle_.find(endpoint);
        return it == idle_.end() ? 0 : it->second.size();
    }

private:
    using Awaiting = UpstreamConnection::Awaiting;
    // Whether a new connection to the endpoint has waited kStuckAfter for its header.
    static bool stuck(const Awaiting& awaiting, std::chrono::steady_clock::time_point now);
    // Runs the endpoint's timer for its oldest waiting connection: when it is stuck, the idle
    // connections go (each holds a server thread the waiting one needs).
    void watch(const std::string& endpoint, const std::shared_ptr<Awaiting>& awaiting);

    // An endpoint's successors being connected; `arrived` is cancelled whenever one ends (pooled or not).
    struct Successors {
        explicit Successors(const boost::asio::any_io_executor& ex) : arrived(ex, std::chrono::steady_clock::time_point::max()) {}
        int pending = 0;
        boost::asio::steady_timer arrived;
    };
    boost::asio::awaitable<void> connect_successor(std::string endpoint, uint64_t drops, std::shared_ptr<Successors> successors);

    std::map<std::string, std::shared_ptr<Successors>> successors_;

    std::map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
    uint64_t drops_ = 0;  // drop() calls: a successor connected across one is not pooled
    std::map<std::string, std::shared_ptr<Awaiting>> awaiting_;
};

}  // namespace corral::proxy
