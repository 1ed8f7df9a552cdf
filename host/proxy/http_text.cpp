#include "proxy/http_text.hpp"

#include "percent_escape.hpp"

#include <algorithm>
#include <cctype>
#include <string>

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

boost::json::value openai_error(const std::string& message, const std::string& type, const std::string& code) {
    // Messages quote what clients sent (model names, paths): the body must stay valid UTF-8 JSON.
    return {{"error",
             {{"message", to_valid_utf8(message)},
              {"type", type},
              {"code", code.empty() ? boost::json::value(nullptr) : boost::json::value(to_valid_utf8(code))}}}};
}

std::string url_encode(std::string_view segment) {
    return plugin_common::percent_escape(
        segment, [](unsigned char c, bool) { return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'; });
}

std::optional<std::string> url_decode(std::string_view text) {
    std::string spaced(text);
    std::replace(spaced.begin(), spaced.end(), '+', ' ');  // a query's '+' is a space; "%2B" stays a '+'
    auto out = plugin_common::percent_unescape(spaced);
    if (!out || !valid_utf8(*out)) return std::nullopt;  // no name corral knows is anything but UTF-8
    return out;
}

}  // namespace corral::proxy
