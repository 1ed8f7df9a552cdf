#include "proxy/proxy_routes.hpp"

#include "proxy/forward.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <array>
#include <chrono>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

constexpr std::array kBodyRoutes = {"/v1/chat/completions",
                                    "/chat/completions",
                                    "/v1/completions",
                                    "/completions",
                                    "/completion",
                                    "/v1/embeddings",
                                    "/embeddings",
                                    "/embedding",
                                    "/v1/rerank",
                                    "/rerank",
                                    "/v1/reranking",
                                    "/reranking",
                                    "/tokenize",
                                    "/detokenize",
                                    "/infill",
                                    "/apply-template",
                                    "/v1/messages",
                                    "/v1/messages/count_tokens"};
constexpr std::array kQueryRoutes = {"/props", "/slots"};

// The acquire result, shared between a request and the coroutine that waits for the model, so the
// lease is released even when the client has gone by the time it arrives.
struct PendingAcquire {
    explicit PendingAcquire(const asio::any_io_executor& ex) : done(ex) {}
    std::optional<std::variant<scheduler::Lease, scheduler::Refusal>> result;
    serve::AsyncSignal done;
};

asio::awaitable<void> acquire_into(scheduler::Scheduler* scheduler, std::string model, std::shared_ptr<PendingAcquire> pending) {
    pending->result = co_await scheduler->acquire(std::move(model));
    pending->done.notify();
}

std::string loading_chunk(const std::string& model, const std::string& text) {
    boost::json::object delta{{"role", "assistant"}, {"reasoning_content", text}};
    boost::json::object chunk{
        {"id", "corral-loading"},
        {"object", "chat.completion.chunk"},
        {"created", std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()},
        {"model", model},
        {"choices", boost::json::array{{{"index", 0}, {"delta", delta}, {"finish_reason", nullptr}}}}};
    return "data: " + boost::json::serialize(chunk) + "\n\n";
}

}  // namespace

bool ProxyRoutes::is_model_route(http::verb method, std::string_view path) {
    for (const char* r : kBodyRoutes) {
        if (path == r) return method == http::verb::post;
    }
    for (const char* r : kQueryRoutes) {
        if (path == r) return method == http::verb::get || method == http::verb::post;
    }
    return false;
}

asio::awaitable<void> ProxyRoutes::list_models(Exchange& ex) {
    boost::json::array data;
    for (const auto& s : scheduler_.status()) {
        boost::json::array aliases;
        for (const auto& a : s.aliases) aliases.push_back(boost::json::value(a));
        data.push_back({{"id", s.name},
                        {"object", "model"},
                        {"created", 0},
                        {"owned_by", "corral"},
                        {"aliases", aliases},
                        {"status", {{"value", s.state}}}});
    }
    boost::json::object body;
    body["object"] = "list";
    body["data"] = std::move(data);
    co_await ex.write_json(http::status::ok, body);
}

asio::awaitable<void> ProxyRoutes::forward_to_model(Exchange& ex) {
    const std::string endpoint_name(ex.path());
    std::string model;
    bool stream = false;
    if (!ex.request.body().empty()) {
        boost::system::error_code ec;
        auto body = boost::json::parse(ex.request.body(), ec);
        if (ec) {
            co_await ex.write_error(400, "Invalid JSON body: " + ec.message(), "invalid_request_error", "invalid_json");
            co_return;
        }
        if (!body.is_object()) {
            co_await ex.write_error(400, "The request body must be a JSON object.", "invalid_request_error", "invalid_json");
            co_return;
        }
        const auto& o = body.get_object();
        if (const auto* m = o.if_contains("model")) {
            if (!m->is_string()) {
                co_await ex.write_error(400, "`model` must be a string.", "invalid_request_error", "invalid_model");
                co_return;
            }
            model = m->get_string();
        }
        const auto* s = o.if_contains("stream");
        stream = s && s->is_bool() && s->get_bool();
    }
    if (model.empty()) model = ex.query("model").value_or("");
    if (model.empty()) {
        co_await ex.write_error(400, "You must provide a model parameter (GET /v1/models lists the models served here).",
                                "invalid_request_error", "missing_model");
        metrics_.request("", endpoint_name, 400, 0);
        co_return;
    }
    auto entry = scheduler_.find(model);
    const bool chat = endpoint_name == "/v1/chat/completions" || endpoint_name == "/chat/completions";
    if (entry && stream && chat && !(entry->instance && entry->instance->serving()) &&
        entry->config.send_loading_state.value_or(scheduler_.config().send_loading_state)) {
        co_await forward_with_progress(ex, entry->config.name, endpoint_name);
        co_return;
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto acquired = co_await scheduler_.acquire(model);
        if (auto* refusal = std::get_if<scheduler::Refusal>(&acquired)) {
            co_await ex.write_error(refusal->status, refusal->message, refusal->type, refusal->code, refusal->retry_after);
            metrics_.request(entry ? entry->config.name : "", endpoint_name, refusal->status,
                             std::chrono::duration<double>(clock::now() - ex.received).count());
            co_return;
        }
        // A server that died an instant ago may still look ready: then the request waits for its restart.
        if (co_await relay(ex, std::move(std::get<scheduler::Lease>(acquired)), endpoint_name, false, attempt == 0)) co_return;
    }
}

