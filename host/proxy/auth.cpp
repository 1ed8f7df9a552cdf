#include "proxy/auth.hpp"

#include "crypto/sha256.hpp"

#include <openssl/crypto.h>

namespace corral::proxy {
namespace {

// Digests of equal length, compared without an early exit: timing tells neither which key nor how
// much of one matched, nor its length.
crypto::Sha256Digest digest_of(std::string_view key) {
    return crypto::sha256_of(key);
}

}  // namespace

Auth::Auth(const config::Config& config) {
    for (const auto& k : config.api_keys) keys_.push_back({digest_of(k.key), std::make_shared<const config::ApiKey>(k)});
    if (config.admin_api_key) admin_ = digest_of(*config.admin_api_key);
}

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

Auth::Decision Auth::check(const Request& request, Access access) const {
    if (access == Access::Public || (keys_.empty() && !admin_)) return {true, nullptr};  // no keys: open (loopback by default)
    const auto presented = digest_of(presented_key(request));
    std::shared_ptr<const config::ApiKey> matched;
    for (const auto& e : keys_) {
        if (CRYPTO_memcmp(e.digest.data(), presented.data(), presented.size()) == 0) matched = e.key;
    }
    const bool is_admin_key = admin_ && CRYPTO_memcmp(admin_->data(), presented.data(), presented.size()) == 0;
    switch (access) {
        case Access::Public:
            break;
        case Access::Api:
            if (keys_.empty()) return {true, nullptr};
            return {matched != nullptr, matched};
        case Access::Admin:
            if (admin_) return {is_admin_key, nullptr};
            if (keys_.empty()) return {true, nullptr};
            return {matched && matched->admin, matched};
    }
    return {};
}

}  // namespace corral::proxy
