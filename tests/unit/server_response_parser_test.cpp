// A model server's response as the relay parses it: the client's head written as the fields
// come (byte for byte, read back with Beast's own parser where framing matters), the facts the
// relay decides on, and the body into the relay's buffer, piece by piece. The fast path against
// Beast's parser: the shapes it takes and the ones it leaves, and a differential run over
// generated and mangled responses that holds it to reading what it takes exactly as Beast does.
#include "proxy/server_response_parser.hpp"
#include "response_reading.hpp"

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::string_view_literals;
using test::beast_read;
using test::read;

// Reads `text` whole and expects no error; returns the body.
std::string parse(ServerResponseParser& parser, std::string_view text, std::size_t piece = 64) {
    const auto result = read(parser, text, piece);
    EXPECT_FALSE(result.ec) << result.ec.message();
    return result.body;
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
    ServerResponseParser with_cors(cors, false);
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
    ServerResponseParser plain(none, false);
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
    ServerResponseParser parser(none, false);
    parse(parser,
          "HTTP/1.1 200 OK\r\nX-Before: 1\r\nx-after: 2\r\nX-Kept: 3\r\nConnection: x-before\r\nConnection: X-AFTER\r\n"
          "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(parser.client_head(), "HTTP/1.1 200 OK\r\nX-Kept: 3\r\n");
}

TEST(ServerResponseParser, TheStatusLineUsesTheStandardReasonAndBeastReadsTheHeaderBack) {
    const HeaderList none;
    ServerResponseParser parser(none, false);
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
    ServerResponseParser parser(none, false);
    parse(parser, "HTTP/1.1 299 Mostly Fine\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(parser.client_head(), "HTTP/1.1 299 Mostly Fine\r\n");
}

TEST(ServerResponseParser, OnlyTheFirstContentTypeSaysWhetherTheBodyIsAnEventStream) {
    const HeaderList none;
    ServerResponseParser json(none, false);
    parse(json, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n");
    EXPECT_FALSE(json.event_stream());
    ServerResponseParser sse(none, false);
    parse(sse, "HTTP/1.1 200 OK\r\ncontent-type: TEXT/EVENT-STREAM; charset=utf-8\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(sse.event_stream());
    ServerResponseParser short_type(none, false);
    parse(short_type, "HTTP/1.1 200 OK\r\nContent-Type: text\r\nContent-Length: 0\r\n\r\n");
    EXPECT_FALSE(short_type.event_stream());
}

TEST(ServerResponseParser, TheBodyGoesIntoTheRelaysBufferAPieceAtATime) {
    const HeaderList none;
    ServerResponseParser sized(none, false);
    EXPECT_EQ(parse(sized, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 4), "hello world");
    EXPECT_TRUE(sized.is_done());
    ServerResponseParser chunked(none, false);
    EXPECT_EQ(parse(chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", 3),
              "hello world");
    EXPECT_TRUE(chunked.is_done());
    EXPECT_TRUE(chunked.chunked());
    EXPECT_EQ(chunked.client_head(), "HTTP/1.1 200 OK\r\n");  // framing is the relay's to write
}

// A streamed response whose header has been read, its body read into a piece at a time.
class StreamedBody {
public:
    explicit StreamedBody(std::string_view chunks) : parser_(none_, false) {
        const std::string text =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(chunks);
        std::memcpy(buffer_.prepare(text.size()).data(), text.data(), text.size());
        buffer_.commit(text.size());
        boost::system::error_code ec;
        parser_.read_header(buffer_, {}, ec);
        EXPECT_FALSE(ec) << ec.message();
    }
    // One read_body into a fresh piece, with the connection's last read ended by `ended`: the piece.
    std::string read(boost::system::error_code& ec, const boost::system::error_code& ended = {}) {
        parser_.body_into(piece_);
        parser_.read_body(buffer_, ended, ec);
        return std::string(piece_.data(), parser_.body_filled());
    }
    bool done() const { return parser_.is_done(); }

private:
    const HeaderList none_;
    ServerResponseParser parser_;
    boost::beast::flat_buffer buffer_;
    std::array<char, 64> piece_{};
};

// llama-server streams a token per chunk; what one read brought leaves in one write to the client.
TEST(ServerResponseParser, ChunksThatCameTogetherGoIntoOnePieceAndAnErrorAfterThemComesNext) {
    boost::system::error_code ec;
    StreamedBody whole("9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n9\r\ndata: c\n\n\r\n0\r\n\r\n");
    EXPECT_EQ(whole.read(ec), "data: a\n\ndata: b\n\ndata: c\n\n");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(whole.done());

    // Two chunks and the start of a third: both, and what there is of the third; then a wait.
    StreamedBody cut("9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n9\r\ndat");
    EXPECT_EQ(cut.read(ec), "data: a\n\ndata: b\n\ndat");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(cut.read(ec), "");
    EXPECT_EQ(ec, asio::error::would_block);
    // The server is gone before the rest: the error, with nothing more to relay.
    EXPECT_EQ(cut.read(ec, asio::error::eof), "");
    EXPECT_EQ(ec, http::error::partial_message);
    EXPECT_FALSE(cut.done());

    // The bytes and the end in one read: the bytes first, the error on the next call.
    StreamedBody ended("9\r\ndata: a\n\n\r\n9\r\ndat");
    EXPECT_EQ(ended.read(ec, asio::error::eof), "data: a\n\ndat");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(ended.read(ec, asio::error::eof), "");
    EXPECT_EQ(ec, http::error::partial_message);
}

TEST(ServerResponseParser, WithoutABufferTheBodyWaits) {
    const HeaderList none;
    for (const std::string_view text : {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",                                // the fast path
                                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"}) {  // Beast
        ServerResponseParser parser(none, false);
        boost::beast::flat_buffer buffer;
        std::memcpy(buffer.prepare(text.size()).data(), text.data(), text.size());
        buffer.commit(text.size());
        boost::system::error_code ec;
        parser.read_header(buffer, {}, ec);
        ASSERT_FALSE(ec) << ec.message();
        for (int step = 0; step < 3 && ec != http::error::need_buffer; ++step)
            parser.read_body(buffer, {}, ec);  // Beast: past the chunk's size line first
        EXPECT_EQ(ec, http::error::need_buffer) << text;
        EXPECT_EQ(parser.body_filled(), 0u);
        EXPECT_FALSE(parser.is_done());
        std::array<char, 8> body{};
        parser.body_into(body);
        parser.read_body(buffer, {}, ec);
        EXPECT_EQ(std::string_view(body.data(), parser.body_filled()), "hi");
    }
}

TEST(ServerResponseParser, TheFastPathReadsTheCommonShapeAndLeavesTheRestToBeast) {
    const HeaderList none;
    // llama-server's answer, as it comes: read without Beast, its hop-by-hop and CORS fields dropped.
    ServerResponseParser common(none, false);
    EXPECT_EQ(parse(common,
                    "HTTP/1.1 200 OK\r\nServer: llama.cpp\r\nAccess-Control-Allow-Origin: \r\n"
                    "Content-Type: application/json; charset=utf-8\r\nContent-Length: 11\r\nKeep-Alive: timeout=5, max=100\r\n\r\n"
                    "{\"ok\":true}"),
              "{\"ok\":true}");
    EXPECT_FALSE(common.general());
    EXPECT_EQ(common.client_head(), "HTTP/1.1 200 OK\r\nServer: llama.cpp\r\nContent-Type: application/json; charset=utf-8\r\n");
    EXPECT_EQ(common.content_length(), 11u);
    EXPECT_TRUE(common.keep_alive());
    EXPECT_FALSE(common.chunked());
    EXPECT_FALSE(common.event_stream());
    ServerResponseParser old(none, false);
    parse(old, "HTTP/1.0 503 Busy\r\ncontent-length:  0 \r\nX-Trailing:  spaced\t \r\n\r\n");
    EXPECT_FALSE(old.general());
    EXPECT_FALSE(old.keep_alive());  // 1.0 without Connection: keep-alive
    EXPECT_EQ(old.client_head(), "HTTP/1.1 503 Service Unavailable\r\nX-Trailing: spaced\r\n");
    EXPECT_TRUE(old.is_done());

    // Each of these is Beast's to read (and each is read right).
    const std::string_view to_beast[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nX-Latin: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\n\r\nhi",  // a body until the connection ends
        "HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi",
    };
    for (const auto text : to_beast) {
        ServerResponseParser parser(none, false);
        const auto result = read(parser, text);
        EXPECT_FALSE(result.ec) << text << ": " << result.ec.message();
        EXPECT_TRUE(parser.general()) << text;
        EXPECT_TRUE(parser.is_done()) << text;
        EXPECT_EQ(result.body, parser.status() == 204 ? "" : "hi") << text;
    }
    // A response to HEAD: no body whatever its Content-Length says (Beast's skip).
    ServerResponseParser head(none, true);
    EXPECT_EQ(parse(head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), "");
    EXPECT_TRUE(head.general());
    EXPECT_TRUE(head.is_done());
    EXPECT_EQ(head.content_length(), 5u);
}

TEST(ServerResponseParser, AHeaderThatComesInPiecesIsReadWhenItIsWhole) {
    const HeaderList none;
    constexpr std::string_view text = "HTTP/1.1 200 OK\r\nServer: llama.cpp\r\nContent-Length: 5\r\nX-Id: 7\r\n\r\nhello";
    constexpr std::size_t header = text.size() - 5;
    for (std::size_t feed = 1; feed <= text.size(); ++feed) {
        ServerResponseParser parser(none, false);
        const auto result = read(parser, text, 3, feed);
        EXPECT_FALSE(result.ec) << feed << ": " << result.ec.message();
        // The fast path scans from the first byte at each read: a header that needs more than four
        // reads is left to Beast (which resumes where it stopped), read the same.
        EXPECT_EQ(parser.general(), (header + feed - 1) / feed > 4) << feed;
        EXPECT_EQ(result.body, "hello") << feed;
        EXPECT_EQ(parser.client_head(), "HTTP/1.1 200 OK\r\nServer: llama.cpp\r\nX-Id: 7\r\n") << feed;
    }
}

TEST(ServerResponseParser, AConnectionThatEndsEarlyIsReportedAsBeastReportsIt) {
    const HeaderList none;
    const auto ended_with = [&](std::string_view text) {
        ServerResponseParser parser(none, false);
        return read(parser, text).ec;
    };
    EXPECT_EQ(ended_with(""), http::error::end_of_stream);  // nothing at all: a pooled connection the server closed
    EXPECT_EQ(ended_with("HTTP/1.1 200 OK\r\nContent-Le"), http::error::partial_message);
    EXPECT_EQ(ended_with("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"), http::error::partial_message);
    // A reset mid-body is the reset.
    ServerResponseParser parser(none, false);
    boost::beast::flat_buffer buffer;
    constexpr std::string_view text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
    std::memcpy(buffer.prepare(text.size()).data(), text.data(), text.size());
    buffer.commit(text.size());
    boost::system::error_code ec;
    parser.read_header(buffer, {}, ec);
    ASSERT_FALSE(ec);
    std::array<char, 16> body{};
    parser.body_into(body);
    parser.read_body(buffer, asio::error::connection_reset, ec);
    EXPECT_FALSE(ec);  // what was buffered first
    EXPECT_EQ(parser.body_filled(), 3u);
    parser.read_body(buffer, asio::error::connection_reset, ec);
    EXPECT_EQ(ec, asio::error::connection_reset);
}

// Responses from pieces that vary every part the fast path decides on, some of them then mangled
// a byte or two; each read both ways. Whatever the fast path takes, it must read as Beast does.
TEST(ServerResponseParser, TheFastPathReadsWhatItTakesExactlyAsBeastDoes) {
    const std::string_view versions[] = {"HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTX/1.1", "http/1.1"};
    const std::string_view statuses[] = {"200", "200", "201", "404", "429", "500", "503", "599",
                                         "204", "304", "100", "101", "299", "600", "099", "2x0"};
    const std::string_view reasons[] = {" OK",          " OK",         " Fine Enough, Thank You",      " ", "", " tab\there", " odd\x01",
                                        " caf\xc3\xa9", " trailing  ", " long reason with a\x7f in it"};
    const std::string_view fields[] = {
        "Server: llama.cpp",
        "X-Long: The quick brown fox jumps over the lazy dog",
        "Access-Control-Allow-Origin: ",
        "Access-Control-Allow-Origin: *",
        "Content-Type: application/json; charset=utf-8",
        "content-type: Text/Event-Stream",
        "Content-Type: text/event-stream",
        "Keep-Alive: timeout=5, max=100",
        "X-Request-Id:  r-17 \t",
        "X-Empty:",
        "Vary: Origin",
        "Authorization: Bearer nope",
        "X-Api-Key: secret",
        "TE: trailers",
        "Trailer: X-Checksum",
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: gzip",
        "Connection: close",
        "Connection: keep-alive",
        "Connection: x-request-id",
        "Proxy-Connection: close",
        "Upgrade: h2c",
        "Bad Name: x",
        "Bad(name): x",
        ": empty name",
        "X-Ctl: a\x7f",
        "X-Nul: a\x00"
        "b"sv,
        "X-High: \x80",
        "X-Fold: a\r\n  folded",
        "X-Bare-LF: a\nX-Next: b",
        "X-CR: a\rb",
        "X-Long: abcdefghijklmnop\x7fqrstuvwxyz",
        "X-Long: abcdefghij\x80klmnopqrstuvwxyz",
        "X-Long: abcdefgh\tijklmnopqrstuvwxyz",
        "X-Long: abcdefghijklmnopqrstuvw\x01xyz",
        "X-Long: abcdefghijklmnopqrstuvwxyz   \t",
    };
    const std::string_view lengths[] = {"", "", "5", "05", " 5 ", "5, 5", "5,6", "x", "-5", "+5", "", "3", "9", "18446744073709551616",
                                        "0"};
    std::mt19937 rng(20261204);
    const auto pick = [&rng](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    const HeaderList corral_sets[] = {{}, {{"Vary", "Origin"}, {"Access-Control-Allow-Origin", "https://app.example"}}};

    std::size_t fast = 0, fast_whole = 0, general = 0, beast_errors = 0;
    for (int round = 0; round < 6000; ++round) {
        // Half the responses from the first few choices of each list (the shapes the fast path
        // takes), half from all of them.
        const bool plain = round % 2 == 0;
        const auto choose = [&](const auto& list, std::size_t plain_choices) {
            return list[pick(plain ? plain_choices : std::size(list))];
        };
        std::string text;
        text.append(choose(versions, 3)).append(" ").append(choose(statuses, 8));
        text.append(choose(reasons, 5)).append("\r\n");
        const std::size_t field_count = pick(6);
        for (std::size_t i = 0; i < field_count; ++i) text.append(choose(fields, 15)).append("\r\n");
        for (std::size_t i = 0, n = plain ? 1 : pick(3); i < n; ++i) {
            const auto length = plain ? lengths[2 + pick(3)] : lengths[pick(std::size(lengths))];
            if (!length.empty()) text.append("Content-Length:").append(length).append("\r\n");
        }
        text.append("\r\n");
        const bool chunked_body = pick(6) == 0;
        text.append(chunked_body ? "5\r\nhello\r\n0\r\n\r\n" : std::string_view("hello").substr(0, pick(3) == 0 ? pick(6) : 5));
        if (pick(3) == 0) {  // mangle a byte or two
            for (std::size_t i = 0, n = 1 + pick(2); i < n && !text.empty(); ++i) {
                const std::size_t at = pick(text.size());
                static constexpr std::string_view kBytes =
                    " \t\r\n:,0\x00\x7f\x80"
                    "aZ"sv;
                switch (pick(3)) {
                    case 0:
                        text[at] = kBytes[pick(kBytes.size())];
                        break;
                    case 1:
                        text.insert(at, 1, kBytes[pick(kBytes.size())]);
                        break;
                    default:
                        text.erase(at, 1);
                        break;
                }
            }
        }
        const auto& sets = corral_sets[pick(std::size(corral_sets))];
        const auto expected = beast_read(sets, text);
        if (expected.ec) ++beast_errors;
        ServerResponseParser parser(sets, false);
        // Bytes a few at a time (Beast's to read once the header takes more than four reads) or in
        // pieces of up to a few hundred.
        const auto got = read(parser, text, 7, pick(4) == 0 ? 1 + pick(40) : 32 + pick(300));
        if (parser.general()) {
            ++general;
            continue;
        }
        ++fast;
        if (!got.ec) ++fast_whole;
        const auto different = test::difference(parser, got, expected);
        ASSERT_FALSE(different) << *different << "\nin " << ::testing::PrintToString(text);
    }
    // The run means something only if both ways and Beast's refusals all came up often (this
    // seed: 1,595 fast, 1,211 of them whole, 4,405 Beast's, 4,259 Beast errors).
    EXPECT_GT(fast, 1000u);
    EXPECT_GT(fast_whole, 1000u);
    EXPECT_GT(general, 2000u);
    EXPECT_GT(beast_errors, 2000u);
}

}  // namespace
}  // namespace corral::proxy
