#include "proxy/auth.hpp"

namespace corral::proxy {
namespace {

// Compares without an early exit, so timing does not tell how much of a key matched.
bool same_key(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

bool any_matches(const std::string& key, const std::vector<std::string>& keys) {
    bool found = false;
    for (const auto& k : keys) found |= same_key(key, k);
    return found;
}

}  // namespace

std::string presented_key(const Request& request) {
    auto auth = request[http::field::authorization];
    constexpr std::string_view bearer = "Bearer ";
    // The scheme is case-insensitive (RFC 9110 11.1).
    if (auth.size() > bearer.size() && boost::beast::iequals(std::string_view(auth.data(), bearer.size()), bearer)) {
        return std::string(auth.substr(bearer.size()));
    }
    auto x = request["x-api-key"];
    return std::string(x);
}

bool Auth::allowed(const Request& request, Access access) const {
    switch (access) {
        case Access::Public:
            return true;
        case Access::Api:
            return api_keys_.empty() || any_matches(presented_key(request), api_keys_);
        case Access::Admin:
            if (admin_key_) return same_key(presented_key(request), *admin_key_);
            return api_keys_.empty() || any_matches(presented_key(request), api_keys_);
    }
    return false;
}

}  // namespace corral::proxy
