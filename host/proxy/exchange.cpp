#include "proxy/exchange.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/json/serialize.hpp>

namespace corral::proxy {
namespace {

// The length of the well-formed UTF-8 sequence at `i` (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    }
    return n;
}

}  // namespace

bool valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto n = utf8_sequence(text, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string to_valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const auto n = utf8_sequence(text, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            ++i;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::string_view Exchange::path() const {
    std::string_view target(request.target().data(), request.target().size());
    return target.substr(0, target.find('?'));
}

std::optional<std::string> Exchange::query(std::string_view name) const {
    std::string_view target(request.target().data(), request.target().size());
    auto q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) return url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return std::nullopt;
}

boost::asio::awaitable<void> Exchange::write(http::response<http::string_body> response) {
    status = response.result_int();
    response.version(11);
    response.keep_alive(keep_alive && request.keep_alive());
    if (!response.keep_alive()) keep_alive = false;
    response.set(http::field::server, "corral");
    for (const auto& [name, value] : extra_headers) response.set(name, value);
    response.prepare_payload();
    if (head()) {
        // RFC 9110 9.3.2: the same header as GET, never a body.
        http::response_serializer<http::string_body> sr(response);
        arm_write();
        co_await http::async_write_header(stream, sr, boost::asio::use_awaitable);
        co_return;
    }
    arm_write();
    co_await http::async_write(stream, response, boost::asio::use_awaitable);
}

boost::asio::awaitable<void> Exchange::write_json(http::status s, const boost::json::value& body) {
    http::response<http::string_body> response{s, 11};
    response.set(http::field::content_type, "application/json; charset=utf-8");
    response.body() = boost::json::serialize(body);
    co_await write(std::move(response));
}

boost::asio::awaitable<void> Exchange::write_text(http::status s, std::string body, std::string content_type) {
    http::response<http::string_body> response{s, 11};
    response.set(http::field::content_type, content_type);
    response.body() = std::move(body);
    co_await write(std::move(response));
}

boost::asio::awaitable<void> Exchange::write_stream_header(const char* content_type, bool may_keep_alive) {
    http::response<http::empty_body> header{http::status::ok, 11};
    header.set(http::field::server, "corral");
    header.set(http::field::content_type, content_type);
    header.set(http::field::cache_control, "no-cache");
    for (const auto& [name, value] : extra_headers) header.set(name, value);
    header.chunked(true);
    header.keep_alive(may_keep_alive && keep_alive && request.keep_alive());
    keep_alive = header.keep_alive();
    status = 200;
    http::response_serializer<http::empty_body> sr(header);
    arm_write();
    co_await http::async_write_header(stream, sr, boost::asio::use_awaitable);
}

boost::asio::awaitable<void> Exchange::write_chunk(std::string_view data) {
    if (data.empty()) co_return;
    arm_write();
    co_await boost::asio::async_write(stream, http::make_chunk(boost::asio::const_buffer(data.data(), data.size())),
                                      boost::asio::use_awaitable);
}

boost::asio::awaitable<void> Exchange::write_last_chunk() {
    arm_write();
    co_await boost::asio::async_write(stream, http::make_chunk_last(), boost::asio::use_awaitable);
}

boost::asio::awaitable<void> Exchange::write_error(int s, const std::string& message, const std::string& type, const std::string& code,
                                                   std::optional<int> retry_after) {
    http::response<http::string_body> response{static_cast<http::status>(s), 11};
    response.set(http::field::content_type, "application/json; charset=utf-8");
    if (retry_after) response.set(http::field::retry_after, std::to_string(*retry_after));
    if (s == 401) response.set(http::field::www_authenticate, "Bearer");
    response.body() = boost::json::serialize(openai_error(message, type, code));
    co_await write(std::move(response));
}

boost::json::value openai_error(const std::string& message, const std::string& type, const std::string& code) {
    // Messages quote what clients sent (model names, paths): the body must stay valid UTF-8 JSON.
    return {{"error",
             {{"message", to_valid_utf8(message)},
              {"type", type},
              {"code", code.empty() ? boost::json::value(nullptr) : boost::json::value(to_valid_utf8(code))}}}};
}

std::optional<std::string> url_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(text[i + 2])))
                return std::nullopt;
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += c;
        }
    }
    if (!valid_utf8(out)) return std::nullopt;  // no name corral knows is anything but UTF-8
    return out;
}

}  // namespace corral::proxy
