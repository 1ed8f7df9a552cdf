// Which requests corral answers itself and which it relays to a model's server, and with what key.
// A pure function of method and path (unit-tested), kept in step with llama-server's route table:
// every route the server serves is reachable, by the body's "model" or ?model=, or raw through
// /upstream/MODEL/... .
#pragma once

#include <boost/beast/http/verb.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace corral::proxy {

enum class RouteKind {
    NotFound,
    Health,      // GET /health, /v1/health: corral's own (open, no key)
    Metrics,     // GET /metrics: corral's Prometheus text
    Admin,       // /corral/...
    ListModels,  // GET /v1/models, /models
    ModelInfo,   // GET /v1/models/MODEL: one entry of that list (OpenAI's models.retrieve)
    Index,       // GET /: the default model's web UI
    Model,       // relayed to the model named by the body's "model" or ?model=
    Upstream,    // /upstream/MODEL/REST: relayed as REST to MODEL's server
    Console,     // GET /ui, /ui/...: the web console's files (open, no key)
};

// The key a request needs: none, one of `api_keys`, or the admin key.
enum class Access { Public, Api, Admin };

struct Route {
    RouteKind kind = RouteKind::NotFound;
    Access access = Access::Api;
    // A request without a model goes to the default model (llama-server's GET /props, /slots).
    bool default_model = false;
    // For Upstream and ModelInfo: the model named in the path (percent-decoded; nullopt when
    // malformed or empty); for Upstream, the target sent to its server.
    std::optional<std::string> path_model;
    std::string upstream_target;
};

// `target` is the request target (path and query); HEAD is routed as GET.
Route route_for(boost::beast::http::verb method, std::string_view target);

// Whether a llama-server route (a path on the server itself) reads or changes the server's state:
// POST /slots/N (save, restore, erase), POST /lora-adapters and POST /props change it and need
// the admin key; so does any route corral does not know (tools, proxies and router endpoints of
// newer servers). Inference routes, GET of the server's pages and read-only routes need an API key.
Access access_for_server_route(boost::beast::http::verb method, std::string_view path);

}  // namespace corral::proxy
