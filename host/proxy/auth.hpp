// API keys: clients send `Authorization: Bearer KEY` or `x-api-key: KEY`. The proxy checks
// "api_keys"; the admin API and /metrics check "admin_api_key" (or, without one, the api_keys that
// may use the admin API: plain strings, and objects with "admin": true). Keys are compared as
// SHA-256 digests in constant time, every configured key each time.
#pragma once

#include "config/config.hpp"
#include "proxy/exchange.hpp"
#include "proxy/route_table.hpp"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace corral::proxy {

class Auth {
public:
    explicit Auth(const config::Config& config);

    struct Decision {
        bool allowed = false;
        std::shared_ptr<const config::ApiKey> key;  // the api_keys entry presented; null: none (no keys, or the admin key)
    };
    Decision check(const Request& request, Access access) const;

private:
    using Digest = std::array<unsigned char, 32>;
    struct Entry {
        Digest digest;
        std::shared_ptr<const config::ApiKey> key;
    };
    std::vector<Entry> keys_;
    std::optional<Digest> admin_;
};

// The key a request presents ("" when none).
std::string presented_key(const Request& request);

}  // namespace corral::proxy
