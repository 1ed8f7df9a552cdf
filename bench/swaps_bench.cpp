// 9. Swaps: (a) a model swapped out and back, asked again with the same 1,500-token prefix: time to
// its first token with its prompt cache saved and restored (kv_cache), without (keep false), and
// never unloaded; (b) 64 requests alternating between two models that do not fit together
// (max_loaded 1), sent 10 ms apart: swaps, total time and the longest wait, collated (swap_batch's
// default) against one request per turn (swap_batch 1, what a first-come-first-served proxy does)
// and against no bound at all (corral before swap_batch); (c) a request for one model while four
// clients keep the other busy without a pause: how long it waits, with the batch and with only the
// starvation bound.
#include "benchmarks.hpp"
#include "http_client.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace corral::bench {
namespace {

// Like tiny_model(), with room for the prefix in one slot.
std::string model_entry(const BenchEnv& env, const std::string& name) {
    return "\"" + name + R"(": {"path": ")" + (env.models / (name + ".gguf")).string() +
           R"(", "runner": "local", "ctx_size": 4096, "parallel": 1, "memory": "64MiB"})";
}

// The models of every row: tiny-a and tiny-b.
std::string tiny_models(const BenchEnv& env) {
    return "{" + model_entry(env, "tiny-a") + ", " + model_entry(env, "tiny-b") + "}";
}
// Sections b and c: room for one model, prompt caches off, `swap_batch` settings added to "scheduler".
std::string no_caches_room_for_one(const std::string& swap_batch) {
    return R"(, "probes": ["cpu"], "kv_cache": {"keep": false}, "scheduler": {"max_loaded": 1)" + swap_batch + "}";
}

// A chat request for 8 tokens.
std::string chat(const std::string& model, const std::string& content) {
    return boost::json::serialize(
        boost::json::object{{"model", model},
                            {"max_tokens", 8},
                            {"ignore_eos", true},
                            {"messages", boost::json::array{boost::json::object{{"role", "user"}, {"content", content}}}}});
}

// The shared prefix: ~1,500 tokens of the tiny models' vocabulary, then a question of its own.
std::string prompt(int question) {
    std::string p;
    for (int i = 0; i < 125; ++i) p += "hello world ";
    return p + "question " + std::to_string(question);
}

struct Answer {
    double ms = 0;         // request to answer (one token generated: the time to first token)
    double prompt_ms = 0;  // the server's own prompt evaluation
    int64_t cached = 0;    // prompt tokens from its cache
};

Answer complete(uint16_t port, const std::string& model, const std::string& text) {
    const auto started = clock::now();
    auto r = test::http_request("127.0.0.1", port, "POST", "/completion",
                                boost::json::serialize(boost::json::object{{"model", model}, {"prompt", text}, {"n_predict", 1}}));
    Answer a{ms_since(started)};
    if (r.status != 200) throw std::runtime_error("status " + std::to_string(r.status) + " for " + model + ": " + r.body);
    const auto body = boost::json::parse(r.body);  // named: at() of a temporary would dangle
    const auto& timings = body.at("timings");
    a.prompt_ms = timings.at("prompt_ms").to_number<double>();
    a.cached = timings.at("cache_n").to_number<int64_t>();
    return a;
}

uint64_t counter(uint16_t port, const std::string& series) {
    const auto text = test::http_request("127.0.0.1", port, "GET", "/metrics").body;
    uint64_t total = 0;
    for (auto at = text.find("\n" + series); at != std::string::npos; at = text.find("\n" + series, at + 1)) {
        const auto value = text.find("} ", at);
        if (value != std::string::npos) total += std::stoull(text.substr(value + 2));
    }
    return total;
}

}  // namespace

