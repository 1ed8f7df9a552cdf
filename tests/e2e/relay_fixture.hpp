// What the relay and hygiene tests share: a config with the real llama-server and the mock runner,
// and facts about processes (command line, environment, descriptors).
#pragma once

#include "free_port.hpp"
#include "runner_test_support.hpp"
#include "serve_harness.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace corral::test {

namespace fs = std::filesystem;

inline const std::string kModels = CORRAL_TEST_MODELS;

// The command line of a running process, argument by argument.
inline std::vector<std::string> command_line(int64_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (std::size_t start = 0; start < all.size();) {
        auto end = all.find('\0', start);
        args.push_back(all.substr(start, end - start));
        start = end == std::string::npos ? all.size() : end + 1;
    }
    return args;
}

inline std::string environment_of(int64_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A test directory per test, named after its suite and test.
class RelayFixture : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        dir_ = fs::path(CORRAL_TEST_WORK_DIR) / (std::string(test->test_suite_name()) + "-" + test->name());
        fs::remove_all(dir_);
    }

    // tiny-a and tiny-b on the real llama-server, toy on the mock runner; `extra` adds top-level
    // keys, the others add keys to a model's entry.
    std::string config(const std::string& extra = "", const std::string& tiny_a_extra = "", const std::string& toy_extra = "") {
        return config_head(dir_) + R"(,
  "models": {
    "tiny-a": {"path": ")" +
               kModels + R"(/tiny-a.gguf", "runner": "local", "ctx_size": 2048)" + tiny_a_extra + R"(},
    "tiny-b": {"path": ")" +
               kModels + R"(/tiny-b.gguf", "runner": "local", "ctx_size": 2048},
    "toy": {"path": "/dev/null", "runner": "fake")" +
               toy_extra + R"(}
  })" + extra +
               R"(
})";
    }

    fs::path dir_;
};

// The pid of `model`'s server when it is ready, else 0: state and pid from one status read (two
// reads may straddle a crash, and a restarting model has no pid).
inline int64_t ready_pid(Corral& corral, const std::string& model) {
    auto m = corral.model(model);
    return m.at("state") == "ready" && m.contains("pid") && m.at("pid").is_int64() ? m.at("pid").as_int64() : 0;
}

// Waits (up to 30 s) until `model` is ready again, on a server other than `old_pid`.
inline bool ready_on_a_new_server(Corral& corral, const std::string& model, int64_t old_pid) {
    return eventually(
        [&] {
            const auto now = ready_pid(corral, model);
            return now > 0 && now != old_pid;
        },
        std::chrono::seconds(30));
}

// The socket inodes a process holds ("socket:[N]" links under /proc/PID/fd).
inline std::vector<std::string> socket_inodes(int64_t pid) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        auto target = fs::read_symlink(entry.path(), ec).string();
        if (target.rfind("socket:", 0) == 0) out.push_back(target);
    }
    return out;
}

}  // namespace corral::test
