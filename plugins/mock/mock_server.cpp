#include "mock_server.hpp"

#include "cloexec.hpp"
#include "http_health.hpp"
#include "mock_api.hpp"

#include <corral/sdk/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <future>

#include <netinet/in.h>

namespace corral::mock {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Request = http::request<http::string_body>;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

http::response<http::string_body> json_response(const Request& req, http::status status, const boost::json::value& body) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "corral-mock");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = boost::json::serialize(body);
    res.prepare_payload();
    return res;
}

// The port of a bound TCP endpoint held as a generic one.
uint16_t tcp_port(const asio::generic::stream_protocol::endpoint& endpoint) {
    const auto* address = endpoint.data();
    if (address->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(address)->sin_port);
    if (address->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(address)->sin6_port);
    return 0;
}

std::string target_path(const Request& req) {
    std::string target(req.target());
    return target.substr(0, target.find('?'));
}

}  // namespace

// As llama-server with LLAMA_API_KEY: every route but the public ones needs the key.
bool MockServer::authorized(const Request& req, const std::string& path) const {
    auto key = config_.env.find("LLAMA_API_KEY");
    if (key == config_.env.end() || key->second.empty()) return true;
    if (path == "/health" || path == "/v1/health" || path == "/v1/models" || path == "/models") return true;
    auto auth = req[http::field::authorization];
    const std::string bearer = "Bearer " + key->second;
    return auth == bearer || req["x-api-key"] == key->second;
}

MockServer::MockServer(asio::io_context& ioc, sdk::ServerConfig config, MockOptions options, Callbacks callbacks)
    : ioc_(ioc),
      acceptor_(ioc),
      load_timer_(ioc),
      config_(std::move(config)),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

std::string MockServer::start(const std::string& socket_path) {
    boost::system::error_code ec;
    Protocol::endpoint endpoint;
    std::string where;
    if (!socket_path.empty()) {
        endpoint = asio::local::stream_protocol::endpoint(socket_path);
        where = socket_path;
    } else {
        auto address = asio::ip::make_address(config_.host, ec);
        if (ec) throw sdk::Error(sdk::ProcessError::StartFailed, "invalid host address \"" + config_.host + "\"");
        endpoint = tcp::endpoint(address, config_.port.value_or(0));
        where = config_.host + ":" + std::to_string(config_.port.value_or(0));
    }
    plugin_common::open_cloexec(acceptor_, endpoint.protocol(), ec);
    if (!ec && socket_path.empty()) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw sdk::Error(sdk::ProcessError::StartFailed, "cannot listen on " + where + ": " + ec.message());
    std::string url;
    if (socket_path.empty()) {
        port_ = tcp_port(acceptor_.local_endpoint());
        url = plugin_common::format_http_endpoint(config_.host, port_);
    } else {
        url = plugin_common::format_http_endpoint(plugin_common::HttpEndpoint{"", 0, socket_path});
    }
    alive_ = true;
    auto self = shared_from_this();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    load_timer_.expires_after(options_.load_delay);
    load_timer_.async_wait([self](boost::system::error_code wait_ec) {
        if (wait_ec || !self->alive_) return;
        self->ready_ = true;
        if (self->callbacks_.ready) self->callbacks_.ready();
    });
    return url;
}

void MockServer::stop() {
    if (!alive_) return;
    std::promise<void> done;
    asio::post(ioc_, [self = shared_from_this(), &done] {
        self->shut_down(0, std::nullopt, "stopped", false);
        done.set_value();
    });
    done.get_future().wait();
}

void MockServer::shut_down(std::optional<int> exit_code, std::optional<int> signal, const std::string& message, bool reset) {
    if (!alive_.exchange(false)) return;
    ready_ = false;
    boost::system::error_code ec;
    acceptor_.close(ec);
    load_timer_.cancel();
    for (auto& weak : streams_) {
        if (auto stream = weak.lock()) {
            // RST on TCP, as a dying process; on a Unix socket the close alone (a reader meets the end, or a reset where its
            // request was left unread).
            if (reset) stream->set_option(asio::socket_base::linger(true, 0), ec);
            stream->close(ec);
        }
    }
    streams_.clear();
    if (callbacks_.exited) callbacks_.exited(exit_code, signal, message);
}

