// A plain synchronous HTTP/1.1 client for tests (Boost.Beast), with SSE event splitting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace corral::test {

struct HttpResult {
    int status = 0;
    std::string content_type;
    std::string body;  // chunked bodies are decoded
};

// Throws boost::system::system_error when the connection fails or is reset.
HttpResult http_request(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = "");

// Parses "http://host:port" into its parts for http_request.
void split_endpoint(const std::string& endpoint, std::string& host, uint16_t& port);

// The "data: ..." payloads of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body);

}  // namespace corral::test
