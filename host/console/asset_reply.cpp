#include "console/asset_reply.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <optional>

namespace corral::console {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Calls f(item) for each comma-separated item, trimmed.
template <class F>
void for_each_item(std::string_view list, F f) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        f(trim(list.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

// A weight of 0 (q=0, q=0.0, q=0.000) refuses a coding.
bool zero_weight(std::string_view q) {
    return !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
}

}  // namespace

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    bool match = false;
    for_each_item(if_none_match, [&](std::string_view tag) {
        if (tag == "*") match = true;
        if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
        if (tag == etag) match = true;
    });
    return match;
}

bool accepts_gzip(std::string_view accept_encoding) {
    // Beast parses the list (codings with parameters); a coding named outright beats "*".
    std::optional<bool> gzip;
    std::optional<bool> any;
    for (const auto& [coding, params] : http::ext_list(beast::string_view(accept_encoding.data(), accept_encoding.size()))) {
        bool accepted = true;
        for (const auto& [name, value] : params) {
            if (beast::iequals(name, "q")) accepted = !zero_weight(std::string_view(value.data(), value.size()));
        }
        if (beast::iequals(coding, "gzip") || beast::iequals(coding, "x-gzip"))
            gzip = accepted;
        else if (coding == "*")
            any = accepted;
    }
    return gzip.value_or(any.value_or(false));
}

AssetReply reply_for(const ConsoleAsset& asset, std::string_view if_none_match, std::string_view accept_encoding) {
    AssetReply reply;
    const bool compressible = asset.gzip_body.size() < asset.body.size();
    const bool gzip = compressible && accepts_gzip(accept_encoding);
    // Each representation has its own strong tag: "hex" as it is, "hex-gzip" compressed.
    std::string etag(asset.etag);
    if (gzip && etag.size() >= 2) etag.insert(etag.size() - 1, "-gzip");
    reply.headers = {
        {"Content-Type", std::string(content_type_for(asset.name))},
        {"ETag", etag},
        // Kept, but asked about again every time: a new corral brings new files under the same names.
        {"Cache-Control", "no-cache"},
        {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
    };
    if (compressible) reply.headers.emplace_back("Vary", "Accept-Encoding");
    if (!if_none_match.empty() && etag_matches(if_none_match, etag)) {
        reply.status = 304;
        return reply;
    }
    if (gzip) reply.headers.emplace_back("Content-Encoding", "gzip");
    reply.body = gzip ? asset.gzip_body : asset.body;
    return reply;
}

}  // namespace corral::console
