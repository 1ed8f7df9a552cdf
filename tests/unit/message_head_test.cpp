// The header text corral relays to a model server, byte for byte (what a client gets back is
// tested with the parser that writes it: server_response_parser_test.cpp).
#include "proxy/message_head.hpp"

#include <gtest/gtest.h>
#include <boost/beast/core/string.hpp>

namespace corral::proxy {
namespace {

namespace http = boost::beast::http;

http::request_header<> client_request(http::verb method) {
    http::request_header<> r;
    r.method(method);
    r.target("/v1/chat/completions");
    r.set(http::field::host, "corral.example:8080");
    r.set(http::field::authorization, "Bearer client-key");
    r.set("X-Api-Key", "client-key");
    r.set(http::field::content_type, "application/json");
    r.set(http::field::connection, "keep-alive, X-Hop");
    r.set("X-Hop", "private to this connection");
    r.set(http::field::te, "trailers");
    r.set(http::field::expect, "100-continue");
    r.set(http::field::content_length, "999");
    r.set(http::field::transfer_encoding, "chunked");
    r.set("X-Corral-Session", "s1");
    r.set("traceparent", "00-abc-01");
    return r;
}

TEST(MessageHead, TheServerGetsTheEndToEndHeadersWithCorralsHostKeyAndLength) {
    const auto head =
        upstream_request_head(client_request(http::verb::post), 17, "/v1/chat/completions?x=1", "127.0.0.1:5001", "server-key");
    EXPECT_EQ(head,
              "POST /v1/chat/completions?x=1 HTTP/1.1\r\n"
              "Content-Type: application/json\r\n"
              "X-Corral-Session: s1\r\n"
              "traceparent: 00-abc-01\r\n"
              "Host: 127.0.0.1:5001\r\n"
              "Authorization: Bearer server-key\r\n"
              "Content-Length: 17\r\n\r\n");
}

TEST(MessageHead, ABodylessGetHasNoLengthAndNoKeyWhenNoneIsGiven) {
    auto request = client_request(http::verb::get);
    const auto head = upstream_request_head(request, 0, "/props", "127.0.0.1:5001", "");
    EXPECT_EQ(head.find("Content-Length"), std::string::npos);
    EXPECT_EQ(head.find("Authorization"), std::string::npos);
    EXPECT_EQ(head.rfind("GET /props HTTP/1.1\r\n", 0), 0u);
    // A POST without a body still says so: llama-server (and RFC 9110) want the length.
    EXPECT_NE(upstream_request_head(client_request(http::verb::post), 0, "/x", "h", "").find("Content-Length: 0\r\n"), std::string::npos);
}

TEST(MessageHead, AnUnknownMethodIsSentAsTheClientSpelledIt) {
    http::request_header<> r;
    r.method_string("PROPFIND");
    EXPECT_EQ(upstream_request_head(r, 0, "/", "h", "").rfind("PROPFIND / HTTP/1.1\r\n", 0), 0u);
}

TEST(MessageHead, ChunkSizeLinesAreHexadecimal) {
    char line[20];
    EXPECT_EQ(chunk_size_line(1, line), "1\r\n");
    EXPECT_EQ(chunk_size_line(0x1ec, line), "1ec\r\n");
    EXPECT_EQ(chunk_size_line(16 * 1024, line), "4000\r\n");
    EXPECT_EQ(chunk_size_line(SIZE_MAX, line), "ffffffffffffffff\r\n");
}

TEST(MessageHead, IsNameAgreesWithBeastsIequalsForEveryByte) {
    EXPECT_TRUE(is_name("Content-Length", "content-length"));
    EXPECT_TRUE(is_name("CONTENT-LENGTH", "content-length"));
    EXPECT_FALSE(is_name("Content_Length", "content-length"));
    EXPECT_FALSE(is_name("Content-Lengt", "content-length"));
    // Every byte against every character a lowercase name holds. (Each in a buffer with a byte
    // to spare: Beast 1.81's iequals reads one past both ends when the last characters differ in
    // case only.)
    for (int c = 0; c < 256; ++c) {
        for (const char lower : std::string_view("abcdefghijklmnopqrstuvwxyz0123456789-")) {
            const char name[] = {static_cast<char>(c), '\0'};
            const char wanted[] = {lower, '\0'};
            const std::string_view one(name, 1), expected(wanted, 1);
            EXPECT_EQ(is_name(one, expected), boost::beast::iequals(one, expected)) << c << " " << lower;
        }
    }
}

TEST(MessageHead, HopByHopNamesAreKnownInAnyCase) {
    for (const std::string_view name :
         {"Connection", "KEEP-ALIVE", "te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authenticate", "proxy-authorization",
          "Proxy-Connection", "Content-Length", "Host", "Expect", "Authorization", "X-API-Key"}) {
        EXPECT_TRUE(hop_by_hop(name)) << name;
    }
    for (const std::string_view name : {"Content-Type", "Server", "X-Request-Id", "Tee", "Hosts", "Keep-Alive2", ""}) {
        EXPECT_FALSE(hop_by_hop(name)) << name;
    }
}

}  // namespace
}  // namespace corral::proxy
