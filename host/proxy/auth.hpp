// API keys: clients send `Authorization: Bearer KEY` or `x-api-key: KEY`. The proxy checks
// "api_keys"; the admin API and /metrics check "admin_api_key" (or, without one, "api_keys").
#pragma once

#include "config/config.hpp"
#include "proxy/exchange.hpp"
#include "proxy/route_table.hpp"

#include <string>
#include <vector>

namespace corral::proxy {

class Auth {
public:
    explicit Auth(const config::Config& config) : api_keys_(config.api_keys), admin_key_(config.admin_api_key) {}

    bool allowed(const Request& request, Access access) const;

private:
    std::vector<std::string> api_keys_;
    std::optional<std::string> admin_key_;
};

// The key a request presents ("" when none).
std::string presented_key(const Request& request);

}  // namespace corral::proxy
