#include "proxy/proxy_routes.hpp"

#include "logging/logging.hpp"
#include "proxy/body_fields.hpp"
#include "proxy/forward.hpp"
#include "proxy/io_lane.hpp"
#include "proxy/prompt_prefix.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <array>
#include <cctype>
#include <chrono>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

// The acquire result, shared between a request and the coroutine that waits for the model, so the
// lease is released even when the client has gone by the time it arrives.
struct PendingAcquire {
    explicit PendingAcquire(const asio::any_io_executor& ex) : done(ex) {}
    std::optional<std::variant<scheduler::Lease, scheduler::Refusal>> result;
    serve::AsyncSignal done;
};

asio::awaitable<void> acquire_into(scheduler::Scheduler* scheduler, std::string model, scheduler::Affinity affinity,
                                   std::shared_ptr<PendingAcquire> pending) {
    pending->result = co_await scheduler->acquire(std::move(model), std::move(affinity));
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

std::optional<std::string> ProxyRoutes::default_model(const config::ApiKey* key) const {
    auto models = scheduler_.status();
    std::erase_if(models, [&](const scheduler::ModelStatus& s) { return !key_sees(key, s.name, s.aliases); });
    std::optional<std::string> loaded;
    int serving = 0;
    for (const auto& s : models) {
        auto entry = scheduler_.find(s.name);
        if (entry && entry->serving()) {
            ++serving;
            loaded = s.name;
        }
    }
    if (serving == 1) return loaded;
    if (serving == 0 && models.size() == 1) return models.front().name;
    return std::nullopt;
}

asio::awaitable<boost::json::object> ProxyRoutes::model_entry(const scheduler::ModelStatus& s) {
    constexpr auto kFactsTimeout = std::chrono::seconds(2);
    boost::json::array aliases;
    for (const auto& a : s.aliases) aliases.push_back(boost::json::value(a));
    boost::json::object entry{{"id", s.name},         {"object", "model"},  {"created", 0},
                              {"owned_by", "corral"}, {"aliases", aliases}, {"status", {{"value", s.state}}}};
    std::optional<boost::json::object> facts;
    auto model = scheduler_.find(s.name);
    if (model && model->serving()) {
        const auto instance = model->instance();  // the entry may change while the server answers
        facts = co_await facts_.of_server(pool_, instance->server.instance_id, instance->endpoint, instance->upstream_key, kFactsTimeout);
    }
    if (facts) {
        for (auto& [k, v] : *facts) entry.emplace(k, v);
    }
    if (model) {
        // corral's own facts from the files win over a server's fields of the same name; the
        // server's "meta" (it knows its context size) over the file's.
        for (auto& [k, v] : facts_.of_model(model->config)) {
            if (k == "meta" && entry.contains("meta")) continue;
            entry[k] = v;
        }
    }
    co_return entry;
}

asio::awaitable<void> ProxyRoutes::list_models(Exchange& ex) {
    boost::json::array data;
    for (const auto& s : scheduler_.status()) {
        if (key_sees(ex.key.get(), s.name, s.aliases)) data.push_back(co_await model_entry(s));
    }
    boost::json::object body;
    body["object"] = "list";
    body["data"] = std::move(data);
    co_await ex.write_json(http::status::ok, body);
}

asio::awaitable<void> ProxyRoutes::describe_model(Exchange& ex, const Route& route) {
    auto model = route.path_model ? scheduler_.find(*route.path_model) : nullptr;
    if (!model || !key_sees(ex.key.get(), model->config.name, model->config.aliases)) {
        const auto refusal = scheduler::Refusal::model_not_found(route.path_model.value_or(""));
        co_await ex.write_error(refusal.status, refusal.message, refusal.type, refusal.code);
        co_return;
    }
    auto entry = co_await model_entry(scheduler_.describe(*model));
    co_await ex.write_json(http::status::ok, entry);
}

asio::awaitable<void> ProxyRoutes::forward_to_model(Exchange& ex, const Route& route) {
    const std::string endpoint_name(ex.path());
    std::optional<std::string> model;
    bool stream = false;
    // Routes that take the model from their body; the others (GET /props, POST /slots/N, ...) have
    // bodies of the server's own (or none) and take it from ?model=.
    if (!route.default_model && !ex.request.body().empty()) {
        auto fields = read_body_fields(ex.request.body());
        if (!fields.error.empty()) {
            co_await ex.write_error(400, fields.error, "invalid_request_error", "invalid_json");
            metrics_.request("", endpoint_name, 400, 0);
            co_return;
        }
        model = std::move(fields.model);
        stream = fields.stream;
    }
    if (!model || model->empty()) model = ex.query("model");
    if ((!model || model->empty()) && route.default_model) model = default_model(ex.key.get());
    if (!model || model->empty()) {
        co_await ex.write_error(400, "You must provide a model parameter (GET /v1/models lists the models served here).",
                                "invalid_request_error", "missing_model");
        metrics_.request("", endpoint_name, 400, 0);
        co_return;
    }
    auto entry = scheduler_.find(*model);
    if (hidden_from_key(ex, entry.get())) {  // checked without a coroutine: most requests pass
        co_await answer_hidden(ex, *model, endpoint_name);
        co_return;
    }
    const bool chat = endpoint_name == "/v1/chat/completions" || endpoint_name == "/chat/completions";
    if (entry && stream && chat && !entry->serving() && entry->config.send_loading_state.value_or(scheduler_.config().send_loading_state)) {
        co_await forward_with_progress(ex, entry->config.name, endpoint_name);
        co_return;
    }
    co_await acquire_and_relay(ex, *model, endpoint_name, "");
}

scheduler::Affinity ProxyRoutes::affinity_of(const Exchange& ex, const scheduler::ModelEntry* entry) const {
    scheduler::Affinity affinity;
    if (!entry || entry->ring.size() < 2) return affinity;  // one replica: nothing to choose
    if (auto session = ex.request.find("X-Corral-Session"); session != ex.request.end() && !session->value().empty()) {
        affinity.key = "session\n" + std::string(session->value());
        affinity.session = true;
    } else if (entry->config.prefix_routing && !ex.request.body().empty()) {
        affinity.key = prompt_prefix(ex.request.body());
    }
    return affinity;
}

asio::awaitable<void> ProxyRoutes::forward_upstream(Exchange& ex, const Route& route) {
    if (!route.path_model) {
        co_await ex.write_error(400, "Use /upstream/MODEL/PATH (MODEL percent-encoded).", "invalid_request_error", "invalid_model");
        co_return;
    }
    // Named: GCC 12 destroys temporaries in co_await expressions twice.
    const auto entry = scheduler_.find(*route.path_model);
    const std::string endpoint_name = "/upstream";
    if (hidden_from_key(ex, entry.get())) {
        co_await answer_hidden(ex, *route.path_model, endpoint_name);
        co_return;
    }
    co_await acquire_and_relay(ex, *route.path_model, endpoint_name, route.upstream_target);
}

asio::awaitable<void> ProxyRoutes::index(Exchange& ex) {
    if (auto model = default_model(ex.key.get())) {
        co_await acquire_and_relay(ex, *model, "/", "/");
        co_return;
    }
    std::string html =
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>corral</title></head><body>\n<h1>corral</h1>\n"
        "<p>Several models are served here; each model's own web UI is under /upstream/MODEL/.</p>\n<ul>\n";
    for (const auto& s : scheduler_.status()) {
        if (!key_sees(ex.key.get(), s.name, s.aliases)) continue;
        std::string name;
        for (char c : s.name) {
            if (c == '&')
                name += "&amp;";
            else if (c == '<')
                name += "&lt;";
            else if (c == '>')
                name += "&gt;";
            else if (c == '"')
                name += "&quot;";
            else
                name += c;
        }
        html += "<li><a href=\"/upstream/" + url_encode(s.name) + "/\">" + name + "</a> (" + s.state + ")</li>\n";
    }
    html += "</ul>\n</body></html>\n";
    co_await ex.write_text(http::status::ok, std::move(html), "text/html; charset=utf-8");
}

asio::awaitable<void> ProxyRoutes::acquire_and_relay(Exchange& ex, const std::string& model, const std::string& endpoint_name,
                                                     const std::string& target) {
    auto entry = scheduler_.find(model);
    auto affinity = affinity_of(ex, entry.get());
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::variant<scheduler::Lease, scheduler::Refusal> acquired = scheduler::Lease{};
        // The entry found above, unless a retry waited (a reload may have replaced it meanwhile).
        if (auto now = attempt == 0 ? scheduler_.acquire_now(entry, affinity) : scheduler_.acquire_now(model, affinity))
            acquired = std::move(*now);
        else
            acquired = co_await scheduler_.acquire(model, affinity);
        if (auto* refusal = std::get_if<scheduler::Refusal>(&acquired)) {
            co_await ex.write_error(refusal->status, refusal->message, refusal->type, refusal->code, refusal->retry_after);
            metrics_.request(entry ? entry->config.name : "", endpoint_name, refusal->status,
                             std::chrono::duration<double>(clock::now() - ex.received).count());
            co_return;
        }
        auto& lease = std::get<scheduler::Lease>(acquired);
        const auto replica = lease.replica_index();
        // A server that died an instant ago may still look ready: then the request goes to another
        // replica, or waits for its server's restart.
        if (co_await relay(ex, std::move(lease), endpoint_name, false, attempt == 0, target)) co_return;
        affinity.avoid = replica;
    }
}

