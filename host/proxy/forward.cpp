#include "proxy/forward.hpp"

#include "http_health.hpp"
#include "logging/logging.hpp"
#include "proxy/message_head.hpp"
#include "proxy/nonblocking_io.hpp"
#include "proxy/read_readiness.hpp"
#include "proxy/response_tail.hpp"
#include "proxy/server_response_parser.hpp"
#include "proxy/spare_room.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/json.hpp>

#include <array>
#include <cstring>
#include <span>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr std::size_t kTail = 16 * 1024;
constexpr std::size_t kReadSize = UpstreamConnection::kReadSize;

// The body's last bytes (at least kTail of them, at most twice that), where the usage and timings
// are. A body in pieces (a stream: one per token) gets its room once, not a reallocation at every
// doubling, and never grows past it; that room is the last stream's on this thread (SpareRoom).
struct TailTag {};
using SpareTail = SpareRoom<std::string, TailTag>;
struct ResponseTail {
    std::string text = SpareTail::take([] { return std::string(); });
    ResponseTail() { text.clear(); }
    ~ResponseTail() {
        if (text.capacity() >= 2 * kTail) SpareTail::give_back(std::move(text));
    }
    ResponseTail(const ResponseTail&) = delete;
    ResponseTail& operator=(const ResponseTail&) = delete;
};

void keep_tail(std::string& tail, const char* data, std::size_t n) {
    if (n >= kTail) {
        tail.assign(data + n - kTail, kTail);
        return;
    }
    if (tail.size() + n > 2 * kTail) tail.erase(0, tail.size() + n - kTail);
    if (!tail.empty() && tail.capacity() < 2 * kTail) tail.reserve(2 * kTail);
    tail.append(data, n);
}

std::string sse_error_event(const std::string& message) {
    return "data: " + boost::json::serialize(openai_error(message, "server_error", "upstream_failed")) + "\n\n";
}

// The model server's next bytes into `up`'s buffer: Asio's own read, which reads at once when epoll
// said the socket is readable since a read last found nothing, and otherwise waits without a
// syscall (no epoll_ctl as async_wait makes). Awaited through asio::deferred, it allocates nothing:
// use_awaitable makes a coroutine frame for every operation it awaits, and a coroutine around the
// read made another, two allocations per streamed token. read_readiness.hpp's rule only once a
// response is complete (forward() decides; see there). No deadline: the model servers' waits are
// bounded elsewhere.
auto read_from_server(UpstreamConnection& up) {
    return up.stream.socket().async_read_some(up.buffer.prepare(kReadSize), asio::as_tuple(asio::deferred));
}

// What that read brought: its bytes committed, whether it drained the socket, and how the reads
// ended (`ended`, once they did: the response parser reports it when it needs more bytes).
void took(UpstreamConnection& up, const std::tuple<boost::system::error_code, std::size_t>& read, boost::system::error_code& ended) {
    const auto& [rec, n] = read;
    up.buffer.commit(n);
    up.drained = !rec && n < kReadSize;
    if (rec) ended = rec;
}

}  // namespace

