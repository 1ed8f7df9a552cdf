#include "cli/admin_client.hpp"

#include "config/config_loader.hpp"
#include "http_health.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <array>
#include <cstdlib>
#include <variant>

namespace corral::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

bool parse_url(const std::string& url, AdminTarget& target) {
    constexpr std::string_view https = "https://";
    const bool tls = url.compare(0, https.size(), https) == 0;
    auto endpoint = plugin_common::parse_http_endpoint(tls ? "http://" + url.substr(https.size()) : url);
    if (!endpoint) return false;
    target.host = endpoint->host;
    target.port = endpoint->port;
    target.tls = tls;
    return true;
}

// One request's connection: plain TCP, or TLS verified against the system's CAs and the target's CA file.
struct Connection {
    asio::io_context io;
    asio::ssl::context tls{asio::ssl::context::tls_client};
    std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream{std::in_place_index<0>, io};

    // Runs `f` with the stream, whichever it is.
    template <class F>
    decltype(auto) with(F&& f) {
        return std::visit(std::forward<F>(f), stream);
    }
};

void connect(Connection& c, const AdminTarget& target) {
    asio::ip::tcp::resolver resolver(c.io);
    try {
        auto endpoints = resolver.resolve(target.host, std::to_string(target.port));
        if (!target.tls) {
            std::get<0>(c.stream).connect(endpoints);
            return;
        }
        c.tls.set_default_verify_paths();
        if (!target.ca_file.empty()) {
            c.tls.load_verify_file(target.ca_file);
            // The file may hold the server's own (leaf) certificate: trust it as it is.
            X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(c.tls.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
        }
        auto& s = c.stream.emplace<1>(c.io, c.tls);
        s.set_verify_mode(asio::ssl::verify_peer);
        boost::system::error_code ec;
        asio::ip::make_address(target.host, ec);
        if (ec) {
            // A name: sent for SNI and checked against the certificate.
            SSL_set_tlsext_host_name(s.native_handle(), target.host.c_str());
            s.set_verify_callback(asio::ssl::host_name_verification(target.host));
        } else {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s.native_handle()), target.host.c_str());
        }
        beast::get_lowest_layer(s).connect(endpoints);
        s.handshake(asio::ssl::stream_base::client);
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
    return plugin_common::format_http_endpoint(host, port, tls);
}

std::vector<OptionSpec> admin_client_options() {
    return {
        {"url", "URL", "Address of the running 'corral serve' (default: the --config listen address, $CORRAL_URL, http://127.0.0.1:8080)"},
        {"config", "FILE", "Read the address and admin_api_key from this config file"},
        {"api-key", "KEY", "Admin API key (default: $CORRAL_API_KEY, or the config's admin_api_key)"},
        {"cacert", "FILE", "Trust this PEM certificate for an https URL (default: the system's CAs, and the config's tls.cert)"}};
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
        if (loaded.config->tls) {
            target.tls = true;
            target.ca_file = loaded.config->tls->cert.string();
        }
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
        if (!parse_url(env, target)) throw UsageError(std::string("$CORRAL_URL is not an http(s)://host:port URL: ") + env);
    }
    if (auto url = args.value("url")) {
        if (!parse_url(*url, target)) throw UsageError("--url expects http://host:port or https://host:port, got \"" + *url + "\"");
    }
    if (auto ca = args.value("cacert")) target.ca_file = *ca;
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
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    c.with([&](auto& stream) {
        http::write(stream, make_request(target, method, path, accept));
        http::read(stream, buffer, parser);
    });
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
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    c.with([&](auto& stream) {
        http::write(stream, make_request(target, method, path, accept));
        http::read_header(stream, buffer, parser);
        std::array<char, 8192> buf;
        while (!parser.is_done()) {
            parser.get().body().data = buf.data();
            parser.get().body().size = buf.size();
            boost::system::error_code ec;
            http::read_some(stream, buffer, parser, ec);
            if (ec == http::error::need_buffer) ec = {};
            if (ec) break;
            std::size_t got = buf.size() - parser.get().body().size;
            if (got && !on_data(parser.get().result_int(), std::string_view(buf.data(), got))) break;
        }
    });
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
