// The queue that carries runner events to the main thread: every event arrives once, in the order
// posted, output lines with their exact text whatever their lengths, and one delivery is posted
// per burst.
#include "serve/runner_event_queue.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace corral::serve {
namespace {

plugins::RunnerEvent log_line(std::string id, std::string stream, std::string line) {
    boost::json::object payload{{"stream", stream}, {"line", line}};
    return {plugins::RunnerEvent::Kind::LogLine, "llama_server", std::move(id), std::move(payload)};
}

// What a delivery hands over, one string per event.
std::vector<std::string> delivered(RunnerEventQueue& queue) {
    std::vector<std::string> out;
    queue.deliver(
        [&](const plugins::RunnerEvent& e) {
            out.push_back("event " + e.instance_id + " " + std::to_string(static_cast<int>(e.kind)) + " " +
                          boost::json::serialize(e.payload));
        },
        [&](std::string_view id, std::string_view stream, std::string_view line) {
            out.push_back("line " + std::string(id) + " " + std::string(stream) + " [" + std::string(line) + "]");
        });
    return out;
}

TEST(RunnerEventQueue, LinesAndOtherEventsArriveInOrderWithTheirExactText) {
    RunnerEventQueue queue;
    EXPECT_TRUE(queue.push(log_line("a-1", "stdout", "first")));  // the first of a burst: the caller posts
    EXPECT_FALSE(queue.push(log_line("b-22", "stderr", "")));
    EXPECT_FALSE(queue.push({plugins::RunnerEvent::Kind::Exited, "llama_server", "a-1", boost::json::parse(R"({"message":"gone"})")}));
    EXPECT_FALSE(queue.push(log_line("a-1", "status", std::string(5000, 'x') + "\t\"quoted\" \xc3\xa9")));
    // A line event without a line is an event like the others (the supervisor ignores it).
    EXPECT_FALSE(queue.push({plugins::RunnerEvent::Kind::LogLine, "llama_server", "a-1", boost::json::parse(R"({"stream":"stdout"})")}));
    // No stream: stdout.
    EXPECT_FALSE(queue.push({plugins::RunnerEvent::Kind::LogLine, "llama_server", "c", boost::json::parse(R"({"line":"no stream"})")}));
    // A line as it comes through the ABI's log_line, between the events.
    EXPECT_FALSE(queue.push_line("d-4", "stderr", "straight \"in\""));

    const std::vector<std::string> expected{
        "line a-1 stdout [first]",
        "line b-22 stderr []",
        R"(event a-1 1 {"message":"gone"})",
        "line a-1 status [" + std::string(5000, 'x') + "\t\"quoted\" \xc3\xa9]",
        R"(event a-1 2 {"stream":"stdout"})",
        "line c stdout [no stream]",
        "line d-4 stderr [straight \"in\"]",
    };
    EXPECT_EQ(delivered(queue), expected);
    EXPECT_TRUE(delivered(queue).empty());  // each once

    // The next burst starts a new batch (and posts again).
    EXPECT_TRUE(queue.push(log_line("a-1", "stdout", "again")));
    EXPECT_EQ(delivered(queue), std::vector<std::string>{"line a-1 stdout [again]"});
    EXPECT_TRUE(queue.push_line("a-1", "stdout", "and again"));
    EXPECT_EQ(delivered(queue), std::vector<std::string>{"line a-1 stdout [and again]"});
}

TEST(RunnerEventQueue, AClosedQueueDropsWhatComesAfter) {
    RunnerEventQueue queue;
    EXPECT_TRUE(queue.push(log_line("a", "stdout", "kept")));
    queue.close();
    EXPECT_FALSE(queue.push(log_line("a", "stdout", "dropped")));
    EXPECT_FALSE(queue.push_line("a", "stdout", "dropped too"));
    EXPECT_EQ(delivered(queue), std::vector<std::string>{"line a stdout [kept]"});
}

// Plugin threads push while the main thread delivers: nothing lost, nothing twice, each thread's
// lines in its order.
TEST(RunnerEventQueue, ConcurrentPushesAreAllDeliveredInEachThreadsOrder) {
    RunnerEventQueue queue;
    constexpr int kThreads = 3, kLines = 5000;
    std::atomic<int> finished = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&queue, &finished, t] {
            for (int i = 0; i < kLines; ++i) queue.push(log_line("t" + std::to_string(t), "stdout", std::to_string(i)));
            ++finished;
        });
    }
    std::vector<int> next(kThreads, 0);
    int total = 0;
    auto take = [&] {
        queue.deliver([](const plugins::RunnerEvent&) { ADD_FAILURE() << "only lines were pushed"; },
                      [&](std::string_view id, std::string_view, std::string_view line) {
                          const int t = id[1] - '0';
                          EXPECT_EQ(std::string(line), std::to_string(next[t]));
                          ++next[t];
                          ++total;
                      });
    };
    while (finished < kThreads) take();  // deliveries while the threads push
    for (auto& th : threads) th.join();
    take();  // what came after the last delivery
    EXPECT_EQ(total, kThreads * kLines);
}

}  // namespace
}  // namespace corral::serve
