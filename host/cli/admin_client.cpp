#include "cli/admin_client.hpp"

#include "config/config_loader.hpp"
#include "http_health.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <array>
#include <cstdlib>

namespace corral::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

bool parse_url(const std::string& url, AdminTarget& target) {
    auto endpoint = plugin_common::parse_http_endpoint(url);
    if (!endpoint) return false;
    target.host = endpoint->host;
    target.port = endpoint->port;
    return true;
}

struct Connection {
    asio::io_context io;
    beast::tcp_stream stream{io};
};

void connect(Connection& c, const AdminTarget& target) {
    asio::ip::tcp::resolver resolver(c.io);
    try {
        c.stream.connect(resolver.resolve(target.host, std::to_string(target.port)));
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot reach corral at " + target.url() + ": " + e.code().message() + " (is 'corral serve' running?)");
    }
}

http::request<http::empty_body> make_request(const AdminTarget& target, const std::string& method, const std::string& path,
                                             const std::string& accept) {
    http::request<http::empty_body> req{http::string_to_verb(method), path, 11};
    req.set(http::field::host, target.host + ":" + std::to_string(target.port));
    req.set(http::field::user_agent, "corral-cli");
    if (!accept.empty()) req.set(http::field::accept, accept);
    if (!target.api_key.empty()) req.set(http::field::authorization, "Bearer " + target.api_key);
    req.keep_alive(false);
    req.prepare_payload();
    return req;
}

}  // namespace

std::string AdminTarget::url() const {
    return plugin_common::format_http_endpoint(host, port);
}

std::vector<OptionSpec> admin_client_options() {
    return {
        {"url", "URL", "Address of the running 'corral serve' (default: the --config listen address, $CORRAL_URL, http://127.0.0.1:8080)"},
        {"config", "FILE", "Read the address and admin_api_key from this config file"},
        {"api-key", "KEY", "Admin API key (default: $CORRAL_API_KEY, or the config's admin_api_key)"}};
}

AdminTarget resolve_admin_target(const ParsedArgs& args) {
    AdminTarget target;
    std::optional<std::string> config_key;
    if (auto file = args.value("config")) {
        auto loaded = config::load_config_file(*file);
        if (!loaded.config) throw UsageError(*file + " is not a valid config (see 'corral config check " + *file + "')");
        target.host = loaded.config->listen.host == "0.0.0.0" ? "127.0.0.1"
                      : loaded.config->listen.host == "::"    ? "::1"
                                                              : loaded.config->listen.host;
        target.port = loaded.config->listen.port;
        if (loaded.config->admin_api_key) {
            config_key = loaded.config->admin_api_key;
        } else {
            // Without an admin key, a key that may use the admin API.
            for (const auto& k : loaded.config->api_keys) {
                if (k.admin) {
                    config_key = k.key;
                    break;
                }
            }
        }
    } else if (const char* env = std::getenv("CORRAL_URL"); env && *env && !args.value("url")) {
        if (!parse_url(env, target)) throw UsageError(std::string("$CORRAL_URL is not an http://host:port URL: ") + env);
    }
    if (auto url = args.value("url")) {
        if (!parse_url(*url, target)) throw UsageError("--url expects http://host:port, got \"" + *url + "\"");
    }
    if (auto key = args.value("api-key")) {
        target.api_key = *key;
    } else if (const char* env = std::getenv("CORRAL_API_KEY"); env && *env) {
        target.api_key = env;
    } else if (config_key) {
        target.api_key = *config_key;
    }
    return target;
}

AdminReply admin_request(const AdminTarget& target, const std::string& method, const std::string& path, const std::string& accept) {
    Connection c;
    connect(c, target);
    http::write(c.stream, make_request(target, method, path, accept));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(c.stream, buffer, parser);
    AdminReply reply;
    reply.status = parser.get().result_int();
    reply.content_type = std::string(parser.get()[http::field::content_type]);
    reply.body = std::move(parser.get().body());
    return reply;
}

int admin_stream(const AdminTarget& target, const std::string& method, const std::string& path, const std::string& accept,
                 const std::function<bool(int status, std::string_view data)>& on_data) {
    Connection c;
    connect(c, target);
    http::write(c.stream, make_request(target, method, path, accept));
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    http::read_header(c.stream, buffer, parser);
    std::array<char, 8192> buf;
    while (!parser.is_done()) {
        parser.get().body().data = buf.data();
        parser.get().body().size = buf.size();
        boost::system::error_code ec;
        http::read_some(c.stream, buffer, parser, ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
        std::size_t got = buf.size() - parser.get().body().size;
        if (got && !on_data(parser.get().result_int(), std::string_view(buf.data(), got))) break;
    }
    return parser.get().result_int();
}

std::string error_message(const AdminReply& reply) {
    boost::system::error_code ec;
    auto v = boost::json::parse(reply.body, ec);
    if (!ec && v.is_object()) {
        if (const auto* e = v.get_object().if_contains("error"); e && e->is_object()) {
            if (const auto* m = e->get_object().if_contains("message"); m && m->is_string()) return std::string(m->get_string());
        }
    }
    return reply.body.empty() ? "HTTP " + std::to_string(reply.status) : reply.body;
}

}  // namespace corral::cli
