// How one console file is answered, decided from the request's caching and encoding headers
// alone (no I/O): 304 when the client's copy is current, gzip when the client takes it and it is
// smaller, and the security headers every console response carries.
#pragma once

#include "console/console_assets.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::console {

// The console's Content-Security-Policy: its own files only, no inline script or style, no
// framing; fetch() and the event stream go to this origin only.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct AssetReply {
    int status = 200;       // 200, or 304 (Not Modified, no body)
    std::string_view body;  // empty for 304
    std::vector<std::pair<std::string, std::string>> headers;
};

AssetReply reply_for(const ConsoleAsset& asset, std::string_view if_none_match, std::string_view accept_encoding);

// If-None-Match (RFC 9110 13.1.2): "*", or a list of entity tags compared weakly (W/ ignored).
bool etag_matches(std::string_view if_none_match, std::string_view etag);
// Accept-Encoding lists gzip (or *) without q=0.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace corral::console
