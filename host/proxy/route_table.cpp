#include "proxy/route_table.hpp"

#include "proxy/http_text.hpp"

#include <array>
#include <string_view>

namespace corral::proxy {
namespace {

using boost::beast::http::verb;
using namespace std::string_view_literals;  // the lists below: no strlen per comparison

// llama-server's inference routes (POST, JSON bodies that carry "model"): OpenAI, Anthropic, Ollama
// and its native ones.
constexpr std::array kInferenceRoutes = {"/v1/chat/completions"sv,
                                         "/chat/completions"sv,
                                         "/v1/chat/completions/input_tokens"sv,
                                         "/chat/completions/input_tokens"sv,
                                         "/v1/completions"sv,
                                         "/completions"sv,
                                         "/completion"sv,
                                         "/v1/responses"sv,
                                         "/v1/responses/input_tokens"sv,
                                         "/v1/messages"sv,
                                         "/v1/messages/count_tokens"sv,
                                         "/api/chat"sv,
                                         "/api/show"sv,
                                         "/v1/embeddings"sv,
                                         "/embeddings"sv,
                                         "/embedding"sv,
                                         "/v1/rerank"sv,
                                         "/rerank"sv,
                                         "/v1/reranking"sv,
                                         "/reranking"sv,
                                         "/tokenize"sv,
                                         "/detokenize"sv,
                                         "/infill"sv,
                                         "/apply-template"sv};

// GET routes that read a server's state; a request without a model reads the default model's.
constexpr std::array kReadRoutes = {"/props"sv, "/slots"sv, "/lora-adapters"sv};

// GET routes of a server's own pages and facts, reachable with an API key under /upstream.
constexpr std::array kServerPages = {"/"sv,        "/index.html"sv, "/loading"sv,   "/health"sv,  "/v1/health"sv,
                                     "/metrics"sv, "/models"sv,     "/v1/models"sv, "/api/tags"sv};
constexpr std::array kAssetSuffixes = {".js"sv, ".css"sv, ".html"sv, ".svg"sv, ".ico"sv, ".png"sv, ".webmanifest"sv, ".woff2"sv, ".map"sv};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& list, std::string_view path) {
    for (const std::string_view p : list) {
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
        for (const std::string_view suffix : kAssetSuffixes) {
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
