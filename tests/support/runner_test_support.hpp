// Pieces the tests of runner plugins share: a chat request to a started server, a quiet server's
// start, the tiny model's ServerConfig, stopping whatever a runner still lists, and waiting for a state no event announces.
#pragma once

#include "http_client.hpp"

#include <corral/sdk/error.hpp>
#include <corral/sdk/runner.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace corral::test {

// POST /v1/chat/completions to a server's endpoint (with `key` when given); expects 200 and returns
// the parsed body.
inline boost::json::value chat_completion(const std::string& endpoint, int max_tokens, const std::string& key = "") {
    std::string host;
    uint16_t port = 0;
    split_endpoint(endpoint, host, port);
    // ignore_eos: the tiny model's random weights can sample an end token early; the count is exact.
    auto res = http_request(
        host, port, "POST", "/v1/chat/completions",
        R"({"messages":[{"role":"user","content":"hello"}],"ignore_eos":true,"max_tokens":)" + std::to_string(max_tokens) + "}",
        key.empty() ? Headers{} : Headers{{"Authorization", "Bearer " + key}});
    EXPECT_EQ(res.status, 200) << res.body;
    return boost::json::parse(res.body);
}

// Starts `config`, whose server is too quiet to log that it listens (a log verbosity below 3; the
// caller gives it a startup timeout of 30 s): it must be ready well before that, and serve (to a
// client with its key, when its environment gives it one: then the ready checks made it show it).
inline void expect_quiet_start_serves(sdk::ProcessRunner& runner, const sdk::ServerConfig& config) {
    const auto started = std::chrono::steady_clock::now();
    auto h = runner.start(config);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(25));
    const auto key = config.env.find("LLAMA_API_KEY");
    EXPECT_EQ(chat_completion(h.endpoint, 2, key == config.env.end() ? "" : key->second).at("usage").at("completion_tokens").as_int64(), 2);
    runner.stop(h, std::chrono::seconds(10));
}

// The tiny test model served as "tiny" with a small context.
inline sdk::ServerConfig tiny_server_config(const std::string& instance_id, const std::string& model_path) {
    sdk::ServerConfig c;
    c.instance_id = instance_id;
    c.model_id = c.model_name = "tiny";
    c.model_path = model_path;
    c.ctx_size = 512;
    return c;
}

// Stops every server the runner lists (a test's teardown); servers already gone are skipped.
inline void stop_all(sdk::ProcessRunner& runner) {
    for (const auto& h : runner.list_running()) {
        try {
            runner.stop(h, std::chrono::seconds(5));
        } catch (const sdk::Error&) {
        }
    }
}

// Waits for `condition`, checking every 20 ms: only where the component offers no event to wait on.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

}  // namespace corral::test
