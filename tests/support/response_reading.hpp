// Reading a model server's response two ways, for the tests and the differential fuzzer:
// ServerResponseParser as the relay drives it (bytes arriving a few at a time, the connection's
// end), and Beast's parser alone (GeneralResponseParser, driven as Beast's own tests drive it).
// Whatever the fast path reads itself must come out the same both ways.
#pragma once

#include "proxy/server_response_parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::proxy::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;

struct Read {
    std::string body;
    boost::system::error_code ec;  // the first error, if any
};

// Reads `text` as the relay does: `feed` bytes arrive at a time, then the connection ends (eof);
// the body goes into a buffer of `piece` bytes at a time.
inline Read read(ServerResponseParser& parser, std::string_view text, std::size_t piece = 64,
                 std::size_t feed = std::numeric_limits<std::size_t>::max()) {
    boost::beast::flat_buffer buffer;
    boost::system::error_code ended;
    const auto arrive = [&] {
        if (text.empty()) {
            if (ended) return false;
            ended = asio::error::eof;
            return true;
        }
        const std::size_t n = std::min(feed, text.size());
        std::memcpy(buffer.prepare(n).data(), text.data(), n);
        buffer.commit(n);
        text.remove_prefix(n);
        return true;
    };
    Read out;
    arrive();
    for (;;) {
        parser.read_header(buffer, ended, out.ec);
        if (out.ec != asio::error::would_block) break;
        if (!arrive()) break;
    }
    if (out.ec) return out;
    std::vector<char> body(piece);
    while (!parser.is_done()) {
        parser.body_into(body);
        parser.read_body(buffer, ended, out.ec);
        out.body.append(body.data(), parser.body_filled());
        if (out.ec == http::error::need_buffer) {
            out.ec = {};
        } else if (out.ec == asio::error::would_block) {
            out.ec = {};
            if (!arrive()) break;
        } else if (out.ec) {
            break;
        }
    }
    return out;
}

// What Beast's parser alone makes of `text` (driven as its own tests drive it: put, then put_eof).
struct BeastRead {
    boost::system::error_code ec;
    bool header_done = false;
    int status = 0;
    std::string head;
    bool event_stream = false;
    std::optional<std::uint64_t> length;
    bool keep_alive = false;
    bool done = false;
    std::string body;
};

inline BeastRead beast_read(const HeaderList& corral_sets, std::string_view text) {
    BeastRead out;
    GeneralResponseParser parser(corral_sets);
    parser.body_limit(boost::none);
    parser.header_limit(64 * 1024);
    parser.eager(true);
    std::array<char, 7> piece{};
    const auto end_of_input = [&] {  // the connection ends: what Beast makes of that
        boost::system::error_code ec;
        if (!parser.got_some()) {
            ec = http::error::end_of_stream;
        } else {
            parser.put_eof(ec);
        }
        out.ec = ec;
    };
    while (!parser.is_done()) {
        if (text.empty()) {
            end_of_input();
            break;
        }
        parser.body_into(piece);
        boost::system::error_code ec;
        const auto used = parser.put(asio::buffer(text.data(), text.size()), ec);
        text.remove_prefix(used);
        out.body.append(piece.data(), parser.body_filled());
        if (ec == http::error::need_buffer) continue;
        if (ec == http::error::need_more) {
            if (used > 0) continue;  // what is left may be enough now
            end_of_input();          // it needs bytes that never come
            break;
        }
        out.ec = ec;
        if (ec) break;
    }
    out.header_done = parser.is_header_done();
    if (out.header_done) {
        out.status = parser.status();
        out.head = parser.client_head();
        out.event_stream = parser.event_stream();
        if (auto length = parser.content_length()) out.length = *length;
        out.keep_alive = parser.keep_alive();
    }
    out.done = parser.is_done();
    return out;
}

// Whether the two readings agree on everything the relay acts on; the first difference otherwise.
inline std::optional<std::string> difference(ServerResponseParser& parser, const Read& got, const BeastRead& expected) {
    if (!expected.header_done) return "the fast path took a header Beast refuses (" + expected.ec.message() + ")";
    if (got.ec != expected.ec) return "error: " + got.ec.message() + " vs Beast's " + expected.ec.message();
    if (parser.status() != expected.status) return "status";
    if (parser.client_head() != expected.head) return "client head: " + parser.client_head() + " vs Beast's " + expected.head;
    if (parser.event_stream() != expected.event_stream) return "event stream";
    if (parser.content_length() != expected.length) return "content length";
    if (parser.keep_alive() != expected.keep_alive) return "keep-alive";
    if (parser.chunked()) return "chunked";
    if (parser.is_done() != expected.done) return "done";
    if (got.body != expected.body) return "body: " + got.body + " vs Beast's " + expected.body;
    return std::nullopt;
}

}  // namespace corral::proxy::test
