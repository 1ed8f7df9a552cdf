#include "proxy/upstream_pool.hpp"

#include "http_health.hpp"
#include "proxy/nonblocking_io.hpp"
#include "proxy/spare_room.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/socket.h>

#include <cerrno>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;

// Whether the peer has closed an idle connection (or sent something unexpected): a zero-length or
// successful peek means it is not safe to reuse.
constexpr auto kRecentlyUsed = std::chrono::milliseconds(250);

bool still_open(UpstreamConnection& c) {
    char byte;
    ssize_t n = ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle(const std::string& endpoint) {
    auto it = idle_.find(endpoint);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    while (!list.empty()) {
        auto c = std::move(list.back());
        list.pop_back();
        // A connection back in the pool for a moment cannot have met the server's keep-alive
        // timeout (seconds): it skips the peek, a syscall per request under load. Should the
        // server have died meanwhile, the caller's one retry on a reused connection covers it.
        const auto idle = now - c->idle_since;
        if (idle < kMaxIdle && ((idle < kRecentlyUsed && !c->peek_before_reuse) || still_open(*c))) {
            c->peek_before_reuse = false;
            c->reused = true;
            return c;
        }
    }
    return nullptr;
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::get(const std::string& endpoint, bool fresh) {
    if (!fresh) {
        if (auto c = take_idle(endpoint)) co_return c;
    }
    auto parsed = plugin_common::parse_http_endpoint(endpoint);
    if (!parsed) throw boost::system::system_error(asio::error::invalid_argument, "endpoint " + endpoint);
    auto ex = co_await asio::this_coro::executor;
    auto c = std::make_unique<UpstreamConnection>(ex);
    c->stream.expires_after(std::chrono::seconds(10));
    if (auto ec = co_await plugin_common::connect_server(c->stream, *parsed)) throw boost::system::system_error(ec);
    c->stream.expires_never();
    make_nonblocking(c->stream.socket());
    auto& awaiting = awaiting_[endpoint];
    if (!awaiting) awaiting = std::make_shared<Awaiting>(ex);
    c->awaiting = awaiting;
    c->awaiting_at = awaiting->since.insert(std::chrono::steady_clock::now());
    watch(endpoint, awaiting);
    co_return c;
}

void UpstreamPool::replace(const std::string& endpoint, const asio::any_io_executor& ex) {
    auto& successors = successors_[endpoint];
    if (!successors) successors = std::make_shared<Successors>(ex);
    ++successors->pending;
    asio::co_spawn(ex, connect_successor(endpoint, drops_, successors), asio::detached);
}

asio::awaitable<void> UpstreamPool::connect_successor(std::string endpoint, uint64_t drops, std::shared_ptr<Successors> successors) {
    try {
        auto c = co_await get(endpoint, true);
        if (drops == drops_) put(endpoint, std::move(c));
    } catch (const std::exception&) {
        // A request waiting for it connects itself, and reports what it meets.
    }
    --successors->pending;
    successors->arrived.cancel();  // wakes the requests waiting for it (take_successor)
    if (successors->pending == 0) {
        auto it = successors_.find(endpoint);
        if (it != successors_.end() && it->second == successors) successors_.erase(it);
    }
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::take_successor(const std::string& endpoint) {
    auto it = successors_.find(endpoint);
    if (it == successors_.end() || it->second->pending == 0) co_return nullptr;
    const auto successors = it->second;  // kept: the entry goes once none is pending
    co_await successors->arrived.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return take_idle(endpoint);
}

namespace {
namespace beast = boost::beast;
struct ReadBufferTag {};
struct BodyPieceTag {};
using SpareReadBuffer = SpareRoom<beast::flat_buffer, ReadBufferTag>;
using SpareBodyPiece = SpareRoom<std::unique_ptr<char[]>, BodyPieceTag>;
// A read buffer that grew past this (a response header that came in many reads) is not kept.
constexpr std::size_t kKeptReadBuffer = 4 * UpstreamConnection::kReadSize;
}  // namespace

UpstreamConnection::UpstreamConnection(const asio::any_io_executor& ex)
    : stream(ex),
      buffer(SpareReadBuffer::take([] { return beast::flat_buffer(); })),
      body_piece(SpareBodyPiece::take([] { return std::make_unique_for_overwrite<char[]>(kBodyPiece); })) {
    buffer.clear();  // its room, not what the last connection left in it
    buffer.reserve(2 * kReadSize);
}

UpstreamConnection::~UpstreamConnection() {
    head_received();
    if (buffer.capacity() <= kKeptReadBuffer) SpareReadBuffer::give_back(std::move(buffer));
    SpareBodyPiece::give_back(std::move(body_piece));
}

void UpstreamConnection::head_received() noexcept {
    if (!awaiting) return;
    awaiting->since.erase(awaiting_at);
    awaiting.reset();
}

bool UpstreamPool::stuck(const Awaiting& awaiting, std::chrono::steady_clock::time_point now) {
    return !awaiting.since.empty() && now - *awaiting.since.begin() >= kStuckAfter;
}

void UpstreamPool::watch(const std::string& endpoint, const std::shared_ptr<Awaiting>& awaiting) {
    if (awaiting->armed || awaiting->since.empty()) return;
    awaiting->armed = true;
    // When the oldest would be stuck; while one is (a long prompt, a queue for a slot), every
    // kStuckAfter. Not cancelled when the waits end: it then finds no one and stops.
    const auto now = std::chrono::steady_clock::now();
    awaiting->timer.expires_at(stuck(*awaiting, now) ? now + kStuckAfter : *awaiting->since.begin() + kStuckAfter);
    awaiting->timer.async_wait([this, endpoint, weak = std::weak_ptr<Awaiting>(awaiting)](boost::system::error_code ec) {
        auto awaiting = weak.lock();
        if (ec || !awaiting) return;  // the pool, or this endpoint's record, is gone
        awaiting->armed = false;
        auto current = awaiting_.find(endpoint);
        if (current == awaiting_.end() || current->second != awaiting) return;  // dropped meanwhile
        if (stuck(*awaiting, std::chrono::steady_clock::now())) idle_.erase(endpoint);
        watch(endpoint, awaiting);
    });
}

void UpstreamPool::put(const std::string& endpoint, std::unique_ptr<UpstreamConnection> connection) {
    connection->head_received();
    if (connection->buffer.size() != 0) return;  // bytes past the response: closed here, never reused
    // Closed while a new connection waits: its server thread takes that one.
    if (auto it = awaiting_.find(endpoint); it != awaiting_.end() && stuck(*it->second, std::chrono::steady_clock::now())) return;
    auto& list = idle_[endpoint];
    if (list.size() >= kMaxIdlePerEndpoint) return;
    connection->idle_since = std::chrono::steady_clock::now();
    list.push_back(std::move(connection));
}

}  // namespace corral::proxy