asio::awaitable<void> MockServer::accept_loop() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    acceptor_.non_blocking(true, ec);
    const auto protocol = acceptor_.local_endpoint(ec).protocol();
    while (alive_ && !ec) {
        const auto [fd, accept_ec] = co_await plugin_common::accept_cloexec(acceptor_);
        if (fd < 0) break;
        Stream socket(ioc_);
        if (!plugin_common::adopt_descriptor(socket, protocol, fd, ec)) break;
        asio::co_spawn(ioc_, session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> MockServer::session(Stream socket) {
    auto self = shared_from_this();
    auto stream = std::make_shared<Stream>(std::move(socket));
    streams_.remove_if([](const std::weak_ptr<Stream>& w) { return w.expired(); });
    streams_.push_back(stream);
    beast::flat_buffer buffer;
    while (alive_) {
        Request req;
        auto [read_ec, n] = co_await http::async_read(*stream, buffer, req, kAwait);
        if (read_ec || !alive_) break;
        ++requests_;
        if (options_.crash_after_requests != 0 && requests_ > options_.crash_after_requests) {
            shut_down(std::nullopt, 9, "simulated crash after " + std::to_string(options_.crash_after_requests) + " requests", true);
            co_return;
        }
        const std::string path = target_path(req);
        const bool post = req.method() == http::verb::post;
        http::status status = http::status::ok;
        boost::json::value body;

        if (!authorized(req, path)) {
            status = http::status::unauthorized;
            body = error_body(401, "Invalid API Key", "authentication_error");
        } else if (path == "/health" && req.method() == http::verb::get) {
            if (ready_)
                body = {{"status", "ok"}};
            else
                status = http::status::service_unavailable, body = error_body(503, "Loading model", "unavailable_error");
        } else if (path == "/v1/models" && req.method() == http::verb::get) {
            body = {{"object", "list"},
                    {"data", boost::json::array{{{"id", config_.model_name}, {"object", "model"}, {"owned_by", "corral-mock"}}}}};
        } else if (!ready_) {
            status = http::status::service_unavailable;
            body = error_body(503, "Loading model", "unavailable_error");
        } else if (post && (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/tokenize")) {
            boost::system::error_code json_ec;
            auto request_json = boost::json::parse(req.body(), json_ec);
            if (json_ec || !request_json.is_object()) {
                status = http::status::bad_request;
                body = error_body(400, "request body must be a JSON object", "invalid_request_error");
            } else if (path == "/tokenize") {
                const auto* content = request_json.get_object().if_contains("content");
                std::string text = content && content->is_string() ? std::string(content->get_string()) : std::string();
                boost::json::array ids;
                for (auto id : tokenize(text)) ids.emplace_back(id);
                body = {{"tokens", std::move(ids)}};
            } else {
                const auto& o = request_json.get_object();
                const bool chat = path == "/v1/chat/completions";
                uint32_t max_tokens = options_.max_tokens;
                if (const auto* m = o.if_contains("max_tokens"); m && m->is_int64() && m->get_int64() > 0)
                    max_tokens = static_cast<uint32_t>(m->get_int64());
                auto tokens = generate_tokens(options_, max_tokens);
                const auto reasoning = chat ? reasoning_tokens(options_) : std::vector<std::string>{};
                auto prompt_tokens = static_cast<uint32_t>(tokenize(req.body()).size() / 4 + 1);
                const auto* stream_flag = o.if_contains("stream");
                if (stream_flag && stream_flag->is_bool() && stream_flag->get_bool()) {
                    // SSE: header first, then one chunk per token, as llama-server streams.
                    http::response<http::empty_body> head{http::status::ok, req.version()};
                    head.set(http::field::server, "corral-mock");
                    head.set(http::field::content_type, "text/event-stream");
                    head.set(http::field::cache_control, "no-cache");
                    head.chunked(true);
                    head.keep_alive(req.keep_alive());
                    http::response_serializer<http::empty_body> sr{head};
                    auto [head_ec, head_n] = co_await http::async_write_header(*stream, sr, kAwait);
                    if (head_ec) break;
                    asio::steady_timer pause(ioc_);
                    bool failed = false;
                    const std::size_t total = reasoning.size() + tokens.size();  // reasoning first, then the reply
                    for (std::size_t i = 0; i <= total && !failed; ++i) {
                        if (i > 0 && options_.token_delay.count() > 0) {
                            pause.expires_after(options_.token_delay);
                            auto [timer_ec] = co_await pause.async_wait(kAwait);
                            if (timer_ec || !alive_) failed = true;
                        }
                        if (failed) break;
                        const bool last = i == total;
                        const bool thinking = i < reasoning.size();
                        const std::string token = last ? std::string() : thinking ? reasoning[i] : tokens[i - reasoning.size()];
                        std::string event = "data: " +
                                            boost::json::serialize(completion_chunk(chat, config_.model_name, token, last, thinking,
                                                                                    {prompt_tokens, static_cast<uint32_t>(total)})) +
                                            "\n\n";
                        if (last) event += "data: [DONE]\n\n";
                        auto [write_ec, written] = co_await asio::async_write(*stream, http::make_chunk(asio::buffer(event)), kAwait);
                        failed = static_cast<bool>(write_ec);
                    }
                    if (failed) break;  // the client went away or the server died mid-stream
                    auto [last_ec, last_n] = co_await asio::async_write(*stream, http::make_chunk_last(), kAwait);
                    if (last_ec) break;
                    if (callbacks_.log)
                        callbacks_.log(std::string(req.method_string()) + " " + path + " 200 (stream, " + std::to_string(tokens.size()) +
                                       " tokens)");
                    if (!req.keep_alive()) break;
                    continue;
                }
                body = completion_body(chat, config_.model_name, tokens, prompt_tokens, reasoning);
            }
        } else {
            status = http::status::not_found;
            body = error_body(404, "File Not Found", "not_found_error");
        }

        auto res = json_response(req, status, body);
        auto [write_ec, written] = co_await http::async_write(*stream, res, kAwait);
        if (callbacks_.log) callbacks_.log(std::string(req.method_string()) + " " + path + " " + std::to_string(static_cast<int>(status)));
        if (write_ec || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream->shutdown(Stream::shutdown_send, ignored);
}

}  // namespace corral::mock
