#include "proxy/route_table.hpp"

#include "proxy/http_text.hpp"

#include <array>

namespace corral::proxy {
namespace {

using boost::beast::http::verb;

// llama-server's inference routes (POST, JSON bodies that carry "model"): OpenAI, Anthropic, Ollama
// and its native ones.
constexpr std::array kInferenceRoutes = {"/v1/chat/completions",
                                         "/chat/completions",
                                         "/v1/chat/completions/input_tokens",
                                         "/chat/completions/input_tokens",
                                         "/v1/completions",
                                         "/completions",
                                         "/completion",
                                         "/v1/responses",
                                         "/v1/responses/input_tokens",
                                         "/v1/messages",
                                         "/v1/messages/count_tokens",
                                         "/api/chat",
                                         "/api/show",
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
                                         "/apply-template"};

// GET routes that read a server's state; a request without a model reads the default model's.
constexpr std::array kReadRoutes = {"/props", "/slots", "/lora-adapters"};

// GET routes of a server's own pages and facts, reachable with an API key under /upstream.
constexpr std::array kServerPages = {"/",        "/index.html", "/loading",   "/health",  "/v1/health",
                                     "/metrics", "/models",     "/v1/models", "/api/tags"};
constexpr std::array kAssetSuffixes = {".js", ".css", ".html", ".svg", ".ico", ".png", ".webmanifest", ".woff2", ".map"};

template <std::size_t N>
bool one_of(const std::array<const char*, N>& list, std::string_view path) {
    for (const char* p : list) {
        if (path == p) return true;
    }
    return false;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// POST /slots/N (?action=save|restore|erase).
bool slot_action(std::string_view path) {
    constexpr std::string_view prefix = "/slots/";
    if (path.substr(0, prefix.size()) != prefix || path.size() == prefix.size()) return false;
    return path.substr(prefix.size()).find_first_not_of("0123456789") == std::string_view::npos;
}

bool changes_server_state(verb method, std::string_view path) {
    return method == verb::post && (path == "/props" || path == "/lora-adapters" || slot_action(path));
}

bool is_get(verb method) {
    return method == verb::get || method == verb::head;
}

}  // namespace

Access access_for_server_route(verb method, std::string_view path) {
    if (method == verb::post && one_of(kInferenceRoutes, path)) return Access::Api;
    if (is_get(method) && (one_of(kReadRoutes, path) || one_of(kServerPages, path))) return Access::Api;
    if (is_get(method) && path.find("/..") == std::string_view::npos && path != "/cors-proxy") {
        for (const char* suffix : kAssetSuffixes) {
            if (ends_with(path, suffix)) return Access::Api;
        }
    }
    return Access::Admin;
}

Route route_for(verb method, std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    Route route;
    if (path == "/health" || path == "/v1/health") {
        route.kind = is_get(method) ? RouteKind::Health : RouteKind::NotFound;
        route.access = Access::Public;
        return route;
    }
    if (path == "/metrics" && is_get(method)) {
        route.kind = RouteKind::Metrics;
        route.access = Access::Admin;
        return route;
    }
    if (path.substr(0, 8) == "/corral/") {
        route.kind = RouteKind::Admin;
        route.access = Access::Admin;
        return route;
    }
    if ((path == "/v1/models" || path == "/models") && is_get(method)) {
        route.kind = RouteKind::ListModels;
        return route;
    }
    constexpr std::string_view one_model = "/v1/models/";
    if (path.substr(0, one_model.size()) == one_model && is_get(method)) {
        route.kind = RouteKind::ModelInfo;
        route.path_model = url_decode(path.substr(one_model.size()));
        if (route.path_model && route.path_model->empty()) route.path_model.reset();
        return route;
    }
    if (path == "/" && is_get(method)) {
        route.kind = RouteKind::Index;
        return route;
    }
    if ((path == "/ui" || path.substr(0, 4) == "/ui/") && is_get(method)) {
        route.kind = RouteKind::Console;
        route.access = Access::Public;
        return route;
    }
    constexpr std::string_view upstream = "/upstream/";
    if (path.substr(0, upstream.size()) == upstream) {
        const std::string_view rest = target.substr(upstream.size());
        const auto slash = rest.find('/');
        const auto query = rest.find('?');
        const auto name_end = std::min(slash, query);
        route.kind = RouteKind::Upstream;
        route.path_model = url_decode(rest.substr(0, name_end));
        if (route.path_model && route.path_model->empty()) route.path_model.reset();
        // "/upstream/m" and "/upstream/m?x" stand for the server's "/" and "/?x".
        const std::string_view after = name_end == std::string_view::npos ? std::string_view() : rest.substr(name_end);
        route.upstream_target = !after.empty() && after.front() == '/' ? std::string(after) : "/" + std::string(after);
        const std::string_view server_target = route.upstream_target;
        route.access = access_for_server_route(method, server_target.substr(0, server_target.find('?')));
        return route;
    }
    if (method == verb::post && one_of(kInferenceRoutes, path)) {
        route.kind = RouteKind::Model;
        return route;
    }
    if (is_get(method) && one_of(kReadRoutes, path)) {
        route.kind = RouteKind::Model;
        route.default_model = true;
        return route;
    }
    if (changes_server_state(method, path)) {
        route.kind = RouteKind::Model;
        route.access = Access::Admin;
        route.default_model = true;
        return route;
    }
    return route;
}

}  // namespace corral::proxy
