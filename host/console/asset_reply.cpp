#include "console/asset_reply.hpp"

#include <cctype>

namespace corral::console {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
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

// A q parameter of 0 (q=0, q=0.0, q=0.000) refuses the coding.
bool refused(std::string_view params) {
    while (!params.empty()) {
        const auto semi = params.find(';');
        auto param = trim(params.substr(0, semi));
        if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
            auto value = param.substr(2);
            return !value.empty() && value.find_first_not_of("0.") == std::string_view::npos;
        }
        if (semi == std::string_view::npos) break;
        params.remove_prefix(semi + 1);
    }
    return false;
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
    bool gzip = false;
    bool star = false;
    bool gzip_named = false;
    for_each_item(accept_encoding, [&](std::string_view item) {
        const auto semi = item.find(';');
        const auto coding = trim(item.substr(0, semi));
        const bool ok = semi == std::string_view::npos || !refused(item.substr(semi + 1));
        if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
            gzip_named = true;
            gzip = ok;
        } else if (coding == "*") {
            star = ok;
        }
    });
    return gzip_named ? gzip : star;
}

AssetReply reply_for(const ConsoleAsset& asset, std::string_view if_none_match, std::string_view accept_encoding) {
    AssetReply reply;
    const bool gzip = asset.gzip_body.size() < asset.body.size() && accepts_gzip(accept_encoding);
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
    if (asset.gzip_body.size() < asset.body.size()) reply.headers.emplace_back("Vary", "Accept-Encoding");
    if (!if_none_match.empty() && etag_matches(if_none_match, etag)) {
        reply.status = 304;
        return reply;
    }
    if (gzip) reply.headers.emplace_back("Content-Encoding", "gzip");
    reply.body = gzip ? asset.gzip_body : asset.body;
    return reply;
}

}  // namespace corral::console
