// 3. Cold start and swap: a request for an unloaded model until its first byte, and an A->B swap with
// one model loaded at a time, through corral and through llama.cpp's router mode (--models-max 1);
// plus llama-server's own start-to-ready with no manager at all.
#include "benchmarks.hpp"
#include "http_client.hpp"

#include <thread>

namespace corral::bench {
namespace {

void add_row(Section& s, const std::string& what, const Stats& st) {
    s.rows.push_back({what, std::to_string(st.n), fixed(st.median, 1), fixed(st.p90, 1), fixed(st.min, 1), fixed(st.max, 1)});
    s.json[what] = to_json(st);
}

}  // namespace

Section bench_swap(const BenchEnv& env) {
    Section s{"3. Cold start and swap (ms to first byte)", {"measure", "n", "median", "p90", "min", "max"}, {}, {}, {}};
    const auto dir = env.work / "swap";
    fs::create_directories(dir);

    // llama-server alone: spawn until /health answers 200 (checked every millisecond), then the
    // request corral's cold start is timed with: its first byte on a fresh server is part of
    // corral's row, not of start to ready.
    std::vector<double> bare, bare_first_byte;
    for (int i = 0; i < env.repetitions; ++i) {
        const uint16_t port = free_port();
        auto started = clock::now();
        Background server({env.llama_server.string(), "--model", (env.models / "tiny-a.gguf").string(), "--host", "127.0.0.1", "--port",
                           std::to_string(port), "--ctx-size", "2048"},
                          dir / "bare.log");
        if (!wait_http_ok(port, "/health", std::chrono::seconds(30))) throw std::runtime_error("llama-server did not start");
        bare.push_back(ms_since(started));
        bare_first_byte.push_back(bare.back() + time_to_first_byte(port, "tiny-a"));
    }
    add_row(s, "llama-server start to ready (no manager)", stats_of(bare));
    add_row(s, "llama-server start, then the request (no manager)", stats_of(bare_first_byte));

    {
        CorralServe corral(env, dir / "corral", llama_runners(env),
                           "{" + tiny_model(env, "tiny-a") + ", " + tiny_model(env, "tiny-b") + "}",
                           R"(, "probes": ["cpu"], "scheduler": {"max_loaded": 1})");
        std::vector<double> cold, swap;
        for (int i = 0; i < env.repetitions; ++i) {
            for (const char* m : {"tiny-a", "tiny-b"})
                test::http_request("127.0.0.1", corral.port(), "POST", std::string("/corral/models/") + m + "/unload");
            cold.push_back(time_to_first_byte(corral.port(), "tiny-a"));
        }
        add_row(s, "corral: cold start", stats_of(cold));
        time_to_first_byte(corral.port(), "tiny-a");
        for (int i = 0; i < env.repetitions; ++i) swap.push_back(time_to_first_byte(corral.port(), i % 2 ? "tiny-a" : "tiny-b"));
        add_row(s, "corral: swap A->B (max_loaded 1)", stats_of(swap));
    }

    {
        const uint16_t port = free_port();
        Background router({env.llama_server.string(), "--models-dir", env.models.string(), "--models-max", "1", "--host", "127.0.0.1",
                           "--port", std::to_string(port), "--ctx-size", "2048"},
                          dir / "router.log");
        if (!wait_http_ok(port, "/health", std::chrono::seconds(30))) throw std::runtime_error("router mode did not start");
        std::vector<double> cold, swap;
        // Its first request for a model is a cold start; there is no unload to repeat it.
        cold.push_back(time_to_first_byte(port, "tiny-a"));
        for (int i = 0; i < env.repetitions; ++i) swap.push_back(time_to_first_byte(port, i % 2 ? "tiny-a" : "tiny-b"));
        add_row(s, "router mode: cold start (first request)", stats_of(cold));
        add_row(s, "router mode: swap A->B (--models-max 1)", stats_of(swap));
    }
    s.notes.push_back("first byte = the response header of a streaming chat request with max_tokens 1");
    return s;
}

}  // namespace corral::bench
