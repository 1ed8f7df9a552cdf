// libFuzzer target: the request path corral runs on every client's bytes before a model server
// sees them: Beast's request parser (with corral's limits), the framing check (smuggling), the
// route table, the model and stream read from the body, the API key a request presents, query
// decoding, and the error body built from what the client sent (which must always be valid JSON).
#include "proxy/auth.hpp"
#include "proxy/body_fields.hpp"
#include "proxy/http_text.hpp"
#include "proxy/key_policy.hpp"
#include "proxy/request_framing.hpp"
#include "proxy/route_table.hpp"

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

namespace http = boost::beast::http;

// An error object quoting client text must serialize to JSON that parses back (valid UTF-8 included).
void check_error_body(const std::string& quoted) {
    auto body = boost::json::serialize(corral::proxy::openai_error("No route " + quoted, "invalid_request_error", quoted));
    boost::system::error_code ec;
    boost::json::parse(body, ec);
    if (ec) std::abort();
}

// Two scoped keys and an admin key: whatever a request presents, a decision that allows it names
// the entry it matched (or none, for the admin key).
const corral::proxy::Auth& auth() {
    static const corral::proxy::Auth instance = [] {
        corral::config::Config c;
        c.api_keys.push_back({"user-key", "user", {"tiny-*", "?oy"}, false, 2, 60});
        c.api_keys.push_back({"other", "other", {}, true, std::nullopt, std::nullopt});
        c.admin_api_key = "admin-key";
        return corral::proxy::Auth(c);
    }();
    return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    parser.header_limit(64 * 1024);
    parser.eager(true);
    boost::system::error_code ec;
    std::size_t used = 0;
    while (used < size && !parser.is_done()) {
        const auto n = parser.put(boost::asio::buffer(data + used, size - used), ec);
        if (ec || n == 0) break;
        used += n;
    }
    if (!parser.is_header_done()) return 0;
    const auto& request = parser.get();
    (void)corral::proxy::framing_error(request);
    const std::string_view target(request.target().data(), request.target().size());
    const auto route = corral::proxy::route_for(request.method(), target);
    if (route.path_model && !corral::proxy::valid_utf8(*route.path_model)) std::abort();
    const auto presented = corral::proxy::presented_key(request);
    for (auto access : {corral::proxy::Access::Api, corral::proxy::Access::Admin}) {
        const auto decision = auth().check(request, access);
        if (decision.allowed && decision.key && decision.key->key != presented) std::abort();
    }
    if (route.path_model) (void)corral::proxy::glob_match(presented, *route.path_model);
    if (auto q = target.find('?'); q != std::string_view::npos) {
        if (auto decoded = corral::proxy::url_decode(target.substr(q + 1)); decoded && !corral::proxy::valid_utf8(*decoded)) std::abort();
    }
    check_error_body(std::string(target));
    if (parser.is_done()) {
        auto fields = corral::proxy::read_body_fields(request.body());
        if (fields.model) check_error_body(*fields.model);
        if (!fields.error.empty() && fields.model) std::abort();
    }
    return 0;
}
