// 6. Footprint: `corral serve` start-up until it listens, and its RSS idle with every plugin loaded.
#include "benchmarks.hpp"

#include <thread>

namespace corral::bench {

Section bench_footprint(const BenchEnv& env) {
    Section s{"6. Footprint (every plugin and probe loaded, no model running)", {"measure", "median", "max"}, {}, {}, {}};
    std::vector<double> startup, rss;
    for (int i = 0; i < 5; ++i) {
        // No "probes" key: every probe plugin runs at start-up, as it does by default.
        CorralServe corral(
            env, env.work / "footprint", llama_runners(env),
            "{" + tiny_model(env, "tiny-a") + ", " + tiny_model(env, "tiny-b") + R"(, "toy": {"path": "/dev/null", "runner": "mock"}})");
        startup.push_back(corral.startup_ms());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        rss.push_back(static_cast<double>(rss_bytes(corral.pid())) / (1024 * 1024));
    }
    auto st = stats_of(startup), rs = stats_of(rss);
    s.rows.push_back({"start-up to listening (ms)", fixed(st.median, 1), fixed(st.max, 1)});
    s.rows.push_back({"idle RSS (MiB)", fixed(rs.median, 1), fixed(rs.max, 1)});
    s.json = {{"startup_ms", to_json(st)}, {"idle_rss_mib", to_json(rs)}};
    return s;
}

}  // namespace corral::bench