asio::awaitable<void> ProxyRoutes::answer_hidden(Exchange& ex, const std::string& model, const std::string& endpoint_name) {
    const auto refusal = scheduler::Refusal::model_not_found(model);
    co_await ex.write_error(refusal.status, refusal.message, refusal.type, refusal.code);
    metrics_.request("", endpoint_name, refusal.status, std::chrono::duration<double>(clock::now() - ex.received).count());
}

asio::awaitable<void> ProxyRoutes::forward_with_progress(Exchange& ex, const std::string& model, const std::string& endpoint_name) {
    auto pending = std::make_shared<PendingAcquire>(co_await asio::this_coro::executor);
    const auto entry_now = scheduler_.find(model);
    asio::co_spawn(co_await asio::this_coro::executor, acquire_into(&scheduler_, model, affinity_of(ex, entry_now.get()), pending),
                   asio::detached);

    co_await ex.write_stream_header("text/event-stream", true);

    const auto started = clock::now();
    std::string last_state;
    while (!pending->done.notified()) {
        auto entry = scheduler_.find(model);
        auto instance = entry ? entry->instance() : nullptr;
        std::string state = instance ? std::string(supervisor::to_string(instance->state)) : "queued";
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(clock::now() - started).count();
        std::string text = state != last_state ? "corral: loading " + model + " (" + state + ")\n"
                                               : "corral: still loading, " + std::to_string(secs) + "s\n";
        last_state = state;
        co_await ex.write_chunk(loading_chunk(model, text));
        co_await pending->done.wait(clock::now() + std::chrono::seconds(1));
    }
    if (auto* refusal = std::get_if<scheduler::Refusal>(&*pending->result)) {
        co_await ex.write_chunk("data: " + boost::json::serialize(openai_error(refusal->message, refusal->type, refusal->code)) + "\n\n");
        co_await ex.write_last_chunk();
        metrics_.request(model, endpoint_name, refusal->status, std::chrono::duration<double>(clock::now() - ex.received).count());
        co_return;
    }
    co_await ex.write_chunk(loading_chunk(model, "corral: " + model + " is ready\n\n"));
    co_await relay(ex, std::move(std::get<scheduler::Lease>(*pending->result)), endpoint_name, true, false);
}

