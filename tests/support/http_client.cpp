#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <stdexcept>

namespace corral::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

HttpResult http_request(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body) {
    asio::io_context ioc;
    asio::ip::tcp::socket socket(ioc);
    socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address(host), port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host);
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    req.prepare_payload();
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket, buffer, parser);
    HttpResult result;
    result.status = static_cast<int>(parser.get().result_int());
    result.content_type = std::string(parser.get()[http::field::content_type]);
    result.body = parser.get().body();
    boost::system::error_code ec;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return result;
}

void split_endpoint(const std::string& endpoint, std::string& host, uint16_t& port) {
    auto rest = endpoint.substr(endpoint.find("://") + 3);
    auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    port = static_cast<uint16_t>(std::stoi(rest.substr(colon + 1)));
}

std::vector<std::string> sse_data(const std::string& body) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        auto end = body.find("\n\n", pos);
        if (end == std::string::npos) end = body.size();
        auto event = body.substr(pos, end - pos);
        if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
        pos = end + 2;
    }
    return out;
}

}  // namespace corral::test
