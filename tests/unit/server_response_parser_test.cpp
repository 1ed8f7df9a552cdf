// A model server's response as the relay parses it: the client's head written as the fields
// come (byte for byte, read back with Beast's own parser where framing matters), the facts the
// relay decides on, and the body into the relay's buffer, piece by piece.
#include "proxy/server_response_parser.hpp"

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <string>

namespace corral::proxy {
namespace {

namespace http = boost::beast::http;

// Parses `text` whole (eagerly, with a body buffer of `piece` bytes at a time); returns the body.
std::string parse(ServerResponseParser& parser, std::string_view text, std::size_t piece = 64) {
    parser.eager(true);
    std::string body;
    std::vector<char> buffer(piece);
    while (!text.empty() && !parser.is_done()) {
        parser.body_into(buffer);
        boost::system::error_code ec;
        const auto used = parser.put(boost::asio::buffer(text.data(), text.size()), ec);
        text.remove_prefix(used);
        body.append(buffer.data(), parser.body_filled());
        if (ec == http::error::need_buffer) continue;
        EXPECT_FALSE(ec) << ec.message();
        if (ec) break;
    }
    return body;
}

// The client's complete head for a parsed response.
std::string client_head(ServerResponseParser& parser, const HeaderList& corral_sets, bool keep_alive, BodyFraming framing,
                        std::size_t length) {
    std::string head = parser.client_head();
    end_client_response_head(head, corral_sets, keep_alive, framing, length);
    return head;
}

constexpr std::string_view kServerResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: llama.cpp\r\n"
    "Content-Type: text/event-stream\r\n"
    "Connection: close, X-Hop\r\n"
    "X-Hop: 1\r\n"
    "Keep-Alive: timeout=5\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "Vary: Accept\r\n"
    "X-Request-Id: r1\r\n"
    "\r\n"
    "5\r\nhello\r\n0\r\n\r\n";

TEST(ServerResponseParser, TheClientGetsTheServersEndToEndHeadersAndCorralsPolicyAndFraming) {
    const HeaderList cors{{"Access-Control-Allow-Origin", "https://app.example"}, {"Vary", "Origin"}};
    ServerResponseParser with_cors(cors);
    EXPECT_EQ(parse(with_cors, kServerResponse), "hello");
    EXPECT_EQ(client_head(with_cors, cors, true, BodyFraming::Chunked, 0),
              "HTTP/1.1 200 OK\r\n"
              "Server: llama.cpp\r\n"
              "Content-Type: text/event-stream\r\n"
              "X-Request-Id: r1\r\n"
              "Access-Control-Allow-Origin: https://app.example\r\n"
              "Vary: Origin\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
    const HeaderList none;
    ServerResponseParser plain(none);
    parse(plain, kServerResponse);
    EXPECT_EQ(client_head(plain, none, false, BodyFraming::ContentLength, 42),
              "HTTP/1.1 200 OK\r\n"
              "Server: llama.cpp\r\n"
              "Content-Type: text/event-stream\r\n"
              "Vary: Accept\r\n"
              "X-Request-Id: r1\r\n"
              "Connection: close\r\n"
              "Content-Length: 42\r\n\r\n");
    EXPECT_TRUE(plain.event_stream());
    EXPECT_EQ(plain.status(), 200);
    EXPECT_FALSE(plain.keep_alive());  // the server said close: the relay does not pool it
}

TEST(ServerResponseParser, FieldsAConnectionFieldListsDoNotCrossWhereverTheyCome) {
    const HeaderList none;
    ServerResponseParser parser(none);
    parse(parser,
          "HTTP/1.1 200 OK\r\nX-Before: 1\r\nx-after: 2\r\nX-Kept: 3\r\nConnection: x-before\r\nConnection: X-AFTER\r\n"
          "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(parser.client_head(), "HTTP/1.1 200 OK\r\nX-Kept: 3\r\n");
}

TEST(ServerResponseParser, TheStatusLineUsesTheStandardReasonAndBeastReadsTheHeaderBack) {
    const HeaderList none;
    ServerResponseParser parser(none);
    parse(parser, "HTTP/1.1 429 Slow Down Please\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(parser.status(), 429);
    const auto head = client_head(parser, none, true, BodyFraming::ContentLength, 5) + "hello";
    EXPECT_EQ(head.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u);
    http::response_parser<http::string_body> back;
    back.eager(true);
    boost::system::error_code ec;
    back.put(boost::asio::buffer(head), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(back.is_done());
    EXPECT_EQ(back.get().body(), "hello");
    EXPECT_EQ(back.get()[http::field::retry_after], "3");
    EXPECT_TRUE(back.get().keep_alive());
}

TEST(ServerResponseParser, AStatusWithoutAStandardReasonKeepsTheServersOwn) {
    const HeaderList none;
    ServerResponseParser parser(none);
    parse(parser, "HTTP/1.1 299 Mostly Fine\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(parser.client_head(), "HTTP/1.1 299 Mostly Fine\r\n");
}

TEST(ServerResponseParser, OnlyTheFirstContentTypeSaysWhetherTheBodyIsAnEventStream) {
    const HeaderList none;
    ServerResponseParser json(none);
    parse(json, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n");
    EXPECT_FALSE(json.event_stream());
    ServerResponseParser sse(none);
    parse(sse, "HTTP/1.1 200 OK\r\ncontent-type: TEXT/EVENT-STREAM; charset=utf-8\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(sse.event_stream());
    ServerResponseParser short_type(none);
    parse(short_type, "HTTP/1.1 200 OK\r\nContent-Type: text\r\nContent-Length: 0\r\n\r\n");
    EXPECT_FALSE(short_type.event_stream());
}

TEST(ServerResponseParser, TheBodyGoesIntoTheRelaysBufferAPieceAtATime) {
    const HeaderList none;
    ServerResponseParser sized(none);
    EXPECT_EQ(parse(sized, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 4), "hello world");
    EXPECT_TRUE(sized.is_done());
    ServerResponseParser chunked(none);
    EXPECT_EQ(parse(chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", 3),
              "hello world");
    EXPECT_TRUE(chunked.is_done());
    EXPECT_TRUE(chunked.chunked());
    EXPECT_EQ(chunked.client_head(), "HTTP/1.1 200 OK\r\n");  // framing is the relay's to write
}

TEST(ServerResponseParser, WithoutABufferTheBodyWaits) {
    const HeaderList none;
    ServerResponseParser parser(none);
    parser.eager(true);
    constexpr std::string_view text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    boost::system::error_code ec;
    const auto used = parser.put(boost::asio::buffer(text.data(), text.size()), ec);
    EXPECT_EQ(ec, http::error::need_buffer);
    EXPECT_EQ(text.substr(used), "hi");
    EXPECT_FALSE(parser.is_done());
}

}  // namespace
}  // namespace corral::proxy
