// Which requests corral answers, which it relays, and which key each needs.
#include "proxy/route_table.hpp"

#include <gtest/gtest.h>

namespace corral::proxy {
namespace {

using boost::beast::http::verb;

TEST(RouteTable, CorralsOwnRoutes) {
    EXPECT_EQ(route_for(verb::get, "/health").kind, RouteKind::Health);
    EXPECT_EQ(route_for(verb::get, "/health").access, Access::Public);
    EXPECT_EQ(route_for(verb::head, "/health").kind, RouteKind::Health);
    EXPECT_EQ(route_for(verb::get, "/v1/health").kind, RouteKind::Health);
    EXPECT_EQ(route_for(verb::get, "/metrics").access, Access::Admin);
    EXPECT_EQ(route_for(verb::post, "/corral/models/a/load").kind, RouteKind::Admin);
    EXPECT_EQ(route_for(verb::get, "/v1/models").kind, RouteKind::ListModels);
    EXPECT_EQ(route_for(verb::head, "/v1/models").kind, RouteKind::ListModels);
    EXPECT_EQ(route_for(verb::get, "/models?x=1").kind, RouteKind::ListModels);
    EXPECT_EQ(route_for(verb::get, "/").kind, RouteKind::Index);
    auto one = route_for(verb::get, "/v1/models/org%2Fname");
    EXPECT_EQ(one.kind, RouteKind::ModelInfo);
    EXPECT_EQ(one.path_model, "org/name");
    EXPECT_EQ(one.access, Access::Api);
    EXPECT_EQ(route_for(verb::post, "/v1/models").kind, RouteKind::NotFound);
    EXPECT_EQ(route_for(verb::get, "/nope").kind, RouteKind::NotFound);
}

TEST(RouteTable, TheConsolesFilesNeedNoKey) {
    for (const char* target : {"/ui", "/ui/", "/ui/js/app.js", "/ui/?x=1"}) {
        EXPECT_EQ(route_for(verb::get, target).kind, RouteKind::Console) << target;
        EXPECT_EQ(route_for(verb::get, target).access, Access::Public) << target;
        EXPECT_EQ(route_for(verb::head, target).kind, RouteKind::Console) << target;
    }
    EXPECT_EQ(route_for(verb::post, "/ui/").kind, RouteKind::NotFound);
    EXPECT_EQ(route_for(verb::get, "/uix").kind, RouteKind::NotFound);
    EXPECT_EQ(route_for(verb::get, "/upstream/m/ui/").kind, RouteKind::Upstream) << "a model's own /ui/ stays its own";
}

TEST(RouteTable, EveryInferenceRouteOfLlamaServerIsRelayedByModel) {
    for (const char* path : {"/v1/chat/completions",
                             "/chat/completions",
                             "/v1/completions",
                             "/completions",
                             "/completion",
                             "/v1/responses",
                             "/v1/messages",
                             "/v1/messages/count_tokens",
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
                             "/api/chat",
                             "/api/show",
                             "/v1/chat/completions/input_tokens"}) {
        auto r = route_for(verb::post, path);
        EXPECT_EQ(r.kind, RouteKind::Model) << path;
        EXPECT_EQ(r.access, Access::Api) << path;
        EXPECT_FALSE(r.default_model) << path;
        EXPECT_EQ(route_for(verb::get, path).kind, RouteKind::NotFound) << path;
    }
}

TEST(RouteTable, ReadRoutesFallBackToTheDefaultModel) {
    for (const char* target : {"/props", "/slots", "/lora-adapters", "/props?model=a"}) {
        auto r = route_for(verb::get, target);
        EXPECT_EQ(r.kind, RouteKind::Model) << target;
        EXPECT_TRUE(r.default_model) << target;
        EXPECT_EQ(r.access, Access::Api) << target;
    }
}

TEST(RouteTable, RoutesThatChangeAServerNeedTheAdminKey) {
    for (const char* target : {"/slots/0?action=save&model=a", "/slots/12", "/lora-adapters", "/props"}) {
        auto r = route_for(verb::post, target);
        EXPECT_EQ(r.kind, RouteKind::Model) << target;
        EXPECT_EQ(r.access, Access::Admin) << target;
        EXPECT_TRUE(r.default_model) << target;
    }
    EXPECT_EQ(route_for(verb::post, "/slots/x").kind, RouteKind::NotFound);
    EXPECT_EQ(route_for(verb::post, "/slots/").kind, RouteKind::NotFound);
    // The router endpoints of llama-server's own router mode are corral's business, not a server's.
    EXPECT_EQ(route_for(verb::post, "/models/load").kind, RouteKind::NotFound);
}

TEST(RouteTable, UpstreamSplitsModelAndTarget) {
    auto r = route_for(verb::get, "/upstream/tiny-a/props?x=1");
    EXPECT_EQ(r.kind, RouteKind::Upstream);
    EXPECT_EQ(r.path_model, "tiny-a");
    EXPECT_EQ(r.upstream_target, "/props?x=1");
    EXPECT_EQ(r.access, Access::Api);

    r = route_for(verb::get, "/upstream/tiny-a");
    EXPECT_EQ(r.upstream_target, "/");
    r = route_for(verb::get, "/upstream/tiny-a/");
    EXPECT_EQ(r.upstream_target, "/");
    r = route_for(verb::get, "/upstream/tiny-a?x=1");
    EXPECT_EQ(r.path_model, "tiny-a");
    EXPECT_EQ(r.upstream_target, "/?x=1");
    r = route_for(verb::get, "/upstream/org%2Fmodel%20q4/v1/models");
    EXPECT_EQ(r.path_model, "org/model q4");
    EXPECT_EQ(r.upstream_target, "/v1/models");
    EXPECT_FALSE(route_for(verb::get, "/upstream//props").path_model);
    EXPECT_FALSE(route_for(verb::get, "/upstream/%zz/props").path_model);
}

TEST(RouteTable, UpstreamNeedsTheAdminKeyForAnythingThatIsNotReadingOrInference) {
    EXPECT_EQ(route_for(verb::post, "/upstream/a/v1/chat/completions").access, Access::Api);
    EXPECT_EQ(route_for(verb::get, "/upstream/a/").access, Access::Api);
    EXPECT_EQ(route_for(verb::get, "/upstream/a/metrics").access, Access::Api);
    EXPECT_EQ(route_for(verb::get, "/upstream/a/bundle.js").access, Access::Api);
    EXPECT_EQ(route_for(verb::head, "/upstream/a/slots").access, Access::Api);
    EXPECT_EQ(route_for(verb::post, "/upstream/a/slots/0?action=erase").access, Access::Admin);
    EXPECT_EQ(route_for(verb::post, "/upstream/a/lora-adapters").access, Access::Admin);
    EXPECT_EQ(route_for(verb::post, "/upstream/a/props").access, Access::Admin);
    EXPECT_EQ(route_for(verb::get, "/upstream/a/cors-proxy?url=http://x/").access, Access::Admin);
    EXPECT_EQ(route_for(verb::post, "/upstream/a/tools").access, Access::Admin);
    EXPECT_EQ(route_for(verb::delete_, "/upstream/a/v1/models").access, Access::Admin);
    EXPECT_EQ(route_for(verb::get, "/upstream/a/../x.js").access, Access::Admin);
}

}  // namespace
}  // namespace corral::proxy
