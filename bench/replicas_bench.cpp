// 8. Replicas and the prompt cache: 8 conversations of 6 turns each, interleaved (one client per
// conversation, all at once, with a pause of 20-140 ms to read each answer), on one model with 2 replicas routed by prompt prefix, the same
// with least_busy routing, and one server with as many slots as both replicas together (the ceiling). The figure is the share of prompt
// tokens the servers took from their cache (timings.cache_n over cache_n + prompt_n, from corral's metrics).
#include "benchmarks.hpp"
#include "http_client.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace corral::bench {
namespace {

constexpr int kConversations = 8;
constexpr int kTurns = 6;

uint64_t metric(const std::string& text, const std::string& name) {
    const std::string key = name + "{model=\"tiny-a\"} ";
    const auto at = text.find(key);
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + key.size()));
}

// Runs the conversations; returns {cached, evaluated, seconds, errors}.
boost::json::object run_conversations(const CorralServe& corral) {
    std::atomic<int> errors{0};
    const auto started = clock::now();
    std::vector<std::thread> clients;
    for (int c = 0; c < kConversations; ++c) {
        clients.emplace_back([&, c] {
            // A system prompt long enough that caching it matters, different per conversation.
            boost::json::array messages{
                boost::json::object{
                    {"role", "system"},
                    {"content", "You are assistant number " + std::to_string(c) + ". " + std::string(600, static_cast<char>('a' + c))}},
                boost::json::object{{"role", "user"}, {"content", "question 0 of conversation " + std::to_string(c)}}};
            for (int turn = 0; turn < kTurns; ++turn) {
                boost::json::object body{{"model", "tiny-a"}, {"max_tokens", 8}, {"ignore_eos", true}, {"messages", messages}};
                auto r = test::http_request("127.0.0.1", corral.port(), "POST", "/v1/chat/completions", boost::json::serialize(body));
                if (r.status != 200) {
                    ++errors;
                    return;
                }
                auto answer = boost::json::parse(r.body).at("choices").at(0).at("message").at("content");
                messages.push_back(boost::json::object{{"role", "assistant"}, {"content", answer}});
                messages.push_back(boost::json::object{{"role", "user"}, {"content", "follow-up " + std::to_string(turn)}});
                // A person reads the answer before the next turn: the other conversations move on
                // meanwhile, so where this one's next request lands is not where it just left.
                std::this_thread::sleep_for(std::chrono::milliseconds(20 + (c * 37 + turn * 53) % 120));
            }
        });
    }
    for (auto& t : clients) t.join();
    const auto text = test::http_request("127.0.0.1", corral.port(), "GET", "/metrics").body;
    return {{"cached", metric(text, "corral_prompt_tokens_cached_total")},
            {"evaluated", metric(text, "corral_prompt_tokens_evaluated_total")},
            {"seconds", ms_since(started) / 1000.0},
            {"errors", errors.load()}};
}

}  // namespace

Section bench_replicas(const BenchEnv& env) {
    Section s{"8. Replicas and the prompt cache: 8 conversations x 6 turns, interleaved",
              {"setup", "errors", "prompt tokens", "from cache", "cache share", "seconds"},
              {},
              {},
              {}};
    const std::vector<std::pair<std::string, std::string>> setups = {
        {"2 replicas, prefix routing", R"(, "parallel": 4, "ctx_size": 8192, "replicas": 2, "routing": "prefix")"},
        {"2 replicas, least_busy routing", R"(, "parallel": 4, "ctx_size": 8192, "replicas": 2, "routing": "least_busy")"},
        {"4 replicas, prefix routing", R"(, "parallel": 2, "ctx_size": 4096, "replicas": 4, "routing": "prefix")"},
        {"4 replicas, least_busy routing", R"(, "parallel": 2, "ctx_size": 4096, "replicas": 4, "routing": "least_busy")"},
        {"1 server, 8 slots (ceiling)", R"(, "parallel": 8, "ctx_size": 16384)"},
        // The servers' slot caches alone (no RAM prompt cache): what routing does by itself.
        {"2 replicas, prefix routing, --cache-ram 0",
         R"(, "parallel": 4, "ctx_size": 8192, "replicas": 2, "routing": "prefix", "extra_args": ["--cache-ram", "0"])"},
        {"2 replicas, least_busy routing, --cache-ram 0",
         R"(, "parallel": 4, "ctx_size": 8192, "replicas": 2, "routing": "least_busy", "extra_args": ["--cache-ram", "0"])"},
        {"1 server, 8 slots, --cache-ram 0 (ceiling)", R"(, "parallel": 8, "ctx_size": 16384, "extra_args": ["--cache-ram", "0"])"}};
    int n = 0;
    for (const auto& [name, extra] : setups) {
        const std::string model =
            R"({"tiny-a": {"path": ")" + (env.models / "tiny-a.gguf").string() + R"(", "runner": "local")" + extra + "}}";
        CorralServe corral(env, env.work / ("replicas-" + std::to_string(n++)), llama_runners(env), model, R"(, "probes": ["cpu"])");
        test::http_request("127.0.0.1", corral.port(), "POST", "/corral/models/tiny-a/load");
        wait_ready(corral, "tiny-a");
        for (int i = 0; i < 600; ++i) {                  // every replica ready, not only the first
            const auto status = corral.model("tiny-a");  // named: the loop below reads into it
            const auto& replicas = status.at("replicas").as_array();
            if (std::all_of(replicas.begin(), replicas.end(), [](const auto& r) { return r.at("state") == "ready"; })) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        auto r = run_conversations(corral);
        const auto cached = r.at("cached").to_number<uint64_t>();
        const auto evaluated = r.at("evaluated").to_number<uint64_t>();
        const double share = cached + evaluated ? static_cast<double>(cached) / static_cast<double>(cached + evaluated) : 0;
        r["cache_share"] = share;
        s.rows.push_back({name, std::to_string(r.at("errors").as_int64()), std::to_string(cached + evaluated), std::to_string(cached),
                          fixed(100 * share, 1) + " %", fixed(r.at("seconds").as_double(), 1)});
        s.json[name] = std::move(r);
    }
    s.notes.push_back(
        "llama-server keeps prompts in a RAM cache of its own (--cache-ram): a conversation that moves to a replica it "
        "visited before is a hit there too, so least_busy loses only each replica's first visit");
    s.notes.push_back("prompt tokens = cache_n + prompt_n summed over every answer (llama-server's timings, via corral's metrics)");
    s.notes.push_back("each conversation resends its whole history every turn, as chat clients do; 8 slots in every setup");
    return s;
}

}  // namespace corral::bench
