// A plain synchronous HTTP/1.1 client for tests (Boost.Beast), with SSE event splitting.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace corral::test {

struct HttpResult {
    int status = 0;
    std::string content_type;
    std::string body;                            // chunked bodies are decoded
    std::map<std::string, std::string> headers;  // names in lower case
};

using Headers = std::map<std::string, std::string>;

// `host` is an IP address, or with port 0 a Unix socket's path (split_endpoint's form of a
// "unix:///path" endpoint). Throws boost::system::system_error when the connection fails or is reset.
HttpResult http_request(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = "", const Headers& headers = {});

// A response read piece by piece as it arrives (SSE, log follow), which the test may abandon.
class HttpStream {
public:
    // Sends the request and reads the response header. Throws on connection errors.
    HttpStream(const std::string& host, uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
               const Headers& headers = {});
    int status() const;
    // The next piece of body (chunk framing removed); nullopt at the end of the body, when the
    // connection breaks, or after `timeout` without data.
    std::optional<std::string> next(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Reads until `needle` appears in everything read so far (true) or the stream ends (false).
    bool read_until(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    const std::string& received() const { return received_; }
    bool broken() const { return broken_; }  // ended by an error rather than a complete body
    void close();

private:
    boost::asio::io_context io_;
    boost::asio::generic::stream_protocol::socket socket_{io_};
    boost::beast::flat_buffer buffer_;
    boost::beast::http::response_parser<boost::beast::http::buffer_body> parser_;
    std::string received_;
    bool broken_ = false;
};

// Parses "http://host:port" into its parts for http_request; "unix:///path" into the path and port 0.
void split_endpoint(const std::string& endpoint, std::string& host, uint16_t& port);

// The "data: ..." payloads of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body);

}  // namespace corral::test
