// For test binaries: corral's log lines during a test are held and printed only when the test fails,
// right after its failure messages, so the output of a failing run starts with what failed (a CI
// excerpt of the first lines shows it) instead of burying it under the passing tests' logs.
// Warnings and errors are printed at once as well; a test still running after two minutes (a hang
// CTest will kill without a word) has its lines so far printed, then every line as it comes.
#pragma once

#include "logging/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace corral::test {

class HeldLogSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    // The lines held since the last call; from now on lines are held again.
    std::deque<std::string> take() {
        std::lock_guard lock(mutex_);
        streaming_ = false;
        return std::exchange(held_, {});
    }
    // Prints what is held, then every line as it comes (until the next take()).
    void stream() {
        std::lock_guard lock(mutex_);
        for (const auto& line : held_) std::fputs(line.c_str(), stdout);
        std::fflush(stdout);
        held_.clear();
        streaming_ = true;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        std::string line(formatted.data(), formatted.size());
        if (streaming_) {
            std::fputs(line.c_str(), stdout);
            std::fflush(stdout);
            return;
        }
        if (msg.level >= spdlog::level::warn) std::fputs(line.c_str(), stderr);
        if (held_.size() == kMostHeld) held_.pop_front();
        held_.push_back(std::move(line));
    }
    void flush_() override { std::fflush(stderr); }

private:
    static constexpr std::size_t kMostHeld = 5000;  // the last lines of a long test
    std::deque<std::string> held_;
    bool streaming_ = false;
};

class PrintLogOfFailedTests final : public ::testing::EmptyTestEventListener {
public:
    static constexpr std::chrono::seconds kLongTest{120};  // well within the suites' CTest timeouts (600 s)

    explicit PrintLogOfFailedTests(std::shared_ptr<HeldLogSink> sink) : sink_(std::move(sink)) {}

    void OnTestStart(const ::testing::TestInfo& info) override {
        sink_->take();
        std::lock_guard lock(mutex_);
        name_ = std::string(info.test_suite_name()) + "." + info.name();
        deadline_ = std::chrono::steady_clock::now() + kLongTest;
        changed_.notify_all();
    }
    void OnTestEnd(const ::testing::TestInfo& info) override {
        {
            std::lock_guard lock(mutex_);
            deadline_.reset();
            changed_.notify_all();
        }
        auto lines = sink_->take();
        if (!info.result()->Failed() || lines.empty()) return;
        std::printf("---- corral's log during %s.%s ----\n", info.test_suite_name(), info.name());
        for (const auto& line : lines) std::fputs(line.c_str(), stdout);
        std::printf("---- end of the log ----\n");
        std::fflush(stdout);
    }

private:
    // Prints the log of a test that runs past kLongTest, once, and lets its next lines through.
    void watch(const std::stop_token& stop) {
        std::unique_lock lock(mutex_);
        while (!stop.stop_requested()) {
            if (!deadline_) {
                changed_.wait(lock, stop, [&] { return deadline_.has_value(); });
                continue;
            }
            const auto deadline = *deadline_;
            if (changed_.wait_until(lock, stop, deadline, [&] { return deadline_ != deadline; })) continue;
            if (stop.stop_requested()) return;
            deadline_.reset();
            std::printf("---- %s still runs after %lld s: corral's log so far, then as it comes ----\n", name_.c_str(),
                        static_cast<long long>(kLongTest.count()));
            sink_->stream();
        }
    }

    std::shared_ptr<HeldLogSink> sink_;
    std::mutex mutex_;
    std::condition_variable_any changed_;
    std::optional<std::chrono::steady_clock::time_point> deadline_;  // of the test that runs, if any
    std::string name_;
    std::jthread watchdog_{[this](std::stop_token stop) { watch(stop); }};  // last: stopped and joined first
};

// Call in main() after InitGoogleTest and before any thread logs.
inline void hold_logs_until_a_test_fails() {
    auto sink = std::make_shared<HeldLogSink>();
    logging::use_sink(sink);
    ::testing::UnitTest::GetInstance()->listeners().Append(std::make_unique<PrintLogOfFailedTests>(sink).release());  // gtest owns it
}

// The same unless the command line has --verbose (after InitGoogleTest took gtest's flags).
inline void hold_logs_unless_verbose(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]) == "--verbose") return;
    hold_logs_until_a_test_fails();
}

}  // namespace corral::test
