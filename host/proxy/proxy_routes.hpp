// The model-facing surface: GET /v1/models, every llama-server route relayed to the model named by
// the body's "model" or ?model= (started on demand), /upstream/MODEL/... as a raw passthrough to
// one model's server, and GET / (the default model's web UI).
#pragma once

#include "admin/metrics.hpp"
#include "proxy/exchange.hpp"
#include "proxy/key_policy.hpp"
#include "proxy/model_facts.hpp"
#include "proxy/route_table.hpp"
#include "proxy/upstream_pool.hpp"
#include "scheduler/scheduler.hpp"

namespace corral::proxy {

class ProxyRoutes {
public:
    ProxyRoutes(scheduler::Scheduler& scheduler, supervisor::Supervisor& supervisor, UpstreamPool& pool, admin::Metrics& metrics)
        : scheduler_(scheduler), supervisor_(supervisor), pool_(pool), metrics_(metrics) {}

    boost::asio::awaitable<void> list_models(Exchange& ex);
    // GET /v1/models/MODEL (name or alias).
    boost::asio::awaitable<void> describe_model(Exchange& ex, const Route& route);
    // A RouteKind::Model request.
    boost::asio::awaitable<void> forward_to_model(Exchange& ex, const Route& route);
    // A RouteKind::Upstream request.
    boost::asio::awaitable<void> forward_upstream(Exchange& ex, const Route& route);
    // GET /: the default model's web UI, or a list of the models' pages.
    boost::asio::awaitable<void> index(Exchange& ex);

    // llama-server's rule for a request without a model, as corral applies it to the models `key`
    // sees: the one model loaded, else the one model configured; nullopt when that does not single one out.
    std::optional<std::string> default_model(const config::ApiKey* key) const;

    // A server that went away: its facts are forgotten.
    void forget_instance(const std::string& instance_id) { facts_.forget_server(instance_id); }

private:
    // Whether `entry` is a model the client's key may not see (it is answered as one not here).
    bool hidden_from_key(const Exchange& ex, const scheduler::ModelEntry* entry) const {
        return entry && !key_sees(ex.key.get(), entry->config.name, entry->config.aliases);
    }
    // The 404 for a hidden model, as for a model that is not here (`model`: the name the client gave).
    boost::asio::awaitable<void> answer_hidden(Exchange& ex, const std::string& model, const std::string& endpoint_name);
    // A model's /v1/models entry: corral's fields, then the server's or the GGUF's facts.
    boost::asio::awaitable<boost::json::object> model_entry(const scheduler::ModelStatus& status);
    boost::asio::awaitable<void> forward_with_progress(Exchange& ex, const std::string& model, const std::string& endpoint_name);
    // Which replica the request prefers: X-Corral-Session, else its prompt prefix (prefix routing),
    // for models with several replicas.
    scheduler::Affinity affinity_of(const Exchange& ex, const scheduler::ModelEntry* entry) const;
    // Acquires the model (starting it when needed) and relays the request; one retry when the
    // server failed before answering: on another replica, or (one replica) after its restart when
    // it turned out to be gone before the request reached it. The caller checked that the client's
    // key may see the model.
    boost::asio::awaitable<void> acquire_and_relay(Exchange& ex, const std::string& model, const std::string& endpoint_name,
                                                   const std::string& target);
    // False when the request may be sent again (once): nothing was answered and either another
    // replica can take it or the server turned out to be gone before the request reached it.
    boost::asio::awaitable<bool> relay(Exchange& ex, scheduler::Lease lease, const std::string& endpoint_name, bool headers_sent,
                                       bool may_retry, const std::string& target = "");

    scheduler::Scheduler& scheduler_;
    supervisor::Supervisor& supervisor_;
    UpstreamPool& pool_;
    admin::Metrics& metrics_;
    ModelFacts facts_;
};

}  // namespace corral::proxy
