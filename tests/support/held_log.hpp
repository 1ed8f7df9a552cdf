// For test binaries: corral's log lines during a test are held and printed only when the test fails,
// right after its failure messages, so the output of a failing run starts with what failed (a CI
// excerpt of the first lines shows it) instead of burying it under the passing tests' logs.
// Warnings and errors are printed at once as well, so a run killed by a timeout still shows them.
#pragma once

#include "logging/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace corral::test {

class HeldLogSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    std::deque<std::string> take() {
        std::lock_guard lock(mutex_);
        return std::exchange(held_, {});
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        std::string line(formatted.data(), formatted.size());
        if (msg.level >= spdlog::level::warn) std::fputs(line.c_str(), stderr);
        if (held_.size() == kMostHeld) held_.pop_front();
        held_.push_back(std::move(line));
    }
    void flush_() override { std::fflush(stderr); }

private:
    static constexpr std::size_t kMostHeld = 5000;  // the last lines of a long test
    std::deque<std::string> held_;
};

class PrintLogOfFailedTests final : public ::testing::EmptyTestEventListener {
public:
    explicit PrintLogOfFailedTests(std::shared_ptr<HeldLogSink> sink) : sink_(std::move(sink)) {}
    void OnTestStart(const ::testing::TestInfo&) override { sink_->take(); }
    void OnTestEnd(const ::testing::TestInfo& info) override {
        auto lines = sink_->take();
        if (!info.result()->Failed() || lines.empty()) return;
        std::printf("---- corral's log during %s.%s ----\n", info.test_suite_name(), info.name());
        for (const auto& line : lines) std::fputs(line.c_str(), stdout);
        std::printf("---- end of the log ----\n");
        std::fflush(stdout);
    }

private:
    std::shared_ptr<HeldLogSink> sink_;
};

// Call in main() after InitGoogleTest and before any thread logs.
inline void hold_logs_until_a_test_fails() {
    auto sink = std::make_shared<HeldLogSink>();
    logging::use_sink(sink);
    ::testing::UnitTest::GetInstance()->listeners().Append(std::make_unique<PrintLogOfFailedTests>(sink).release());  // gtest owns it
}

}  // namespace corral::test
