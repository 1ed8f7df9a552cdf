// The OpenAI-compatible surface: GET /v1/models, and every model-routed endpoint (OpenAI and
// llama-server native), routed by the body's "model" or ?model=, started on demand.
#pragma once

#include "admin/metrics.hpp"
#include "proxy/exchange.hpp"
#include "proxy/upstream_pool.hpp"
#include "scheduler/scheduler.hpp"

namespace corral::proxy {

class ProxyRoutes {
public:
    ProxyRoutes(scheduler::Scheduler& scheduler, supervisor::Supervisor& supervisor, UpstreamPool& pool, admin::Metrics& metrics)
        : scheduler_(scheduler), supervisor_(supervisor), pool_(pool), metrics_(metrics) {}

    // Whether `path` is forwarded to a model's server.
    static bool is_model_route(http::verb method, std::string_view path);

    boost::asio::awaitable<void> list_models(Exchange& ex);
    boost::asio::awaitable<void> forward_to_model(Exchange& ex);

private:
    boost::asio::awaitable<void> forward_with_progress(Exchange& ex, const std::string& model, const std::string& endpoint_name);
    // False when the server turned out to be gone before the request reached it (the caller may
    // acquire the model again and retry once).
    boost::asio::awaitable<bool> relay(Exchange& ex, scheduler::Lease lease, const std::string& endpoint_name, bool headers_sent,
                                       bool may_retry);

    scheduler::Scheduler& scheduler_;
    supervisor::Supervisor& supervisor_;
    UpstreamPool& pool_;
    admin::Metrics& metrics_;
};

}  // namespace corral::proxy