asio::awaitable<ForwardResult> forward(Exchange& ex, UpstreamPool& pool, const ForwardOptions& options) {
    ForwardResult result;
    const std::string request_head = upstream_request_head(ex.request, ex.request.body().size(),
                                                           options.target.empty() ? std::string_view(ex.request.target()) : options.target,
                                                           plugin_common::host_header(options.endpoint), options.upstream_key);
    std::unique_ptr<UpstreamConnection> up;
    std::optional<ServerResponseParser> parser_storage;
    auto fresh_parser = [&]() -> ServerResponseParser& { return parser_storage.emplace(ex.extra_headers, ex.head()); };

    // Send the request and read the response header; a pooled connection that turns out to be
    // closed gets one retry on a fresh connection (nothing reached the server).
    for (int attempt = 0;; ++attempt) {
        try {
            up = attempt == 0 ? pool.take_idle(options.endpoint) : nullptr;  // most requests: no coroutine
            // None idle, but the successor of one the server ended is connecting: that one.
            if (!up && attempt == 0 && pool.successor_pending(options.endpoint)) up = co_await pool.take_successor(options.endpoint);
            if (!up) up = co_await pool.get(options.endpoint, true);  // none idle, or a retry: a new one
        } catch (const boost::system::system_error& e) {
            result.outcome = ForwardResult::Outcome::UpstreamFailed;
            // Only a first, fresh connection that failed proves the request never reached a server;
            // after a reused connection broke, the server may have crashed while reading it.
            result.connect_failed = attempt == 0;
            result.error = "cannot connect to the model server: " + e.code().message();
            co_return result;
        }
        auto& socket = up->stream.socket();
        NonBlockingSocket server(socket);
        // The header and the body in one write, the body from the client's request as it is.
        const std::array<asio::const_buffer, 2> request_out{asio::buffer(request_head), asio::buffer(ex.request.body())};
        beast::buffers_suffix<std::array<asio::const_buffer, 2>> unsent(request_out);
        auto write_request = [&](boost::system::error_code& ec) { unsent.consume(asio::write(server, unsent, ec)); };
        boost::system::error_code rec;
        write_request(rec);  // a request fits the socket's buffer: no wait, no coroutine
        if (rec == asio::error::would_block) rec = co_await when_ready(socket, socket.wait_write, write_request);
        auto* fresh = &fresh_parser();
        boost::system::error_code read_end;
        auto read_header = [&](boost::system::error_code& ec) { fresh->read_header(up->buffer, read_end, ec); };
        // Parse what came, read more while the parser asks for it (the same below).
        if (!rec) read_header(rec);
        while (rec == asio::error::would_block) {
            const auto read = co_await read_from_server(*up);
            took(*up, read, read_end);
            read_header(rec);
        }
        // Interim responses (RFC 9110 15.2) are not the answer: read on until the final one. 101 would
        // switch protocols, which corral does not relay.
        while (!rec && fresh->status() >= 100 && fresh->status() < 200) {
            if (fresh->status() == 101) {
                rec = http::error::bad_status;
                break;
            }
            fresh = &fresh_parser();
            read_header(rec);
            while (rec == asio::error::would_block) {
                const auto read = co_await read_from_server(*up);
                took(*up, read, read_end);
                read_header(rec);
            }
        }
        if (!rec) break;
        if (up->reused && attempt == 0 &&
            (rec == http::error::end_of_stream || rec == asio::error::connection_reset || rec == asio::error::eof ||
             rec == asio::error::broken_pipe)) {
            continue;
        }
        result.outcome = ForwardResult::Outcome::UpstreamFailed;
        result.error = "the model server failed before answering: " + rec.message();
        co_return result;
    }
    up->head_received();
    auto& parser = *parser_storage;
    if (parser.status() == 401 && !options.upstream_key.empty()) {
        // The server refuses the key corral sent it: one corral did not start with that key (adopted
        // after the state's key secret changed, or given a key corral does not see). Not the
        // client's fault, so not its 401 to see.
        result.outcome = ForwardResult::Outcome::UpstreamFailed;
        result.error = "the model server refused corral's key for it (unload the model to restart its server with a new key)";
        co_return result;
    }
    result.status = parser.status();
    result.first_byte_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ex.received).count();
    const bool sse = parser.event_stream();

    // The client's header goes out with the first piece of body (one send instead of two per
    // response: a server's header is followed at once by its body, or for SSE by its first event).
    const bool own_header = !options.headers_already_sent;
    std::string head;  // unsent while not empty
    bool chunked = !own_header;
    if (own_header) {
        auto framing = BodyFraming::None;
        if (!parser.chunked() && parser.content_length()) {
            framing = BodyFraming::ContentLength;
        } else if (ex.request.method() != http::verb::head && result.status != 204 && result.status != 304) {
            framing = BodyFraming::Chunked;
        }
        chunked = framing == BodyFraming::Chunked;
        ex.keep_alive = ex.keep_alive && ex.request.keep_alive();
        head = std::move(parser.client_head());
        end_client_response_head(head, ex.extra_headers, ex.keep_alive, framing, parser.content_length().value_or(0));
        ex.status = result.status;
    } else if (result.status != 200) {
        // The client already has a 200 SSE header (loading progress): report the failure as an event.
        co_await ex.write_chunk(sse_error_event("the model server answered " + std::to_string(result.status)));
        up->drained = false;
    }
    const bool relay_body = own_header || result.status == 200;

    // Writes the header if still unsent, then `data` framed as the response needs, then the last
    // chunk when `last`: one gather write.
    // send_now writes at once when the client's socket takes it all (nearly always); when it
    // answers would_block, send_rest awaits the rest. Two steps so that the common case makes no
    // coroutine frame.
    static constexpr std::string_view kCrlf = "\r\n", kLastChunk = "0\r\n\r\n";
    char size_line[20];
    std::array<asio::const_buffer, 5> out;
    std::size_t out_count = 0, out_written = 0;
    auto send_now = [&](std::string_view data, bool last) -> boost::system::error_code {
        out_count = 0;
        if (!head.empty()) out[out_count++] = asio::buffer(head);
        if (relay_body && !data.empty()) {
            if (chunked) out[out_count++] = asio::buffer(chunk_size_line(data.size(), size_line));
            out[out_count++] = asio::buffer(data);
            if (chunked) out[out_count++] = asio::buffer(kCrlf);
        }
        if (relay_body && last && chunked) out[out_count++] = asio::buffer(kLastChunk);
        if (out_count == 0) return {};
        boost::system::error_code ec;
        out_written = 0;
        if (!ex.sent_at_once(std::span<const asio::const_buffer>(out.data(), out_count), out_written, ec)) return asio::error::would_block;
        if (!ec) head.clear();
        return ec;
    };
    auto send_rest = [&]() -> asio::awaitable<boost::system::error_code> {
        beast::buffers_suffix<std::span<const asio::const_buffer>> rest(std::span<const asio::const_buffer>(out.data(), out_count));
        rest.consume(out_written);
        const auto ec = co_await ex.send_buffers(rest);
        if (!ec) head.clear();
        co_return ec;
    };
    auto client_gone = [&](const boost::system::error_code& ec) {
        result.outcome = ForwardResult::Outcome::ClientGone;  // `up` closes with the caller's scope: the server stops generating
        result.client_timed_out = ec == beast::error::timeout;
    };

    const std::span<char> buf(up->body_piece.get(), UpstreamConnection::kBodyPiece);
    ResponseTail kept_tail;
    std::string& tail = kept_tail.text;
    bool upstream_ok = true;
    bool ended = false;  // the last chunk was sent
    boost::system::error_code read_end;
    auto read_body = [&](boost::system::error_code& ec) { parser.read_body(up->buffer, read_end, ec); };
    while (!parser.is_done()) {
        parser.body_into(buf);
        boost::system::error_code rec;
        read_body(rec);  // usually the whole body came with the header: no read for it
        while (rec == asio::error::would_block) {
            const auto read = co_await read_from_server(*up);
            took(*up, read, read_end);
            read_body(rec);
        }
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
            upstream_ok = false;
            result.error = "the model server failed mid-response: " + rec.message();
            break;
        }
        const std::size_t got = parser.body_filled();
        if (got == 0) continue;
        keep_tail(tail, buf.data(), got);
        // The last piece goes out with the end of the body (a chunked one's last chunk).
        const bool last = parser.is_done() && own_header;
        auto wec = send_now(std::string_view(buf.data(), got), last);
        if (wec == asio::error::would_block) {
            wec = co_await send_rest();
            up->drained = false;  // an epoll_wait may have seen the server's socket since its last read
        }
        if (wec) {
            client_gone(wec);
            co_return result;
        }
        ended = last;
    }
    // A response framed by Content-Length, complete with a short read and nothing awaited since:
    // the connection's next read (the next request's answer) waits for epoll instead of trying
    // first, a read that would nearly always fail (read_readiness.hpp says why not for the others).
    if (upstream_ok && up->drained && parser.is_done() && !parser.chunked() && parser.content_length()) mark_drained(up->stream.socket());
    read_usage(tail, result.prompt_tokens, result.completion_tokens);
    read_timings(tail, result.prompt_cached, result.prompt_evaluated);

    if (!upstream_ok) {
        result.outcome = ForwardResult::Outcome::UpstreamFailed;
        ex.keep_alive = false;
        if (!head.empty()) {
            // Nothing was relayed yet: the header still goes first, then the same endings as below.
            auto hec = send_now({}, false);
            if (hec == asio::error::would_block) hec = co_await send_rest();
            if (hec) {
                client_gone(hec);
                co_return result;
            }
        }
        if (sse || !own_header) {
            // End the event stream with an error the client libraries understand, then close.
            std::string event = sse_error_event(result.error);
            if (chunked) {
                co_await ex.write_chunk(event);
                co_await ex.write_last_chunk();
            }
        }
        // Otherwise closing the connection without the terminating chunk tells the client the body is incomplete.
        co_return result;
    }
    if (own_header) {
        if (!ended) {
            auto fec = send_now({}, true);
            if (fec == asio::error::would_block) fec = co_await send_rest();
            if (fec) {
                client_gone(fec);
                co_return result;
            }
        }
    } else {
        co_await ex.write_last_chunk();
    }
    // Only a response read to its end leaves the connection ready for the next request; one the
    // server ends has its successor opened now, off the next request's path.
    if (parser.is_done() && parser.keep_alive()) {
        up->peek_before_reuse = parser.chunked();  // llama-server closes it after a streamed response all the same
        pool.put(options.endpoint, std::move(up));
    } else if (parser.is_done()) {
        pool.replace(options.endpoint, up->stream.get_executor());
    }
    co_return result;
}

}  // namespace corral::proxy
