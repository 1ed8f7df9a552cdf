// 2. Streaming: 256 concurrent streaming chat clients, through corral and directly to the same
// llama-server: errors, tokens/s, time to first token, inter-token gap.
#include "benchmarks.hpp"
#include "http_client.hpp"
#include "stream_load.hpp"

#include <thread>

namespace corral::bench {

Section bench_streaming(const BenchEnv& env) {
    Section s{"2. Streaming: 256 concurrent clients, 32 tokens each",
              {"target", "errors", "tokens/s", "TTFT p50 ms", "TTFT p99 ms", "gap p50 ms", "gap p99 ms"},
              {},
              {},
              {}};
    CorralServe corral(
        env, env.work / "streaming", llama_runners(env),
        "{" + tiny_model(env, "tiny-a", R"(, "parallel": 8, "memory": "64MiB", "extra_args": ["--threads-http", "300"])") + "}",
        R"(, "probes": ["cpu"], "preload": ["tiny-a"])");
    wait_ready(corral, "tiny-a");
    const std::string key = server_key(corral, "tiny-a");
    DirectTwin twin(corral, "tiny-a", env.work / "streaming" / "direct.log");
    const uint16_t direct = twin.port();

    const std::string body = R"({"model": "tiny-a", "max_tokens": 32, "stream": true, "messages": [{"role": "user", "content": "hello"}]})";
    const int clients = 256;
    for (auto [name, port] : {std::pair<const char*, uint16_t>{"direct", direct}, {"corral", corral.port()}}) {
        auto r = run_stream_load("127.0.0.1", port, body, clients, port == direct ? key : "");
        auto ttft = stats_of(r.ttft_ms), gap = stats_of(r.gap_ms);
        double tps = r.seconds > 0 ? static_cast<double>(r.tokens) / r.seconds : 0;
        s.rows.push_back({name, std::to_string(r.errors), fixed(tps, 0), fixed(ttft.median, 1), fixed(ttft.p99, 1), fixed(gap.median, 2),
                          fixed(gap.p99, 2)});
        boost::json::object o{{"clients", clients},       {"errors", r.errors},       {"tokens", r.tokens},    {"seconds", r.seconds},
                              {"tokens_per_second", tps}, {"ttft_ms", to_json(ttft)}, {"gap_ms", to_json(gap)}};
        if (!r.first_error.empty()) o["first_error"] = r.first_error;
        s.json[name] = std::move(o);
    }
    s.notes.push_back(
        "corral's llama-server (--parallel 8, 300 HTTP threads) on its Unix socket, and direct its twin on TCP (the same arguments); "
        "clients beyond its slots wait in its queue");
    return s;
}

}  // namespace corral::bench