asio::awaitable<void> ProxyRoutes::forward_with_progress(Exchange& ex, const std::string& model, const std::string& endpoint_name) {
    auto pending = std::make_shared<PendingAcquire>(co_await asio::this_coro::executor);
    asio::co_spawn(co_await asio::this_coro::executor, acquire_into(&scheduler_, model, pending), asio::detached);

    co_await ex.write_stream_header("text/event-stream", true);

    const auto started = clock::now();
    std::string last_state;
    while (!pending->done.notified()) {
        auto entry = scheduler_.find(model);
        std::string state = entry && entry->instance ? std::string(supervisor::to_string(entry->instance->state)) : "queued";
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(clock::now() - started).count();
        std::string text = state != last_state ? "corral: loading " + model + " (" + state + ")\n"
                                               : "corral: still loading, " + std::to_string(secs) + "s\n";
        last_state = state;
        co_await write_chunk(ex.stream, loading_chunk(model, text));
        co_await pending->done.wait(clock::now() + std::chrono::seconds(1));
    }
    if (auto* refusal = std::get_if<scheduler::Refusal>(&*pending->result)) {
        co_await write_chunk(ex.stream,
                             "data: " + boost::json::serialize(openai_error(refusal->message, refusal->type, refusal->code)) + "\n\n");
        co_await write_last_chunk(ex.stream);
        metrics_.request(model, endpoint_name, refusal->status, std::chrono::duration<double>(clock::now() - ex.received).count());
        co_return;
    }
    co_await write_chunk(ex.stream, loading_chunk(model, "corral: " + model + " is ready\n\n"));
    co_await relay(ex, std::move(std::get<scheduler::Lease>(*pending->result)), endpoint_name, true, false);
}

asio::awaitable<bool> ProxyRoutes::relay(Exchange& ex, scheduler::Lease lease, const std::string& endpoint_name, bool headers_sent,
                                         bool may_retry) {
    const std::string endpoint = lease.endpoint();
    const std::string model = lease.model();
    ForwardOptions options;  // a named object: GCC 12 destroys braced temporaries in co_await expressions twice
    options.endpoint = endpoint;
    options.headers_already_sent = headers_sent;
    auto result = co_await forward(ex, pool_, options);
    const double seconds = std::chrono::duration<double>(clock::now() - ex.received).count();
    if (result.first_byte_seconds) metrics_.first_byte(model, *result.first_byte_seconds);
    metrics_.tokens(model, result.prompt_tokens, result.completion_tokens);
    switch (result.outcome) {
        case ForwardResult::Outcome::Complete:
            metrics_.request(model, endpoint_name, result.status, seconds);
            break;
        case ForwardResult::Outcome::ClientGone:
            ex.keep_alive = false;
            metrics_.request(model, endpoint_name, 499, seconds);  // nginx's "client closed request"
            break;
        case ForwardResult::Outcome::UpstreamFailed:
            pool_.drop(endpoint);
            if (result.connect_failed && may_retry && !co_await supervisor_.verify_running(lease.instance())) co_return false;
            ex.keep_alive = false;
            if (result.status == 0 && !headers_sent) {
                lease = {};  // release before answering, so the next request finds the model's new state
                co_await ex.write_error(502, "The server of `" + model + "` failed: " + result.error, "server_error", "upstream_failed");
            }
            metrics_.request(model, endpoint_name, 502, seconds);
            break;
    }
    co_return true;
}

}  // namespace corral::proxy