asio::awaitable<bool> ProxyRoutes::relay(Exchange& ex, scheduler::Lease lease, const std::string& endpoint_name, bool headers_sent,
                                         bool may_retry, const std::string& target) {
    const std::string model = lease.model();
    ForwardOptions options;  // a named object: GCC 12 destroys braced temporaries in co_await expressions twice
    options.endpoint = lease.endpoint();
    const std::string& endpoint = options.endpoint;
    options.target = target;
    const auto serving = lease.instance();  // holds the key's string while the request runs
    if (serving) options.upstream_key = serving->upstream_key;
    options.headers_already_sent = headers_sent;
    ForwardResult result;
    if (ex.lane && !ex.lane->main) {
        // The client's connection lives on another I/O thread: the bytes are relayed there, with
        // that thread's pool, while this (the main) thread goes on with other requests.
        result = co_await asio::co_spawn(ex.lane->executor, forward(ex, *ex.lane->pool, options), asio::use_awaitable);
    } else {
        result = co_await forward(ex, pool_, options);
    }
    const double seconds = std::chrono::duration<double>(clock::now() - ex.received).count();
    if (result.first_byte_seconds) metrics_.first_byte(model, *result.first_byte_seconds);
    metrics_.tokens(model, result.prompt_tokens, result.completion_tokens);
    metrics_.prompt_cache(model, result.prompt_cached, result.prompt_evaluated);
    if (result.status != 0) metrics_.replica_request(model, scheduler::replica_name(model, lease.replica_index()));
    switch (result.outcome) {
        case ForwardResult::Outcome::Complete:
            metrics_.request(model, endpoint_name, result.status, seconds);
            break;
        case ForwardResult::Outcome::ClientGone:
            ex.keep_alive = false;
            if (result.client_timed_out) metrics_.connection_closed("write_timeout");
            metrics_.request(model, endpoint_name, 499, seconds);  // nginx's "client closed request"
            break;
        case ForwardResult::Outcome::UpstreamFailed: {
            logging::get("proxy")->warn("{} {}: {} ({})", model, endpoint_name, result.error, endpoint);  // the address stays in the log
            pool_.drop(endpoint);
            const auto instance = lease.instance();
            // Another replica takes a request nothing was answered to yet; the failed one is
            // checked meanwhile, so the next requests avoid it too.
            const bool elsewhere = result.status == 0 && lease.another_serves();
            if (may_retry && elsewhere) {
                if (result.connect_failed && instance)
                    asio::co_spawn(co_await asio::this_coro::executor, supervisor_.verify_running(instance), asio::detached);
                logging::get("proxy")->info("{} {}: retrying on another replica", model, endpoint_name);
                metrics_.failover(model);
                co_return false;
            }
            if (result.connect_failed && may_retry && !co_await supervisor_.verify_running(instance)) co_return false;
            ex.keep_alive = false;
            if (result.status == 0 && !headers_sent) {
                lease = {};  // release before answering, so the next request finds the model's new state
                co_await ex.write_error(502, "The server of `" + model + "` failed: " + result.error, "server_error", "upstream_failed");
            }
            metrics_.request(model, endpoint_name, 502, seconds);
            break;
        }
    }
    co_return true;
}

}  // namespace corral::proxy