Section bench_swaps(const BenchEnv& env) {
    Section s{"9. Swaps: prompt caches across unloads, collation", {"measure", "n", "median", "p90", "min", "max", "notes"}, {}, {}, {}};
    const auto dir = env.work / "swaps";
    fs::create_directories(dir);
    const int reps = std::max(3, env.repetitions / 2);

    // (a) Time to first token after a swap back.
    auto swap_back = [&](const std::string& name, const std::string& kv_cache, bool swap) {
        CorralServe corral(env, dir / name, llama_runners(env), tiny_models(env),
                           R"(, "probes": ["cpu"], "scheduler": {"max_loaded": )" + std::string(swap ? "1" : "2") + "}" + kv_cache);
        std::vector<double> ms, prompt_ms;
        int64_t cached = 0;
        complete(corral.port(), "tiny-a", prompt(0));
        for (int i = 1; i <= reps; ++i) {
            if (swap) complete(corral.port(), "tiny-b", prompt(0));  // tiny-a goes (and saves, when it keeps)
            auto a = complete(corral.port(), "tiny-a", prompt(i));
            ms.push_back(a.ms);
            prompt_ms.push_back(a.prompt_ms);
            cached += a.cached;
        }
        const auto st = stats_of(ms);
        const auto pst = stats_of(prompt_ms);
        const auto note = "server prompt eval " + fixed(pst.median, 1) + " ms, " + std::to_string(cached / reps) + " tokens from cache";
        s.rows.push_back({name, std::to_string(st.n), fixed(st.median, 1), fixed(st.p90, 1), fixed(st.min, 1), fixed(st.max, 1), note});
        auto j = to_json(st);
        j["prompt_ms_median"] = pst.median;
        j["cached_tokens_mean"] = cached / reps;
        s.json[name] = j;
    };
    swap_back("time to first token after a swap back, prompt cache kept", "", true);
    swap_back("time to first token after a swap back, not kept", R"(, "kv_cache": {"keep": false})", true);
    swap_back("time to first token, never unloaded", "", false);

    // (b) 64 alternating requests, max_loaded 1.
    auto alternate = [&](const std::string& name, const std::string& swap_batch) {
        CorralServe corral(env, dir / ("alt-" + std::to_string(s.rows.size())), llama_runners(env), tiny_models(env),
                           no_caches_room_for_one(swap_batch));
        complete(corral.port(), "tiny-a", "warm up");
        const auto loads_before = counter(corral.port(), "corral_model_loads_total");
        std::mutex mutex;
        std::vector<double> waits;
        int errors = 0;
        const auto started = clock::now();
        std::vector<std::thread> clients;
        for (int i = 0; i < 64; ++i) {
            clients.emplace_back([&, i] {
                const auto sent = clock::now();
                auto r = test::http_request("127.0.0.1", corral.port(), "POST", "/v1/chat/completions",
                                            chat(i % 2 ? "tiny-b" : "tiny-a", "request " + std::to_string(i)));
                std::lock_guard lock(mutex);
                waits.push_back(ms_since(sent));
                errors += r.status != 200;
            });
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        for (auto& t : clients) t.join();
        const double total = ms_since(started);
        const auto swaps = counter(corral.port(), "corral_model_loads_total") - loads_before;
        const auto st = stats_of(waits);
        const auto note = std::to_string(swaps) + " swaps, all 64 done in " + fixed(total, 0) + " ms" +
                          (errors ? ", " + std::to_string(errors) + " errors" : "");
        s.rows.push_back({name, std::to_string(st.n), fixed(st.median, 1), fixed(st.p90, 1), fixed(st.min, 1), fixed(st.max, 1), note});
        auto j = to_json(st);
        j["swaps"] = swaps;
        j["total_ms"] = total;
        j["errors"] = errors;
        s.json[name] = j;
    };
    alternate("64 alternating requests, one per turn (swap_batch 1): latency", R"(, "swap_batch": 1)");
    alternate("64 alternating requests, collated (swap_batch default): latency", "");
    // corral before swap_batch: a loaded model took every request that came while it was busy, so the
    // other waited until a gap in its traffic (bounded only by load_timeout).
    alternate("64 alternating requests, unbounded (no swap_batch, as before): latency", R"(, "swap_batch": {}, "max_wait_for_swap": "1h")");

    // (c) One request for the other model while a busy one never pauses: how long it waits.
    auto starve = [&](const std::string& name, const std::string& swap_batch) {
        CorralServe corral(env, dir / ("busy-" + std::to_string(s.rows.size())), llama_runners(env), tiny_models(env),
                           no_caches_room_for_one(swap_batch));
        complete(corral.port(), "tiny-a", "warm up");
        std::atomic<bool> busy{true};
        std::vector<std::thread> clients;
        for (int c = 0; c < 4; ++c) {
            clients.emplace_back([&] {
                while (busy) test::http_request("127.0.0.1", corral.port(), "POST", "/v1/chat/completions", chat("tiny-a", "busy"));
            });
        }
        std::vector<double> waits;
        for (int i = 0; i < 3; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            const auto sent = clock::now();
            auto r = test::http_request("127.0.0.1", corral.port(), "POST", "/v1/chat/completions", chat("tiny-b", "busy"));
            waits.push_back(r.status == 200 ? ms_since(sent) : -1);
        }
        busy = false;
        for (auto& t : clients) t.join();
        const auto st = stats_of(waits);
        s.rows.push_back({name, std::to_string(st.n), fixed(st.median, 1), fixed(st.p90, 1), fixed(st.min, 1), fixed(st.max, 1),
                          "tiny-a never idle: 4 clients in a loop"});
        s.json[name] = to_json(st);
    };
    starve("one request for tiny-b while tiny-a stays busy, collated (swap_batch default): latency", "");
    starve("one request for tiny-b while tiny-a stays busy, no batch, max_wait_for_swap 2s: latency",
           R"(, "swap_batch": {}, "max_wait_for_swap": "2s")");

    s.notes.push_back(
        "(a) ms from request to the answer of a /completion with n_predict 1 (its first token); the model is swapped out by a "
        "request for tiny-b before each measured one, except in the last row. Both models: ctx 4096, 1 slot.");
    s.notes.push_back(
        "(b) one client per request, sent 10 ms apart in the order a b a b ...; each a chat request of 8 tokens; swaps = "
        "model loads during the run; latency = request to full answer (max = the longest wait any request saw).");
    return s;
}

}  // namespace corral::bench
