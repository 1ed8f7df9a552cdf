#include "proxy/cors.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace corral::proxy {

bool Cors::apply(Exchange& ex) const {
    auto origin = ex.request[http::field::origin];
    if (origin.empty() || origins_.empty()) return false;
    bool allowed = false;
    for (const auto& o : origins_) allowed |= o == "*" || boost::beast::iequals(o, origin);
    if (!allowed) return false;
    ex.extra_headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    ex.extra_headers.emplace_back("Vary", "Origin");
    return true;
}

boost::asio::awaitable<void> Cors::preflight(Exchange& ex, bool origin_allowed) const {
    http::response<http::string_body> res{http::status::no_content, 11};
    constexpr const char* kMethods = "GET, HEAD, POST, OPTIONS";
    res.set(http::field::allow, kMethods);
    if (origin_allowed && ex.request.count(http::field::access_control_request_method)) {
        res.set(http::field::access_control_allow_methods, kMethods);
        auto asked = ex.request[http::field::access_control_request_headers];
        res.set(http::field::access_control_allow_headers, asked.empty() ? "Authorization, Content-Type, X-Api-Key" : asked);
        res.set(http::field::access_control_max_age, "600");
    }
    co_await ex.write(std::move(res));
}

}  // namespace corral::proxy
