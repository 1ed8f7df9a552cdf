#include "console/console_routes.hpp"

#include "console/asset_reply.hpp"
#include "console/console_assets.hpp"

namespace corral::console {
namespace {

namespace http = boost::beast::http;

boost::asio::awaitable<void> redirect(proxy::Exchange& ex, http::status status, const char* location) {
    http::response<http::string_body> response{status, 11};
    response.set(http::field::location, location);
    response.set(http::field::cache_control, "no-store");
    co_await ex.write(std::move(response));
}

}  // namespace

bool wants_html(const proxy::Request& request) {
    const auto method = request.method();
    return (method == http::verb::get || method == http::verb::head) &&
           request[http::field::accept].find("text/html") != boost::beast::string_view::npos;
}

boost::asio::awaitable<void> redirect_to_console(proxy::Exchange& ex) {
    co_await redirect(ex, http::status::found, "/ui/");
}

boost::asio::awaitable<void> serve_console(proxy::Exchange& ex) {
    const std::string_view path = ex.path();
    if (path == "/ui") {  // relative links in the page resolve against /ui/
        co_await redirect(ex, http::status::moved_permanently, "/ui/");
        co_return;
    }
    const auto* asset = find_console_asset(path.substr(3));
    if (!asset) {
        co_await ex.write_error(404, "No console file " + std::string(path) + ".", "invalid_request_error", "not_found");
        co_return;
    }
    auto reply = reply_for(*asset, ex.request[http::field::if_none_match], ex.request[http::field::accept_encoding]);
    http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    response.body().assign(reply.body.data(), reply.body.size());
    co_await ex.write(std::move(response));
}

}  // namespace corral::console
