// An HTTP/1.1 connection for tests that must control the bytes: pipelining, Expect/100-continue,
// HEAD on a kept-alive connection, hostile framing. Every read has a deadline.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace corral::test {

struct RawResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    bool chunked = false;
    bool keep_alive = true;
};

class RawHttp {
public:
    RawHttp(const std::string& host, uint16_t port);

    // Writes the bytes as they are.
    void send(const std::string& bytes);
    // The next response (interim 1xx ones included); `head`: it answers a HEAD request (no body,
    // whatever its Content-Length). nullopt when the connection closed, broke or timed out first.
    std::optional<RawResponse> read(bool head = false, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Whether the peer closes the connection (EOF or reset) within `timeout` with nothing more sent.
    bool closes(std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
    // Runs the pending operation; false (and cancelled) when it did not complete within `timeout`.
    bool complete_within(std::chrono::milliseconds timeout);

    boost::asio::io_context io_;
    boost::asio::ip::tcp::socket socket_{io_};
    boost::beast::flat_buffer buffer_;
};

}  // namespace corral::test
