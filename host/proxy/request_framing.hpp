// RFC 9112 6.1 and 6.3: a request's body is framed by Content-Length or by a final "chunked"
// coding, never both. Codings corral cannot undo, or a Transfer-Encoding that does not end in
// chunked, would make corral and the server disagree on where the body ends (request smuggling).
#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/fields.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace corral::proxy {

// Why the request's framing is refused (a 400 that closes the connection), or nullopt.
inline std::optional<std::string> framing_error(const boost::beast::http::fields& header) {
    namespace http = boost::beast::http;
    auto te = header.find(http::field::transfer_encoding);
    if (te == header.end()) return std::nullopt;
    std::string_view value(te->value().data(), te->value().size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!boost::beast::iequals(value, "chunked"))
        return "Transfer-Encoding \"" + std::string(value) + "\" is not supported (only \"chunked\").";
    if (header.count(http::field::transfer_encoding) > 1) return "Transfer-Encoding is repeated.";
    if (header.find(http::field::content_length) != header.end()) return "A request cannot have both Content-Length and Transfer-Encoding.";
    return std::nullopt;
}

}  // namespace corral::proxy
