// `corral serve` as the e2e tests run it: a config file in a test directory, the real executable
// (CORRAL_TEST_BINARY, defined by the including test target), its port, and HTTP helpers.
#pragma once

#include "http_client.hpp"
#include "process.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace corral::test {

#if defined(CORRAL_TEST_PLUGIN_DIR) && defined(CORRAL_TEST_LLAMA_SERVER)
// The start of a config the e2e tests share: a free loopback port, three I/O threads (so every test
// with more than one connection has some on the main thread and some on the others), the built
// plugins, the cpu probe only (the machine's RAM is the budget whatever GPUs it has), a state
// directory under `dir`, and the runners "local" (the test llama-server) and "fake" (the mock
// runner, `fake_options` added to its object). The caller goes on with `,` and its own keys, and
// closes the object.
inline std::string config_head(const std::filesystem::path& dir, const std::string& fake_options = "") {
    return R"({
  "listen": "127.0.0.1:0",
  "io_threads": 3,
  "plugin_dirs": [")" +
           std::string(CORRAL_TEST_PLUGIN_DIR) + R"("],
  "probes": ["cpu"],
  "state_dir": ")" +
           (dir / "state").string() + R"(",
  "runners": {
    "local": {"plugin": "llama_server", "binary": ")" +
           std::string(CORRAL_TEST_LLAMA_SERVER) + R"("},
    "fake": {"plugin": "mock")" +
           fake_options + R"(}
  })";
}
#endif

// Checks `done` every 20 ms until it holds (true) or `limit` passes (false): for what a test can
// only observe by asking (a model's state, a counter), never to let time pass.
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

// Whether the process exists and is not a zombie.
inline bool process_alive(int64_t pid) {
    if (::kill(static_cast<pid_t>(pid), 0) != 0) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';  // a zombie is gone
}

// A test directory with a config file, and `corral serve` running on it.
class Corral {
public:
    // `prefix` runs corral under another program (e.g. prlimit).
    Corral(const std::filesystem::path& dir, const std::string& config_text, std::vector<std::string> prefix = {})
        : dir_(dir), prefix_(std::move(prefix)) {
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "config.json") << config_text;
        start();
    }

    ~Corral() {
        // Every test ends with a drain, which must exit 0: a sanitizer report at exit fails the test here.
        if (process_ && process_->pid() > 0) {
            EXPECT_EQ(stop(SIGTERM), 0) << "corral serve did not exit cleanly after SIGTERM";
        }
    }

    void start() {
        auto argv = prefix_;
        argv.insert(argv.end(), {CORRAL_TEST_BINARY, "serve", "--config", (dir_ / "config.json").string()});
        process_ = std::make_unique<SpawnedProcess>(argv);
        line_ = process_->read_line();
        auto at = line_.rfind(':');
        if (line_.rfind("corral: serving", 0) != 0 || at == std::string::npos)
            throw std::runtime_error("corral serve did not start: " + line_);
        port = static_cast<uint16_t>(std::stoi(line_.substr(at + 1)));
    }

    void rewrite_config(const std::string& text) { std::ofstream(dir_ / "config.json") << text; }

    HttpResult get(const std::string& target, const Headers& headers = {}) {
        return http_request("127.0.0.1", port, "GET", target, "", headers);
    }
    HttpResult request(const std::string& method, const std::string& target, const std::string& body = "", const Headers& headers = {}) {
        return http_request("127.0.0.1", port, method, target, body, headers);
    }
    HttpResult post(const std::string& target, const std::string& body = "", const Headers& headers = {}) {
        return http_request("127.0.0.1", port, "POST", target, body, headers);
    }
    std::unique_ptr<HttpStream> stream(const std::string& method, const std::string& target, const std::string& body = "") {
        return std::make_unique<HttpStream>("127.0.0.1", port, method, target, body);
    }

    boost::json::object model(const std::string& name) {
        auto status = boost::json::parse(get("/corral/status").body);
        for (const auto& m : status.at("models").as_array()) {
            if (m.at("name").as_string() == name) return m.as_object();
        }
        throw std::runtime_error("no model " + name);
    }
    std::string state(const std::string& name) { return std::string(model(name).at("state").as_string()); }

    // The /metrics text once `settled(text)` holds, or the last one read after `limit`. A request
    // on a connection another I/O thread serves is counted when its relay is back on the main
    // thread, which may be an instant after its client has the last byte (README, Metrics): a test
    // that counts requests it has just made waits for them this way.
    template <class Pred>
    std::string metrics_once(Pred settled, std::chrono::milliseconds limit = std::chrono::seconds(10), const Headers& headers = {}) {
        std::string text;
        wait_until(
            [&] {
                text = get("/metrics", headers).body;
                return settled(text);
            },
            limit);
        return text;
    }
    // The /metrics text once it has `sample` (a series and its value, or a series), as above.
    std::string metrics_with(const std::string& sample, const Headers& headers = {}) {
        return metrics_once([&](const std::string& text) { return text.find(sample) != std::string::npos; }, std::chrono::seconds(10),
                            headers);
    }
    int64_t pid(const std::string& name) { return model(name).at("pid").as_int64(); }

    // Sends `sig` and returns the exit code (-1 when killed by a signal).
    int stop(int sig = SIGTERM) {
        int status = process_->kill_and_wait(sig);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    int pid() const { return process_->pid(); }

    uint16_t port = 0;

private:
    std::filesystem::path dir_;
    std::vector<std::string> prefix_;
    std::unique_ptr<SpawnedProcess> process_;
    std::string line_;
};

}  // namespace corral::test
